"""What a file or a simulation folder is: its kind, layers, CRS, counts and date range (``stracker info``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from stracker.consensus.result import read_consensus
from stracker.errors import FileFormatError, StrackerError
from stracker.io.consensus import CONSENSUS_LAYERS, RUN_KEY, consensus_outputs, consensus_run_id
from stracker.io.files import CSV_SUFFIXES, PARQUET_SUFFIXES, check_input, geoparquet_geometry
from stracker.io.tables import read_labels, read_table

__all__ = [
    "describe",
]


def _date_range(values: pd.Series) -> list[str] | None:
    dates = pd.to_datetime(values, errors="coerce").dropna()
    return [str(dates.min().date()), str(dates.max().date())] if len(dates) else None


def _describe_layers(path: Path) -> list[dict[str, Any]]:
    import pyogrio

    out = []
    for name, geometry_type in pyogrio.list_layers(path):
        info = pyogrio.read_info(path, layer=name)
        fields = dict(zip(info["fields"].tolist(), (t.removeprefix("OFT") for t in info["ogr_types"]), strict=True))
        layer: dict[str, Any] = {
            "name": str(name),
            "geometry": geometry_type,
            "features": int(info["features"]),
            "crs": info["crs"],
            "fields": fields,
        }
        dated = [f for f, kind in fields.items() if kind in ("Date", "DateTime")]
        if dated and info["features"]:
            table = pyogrio.read_dataframe(path, layer=name, columns=dated, read_geometry=False)
            ranges = [r for r in (_date_range(table[f]) for f in dated) if r]
            if ranges:
                layer["date_range"] = [min(r[0] for r in ranges), max(r[1] for r in ranges)]
        out.append(layer)
    return out


def describe(path: str | Path) -> dict[str, Any]:
    """Say what a file or folder is, for ``stracker info``: its kind, layers, CRS, counts and date range.

    Kinds: ``simulation`` (a folder written by :meth:`stracker.Simulation.save`), ``consensus`` (written by
    :meth:`stracker.Consensus.to_file`), ``labels`` (a label table; ``problem`` holds the reason if it does not
    read as one), ``footprints`` (a layer with geometry), ``table`` (anything else tabular).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        JSON-ready.

    Raises
    ------
    FileFormatError
        If stracker cannot read the file or folder at all.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = path.write_text("building_id,volunteer_id,before,after,destroyed\\n1,1,,2017-06-10,yes\\n")
    >>> info = describe(path)
    >>> info["kind"], info["answers"], info["date_range"]
    ('labels', 1, ['2017-06-10', '2017-06-10'])
    """
    from stracker.simulation import SIMULATION_FILES, check_simulation_folder

    path = Path(path)
    if path.is_dir():
        missing = [name for name in SIMULATION_FILES[:-1] if not (path / name).exists()]
        if missing:
            raise FileFormatError(f"{path} is a folder but not a simulation: it lacks {missing}.")
        check_simulation_folder(path)  # one write, as its manifest says
        scenario = json.loads((path / "scenario.json").read_text())
        info = {
            "path": str(path),
            "kind": "simulation",
            "scenario": scenario.get("name"),
            "seed": scenario.get("seed"),
            "files": sorted(p.name for p in path.iterdir() if p.is_file()),
        }
        info["buildings"] = _describe_layers(path / "buildings.gpkg")[0]
        info["labels"] = describe(path / "labels.parquet")
        info["images"] = len(pd.read_parquet(path / "images.parquet", columns=["image_date"]))
        return info
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if suffix in PARQUET_SUFFIXES and (all(p.exists() for p in consensus_outputs(path)[1:]) or _stamped(path)):
            return _describe_consensus(path)  # a part missing or of another write is an error there
        table = read_table(path)
        columns = [str(c) for c in table.columns]
        info = {"path": str(path), "rows": len(table), "columns": columns}
        if {"building_id", "after"} <= set(columns) and "volunteer_id" in columns:
            info["kind"] = "labels"
            try:
                labels = read_labels(path)
            except StrackerError as exc:
                return info | {"problem": str(exc)}
            dates = pd.concat([labels["before"].dropna(), labels["after"]])
            tasks = labels["task"].astype(str).value_counts() if "task" in labels else pd.Series(dtype=int)
            return info | {
                "answers": len(labels),
                "buildings": int(labels["building_id"].nunique()),
                "volunteers": int(labels["volunteer_id"].nunique()),
                "date_range": _date_range(dates),
                "images": int(dates.nunique()),
                "tasks": {str(k): int(v) for k, v in tasks.items()},
            }
        geometry = geoparquet_geometry(path) if suffix in PARQUET_SUFFIXES else None
        if geometry is not None:
            import pyarrow.parquet as pq

            geo = json.loads(pq.read_schema(path).metadata[b"geo"])["columns"][geometry]
            crs = geo.get("crs", "OGC:CRS84")
            crs_text = f"{crs['id']['authority']}:{crs['id']['code']}" if isinstance(crs, dict) and "id" in crs else crs
            return info | {"kind": "footprints", "geometry": geo.get("geometry_types"), "crs": crs_text}
        dated = [c for c in columns if pd.api.types.is_datetime64_any_dtype(table[c])]
        ranges = [r for r in (_date_range(table[c]) for c in dated) if r]
        if ranges:
            info["date_range"] = [min(r[0] for r in ranges), max(r[1] for r in ranges)]
        return info | {"kind": "table"}
    import pyogrio

    check_input(path)
    try:
        layers = _describe_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise FileFormatError(f"{path} is not a file stracker reads: {str(exc).strip()}") from exc
    names = [layer["name"] for layer in layers]
    if all(name in names for name in CONSENSUS_LAYERS):
        return _describe_consensus(path)
    spatial = [layer for layer in layers if layer["geometry"] is not None]
    return {"path": str(path), "kind": "footprints" if spatial else "table", "layers": layers}


def _stamped(path: Path) -> bool:
    """Whether a Parquet file is the main part of a consensus (it carries the run stamp)."""
    import pyarrow.parquet as pq

    try:
        return RUN_KEY.encode() in (pq.read_schema(path).metadata or {})
    except (OSError, ValueError):
        return False


def _describe_consensus(path: Path) -> dict[str, Any]:
    consensus = read_consensus(path)
    info: dict[str, Any] = {
        "path": str(path),
        "kind": "consensus",
        **consensus.summary(),
        "run_id": consensus_run_id(path),
    }
    info["date_range"] = [str(consensus.image_dates.min().date()), str(consensus.image_dates.max().date())]
    if path.suffix.lower() == ".gpkg":
        info["layers"] = _describe_layers(path)
    return info
