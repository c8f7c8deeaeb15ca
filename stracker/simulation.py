"""``stracker.simulate``: a whole Strike Trackers campaign from a scenario, and its files.

Stages, each with its own random stream spawned from the scenario's seed (so changing one stage's code does
not reshuffle the others): footprints -> destruction -> image catalogue -> visibility -> volunteers ->
assignment and answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from stracker.crowd.answers import compare_answers, timeline_answers
from stracker.crowd.volunteers import assign_volunteers, make_volunteers
from stracker.errors import StrackerError
from stracker.io.files import atomic_path, write_geopackage
from stracker.labels import destruction_state
from stracker.scenario import SIMULATION_STAGES, Scenario, stage_rng
from stracker.world.clouds import visibility
from stracker.world.destruction import make_destruction
from stracker.world.footprints import make_footprints
from stracker.world.imagery import make_catalogue

__all__ = [
    "SIMULATION_FILES",
    "Simulation",
    "SimulationFilesExistError",
    "SimulationFilesMissingError",
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
)
"""Files written by :meth:`Simulation.save`."""



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
            "design": self.scenario.tasks.design,
            "buildings": len(self.buildings),
            "destroyed": int(self.buildings["destroyed_on"].notna().sum()),
            "images": len(self.images),
            "volunteers": int(answered),
            "countries": int(countries),
            "answers": len(self.labels),
            "frames_viewed": int(self.labels["frames_viewed"].sum()),
            "seconds": round(float(sum(self.timings.values())), 2),
        }

    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the simulation's files (see :data:`SIMULATION_FILES`) into ``directory``, atomically each.

        Raises
        ------
        FileExistsError
            If a file would be replaced and ``overwrite`` is False.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        existing = [name for name in SIMULATION_FILES if (out / name).exists()]
        if existing and not overwrite:
            raise SimulationFilesExistError(
                f"{out} already holds {existing}; pass overwrite=True (--overwrite) or choose another directory."
            )
        with atomic_path(out / "scenario.json") as tmp:
            tmp.write_text(self.scenario.to_json() + "\n")
        write_geopackage(self.buildings, out / "buildings.gpkg", layer="buildings")
        with atomic_path(out / "images.parquet") as tmp:
            self.images.to_parquet(tmp, index=False)
        with atomic_path(out / "volunteers.parquet") as tmp:
            self.volunteers.to_parquet(tmp)
        with atomic_path(out / "labels.parquet") as tmp:
            self.labels.to_parquet(tmp, index=False)
        with atomic_path(out / "visibility.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, self.visibility)
        return out

    @classmethod
    def load(cls, directory: str | Path) -> Simulation:
        """Read a simulation written by :meth:`save`."""
        src = Path(directory)
        missing = [name for name in SIMULATION_FILES if not (src / name).exists()]
        if missing:
            raise SimulationFilesMissingError(f"{src} lacks {missing}; is it a directory written by Simulation.save?")
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
    buildings.insert(buildings.columns.get_loc(buildings.geometry.name), "destroyed_on",
                     make_destruction(buildings, scenario.offensive, streams["destruction"]))
    done("destruction")
    images = make_catalogue(scenario.imagery, streams["catalogue"])
    done("catalogue")
    vis = visibility(buildings, images, scenario.imagery, streams["visibility"])
    done("visibility")
    volunteers = make_volunteers(scenario.crowd, streams["volunteers"])
    done("volunteers")
    rng = streams["answers"]
    b, v = assign_volunteers(len(buildings), scenario.tasks.volunteers_per_building,
                             volunteers["activity"].to_numpy(), rng)
    dates = images["image_date"].to_numpy(dtype="datetime64[ns]")
    state = destruction_state(buildings["destroyed_on"], pd.DatetimeIndex(dates))
    if scenario.tasks.design == "timeline":
        labels = timeline_answers(b, v, state, vis, volunteers, dates, scenario.imagery, scenario.crowd, rng)
    else:
        labels = compare_answers(b, v, state, vis, volunteers, dates, scenario.imagery, scenario.crowd,
                                 scenario.tasks, rng)
    ids = buildings["building_id"].to_numpy()
    labels["building_id"] = ids[labels["building_id"].to_numpy()]
    done("answers")
    return Simulation(scenario, buildings, images, volunteers, labels, vis, timings)
