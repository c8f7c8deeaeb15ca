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
splits the header into the most fields); pyarrow reads them on all cores, and every check then runs once per
distinct value of a column. Dates must be ISO dates (``2017-06-16``, optionally with a time of day, which is
kept); ``16/06/2017`` is refused because day and month cannot be told apart.

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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, LabelsError
from stracker.io.files import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    about,
    check_input,
    choose_layer,
    geoparquet_geometry,
)
from stracker.labels import (
    LABEL_COLUMNS,
    MISSING_TEXT,
    check_label_columns,
    closest_hint,
    distinct_values,
    encode_answers,
    parse_image_dates,
    rows_text,
    take_rows,
    text_cells,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "parse_blank_dates",
    "read_gold",
    "read_images",
    "read_labels",
    "read_parquet",
    "read_table",
    "read_truth",
    "read_visibility",
    "refuse_day_month",
    "refuse_missing_ids",
    "sniff_delimiter",
    "truth_from_table",
    "typed_ids",
]


_DELIMITERS = (",", ";", "\t", "|")
_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"
_DAY_MONTH = r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b"


def typed_ids(values: pd.Series, *, distinct: tuple[np.ndarray, pd.Series] | None = None) -> pd.Series:
    """Type an id column by stracker's rule: whole numbers written in digits become int64, other text stays text.

    Integer columns are returned as they are; integral floats become int64 (nullable ``Int64`` where a value
    is missing); text is stripped of surrounding blanks, blanks become missing, and the column becomes int64
    when every present value is a plain whole number (no leading zero, at most 18 digits). A categorical column
    (a Parquet dictionary column) is decoded and typed by the same rule. Anything else (a mix of Python
    objects, say) is returned unchanged for the label contract to judge. The rule runs once per distinct value.

    Parameters
    ----------
    values : pandas.Series
    distinct : (codes, distinct values), optional
        ``stracker.labels.distinct_values(values)``, when the caller has it already.

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
    >>> typed_ids(pd.Series(["b", "a", "b"], dtype="category")).tolist()
    ['b', 'a', 'b']
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if not (
            pd.api.types.is_integer_dtype(categories.dtype)
            or pd.api.types.is_float_dtype(categories.dtype)
            or pd.api.types.infer_dtype(categories, skipna=True) in ("string", "empty")
        ):
            return values
        codes = values.cat.codes.to_numpy()
        typed = typed_ids(pd.Series(categories.array))
        if pd.api.types.is_integer_dtype(typed.dtype) and not typed.hasnans and (codes >= 0).all():
            return pd.Series(typed.to_numpy(dtype=np.int64)[codes], index=values.index, name=values.name)
        return pd.Series(typed.array.take(codes, allow_fill=True), index=values.index, name=values.name)
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
    codes, uniques = distinct if distinct is not None else distinct_values(values)
    _, text = text_cells(uniques)
    text = text.mask(text == "")
    present = text.notna().to_numpy()
    blank = take_rows(~present, codes, True)
    if present.any() and text[present].str.fullmatch(_INTEGER_TEXT).all():
        numbers = np.zeros(len(uniques), dtype=np.int64)
        numbers[present] = text[present].astype("int64").to_numpy()
        if not blank.any():
            return pd.Series(numbers[codes], index=values.index, name=values.name)
        out = pd.array(take_rows(numbers, codes, 0), dtype="Int64")
        out[blank] = pd.NA
        return pd.Series(out, index=values.index, name=values.name)
    if not blank.any() and text.equals(uniques.astype("str")):  # nothing to strip: the column as it is
        return values.astype("str")
    return pd.Series(pd.array(text, dtype="str").take(codes, allow_fill=True), index=values.index, name=values.name)


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


def _header(path: Path, sep: str | None) -> tuple[str, list[str]]:
    """The separator and the column names, checked: no name twice (pandas would rename the second 'x.1')."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the block
            raise FileFormatError(
                f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 (Excel: 'CSV UTF-8')."
            ) from exc
        text = head[: exc.start].decode("utf-8-sig")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise FileFormatError(f"{path} is empty; expected a header line naming the columns, then one row per line.")
    delimiter = sep if sep is not None else sniff_delimiter(lines[0])
    names = [name.strip() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]  # pandas' name for a blank header field
    twice = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if twice:
        where = "; ".join(f"{n!r} at columns {[i + 1 for i, m in enumerate(names) if m == n]}" for n in twice)
        raise FileFormatError(
            f"{path}: the header names more than one column {where} (counting from 1); stracker will not guess "
            "which one holds the data: rename or remove the others."
        )
    return delimiter, names


_TRUE_TEXT = ("true", "True", "TRUE", "yes", "Yes", "YES", "1")
_FALSE_TEXT = ("false", "False", "FALSE", "no", "No", "NO", "0")


def _read_csv_arrow(path: Path, sep: str | None, *, typed: tuple[str, ...] = ()) -> pa.Table:
    """The columns as text exactly as written (blank: ''), read by pyarrow on all cores.

    Rows with more or fewer fields than the header are refused, every one named: a row cut short would
    otherwise read as blanks (a 'can't tell' answer).

    ``typed`` names the date columns and the answer column (``destroyed``), which pyarrow's reader may parse
    itself when every value is plain: ISO dates or timestamps without zone, ``true/false``, ``yes/no``,
    ``1/0`` (as written in a few usual cases), blank or a spelling of a missing value. Any other value fails
    that parse, and the file is read again as text, for the rules of :mod:`stracker.labels` to judge and name.
    """
    check_input(path)
    delimiter, names = _header(path, sep)
    # quoted line breaks inside values are rare and make pyarrow's reader slower: the first read assumes none
    # (a row split there has the wrong number of fields) and parses the typed columns; if anything fails, the
    # file is read again as text, allowing line breaks in quoted values
    typed = tuple(name for name in typed if name in names)
    if typed:
        table, invalid = _arrow_read(path, delimiter, names, typed=typed, newlines_in_values=False)
    if not typed or table is None or invalid:
        table, invalid = _arrow_read(path, delimiter, names, typed=(), newlines_in_values=True)
    if invalid:
        raise FileFormatError(_ragged_rows(path, delimiter, len(names), invalid))
    return table


def _arrow_read(
    path: Path, delimiter: str, names: list[str], *, typed: tuple[str, ...], newlines_in_values: bool
) -> tuple[pa.Table | None, list[tuple[int, str]]]:
    """One pyarrow read; (None, ...) when a typed column fails to parse (only a first, typed read may fail so)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:  # called for bad rows only
        if row.text.strip():  # a line of blanks is a blank line, as pandas reads it
            invalid.append((row.actual_columns, row.text))
        return "skip"

    # large_string: the storage of pandas' str dtype, so the text columns reach pandas without a copy;
    # nanoseconds, as pandas holds them (no cast after): a date outside datetime64[ns] fails this typed read, and
    # the text read then lets stracker.labels name it
    types = {name: pa.large_string() for name in names}
    types.update({name: pa.bool_() if name == "destroyed" else pa.timestamp("ns") for name in typed})
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=newlines_in_values, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                # text columns are never null (blank: ''); a typed column's blank, quoted or not, is missing
                column_types=types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=True,
                null_values=sorted(MISSING_TEXT),
                true_values=list(_TRUE_TEXT),
                false_values=list(_FALSE_TEXT),
                timestamp_parsers=[pacsv.ISO8601],
            ),
        )
    except pa.ArrowInvalid as exc:
        if typed:
            return None, []
        message = str(exc)
        if "UTF8" in message or "utf8" in message.lower():
            raise FileFormatError(
                f"{path} is not UTF-8 text ({message.strip()}); save it as UTF-8 (Excel: 'CSV UTF-8')."
            ) from exc
        raise FileFormatError(
            f"{path} is not a well-formed table with {delimiter!r} separators ({message.strip()}); check the "
            "quoting and that every row has as many fields as the header."
        ) from exc
    return table, invalid


def _ragged_rows(path: Path, delimiter: str, n_fields: int, invalid: list[tuple[int, str]]) -> str:
    """Name the rows whose field count differs from the header's (a second pass in Python, on this error path)."""
    rows, row = [], -1
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            row += 1
            if len(fields) != n_fields:
                rows.append((row, len(fields)))
    short = [r for r, n in rows if n < n_fields]
    long = [r for r, n in rows if n > n_fields]
    parts = []
    for kind, found in (("fewer", short), ("more", long)):
        if found:
            shown = ", ".join(str(r) for r in found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
            parts.append(f"{len(found)} row(s) [{shown}] have {kind} fields than the header's {n_fields}")
    if not parts:  # the two parsers disagree on quoting: show what pyarrow saw
        parts.append(
            f"{len(invalid)} row(s) have {invalid[0][0]} fields where the header has {n_fields}, e.g. "
            f"{invalid[0][1][:80]!r}"
        )
    return (
        f"{path}: {'; '.join(parts)} (rows counted from 0 after the header). A row cut short would read as "
        "blanks (a can't-tell answer) and an extra field shifts the others: fix or remove these rows, and check "
        "the quoting of fields that contain the separator."
    )


def _as_read(values: pd.Series) -> pd.Series:
    """A text column as the CSV readers read it: leading blanks dropped, blanks and spellings of a missing
    value (``NA``...) missing. The column itself when no value changes (the usual case: no copy)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):  # the distinct values alone say whether any changes
        uniques = pd.Series(pd.unique(values))
        if _as_read_text(uniques).equals(uniques.astype("str")):
            return values
    codes, uniques = distinct_values(values)
    out = pd.array(_as_read_text(uniques), dtype="str").take(codes, allow_fill=True)
    return pd.Series(out, index=values.index, name=values.name)


def _as_read_text(uniques: pd.Series) -> pd.Series:
    """Distinct text values as the CSV readers read them: leading blanks dropped, missing-value spellings NaN."""
    text = uniques.astype("str").str.lstrip()
    return text.mask(text.str.strip().isin(MISSING_TEXT).to_numpy())


def _missing_as_na(values: pd.Series) -> pd.Series:
    """A text column as a categorical, blanks and spellings of a missing value missing (code -1)."""
    codes, uniques = distinct_values(values)
    missing = uniques.astype("str").str.strip().isin(MISSING_TEXT).to_numpy()
    if missing.any():
        codes = np.where(missing[codes] & (codes >= 0), -1, codes)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(uniques.array), validate=False),
        index=values.index,
        name=values.name,
    )


def _plain_text_ids(values: pd.Series) -> bool:
    """Whether a text id column stays as it is: no blanks, nothing to strip, no missing-value spelling, and not
    all whole numbers (judged on the distinct values, without codes)."""
    if not (pd.api.types.is_string_dtype(values.dtype) and values.dtype != object) or values.hasnans:
        return False
    uniques = pd.Series(pd.unique(values), dtype="str")
    stripped = uniques.str.strip()
    return bool(
        stripped.equals(uniques)
        and not stripped.isin(MISSING_TEXT).any()
        and not stripped.str.fullmatch(_INTEGER_TEXT).all()
    )


def refuse_missing_ids(values: pd.Series, name: str, *, distinct: tuple[np.ndarray, pd.Series] | None = None) -> None:
    """Refuse ids written as a spelling of a missing value (``NA``, ``None``, ``null``...), naming the rows.

    ``distinct``: ``stracker.labels.distinct_values(values)``, when the caller has it already."""
    codes, uniques = distinct if distinct is not None else distinct_values(values)
    is_text, text = text_cells(uniques)
    spelled = is_text & text.isin(MISSING_TEXT).to_numpy() & (text != "").to_numpy()
    if not spelled.any():
        return
    bad = take_rows(spelled, codes, False)
    seen = sorted({str(x).strip() for x in values[bad].head(20)})
    raise LabelsError(
        f"{name} holds the text {' / '.join(repr(x) for x in seen)} in {rows_text(values.index, bad)}: a "
        f"spelling of a missing value, not an id. Every answer needs a {name}: fill in the real ids of these rows "
        f"or remove them; if {seen[0]!r} really is an id, write it so that no tool takes it for a missing value "
        f"(e.g. 'id {seen[0]}')."
    )


def _read_csv(path: Path, sep: str | None) -> pd.DataFrame:
    table = _read_csv_arrow(path, sep)
    return pd.DataFrame({name: _as_read(table.column(i).to_pandas()) for i, name in enumerate(table.column_names)})


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
    """Read a Parquet file (or dataset) as a pandas table; a file pyarrow cannot read is a
    :class:`~stracker.errors.FileFormatError` that names it."""
    import pyarrow

    check_input(path)
    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, ValueError) as exc:
        raise FileFormatError(f"{path} could not be read as Parquet: {exc}") from exc


def read_labels(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a label table (one row per volunteer answer) from CSV or Parquet.

    The columns of the label contract (``building_id``, ``volunteer_id``, ``before``, ``after``, ``destroyed``
    and optionally ``task``; see :mod:`stracker.labels`) are checked and typed: ids by the rule in
    :mod:`stracker.io` (a CSV id column of plain whole numbers becomes int64, of other text stays ``str``;
    Parquet ids keep their type unless they are such text; dictionary ids are decoded), ``before`` and
    ``after`` parsed to naive datetime64 (ISO dates, optionally with a time of day, kept: an image date is a
    timestamp), ``destroyed`` to nullable boolean (``True/False``, ``yes/no``, ``1/0``; empty, ``NA``,
    ``null``...: can't tell). Other columns are kept as read (CSV: text, blanks and ``NA``... missing). The
    index names each answer's row, counted from 0 after the header; ``attrs["source"]`` is the path, so that
    later errors about these rows name the file. ``docs/contracts.md`` has the full reading rules.

    Every rule runs once per distinct value of a column, never per row, and every bad row is still named.

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
        timezone-aware or day/month-ambiguous dates, a missing ``after``, an id written as a spelling of a
        missing value (``NA``, ``None``, ``null``...), or a ``destroyed`` value that is not a yes/no; the
        message names the file and the rows.
    FileFormatError
        If the file is empty, not UTF-8, malformed or of another format; if a CSV header names a column twice
        (both positions named), or rows have fewer or more fields than the header (every such row named).

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
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise FileFormatError(
            f"{path}: a label table is read from CSV (.csv, .tsv, .txt) or Parquet (.parquet), not {path.suffix!r}."
        )
    # text columns stay dictionary-encoded (codes and distinct values) until typed: every rule below runs once
    # per distinct value, then the codes carry the result to the rows
    if suffix in CSV_SUFFIXES:
        arrow = _read_csv_arrow(path, sep, typed=("before", "after", "destroyed"))
        table = pd.DataFrame(
            {name: _to_pandas(name, column) for name, column in zip(arrow.column_names, arrow.columns, strict=True)},
            copy=False,
        )
        from_csv = True
    else:
        table = _read_labels_parquet(path)
        from_csv = False
    if from_csv or isinstance(table.index, pd.RangeIndex):
        table.index = pd.RangeIndex(len(table), name="row")
    with about(path):
        check_label_columns(table)
        if table.empty:
            raise LabelsError("holds no answers (a header but no rows); there is nothing to aggregate.")
        for name in ("building_id", "volunteer_id"):
            values = table[name]
            if _plain_text_ids(values):  # the usual text ids: nothing to type, strip or refuse (one hash pass)
                continue
            if from_csv or not pd.api.types.is_numeric_dtype(values.dtype):
                distinct = None if isinstance(values.dtype, pd.CategoricalDtype) else distinct_values(values)
                refuse_missing_ids(values, name, distinct=distinct)
                table[name] = typed_ids(values, distinct=distinct)
            else:
                table[name] = typed_ids(values)
        for name, required in (("before", False), ("after", True)):
            table[name] = parse_image_dates(table[name], name, required=required)
        destroyed = table["destroyed"]
        if from_csv and not pd.api.types.is_bool_dtype(destroyed.dtype):
            destroyed = _missing_as_na(destroyed)  # NA, null... read as can't tell, as every CSV reader does
        if not pd.api.types.is_bool_dtype(destroyed.dtype):
            codes = encode_answers(destroyed)
            table["destroyed"] = pd.arrays.BooleanArray(codes == 1, codes < 0)
        elif destroyed.dtype != "boolean":
            table["destroyed"] = destroyed.astype("boolean")
        for name in table.columns:
            if from_csv and name not in LABEL_COLUMNS[:5]:
                table[name] = _as_read(table[name])
    table.attrs["source"] = str(path)
    return table


def _read_labels_parquet(path: Path) -> pd.DataFrame:
    """A Parquet label table, its columns as stored (dictionary columns as categoricals, decoded later)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_input(path)
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise FileFormatError(f"{path} could not be read as Parquet: {exc}") from exc
    geometry = geoparquet_geometry(path)
    table = pd.DataFrame(
        {
            name: _to_pandas(name, column)
            for name, column in zip(arrow.column_names, arrow.columns, strict=True)
            if name != geometry
        },
        copy=False,
    )
    # an index pandas stored as columns (the rows of an export, say) comes back as the index, as pandas reads it
    stored = [c for c in (arrow.schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
    if stored and all(c in table.columns for c in stored):
        table = table.set_index(stored)
        table.index.names = [None if n.startswith("__index_level_") else n for n in stored]
    return table


def _to_pandas(name: str, column: pa.ChunkedArray) -> pd.Series:
    """A column for pandas: booleans nullable (not objects), naive image dates in nanoseconds by pyarrow's cast
    (checked: a date outside datetime64[ns] fails it, and stays as stored for stracker.labels to name)."""
    import pyarrow as pa

    if column.type == pa.bool_():
        return column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    if name in ("before", "after") and pa.types.is_timestamp(column.type) and column.type.tz is None:
        try:
            column = column.cast(pa.timestamp("ns"))
        except pa.ArrowInvalid:
            pass
    return column.to_pandas()


def refuse_day_month(values: pd.Series, name: str) -> None:
    """Refuse dates written as dd/mm/yyyy or mm/dd/yyyy: pandas would guess the order, row by row.

    :func:`stracker.labels.parse_image_dates` refuses them too; this check alone is for columns read as text.
    """
    if not (pd.api.types.is_string_dtype(values.dtype) or isinstance(values.dtype, pd.CategoricalDtype)):
        return
    codes, uniques = distinct_values(values)
    is_text, text = text_cells(uniques)
    ambiguous_u = is_text & text.str.match(_DAY_MONTH).fillna(False).to_numpy(dtype=bool)
    if ambiguous_u.any():
        ambiguous = take_rows(ambiguous_u, codes, False)
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
    return truth_from_table(read_table(path, layer=layer), path)


def truth_from_table(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Ground truth (as :func:`read_truth` returns it) from a table already read from ``path``, which errors name.

    Examples
    --------
    >>> from pathlib import Path
    >>> table = pd.DataFrame({"building_id": ["7"], "destroyed_on": ["2017-06-10"]})
    >>> truth_from_table(table, Path("truth.csv"))["destroyed_on"].dt.day.tolist()
    [10]
    """
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
        table["image_date"] = parse_image_dates(table["image_date"], "image_date", required=True)
        repeated = table["image_date"].duplicated(keep=False).to_numpy()
        if repeated.any():
            raise LabelsError(
                f"'image_date' repeats a date in {rows_text(table.index, repeated)}; list each acquisition date once."
            )
    table = table.sort_values("image_date")
    table.attrs["source"] = str(path)  # named by encode_labels when an answer's date is not in it
    return table


def parse_blank_dates(values: pd.Series, name: str, required: bool) -> pd.Series:
    """:func:`stracker.labels.parse_image_dates` of a column that may hold blank text cells (missing dates).

    Examples
    --------
    >>> parse_blank_dates(pd.Series(["2017-06-04", " "]), "after", required=False).isna().tolist()
    [False, True]
    """
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.astype("string").str.strip()
        values = text.mask(text == "")
    return parse_image_dates(values, name, required=required)


_VISIBLE_TEXT = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def read_visibility(path: str | Path) -> pd.DataFrame | np.ndarray:
    """Read each building's visibility per image: a long table (CSV or Parquet: ``building_id``,
    ``image_date`` and ``visible`` or ``visibility``) or a ``.npy`` array (buildings x images, in the order of the
    footprints and the catalogue, as ``stracker simulate`` writes ``visibility.npy``).

    Ids are typed as :func:`typed_ids` types them and dates parsed; ``visible`` (or ``visibility``) is a
    cloud-free share from 0 to 1 (as ``stracker visibility`` writes it; NaN: unknown) or a yes/no
    (``true/false``, ``yes/no``, ``1/0``; empty: unknown). :func:`stracker.aggregate` (``visibility=``) and
    :func:`stracker.tasking.hidden_images` take what it returns (the consensus: the tables only, an array
    has no building ids).

    Raises
    ------
    LabelsError
        On a missing column or a value that is not a date, a yes/no or a number (the rows are named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "visibility.csv"
    >>> _ = path.write_text("building_id,image_date,visible\\n7,2017-06-04,0.25\\n7,2017-06-16,\\n")
    >>> read_visibility(path)["visible"].tolist()
    [0.25, nan]
    """
    path = Path(path)
    check_input(path)
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise FileFormatError(f"{path} could not be read as a numpy array: {exc}") from exc
    table = read_table(path)
    missing = [c for c in ("building_id", "image_date") if c not in table.columns]
    if missing or not {"visible", "visibility"} & set(table.columns):
        raise LabelsError(
            f"{path}: a visibility table needs building_id, image_date and visible (yes/no) or "
            f"visibility (a cloud-free share); it has {list(table.columns)}."
        )
    with about(path):
        table["building_id"] = typed_ids(table["building_id"])
        table["image_date"] = parse_blank_dates(table["image_date"], "image_date", required=True)
    column = "visible" if "visible" in table.columns else "visibility"
    values = table[column]
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return table
    text = values.astype("string").str.strip().str.lower()
    distinct = pd.Series(text.dropna().unique(), dtype="string")  # each distinct spelling judged once
    if distinct.isin(list(_VISIBLE_TEXT)).all():
        table[column] = text.map(_VISIBLE_TEXT).astype("boolean")
        return table
    numeric = pd.to_numeric(text.mask(text == ""), errors="coerce")
    bad = (numeric.isna() & text.notna() & (text != "")).to_numpy(dtype=bool)
    if bad.any():
        raise LabelsError(
            f"{path}: {column!r} must be a cloud-free share (0 to 1) or yes/no, but is "
            f"{values[bad].head(3).tolist()} in {rows_text(table.index, bad)}."
        )
    table[column] = numeric.astype("float64")
    return table


def read_gold(path: str | Path, *, layer: str | None = None) -> pd.DataFrame:
    """Read gold: the buildings whose destruction an expert established.

    Either dates (``building_id``, ``destroyed_on``; empty: not destroyed), as the review page downloads them
    (``gold.csv``) and :func:`read_truth` reads them, or expert answers in the shape of a label table
    (``building_id``, ``before``, ``after``, ``destroyed``; other columns such as ``volunteer_id`` and ``task``
    are kept and not needed). :func:`stracker.aggregate` takes either as ``gold=``.

    Returns
    -------
    pandas.DataFrame
        ``destroyed_on`` indexed by building_id (dates), or ``building_id``, ``before``, ``after``,
        ``destroyed`` (answers; ``destroyed`` as the file has it, checked when aggregated).

    Raises
    ------
    LabelsError
        If the file has neither shape, or a date or id is bad.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "gold.csv"
    >>> _ = path.write_text("building_id,destroyed_on\\n12,2017-06-10\\n13,\\n")
    >>> read_gold(path)["destroyed_on"].isna().tolist()
    [False, True]
    """
    path = Path(path)
    table = read_table(path, layer=layer)
    if "destroyed_on" in table.columns:
        return truth_from_table(table, path)
    with about(path):
        needed = ("building_id", "after", "destroyed")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise LabelsError(
                f"gold needs building_id and destroyed_on (dates an expert established), or expert answers with "
                f"building_id, before, after and destroyed; it lacks {missing} and has {list(table.columns)}."
            )
        refuse_missing_ids(table["building_id"], "building_id")
        table["building_id"] = typed_ids(table["building_id"])
        if "before" in table.columns:
            table["before"] = parse_blank_dates(table["before"], "before", required=False)
        table["after"] = parse_blank_dates(table["after"], "after", required=True)
    return table
