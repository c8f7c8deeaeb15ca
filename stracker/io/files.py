"""Files on disk: suffixes, atomic writes, GeoPackage layers, the layer to read, errors that name the file."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from stracker.errors import FileFormatError, FootprintsError, LabelsError
from stracker.labels import closest_hint

__all__ = [
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "about",
    "atomic_directory",
    "atomic_path",
    "check_not_empty",
    "choose_layer",
    "geoparquet_geometry",
    "write_geopackage",
    "write_layers",
]


CSV_SUFFIXES = (".csv", ".tsv", ".txt")
"""Suffixes read as delimited text."""
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
"""Suffixes read as (Geo)Parquet."""


@contextmanager
def about(path: Path) -> Iterator[None]:
    """Prefix the file's name to the package's plain errors raised inside, so a message says which file."""
    try:
        yield
    except (LabelsError, FootprintsError, FileFormatError) as exc:
        if type(exc) in (LabelsError, FootprintsError, FileFormatError) and not str(exc).startswith(str(path)):
            raise type(exc)(f"{path}: {exc}") from exc
        raise


def check_not_empty(path: Path) -> None:
    if path.is_file() and path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes).")


def choose_layer(path: Path, layer: str | None) -> str:
    """The layer to read: the one named, else the only one, else 'buildings', else the only spatial one."""
    import pyogrio

    check_not_empty(path)
    try:
        layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise FileFormatError(
            f"{path} is not a file stracker reads: not CSV (.csv, .tsv, .txt), Parquet (.parquet) or a vector "
            f"format GDAL knows ({str(exc).strip()})."
        ) from exc
    names = [str(name) for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise FileFormatError(f"{path} has no layer {layer!r}{closest_hint(layer, tuple(names))}; it has {names}.")
        return layer
    if len(names) == 1:
        return names[0]
    if "buildings" in names:
        return "buildings"
    spatial = [str(name) for name, kind in layers if kind is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not names:
        raise FileFormatError(f"{path} holds no layers.")
    raise FileFormatError(f"{path} holds several layers {names}; choose one with layer= (--layer on the command line).")


def geoparquet_geometry(path: Path) -> str | None:
    """Name of the primary geometry column of a GeoParquet file, None for plain Parquet."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        return None
    return json.loads(meta[b"geo"]).get("primary_column", "geometry")


# GDAL stamps a GeoPackage with the time of writing; a fixed stamp keeps the same data byte-identical.
_GPKG_TIMESTAMP = "2017-10-17T00:00:00Z"
# GeoPackage 1.2 holds everything stracker writes and opens without a warning in older GDAL (QGIS LTR, Debian's
# ogrinfo); newer GDAL would stamp 1.4 by default.
_GPKG_VERSION = "1.2"


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a new temporary directory beside ``target``; on success it replaces ``target``, on error it goes.

    A reader sees the old ``target`` or the whole new one, never a half-written directory. Whether an existing
    ``target`` may be replaced is the caller's decision (check it first); the old one is removed only once the
    new one is in place.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``, on error remove it.

    The temporary name keeps the target's suffix so that format drivers (GDAL, Parquet) recognise it.
    A reader never sees a half-written ``target``.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-journal", "-wal", "-shm"))):
            if leftover.exists():
                leftover.unlink()


def write_layers(
    target: str | Path,
    layers: Mapping[str, object],
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write frames as the layers of a new GeoPackage, atomically and reproducibly (fixed timestamp).

    GeoDataFrames become spatial layers (CRS kept); plain DataFrames become attribute tables. datetime64
    columns become DateTime fields. ``layer_metadata`` maps a layer name to key/value strings stored with it.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_TIMESTAMP})
    try:
        with atomic_path(target) as tmp:
            for name, frame in layers.items():
                meta = (layer_metadata or {}).get(name)
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", layer_metadata=meta,
                                        dataset_options={"VERSION": _GPKG_VERSION})
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_geopackage(frame: object, target: str | Path, layer: str) -> None:
    """Write a GeoDataFrame as one layer of a new GeoPackage, atomically and reproducibly (fixed timestamp)."""
    write_layers(target, {layer: frame})
