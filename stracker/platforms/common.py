"""What the platform readers share: reading an export, triaging its rows, answer labels, dates, duplicates.

Every reader turns each input row into one answer of the label table or one rejected row with a reason
(:data:`REASONS`), never both and never neither. Rows are numbered from 0 after the header (JSON: from 0 in
the list), continuing across files in the order given; the label table's index (``row``) and the rejected
table's ``row`` column use that number, so together they cover every row once.

Examples
--------
>>> import pandas as pd
>>> labels = AnswerLabels()
>>> labels.encode(pd.Series(["Yes", "no", "CAN\u2019T TELL", "cant  tell", "maybe", ""])).tolist()
[1, 0, -1, -1, -2, -3]
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, PlatformExportError
from stracker.io.tables import sniff_delimiter, typed_ids
from stracker.labels import TASKS, closest_hint

__all__ = [
    "ANSWERED",
    "BAD_JSON",
    "CANT_TELL",
    "MISSING",
    "NO",
    "REASONS",
    "UNKNOWN",
    "YES",
    "AnswerLabels",
    "ImportedAnswers",
    "Triage",
    "as_paths",
    "assemble",
    "catalogue_dates",
    "check_duplicates_policy",
    "in_catalogue",
    "json_text",
    "normalize_labels",
    "parse_dates",
    "parse_json_cells",
    "read_export_csv",
    "read_exports",
    "repeat_detail",
    "repeats",
    "strip_float_suffix",
]

#: Answer codes of the label table's ``destroyed``: yes, no, can't tell.
YES, NO, CANT_TELL = 1, 0, -1
#: Answer codes of a platform label that is none of the configured ones (``UNKNOWN``) or empty (``MISSING``).
UNKNOWN, MISSING = -2, -3
ANSWERED = (YES, NO, CANT_TELL)
"""The codes of labels that are an answer (yes, no, can't tell)."""

REASONS: dict[str, str] = {
    "other_workflow": "a classification of another Zooniverse workflow than the one imported",
    "other_version": "a classification of another version of the workflow than the one asked for",
    "no_volunteer": "no volunteer: an empty user_name (Zooniverse), no user_id, external_uid or user_ip (PyBossa), "
    "no user_id (MapSwipe)",
    "several_subjects": "a classification of several subjects at once (subject_ids joined by ';'): the building it "
    "is about is unknown",
    "bad_json": "a JSON cell (annotations, subject_data) that does not parse or does not hold what it should",
    "no_building": "no building id: a subject without #building_id, an empty building field or task_id",
    "no_dates": "no image date: a subject without #after (question) or #dates (timeline), an empty after field",
    "no_answer": "the task was not answered: no annotation of the task, or an empty answer",
    "unknown_answer": "an answer that is none of the yes, no and can't-tell labels (timeline: not a list of marks)",
    "bad_date": "a date that is not an ISO date such as 2017-06-16 (day/month order unknown, or unreadable)",
    "dates_out_of_order": "before not earlier than after, or a timeline subject's #dates not strictly increasing",
    "bad_frame": "a timeline mark on a frame that the subject does not have",
    "date_not_in_catalogue": "an image date that is not in the image catalogue",
    "duplicate": "the same volunteer answering the same subject (task) again, after the first answer "
    "(duplicates='first')",
}
"""Why a row is rejected: each reason code and what it means. A row gets the first reason that applies, in
this order."""

_APOSTROPHES = "['\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032]"
_DAY_MONTH = r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b"
_FLOAT_INTEGER = r"-?\d+\.0+"


# ------------------------------------------------------------------------------------------------- answers
def normalize_labels(values: pd.Series) -> pd.Series:
    """Answer labels compared without case, apostrophes (straight or curly) and repeated blanks.

    Examples
    --------
    >>> normalize_labels(pd.Series(["Can't tell", "CAN\u2019T  TELL ", "Cant tell"])).tolist()
    ['cant tell', 'cant tell', 'cant tell']
    """
    text = values.astype("str").str.casefold().str.replace(_APOSTROPHES, "", regex=True)
    return text.str.replace(r"\s+", " ", regex=True).str.strip()


def _label_tuple(value: str | Iterable[str], name: str) -> tuple[str, ...]:
    labels = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(label, str) for label in labels):
        raise PlatformExportError(f"{name} labels must be text, got {list(labels)!r}.")
    return labels


@dataclass(frozen=True)
class AnswerLabels:
    """The answer labels that mean yes (destroyed), no (intact) and can't tell.

    Labels match whatever their case, apostrophes (``'`` or ``\u2019``) and blanks, so "Can't tell" also
    matches "CAN\u2019T TELL" and "Cant tell".

    Attributes
    ----------
    yes, no, cant_tell : tuple of str
        The labels of each answer; several labels may share one meaning.

    Raises
    ------
    PlatformExportError
        If yes or no has no label, or one label has two meanings.
    """

    yes: tuple[str, ...] = ("Yes",)
    no: tuple[str, ...] = ("No",)
    cant_tell: tuple[str, ...] = ("Can't tell",)
    lookup: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        meanings = {"yes": YES, "no": NO, "cant_tell": CANT_TELL}
        lookup: dict[str, int] = {}
        for name, code in meanings.items():
            labels = _label_tuple(getattr(self, name), name)
            object.__setattr__(self, name, labels)
            if not labels and name != "cant_tell":
                raise PlatformExportError(f"no {name} label given; the answers need at least one.")
            for label, key in zip(labels, normalize_labels(pd.Series(labels, dtype="str")), strict=True):
                if key == "":
                    raise PlatformExportError(f"the {name} label {label!r} is empty.")
                if lookup.get(key, code) != code:
                    raise PlatformExportError(f"the label {label!r} is given with two meanings; give it once.")
                lookup[key] = code
        object.__setattr__(self, "lookup", lookup)

    @classmethod
    def of(cls, yes: str | Iterable[str], no: str | Iterable[str], cant_tell: str | Iterable[str]) -> AnswerLabels:
        """The labels given as one text or several, each meaning's."""
        return cls(
            yes=_label_tuple(yes, "yes"), no=_label_tuple(no, "no"), cant_tell=_label_tuple(cant_tell, "cant_tell")
        )

    def encode(self, values: pd.Series) -> np.ndarray:
        """Each label's code: :data:`YES`, :data:`NO`, :data:`CANT_TELL`, :data:`UNKNOWN` or :data:`MISSING`.

        Each distinct label is normalised once; rows get theirs through the factorized codes.
        """
        codes, uniques = pd.factorize(values.astype("str"))
        keys = normalize_labels(pd.Series(uniques, dtype="str"))
        mapped = keys.map(self.lookup).fillna(UNKNOWN).to_numpy(dtype=np.int8)
        mapped[(keys == "").to_numpy()] = MISSING
        return mapped[codes] if len(codes) else np.zeros(0, dtype=np.int8)


# ------------------------------------------------------------------------------------------------- files
@dataclass(frozen=True, eq=False)
class ImportedAnswers:
    """What a platform reader returns.

    Attributes
    ----------
    labels : pandas.DataFrame
        The label table (``building_id``, ``volunteer_id``, ``before``, ``after``, ``destroyed``, ``task``;
        see ``docs/contracts.md``), indexed by ``row``, the input row of each answer.
    rejected : pandas.DataFrame
        One row per rejected input row: ``row``, ``file``, the raw key fields of the export, ``reason`` (a key
        of :data:`REASONS`) and ``detail`` (the offending value).
    summary : dict
        JSON-ready counts: rows read, used and rejected (by reason), anonymous answers, duplicates, buildings,
        volunteers, answers by value and task, and what was imported.
    gold : pandas.DataFrame or None
        Expert answers set apart from the volunteers' (a label table like ``labels``; see
        :func:`stracker.platforms.read_zooniverse` ``experts="gold"``), for :func:`stracker.aggregate`'s
        ``gold=``; None when not asked for.
    """

    labels: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict[str, Any]
    gold: pd.DataFrame | None = None


def as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """One path or several, as a list of paths (at least one)."""
    listed = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not listed:
        raise PlatformExportError("no export file given.")
    return listed


def _encoding(head: bytes) -> str:
    """The text encoding a byte-order mark announces (UTF-8 without one)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def read_export_csv(path: Path, what: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a CSV export as text: every cell a ``str``, empty cells ``""`` (never NaN, so a user called "NA"
    stays "NA"), gzip read when the file is gzip, any byte-order mark (UTF-8, UTF-16) honoured, the separator
    sniffed among ``, ; tab |``.

    Raises
    ------
    FileFormatError
        If the file is empty, not text in its encoding, or not a well-formed table.
    """
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener: Callable[..., Any] = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(1 << 16)
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: the gzip file cannot be read ({exc}).") from exc
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise FileFormatError(f"{path} is empty; expected the header line of a {what}, then one row per line.")
    wanted = None if columns is None else {str(c) for c in columns}
    options = {
        "sep": sniff_delimiter(lines[0]),
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "encoding": encoding,
        "compression": "gzip" if magic == b"\x1f\x8b" else None,
    }
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0, **options).columns]
        table = pd.read_csv(
            path, usecols=None if wanted is None else (lambda name: str(name).strip() in wanted), **options
        )
    except UnicodeError as exc:
        raise FileFormatError(f"{path} is not {encoding.upper()} text ({exc}); save the export as UTF-8.") from exc
    except (pd.errors.ParserError, EOFError, OSError) as exc:
        raise FileFormatError(
            f"{path} is not a well-formed {what} ({str(exc).strip()}); check that it is the file as downloaded "
            "(quoting, every row with as many fields as the header)."
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    table = table.fillna("")  # short rows: the fields they lack are empty
    table.attrs["header"] = header  # every column, also those not read
    return table


def read_exports(
    paths: list[Path],
    read: Callable[[Path], pd.DataFrame],
    required: Sequence[str],
    what: str,
    keep: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read each file, check it has the ``required`` columns and stack them (rows numbered across files).

    Returns the table (a RangeIndex over all rows; missing optional columns ``""``) and each row's file name.
    """
    frames = []
    for path in paths:
        frame = read(path)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            present = tuple(str(c) for c in frame.attrs.get("header", frame.columns))
            hints = ", ".join(f"{c!r}{closest_hint(c, present)}" for c in missing)
            raise PlatformExportError(
                f"{path} is not a {what}: it lacks the column(s) {hints}; it has {list(present)}."
            )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    for name in keep:
        if name not in table.columns:
            table[name] = ""
    table = table.fillna("")
    files = np.repeat(np.array([str(p) for p in paths], dtype=object), [len(f) for f in frames])
    return table, files


def strip_float_suffix(values: pd.Series) -> pd.Series:
    """Undo pandas' float writing of an integer column with gaps ("12.0" for 12), when every value is so written.

    Examples
    --------
    >>> strip_float_suffix(pd.Series(["12.0", "", "7.0"])).tolist(), strip_float_suffix(pd.Series(["1.5"])).tolist()
    (['12', '', '7'], ['1.5'])
    """
    text = values.astype("str").str.strip()
    present = text != ""
    if present.any() and text[present].str.fullmatch(_FLOAT_INTEGER).all():
        return text.str.replace(r"\.0+$", "", regex=True)
    return text


def json_text(values: pd.Series) -> pd.Series:
    """JSON values (numbers, text, booleans, null, lists) as text, ``""`` for null; each distinct value once.

    Integral floats (a column of integers with gaps) are written as integers; booleans as ``true``/``false``.

    Examples
    --------
    >>> json_text(pd.Series([12.0, None, 7.0])).tolist(), json_text(pd.Series(["a", True, 3, None])).tolist()
    (['12', '', '7'], ['a', 'true', '3', ''])
    """
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna().to_numpy(dtype=float)
        if np.isfinite(present).all() and (present == np.round(present)).all() and (np.abs(present) < 2**62).all():
            return values.astype("Int64").astype("str").where(values.notna(), "")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)

    def text(value: Any) -> str:
        if isinstance(value, bool | np.bool_):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value)
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    mapped = np.array([text(u) for u in uniques] + [""], dtype=object)  # each distinct value once; -1: null
    return pd.Series(mapped[codes], index=values.index, dtype="str")


BAD_JSON = object()
"""What :func:`parse_json_cells` gives for a cell that is not JSON."""


def parse_json_cells(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Parse a column of JSON text: each distinct cell once (``json.loads`` has no vectorized form).

    Returns the codes of each row's cell and the parsed distinct cells (a cell that does not parse is the
    marker :data:`BAD_JSON`); ``parsed[codes[i]]`` is row i's value.
    """
    codes, uniques = pd.factorize(values.astype("str"))
    parsed = []
    for cell in uniques:  # a Python loop over distinct cells only
        try:
            parsed.append(json.loads(cell))
        except (ValueError, TypeError):
            parsed.append(BAD_JSON)
    return codes, parsed


# ------------------------------------------------------------------------------------------------- dates
def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO dates or times as naive UTC datetime64[ns], each distinct text parsed once.

    Empty text is NaT and not bad; day/month dates (``16/06/2017``) and unreadable text are NaT and bad.
    Time zones are converted to UTC (Zooniverse's ``2017-06-16 10:00:00 UTC`` too).

    Returns
    -------
    dates : ndarray of datetime64[ns]
    bad : ndarray of bool

    Examples
    --------
    >>> dates, bad = parse_dates(pd.Series(["2017-06-16", "", "16/06/2017", "2024-02-23 16:17:42 UTC"]))
    >>> [str(d)[:19] for d in dates], bad.tolist()
    (['2017-06-16T00:00:00', 'NaT', 'NaT', '2024-02-23T16:17:42'], [False, False, True, False])
    """
    codes, uniques = pd.factorize(values.astype("str"))
    text = pd.Series(uniques, dtype="str").str.strip().str.replace(r"\s*UTC$", "", regex=True)
    empty = (text == "").to_numpy()
    ambiguous = text.str.match(_DAY_MONTH).to_numpy(dtype=bool)
    parsed = pd.to_datetime(text.mask(empty | ambiguous), format="ISO8601", errors="coerce", utc=True)
    naive = parsed.dt.tz_localize(None).astype("datetime64[ns]").to_numpy()
    bad = (np.isnat(naive) & ~empty) | ambiguous
    if not len(codes):
        return np.zeros(0, dtype="datetime64[ns]"), np.zeros(0, dtype=bool)
    return naive[codes], bad[codes]


def catalogue_dates(image_dates: object) -> np.ndarray | None:
    """The image catalogue as sorted datetime64[ns] dates: from dates, or a table with an ``image_date`` column.

    Raises
    ------
    PlatformExportError
        If the dates cannot be read, are missing, repeated or time-zone aware.
    """
    if image_dates is None:
        return None
    if isinstance(image_dates, pd.DataFrame):
        if "image_date" not in image_dates.columns:
            raise PlatformExportError("the image catalogue has no 'image_date' column.")
        image_dates = image_dates["image_date"]
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(image_dates).ravel())))
    except (ValueError, TypeError) as exc:
        raise PlatformExportError(f"the image catalogue could not be read as dates: {exc}") from exc
    if dates.tz is not None or dates.hasnans or dates.has_duplicates or len(dates) == 0:
        raise PlatformExportError("the image catalogue must list naive dates, each once, none missing.")
    return np.sort(dates.astype("datetime64[ns]").to_numpy())


def in_catalogue(dates: np.ndarray, catalogue: np.ndarray) -> np.ndarray:
    """Whether each date is a catalogue date (NaT counts as in: an open end)."""
    pos = np.clip(np.searchsorted(catalogue, dates), 0, len(catalogue) - 1)
    return np.isnat(dates) | (catalogue[pos] == dates)


# ------------------------------------------------------------------------------------------------- rows
class Triage:
    """Each input row's fate: used, or rejected with the first reason that applies (and its detail).

    Examples
    --------
    >>> triage = Triage(3)
    >>> triage.reject(np.array([True, True, False]), "no_volunteer")
    >>> triage.reject(np.array([False, True, True]), "bad_date", np.array(["x", "y", "z"], dtype=object))
    >>> triage.reason.tolist(), triage.detail.tolist(), triage.ok.tolist()
    (['no_volunteer', 'no_volunteer', 'bad_date'], ['', '', 'z'], [False, False, False])
    """

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, "", dtype=object)
        self.detail = np.full(n, "", dtype=object)

    @property
    def ok(self) -> np.ndarray:
        """Rows not rejected so far."""
        return self.reason == ""

    def reject(self, mask: np.ndarray, reason: str, detail: str | np.ndarray = "") -> None:
        """Reject the rows of ``mask`` not rejected yet, for ``reason`` (a key of :data:`REASONS`)."""
        if reason not in REASONS:
            raise KeyError(reason)
        chosen = np.asarray(mask, dtype=bool) & self.ok
        self.reason[chosen] = reason
        self.detail[chosen] = detail if isinstance(detail, str) else np.asarray(detail, dtype=object)[chosen]


def check_duplicates_policy(duplicates: str) -> None:
    """Refuse a ``duplicates`` option other than ``first`` or ``all``."""
    if duplicates not in ("first", "all"):
        raise PlatformExportError(f"duplicates must be 'first' or 'all', got {duplicates!r}.")


def repeats(ok: np.ndarray, keys: Sequence[np.ndarray], time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeated answers among the ``ok`` rows: the same ``keys`` again, after the earliest by ``time``.

    The first of a group is the one with the earliest ``time`` (NaT last), then the lowest row.

    Returns
    -------
    repeated : ndarray of bool
        Rows that repeat an earlier answer.
    first : ndarray of int
        For each repeated row, the row it repeats (-1 elsewhere).

    Examples
    --------
    >>> t = np.array(["2017-01-02", "2017-01-01", "2017-01-03", "NaT"], dtype="datetime64[ns]")
    >>> rep, first = repeats(np.ones(4, bool), [np.array(["a", "a", "b", "a"], dtype=object)], t)
    >>> rep.tolist(), first.tolist()
    ([True, False, False, True], [1, -1, -1, 1])
    """
    n = len(ok)
    repeated = np.zeros(n, dtype=bool)
    first = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(ok)
    if len(rows) < 2:
        return repeated, first
    frame = pd.DataFrame({f"k{i}": np.asarray(k, dtype=object)[rows] for i, k in enumerate(keys)})
    group = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    stamp = time[rows].astype("datetime64[ns]").view(np.int64).copy()
    stamp[np.isnat(time[rows])] = np.iinfo(np.int64).max
    order = np.lexsort((rows, stamp, group))
    sorted_group = group[order]
    starts = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    later = rows[order][~starts]
    repeated[later] = True
    first[later] = rows[order][start_pos][~starts]
    return repeated, first


def repeat_detail(first: np.ndarray, ids: pd.Series | None = None, what: str = "") -> np.ndarray:
    """The rejected table's detail of repeated rows: ``repeats row 3`` (and the repeated row's id).

    Examples
    --------
    >>> repeat_detail(np.array([-1, 0]), pd.Series(["c9", "c10"]), "classification").tolist()
    ['', 'repeats row 0 (classification c9)']
    """
    out = np.full(len(first), "", dtype=object)
    at = np.flatnonzero(first >= 0)  # only the repeats: few rows
    text = np.char.add("repeats row ", first[at].astype(str))
    if ids is not None:
        shown = ids.to_numpy(dtype=object)[first[at]].astype(str)
        text = np.char.add(np.char.add(text, f" ({what} "), np.char.add(shown, ")"))
    out[at] = text
    return out


def assemble(
    platform: str,
    paths: list[Path],
    files: np.ndarray,
    triage: Triage,
    raw: pd.DataFrame,
    *,
    building: pd.Series,
    volunteer: pd.Series,
    before: np.ndarray,
    after: np.ndarray,
    answer: np.ndarray,
    task: np.ndarray,
    anonymous: np.ndarray,
    n_repeats: int,
    duplicates: Literal["first", "all"],
    extra: dict[str, Any] | None = None,
) -> ImportedAnswers:
    """Build the label table from the rows still ``ok``, the rejected table from the others, and the summary.

    ``building`` and ``volunteer`` are text, typed here by :func:`stracker.io.typed_ids`; ``answer`` holds
    :data:`YES`/:data:`NO`/:data:`CANT_TELL` codes and ``task`` task codes (positions in ``TASKS``) for the used
    rows; ``raw`` holds the key fields shown in the rejected table.
    """
    ok = triage.ok
    rows = np.flatnonzero(ok)
    index = pd.Index(rows, name="row")
    destroyed = pd.array(answer[ok] == YES, dtype="boolean")
    destroyed[answer[ok] == CANT_TELL] = pd.NA
    labels = pd.DataFrame(
        {
            "building_id": typed_ids(pd.Series(building.to_numpy()[ok], index=index, dtype="str")),
            "volunteer_id": typed_ids(pd.Series(volunteer.to_numpy()[ok], index=index, dtype="str")),
            "before": pd.Series(before[ok], index=index, dtype="datetime64[ns]"),
            "after": pd.Series(after[ok], index=index, dtype="datetime64[ns]"),
            "destroyed": pd.Series(destroyed, index=index),
            "task": pd.Series(pd.Categorical.from_codes(task[ok].astype(np.int8), categories=list(TASKS)), index=index),
        },
        index=index,
    )
    bad = ~ok
    rejected = pd.DataFrame({"row": np.flatnonzero(bad), "file": files[bad]})
    for name in raw.columns:
        rejected[name] = raw[name].to_numpy()[bad]
    rejected["reason"] = triage.reason[bad]
    rejected["detail"] = triage.detail[bad]
    reasons = pd.Series(triage.reason[bad]).value_counts()
    used_answers = answer[ok]
    summary: dict[str, Any] = {
        "platform": platform,
        "files": [str(p) for p in paths],
        "rows_read": len(ok),
        "rows_used": int(ok.sum()),
        "rows_rejected": int(bad.sum()),
        "rejected": {reason: int(reasons[reason]) for reason in REASONS if reason in reasons.index},
        "anonymous_answers": int(anonymous[ok].sum()),
        "anonymous_volunteers": int(pd.unique(volunteer.to_numpy()[ok & anonymous]).size),
        "duplicates": int(n_repeats),
        "duplicates_kept": duplicates,
        "buildings": int(labels["building_id"].nunique()),
        "volunteers": int(labels["volunteer_id"].nunique()),
        "answers": {
            "yes": int((used_answers == YES).sum()),
            "no": int((used_answers == NO).sum()),
            "cant_tell": int((used_answers == CANT_TELL).sum()),
        },
        "tasks": {name: int((task[ok] == code).sum()) for code, name in enumerate(TASKS)},
    }
    summary.update(extra or {})
    return ImportedAnswers(labels=labels, rejected=rejected, summary=summary)
