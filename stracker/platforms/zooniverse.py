"""Zooniverse classifications in: a project's classification export into the label table.

The export (Project > Data Exports > Request new classification export) is a CSV with the columns
``classification_id, user_name, user_id, user_ip, workflow_id, workflow_name, workflow_version, created_at,
gold_standard, expert, metadata, annotations, subject_data, subject_ids``; ``annotations`` and ``subject_data``
hold JSON (quotes doubled inside the CSV cell). One row is one classification: one volunteer's answers about
one subject. The volunteer is ``user_name``; volunteers who are not logged in are ``not-logged-in-<hash>``
(kept as volunteers of their own and counted in the summary).

Subject conventions
-------------------
stracker reads the building and the image dates from each subject's metadata (``subject_data``). Keys start
with ``#`` (or ``!``), which Zooniverse hides from volunteers so that dates do not bias them; unprefixed keys
are read too.

*Question workflow* (one subject = one question, a ``compare`` answer): metadata ``#building_id``,
``#before`` (the earlier image's date; empty for a one-image "is it destroyed here?" question) and ``#after``
(the later image's date). The subject shows the two images (or the one); the workflow's question task asks
whether the building was destroyed between them, and its answer label is read: "Yes" destroyed, "No" not,
"Can't tell" unknown (labels configurable; case, apostrophes and blanks ignored).

*Timeline workflow* (one subject = one building, a ``timeline`` answer): metadata ``#building_id`` and
``#dates``, the dates of the subject's frames in frame order, joined by ``;`` (``2017-06-04;2017-06-16;...``;
a JSON list works too); strictly increasing. The subject's frames are the building's usable images in date
order (leave out images where clouds hide it). The workflow has one drawing task (a point tool, say) on the
flipbook: "go through the images and mark the building on the first image where you see it destroyed; if it
is never destroyed, mark nothing". Its annotation value is the list of marks, each with the ``frame`` it was
made on (0 first); the earliest marked frame is the answer. It becomes one row of the label contract:

* a mark on frame k: ``before`` = frame k-1's date (NaT for k = 0), ``after`` = frame k's date, destroyed;
* no mark ("never"): ``before`` = NaT, ``after`` = the last frame's date, not destroyed (intact when last seen).

A subject whose metadata has ``#dates`` is a timeline subject; any other is a question subject.

Expert classifications
----------------------
The export's ``expert`` column marks classifications made in the project team's expert mode (``gold_standard``
marks volunteers' classifications of gold-standard subjects, which stay volunteers' answers). By default
experts are volunteers like the others; with ``experts="gold"`` their rows become ``ImportedAnswers.gold``, a
label table of expert answers apart from the volunteers' that :func:`stracker.aggregate` takes as ``gold=``: the
states they leave open are fixed, and they calibrate the volunteers who answered the same buildings.

Which classifications are used
------------------------------
Those of one workflow (``workflow_id``; needed when the file holds several) and, optionally, of some of its
versions: ``"16.55"`` that version only (not 16.5), ``"16"`` any 16.x, ``">=16.55"`` that one and later
(versions compare as numbers: 16.100 is after 16.55). The task read is ``task_key`` (``T0``...; needed when the
workflow has several tasks). Repeated classifications of a subject by one volunteer (a known Zooniverse
artefact) are counted; ``duplicates="first"`` keeps the earliest (``created_at``), as panoptes_aggregation
does, and rejects the others, ``"all"`` keeps them all. Classifications of several subjects at once
(``subject_ids`` ``1;2``) cannot say which building they are about and are rejected.

Examples
--------
>>> import json, pathlib, tempfile
>>> from stracker.platforms import read_zooniverse
>>> subject = {"71": {"retired": None, "#building_id": "12", "#before": "2017-06-04", "#after": "2017-06-16"}}
>>> cells = lambda value: json.dumps(value).replace('"', '""')
>>> header = ("classification_id,user_name,user_id,user_ip,workflow_id,workflow_name,workflow_version,"
...           "created_at,gold_standard,expert,metadata,annotations,subject_data,subject_ids")
>>> row = ('1,anna,5,ab12,123,Raqqa,16.55,2019-01-10 10:00:00 UTC,,,"{}","'
...        + cells([{"task": "T0", "task_label": "Destroyed?", "value": "Yes"}]) + '","' + cells(subject) + '",71')
>>> path = pathlib.Path(tempfile.mkdtemp()) / "classifications.csv"
>>> _ = path.write_text(header + "\\n" + row + "\\n")
>>> answers = read_zooniverse(path, workflow_id=123)
>>> answers.labels[["building_id", "volunteer_id", "destroyed", "task"]].to_dict("list")
{'building_id': [12], 'volunteer_id': ['anna'], 'destroyed': [True], 'task': ['compare']}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import PlatformExportError
from stracker.labels import TASKS
from stracker.platforms.common import (
    BAD_JSON,
    MISSING,
    NO,
    UNKNOWN,
    YES,
    AnswerLabels,
    ImportedAnswers,
    Triage,
    as_paths,
    assemble,
    catalogue_dates,
    check_duplicates_policy,
    in_catalogue,
    parse_dates,
    parse_json_cells,
    read_export_csv,
    read_exports,
    repeat_detail,
    repeats,
)

__all__ = ["ANONYMOUS_PREFIX", "ZOONIVERSE_COLUMNS", "WorkflowVersions", "read_zooniverse"]

ZOONIVERSE_COLUMNS = (
    "classification_id",
    "user_name",
    "user_id",
    "user_ip",
    "workflow_id",
    "workflow_name",
    "workflow_version",
    "created_at",
    "gold_standard",
    "expert",
    "metadata",
    "annotations",
    "subject_data",
    "subject_ids",
)
"""Columns of a Zooniverse classification export, in order."""

ANONYMOUS_PREFIX = "not-logged-in-"
"""How Zooniverse names a volunteer who is not logged in: this prefix and a hash of the address."""

_REQUIRED = (
    "classification_id",
    "user_name",
    "workflow_id",
    "workflow_version",
    "created_at",
    "annotations",
    "subject_data",
    "subject_ids",
)
_SHOWN = ("classification_id", "user_name", "workflow_id", "workflow_version", "created_at", "subject_ids")
_READ = (*_REQUIRED, "workflow_name", "user_id", "expert")  # not metadata: the bulkiest column, and not needed
_NOT_EXPERT = ("", "false", "f", "0", "no", "null", "none", "nan")
"""``expert`` cells that do not mark an expert classification (the column is empty for volunteers')."""
_VERSION = re.compile(r"^\s*(>=)?\s*(\d+)(?:\.(\d+))?\s*$")
_PREFIXES = ("#", "!", "")
_NEVER, _NOT_MARKS, _NO_VALUE = -1, -2, -3


@dataclass(frozen=True)
class WorkflowVersions:
    """Which workflow versions to import: one (``16.55``), a major version (``16``) or a minimum (``>=16.55``).

    Examples
    --------
    >>> versions = WorkflowVersions.parse("16.55")
    >>> versions.matches(pd.Series(["16.55", "16.5", "16.550", "17.1"])).tolist()
    [True, False, False, False]
    >>> WorkflowVersions.parse(">=16.55").matches(pd.Series(["16.100", "16.6", "17.0"])).tolist()
    [True, False, True]
    """

    major: int
    minor: int | None = None
    at_least: bool = False

    @classmethod
    def parse(cls, text: str | float) -> WorkflowVersions:
        """Read ``major.minor``, ``major`` or ``>=major.minor`` (a float such as 16.55 is read as its text)."""
        match = _VERSION.match(str(text))
        if match is None:
            raise PlatformExportError(
                f"workflow version {text!r} is not major.minor (16.55), major (16) or a minimum (>=16.55)."
            )
        at_least, major, minor = match.groups()
        return cls(int(major), None if minor is None else int(minor), at_least is not None)

    def matches(self, versions: pd.Series) -> np.ndarray:
        """Which version texts (``major.minor``) this selects; unreadable versions never match."""
        codes, uniques = pd.factorize(versions.astype("str"))  # a few distinct versions: parse each once
        parts = pd.Series(uniques, dtype="str").str.extract(r"^\s*(\d+)(?:\.(\d+))?\s*$")
        major = pd.to_numeric(parts[0]).to_numpy(dtype=float)
        minor = pd.to_numeric(parts[1]).fillna(0).to_numpy(dtype=float)
        if self.minor is None:
            chosen = (major >= self.major) if self.at_least else (major == self.major)
        elif self.at_least:
            chosen = (major > self.major) | ((major == self.major) & (minor >= self.minor))
        else:
            chosen = (major == self.major) & (minor == self.minor)
        return chosen[codes] if len(codes) else np.zeros(0, dtype=bool)

    def __str__(self) -> str:
        text = str(self.major) if self.minor is None else f"{self.major}.{self.minor}"
        return f">={text}" if self.at_least else text


# ------------------------------------------------------------------------------------------------- subjects
def _metadata_value(metadata: dict[str, Any], key: str) -> Any:
    """A subject's metadata value under ``#key``, ``!key`` or ``key`` (in that order); None when absent."""
    for prefix in _PREFIXES:
        if prefix + key in metadata:
            return metadata[prefix + key]
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class _Subjects:
    """What each distinct ``subject_data`` cell says, as arrays over the distinct cells."""

    problem: np.ndarray  # "" or a reason
    detail: np.ndarray
    building: np.ndarray
    before: np.ndarray
    after: np.ndarray
    timeline: np.ndarray
    dates: list[list[str]]  # a timeline subject's frame dates


def _subjects(parsed: list[Any]) -> _Subjects:
    """Read each distinct subject_data cell once: its building, dates and kind, or what is wrong with it."""
    n = len(parsed)
    out = _Subjects(
        problem=np.full(n, "", dtype=object),
        detail=np.full(n, "", dtype=object),
        building=np.full(n, "", dtype=object),
        before=np.full(n, "", dtype=object),
        after=np.full(n, "", dtype=object),
        timeline=np.zeros(n, dtype=bool),
        dates=[[] for _ in range(n)],
    )
    for i, cell in enumerate(parsed):  # one pass over distinct cells, not rows
        if cell is BAD_JSON or not isinstance(cell, dict) or not cell:
            out.problem[i], out.detail[i] = "bad_json", "subject_data"
            continue
        if len(cell) > 1:
            out.problem[i], out.detail[i] = "several_subjects", ";".join(str(k) for k in cell)
            continue
        subject_id, metadata = next(iter(cell.items()))
        if not isinstance(metadata, dict):
            out.problem[i], out.detail[i] = "bad_json", "subject_data"
            continue
        out.building[i] = _text(_metadata_value(metadata, "building_id"))
        if out.building[i] == "":
            out.problem[i], out.detail[i] = "no_building", f"subject {subject_id} has no #building_id"
            continue
        dates = _metadata_value(metadata, "dates")
        if dates is not None:
            out.timeline[i] = True
            listed = dates if isinstance(dates, list) else str(dates).split(";")
            out.dates[i] = [_text(d) for d in listed]
            if out.dates[i] in ([], [""]):
                out.dates[i] = []
                out.problem[i], out.detail[i] = "no_dates", f"subject {subject_id} has an empty #dates"
            continue
        out.before[i] = _text(_metadata_value(metadata, "before"))
        out.after[i] = _text(_metadata_value(metadata, "after"))
        if out.after[i] == "":
            out.problem[i], out.detail[i] = "no_dates", f"subject {subject_id} has no #after nor #dates"
    return out


# ------------------------------------------------------------------------------------------------- annotations
def _task_keys(parsed: list[Any]) -> dict[str, str]:
    """The task keys found in the distinct annotation cells, with a label each."""
    keys: dict[str, str] = {}
    for cell in parsed:  # distinct cells
        if isinstance(cell, list):
            for annotation in cell:
                if isinstance(annotation, dict) and "task" in annotation:
                    keys.setdefault(str(annotation["task"]), str(annotation.get("task_label") or "")[:60])
    return keys


def _frame(value: Any) -> int:
    """The first frame marked (0 first), :data:`_NEVER` for no mark, :data:`_NOT_MARKS` for something else."""
    if isinstance(value, bool):
        return _NOT_MARKS
    if isinstance(value, int):
        return value if value >= 0 else _NOT_MARKS
    if not isinstance(value, list):
        return _NOT_MARKS
    frames = []
    for mark in value:
        if not isinstance(mark, dict):
            return _NOT_MARKS
        frame = mark.get("frame", 0)  # a one-frame subject's marks may carry no frame
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            return _NOT_MARKS
        frames.append(frame)
    return min(frames) if frames else _NEVER


def _answers(parsed: list[Any], task_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct annotations cell's answer to ``task_key``: its text (a label, or a mark list's repr),
    whether it is a label, its first marked frame, and a problem ("" or a reason)."""
    n = len(parsed)
    label = np.full(n, "", dtype=object)
    is_text = np.zeros(n, dtype=bool)
    frame = np.full(n, _NO_VALUE, dtype=np.int64)
    problem = np.full(n, "", dtype=object)
    for i, cell in enumerate(parsed):  # one pass over distinct cells, not rows
        if cell is BAD_JSON or not isinstance(cell, list):
            problem[i] = "bad_json"
            continue
        found = [a for a in cell if isinstance(a, dict) and str(a.get("task")) == task_key]
        if not found or found[0].get("value") is None:
            problem[i] = "no_answer"
            continue
        value = found[0]["value"]
        is_text[i] = isinstance(value, str)
        label[i] = value if is_text[i] else repr(value)[:80]
        frame[i] = _frame(value)
    return label, is_text, frame, problem


def _choose_task(parsed: list[Any], task_key: str | None, workflow: str) -> str:
    keys = _task_keys(parsed)
    if task_key is not None:
        task_key = str(task_key)
        if keys and task_key not in keys:
            found = ", ".join(f"{k} ({v!r})" for k, v in keys.items())
            raise PlatformExportError(
                f"workflow {workflow} has no task {task_key!r} in its annotations; it has {found}. Choose one "
                "with task_key= (--task)."
            )
        return task_key
    if len(keys) == 1:
        return next(iter(keys))
    if not keys:
        raise PlatformExportError(f"the classifications of workflow {workflow} hold no annotated task.")
    found = ", ".join(f"{k} ({v!r})" for k, v in keys.items())
    raise PlatformExportError(
        f"workflow {workflow} has several tasks: {found}; choose the one to read with task_key= (--task)."
    )


# ------------------------------------------------------------------------------------------------- workflows
def _choose_workflow(table: pd.DataFrame, workflow_id: object) -> str:
    present = table.groupby("workflow_id", sort=True)["workflow_name"].agg(["first", "size"])

    def listing() -> str:
        return "; ".join(
            f"{wid} {name!r} ({size} row{'' if size == 1 else 's'})" for wid, (name, size) in present.iterrows()
        )

    if workflow_id is None:
        if len(present) > 1:
            raise PlatformExportError(
                f"the export holds several workflows: {listing()}; choose one with workflow_id= (--workflow-id)."
            )
        return str(present.index[0])
    chosen = str(workflow_id).strip()
    if chosen not in present.index:
        raise PlatformExportError(f"the export has no classification of workflow {chosen}; it has {listing()}.")
    return chosen


def read_zooniverse(
    paths: str | Path | Sequence[str | Path],
    *,
    workflow_id: int | str | None = None,
    workflow_version: str | None = None,
    task_key: str | None = None,
    yes: str | Iterable[str] = ("Yes",),
    no: str | Iterable[str] = ("No",),
    cant_tell: str | Iterable[str] = ("Can't tell",),
    duplicates: Literal["first", "all"] = "first",
    image_dates: object = None,
    experts: Literal["volunteers", "gold"] = "volunteers",
) -> ImportedAnswers:
    """Read a Zooniverse classification export as a label table (question and timeline workflows).

    Parameters
    ----------
    paths : path or sequence of paths
        The export CSV(s) as downloaded (a byte-order mark, UTF-16 or another separator from a spreadsheet's
        re-save are read too).
    workflow_id : int or str, optional
        The workflow to import; needed when the export holds several. Other workflows' rows are rejected.
    workflow_version : str, optional
        ``"16.55"`` (that version), ``"16"`` (any 16.x) or ``">=16.55"``; default: every version. Other
        versions' rows are rejected.
    task_key : str, optional
        The task whose answers are read (``"T0"``); default: the workflow's only task.
    yes, no, cant_tell : str or sequence of str
        A question's answer labels of each meaning (case, apostrophes and blanks ignored).
    duplicates : {"first", "all"}
        Repeated classifications of one subject by one volunteer: keep the earliest and reject the others
        (as panoptes_aggregation), or keep all. Either way the summary counts them.
    image_dates : dates or DataFrame, optional
        The image catalogue; answers whose dates are not among its dates are rejected.
    experts : {"volunteers", "gold"}
        Classifications of the ``expert`` column (made in expert mode): answers like any volunteer's, or set
        apart as ``ImportedAnswers.gold`` (counted as ``expert_answers`` in the summary; the other counts
        are of every row used, expert or not).

    Returns
    -------
    ImportedAnswers

    Raises
    ------
    PlatformExportError
        If a column is missing, the workflow, version or task is not in the export, or is ambiguous.
    FileFormatError
        If a file is empty or not a CSV table.
    """
    check_duplicates_policy(duplicates)
    if experts not in ("volunteers", "gold"):
        raise PlatformExportError(f"experts must be 'volunteers' or 'gold', got {experts!r}.")
    labels = AnswerLabels.of(yes, no, cant_tell)
    paths = as_paths(paths)
    catalogue = catalogue_dates(image_dates)
    table, files = read_exports(
        paths,
        lambda p: read_export_csv(p, "Zooniverse classification export", _READ),
        _REQUIRED,
        "Zooniverse classification export",
        keep=("workflow_name", "user_id", "expert"),
    )
    n = len(table)
    triage = Triage(n)
    for name in ("workflow_id", "workflow_version", "user_name", "subject_ids"):
        table[name] = table[name].str.strip()

    workflow = _choose_workflow(table, workflow_id)
    in_workflow = (table["workflow_id"] == workflow).to_numpy()
    triage.reject(~in_workflow, "other_workflow", ("workflow " + table["workflow_id"]).to_numpy(dtype=object))
    versions = WorkflowVersions.parse(workflow_version) if workflow_version is not None else None
    if versions is not None:
        matching = versions.matches(table["workflow_version"])
        if not (matching & in_workflow).any():
            present = sorted(set(table.loc[in_workflow, "workflow_version"]))
            raise PlatformExportError(
                f"workflow {workflow} has no classification of version {versions}; its versions are {present}."
            )
        triage.reject(~matching, "other_version", ("version " + table["workflow_version"]).to_numpy(dtype=object))
    triage.reject((table["user_name"] == "").to_numpy(), "no_volunteer")
    triage.reject(
        table["subject_ids"].str.contains(";", regex=False).to_numpy(),
        "several_subjects",
        table["subject_ids"].to_numpy(dtype=object),
    )

    # JSON: only the rows still in play, each distinct cell parsed once; the other rows point at a last,
    # empty entry (they are rejected already, so what it says does not matter)
    live = triage.ok
    codes, parsed_subjects = parse_json_cells(table.loc[live, "subject_data"])
    s = np.full(n, len(parsed_subjects), dtype=np.int64)
    s[live] = codes
    codes, parsed_annotations = parse_json_cells(table.loc[live, "annotations"])
    a = np.full(n, len(parsed_annotations), dtype=np.int64)
    a[live] = codes
    key = _choose_task(parsed_annotations, task_key, workflow) if live.any() else str(task_key or "")
    subjects = _subjects([*parsed_subjects, None])
    label, is_text, frame, answer_problem = _answers([*parsed_annotations, None], key)

    triage.reject(answer_problem[a] == "bad_json", "bad_json", "annotations")
    for reason in ("bad_json", "several_subjects", "no_building", "no_dates"):
        triage.reject(subjects.problem[s] == reason, reason, subjects.detail[s])
    triage.reject(answer_problem[a] == "no_answer", "no_answer", f"no answer to task {key}")

    timeline = subjects.timeline[s]
    question = live & ~timeline
    answer = np.full(n, MISSING, dtype=np.int8)
    answer[question] = labels.encode(pd.Series(label[a][question], dtype="str"))
    answer[question & ~is_text[a]] = UNKNOWN  # a list of marks is no answer to a question
    row_label = label[a]
    triage.reject(question & (answer == MISSING), "no_answer", f"no answer to task {key}")
    triage.reject(question & (answer == UNKNOWN), "unknown_answer", row_label)
    row_frame = frame[a]
    triage.reject(timeline & (row_frame < _NEVER), "unknown_answer", row_label)
    answer[timeline] = np.where(row_frame[timeline] >= 0, YES, NO)

    before, after = _question_dates(triage, question, subjects, s)
    t_before, t_after = _timeline_dates(triage, live & timeline, subjects, s, row_frame)
    before = np.where(timeline, t_before, before)
    after = np.where(timeline, t_after, after)
    if catalogue is not None:
        for name, dates in (("before", before), ("after", after)):
            shown = np.char.add(f"{name} ", np.datetime_as_string(dates, unit="D")).astype(object)
            triage.reject(~in_catalogue(dates, catalogue), "date_not_in_catalogue", shown)

    created = parse_dates(table["created_at"])[0]
    repeated, first = repeats(
        triage.ok, [table["subject_ids"].to_numpy(dtype=object), table["user_name"].to_numpy(dtype=object)], created
    )
    if duplicates == "first":
        triage.reject(repeated, "duplicate", repeat_detail(first, table["classification_id"], "classification"))
    anonymous = (table["user_name"].str.startswith(ANONYMOUS_PREFIX)).to_numpy()
    task_codes = np.where(timeline, TASKS.index("timeline"), TASKS.index("compare")).astype(np.int8)
    used_versions = sorted(set(table.loc[triage.ok, "workflow_version"]))
    imported = assemble(
        "zooniverse",
        paths,
        files,
        triage,
        table[list(_SHOWN)],
        building=pd.Series(subjects.building[s], dtype="str"),
        volunteer=table["user_name"],
        before=before,
        after=after,
        answer=answer,
        task=task_codes,
        anonymous=anonymous,
        n_repeats=int(repeated.sum()),
        duplicates=duplicates,
        extra={
            "workflow_id": workflow,
            "workflow_version": None if versions is None else str(versions),
            "workflow_versions_used": used_versions,
            "task_key": key,
        },
    )
    if experts == "volunteers":
        return imported
    expert = ~table["expert"].str.strip().str.lower().isin(_NOT_EXPERT).to_numpy()[imported.labels.index.to_numpy()]
    gold = imported.labels[expert]
    summary = imported.summary | {"expert_answers": len(gold), "gold_buildings": int(gold["building_id"].nunique())}
    return ImportedAnswers(imported.labels[~expert], imported.rejected, summary, gold)


def _question_dates(
    triage: Triage, question: np.ndarray, subjects: _Subjects, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A question subject's ``#before`` and ``#after`` as dates; bad and out-of-order ones rejected."""
    before_text = pd.Series(np.where(question, subjects.before[s], ""), dtype="str")
    after_text = pd.Series(np.where(question, subjects.after[s], ""), dtype="str")
    before, before_bad = parse_dates(before_text)
    after, after_bad = parse_dates(after_text)
    triage.reject(question & before_bad, "bad_date", ("#before " + before_text).to_numpy(dtype=object))
    triage.reject(question & after_bad, "bad_date", ("#after " + after_text).to_numpy(dtype=object))
    later = question & ~np.isnat(before) & ~np.isnat(after) & (before >= after)
    triage.reject(later, "dates_out_of_order", (before_text + " >= " + after_text).to_numpy(dtype=object))
    return before, after


def _timeline_dates(
    triage: Triage, timeline: np.ndarray, subjects: _Subjects, s: np.ndarray, frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A timeline answer's before/after: the frame before the first marked one and that one (or, unmarked, NaT
    and the last frame). Subjects with bad or unordered #dates, and marks on missing frames, are rejected."""
    n = len(timeline)
    before = np.full(n, np.datetime64("NaT", "ns"))
    after = np.full(n, np.datetime64("NaT", "ns"))
    counts = np.array([len(d) for d in subjects.dates], dtype=np.int64)
    if not timeline.any() or counts.sum() == 0:
        return before, after
    # every distinct subject's dates in one flat array, parsed at once
    flat_text = pd.Series([d for dates in subjects.dates for d in dates], dtype="str")
    flat, flat_bad = parse_dates(flat_text)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    bad_subject = np.bincount(owner, weights=flat_bad, minlength=len(counts)) > 0
    step = flat[1:] > flat[:-1]
    same = owner[1:] == owner[:-1]
    unordered = np.bincount(owner[1:][same & ~step], minlength=len(counts)) > 0
    first_bad = np.full(len(counts), "", dtype=object)
    bad_at = np.flatnonzero(flat_bad)
    first_of = pd.Series(flat_text.to_numpy(dtype=object)[bad_at]).groupby(owner[bad_at]).first()
    first_bad[first_of.index.to_numpy()] = first_of.to_numpy()
    triage.reject(
        timeline & bad_subject[s], "bad_date", np.char.add("#dates ", first_bad[s].astype(str)).astype(object)
    )
    triage.reject(timeline & unordered[s], "dates_out_of_order", "#dates not strictly increasing")
    n_frames = counts[s]
    triage.reject(
        timeline & (frame >= n_frames),
        "bad_frame",
        np.char.add(np.char.add("frame ", frame.astype(str)), np.char.add(" of ", n_frames.astype(str))).astype(object),
    )
    use = timeline & triage.ok
    marked = use & (frame >= 0)
    never = use & (frame == _NEVER)
    after[marked] = flat[offsets[s[marked]] + frame[marked]]
    has_before = marked & (frame >= 1)
    before[has_before] = flat[offsets[s[has_before]] + frame[has_before] - 1]
    after[never] = flat[offsets[s[never]] + n_frames[never] - 1]
    return before, after
