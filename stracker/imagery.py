"""Real georeferenced imagery: the scene catalogue, the chips volunteers see, and buildings' cloud-free shares.

This module reads a campaign's own rasters (GeoTIFFs or anything else GDAL reads, in any CRS). The simulated
world's imagery is elsewhere: its catalogue in :mod:`stracker.world.imagery`, its cloud rasters and visibility
in :mod:`stracker.world.clouds`, its painted frames in :mod:`stracker.render`.

* :func:`scene_catalogue`: one row per raster with its image date, CRS and bounds. The image date of a scene
  is, in this order: its row in a catalogue file (``path`` or ``file``, and ``image_date``); a date tag in
  the raster (``IMAGE_DATE``, then any tag whose name holds ``ACQUI`` or ``SENSING``, such as
  ``ACQUISITIONDATETIME``, then ``TIFFTAG_DATETIME`` written ``YYYY:MM:DD HH:MM:SS``); the first
  ``YYYY-MM-DD`` or ``YYYYMMDD`` in its file name. A scene with no date is an error. Times are dropped (a
  time with a UTC offset is taken to UTC first): an image date is a day. Several scenes may share a date:
  they are one mosaic.
* :func:`chips`: a PNG chip around each footprint's centroid for each image date (or for the dates of given
  questions), ``size_m`` square (60 m, the frame a Strike Trackers volunteer saw) at ``pixel_m`` a pixel,
  north up in the footprints' metric CRS, named ``<building_id>_<YYYY-MM-DD>.png``. Each scene is opened once;
  the chip centres and their windows are computed for all buildings at once (pyproj, array arithmetic); each
  chip is one windowed read, clipped to the scene and resampled by GDAL straight to the chip's pixels, so no
  scene is ever read whole. In a mosaic a chip takes each pixel from the first scene (by path) that has
  data there. A chip outside every scene of its date, or left with more than ``max_nodata`` of its pixels
  without data, is not written but reported.
* :func:`visibility`: each building's cloud-free share in each image from cloud-mask rasters (one or more
  per image date), through the simulator's own code (:func:`stracker.world.clouds.footprint_pixels` on the
  mask's grid, then :func:`stracker.world.clouds.cloud_free_share`), reading the masks by windows.

Examples
--------
A 200 m UTM scene dated by its file name, one building in it:

>>> import tempfile, pathlib, numpy as np, geopandas as gpd, rasterio, shapely
>>> from affine import Affine
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with rasterio.open(folder / "scene_20170616.tif", "w", driver="GTiff", width=400, height=400, count=1,
...                    dtype="uint8", crs="EPSG:32637", transform=Affine(0.5, 0, 500000, 0, -0.5, 3980200)) as ds:
...     ds.write(np.full((1, 400, 400), 90, dtype=np.uint8))
>>> buildings = gpd.GeoDataFrame({"building_id": [7]}, crs="EPSG:32637",
...                              geometry=[shapely.box(500090, 3980090, 500110, 3980110)])
>>> scenes = scene_catalogue(str(folder / "*.tif"))
>>> scenes[["image_date", "date_source", "crs"]].astype(str).values.tolist()
[['2017-06-16', 'file name', 'EPSG:32637']]
>>> result = chips(scenes, buildings, folder / "chips")
>>> result.chips["file"].tolist(), len(result.missing)
(['7_2017-06-16.png'], 0)
"""

from __future__ import annotations

import glob
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
from affine import Affine
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from stracker.errors import FileFormatError, ImageryError, OutputExistsError, UnmatchedBuildingsError
from stracker.io.files import atomic_directory, atomic_path
from stracker.io.footprints import check_footprints, read_footprints
from stracker.io.tables import read_table, typed_ids
from stracker.labels import closest_hint, rows_text
from stracker.world.clouds import RasterGrid, cloud_free_share, footprint_pixels

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "CHIP_PIXEL_M",
    "CHIP_SIZE_M",
    "DATE_TAG",
    "MANIFEST_FILE",
    "MASK_WINDOW_PX",
    "MAX_NODATA",
    "MISSING_FILE",
    "MISSING_REASONS",
    "ChipSet",
    "chip_file_names",
    "chips",
    "scene_catalogue",
    "scene_date",
    "visibility",
    "write_visibility",
]

CHIP_SIZE_M = 60.0
"""Side of a chip in metres: the frame a Strike Trackers volunteer saw of one building."""
CHIP_PIXEL_M = 0.5
"""Pixel size of a chip in metres (very high resolution imagery, as in Strike Trackers)."""
MAX_NODATA = 0.5
"""A chip with a larger share of its pixels without data (in every scene of its date) is reported, not written."""
MASK_WINDOW_PX = 1024
"""Footprints are read from a cloud mask in windows of about this many pixels a side (plus their own extent)."""
DATE_TAG = "IMAGE_DATE"
"""The raster tag stracker reads first for a scene's image date (``gdal_edit.py -mo IMAGE_DATE=2017-06-16``)."""
MISSING_REASONS = {
    "no_scene": "no scene on that date",
    "outside": "the chip lies outside every scene of that date",
    "nodata": f"more than the allowed share (default {MAX_NODATA:g}) of the chip has no data in the scenes",
}
"""Why a chip was not written: the ``reason`` column of ``ChipSet.missing``."""

SCENE_COLUMNS = (
    "path",
    "image_date",
    "date_source",
    "crs",
    "width",
    "height",
    "count",
    "dtype",
    "nodata",
    "left",
    "bottom",
    "right",
    "top",
)
MANIFEST_FILE = "chips.csv"
"""The chips manifest (``building_id, image_date, file``) written beside the chips."""
MISSING_FILE = "missing.csv"
"""The chips not written (``building_id, image_date, reason, nodata_share``), written beside the chips."""

_TIFF_DATETIME = "TIFFTAG_DATETIME"
_NAME_DATES = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")  # YYYY-MM-DD or YYYYMMDD, not inside a number
_UNSAFE_NAME = r"[/\\\x00-\x1f]|^\.\.?$"  # a building id that cannot be a file name as it stands
_STRETCH_SAMPLE = 64  # chips read to set a scene's contrast stretch when its pixels are not bytes
_STRETCH_PERCENTILES = (2.0, 98.0)
_READ_STRIP_PX = 512  # chips are read strip by strip of this many scene rows, west to east within a strip
_EPS = 1e-6  # in chip pixels: a window edge this close to a whole chip pixel lies on it
_DATE_FIX = (
    "give it a row in a catalogue file (columns path, image_date; --catalogue), a date tag "
    f"(gdal_edit.py -mo {DATE_TAG}=2017-06-16 FILE), or a date in its file name (scene_2017-06-16.tif)"
)


# ------------------------------------------------------------------------------------------------- dates
def _day(text: str) -> pd.Timestamp | None:
    """The day of an ISO or TIFF date-time text (a UTC offset taken to UTC), or None if it is not one."""
    text = re.sub(r"^(\d{4}):(\d{2}):(\d{2})", r"\1-\2-\3", text.strip())  # TIFF's YYYY:MM:DD HH:MM:SS
    if not re.match(r"^\d{4}-?\d{2}-?\d{2}", text):
        return None
    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if pd.isna(when):
        return None
    if when.tz is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    return when.normalize()


def _name_date(name: str) -> pd.Timestamp | None:
    """The first valid YYYY-MM-DD or YYYYMMDD date in a file name."""
    for match in _NAME_DATES.finditer(name):
        year, month, day = (int(g) for g in match.groups())
        if 1900 <= year <= 2100:
            try:
                return pd.Timestamp(year=year, month=month, day=day)
            except ValueError:
                continue
    return None


def scene_date(path: str | Path, tags: dict[str, str] | None = None) -> tuple[pd.Timestamp | None, str]:
    """The image date of a raster from its tags, else its file name; ``(None, "")`` if neither has one.

    Parameters
    ----------
    path : str or Path
        The raster (only its name is used when ``tags`` are given).
    tags : dict, optional
        Its dataset tags (``rasterio`` ``dataset.tags()``); read from the file when not given.

    Returns
    -------
    (pandas.Timestamp or None, str)
        The day, and where it came from: ``"tag NAME"`` or ``"file name"``.

    Raises
    ------
    ImageryError
        If a date tag holds something that is not a date.

    Examples
    --------
    >>> scene_date("WV02_20170616_P1BS.tif", tags={"TIFFTAG_DATETIME": "2017:07:01 08:12:00"})
    (Timestamp('2017-07-01 00:00:00'), 'tag TIFFTAG_DATETIME')
    >>> scene_date("WV02_20170616_P1BS.tif", tags={})
    (Timestamp('2017-06-16 00:00:00'), 'file name')
    >>> scene_date("raqqa.tif", tags={"ACQUISITIONDATETIME": "2017-06-15T23:30:00-02:00"})
    (Timestamp('2017-06-16 00:00:00'), 'tag ACQUISITIONDATETIME')
    """
    path = Path(path)
    if tags is None:
        with rasterio.open(path) as ds:
            tags = ds.tags()
    by_upper = {str(k).upper(): (str(k), str(v)) for k, v in tags.items()}
    acquisition = sorted(k for k in by_upper if ("ACQUI" in k or "SENSING" in k) and k != DATE_TAG)
    for key in [DATE_TAG, *acquisition, _TIFF_DATETIME]:
        if key in by_upper and by_upper[key][1].strip():
            name, value = by_upper[key]
            day = _day(value)
            if day is None:
                raise ImageryError(
                    f"{path}: tag {name}={value!r} is not a date; write it as 2017-06-16 (or TIFF's "
                    f"2017:06:16 00:00:00), e.g. gdal_edit.py -mo {name}=2017-06-16 {path}"
                )
            return day, f"tag {name}"
    day = _name_date(path.name)
    return (day, "file name") if day is not None else (None, "")


def _parse_days(values: pd.Series, what: str, required: bool) -> pd.Series:
    """ISO dates (optionally with a time and a UTC offset) of a table column, as days; others are an error."""
    text = values.astype("str").str.strip().mask(values.isna() | (values.astype("str").str.strip() == ""))
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None).dt.normalize()
    bad = (parsed.isna() & text.notna()).to_numpy()
    if bad.any():
        raise ImageryError(
            f"{what} could not be read as dates in {rows_text(values.index, bad)}, e.g. {text[bad].head(3).tolist()}; "
            "write ISO dates such as 2017-06-16 (year-month-day)."
        )
    if required and parsed.isna().any():
        missing = parsed.isna().to_numpy()
        raise ImageryError(f"{what} is missing in {rows_text(values.index, missing)}; every row needs one.")
    return parsed.astype("datetime64[ns]")


# ------------------------------------------------------------------------------------------------- scenes
def _scene_paths(scenes: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(scenes, str | Path):
        pattern = str(scenes)
        if Path(pattern).is_dir():  # a folder: its GeoTIFFs
            pattern = str(Path(pattern) / "*.tif*")
        if glob.has_magic(pattern):
            paths = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
            if not paths:
                raise ImageryError(f"no file matches {pattern!r}; check the pattern (quote it on the command line).")
            return paths
        return [Path(pattern)]
    paths = [Path(p) for p in scenes]
    if not paths:
        raise ImageryError("no scenes given; pass a glob pattern such as 'scenes/*.tif' or a list of rasters.")
    resolved = pd.Series([str(p.resolve()) for p in paths])
    if resolved.duplicated().any():
        raise ImageryError(
            f"scenes given more than once: {resolved[resolved.duplicated()].head(3).tolist()}; give each raster once."
        )
    return paths


def _catalogue_dates(catalogue: str | Path | pd.DataFrame, paths: list[Path]) -> pd.Series:
    """Each scene's date from the catalogue, NaT where it has no row."""
    if isinstance(catalogue, pd.DataFrame):
        table, name, base = catalogue.copy(), "the catalogue", Path.cwd()
    else:
        table, name, base = read_table(catalogue), str(catalogue), Path(catalogue).resolve().parent
    column = next((c for c in ("path", "file", "filename") if c in table.columns), None)
    if column is None or "image_date" not in table.columns:
        present = tuple(str(c) for c in table.columns)
        hint = closest_hint("image_date", present) if column is not None else closest_hint("path", present)
        raise ImageryError(
            f"{name} needs a 'path' (or 'file') column naming each raster and an 'image_date' column; it has "
            f"{list(present)}{hint}."
        )
    table.index = pd.RangeIndex(len(table), name="row")
    days = _parse_days(table["image_date"], f"{name}: 'image_date'", required=True)
    given = table[column].astype("str").str.strip()
    # a bare file name matches a scene of that name anywhere; a path is resolved against the catalogue's folder
    bare = ~given.str.contains(r"[/\\]", regex=True)
    resolved = [str(p.resolve()) for p in paths]
    names = pd.Series([p.name for p in paths])
    keys = pd.Series(resolved)
    row_key = given.where(bare, [str((base / g).resolve()) for g in given])  # one path per catalogue row
    by_path = pd.Series(np.arange(len(paths)), index=keys)
    by_name = pd.Series(np.arange(len(paths)), index=names)
    if names.duplicated().any():
        ambiguous = bare & given.isin(names[names.duplicated()])
        if ambiguous.any():
            raise ImageryError(
                f"{name}: {rows_text(table.index, ambiguous.to_numpy())} name a file that several scenes share "
                f"({given[ambiguous].head(3).tolist()}); give their paths instead."
            )
        by_name = by_name[~names.duplicated(keep=False).to_numpy()]
    scene = pd.Series(-1, index=table.index, dtype=np.int64)
    scene[bare] = by_name.reindex(row_key[bare]).fillna(-1).to_numpy(dtype=np.int64)
    scene[~bare] = by_path.reindex(row_key[~bare]).fillna(-1).to_numpy(dtype=np.int64)
    unused = (scene < 0).to_numpy()
    if unused.any():
        raise ImageryError(
            f"{name}: {rows_text(table.index, unused)} name no raster among the {len(paths)} scenes given "
            f"({given[unused].head(3).tolist()}); drop those rows or give the rasters too."
        )
    twice = scene.duplicated(keep=False).to_numpy()
    if twice.any():
        raise ImageryError(
            f"{name}: {rows_text(table.index, twice)} give dates to the same raster more than once "
            f"({given[twice].head(3).tolist()}); keep one row per raster."
        )
    dates = pd.Series(pd.NaT, index=range(len(paths)), dtype="datetime64[ns]")
    dates.iloc[scene.to_numpy()] = days.to_numpy()
    return dates


def scene_catalogue(
    scenes: str | Path | Sequence[str | Path], *, catalogue: str | Path | pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per raster: its image date, where the date came from, its CRS, size, bands and bounds.

    Each raster is opened once, for its header and tags (no pixel is read).

    Parameters
    ----------
    scenes : str, Path or sequence of them
        A glob pattern (``"scenes/*.tif"``, ``**`` recurses), a folder (its ``.tif`` and ``.tiff`` files), one
        raster, or a list of rasters.
    catalogue : str, Path or pandas.DataFrame, optional
        A table (CSV, Parquet, ...) with a ``path`` (or ``file``) column and an ``image_date`` column. A bare
        file name matches the scene of that name; a path is taken relative to the catalogue file's folder.
        Scenes it does not list are dated by their tags or file names.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (str), ``image_date`` (datetime64, a day), ``date_source`` (``"catalogue"``,
        ``"tag NAME"`` or ``"file name"``), ``crs`` (str), ``width``, ``height``, ``count``, ``dtype``,
        ``nodata`` (float, NaN if none) and ``left, bottom, right, top`` (bounds in the scene's CRS), sorted
        by image date, then path.

    Raises
    ------
    ImageryError
        If no file matches, a scene has no date (the message names it and the fix), no CRS, or a rotated
        grid; if a catalogue row names no scene, names one twice, or holds a bad date.
    FileFormatError
        If a file is not a raster GDAL reads.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, rasterio
    >>> from affine import Affine
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name, tags in [("a.tif", {"TIFFTAG_DATETIME": "2017:06:16 08:00:00"}), ("b_2017-07-01.tif", {})]:
    ...     with rasterio.open(folder / name, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
    ...                        crs="EPSG:4326", transform=Affine(1e-5, 0, 39, 0, -1e-5, 36)) as ds:
    ...         ds.update_tags(**tags)
    >>> scene_catalogue(str(folder / "*.tif"))[["image_date", "date_source"]].astype(str).values.tolist()
    [['2017-06-16', 'tag TIFFTAG_DATETIME'], ['2017-07-01', 'file name']]
    """
    paths = _scene_paths(scenes)
    dates = pd.Series(pd.NaT, index=range(len(paths)), dtype="datetime64[ns]")
    if catalogue is not None:
        dates = _catalogue_dates(catalogue, paths)
    rows: list[dict[str, Any]] = []
    undated: list[str] = []
    for i, path in enumerate(paths):  # one header per raster: the files must be opened one by one anyway
        try:
            with rasterio.open(path) as ds:
                tags, crs, t, bounds = ds.tags(), ds.crs, ds.transform, ds.bounds
                meta = {
                    "width": ds.width,
                    "height": ds.height,
                    "count": ds.count,
                    "dtype": ds.dtypes[0],
                    "nodata": np.nan if ds.nodata is None else float(ds.nodata),
                }
        except RasterioIOError as exc:
            raise FileFormatError(
                f"{path} cannot be read as a raster ({exc}); give GeoTIFFs or other rasters GDAL reads."
            ) from exc
        if crs is None:
            raise ImageryError(f"{path} has no CRS; set it, e.g. gdal_edit.py -a_srs EPSG:32637 {path}")
        if not (t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0):
            raise ImageryError(
                f"{path} is not north up (transform {tuple(t)[:6]}); warp it first, e.g. "
                f"gdalwarp {path} {Path(path).stem}_north_up.tif"
            )
        if pd.notna(dates.iloc[i]):
            day, where = pd.Timestamp(dates.iloc[i]), "catalogue"
        else:
            day, where = scene_date(path, tags)
        if day is None:
            undated.append(str(path))
        rows.append(
            {
                "path": str(path),
                "image_date": day,
                "date_source": where,
                "crs": crs.to_string(),
                **meta,
                "left": bounds.left,
                "bottom": bounds.bottom,
                "right": bounds.right,
                "top": bounds.top,
            }
        )
    if undated:
        raise ImageryError(
            f"no image date for {len(undated)} scene(s): {undated[:5]}{' and more' if len(undated) > 5 else ''}; "
            f"for each, {_DATE_FIX}."
        )
    table = pd.DataFrame(rows, columns=list(SCENE_COLUMNS))
    table["image_date"] = pd.to_datetime(table["image_date"]).astype("datetime64[ns]")
    return table.sort_values(["image_date", "path"], kind="stable").reset_index(drop=True)


def _as_scenes(
    scenes: str | Path | Sequence[str | Path] | pd.DataFrame, catalogue: str | Path | pd.DataFrame | None
) -> pd.DataFrame:
    if isinstance(scenes, pd.DataFrame):
        missing = [c for c in SCENE_COLUMNS if c not in scenes.columns]
        if missing:
            raise ImageryError(f"a scene table needs the columns of scene_catalogue(); it lacks {missing}.")
        return scenes.sort_values(["image_date", "path"], kind="stable").reset_index(drop=True)
    return scene_catalogue(scenes, catalogue=catalogue)


def _as_footprints(footprints: str | Path | gpd.GeoDataFrame, id_column: str) -> gpd.GeoDataFrame:
    if isinstance(footprints, str | Path):
        return read_footprints(footprints, id_column=id_column)
    return check_footprints(footprints.copy(), id_column)


# ------------------------------------------------------------------------------------------------- chips
def chip_file_names(building_ids: pd.Series | Sequence, image_dates: pd.Series | Sequence) -> pd.Series:
    """The chip file names, ``<building_id>_<YYYY-MM-DD>.png``, of pairs of building ids and image dates.

    Examples
    --------
    >>> chip_file_names([12, "b7"], ["2017-06-16", "2017-07-01"]).tolist()
    ['12_2017-06-16.png', 'b7_2017-07-01.png']
    """
    ids = pd.Series(building_ids).astype("str").reset_index(drop=True)
    days = pd.to_datetime(pd.Series(image_dates)).dt.strftime("%Y-%m-%d").reset_index(drop=True)
    return ids + "_" + days + ".png"


@dataclass(frozen=True, eq=False)
class ChipSet:
    """The chips written by :func:`chips`, and those that could not be.

    Attributes
    ----------
    directory : pathlib.Path
        Where the chips, :data:`MANIFEST_FILE` and :data:`MISSING_FILE` are.
    chips : pandas.DataFrame
        The manifest: ``building_id``, ``image_date``, ``file`` (the chip's file name in ``directory``).
    missing : pandas.DataFrame
        ``building_id``, ``image_date``, ``reason`` (a key of :data:`MISSING_REASONS`) and ``nodata_share``
        (the share of the chip without data, for ``"nodata"``; NaN otherwise).
    scenes : pandas.DataFrame
        The scene catalogue the chips were cut from (:func:`scene_catalogue`).
    """

    directory: Path
    chips: pd.DataFrame
    missing: pd.DataFrame
    scenes: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        """Counts for people and for ``--json``: scenes, dates, chips written, chips missing by reason."""
        reasons = self.missing["reason"].value_counts()
        return {
            "directory": str(self.directory),
            "scenes": len(self.scenes),
            "image_dates": int(self.scenes["image_date"].nunique()),
            "chips": len(self.chips),
            "missing": len(self.missing),
            "missing_by_reason": {r: int(reasons.get(r, 0)) for r in MISSING_REASONS},
        }


def _metric_centres(footprints: gpd.GeoDataFrame) -> tuple[pyproj.CRS, np.ndarray, np.ndarray]:
    """The footprints' centroids in a metric CRS: theirs if projected, else their UTM zone."""
    crs = footprints.crs if footprints.crs.is_projected else footprints.estimate_utm_crs()
    xy = shapely.get_coordinates(shapely.centroid(footprints.geometry.to_crs(crs).to_numpy()))
    return pyproj.CRS.from_user_input(crs), xy[:, 0], xy[:, 1]


def _question_pairs(
    questions: str | Path | pd.DataFrame, ids: pd.Index, id_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """(building row, image date) of every image the questions show, each pair once."""
    if isinstance(questions, pd.DataFrame):
        table, name = questions.copy(), "questions"
    else:
        table, name = read_table(questions), str(questions)
    table.index = pd.RangeIndex(len(table), name="row")
    need = [c for c in ("building_id", "after") if c not in table.columns]
    if need:
        raise ImageryError(
            f"{name} needs columns building_id, before (empty for a one-image question) and after; it lacks "
            f"{need} (it has {[str(c) for c in table.columns]})."
        )
    asked = typed_ids(table["building_id"])
    building = ids.get_indexer(asked)
    if (building < 0).any():
        unknown = asked[building < 0]
        raise UnmatchedBuildingsError(
            f"{name}: {rows_text(table.index, building < 0)} ask about buildings the footprints lack "
            f"({unknown.head(5).tolist()}); give the footprint layer the questions were made from "
            f"(id column {id_column!r}).",
            unknown.tolist(),
        )
    after = _parse_days(table["after"], f"{name}: 'after'", required=True)
    parts = [(building, after.to_numpy())]
    if "before" in table.columns:
        before = _parse_days(table["before"], f"{name}: 'before'", required=False)
        shown = before.notna().to_numpy()
        parts.append((building[shown], before.to_numpy()[shown]))
    rows = np.concatenate([p[0] for p in parts])
    days = np.concatenate([p[1] for p in parts]).astype("datetime64[ns]")
    pairs = np.unique(np.stack([rows, days.view(np.int64)]), axis=1)
    return pairs[0], pairs[1].view("datetime64[ns]")


def _stretch(
    ds: rasterio.DatasetReader,
    bands: tuple[int, ...],
    stretch: tuple[float, float] | None,
    sample: list[tuple[Window, tuple[int, int]]],
) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) per band mapped to 0 and 255, or None for byte scenes shown as they are."""
    if stretch is not None:
        return np.full(len(bands), float(stretch[0])), np.full(len(bands), float(stretch[1]))
    if all(ds.dtypes[b - 1] == "uint8" for b in bands):
        return None
    values = []
    for window, shape in sample:  # a few chips' worth of pixels, read as the chips are: windows only
        data = ds.read(list(bands), window=window, out_shape=(len(bands), *shape), masked=True)
        values.append(data.reshape(len(bands), -1))
    stacked = np.ma.concatenate(values, axis=1).astype(np.float64) if values else None
    if stacked is None or stacked.count() == 0:
        return np.zeros(len(bands)), np.full(len(bands), 255.0)
    filled = stacked.filled(np.nan)
    low, high = (np.nanpercentile(filled, q, axis=1) for q in _STRETCH_PERCENTILES)
    return low, np.where(high > low, high, low + 1.0)


def _to_bytes(data: np.ndarray, scale: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    if scale is None:
        return data.astype(np.uint8, copy=False)
    low, high = (s[:, None, None] for s in scale)
    scaled = np.nan_to_num((data - low) / (high - low) * 255.0)  # NaN pixels are nodata: masked by the caller
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    """A chip (bands, rows, columns) of bytes as a PNG, through GDAL's PNG driver."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a chip is a picture, not a map
        with rasterio.open(
            path, "w", driver="PNG", width=pixels.shape[2], height=pixels.shape[1], count=pixels.shape[0], dtype="uint8"
        ) as dst:
            dst.write(pixels)


class _Windows:
    """The chips of some buildings in one scene: their windows clipped to it, and where they land in the chip.

    Chip pixel (i, j) covers the window's columns ``col + i * step_x`` to ``col + (i + 1) * step_x`` (and
    likewise rows): the whole chip pixels inside the scene are read, at once, into ``[j0:j1, i0:i1]``.
    """

    def __init__(
        self, ds: rasterio.DatasetReader, metric: pyproj.CRS, cx: np.ndarray, cy: np.ndarray, size_m: float, n: int
    ) -> None:
        to_scene = pyproj.Transformer.from_crs(metric, pyproj.CRS.from_user_input(ds.crs), always_xy=True)
        half = size_m / 2.0
        # centre, and the midpoints of the chip's west, east, south and north edges, in the scene's CRS
        x = np.concatenate([cx, cx - half, cx + half, cx, cx])
        y = np.concatenate([cy, cy, cy, cy - half, cy + half])
        sx, sy = (np.asarray(v).reshape(5, -1) for v in to_scene.transform(x, y, errcheck=False))
        half_x, half_y = (sx[2] - sx[1]) / 2.0, (sy[4] - sy[3]) / 2.0
        left, top = sx[0] - half_x, sy[0] + half_y
        t = ds.transform
        # rasterio.windows.from_bounds for every chip at once
        self.col, self.row = (left - t.c) / t.a, (top - t.f) / t.e
        self.step_x, self.step_y = 2.0 * half_x / t.a / n, 2.0 * half_y / -t.e / n
        with np.errstate(invalid="ignore", divide="ignore"):
            self.i0 = np.clip(np.ceil(-self.col / self.step_x - _EPS), 0, n)
            self.i1 = np.clip(np.floor((ds.width - self.col) / self.step_x + _EPS), 0, n)
            self.j0 = np.clip(np.ceil(-self.row / self.step_y - _EPS), 0, n)
            self.j1 = np.clip(np.floor((ds.height - self.row) / self.step_y + _EPS), 0, n)
        finite = np.isfinite(self.col) & np.isfinite(self.row) & (self.step_x > 0) & (self.step_y > 0)
        self.overlap = finite & (self.i1 > self.i0) & (self.j1 > self.j0)
        for name in ("i0", "i1", "j0", "j1"):
            setattr(self, name, np.where(self.overlap, getattr(self, name), 0).astype(np.int64))

    def window(self, k: int) -> tuple[Window, tuple[int, int], tuple[slice, slice]]:
        """The read window of chip ``k``, its output shape and the chip slices it fills."""
        i0, i1, j0, j1 = int(self.i0[k]), int(self.i1[k]), int(self.j0[k]), int(self.j1[k])
        window = Window(
            self.col[k] + i0 * self.step_x[k],
            self.row[k] + j0 * self.step_y[k],
            (i1 - i0) * self.step_x[k],
            (j1 - j0) * self.step_y[k],
        )
        return window, (j1 - j0, i1 - i0), (slice(j0, j1), slice(i0, i1))


def chips(
    scenes: str | Path | Sequence[str | Path] | pd.DataFrame,
    footprints: str | Path | gpd.GeoDataFrame,
    out: str | Path,
    *,
    catalogue: str | Path | pd.DataFrame | None = None,
    questions: str | Path | pd.DataFrame | None = None,
    size_m: float = CHIP_SIZE_M,
    pixel_m: float = CHIP_PIXEL_M,
    bands: Sequence[int] | None = None,
    stretch: tuple[float, float] | None = None,
    max_nodata: float = MAX_NODATA,
    resampling: str = "bilinear",
    id_column: str = "building_id",
    overwrite: bool = False,
) -> ChipSet:
    """Cut a PNG chip around every footprint from real rasters, for each image date or each question's images.

    A chip is a ``size_m`` square centred on the footprint's centroid, north up in the footprints' CRS (their
    UTM zone if they are in degrees), ``round(size_m / pixel_m)`` pixels a side, resampled from the scene by
    GDAL. Chips go to ``out/<building_id>_<YYYY-MM-DD>.png`` with the manifest :data:`MANIFEST_FILE`
    (``building_id, image_date, file``) and the table of chips not written, :data:`MISSING_FILE` (see
    :data:`MISSING_REASONS`). The directory appears whole or not at all: it is written beside ``out`` and
    renamed into place.

    Parameters
    ----------
    scenes : str, Path, sequence, or pandas.DataFrame
        A glob pattern, rasters, or a table from :func:`scene_catalogue`.
    footprints : str, Path or geopandas.GeoDataFrame
        The footprint layer (any CRS), or its file (:func:`stracker.read_footprints`).
    out : str or Path
        The chips directory.
    catalogue : str, Path or pandas.DataFrame, optional
        The scenes' image dates (see :func:`scene_catalogue`); ignored when ``scenes`` is a table.
    questions : str, Path or pandas.DataFrame, optional
        Questions (``building_id, before, after``, as ``stracker next`` writes them): chips only of each
        question's building on its ``before`` (if any) and ``after`` dates. Default: every building on every
        image date.
    size_m, pixel_m : float
        Side of a chip and its pixel size, in metres.
    bands : sequence of int, optional
        The bands shown (1-based): one (grey) or three (red, green, blue). Default: 1, 2, 3 if the scene has
        three bands or more, else 1.
    stretch : (float, float), optional
        Pixel values shown as 0 and 255 (for 16-bit imagery). Default: byte bands as they are; other bands from
        the 2nd to the 98th percentile of each band over a sample of the scene's chips.
    max_nodata : float
        Largest share of a chip's pixels without data for it to be written (nodata pixels are black).
    resampling : str
        A :class:`rasterio.enums.Resampling` name: ``"bilinear"``, ``"nearest"``, ``"cubic"``, ``"average"``...
    id_column : str
        The footprints' building id column.
    overwrite : bool
        Replace an existing chips directory (one holding :data:`MANIFEST_FILE`, or empty).

    Returns
    -------
    ChipSet

    Raises
    ------
    ImageryError
        As :func:`scene_catalogue`; for bad options, bands a scene lacks, or building ids that cannot be file
        names.
    OutputExistsError
        If ``out`` exists and ``overwrite`` is False, or it is not a chips directory.
    UnmatchedBuildingsError
        If questions name buildings the footprints lack.
    """
    out = Path(out)
    n = _check_chip_options(size_m, pixel_m, max_nodata, bands, resampling)
    _check_out(out, overwrite)
    table = _as_scenes(scenes, catalogue)
    fp = _as_footprints(footprints, id_column)
    ids = pd.Index(fp[id_column])
    unsafe = ids.astype("str").str.contains(_UNSAFE_NAME, regex=True)
    if unsafe.any():
        raise ImageryError(
            f"building ids {ids[unsafe][:5].tolist()} ({int(unsafe.sum())} in all) cannot be chip file names "
            "(<building_id>_<date>.png): they hold a slash, a backslash or a control character; renumber them."
        )
    metric, cx, cy = _metric_centres(fp)
    dates = pd.DatetimeIndex(table["image_date"].unique())
    if questions is None:
        pair_building = np.tile(np.arange(len(fp)), len(dates))
        pair_date = np.repeat(dates.to_numpy(), len(fp))
    else:
        pair_building, pair_date = _question_pairs(questions, ids, id_column)
    method = Resampling[resampling]
    written: list[tuple[np.ndarray, pd.Timestamp]] = []
    missing: list[pd.DataFrame] = []
    no_scene = ~pd.DatetimeIndex(pair_date).isin(dates)
    if no_scene.any():
        missing.append(_missing(ids, pair_building[no_scene], pair_date[no_scene], "no_scene"))
    with atomic_directory(out) as tmp:
        for day in dates:  # a handful of image dates; everything within one is arrays over its buildings
            rows = pair_building[pair_date == day.to_datetime64()]
            if len(rows) == 0:
                continue
            day_scenes = table[table["image_date"] == day]
            done, share = _cut_date(
                day_scenes,
                rows,
                ids,
                day,
                metric,
                cx[rows],
                cy[rows],
                size_m,
                n,
                bands,
                stretch,
                max_nodata,
                method,
                tmp,
            )
            written.append((rows[done], day))
            outside, nodata = np.isnan(share) & ~done, ~np.isnan(share) & ~done
            missing.append(_missing(ids, rows[outside], np.full(outside.sum(), day.to_datetime64()), "outside"))
            missing.append(
                _missing(ids, rows[nodata], np.full(nodata.sum(), day.to_datetime64()), "nodata", share[nodata])
            )
        manifest = _manifest(ids, written)
        missing_table = _sorted_missing(missing, len(ids))
        _write_csv(manifest, tmp / MANIFEST_FILE)
        _write_csv(missing_table, tmp / MISSING_FILE)
    return ChipSet(out, manifest, missing_table, table)


def _check_chip_options(
    size_m: float, pixel_m: float, max_nodata: float, bands: Sequence[int] | None, resampling: str
) -> int:
    for name, value in (("size_m", size_m), ("pixel_m", pixel_m)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ImageryError(f"{name} must be a positive number of metres, got {value!r}")
    n = round(size_m / pixel_m)
    if not 1 <= n <= 4096:
        raise ImageryError(f"a chip of {size_m} m at {pixel_m} m a pixel has {n} pixels a side; choose 1 to 4096.")
    if not (isinstance(max_nodata, int | float) and 0.0 <= max_nodata <= 1.0):
        raise ImageryError(f"max_nodata must be a share between 0 and 1, got {max_nodata!r}")
    if bands is not None and (len(bands) not in (1, 3) or any(int(b) < 1 for b in bands)):
        raise ImageryError(f"bands must be one band (grey) or three (red, green, blue), 1-based; got {list(bands)}")
    if resampling not in Resampling.__members__:
        raise ImageryError(f"resampling must be one of {sorted(Resampling.__members__)}, got {resampling!r}")
    return n


def _check_out(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory; choose another --out for the chips.")
    if any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} exists; pass overwrite=True (--overwrite) or choose another directory.")
        if not (out / MANIFEST_FILE).exists():
            raise OutputExistsError(
                f"{out} is not a chips directory (it has no {MANIFEST_FILE}); stracker replaces only its own chips "
                "directories: choose another --out."
            )


def _cut_date(
    day_scenes: pd.DataFrame,
    rows: np.ndarray,
    ids: pd.Index,
    day: pd.Timestamp,
    metric: pyproj.CRS,
    cx: np.ndarray,
    cy: np.ndarray,
    size_m: float,
    n: int,
    bands: Sequence[int] | None,
    stretch: tuple[float, float] | None,
    max_nodata: float,
    method: Resampling,
    tmp: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the chips of one image date from its scenes (a mosaic); return which were written and, per chip,
    its nodata share (NaN: outside every scene)."""
    count = len(rows)
    names = chip_file_names(ids[rows], np.full(count, day.to_datetime64())).to_numpy()
    scene_bands = [tuple(bands) if bands is not None else ((1, 2, 3) if c >= 3 else (1,)) for c in day_scenes["count"]]
    depth = max(len(b) for b in scene_bands)
    done = np.zeros(count, dtype=bool)
    share = np.full(count, np.nan)  # nodata share of the best chip so far; NaN: no scene touched it yet
    partial: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # chips with holes, waiting for the next scene
    for (_, scene), chosen in zip(day_scenes.iterrows(), scene_bands, strict=True):
        pending = np.flatnonzero(~done)
        if len(pending) == 0:
            break
        with rasterio.open(scene["path"]) as ds:  # each scene opened once
            if max(chosen) > ds.count:
                raise ImageryError(
                    f"{scene['path']} has {ds.count} band(s); bands {list(chosen)} cannot be shown. "
                    "Pass bands that it has (--bands)."
                )
            windows = _Windows(ds, metric, cx[pending], cy[pending], size_m, n)
            hits = np.flatnonzero(windows.overlap)
            # read in the scene's order, a strip of rows at a time: GDAL's block cache then serves neighbours
            hits = hits[np.lexsort((windows.col[hits], np.floor(windows.row[hits] / _READ_STRIP_PX)))]
            sample = [
                windows.window(int(k))[:2]
                for k in hits[
                    np.unique(np.linspace(0, len(hits) - 1, min(len(hits), _STRETCH_SAMPLE)).astype(np.int64))
                ]
            ]
            scale = _stretch(ds, chosen, stretch, sample)
            all_valid = all(MaskFlags.all_valid in ds.mask_flag_enums[b - 1] for b in chosen)
            for k in hits.tolist():  # one windowed read per chip (GDAL resamples it); a PNG per chip anyway
                chip_index = int(pending[k])
                window, shape, (rs, cs) = windows.window(k)
                data = ds.read(list(chosen), window=window, out_shape=(len(chosen), *shape), resampling=method)
                if all_valid:
                    valid = np.ones(shape, dtype=bool)
                else:
                    masks = ds.read_masks(
                        list(chosen), window=window, out_shape=(len(chosen), *shape), resampling=Resampling.nearest
                    )
                    valid = (masks > 0).all(axis=0)
                pixels = _to_bytes(data, scale)
                if pixels.shape[0] < depth:  # a grey scene in a colour mosaic
                    pixels = np.repeat(pixels, depth, axis=0)
                chip, hole = partial.get(chip_index) or (np.zeros((depth, n, n), np.uint8), np.ones((n, n), bool))
                fill = hole[rs, cs] & valid
                chip[:, rs, cs][:, fill] = pixels[:, fill]
                hole[rs, cs] &= ~valid
                share[chip_index] = hole.mean()
                if not hole.any():
                    _write_png(tmp / names[chip_index], chip)
                    done[chip_index] = True
                    partial.pop(chip_index, None)
                elif hole.all():
                    partial.pop(chip_index, None)  # nothing yet: keep no array for it
                else:
                    partial[chip_index] = (chip, hole)
    for chip_index, (chip, _hole) in partial.items():  # chips with holes left after every scene of the date
        if share[chip_index] <= max_nodata:
            _write_png(tmp / names[chip_index], chip)
            done[chip_index] = True
    return done, share


def _missing(
    ids: pd.Index, rows: np.ndarray, days: np.ndarray, reason: str, share: np.ndarray | None = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "building_id": ids[rows],
            "image_date": pd.DatetimeIndex(days).astype("datetime64[ns]"),
            "reason": pd.Series([reason] * len(rows), dtype="str"),
            "nodata_share": np.full(len(rows), np.nan) if share is None else share,
        }
    )


def _sorted_missing(parts: list[pd.DataFrame], n_buildings: int) -> pd.DataFrame:
    table = (
        pd.concat(parts, ignore_index=True)
        if parts
        else _missing(pd.Index([]), np.empty(0, np.int64), np.empty(0, "datetime64[ns]"), "")
    )
    table = table.sort_values(["row", "image_date"], kind="stable").drop(columns="row")
    return table.reset_index(drop=True)


def _manifest(ids: pd.Index, written: list[tuple[np.ndarray, pd.Timestamp]]) -> pd.DataFrame:
    rows = np.concatenate([w[0] for w in written]) if written else np.empty(0, np.int64)
    days = (
        np.concatenate([np.full(len(w[0]), w[1].to_datetime64()) for w in written])
        if written
        else np.empty(0, "datetime64[ns]")
    )
    order = np.lexsort((days, rows))
    rows, days = rows[order], days[order].astype("datetime64[ns]")
    return pd.DataFrame(
        {"building_id": ids[rows], "image_date": days, "file": chip_file_names(ids[rows], days).to_numpy()}
    )


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, date_format="%Y-%m-%d")


# ------------------------------------------------------------------------------------------------- visibility
def _clear_and_known(
    values: np.ndarray, valid: np.ndarray, cloud_values: Sequence[float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """A mask window's cloud-free share per pixel and where it is known."""
    if cloud_values is not None:
        return (~np.isin(values, np.asarray(cloud_values))).astype(np.float32), valid
    if np.issubdtype(values.dtype, np.floating):  # cloud opacity, 0 clear to 1 opaque (the simulator's rasters)
        known = valid & np.isfinite(values)
        return np.where(known, 1.0 - np.clip(values, 0.0, 1.0), 0.0).astype(np.float32), known
    return (values == 0).astype(np.float32), valid


def _mask_shares(
    ds: rasterio.DatasetReader,
    footprints: gpd.GeoDataFrame,
    band: int,
    cloud_values: Sequence[float] | None,
    layouts: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud-free share (NaN: unknown) and known share of every footprint in one mask, window by window."""
    n = len(footprints)
    t, crs = ds.transform, pyproj.CRS.from_user_input(ds.crs)
    key = (crs.to_wkt(), tuple(t)[:6], ds.width, ds.height)
    if key not in layouts:  # the windows and footprint pixels of a grid, shared by the masks on it
        layouts[key] = _mask_layout(footprints.to_crs(crs), t, ds.width, ds.height, crs)
    visible, known_share = np.full(n, np.nan), np.zeros(n)
    for members, (c0, r0, c1, r1), pixels in layouts[key]:
        # read the part of the window on the raster; the rest is unknown
        rc0, rr0, rc1, rr1 = max(c0, 0), max(r0, 0), min(c1, ds.width), min(r1, ds.height)
        values = np.zeros((r1 - r0, c1 - c0), dtype=ds.dtypes[band - 1])
        valid = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        if rc1 > rc0 and rr1 > rr0:
            window = Window(rc0, rr0, rc1 - rc0, rr1 - rr0)
            inner = (slice(rr0 - r0, rr1 - r0), slice(rc0 - c0, rc1 - c0))
            values[inner] = ds.read(band, window=window)
            valid[inner] = ds.read_masks(band, window=window) > 0
        clear, known = _clear_and_known(values, valid, cloud_values)
        visible[members] = cloud_free_share(pixels, clear, known)
        known_share[members] = pixels.known_share(known)
    return visible, known_share


def _mask_layout(projected: gpd.GeoDataFrame, t: Affine, width: int, height: int, crs: pyproj.CRS) -> list:
    """Group footprints into windows of about :data:`MASK_WINDOW_PX` pixels (by their centre) that hold them
    whole, and rasterize each group once on its window's grid."""
    bounds = shapely.bounds(projected.geometry.to_numpy())
    col0, row0 = (bounds[:, 0] - t.c) / t.a, (bounds[:, 3] - t.f) / t.e
    col1, row1 = (bounds[:, 2] - t.c) / t.a, (bounds[:, 1] - t.f) / t.e
    touches = np.isfinite(bounds).all(axis=1) & (col1 > 0) & (col0 < width) & (row1 > 0) & (row0 < height)
    touching = np.flatnonzero(touches)
    if len(touching) == 0:
        return []
    block_col = np.floor((col0[touching] + col1[touching]) / 2.0 / MASK_WINDOW_PX).astype(np.int64)
    block_row = np.floor((row0[touching] + row1[touching]) / 2.0 / MASK_WINDOW_PX).astype(np.int64)
    _, group = np.unique(np.stack([block_row, block_col]), axis=1, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    # whole-pixel windows over each group's footprints (their bounds: min and max per group, by reduceat)
    c0 = np.floor(np.minimum.reduceat(col0[touching][order], starts)).astype(np.int64)
    r0 = np.floor(np.minimum.reduceat(row0[touching][order], starts)).astype(np.int64)
    c1 = np.ceil(np.maximum.reduceat(col1[touching][order], starts)).astype(np.int64)
    r1 = np.ceil(np.maximum.reduceat(row1[touching][order], starts)).astype(np.int64)
    c1, r1 = np.maximum(c1, c0 + 1), np.maximum(r1, r0 + 1)
    layout = []
    for g, members in enumerate(np.split(touching[order], starts[1:])):  # a few windows per mask, not buildings
        grid = RasterGrid(
            t @ Affine.translation(int(c0[g]), int(r0[g])), int(c1[g] - c0[g]), int(r1[g] - r0[g]), crs.to_string()
        )
        pixels = footprint_pixels(projected.iloc[members], grid)
        layout.append((members, (int(c0[g]), int(r0[g]), int(c1[g]), int(r1[g])), pixels))
    return layout


def visibility(
    masks: str | Path | Sequence[str | Path] | pd.DataFrame,
    footprints: str | Path | gpd.GeoDataFrame,
    *,
    catalogue: str | Path | pd.DataFrame | None = None,
    cloud_values: Sequence[float] | None = None,
    band: int = 1,
    id_column: str = "building_id",
) -> pd.DataFrame:
    """Each building's cloud-free share in each image, from cloud-mask rasters.

    A mask is a raster of any CRS whose image date follows the rules of :func:`scene_catalogue`. Its pixels
    say: with ``cloud_values``, cloud where the value is one of them; otherwise, for integer masks, cloud where
    nonzero, and for float masks the cloud opacity (0 clear to 1 opaque, as the simulator's cloud rasters).
    Nodata (and anything off the raster) is unknown. A building's share is computed as the simulator's
    visibility: its footprint rasterized at a quarter of the mask's pixel
    (:func:`stracker.world.clouds.footprint_pixels`), the clear share averaged over it by area
    (:func:`stracker.world.clouds.cloud_free_share`), over its known part only. Several masks on one date
    are a mosaic: each building takes the mask that knows most of its footprint.

    Parameters
    ----------
    masks : str, Path, sequence or pandas.DataFrame
        A glob pattern, rasters, or a table from :func:`scene_catalogue`.
    footprints : str, Path or geopandas.GeoDataFrame
        The footprint layer (any CRS), or its file.
    catalogue : str, Path or pandas.DataFrame, optional
        The masks' image dates (see :func:`scene_catalogue`).
    cloud_values : sequence of numbers, optional
        The mask values that are cloud (e.g. ``[3, 8, 9, 10]`` for Sentinel-2's scene classification: cloud
        shadow, cloud medium and high probability, cirrus).
    band : int
        The mask's band.
    id_column : str
        The footprints' building id column.

    Returns
    -------
    pandas.DataFrame
        The long table ``building_id, image_date, visible``: one row per building and image date, in the
        footprints' order then by date; ``visible`` is float64 from 0 (under cloud) to 1 (clear), NaN where
        no mask of that date knows any of the footprint.

    Raises
    ------
    ImageryError
        As :func:`scene_catalogue`, or for a band the mask lacks.

    Examples
    --------
    A mask clouded over the west half of a 20 m building:

    >>> import tempfile, pathlib, numpy as np, geopandas as gpd, rasterio, shapely
    >>> from affine import Affine
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clouds_2017-06-16.tif"
    >>> mask = np.zeros((1, 10, 10), dtype=np.uint8)
    >>> mask[0, :, :5] = 1
    >>> with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
    ...                    crs="EPSG:32637", transform=Affine(10, 0, 500000, 0, -10, 3980100)) as ds:
    ...     ds.write(mask)
    >>> buildings = gpd.GeoDataFrame({"building_id": [7]}, crs="EPSG:32637",
    ...                              geometry=[shapely.box(500040, 3980040, 500060, 3980060)])
    >>> visibility(path, buildings).astype({"image_date": str}).values.tolist()
    [[7, '2017-06-16', 0.5]]
    """
    table = _as_scenes(masks, catalogue)
    fp = _as_footprints(footprints, id_column)
    ids = pd.Index(fp[id_column])
    dates = pd.DatetimeIndex(table["image_date"].unique())
    result = np.full((len(fp), len(dates)), np.nan)
    layouts: dict = {}
    for d, day in enumerate(dates):  # a few dates; a few masks each
        best_known = np.zeros(len(fp))
        for path in table.loc[table["image_date"] == day, "path"]:
            with rasterio.open(path) as ds:
                if not 1 <= band <= ds.count:
                    raise ImageryError(f"{path} has {ds.count} band(s), not band {band}; pass --band.")
                visible, known = _mask_shares(ds, fp, band, cloud_values, layouts)
            better = known > best_known  # the mask that knows most of each footprint; the first on ties
            result[better, d] = visible[better]
            best_known = np.maximum(best_known, known)
    return pd.DataFrame(
        {
            "building_id": np.repeat(ids.to_numpy(), len(dates)),
            "image_date": np.tile(dates.to_numpy(), len(fp)).astype("datetime64[ns]"),
            "visible": result.ravel(),
        }
    )


def write_visibility(table: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the long visibility table as Parquet, atomically.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another path.")
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return path
