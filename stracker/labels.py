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

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from stracker.errors import DuplicateAnswersWarning, LabelsError

__all__ = [
    "LABEL_COLUMNS",
    "ON_DUPLICATE",
    "TASKS",
    "EncodedLabels",
    "check_label_columns",
    "closest_hint",
    "destruction_state",
    "duplicate_answers",
    "encode_answers",
    "encode_ids",
    "encode_labels",
    "encode_task",
    "image_catalogue",
    "parse_image_dates",
    "report_duplicates",
    "rows_text",
]

LABEL_COLUMNS = ("building_id", "volunteer_id", "before", "after", "destroyed", "task")
"""Columns of the label contract, in order."""

TASKS = ("timeline", "compare")
"""Task kinds; their position is the task code in :class:`EncodedLabels`."""

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
    lo : ndarray of int16
        Index of ``before`` in the catalogue, -1 for NaT (before the first image).
    hi : ndarray of int16
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


def encode_ids(values: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    """int32 codes of an id column and its sorted unique ids; null ids and ids mixing integers and strings are
    a :class:`LabelsError` naming the rows."""
    null = values.isna().to_numpy()
    if null.any():
        raise LabelsError(f"{name} is null in {rows_text(values.index, null)}; every answer needs a {name}.")
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind not in ("integer", "string", "empty"):
        if kind == "mixed-integer":
            is_str = values.map(lambda x: isinstance(x, str)).to_numpy(dtype=bool)
            minority = is_str if is_str.sum() <= (~is_str).sum() else ~is_str
            raise LabelsError(
                f"{name} mixes integers and strings (e.g. 12 and '12'): {rows_text(values.index, minority)} differ "
                "in type from the rest; convert the column to one type, "
                f"for example labels[{name!r}] = labels[{name!r}].astype(str)."
            )
        raise LabelsError(f"{name} must hold integers or strings, got values of kind {kind!r}.")
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int32), pd.Index(uniques, name=name)


def parse_image_dates(values: pd.Series, name: str, required: bool) -> pd.Series:
    """Parse a column of image dates (naive, ISO), naming the rows that are not dates."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        raise LabelsError(
            f"{name!r} is timezone-aware ({values.dtype}); image dates are naive UTC dates. Convert with "
            f"labels[{name!r}] = labels[{name!r}].dt.tz_convert('UTC').dt.tz_localize(None)."
        )
    if pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = _nanoseconds(values, values, name)
    else:
        try:
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # a mix of aware and naive strings
            parsed = None
        if parsed is None or isinstance(parsed.dtype, pd.DatetimeTZDtype):
            aware = values.map(lambda x: isinstance(x, str) and _has_offset(x)).to_numpy(dtype=bool)
            raise LabelsError(
                f"{name!r} holds timezone-aware dates in {rows_text(values.index, aware)}; give naive dates (UTC) "
                "such as '2017-06-01'."
            )
        parsed = _nanoseconds(parsed, values, name)
        unparsable = (parsed.isna() & values.notna()).to_numpy()
        if unparsable.any():
            examples = values[unparsable].head(3).tolist()
            raise LabelsError(
                f"{name!r} could not be read as dates in {rows_text(values.index, unparsable)}, e.g. {examples}; "
                "write them as ISO dates such as '2017-06-01'."
            )
    if required:
        missing = parsed.isna().to_numpy()
        if missing.any():
            raise LabelsError(
                f"{name!r} is missing in {rows_text(values.index, missing)}; every answer needs the later image "
                "date (the one claimed destroyed, or the last one seen)."
            )
    return parsed


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


def _has_offset(text: str) -> bool:
    """Whether an ISO date string carries a time zone (Z or +hh:mm / -hh:mm after the time)."""
    text = text.strip()
    if "T" not in text and " " not in text:
        return False
    clock = text.split("T")[-1] if "T" in text else text.split(" ")[-1]
    return clock.endswith("Z") or "+" in clock or "-" in clock


def encode_answers(values: pd.Series) -> np.ndarray:
    """Map the nullable boolean ``destroyed`` to 1 / 0 / -1 (can't tell)."""
    out = np.full(len(values), CANT_TELL, dtype=np.int8)
    if pd.api.types.is_bool_dtype(values.dtype):
        filled = values.fillna(False).to_numpy(dtype=bool) if values.hasnans else values.to_numpy(dtype=bool)
        out[filled] = YES
        out[~filled & values.notna().to_numpy()] = NO
        return out
    present = values.notna().to_numpy()
    raw = values[present]
    # True == 1 and False == 0 as dict keys, so integer 0/1 columns map too
    mapping = {True: YES, False: NO, "true": YES, "false": NO, "yes": YES, "no": NO,
               "1": YES, "0": NO, "True": YES, "False": NO}
    mapped = raw.map(lambda x: mapping.get(x.strip().lower() if isinstance(x, str) else x, 2)
                     if isinstance(x, Hashable) else 2)  # a list or array in a cell is not an answer
    bad = np.zeros(len(values), dtype=bool)
    bad[present] = mapped.to_numpy() == 2
    if bad.any():
        examples = values[bad].head(3).tolist()
        raise LabelsError(
            f"'destroyed' must be True, False or NA (can't tell) but is {examples} in {rows_text(values.index, bad)}."
        )
    out[present] = mapped.to_numpy(dtype=np.int8)
    return out


def encode_task(labels: pd.DataFrame, task: str | None) -> np.ndarray:
    """Task codes (positions in :data:`TASKS`) from the ``task`` column or the ``task=`` keyword, exactly one
    of which must be given."""
    if "task" in labels.columns:
        if task is not None:
            raise LabelsError(
                "the label table has a 'task' column and task= was given too; drop one of them."
            )
        values = labels["task"]
        codes = np.full(len(values), -1, dtype=np.int8)
        as_str = values.astype("string").str.strip().str.lower()
        for code, name in enumerate(TASKS):
            codes[(as_str == name).fillna(False).to_numpy(dtype=bool)] = code
        bad = codes < 0
        if bad.any():
            examples = sorted({str(x) for x in values[bad].head(5)})
            raise LabelsError(
                f"unknown task kind(s) {examples} in {rows_text(labels.index, bad)}; use 'timeline' or 'compare'."
            )
        return codes
    if task is None:
        raise LabelsError(
            "the label table has no 'task' column; add one or pass task='timeline' (volunteers chose the "
            "images) or task='compare' (the task gave the images)."
        )
    if task not in TASKS:
        raise LabelsError(f"task={task!r} is not a task kind; use 'timeline' or 'compare'.")
    return np.full(len(labels), TASKS.index(task), dtype=np.int8)


def image_catalogue(image_dates: object, before: pd.Series, after: pd.Series) -> pd.DatetimeIndex:
    """The image catalogue: ``image_dates`` checked (strictly increasing naive dates), or by default the
    distinct dates found in ``before`` and ``after``."""
    if image_dates is None:
        seen = pd.concat([before.dropna(), after]).to_numpy(dtype="datetime64[ns]")
        return pd.DatetimeIndex(np.unique(seen), name="image_date")
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(image_dates).ravel()))).astype(
            "datetime64[ns]"
        )
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


def _image_index(values: pd.Series, dates: pd.DatetimeIndex, name: str) -> np.ndarray:
    """Position of each date in the catalogue; -1 for NaT. Dates outside the catalogue are an error."""
    raw = values.to_numpy(dtype="datetime64[ns]")
    cat = dates.to_numpy(dtype="datetime64[ns]")
    pos = np.searchsorted(cat, raw)
    present = ~np.isnat(raw)
    found = np.zeros(len(raw), dtype=bool)
    inside = present & (pos < len(cat))
    found[inside] = cat[pos[inside]] == raw[inside]
    bad = present & ~found
    if bad.any():
        examples = sorted({str(pd.Timestamp(x).date()) for x in raw[bad][:20]})[:5]
        raise LabelsError(
            f"{name!r} holds dates not in the image catalogue in {rows_text(values.index, bad)}, e.g. {examples}; "
            "every date must be an acquisition date. Pass image_dates= with the full catalogue or fix the rows."
        )
    return np.where(present, pos, -1).astype(np.int16)


def encode_labels(
    labels: pd.DataFrame,
    image_dates: object = None,
    *,
    task: Literal["timeline", "compare"] | None = None,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
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
    check_label_columns(labels)
    if len(labels) == 0:
        raise LabelsError("the label table is empty; there is nothing to aggregate.")
    building, building_ids = encode_ids(labels["building_id"], "building_id")
    volunteer, volunteer_ids = encode_ids(labels["volunteer_id"], "volunteer_id")
    before = parse_image_dates(labels["before"], "before", required=False)
    after = parse_image_dates(labels["after"], "after", required=True)
    task_codes = encode_task(labels, task)
    answer = encode_answers(labels["destroyed"])
    dates = image_catalogue(image_dates, before, after)
    lo = _image_index(before, dates, "before")
    hi = _image_index(after, dates, "after")
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
            report_duplicates(rows_text(labels.index, duplicated), on_duplicate, stacklevel=3)
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
    key = pd.DataFrame({"b": enc.building, "v": enc.volunteer, "lo": enc.lo, "hi": enc.hi, "a": enc.answer,
                        "t": enc.task})
    return key.duplicated(keep=False).to_numpy()


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
