"""Consensus files: a GeoPackage of four layers, or a GeoParquet with three sibling Parquet files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, OutputExistsError
from stracker.io.files import (
    PARQUET_SUFFIXES,
    atomic_path,
    check_not_empty,
    write_layers,
)
from stracker.io.tables import read_parquet

if TYPE_CHECKING:
    from stracker.consensus.result import Consensus

__all__ = [
    "CONSENSUS_COLUMNS",
    "CONSENSUS_LAYERS",
    "METADATA_KEY",
    "consensus_outputs",
    "read_consensus_parts",
    "write_consensus",
]


CONSENSUS_LAYERS = ("buildings", "volunteers", "images", "states")
"""Layers of a consensus GeoPackage: footprints with the consensus columns, the volunteers' reliability, the
image catalogue, and the posterior over states (one column per state, for a lossless round trip)."""
CONSENSUS_COLUMNS = ("p_destroyed", "destroyed_after", "destroyed_by", "confidence", "ci90_start", "ci90_end",
                     "n_labels", "n_volunteers")
"""The consensus columns of the buildings layer, in order."""
METADATA_KEY = "stracker_consensus"
"""Key of the fit's metadata (method, prior, log-likelihood) in the states layer."""


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
) -> pd.DataFrame:
    """Write a consensus to a GeoPackage or GeoParquet; the implementation of :meth:`Consensus.to_file`."""
    targets = consensus_outputs(path)
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass overwrite=True (--overwrite) or choose another path.")
    if footprints is not None:
        buildings = consensus.to_geodataframe(footprints, on=on, on_unknown=on_unknown)
    else:
        buildings = consensus.buildings.reset_index()
        buildings.attrs["unmatched_building_ids"] = []
    volunteers = consensus.volunteers.reset_index()
    catalogue = _images_table(consensus, images)
    states = consensus.state_probabilities().reset_index()
    metadata = {
        "method": consensus.method,
        "n_iter": int(consensus.n_iter),
        "converged": bool(consensus.converged),
        "prior": [float(x) for x in consensus.prior],
        "log_likelihood": [float(x) for x in consensus.log_likelihood],
    }
    frames = dict(zip(CONSENSUS_LAYERS, (buildings, volunteers, catalogue, states), strict=True))
    if targets[0].suffix.lower() == ".gpkg":
        write_layers(targets[0], frames, {"states": {METADATA_KEY: json.dumps(metadata)}})
        return buildings
    import pyarrow as pa
    import pyarrow.parquet as pq

    for target, (name, frame) in zip(targets, frames.items(), strict=True):
        with atomic_path(target) as tmp:
            if name == "states":
                table = pa.Table.from_pandas(frame, preserve_index=False)
                schema_meta = {**(table.schema.metadata or {}), METADATA_KEY.encode(): json.dumps(metadata).encode()}
                pq.write_table(table.replace_schema_metadata(schema_meta), tmp)
            else:
                frame.to_parquet(tmp, index=False)
    return buildings


def _images_table(consensus: Consensus, images: pd.DataFrame | None) -> pd.DataFrame:
    """The image catalogue: index, date, answered buildings whose most probable state ends there, extra columns."""
    dates = pd.DatetimeIndex(consensus.image_dates).astype("datetime64[ns]")
    by = consensus.buildings["destroyed_by"].to_numpy(dtype="datetime64[ns]")
    counts = np.bincount(np.searchsorted(dates.to_numpy(), by[~np.isnat(by)]), minlength=len(dates))
    table = pd.DataFrame({"image_index": np.arange(len(dates)), "image_date": dates,
                          "n_destroyed_by": counts[: len(dates)]})
    if images is not None and "image_date" in images.columns:
        extra = images.drop(columns=[c for c in ("image_index", "n_destroyed_by") if c in images.columns]).copy()
        extra["image_date"] = pd.to_datetime(extra["image_date"]).astype("datetime64[ns]")
        table = table.merge(extra.drop_duplicates("image_date"), on="image_date", how="left")
    return table


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
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        check_not_empty(path)
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
        frames = {name: pd.DataFrame(pyogrio.read_dataframe(path, layer=name, read_geometry=False))
                  for name in CONSENSUS_LAYERS}
        meta_text = (pyogrio.read_info(path, layer="states").get("layer_metadata") or {}).get(METADATA_KEY)
    else:
        import pyarrow.parquet as pq

        missing = [str(p) for p in targets if not p.exists()]
        if missing:
            raise FileFormatError(f"{path}: the consensus file(s) {missing} are missing; they are written together.")
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
    missing_cols = [c for c in ("building_id", *CONSENSUS_COLUMNS) if c not in table.columns]
    if missing_cols:
        raise FileFormatError(f"{path}: the buildings layer lacks {missing_cols}.")
    table = table.set_index("building_id")
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
