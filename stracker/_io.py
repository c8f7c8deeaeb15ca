"""Atomic file writes: write to a temporary file beside the target, then rename it into place."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_geopackage", "write_layers"]

# GDAL stamps a GeoPackage with the time of writing; a fixed stamp keeps the same data byte-identical.
_GPKG_TIMESTAMP = "2017-10-17T00:00:00Z"
# GeoPackage 1.2 holds everything stracker writes and opens without a warning in older GDAL (QGIS LTR, Debian's
# ogrinfo); newer GDAL would stamp 1.4 by default.
_GPKG_VERSION = "1.2"


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
