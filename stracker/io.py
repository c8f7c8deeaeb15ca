"""Files in and out: label tables, footprint layers and consensus files.

Readers turn a user's exports into the tables the rest of stracker takes, or refuse them with an error that
names the file, the rows and the fix:

* :func:`read_labels`: a label table (CSV or Parquet) with parsed dates and typed ids;
* :func:`read_footprints`: a footprint layer (anything GDAL reads through pyogrio: GeoPackage, GeoJSON,
  Shapefile, FlatGeobuf, ...; and GeoParquet), checked for unique ids, valid geometries and a CRS;
* :func:`read_consensus`: a consensus file written by :meth:`stracker.Consensus.to_file`, back into a
  :class:`~stracker.Consensus` (for :func:`stracker.evaluate`).

How ids are typed
-----------------
A text format has no types, so the same id can arrive as ``12`` from a GeoPackage and as ``"12"`` from a CSV
or a GeoJSON written by another tool. stracker reads every id column by one rule, in every reader:
integer columns stay integers; a text column whose every value is a whole number written in plain digits
(an optional minus, no leading zero, at most 18 digits; blanks around it are dropped) becomes int64; any other
text column stays text (``str``), so ``"007"`` or ``"b12"`` are kept as written. Labels and footprints read
this way join on their ids. Integral float columns (a Shapefile's numeric fields) become int64 too.

CSV files may start with a byte-order mark and may use ``,``, ``;``, tab or ``|`` as separator (the one that
splits the header into the most fields). Dates must be ISO dates (``2017-06-16``, optionally with a time);
``16/06/2017`` is refused because day and month cannot be told apart.

Examples
--------
>>> import tempfile, pathlib, stracker
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "answers.csv").write_text(
...     "\\ufeffbuilding_id;volunteer_id;before;after;destroyed;task\\n"
...     "12;anna;2017-06-04;2017-06-16;yes;timeline\\n"
...     "12;ben;;2017-06-16;no;compare\\n", encoding="utf-8")
>>> labels = stracker.read_labels(folder / "answers.csv")
>>> labels.dtypes.astype(str).tolist()
['int64', 'str', 'datetime64[ns]', 'datetime64[ns]', 'boolean', 'str']
>>> labels["destroyed"].tolist()
[True, False]
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from stracker._io import atomic_path, write_layers
from stracker.errors import FileFormatError, FootprintsError, LabelsError, OutputExistsError, StrackerError
from stracker.labels import _check_columns, _closest, _encode_answer, _parse_dates, _rows

if TYPE_CHECKING:
    import geopandas as gpd

    from stracker.consensus.result import Consensus

__all__ = [
    "CONSENSUS_LAYERS",
    "check_footprint_ids",
    "check_footprints",
    "consensus_outputs",
    "describe",
    "read_consensus",
    "read_footprints",
    "read_images",
    "read_labels",
    "read_table",
    "read_truth",
    "typed_ids",
    "write_consensus",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
CONSENSUS_LAYERS = ("buildings", "volunteers", "images", "states")
"""Layers of a consensus GeoPackage: footprints with the consensus columns, the volunteers' reliability, the
image catalogue, and the posterior over states (one column per state, for a lossless round trip)."""

_DELIMITERS = (",", ";", "\t", "|")
_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"
_DAY_MONTH = re.compile(r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")
_METADATA_KEY = "stracker_consensus"
CONSENSUS_COLUMNS = ("p_destroyed", "destroyed_after", "destroyed_by", "confidence", "ci90_start", "ci90_end",
                     "n_labels", "n_volunteers")


# ------------------------------------------------------------------------------------------------- helpers
@contextmanager
def _about(path: Path) -> Iterator[None]:
    """Prefix the file's name to the package's plain errors raised inside, so a message says which file."""
    try:
        yield
    except (LabelsError, FootprintsError, FileFormatError) as exc:
        if type(exc) in (LabelsError, FootprintsError, FileFormatError) and not str(exc).startswith(str(path)):
            raise type(exc)(f"{path}: {exc}") from exc
        raise


def typed_ids(values: pd.Series) -> pd.Series:
    """Type an id column by stracker's rule: whole numbers written in digits become int64, other text stays text.

    Integer columns are returned as they are; integral floats become int64 (nullable ``Int64`` where a value
    is missing); text is stripped of surrounding blanks, blanks become missing, and the column becomes int64
    when every present value is a plain whole number (no leading zero, at most 18 digits). Anything else (a
    mix of Python objects, say) is returned unchanged for the label contract to judge.

    Parameters
    ----------
    values : pandas.Series

    Returns
    -------
    pandas.Series

    Examples
    --------
    >>> import pandas as pd
    >>> typed_ids(pd.Series(["12", " 7", "-3"])).tolist()
    [12, 7, -3]
    >>> typed_ids(pd.Series(["12", "007"])).tolist()
    ['12', '007']
    >>> str(typed_ids(pd.Series([1.0, None])).dtype)
    'Int64'
    """
    if pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna().to_numpy(dtype=float)
        integral = np.isfinite(present).all() and (present == np.round(present)).all()
        if integral and (np.abs(present) < 2**62).all():
            return values.astype("Int64" if values.hasnans else "int64")
        return values
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return values
    text = values.astype("str").str.strip()
    text = text.mask(text == "")
    present = text.notna()
    if present.any() and text[present].str.fullmatch(_INTEGER_TEXT).all():
        return text.astype("int64" if present.all() else "Int64")
    return text


def _sniff_delimiter(header: str) -> str:
    """The delimiter that splits the header line into the most fields (',' when none splits it)."""
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def _read_csv(path: Path, sep: str | None) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = [line for line in head.decode("utf-8-sig", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise FileFormatError(f"{path} is empty; expected a header line naming the columns, then one row per line.")
    delimiter = sep if sep is not None else _sniff_delimiter(lines[0])
    try:
        table = pd.read_csv(path, sep=delimiter, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 (Excel: 'CSV UTF-8')."
        ) from exc
    except pd.errors.ParserError as exc:
        raise FileFormatError(
            f"{path} is not a well-formed table with {delimiter!r} separators ({str(exc).strip()}); check the "
            "quoting and that every row has as many fields as the header."
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table


def read_table(path: str | Path, *, layer: str | None = None, sep: str | None = None) -> pd.DataFrame:
    """Read the attribute table of any file stracker reads: CSV, Parquet or a GDAL vector layer.

    The geometry, if any, is not read. Columns are as stored (CSV: all text); the index counts rows from 0
    and is named ``row``.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.tsv``/``.txt`` (any of ``, ; tab |`` as separator, optional byte-order mark), a Parquet
        or GeoParquet file, or any vector file GDAL reads.
    layer : str, optional
        Layer of a multi-layer vector file (see :func:`read_footprints` for the default).
    sep : str, optional
        CSV separator; default: sniffed from the header line.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FileFormatError
        If the file is empty, not of a format stracker reads, or malformed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        table = _read_csv(path, sep)
    elif suffix in PARQUET_SUFFIXES:
        table = _read_parquet(path)
        geometry = _geoparquet_geometry(path)
        if geometry is not None:
            table = table.drop(columns=geometry)
    else:
        import pyogrio

        chosen = _choose_layer(path, layer)
        try:
            table = pd.DataFrame(pyogrio.read_dataframe(path, layer=chosen, read_geometry=False))
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path}: layer {chosen!r} could not be read: {exc}") from exc
    if isinstance(table.index, pd.RangeIndex):
        table.index = pd.RangeIndex(len(table), name="row")
    return table


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    _check_not_empty(path)
    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, ValueError) as exc:
        raise FileFormatError(f"{path} could not be read as Parquet: {exc}") from exc


def _geoparquet_geometry(path: Path) -> str | None:
    """Name of the primary geometry column of a GeoParquet file, None for plain Parquet."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        return None
    return json.loads(meta[b"geo"]).get("primary_column", "geometry")


def _check_not_empty(path: Path) -> None:
    if path.is_file() and path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes).")


def _choose_layer(path: Path, layer: str | None) -> str:
    """The layer to read: the one named, else the only one, else 'buildings', else the only spatial one."""
    import pyogrio

    _check_not_empty(path)
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
            raise FileFormatError(f"{path} has no layer {layer!r}{_closest(layer, tuple(names))}; it has {names}.")
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


# ------------------------------------------------------------------------------------------------- labels
def read_labels(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a label table (one row per volunteer answer) from CSV or Parquet.

    The columns of the label contract (``building_id``, ``volunteer_id``, ``before``, ``after``, ``destroyed``
    and optionally ``task``; see :mod:`stracker.labels`) are checked and typed: ids by the rule in
    :mod:`stracker.io` (a CSV id column of plain whole numbers becomes int64, of other text stays ``str``;
    Parquet ids keep their type unless they are such text), ``before`` and ``after`` parsed to naive
    datetime64, ``destroyed`` to nullable boolean (``True/False``, ``yes/no``, ``1/0``; empty: can't tell).
    Other columns are kept as read. The index names each answer's row, counted from 0 after the header.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.txt`` file (UTF-8, optional byte-order mark, separator ``,`` ``;`` tab or
        ``|``, sniffed from the header) or a ``.parquet`` file.
    sep : str, optional
        The CSV separator, if sniffing should not decide.

    Returns
    -------
    pandas.DataFrame
        Ready for :func:`stracker.aggregate`.

    Raises
    ------
    LabelsError
        On a missing or misspelled column (the closest name is suggested), no rows, unparsable,
        timezone-aware or day/month-ambiguous dates, a missing ``after``, or a ``destroyed`` value that is
        not a yes/no; the message names the file and the rows.
    FileFormatError
        If the file is empty, not UTF-8, malformed or of another format.

    Examples
    --------
    >>> import tempfile, pathlib, stracker
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = path.write_text("building_id,volunteer_id,before,after,destroyed\\n"
    ...                     "7,1,2017-06-04,2017-06-16,True\\n7,2,,2017-06-16,\\n")
    >>> labels = stracker.read_labels(path)
    >>> labels["building_id"].tolist(), labels["before"].isna().tolist(), labels["destroyed"].tolist()
    ([7, 7], [False, True], [True, <NA>])
    """
    path = Path(path)
    if path.suffix.lower() not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise FileFormatError(
            f"{path}: a label table is read from CSV (.csv, .tsv, .txt) or Parquet (.parquet), not {path.suffix!r}."
        )
    table = read_table(path, sep=sep)
    with _about(path):
        _check_columns(table)
        if table.empty:
            raise LabelsError("holds no answers (a header but no rows); there is nothing to aggregate.")
        for name in ("building_id", "volunteer_id"):
            table[name] = typed_ids(table[name])
        for name, required in (("before", False), ("after", True)):
            _refuse_day_month(table[name], name)
            table[name] = _parse_dates(table[name], name, required=required)
        if not pd.api.types.is_bool_dtype(table["destroyed"].dtype):
            codes = _encode_answer(table["destroyed"])
            table["destroyed"] = pd.array(np.where(codes == 1, True, False), dtype="boolean")
            table.loc[codes < 0, "destroyed"] = pd.NA
    return table


def _refuse_day_month(values: pd.Series, name: str) -> None:
    """Refuse dates written as dd/mm/yyyy or mm/dd/yyyy: pandas would guess the order, row by row."""
    if isinstance(values.dtype, pd.StringDtype):
        ambiguous = values.str.match(_DAY_MONTH).fillna(False).to_numpy(dtype=bool)
    elif values.dtype == object:  # strings among other things: look at the strings only
        ambiguous = values.map(lambda x: isinstance(x, str) and _DAY_MONTH.match(x) is not None).to_numpy(dtype=bool)
    else:
        return
    if ambiguous.any():
        examples = values[ambiguous].head(3).tolist()
        raise LabelsError(
            f"{name!r} holds dates with day and month in an unknown order in {_rows(values.index, ambiguous)}, "
            f"e.g. {examples}; write ISO dates such as '2017-06-16' (year-month-day)."
        )


# ------------------------------------------------------------------------------------------------- footprints
def read_footprints(
    path: str | Path, *, layer: str | None = None, id_column: str = "building_id"
) -> gpd.GeoDataFrame:
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
        _read_parquet(path)  # a clear error for a file that is not Parquet at all
        if _geoparquet_geometry(path) is None:
            raise FootprintsError(
                f"{path} is Parquet without GeoParquet metadata: a table, not a footprint layer. Write footprints "
                "with GeoDataFrame.to_parquet or convert them with ogr2ogr."
            )
        frame = gpd.read_parquet(path)
    else:
        chosen = _choose_layer(path, layer)
        try:
            frame = pyogrio.read_dataframe(path, layer=chosen)
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path}: layer {chosen!r} could not be read: {exc}") from exc
        if not isinstance(frame, gpd.GeoDataFrame):
            raise FootprintsError(
                f"{path}: layer {chosen!r} has no geometry; footprints need one polygon per building."
            )
    frame.index = pd.RangeIndex(len(frame), name="row")
    with _about(path):
        return check_footprints(frame, id_column, shapefile=path.suffix.lower() == ".shp")


def _feature_rows(frame: pd.DataFrame, mask: np.ndarray, id_column: str | None) -> str:
    """Name bad features: their count, positions and, where known, their ids."""
    text = _rows(frame.index, mask)
    if id_column is not None and id_column in frame.columns:
        ids = frame.loc[np.asarray(mask, dtype=bool), id_column].head(8).tolist()
        text += f" ({id_column} {ids})"
    return text


def check_footprint_ids(footprints: pd.DataFrame, id_column: str, shapefile: bool = False) -> pd.Index:
    """Check the building id column of footprints (present, non-null, unique) and return it as an Index."""
    if id_column not in footprints.columns:
        present = tuple(str(c) for c in footprints.columns)
        hint = _closest(id_column, present)
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


def check_footprints(frame: gpd.GeoDataFrame, id_column: str = "building_id", shapefile: bool = False
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


# ------------------------------------------------------------------------------------------------- consensus files
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
        write_layers(targets[0], frames, {"states": {_METADATA_KEY: json.dumps(metadata)}})
        return buildings
    import pyarrow as pa
    import pyarrow.parquet as pq

    for target, (name, frame) in zip(targets, frames.items(), strict=True):
        with atomic_path(target) as tmp:
            if name == "states":
                table = pa.Table.from_pandas(frame, preserve_index=False)
                schema_meta = {**(table.schema.metadata or {}), _METADATA_KEY.encode(): json.dumps(metadata).encode()}
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


def read_consensus(path: str | Path) -> Consensus:
    """Read a consensus written by :meth:`stracker.Consensus.to_file` (GeoPackage or GeoParquet).

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file, or the main ``.parquet`` file with its ``.volunteers``, ``.images`` and ``.states``
        siblings beside it.

    Returns
    -------
    Consensus
        With the buildings that had answers, their posterior, the volunteers and the image catalogue (the
        per-frame table of ``method="dawid_skene"`` is not stored).

    Raises
    ------
    FileFormatError
        If a layer or sibling file is missing, or the parts do not fit together.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, stracker
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2], "volunteer_id": [1, 2, 1],
    ...     "before": pd.to_datetime(["2017-06-01", "2017-06-01", None]),
    ...     "after": pd.to_datetime(["2017-06-10", "2017-06-10", "2017-06-10"]),
    ...     "destroyed": [True, True, False], "task": "compare"})
    >>> consensus = stracker.aggregate(labels, method="majority")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "consensus.gpkg"
    >>> _ = consensus.to_file(path)
    >>> again = stracker.read_consensus(path)
    >>> bool((again.posterior == consensus.posterior).all()), again.method
    (True, 'majority')
    """
    from stracker.consensus.result import Consensus

    path = Path(path)
    targets = consensus_outputs(path)
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        _check_not_empty(path)
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
        meta_text = (pyogrio.read_info(path, layer="states").get("layer_metadata") or {}).get(_METADATA_KEY)
    else:
        import pyarrow.parquet as pq

        missing = [str(p) for p in targets if not p.exists()]
        if missing:
            raise FileFormatError(f"{path}: the consensus file(s) {missing} are missing; they are written together.")
        frames = {name: _read_parquet(p) for name, p in zip(CONSENSUS_LAYERS, targets, strict=True)}
        meta_text = (pq.read_schema(targets[-1]).metadata or {}).get(_METADATA_KEY.encode())
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
    return Consensus(
        buildings=buildings,
        volunteers=volunteers,
        posterior=states.to_numpy(dtype=float),
        image_dates=image_dates,
        method=meta["method"],
        prior=np.asarray(meta["prior"], dtype=float),
        log_likelihood=list(meta["log_likelihood"]),
        n_iter=int(meta["n_iter"]),
        converged=bool(meta["converged"]),
    )


def read_truth(path: str | Path, *, layer: str | None = None) -> pd.DataFrame:
    """Read ground truth: a footprint file or table with ``building_id`` and ``destroyed_on`` (empty: never).

    Returns
    -------
    pandas.DataFrame
        ``destroyed_on`` (naive datetime64) indexed by ``building_id`` (typed by the id rule).
    """
    path = Path(path)
    table = read_table(path, layer=layer)
    with _about(path):
        needed = ("building_id", "destroyed_on")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            present = tuple(str(c) for c in table.columns)
            hints = ", ".join(f"{c!r}{_closest(c, present)}" for c in missing)
            raise LabelsError(f"truth lacks column(s) {hints}; it has {list(present)}.")
        if table.empty:
            raise LabelsError("the truth table has no rows.")
        ids = typed_ids(table["building_id"])
        _refuse_day_month(table["destroyed_on"], "destroyed_on")
        on = _parse_dates(table["destroyed_on"], "destroyed_on", required=False)
    return pd.DataFrame({"destroyed_on": on.to_numpy()}, index=pd.Index(ids, name="building_id"))


def read_images(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read an image catalogue: a table with an ``image_date`` column (or a single column of dates).

    Other columns (``image_id``, ``cloud_cover``, ...) are kept. Rows are sorted by date.

    Returns
    -------
    pandas.DataFrame
        With ``image_date`` as naive datetime64, strictly increasing.

    Raises
    ------
    LabelsError
        If there is no date column, a date is missing, unparsable or repeated, or there are no rows.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "images.csv"
    >>> _ = path.write_text("image_date\\n2017-06-16\\n2017-06-04\\n")
    >>> read_images(path)["image_date"].dt.day.tolist()
    [4, 16]
    """
    path = Path(path)
    table = read_table(path, sep=sep)
    with _about(path):
        if "image_date" not in table.columns:
            if table.shape[1] != 1:
                present = tuple(str(c) for c in table.columns)
                raise LabelsError(
                    f"the image catalogue has no 'image_date' column{_closest('image_date', present)}; it has "
                    f"{list(present)}. Name the column of acquisition dates image_date."
                )
            table.columns = ["image_date"]
        if table.empty:
            raise LabelsError("the image catalogue has no rows.")
        _refuse_day_month(table["image_date"], "image_date")
        table["image_date"] = _parse_dates(table["image_date"], "image_date", required=True)
        repeated = table["image_date"].duplicated(keep=False).to_numpy()
        if repeated.any():
            raise LabelsError(
                f"'image_date' repeats a date in {_rows(table.index, repeated)}; list each acquisition date once."
            )
    return table.sort_values("image_date")


def _date_range(values: pd.Series) -> list[str] | None:
    dates = pd.to_datetime(values, errors="coerce").dropna()
    return [str(dates.min().date()), str(dates.max().date())] if len(dates) else None


def _describe_layers(path: Path) -> list[dict[str, Any]]:
    import pyogrio

    out = []
    for name, geometry_type in pyogrio.list_layers(path):
        info = pyogrio.read_info(path, layer=name)
        fields = dict(zip(info["fields"].tolist(), (t.removeprefix("OFT") for t in info["ogr_types"]), strict=True))
        layer: dict[str, Any] = {"name": str(name), "geometry": geometry_type, "features": int(info["features"]),
                                 "crs": info["crs"], "fields": fields}
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
    from stracker.simulation import SIMULATION_FILES

    path = Path(path)
    if path.is_dir():
        missing = [name for name in SIMULATION_FILES if not (path / name).exists()]
        if missing:
            raise FileFormatError(f"{path} is a folder but not a simulation: it lacks {missing}.")
        scenario = json.loads((path / "scenario.json").read_text())
        info = {"path": str(path), "kind": "simulation", "scenario": scenario.get("name"),
                "seed": scenario.get("seed"), "files": sorted(p.name for p in path.iterdir() if p.is_file())}
        info["buildings"] = _describe_layers(path / "buildings.gpkg")[0]
        info["labels"] = describe(path / "labels.parquet")
        info["images"] = len(pd.read_parquet(path / "images.parquet", columns=["image_date"]))
        return info
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if suffix in PARQUET_SUFFIXES and all(p.exists() for p in consensus_outputs(path)[1:]):
            return _describe_consensus(path)
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
            return info | {"answers": len(labels), "buildings": int(labels["building_id"].nunique()),
                           "volunteers": int(labels["volunteer_id"].nunique()), "date_range": _date_range(dates),
                           "images": int(dates.nunique()), "tasks": {str(k): int(v) for k, v in tasks.items()}}
        geometry = _geoparquet_geometry(path) if suffix in PARQUET_SUFFIXES else None
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

    _check_not_empty(path)
    try:
        layers = _describe_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise FileFormatError(f"{path} is not a file stracker reads: {str(exc).strip()}") from exc
    names = [layer["name"] for layer in layers]
    if all(name in names for name in CONSENSUS_LAYERS):
        return _describe_consensus(path)
    spatial = [layer for layer in layers if layer["geometry"] is not None]
    return {"path": str(path), "kind": "footprints" if spatial else "table", "layers": layers}


def _describe_consensus(path: Path) -> dict[str, Any]:
    consensus = read_consensus(path)
    info: dict[str, Any] = {"path": str(path), "kind": "consensus", **consensus.summary()}
    info["date_range"] = [str(consensus.image_dates.min().date()), str(consensus.image_dates.max().date())]
    if path.suffix.lower() == ".gpkg":
        info["layers"] = _describe_layers(path)
    return info
