"""``stracker.simulate``: a whole Strike Trackers campaign from a scenario, and its files.

Stages, each with its own random stream spawned from the scenario's seed (so changing one stage's code does
not reshuffle the others): footprints -> destruction -> image catalogue -> visibility -> volunteers ->
assignment and answers.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from stracker.crowd.answers import compare_answers, timeline_answers
from stracker.crowd.volunteers import assign_volunteers, make_volunteers
from stracker.errors import StrackerError, StrackerWarning
from stracker.io.files import atomic_paths, check_manifest, manifest_text, write_error, write_layers_at
from stracker.labels import destruction_state
from stracker.scenario import SIMULATION_STAGES, Scenario, stage_rng
from stracker.world.clouds import visibility
from stracker.world.destruction import make_destruction
from stracker.world.footprints import make_footprints
from stracker.world.imagery import make_catalogue

__all__ = [
    "MANIFEST",
    "SIMULATION_FILES",
    "Simulation",
    "SimulationFilesExistError",
    "SimulationFilesMissingError",
    "check_simulation_folder",
    "simulate",
    "stage_rng",
]

SIMULATION_FILES = (
    "scenario.json",
    "buildings.gpkg",
    "images.parquet",
    "volunteers.parquet",
    "labels.parquet",
    "visibility.npy",
    "manifest.json",
)
"""Files written by :meth:`Simulation.save`; the last, the manifest, holds the size and SHA-256 of the others
(and of any ``extra`` files written with them), so that readers can tell files of different writes apart."""
MANIFEST = SIMULATION_FILES[-1]
"""The manifest of a simulation folder."""


@dataclass(eq=False)
class Simulation:
    """A simulated campaign.

    Attributes
    ----------
    scenario : Scenario
        What was simulated; ``simulate(scenario)`` reproduces everything here.
    buildings : geopandas.GeoDataFrame
        Footprints (EPSG:32637) with ``building_id``, ``district``, ``district_id``, ``area_m2`` and the truth
        column ``destroyed_on`` (NaT: not destroyed).
    images : pandas.DataFrame
        The catalogue: ``image_id``, ``image_date``, ``cloud_cover``.
    volunteers : pandas.DataFrame
        Indexed by volunteer_id: ``country``, ``kind``, ``activity`` and the true answer-model parameters.
    labels : pandas.DataFrame
        The label table of the contract plus ``frames_viewed``.
    visibility : numpy.ndarray
        Buildings x images visibility (float32, 1 clear).
    timings : dict
        Seconds spent in each stage.
    """

    scenario: Scenario
    buildings: gpd.GeoDataFrame
    images: pd.DataFrame
    volunteers: pd.DataFrame
    labels: pd.DataFrame
    visibility: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def truth(self) -> pd.Series:
        """Ground truth: ``destroyed_on`` indexed by building_id."""
        return self.buildings.set_index("building_id")["destroyed_on"]

    @property
    def image_dates(self) -> pd.DatetimeIndex:
        """The image catalogue's dates."""
        return pd.DatetimeIndex(self.images["image_date"], name="image_date")

    def visibility_table(self) -> pd.DataFrame:
        """The visibility as :func:`stracker.aggregate` takes it (``visibility=``): each building's visible share
        in each image, indexed by building_id, one column per image date.

        ``stracker simulate`` does not give it to its own aggregation (a real campaign may have no cloud masks);
        ``benchmarks/quality.py`` measures what it gains.

        Examples
        --------
        >>> import stracker
        >>> sim = stracker.simulate("small", seed=1)
        >>> table = sim.visibility_table()
        >>> table.shape == sim.visibility.shape, table.index.name, bool(table.columns.equals(sim.image_dates))
        (True, 'building_id', True)
        """
        return pd.DataFrame(
            self.visibility.astype(float),
            index=pd.Index(self.buildings["building_id"].to_numpy(), name="building_id"),
            columns=self.image_dates,
        )

    def true_states(self) -> np.ndarray:
        """Each building's true destruction state (0..D) against the image catalogue."""
        return destruction_state(self.buildings["destroyed_on"], self.image_dates)

    def true_prior(self) -> np.ndarray:
        """Share of buildings in each state: the prior an oracle would know."""
        return np.bincount(self.true_states(), minlength=len(self.images) + 1) / len(self.buildings)

    def summary(self) -> dict[str, int | float | str]:
        """The campaign's scale, JSON-ready."""
        answered = self.labels["volunteer_id"].nunique()
        countries = self.volunteers.loc[self.labels["volunteer_id"].unique(), "country"].nunique()
        return {
            "preset": self.scenario.name,
            "seed": self.scenario.seed,
            "task": self.scenario.tasks.task,
            "buildings": len(self.buildings),
            "destroyed": int(self.buildings["destroyed_on"].notna().sum()),
            "images": len(self.images),
            "volunteers": int(answered),
            "countries": int(countries),
            "answers": len(self.labels),
            "frames_viewed": int(self.labels["frames_viewed"].sum()),
            "seconds": round(float(sum(self.timings.values())), 2),
        }

    def save(
        self,
        directory: str | Path,
        overwrite: bool = False,
        *,
        extra: Mapping[str, Callable[[Path], object]] | None = None,
    ) -> Path:
        """Write the simulation's files (see :data:`SIMULATION_FILES`) into ``directory``, all of them or none.

        Every file is written to a temporary name first; only when all are complete are they renamed into
        place, the manifest first. The manifest records each file's size and SHA-256, so that
        :meth:`load` and ``stracker info`` refuse a folder whose files come from different writes (a kill -9
        between two renames). With ``overwrite``, files that the folder's previous manifest listed and this
        write does not (e.g. ``extra`` files of an earlier run) are removed: what the folder holds is one write.

        Parameters
        ----------
        directory : str or Path
            Created if needed.
        overwrite : bool
            Replace the files of an earlier write.
        extra : mapping of str to callable, optional
            More files written and renamed together with the simulation's: file name -> a function that writes
            that file at the path it is given (``stracker simulate`` writes its consensus this way).

        Raises
        ------
        FileExistsError
            If a file would be replaced and ``overwrite`` is False (also when another process wrote it during
            this write).
        OutputWriteError
            If the folder cannot take the files (read-only, a path under a file, a full disk); nothing is
            changed.

        Examples
        --------
        >>> import tempfile, stracker
        >>> folder = stracker.simulate("small", seed=1).save(tempfile.mkdtemp())
        >>> sorted(p.name for p in folder.iterdir()) == sorted(SIMULATION_FILES)
        True
        """
        out = Path(directory)
        extra = dict(extra or {})
        names = [MANIFEST, *SIMULATION_FILES[:-1], *extra]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(out, exc) from exc
        existing = [name for name in names if (out / name).exists()]
        if existing and not overwrite:
            raise SimulationFilesExistError(
                f"{out} already holds {existing}; pass overwrite=True (--overwrite) or choose another directory."
            )
        previous = _listed(out) if overwrite else []
        with atomic_paths([out / name for name in names], overwrite=overwrite) as temps:
            tmp = dict(zip(names, temps, strict=True))
            tmp["scenario.json"].write_text(self.scenario.to_json() + "\n")
            write_layers_at(tmp["buildings.gpkg"], {"buildings": self.buildings}, name=out / "buildings.gpkg")
            self.images.to_parquet(tmp["images.parquet"], index=False)
            self.volunteers.to_parquet(tmp["volunteers.parquet"])
            self.labels.to_parquet(tmp["labels.parquet"], index=False)
            with open(tmp["visibility.npy"], "wb") as fh:
                np.save(fh, self.visibility)
            for name, write in extra.items():
                write(tmp[name])
            tmp[MANIFEST].write_text(manifest_text({name: tmp[name] for name in names[1:]}))
        for name in previous:
            if name not in names:
                (out / name).unlink(missing_ok=True)  # of the earlier write, not of this one
        return out

    @classmethod
    def load(cls, directory: str | Path) -> Simulation:
        """Read a simulation written by :meth:`save`, checked to be one write (see :func:`check_simulation_folder`).

        Raises
        ------
        SimulationFilesMissingError
            If a file is missing.
        FileFormatError
            If the files do not match the manifest (parts of different writes, or a file changed since).
        """
        src = Path(directory)
        check_simulation_folder(src)
        scenario = Scenario.from_json((src / "scenario.json").read_text())
        buildings = gpd.read_file(src / "buildings.gpkg", layer="buildings", engine="pyogrio")
        buildings["destroyed_on"] = buildings["destroyed_on"].astype("datetime64[ns]")
        return cls(
            scenario=scenario,
            buildings=buildings,
            images=pd.read_parquet(src / "images.parquet"),
            volunteers=pd.read_parquet(src / "volunteers.parquet"),
            labels=pd.read_parquet(src / "labels.parquet"),
            visibility=np.load(src / "visibility.npy"),
        )

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<Simulation {s['preset']} seed={s['seed']} buildings={s['buildings']} images={s['images']} "
            f"volunteers={s['volunteers']} answers={s['answers']}>"
        )


def _listed(folder: Path) -> list[str]:
    """The files a folder's manifest lists (none if it has no readable manifest)."""
    try:
        return list(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def check_simulation_folder(directory: str | Path) -> None:
    """Check that a folder holds one whole write of :meth:`Simulation.save`: every file there and as the
    manifest says (size and SHA-256).

    A folder written before manifests (all files but the manifest) is read with a warning, unchecked.

    Raises
    ------
    SimulationFilesMissingError
        If a file is missing.
    FileFormatError
        If a file differs from the manifest: files of different writes (a kill -9 during an overwrite), a
        file copied in or changed since; the message names them and the fix.
    """
    src = Path(directory)
    missing = [name for name in SIMULATION_FILES if not (src / name).is_file()]
    if missing == [MANIFEST]:
        warnings.warn(
            f"{src} has no {MANIFEST} (written by an older stracker): its files cannot be checked to come from "
            "one write; save it again to add one.",
            StrackerWarning,
            stacklevel=3,
        )
        return
    if missing:
        raise SimulationFilesMissingError(f"{src} lacks {missing}; is it a directory written by Simulation.save?")
    check_manifest(src, MANIFEST)


class SimulationFilesExistError(StrackerError, FileExistsError):
    """Simulation files would be overwritten."""


class SimulationFilesMissingError(StrackerError, FileNotFoundError):
    """A directory lacks some of the simulation's files."""


def simulate(
    scenario: Scenario | str = "raqqa",
    seed: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Simulation:
    """Simulate a Strike Trackers campaign.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario or the name of a preset ("raqqa", "small").
    seed : int, optional
        Overrides the scenario's seed.
    progress : callable, optional
        Called as ``progress(stage, seconds)`` after each stage.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> import stracker
    >>> sim = stracker.simulate("small", seed=1)
    >>> sim.summary()["buildings"], set(sim.labels["task"])
    (400, {'timeline'})
    >>> stracker.simulate("small", seed=1).labels.equals(sim.labels)
    True
    """
    if isinstance(scenario, str):
        scenario = Scenario.preset(scenario, seed=0 if seed is None else seed)
    elif seed is not None:
        scenario = scenario.replace(seed=seed)
    streams = {stage: stage_rng(scenario, stage) for stage in SIMULATION_STAGES}
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now
        if progress is not None:
            progress(stage, timings[stage])

    buildings = make_footprints(scenario.city, streams["footprints"])
    done("footprints")
    # geometry stays the last column, as a GeoPackage round trip (Simulation.load) returns it
    buildings.insert(
        buildings.columns.get_loc(buildings.geometry.name),
        "destroyed_on",
        make_destruction(buildings, scenario.offensive, streams["destruction"]),
    )
    done("destruction")
    images = make_catalogue(scenario.imagery, streams["catalogue"])
    done("catalogue")
    vis = visibility(buildings, images, scenario.imagery, streams["visibility"])
    done("visibility")
    volunteers = make_volunteers(scenario.crowd, streams["volunteers"])
    done("volunteers")
    rng = streams["answers"]
    b, v = assign_volunteers(
        len(buildings), scenario.tasks.volunteers_per_building, volunteers["activity"].to_numpy(), rng
    )
    dates = images["image_date"].to_numpy(dtype="datetime64[ns]")
    state = destruction_state(buildings["destroyed_on"], pd.DatetimeIndex(dates))
    if scenario.tasks.task == "timeline":
        labels = timeline_answers(b, v, state, vis, volunteers, dates, scenario.imagery, scenario.crowd, rng)
    else:
        labels = compare_answers(
            b, v, state, vis, volunteers, dates, scenario.imagery, scenario.crowd, scenario.tasks, rng
        )
    ids = buildings["building_id"].to_numpy()
    labels["building_id"] = ids[labels["building_id"].to_numpy()]
    done("answers")
    return Simulation(scenario, buildings, images, volunteers, labels, vis, timings)
