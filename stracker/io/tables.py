"""Tables in: label tables, image catalogues and ground truth, with the id rule every reader shares.

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
import re
from pathlib import Path

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, LabelsError
from stracker.io.files import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    about,
    check_not_empty,
    choose_layer,
    geoparquet_geometry,
)
from stracker.labels import check_label_columns, closest_hint, encode_answers, parse_image_dates, rows_text

__all__ = [
    "read_images",
    "read_labels",
    "read_parquet",
    "read_table",
    "read_truth",
    "refuse_day_month",
    "sniff_delimiter",
    "typed_ids",
]


_DELIMITERS = (",", ";", "\t", "|")
_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"
_DAY_MONTH = re.compile(r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")


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


def sniff_delimiter(header: str) -> str:
    """The delimiter among ``, ; tab |`` that splits the header line into the most fields (',' when none does).

    Examples
    --------
    >>> sniff_delimiter("building_id;volunteer_id;after"), sniff_delimiter("after")
    (';', ',')
    """
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def _read_csv(path: Path, sep: str | None) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = [line for line in head.decode("utf-8-sig", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise FileFormatError(f"{path} is empty; expected a header line naming the columns, then one row per line.")
    delimiter = sep if sep is not None else sniff_delimiter(lines[0])
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
        table = read_parquet(path)
        geometry = geoparquet_geometry(path)
        if geometry is not None:
            table = table.drop(columns=geometry)
    else:
        import pyogrio

        chosen = choose_layer(path, layer)
        try:
            table = pd.DataFrame(pyogrio.read_dataframe(path, layer=chosen, read_geometry=False))
        except pyogrio.errors.DataSourceError as exc:
            raise FileFormatError(f"{path}: layer {chosen!r} could not be read: {exc}") from exc
    if isinstance(table.index, pd.RangeIndex):
        table.index = pd.RangeIndex(len(table), name="row")
    return table


def read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    check_not_empty(path)
    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, ValueError) as exc:
        raise FileFormatError(f"{path} could not be read as Parquet: {exc}") from exc


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
    with about(path):
        check_label_columns(table)
        if table.empty:
            raise LabelsError("holds no answers (a header but no rows); there is nothing to aggregate.")
        for name in ("building_id", "volunteer_id"):
            table[name] = typed_ids(table[name])
        for name, required in (("before", False), ("after", True)):
            refuse_day_month(table[name], name)
            table[name] = parse_image_dates(table[name], name, required=required)
        if not pd.api.types.is_bool_dtype(table["destroyed"].dtype):
            codes = encode_answers(table["destroyed"])
            table["destroyed"] = pd.array(np.where(codes == 1, True, False), dtype="boolean")
            table.loc[codes < 0, "destroyed"] = pd.NA
    return table


def refuse_day_month(values: pd.Series, name: str) -> None:
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
            f"{name!r} holds dates with day and month in an unknown order in {rows_text(values.index, ambiguous)}, "
            f"e.g. {examples}; write ISO dates such as '2017-06-16' (year-month-day)."
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
    with about(path):
        needed = ("building_id", "destroyed_on")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            present = tuple(str(c) for c in table.columns)
            hints = ", ".join(f"{c!r}{closest_hint(c, present)}" for c in missing)
            raise LabelsError(f"truth lacks column(s) {hints}; it has {list(present)}.")
        if table.empty:
            raise LabelsError("the truth table has no rows.")
        ids = typed_ids(table["building_id"])
        refuse_day_month(table["destroyed_on"], "destroyed_on")
        on = parse_image_dates(table["destroyed_on"], "destroyed_on", required=False)
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
    with about(path):
        if "image_date" not in table.columns:
            if table.shape[1] != 1:
                present = tuple(str(c) for c in table.columns)
                raise LabelsError(
                    f"the image catalogue has no 'image_date' column{closest_hint('image_date', present)}; it has "
                    f"{list(present)}. Name the column of acquisition dates image_date."
                )
            table.columns = ["image_date"]
        if table.empty:
            raise LabelsError("the image catalogue has no rows.")
        refuse_day_month(table["image_date"], "image_date")
        table["image_date"] = parse_image_dates(table["image_date"], "image_date", required=True)
        repeated = table["image_date"].duplicated(keep=False).to_numpy()
        if repeated.any():
            raise LabelsError(
                f"'image_date' repeats a date in {rows_text(table.index, repeated)}; list each acquisition date once."
            )
    return table.sort_values("image_date")
