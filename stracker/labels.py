"""The label contract: validate a table of volunteer answers and encode it as integer arrays.

One row per volunteer answer, with columns ``building_id``, ``volunteer_id``, ``before`` (an image date or NaT),
``after`` (an image date), ``destroyed`` (nullable boolean; NA: can't tell) and ``task`` ("timeline" or
"compare"). ``docs/contracts.md`` gives the meaning of each.

:func:`encode_labels` checks the contract row by row (every bad row is named in the error) and turns the table
into :class:`EncodedLabels`: int32 codes for buildings and volunteers, small ints for image indices. Everything
downstream (consensus, evaluation) works on those arrays.

Examples
--------
>>> import pandas as pd
>>> from stracker.labels import encode_labels
>>> labels = pd.DataFrame({
...     "building_id": ["b1", "b1", "b2"],
...     "volunteer_id": [7, 8, 7],
...     "before": pd.to_datetime(["2017-06-01", "2017-06-01", None]),
...     "after": pd.to_datetime(["2017-07-01", "2017-07-01", "2017-06-01"]),
...     "destroyed": [True, True, False],
... })
>>> enc = encode_labels(labels, task="timeline")
>>> enc.n_buildings, enc.n_volunteers, enc.n_images
(2, 2, 2)
>>> enc.lo.tolist(), enc.hi.tolist(), enc.answer.tolist()
([0, 0, -1], [1, 1, 0], [1, 1, 0])
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import DuplicateAnswersWarning, LabelsError
from stracker.parallel import resolve_threads, side_by_side

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "LABEL_COLUMNS",
    "MISSING_TEXT",
    "ON_DUPLICATE",
    "SIDE_BY_SIDE_ROWS",
    "TASKS",
    "EncodedLabels",
    "check_label_columns",
    "closest_hint",
    "destruction_state",
    "distinct_values",
    "duplicate_answers",
    "duplicate_mask",
    "encode_answers",
    "encode_ids",
    "encode_labels",
    "encode_task",
    "image_catalogue",
    "image_date_labels",
    "image_index_dtype",
    "parse_image_dates",
    "report_duplicates",
    "rows_text",
    "take_rows",
    "text_cells",
]

LABEL_COLUMNS = ("building_id", "volunteer_id", "before", "after", "destroyed", "task")
"""Columns of the label contract, in order."""

TASKS = ("timeline", "compare")
"""Task kinds; their position is the task code in :class:`EncodedLabels`."""

SIDE_BY_SIDE_ROWS = 200_000
"""Rows from which :func:`encode_labels` encodes a table's ids on a second thread beside its other columns (below,
starting the thread costs more than it saves)."""

ON_DUPLICATE = ("warn", "error", "ignore")
"""What to do with exact duplicate answers: name them in a warning, refuse them, or say nothing."""

TIMELINE, COMPARE = 0, 1
YES, NO, CANT_TELL = 1, 0, -1

_MAX_ROWS_SHOWN = 8


@dataclass(frozen=True, eq=False)
class EncodedLabels:
    """A validated label table as integer arrays, one element per answer.

    Attributes
    ----------
    building_ids, volunteer_ids : pandas.Index
        Sorted unique ids; ``building[i]`` indexes ``building_ids``.
    image_dates : pandas.DatetimeIndex
        The image catalogue d_0 < ... < d_{D-1}.
    building, volunteer : ndarray of int32
        Codes of each answer's building and volunteer.
    lo : ndarray of int16 (int32 for a catalogue of more than 32,767 images)
        Index of ``before`` in the catalogue, -1 for NaT (before the first image).
    hi : ndarray of int16 (int32 for a catalogue of more than 32,767 images)
        Index of ``after`` in the catalogue.
    answer : ndarray of int8
        1 yes (destroyed), 0 no, -1 can't tell.
    task : ndarray of int8
        0 timeline, 1 compare.
    row_index : pandas.Index
        Index labels of the input rows, in the same order.
    """

    building_ids: pd.Index
    volunteer_ids: pd.Index
    image_dates: pd.DatetimeIndex
    building: np.ndarray
    volunteer: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    answer: np.ndarray
    task: np.ndarray
    row_index: pd.Index

    @property
    def n_answers(self) -> int:
        """Number of answers (rows)."""
        return int(self.building.size)

    @property
    def n_buildings(self) -> int:
        """Number of distinct buildings."""
        return len(self.building_ids)

    @property
    def n_volunteers(self) -> int:
        """Number of distinct volunteers."""
        return len(self.volunteer_ids)

    @property
    def n_images(self) -> int:
        """Number of images D in the catalogue."""
        return len(self.image_dates)

    @property
    def n_states(self) -> int:
        """Number of destruction states, D + 1."""
        return self.n_images + 1


def rows_text(index: pd.Index, mask: np.ndarray) -> str:
    """Name the offending rows: a count and the first few index labels."""
    bad = index[np.asarray(mask, dtype=bool)]
    shown = ", ".join(repr(x) for x in bad[:_MAX_ROWS_SHOWN].tolist())
    more = f" and {len(bad) - _MAX_ROWS_SHOWN} more" if len(bad) > _MAX_ROWS_SHOWN else ""
    return f"{len(bad)} row(s) [{shown}{more}]"


def closest_hint(name: str, options: tuple[str, ...]) -> str:
    """A hint naming the option closest to a misspelled ``name`` (empty when none is close)."""
    import difflib

    match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" (the table has {match[0]!r}: a misspelling of {name!r}?)" if match else ""


def check_label_columns(labels: pd.DataFrame) -> None:
    """Check that a label table has the contract's columns (``task`` may come from a keyword instead)."""
    required = [c for c in LABEL_COLUMNS if c != "task"]
    names = [str(c) for c in labels.columns]
    twice = sorted({c for c in names if c in LABEL_COLUMNS and names.count(c) > 1})
    if twice:
        where = "; ".join(f"{c!r} at positions {[i + 1 for i, n in enumerate(names) if n == c]}" for c in twice)
        raise LabelsError(
            f"the label table has more than one column named {where} (counting from 1); stracker will not guess "
            "which one holds the answers: rename or drop the others."
        )
    missing = [c for c in required if c not in labels.columns]
    if missing:
        present = tuple(str(c) for c in labels.columns)
        hints = []
        for c in missing:
            match = closest_hint(c, present)
            hints.append(f"{c!r}{match}")
        raise LabelsError(
            f"label table lacks column(s) {', '.join(hints)}; it has {list(present)}. "
            f"The label contract needs {list(required)} (rename the columns to match)."
        )


MISSING_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
        "NaT",
    }
)
"""Texts that tools write for a missing value (pandas' defaults, R's ``NA``, Python's ``None``, JSON's ``null``)."""

_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"
_DAY_MONTH = r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b"
# a time zone after a time of day: Z, +hh, +hh:mm, -hhmm or a zone name (Zooniverse writes ' UTC')
_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?|(?![AaPp][Mm]$)[A-Za-z]{2,5})$"


class _Unhashable:
    """Stands in for a cell no rule accepts (a list, a dict): hashable, so the column can still be factorized."""

    __slots__ = ("text",)

    def __init__(self, value: object) -> None:
        self.text = repr(value)

    def __repr__(self) -> str:
        return self.text


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def distinct_values(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes (-1: missing) and distinct values of a column, so that rules run once per distinct value.

    A categorical column gives its own codes and categories (unused categories included).

    Examples
    --------
    >>> codes, uniques = distinct_values(pd.Series(["b", "a", None, "b"]))
    >>> codes.tolist(), uniques.tolist()
    ([0, 1, -1, 0], ['b', 'a'])
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.intp), pd.Series(values.cat.categories.array)
    text = _arrow_text(values)
    if text is not None:  # Arrow's own hash pass, or the codes of a dictionary column
        codes, dictionary = _arrow_codes(text)
        return codes.astype(np.intp), pd.Series(_arrow_values(dictionary, values.dtype))
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # an unhashable cell; finding it takes one pass in Python, on this error path only
        cells = values.to_numpy(dtype=object, copy=True)
        bad = np.fromiter((not _hashable(x) for x in cells), dtype=bool, count=len(cells))
        cells[bad] = [_Unhashable(x) for x in cells[bad]]
        codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), pd.Series(uniques)


def take_rows(per_value: np.ndarray, codes: np.ndarray, missing: object) -> np.ndarray:
    """Spread a per-distinct-value array back to rows; code -1 (a missing cell) takes ``missing``."""
    extended = np.empty(len(per_value) + 1, dtype=per_value.dtype)
    extended[:-1] = per_value
    extended[-1] = missing
    return extended[codes]


def _arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow storage of a text column held by Arrow (pandas' ``str`` dtype, ``string[pyarrow]``, an
    ``ArrowDtype`` string or dictionary-of-string column), or None for any other column.

    Examples
    --------
    >>> _arrow_text(pd.Series(["a", "b"], dtype="string[pyarrow]")).type
    DataType(large_string)
    >>> _arrow_text(pd.Series([1, 2])) is None
    True
    """
    if not isinstance(values.array, pd.arrays.ArrowExtensionArray):
        return None
    import pyarrow as pa

    chunked = values.array.__arrow_array__()
    kind = chunked.type.value_type if pa.types.is_dictionary(chunked.type) else chunked.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return chunked
    return None


def _arrow_codes(text: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """int32 codes (-1: missing) and distinct values (first seen first) of an Arrow text column.

    A dictionary column gives its own codes, its dictionary first made distinct (unused values may remain);
    any other is encoded by one Arrow hash pass.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, distinct = _arrow_codes(pa.chunked_array([["b", "a"], [None, "b"]]))
    >>> codes.tolist(), distinct.to_pylist()
    ([0, 1, -1, 0], ['b', 'a'])
    """
    import pyarrow as pa

    if pa.types.is_dictionary(text.type):
        chunks = text.unify_dictionaries().chunks
        if not chunks:
            return np.zeros(0, dtype=np.int32), pa.array([], type=text.type.value_type)
        # an Arrow dictionary may repeat a value: its distinct values are renumbered, as a hash pass would
        dictionary = chunks[0].dictionary.dictionary_encode()
        renumber = dictionary.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        indices = pa.chunked_array([chunk.indices for chunk in chunks], type=chunks[0].indices.type)
        codes = take_rows(renumber, _arrow_int32(indices), -1)
        return codes, dictionary.dictionary
    # one hash pass over the chunks as they are: Arrow encodes them against one table of distinct values, and
    # every chunk gets the whole of it (checked: else its chunks are unified, by their dictionaries)
    chunks = text.dictionary_encode().chunks
    if not chunks:
        return np.zeros(0, dtype=np.int32), pa.array([], type=text.type)
    dictionary = chunks[-1].dictionary
    if not all(chunk.dictionary.equals(dictionary) for chunk in chunks[:-1]):
        return _arrow_codes(pa.chunked_array(chunks))
    return _arrow_int32(pa.chunked_array([chunk.indices for chunk in chunks])), dictionary


def _arrow_int32(indices: pa.ChunkedArray) -> np.ndarray:
    """Arrow integer codes as one int32 numpy array, -1 where missing."""
    import pyarrow.compute as pc

    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    parts = [chunk.to_numpy(zero_copy_only=False) for chunk in indices.chunks]
    return np.concatenate(parts).astype(np.int32, copy=False) if parts else np.zeros(0, dtype=np.int32)


def _arrow_values(values: pa.Array, dtype: Any) -> pd.api.extensions.ExtensionArray:
    """An Arrow array as a pandas array of ``dtype`` (the text dtype of the column it came from).

    A dictionary dtype gives its value type (``ArrowDtype`` of the dictionary's values)."""
    import pyarrow as pa

    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype):
        dtype = pd.ArrowDtype(dtype.pyarrow_dtype.value_type)
    return dtype.__from_arrow__(values)


def text_cells(uniques: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Which distinct values are text, and that text stripped of surrounding blanks (NaN for the others)."""
    if pd.api.types.is_string_dtype(uniques.dtype) and not uniques.dtype == object:
        return np.ones(len(uniques), dtype=bool), uniques.astype("str").str.strip()
    if uniques.dtype != object:
        return np.zeros(len(uniques), dtype=bool), pd.Series(np.nan, index=uniques.index, dtype="str")
    is_text = np.fromiter((isinstance(x, str) for x in uniques), dtype=bool, count=len(uniques))  # distinct only
    return is_text, uniques.where(is_text).astype("str").str.strip()


def _sorted_codes(codes: np.ndarray, uniques: pd.Series, all_used: bool) -> tuple[np.ndarray, pd.Series]:
    """int32 codes of the values used, renumbered so that the distinct values come sorted."""
    if not all_used:  # a categorical's unused categories are no ids
        used = np.bincount(codes, minlength=len(uniques)) > 0
        if not used.all():
            kept = np.flatnonzero(used)
            renumber = np.full(len(uniques), -1, dtype=np.intp)
            renumber[kept] = np.arange(kept.size)
            codes, uniques = renumber[codes], uniques.iloc[kept].reset_index(drop=True)
    order = np.argsort(uniques.to_numpy(), kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[codes], uniques.iloc[order].reset_index(drop=True)


def encode_ids(values: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    """int32 codes of an id column and its sorted distinct ids; nulls, mixed kinds and other values refused.

    Categorical ids (a Parquet dictionary column) are decoded: their categories are the ids. Integer ids in a
    dense range are coded through a lookup table, Arrow text ids (pandas' ``str`` dtype) by Arrow's hash pass
    (or, for a dictionary column, its own codes); other ids by :func:`pandas.factorize`.

    Examples
    --------
    >>> codes, ids = encode_ids(pd.Series(["b7", "a2", "b7"]), "building_id")
    >>> codes.tolist(), ids.tolist()
    ([1, 0, 1], ['a2', 'b7'])
    """
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":  # no nulls, no other kinds
        return _integer_ids(values.to_numpy(), name)
    text = _arrow_text(values)
    if text is not None:
        if text.null_count:
            _refuse_null_ids(values, values.isna().to_numpy(), name)
        codes, distinct = _arrow_codes(text)
        return _sorted_ids(codes, distinct, values.dtype, name, all_used=not _is_dictionary(text))
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    null = (values.cat.codes < 0 if categorical else values.isna()).to_numpy()
    if null.any():
        _refuse_null_ids(values, null, name)
    kind = pd.api.types.infer_dtype(values.cat.categories if categorical else values, skipna=False)
    if kind not in ("integer", "string", "empty"):
        if kind == "mixed-integer":
            # the rows of each type are found in Python, once, on this error path only
            is_str = np.fromiter((isinstance(x, str) for x in values), dtype=bool, count=len(values))
            minority = is_str if is_str.sum() <= (~is_str).sum() else ~is_str
            raise LabelsError(
                f"{name} mixes integers and strings (e.g. 12 and '12'): {rows_text(values.index, minority)} differ "
                "in type from the rest; convert the column to one type, "
                f"for example labels[{name!r}] = labels[{name!r}].astype(str)."
            )
        seen = sorted({type(x).__name__ for x in values.head(1000)})
        raise LabelsError(
            f"{name} must hold integers or strings, got values of kind {kind!r} ({', '.join(seen)}); convert the "
            f"column, for example labels[{name!r}] = labels[{name!r}].astype(str)."
        )
    raw = values.to_numpy() if pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans else None
    if raw is not None and raw.dtype.kind in "iu":
        return _integer_ids(raw, name)
    codes, uniques = distinct_values(values)
    codes, uniques = _sorted_codes(codes, uniques, all_used=not categorical)
    return codes, pd.Index(uniques.array, name=name)


def _refuse_null_ids(values: pd.Series, null: np.ndarray, name: str) -> None:
    raise LabelsError(
        f"{name} is missing (empty, None or NaN) in {rows_text(values.index, null)}; every answer needs a "
        f"{name}: fill in these rows or drop them. (pandas.read_csv reads the texts NA, None and null as "
        "missing too; stracker.read_labels reads them as written and names them.)"
    )


def _is_dictionary(text: pa.ChunkedArray) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_dictionary(text.type))


def _integer_ids(raw: np.ndarray, name: str) -> tuple[np.ndarray, pd.Index]:
    """Codes and sorted ids of integer ids (a numpy array without nulls)."""
    low, high = (int(raw.min()), int(raw.max())) if raw.size else (0, -1)
    span = high - low + 1
    if span > min(4 * raw.size + 1024, 2**31 - 1):  # sparse ids: hashing beats a lookup table
        codes, uniques = pd.factorize(raw)
        codes, sorted_ids = _sorted_codes(np.asarray(codes, dtype=np.intp), pd.Series(uniques), all_used=True)
        return codes, pd.Index(sorted_ids.array, name=name)
    # the offsets from the lowest id, computed in 64 bits and written as int32 in the same pass
    wide = np.int64 if raw.dtype.kind == "i" else np.uint64
    shifted = np.subtract(raw, low, out=np.empty(raw.size, dtype=np.int32), dtype=wide, casting="unsafe")
    present = np.zeros(span, dtype=bool)
    present[shifted] = True
    if present.all():  # every id in the range occurs: the offsets are the codes
        return shifted, pd.Index(_offset_ids(np.arange(span), low, raw.dtype), name=name)
    rank = np.cumsum(present, dtype=np.int32)
    rank -= 1
    return rank[shifted], pd.Index(_offset_ids(np.flatnonzero(present), low, raw.dtype), name=name)


def _offset_ids(offsets: np.ndarray, low: int, dtype: np.dtype) -> np.ndarray:
    """The ids ``low + offsets`` in the ids' own integer type."""
    wide = np.int64 if dtype.kind == "i" else np.uint64
    return np.add(offsets.astype(wide), low, dtype=wide).astype(dtype)


def _sorted_ids(
    codes: np.ndarray, distinct: pa.Array, dtype: Any, name: str, all_used: bool
) -> tuple[np.ndarray, pd.Index]:
    """int32 codes renumbered so that the distinct Arrow texts come sorted (as Python sorts str), and the ids."""
    if not all_used:  # a dictionary's unused values are no ids
        used = np.bincount(codes, minlength=len(distinct)) > 0
        if not used.all():
            kept = np.flatnonzero(used)
            renumber = np.full(len(distinct), -1, dtype=np.int32)
            renumber[kept] = np.arange(kept.size, dtype=np.int32)
            codes, distinct = renumber[codes], distinct.take(kept)
    order = np.argsort(distinct.to_numpy(zero_copy_only=False), kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[codes], pd.Index(_arrow_values(distinct.take(order), dtype), name=name)


def parse_image_dates(values: pd.Series, name: str, required: bool) -> pd.Series:
    """Parse a column of image dates (naive, ISO), naming the rows that are not dates.

    A date is an ISO date (``2017-06-16``), optionally with a time of day (``2017-06-16T10:30``), or a naive
    datetime value; blanks and the texts of :data:`MISSING_TEXT` are missing (NaT). Each distinct value is
    parsed once.

    Examples
    --------
    >>> parse_image_dates(pd.Series(["2017-06-16", "", "2017-06-16T10:30"]), "after", False).tolist()
    [Timestamp('2017-06-16 00:00:00'), NaT, Timestamp('2017-06-16 10:30:00')]
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        raise LabelsError(
            f"{name!r} is timezone-aware ({values.dtype}); image dates are naive UTC dates. Convert with "
            f"labels[{name!r}] = labels[{name!r}].dt.tz_convert('UTC').dt.tz_localize(None)."
        )
    if pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = _nanoseconds(values, values, name)
    else:
        codes, uniques = distinct_values(values)
        parsed_u = _parse_distinct_dates(uniques, codes, values, name)
        parsed = pd.Series(
            take_rows(parsed_u, codes, np.datetime64("NaT", "ns")), index=values.index, name=values.name, copy=False
        )
    if required:
        missing = parsed.isna().to_numpy()
        if missing.any():
            raise LabelsError(
                f"{name!r} is missing in {rows_text(values.index, missing)}; every answer needs the later image "
                "date (the one claimed destroyed, or the last one seen)."
            )
    return parsed


def _parse_distinct_dates(uniques: pd.Series, codes: np.ndarray, values: pd.Series, name: str) -> np.ndarray:
    """datetime64[ns] of each distinct value (NaT: missing), or an error naming the rows of the bad ones."""

    def refuse(bad_u: np.ndarray, why: str, fix: str) -> None:
        bad = take_rows(bad_u, codes, False)
        examples = [repr(x) if not isinstance(x, str) else x for x in values[bad].head(3).tolist()]
        raise LabelsError(f"{name!r} {why} in {rows_text(values.index, bad)}, e.g. {examples}; {fix}")

    if isinstance(uniques.dtype, pd.DatetimeTZDtype):
        refuse(
            np.ones(len(uniques), dtype=bool),
            "holds timezone-aware dates",
            "give naive dates (UTC) such as '2017-06-01'.",
        )
    if pd.api.types.is_datetime64_dtype(uniques.dtype):
        return _nanoseconds(uniques, uniques, name).to_numpy(dtype="datetime64[ns]")
    out = np.full(len(uniques), np.datetime64("NaT", "ns"))
    is_text, text = text_cells(uniques)
    missing = is_text & text.isin(MISSING_TEXT).to_numpy()
    to_parse = is_text & ~missing
    day_month = to_parse & text.str.contains(_DAY_MONTH, regex=True).fillna(False).to_numpy(dtype=bool)
    if day_month.any():
        refuse(
            day_month,
            "holds dates with day and month in an unknown order",
            "write ISO dates such as '2017-06-16' (year-month-day).",
        )
    aware = to_parse & text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
    others = ~is_text
    if others.any():  # datetime objects among other things: sorted out once per distinct value
        moments = (
            np.fromiter(
                (isinstance(x, (datetime.date, np.datetime64)) for x in uniques), dtype=bool, count=len(uniques)
            )
            & others
        )
        zoned = (
            np.fromiter((getattr(x, "tzinfo", None) is not None for x in uniques), dtype=bool, count=len(uniques))
            & moments
        )
        aware |= zoned
        naive = moments & ~zoned
        if naive.any():
            out[naive] = _nanoseconds(pd.Series(pd.to_datetime(list(uniques[naive]))), uniques[naive], name)
    if aware.any():
        refuse(aware, "holds timezone-aware dates", "give naive dates (UTC) such as '2017-06-01'.")
    parse = to_parse & ~aware
    if parse.any():
        read = pd.to_datetime(text[parse], format="ISO8601", errors="coerce")
        out[parse] = _nanoseconds(read, uniques[parse], name).to_numpy(dtype="datetime64[ns]")
    unparsable = ~missing & np.isnat(out)
    if unparsable.any():
        refuse(unparsable, "could not be read as dates", "write them as ISO dates such as '2017-06-01'.")
    return out


def _nanoseconds(parsed: pd.Series, values: pd.Series, name: str) -> pd.Series:
    """``parsed`` as datetime64[ns]; dates outside its range (years 1677 to 2262) are named, not an overflow."""
    try:
        return parsed.astype("datetime64[ns]")
    except pd.errors.OutOfBoundsDatetime:
        outside = ((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)).to_numpy(dtype=bool)
        examples = values[outside].head(3).tolist()
        raise LabelsError(
            f"{name!r} could not be read as dates in {rows_text(values.index, outside)}, e.g. {examples} (they read "
            "as dates outside the years 1677 to 2262); write them as ISO dates such as '2017-06-01'."
        ) from None


_ANSWERS = {True: YES, False: NO, "true": YES, "false": NO, "yes": YES, "no": NO, "1": YES, "0": NO}


def _answer_of(value: object) -> int:
    """1 / 0 for a yes or no written any accepted way; 2 for anything else (True == 1 as a key: 0/1 map too)."""
    if isinstance(value, str):
        value = value.strip().lower()
    elif isinstance(value, _Unhashable):
        return 2
    return _ANSWERS.get(value, 2)


def encode_answers(values: pd.Series) -> np.ndarray:
    """Map the nullable boolean ``destroyed`` to 1 / 0 / -1 (can't tell).

    Accepted: booleans, 1/0, and the texts true/false, yes/no, 1/0 in any case; missing values are can't tell.
    Each distinct value is looked at once.

    Examples
    --------
    >>> encode_answers(pd.Series(["Yes", "no", None, "yes"])).tolist()
    [1, 0, -1, 1]
    """
    if pd.api.types.is_bool_dtype(values.dtype):  # YES 1, NO 0, missing CANT_TELL
        if isinstance(values.dtype, np.dtype):
            return values.to_numpy().astype(np.int8)
        if isinstance(values.dtype, pd.BooleanDtype):
            return values.to_numpy(dtype=np.int8, na_value=CANT_TELL)
        out = values.to_numpy(dtype=bool, na_value=False).astype(np.int8)
        if values.hasnans:
            out[values.isna().to_numpy()] = CANT_TELL
        return out
    codes, uniques = distinct_values(values)
    # a Python call per distinct value (a handful), never per row
    answer_u = np.fromiter((_answer_of(x) for x in uniques), dtype=np.int8, count=len(uniques))
    bad = take_rows(answer_u == 2, codes, False)
    if bad.any():
        examples = values[bad].head(3).tolist()
        raise LabelsError(
            f"'destroyed' must be True, False or NA (can't tell) but is {examples} in {rows_text(values.index, bad)}."
        )
    return take_rows(answer_u, codes, CANT_TELL)


def encode_task(labels: pd.DataFrame, task: str | None) -> np.ndarray:
    """int8 task codes (positions in :data:`TASKS`) from the ``task`` column or the ``task=`` keyword."""
    if "task" in labels.columns:
        if task is not None:
            raise LabelsError("the label table has a 'task' column and task= was given too; drop one of them.")
        values = labels["task"]
        text = _arrow_text(values)
        if text is not None and not _is_dictionary(text):
            # the usual column, one task written exactly 'timeline' or 'compare': one comparison of bytes
            for code, name in enumerate(TASKS):
                if _all_equal(text, name):
                    return np.full(len(values), code, dtype=np.int8)
        if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
            # both tasks, written exactly 'timeline' or 'compare': two vectorized comparisons suffice
            compare = (values == "compare").to_numpy(dtype=bool, na_value=False)
            if compare.all() or (compare | (values == "timeline").to_numpy(dtype=bool, na_value=False)).all():
                return compare.astype(np.int8)  # TIMELINE 0, COMPARE 1
        codes, uniques = distinct_values(values)
        is_text, text = text_cells(uniques)
        lowered = text.str.lower()
        code_u = np.full(len(uniques), -1, dtype=np.int8)
        for code, name in enumerate(TASKS):
            code_u[(is_text & (lowered == name).fillna(False).to_numpy(dtype=bool))] = code
        task_codes = take_rows(code_u, codes, -1)
        bad = task_codes < 0
        if bad.any():
            examples = sorted({str(x) for x in values[bad].head(5)})
            raise LabelsError(
                f"unknown task kind(s) {examples} in {rows_text(labels.index, bad)}; use 'timeline' or 'compare'."
            )
        return task_codes
    if task is None:
        raise LabelsError(
            "the label table has no 'task' column; add one or pass task='timeline' (volunteers chose the "
            "images) or task='compare' (the task gave the images)."
        )
    if task not in TASKS:
        raise LabelsError(f"task={task!r} is not a task kind; use 'timeline' or 'compare'.")
    return np.full(len(labels), TASKS.index(task), dtype=np.int8)


def _all_equal(text: pa.ChunkedArray, value: str) -> bool:
    """Whether every cell of an Arrow text column is exactly ``value``: in each chunk, every length (a step of
    the offsets) is the value's, and the bytes are the value repeated (one comparison of memory)."""
    import pyarrow as pa

    pattern = value.encode()
    if text.null_count or len(text) == 0:
        return False
    width = np.dtype(np.int64 if pa.types.is_large_string(text.type) else np.int32)
    for chunk in text.chunks:
        n = len(chunk)
        if n == 0:
            continue
        _, offsets_buffer, data = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=width, count=n + 1, offset=chunk.offset * width.itemsize)
        if not (np.diff(offsets) == len(pattern)).all():
            return False
        first = int(offsets[0])
        if not data.slice(first, len(pattern) * n).equals(pa.py_buffer(pattern * n)):
            return False
    return True


def image_catalogue(image_dates: object, before: pd.Series, after: pd.Series) -> pd.DatetimeIndex:
    """The image catalogue: ``image_dates`` checked, or (None) the distinct dates of ``before`` and ``after``."""
    if image_dates is None:
        seen = np.concatenate(
            [pd.unique(before.to_numpy(dtype="datetime64[ns]")), pd.unique(after.to_numpy(dtype="datetime64[ns]"))]
        )
        seen = np.unique(seen[~np.isnat(seen)])
        return pd.DatetimeIndex(seen, name="image_date")
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(image_dates).ravel()))).astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise LabelsError(f"image_dates could not be read as dates: {exc}") from exc
    if dates.tz is not None:
        raise LabelsError("image_dates are timezone-aware; give naive UTC dates.")
    if dates.hasnans:
        raise LabelsError("image_dates holds a missing date; list only real acquisition dates.")
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise LabelsError("image_dates must be strictly increasing, without duplicates; sort and deduplicate.")
    if len(dates) == 0:
        raise LabelsError("image_dates is empty; the catalogue needs at least one image date.")
    return pd.DatetimeIndex(dates, name="image_date")


def image_index_dtype(n_images: int) -> type[np.signedinteger]:
    """int16 for image indices while the catalogue fits (up to 32,767 images), int32 beyond."""
    return np.int16 if n_images <= np.iinfo(np.int16).max else np.int32


def image_date_labels(image_dates: pd.DatetimeIndex) -> list[str]:
    """Text labels of image dates, distinct for distinct images: ISO dates, or timestamps when any has a time.

    Examples
    --------
    >>> image_date_labels(pd.DatetimeIndex(["2017-06-16", "2017-06-20"]))
    ['2017-06-16', '2017-06-20']
    >>> image_date_labels(pd.DatetimeIndex(["2017-06-16 07:30", "2017-06-16 10:05"]))
    ['2017-06-16T07:30:00', '2017-06-16T10:05:00']
    """
    dates = pd.DatetimeIndex(image_dates)
    if (dates == dates.normalize()).all():
        return [str(x) for x in dates.strftime("%Y-%m-%d")]
    if (dates == dates.floor("s")).all():
        return [str(x) for x in dates.strftime("%Y-%m-%dT%H:%M:%S")]
    return [x.isoformat() for x in dates]


def _distinct_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1: NaT) and distinct values of a parsed date column."""
    codes, uniques = pd.factorize(values.to_numpy(dtype="datetime64[ns]"), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype="datetime64[ns]")


def _image_index(
    codes: np.ndarray,
    raw: np.ndarray,
    dates: pd.DatetimeIndex,
    index: pd.Index,
    name: str,
    catalogue_source: str | None,
) -> np.ndarray:
    """Position of each date (given as codes of distinct dates ``raw``) in the catalogue; -1 for NaT.

    Dates outside the catalogue are an error naming the rows, and the catalogue's file when known."""
    cat = dates.to_numpy(dtype="datetime64[ns]")
    pos = np.searchsorted(cat, raw)
    found = np.zeros(len(raw), dtype=bool)
    inside = pos < len(cat)
    found[inside] = cat[pos[inside]] == raw[inside]
    if not found.all():
        bad = take_rows(~found, codes, False)
        first = np.sort(raw[~found])[:5]
        examples = image_date_labels(pd.DatetimeIndex(first))
        where = f" (read from {catalogue_source})" if catalogue_source else ""
        same_day = np.isin(first.astype("datetime64[D]"), cat.astype("datetime64[D]"))
        hint = ""
        if same_day.any():
            day = first[same_day][0].astype("datetime64[D]")
            on_day = image_date_labels(pd.DatetimeIndex(cat[cat.astype("datetime64[D]") == day]))
            hint = (
                f" The catalogue has {on_day} on {day!s}: an image date is a timestamp, so the answers and "
                "the catalogue must give the same time of day (or both none)."
            )
        raise LabelsError(
            f"{name!r} holds dates not in the image catalogue{where} in {rows_text(index, bad)}, e.g. "
            f"{examples}; every date must be an acquisition date. Pass image_dates= (--images) with the full "
            f"catalogue or fix the rows.{hint}"
        )
    return take_rows(pos.astype(image_index_dtype(len(cat))), codes, -1)


def duplicate_mask(
    building: np.ndarray,
    volunteer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    answer: np.ndarray,
    task: np.ndarray,
    n_volunteers: int,
    n_images: int,
) -> np.ndarray:
    """Mask of the answers that repeat another exactly (same building, volunteer, images, answer and task).

    The six codes are packed into one int64 key; one sort of the keys finds the repeated ones (no hashing of
    rows). Where the packed key would not fit 63 bits, building and volunteer are first renumbered densely.

    Examples
    --------
    >>> z = np.zeros(3, dtype=np.int32)
    >>> duplicate_mask(np.array([0, 1, 0]), z, z - 1, z + 2, z + 1, z, 1, 3).tolist()
    [True, False, True]
    """
    V, D = max(n_volunteers, 1), max(n_images, 1)
    small = 6 * (D + 1) * D  # (lo + 1, hi, answer + 1, task)
    # the small fields packed in int32 when they fit (half the memory traffic of int64), then one int64 key
    rest: np.ndarray[Any, np.dtype[np.integer[Any]]] = lo.astype(np.int32 if small < 2**31 else np.int64)
    rest += 1
    rest *= D
    rest += hi
    rest *= 3
    rest += answer
    rest += 1
    rest *= 2
    rest += task
    n_buildings = int(building.max()) + 1 if building.size else 1
    if n_buildings * V * small < 2**62:
        pairs = n_buildings * V
        if pairs < 2**31:  # building and volunteer in int32 first
            pair = building.astype(np.int32)
            pair *= V
            pair += volunteer
            key = pair.astype(np.int64)
        else:
            key = building.astype(np.int64)
            key *= V
            key += volunteer
    else:  # renumber the (building, volunteer) pairs that occur: fewer than 2**31 (one per answer at most)
        _, pair_code = np.unique(building.astype(np.int64) * V + volunteer, return_inverse=True)
        key = pair_code.astype(np.int64)
        pairs = int(key.max()) + 1
        if pairs * small >= 2**62:  # a catalogue of millions of images: renumber the rest too
            _, rest = np.unique(rest, return_inverse=True)
            small = int(rest.max()) + 1
    key *= small
    key += rest
    row_bits = max(key.size - 1, 1).bit_length()
    if (pairs * small) << row_bits <= 2**63:
        return _repeated_keys_with_rows(key, row_bits)
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size == 0:
        return np.zeros(key.size, dtype=bool)
    repeated = np.unique(repeated)
    # a table over the low 20 bits of the keys sifts the rows first; only those that pass are looked up exactly
    sieve = np.zeros(1 << 20, dtype=bool)
    sieve[repeated & 0xFFFFF] = True
    candidates = np.flatnonzero(sieve[key & 0xFFFFF])
    where = np.minimum(np.searchsorted(repeated, key[candidates]), repeated.size - 1)
    out = np.zeros(key.size, dtype=bool)
    out[candidates] = repeated[where] == key[candidates]
    return out


def _repeated_keys_with_rows(key: np.ndarray, row_bits: int) -> np.ndarray:
    """Which keys occur more than once, the row number packed below each key (it must fit): one sort of the
    packed keys finds the repeated keys and their rows together. ``key`` is overwritten."""
    key <<= row_bits
    key |= np.arange(key.size, dtype=np.int64)
    key.sort()
    row_mask = (1 << row_bits) - 1
    key_only = key >> row_bits
    same = key_only[1:] == key_only[:-1]
    out = np.zeros(key.size, dtype=bool)
    if not same.any():
        return out
    repeated = np.zeros(key.size, dtype=bool)  # in sorted order: a key equal to its neighbour on either side
    repeated[1:] = same
    repeated[:-1] |= same
    out[key[repeated] & row_mask] = True
    return out


def encode_labels(
    labels: pd.DataFrame,
    image_dates: object = None,
    *,
    task: Literal["timeline", "compare"] | None = None,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    threads: int | None = None,
) -> EncodedLabels:
    """Validate a label table against the contract and encode it as arrays.

    Parameters
    ----------
    labels : pandas.DataFrame
        One row per answer with the contract's columns; other columns are ignored.
    image_dates : array-like of dates, optional
        The image catalogue. Default: the sorted distinct dates found in ``before`` and ``after``.
    task : {"timeline", "compare"}, optional
        Task kind of every row, for a table without a ``task`` column.
    on_duplicate : {"warn", "error", "ignore"}
        What to do with exact duplicate answers (same building, volunteer, dates, answer and task). They are
        always used as given, never merged; "warn" names them in a :class:`DuplicateAnswersWarning`.
    threads : int, optional
        Threads to encode on (:func:`stracker.parallel.resolve_threads`: default ``$STRACKER_THREADS``, else every
        CPU): a table of :data:`SIDE_BY_SIDE_ROWS` rows or more has its ids encoded beside its dates, answers
        and tasks. The codes and the errors are the same on any number.

    Returns
    -------
    EncodedLabels

    Raises
    ------
    LabelsError
        On a missing column, a null id, ids mixing integers and strings, unparsable or timezone-aware dates,
        dates not in the catalogue, ``before`` not earlier than ``after``, an unknown task kind, an answer that
        is not a boolean, an empty table, or (with ``on_duplicate="error"``) exact duplicates.
    """
    if not isinstance(labels, pd.DataFrame):
        raise LabelsError(f"labels must be a pandas DataFrame, got {type(labels).__name__}.")
    if on_duplicate not in ON_DUPLICATE:
        raise LabelsError(f"on_duplicate must be 'warn', 'error' or 'ignore', got {on_duplicate!r}.")
    source = labels.attrs.get("source")
    try:
        return _encode(labels, image_dates, task, on_duplicate, threads)
    except LabelsError as exc:  # name the file the table was read from (stracker.read_labels records it)
        if source and type(exc) is LabelsError and not str(exc).startswith(str(source)):
            raise LabelsError(f"{source}: {exc}") from exc
        raise


def _encode(
    labels: pd.DataFrame, image_dates: object, task: str | None, on_duplicate: str, threads: int | None
) -> EncodedLabels:
    check_label_columns(labels)
    if len(labels) == 0:
        raise LabelsError("the label table is empty; there is nothing to aggregate.")
    n_threads = resolve_threads(threads)  # checked on any table, used on large ones

    def ids() -> tuple[tuple[np.ndarray, pd.Index], tuple[np.ndarray, pd.Index]]:
        return encode_ids(labels["building_id"], "building_id"), encode_ids(labels["volunteer_id"], "volunteer_id")

    def dates_answers_tasks() -> tuple[
        tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray
    ]:
        before = parse_image_dates(labels["before"], "before", required=False)
        after = parse_image_dates(labels["after"], "after", required=True)
        return (
            _distinct_dates(before),
            _distinct_dates(after),
            encode_task(labels, task),
            encode_answers(labels["destroyed"]),
        )

    # two halves of about equal work whose checks, in order, are the checks in the order they ran one by one:
    # building ids, volunteer ids, before, after, task, answer (side_by_side raises the first half's error first)
    id_codes, rest = side_by_side([ids, dates_answers_tasks], n_threads if len(labels) >= SIDE_BY_SIDE_ROWS else 1)
    (building, building_ids), (volunteer, volunteer_ids) = id_codes
    (before_codes, before_u), (after_codes, after_u), task_codes, answer = rest
    dates = image_catalogue(image_dates, pd.Series(before_u), pd.Series(after_u))
    catalogue_source = getattr(image_dates, "attrs", {}).get("source")
    lo = _image_index(before_codes, before_u, dates, labels.index, "before", catalogue_source)
    hi = _image_index(after_codes, after_u, dates, labels.index, "after", catalogue_source)
    not_earlier = lo >= hi
    if not_earlier.any():
        raise LabelsError(
            f"'before' is not earlier than 'after' in {rows_text(labels.index, not_earlier)}; an answer is a claim "
            "about the interval (before, after], so before must be an earlier image date or NaT."
        )
    encoded = EncodedLabels(
        building_ids=building_ids,
        volunteer_ids=volunteer_ids,
        image_dates=dates,
        building=building,
        volunteer=volunteer,
        lo=lo,
        hi=hi,
        answer=answer,
        task=task_codes,
        row_index=labels.index,
    )
    if on_duplicate != "ignore":
        duplicated = duplicate_answers(encoded)
        if duplicated.any():
            report_duplicates(rows_text(labels.index, duplicated), on_duplicate, stacklevel=4)
    return encoded


def duplicate_answers(enc: EncodedLabels) -> np.ndarray:
    """Which answers (a boolean per answer) repeat another exactly: the same building, volunteer, images, answer
    and task.

    Examples
    --------
    >>> labels = pd.DataFrame({"building_id": [1, 1, 1], "volunteer_id": [7, 7, 8], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-01"] * 3), "destroyed": True, "task": "compare"})
    >>> duplicate_answers(encode_labels(labels, on_duplicate="ignore")).tolist()
    [True, True, False]
    """
    return duplicate_mask(
        enc.building, enc.volunteer, enc.lo, enc.hi, enc.answer, enc.task, enc.n_volunteers, enc.n_images
    )


def report_duplicates(where: str, on_duplicate: str, stacklevel: int = 1) -> None:
    """Warn about exact duplicate answers (``on_duplicate="warn"``) or refuse them (``"error"``).

    ``where`` names them, e.g. ``"3 row(s) [4, 9, 12]"``; they are used as given either way (each counts).
    ``stacklevel`` counts from the caller, as for :func:`warnings.warn`.
    """
    message = (
        f"exact duplicate answers in {where}: the same volunteer gave the same answer about the same building and "
        "images more than once. They are used as given (each counts); deduplicate with labels.drop_duplicates() "
        "if they are export artefacts."
    )
    if on_duplicate == "error":
        raise LabelsError(message)
    if on_duplicate == "warn":
        warnings.warn(message, DuplicateAnswersWarning, stacklevel=stacklevel + 1)


def destruction_state(destroyed_on: object, image_dates: pd.DatetimeIndex) -> np.ndarray:
    """State index (0..D) of destruction dates against an image catalogue.

    State 0: destroyed by d_0; state k: destroyed in (d_{k-1}, d_k]; state D: not destroyed by d_{D-1}
    (NaT, or a date after the last image).

    Examples
    --------
    >>> dates = pd.DatetimeIndex(["2017-06-01", "2017-06-10"])
    >>> destruction_state(pd.to_datetime(["2017-05-01", "2017-06-01", "2017-06-05", None]), dates).tolist()
    [0, 0, 1, 2]
    """
    values = pd.to_datetime(pd.Series(np.asarray(destroyed_on))).to_numpy(dtype="datetime64[ns]")
    catalogue = image_dates.to_numpy(dtype="datetime64[ns]")
    states = np.searchsorted(catalogue, values, side="left")
    states[np.isnat(values)] = len(catalogue)
    return states
