"""Consensus files: a GeoPackage of four layers, or a GeoParquet with three sibling Parquet files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, OutputExistsError
from stracker.io.files import (
    PARQUET_SUFFIXES,
    atomic_paths,
    check_input,
    check_listed,
    output_directory,
    write_error,
    write_layers_at,
)
from stracker.io.tables import read_parquet

if TYPE_CHECKING:
    from stracker.consensus.result import Consensus

__all__ = [
    "CONSENSUS_COLUMNS",
    "CONSENSUS_LAYERS",
    "METADATA_KEY",
    "RUN_KEY",
    "consensus_outputs",
    "consensus_run_id",
    "read_consensus_parts",
    "write_consensus",
]


CONSENSUS_LAYERS = ("buildings", "volunteers", "images", "states")
"""Layers of a consensus GeoPackage: footprints with the consensus columns, the volunteers' reliability, the
image catalogue, and the posterior over states (one column per state, for a lossless round trip)."""
CONSENSUS_COLUMNS = (
    "p_destroyed",
    "destroyed_after",
    "destroyed_by",
    "confidence",
    "ci90_start",
    "ci90_end",
    "n_labels",
    "n_volunteers",
)
"""The consensus columns of the buildings layer, in order."""
METADATA_KEY = "stracker_consensus"
"""Key of the fit's metadata (method, prior, log-likelihood) in the states layer."""
RUN_KEY = "stracker_run"
"""Key of the run stamp in every part of a consensus (Parquet schema metadata, GeoPackage layer metadata): the
run id, a digest of the whole write, shared by all parts, with the part's name and the names of all files."""


def consensus_outputs(path: str | Path) -> list[Path]:
    """Every file :func:`write_consensus` writes for ``path``: one GeoPackage, or a GeoParquet and its siblings.

    Examples
    --------
    >>> [p.name for p in consensus_outputs("out/consensus.parquet")]
    ['consensus.parquet', 'consensus.volunteers.parquet', 'consensus.images.parquet', 'consensus.states.parquet']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        return [path]
    if suffix in PARQUET_SUFFIXES:
        return [path, *(path.with_name(f"{path.stem}.{layer}{path.suffix}") for layer in CONSENSUS_LAYERS[1:])]
    raise FileFormatError(
        f"{path}: a consensus is written as a GeoPackage (.gpkg) or GeoParquet (.parquet), not {path.suffix!r}."
    )


def write_consensus(
    consensus: Consensus,
    path: str | Path,
    footprints: pd.DataFrame | None = None,
    *,
    images: pd.DataFrame | None = None,
    on: str = "building_id",
    on_unknown: Literal["error", "report"] = "error",
    overwrite: bool = False,
    extra: Mapping[str | Path, Callable[[Path], object]] | None = None,
) -> pd.DataFrame:
    """Write a consensus to a GeoPackage or GeoParquet; the implementation of :meth:`Consensus.to_file`.

    Every part is stamped with the same run id (:func:`consensus_run_id`), a digest of what is written, and all
    parts are renamed into place only once each is complete (:func:`~stracker.io.files.atomic_paths`), so that
    readers can refuse parts of different writes. Buildings without a footprint (``on_unknown="report"``) are
    left out of every part, so that the file reads back as one consensus of the buildings it holds. ``extra``
    maps more outputs to functions that write them at the path given; they are renamed into place with the
    consensus (``stracker aggregate`` writes its ``.rejected.csv`` so).
    """
    targets = consensus_outputs(path)
    more = {Path(p): write for p, write in (extra or {}).items()}
    existing = [str(p) for p in [*targets, *more] if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass overwrite=True (--overwrite) or choose another path.")
    if footprints is not None:
        buildings = consensus.to_geodataframe(footprints, on=on, on_unknown=on_unknown)
    else:
        buildings = consensus.buildings.reset_index()
        buildings.attrs["unmatched_building_ids"] = []
        on = "building_id"
    unmatched = buildings.attrs["unmatched_building_ids"]
    kept = ~consensus.buildings.index.isin(unmatched)
    volunteers = consensus.volunteers.reset_index()
    catalogue = _images_table(consensus, images, kept)
    states = consensus.state_probabilities().loc[kept].reset_index()
    metadata = {
        "method": consensus.method,
        "n_iter": int(consensus.n_iter),
        "converged": bool(consensus.converged),
        "prior": [float(x) for x in consensus.prior],
        "log_likelihood": [float(x) for x in consensus.log_likelihood],
        "building_id_column": on,
        "unmatched_buildings": len(unmatched),
    }
    frames = dict(zip(CONSENSUS_LAYERS, (buildings, volunteers, catalogue, states), strict=True))
    run = {"run_id": _digest(frames, metadata), "files": [p.name for p in targets]}
    output_directory(targets[0])
    if targets[0].suffix.lower() == ".gpkg":
        with atomic_paths([*targets, *more], overwrite=overwrite) as (tmp, *others):
            write_layers_at(
                tmp,
                frames,
                {
                    name: {
                        RUN_KEY: json.dumps({**run, "part": name}),
                        **({METADATA_KEY: json.dumps(metadata)} if name == "states" else {}),
                    }
                    for name in CONSENSUS_LAYERS
                },
                name=targets[0],
            )
            for write, other in zip(more.values(), others, strict=True):
                write(other)
        return buildings
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_paths([*targets, *more], overwrite=overwrite) as temps:
        for write, other in zip(more.values(), temps[len(targets) :], strict=True):
            write(other)
        for target, tmp, (name, frame) in zip(targets, temps[: len(targets)], frames.items(), strict=True):
            if hasattr(frame, "geometry"):  # GeoParquet metadata comes from geopandas; the stamp is added after
                frame.to_parquet(tmp, index=False)
                table = pq.read_table(tmp)
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = {**(table.schema.metadata or {}), RUN_KEY.encode(): json.dumps({**run, "part": name}).encode()}
            if name == "states":
                meta[METADATA_KEY.encode()] = json.dumps(metadata).encode()
            try:
                pq.write_table(table.replace_schema_metadata(meta), tmp)
            except OSError as exc:  # Arrow names neither the file nor, always, the system's code
                raise write_error(target, exc) from exc
    return buildings


def _digest(frames: dict[str, pd.DataFrame], metadata: dict[str, Any]) -> str:
    """A run id: the SHA-256 of everything written (so the same consensus written twice gets the same id, and
    files stay byte-identical), cut to 32 hex digits."""
    import shapely

    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name, frame in frames.items():
        geometry = frame.geometry.name if hasattr(frame, "geometry") else None
        plain = pd.DataFrame(frame.drop(columns=[geometry] if geometry else []))
        digest.update(json.dumps([name, *map(str, plain.columns)]).encode())
        digest.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
        if geometry:
            digest.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy())))
    return digest.hexdigest()[:32]


def _images_table(consensus: Consensus, images: pd.DataFrame | None, kept: np.ndarray) -> pd.DataFrame:
    """The image catalogue: index, date, written buildings whose most probable state ends there, extra columns."""
    dates = pd.DatetimeIndex(consensus.image_dates).astype("datetime64[ns]")
    by = consensus.buildings["destroyed_by"].to_numpy(dtype="datetime64[ns]")[kept]
    counts = np.bincount(np.searchsorted(dates.to_numpy(), by[~np.isnat(by)]), minlength=len(dates))
    table = pd.DataFrame(
        {"image_index": np.arange(len(dates)), "image_date": dates, "n_destroyed_by": counts[: len(dates)]}
    )
    reliability = getattr(consensus, "compare_reliability", None)
    if reliability is not None:
        table["compare_reliability"] = reliability
    if images is not None and "image_date" in images.columns:
        extra = images.drop(columns=[c for c in ("image_index", "n_destroyed_by") if c in images.columns]).copy()
        extra["image_date"] = pd.to_datetime(extra["image_date"]).astype("datetime64[ns]")
        table = table.merge(extra.drop_duplicates("image_date"), on="image_date", how="left")
    return table


def _stamp(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(json.loads(raw)["run_id"])
    except (ValueError, KeyError, TypeError):
        return "unreadable"


def consensus_run_id(path: str | Path) -> str | None:
    """The run id shared by every part of a consensus file, checked: parts of different writes are an error.

    None for a file written before run ids (by stracker 0.1.0 before this check; none of its parts has one).

    Raises
    ------
    FileFormatError
        If a part is missing, or the parts carry different run ids (or some none): the message names the files
        of each run and says to write the consensus again.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, stracker
    >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": [1, 1], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "consensus.parquet"
    >>> _ = stracker.aggregate(labels, method="majority").to_file(path)
    >>> len(consensus_run_id(path))
    32
    """
    path = Path(path)
    targets = consensus_outputs(path)
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        check_input(path)
        try:
            stamps = {
                name: _stamp((pyogrio.read_info(path, layer=name).get("layer_metadata") or {}).get(RUN_KEY))
                for name in CONSENSUS_LAYERS
            }
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path} is not a GeoPackage: {str(exc).strip()}") from exc
        except pyogrio.errors.DataLayerError as exc:
            raise FileFormatError(
                f"{path} lacks a layer of a consensus file ({str(exc).strip()}); write it with "
                "`stracker aggregate` or Consensus.to_file."
            ) from exc
        label = "layer"
    else:
        import pyarrow.parquet as pq

        missing = [str(p) for p in targets if not p.exists()]
        if missing:
            raise FileFormatError(
                f"{path}: the consensus file(s) {missing} are missing; the four files are written together (a "
                "write interrupted, or files moved apart). Write the consensus again, or bring the missing files "
                "back beside it."
            )
        stamps = {}
        for target in targets:
            try:
                stamps[target.name] = _stamp((pq.read_schema(target).metadata or {}).get(RUN_KEY.encode()))
            except (OSError, ValueError) as exc:  # pyarrow: not Parquet, or cut short
                raise FileFormatError(f"{target} is not a whole Parquet file ({str(exc).strip()}).") from exc
        label = "file"
    runs = set(stamps.values())
    if runs == {None}:
        return None
    if len(runs) > 1:
        groups: dict[str | None, list[str]] = {}
        for name, run in stamps.items():
            groups.setdefault(run, []).append(name)
        said = "; ".join(
            f"{' and '.join(names)}: {'no run id' if run is None else 'run ' + run[:12]}"
            for run, names in groups.items()
        )
        raise FileFormatError(
            f"{path}: the parts of this consensus come from different writes ({label}s {said}); a write was "
            "interrupted halfway, or parts were copied in from another run. Write the consensus again (`stracker "
            "aggregate ... --overwrite` or Consensus.to_file(..., overwrite=True))."
        )
    return runs.pop()


def read_consensus_parts(path: str | Path) -> dict[str, Any]:
    """Read the parts of a consensus file written by :func:`write_consensus`, checked to fit together.

    The reader that returns a :class:`~stracker.Consensus` is :func:`stracker.read_consensus`; this one returns
    the keyword arguments of the ``Consensus`` constructor, so that files do not depend on the consensus code.

    Raises
    ------
    FileFormatError
        If a layer or sibling file is missing, or the parts do not fit together.
    """
    path = Path(path)
    targets = consensus_outputs(path)
    for target in targets:
        check_listed(target)  # in a simulation folder: the consensus written with it
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        check_input(path)
        try:
            present = [str(name) for name, _ in pyogrio.list_layers(path)]
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path} is not a GeoPackage: {exc}") from exc
        missing = [name for name in CONSENSUS_LAYERS if name not in present]
        if missing:
            raise FileFormatError(
                f"{path} lacks the layer(s) {missing} of a consensus file (it has {present}); write it with "
                "`stracker aggregate` or Consensus.to_file."
            )
        consensus_run_id(path)
        frames = {
            name: pd.DataFrame(pyogrio.read_dataframe(path, layer=name, read_geometry=False))
            for name in CONSENSUS_LAYERS
        }
        meta_text = (pyogrio.read_info(path, layer="states").get("layer_metadata") or {}).get(METADATA_KEY)
    else:
        import pyarrow.parquet as pq

        consensus_run_id(path)  # every part there, all of one write
        frames = {name: read_parquet(p) for name, p in zip(CONSENSUS_LAYERS, targets, strict=True)}
        meta_text = (pq.read_schema(targets[-1]).metadata or {}).get(METADATA_KEY.encode())
    if meta_text is None:
        raise FileFormatError(f"{path}: the states layer lacks stracker's metadata; is it a consensus file?")
    meta = json.loads(meta_text)
    states = frames["states"].set_index("building_id")
    catalogue = frames["images"]
    image_dates = pd.DatetimeIndex(catalogue["image_date"].astype("datetime64[ns]"), name="image_date")
    if states.shape[1] != len(image_dates) + 1:
        raise FileFormatError(
            f"{path}: the states layer has {states.shape[1]} state columns for {len(image_dates)} images; "
            "it should have one more than images."
        )
    table = frames["buildings"]
    key = meta.get("building_id_column", "building_id")  # the footprints' id column, e.g. --id-column osm_id
    missing_cols = [c for c in (key, *CONSENSUS_COLUMNS) if c not in table.columns]
    if missing_cols:
        raise FileFormatError(f"{path}: the buildings layer lacks {missing_cols}.")
    table = table.set_index(key)
    table.index.name = "building_id"
    unknown = states.index.difference(table.index)
    if len(unknown):
        raise FileFormatError(f"{path}: buildings {unknown[:5].tolist()} have states but no row in buildings.")
    buildings = table.loc[states.index, list(CONSENSUS_COLUMNS)].copy()
    for column in ("destroyed_after", "destroyed_by", "ci90_start", "ci90_end"):
        buildings[column] = buildings[column].astype("datetime64[ns]")
    volunteers = frames["volunteers"].set_index("volunteer_id")
    return {
        "buildings": buildings,
        "volunteers": volunteers,
        "posterior": states.to_numpy(dtype=float),
        "image_dates": image_dates,
        "method": meta["method"],
        "prior": np.asarray(meta["prior"], dtype=float),
        "log_likelihood": list(meta["log_likelihood"]),
        "n_iter": int(meta["n_iter"]),
        "converged": bool(meta["converged"]),
    }
