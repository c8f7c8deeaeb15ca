"""Footprint layers: read any vector format GDAL knows (and GeoParquet), checked for ids, geometry and CRS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, FootprintsError
from stracker.io.files import (
    PARQUET_SUFFIXES,
    about,
    choose_layer,
    geoparquet_geometry,
)
from stracker.io.tables import read_parquet, typed_ids
from stracker.labels import closest_hint, rows_text

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "check_footprint_ids",
    "check_footprints",
    "read_footprints",
]


def read_footprints(path: str | Path, *, layer: str | None = None, id_column: str = "building_id") -> gpd.GeoDataFrame:
    """Read and check a footprint layer: one feature per building with a unique id, a valid geometry and a CRS.

    Parameters
    ----------
    path : str or Path
        Any vector file GDAL reads through pyogrio (GeoPackage, GeoJSON, Shapefile, FlatGeobuf, ...) or a
        GeoParquet file (``.parquet``).
    layer : str, optional
        The layer to read. Default: the only layer, else ``buildings``, else the only layer with geometry.
    id_column : str
        The building id column (the key of the label table's ``building_id``). Its values are typed by the
        rule in :mod:`stracker.io`, so they join ids read from a CSV.

    Returns
    -------
    geopandas.GeoDataFrame
        The features in file order.

    Raises
    ------
    FootprintsError
        If the layer has no features, no CRS, no geometry column or no id column (the closest name is
        suggested), null or duplicate ids, or null, empty or invalid geometries; the message names the rows
        (0-based feature positions) and their ids, and says how to fix them.
    FileFormatError
        If the file is empty or not a vector format, or the layer is missing or ambiguous.

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd, stracker
    >>> from shapely.geometry import box
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "footprints.geojson"
    >>> gpd.GeoDataFrame({"building_id": ["12", "13"]}, geometry=[box(0, 0, 9, 9), box(10, 0, 19, 9)],
    ...                  crs="EPSG:32637").to_file(path)
    >>> footprints = stracker.read_footprints(path)
    >>> footprints["building_id"].tolist(), footprints.crs.to_epsg()
    ([12, 13], 32637)
    """
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        read_parquet(path)  # a clear error for a file that is not Parquet at all
        if geoparquet_geometry(path) is None:
            raise FootprintsError(
                f"{path} is Parquet without GeoParquet metadata: a table, not a footprint layer. Write footprints "
                "with GeoDataFrame.to_parquet or convert them with ogr2ogr."
            )
        frame = gpd.read_parquet(path)
    else:
        chosen = choose_layer(path, layer)
        try:
            frame = pyogrio.read_dataframe(path, layer=chosen)
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path}: layer {chosen!r} could not be read: {exc}") from exc
        if not isinstance(frame, gpd.GeoDataFrame):
            raise FootprintsError(
                f"{path}: layer {chosen!r} has no geometry; footprints need one polygon per building."
            )
    frame.index = pd.RangeIndex(len(frame), name="row")
    with about(path):
        return check_footprints(frame, id_column, shapefile=path.suffix.lower() == ".shp")


def _feature_rows(frame: pd.DataFrame, mask: np.ndarray, id_column: str | None) -> str:
    """Name bad features: their count, positions and, where known, their ids."""
    text = rows_text(frame.index, mask)
    if id_column is not None and id_column in frame.columns:
        ids = frame.loc[np.asarray(mask, dtype=bool), id_column].head(8).tolist()
        text += f" ({id_column} {ids})"
    return text


def check_footprint_ids(footprints: pd.DataFrame, id_column: str, shapefile: bool = False) -> pd.Index:
    """Check the building id column of footprints (present, non-null, unique) and return it as an Index."""
    if id_column not in footprints.columns:
        present = tuple(str(c) for c in footprints.columns)
        hint = closest_hint(id_column, present)
        if shapefile and len(id_column) > 10 and id_column[:10] in present:
            hint = f" (a Shapefile cuts field names to 10 characters: use id_column={id_column[:10]!r})"
        raise FootprintsError(
            f"footprints have no {id_column!r} column{hint}; they have {list(present)}. Name the building id "
            "column with id_column= (--id-column on the command line)."
        )
    ids = footprints[id_column]
    null = ids.isna().to_numpy()
    if null.any():
        raise FootprintsError(
            f"{id_column} is missing in {_feature_rows(footprints, null, None)}; every footprint needs an id."
        )
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise FootprintsError(
            f"building ids repeat in {_feature_rows(footprints, dup, id_column)}; each footprint needs its own "
            "id: renumber them, or merge the parts of one building (GeoDataFrame.dissolve(by=...))."
        )
    return pd.Index(ids)


def check_footprints(
    frame: gpd.GeoDataFrame, id_column: str = "building_id", shapefile: bool = False
) -> gpd.GeoDataFrame:
    """Check a footprint layer (features, CRS, ids, geometries) and type its ids; see :func:`read_footprints`."""
    import shapely

    if len(frame) == 0:
        raise FootprintsError("the footprint layer has no features; it needs one polygon per building.")
    if frame.crs is None:
        raise FootprintsError(
            "the footprint layer has no CRS (a Shapefile without its .prj?); set it, e.g. "
            "gdf.set_crs('EPSG:32637') or `ogr2ogr -a_srs EPSG:32637 fixed.gpkg input.shp`."
        )
    if id_column in frame.columns:
        frame[id_column] = typed_ids(frame[id_column])
    check_footprint_ids(frame, id_column, shapefile=shapefile)
    geometry = frame.geometry.to_numpy()
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if missing.any():
        raise FootprintsError(
            f"null or empty geometries in {_feature_rows(frame, missing, id_column)}; give these buildings a "
            "footprint or drop them."
        )
    invalid = ~shapely.is_valid(geometry)
    if invalid.any():
        reasons = sorted({shapely.is_valid_reason(g).split("[")[0] for g in geometry[invalid][:20]})[:3]
        raise FootprintsError(
            f"invalid geometries in {_feature_rows(frame, invalid, id_column)} ({'; '.join(reasons)}); repair "
            "them with gdf.geometry = gdf.make_valid() or `ogr2ogr -makevalid fixed.gpkg input.gpkg`."
        )
    return frame
