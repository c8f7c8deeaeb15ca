"""PyBossa task runs in: a project's ``task_run`` export, CSV or JSON, into the label table.

PyBossa (and Amnesty Decoders, which ran on a fork of it) exports each task run, one volunteer's answer to one
task, with the model's columns ``id, created, project_id, task_id, user_id, user_ip, finish_time, timeout,
calibration, external_uid, media_url`` and the answer the task presenter saved in ``info``. The CSV flattens
``info`` into ``info_<key>`` columns (nested keys joined by ``_``); the JSON keeps it nested. Both are read
the same way: the JSON's ``info`` is flattened with the same names, so one field map fits both.

The field map names the columns of the question and its answer: ``building`` (default ``info_building_id``),
``before`` (``info_before``; empty, ``null`` or ``none`` for one-image questions), ``after`` (``info_after``)
and ``answer`` (``info_answer``, matched to the yes/no/can't-tell labels). Any column may be named, e.g.
``building="task_id"`` when each task is one building. The volunteer is ``user_id``; an anonymous answer (no
``user_id``) is the ``external_uid`` volunteer if there is one, else the ``user_ip`` one, and the summary counts
them.

PyBossa writes an integer column with gaps as floats (``user_id`` ``12.0`` where some runs are anonymous); such
columns are read back as the integers they were.

Examples
--------
>>> import json, pathlib, tempfile
>>> from stracker.platforms import read_pybossa
>>> path = pathlib.Path(tempfile.mkdtemp()) / "decoders_task_run.json"
>>> runs = [{"id": 1, "task_id": 5, "user_id": 7, "user_ip": None, "finish_time": "2017-11-20T10:00:00.1",
...          "info": {"building_id": 12, "before": "2017-06-04", "after": "2017-06-16", "answer": "Yes"}},
...         {"id": 2, "task_id": 5, "user_id": None, "user_ip": "10.0.0.3", "finish_time": "2017-11-20T10:01:00",
...          "info": {"building_id": 12, "before": "2017-06-04", "after": "2017-06-16", "answer": "No"}}]
>>> _ = path.write_text(json.dumps(runs))
>>> answers = read_pybossa(path)
>>> answers.labels[["building_id", "volunteer_id", "destroyed"]].to_dict("list")
{'building_id': [12, 12], 'volunteer_id': ['7', '10.0.0.3'], 'destroyed': [True, False]}
>>> answers.summary["anonymous_answers"]
1
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, PlatformExportError
from stracker.labels import TASKS
from stracker.platforms.common import (
    MISSING,
    UNKNOWN,
    AnswerLabels,
    ImportedAnswers,
    Triage,
    as_paths,
    assemble,
    catalogue_dates,
    check_duplicates_policy,
    in_catalogue,
    json_text,
    parse_dates,
    read_export_csv,
    read_exports,
    repeat_detail,
    repeats,
    strip_float_suffix,
)

__all__ = ["PYBOSSA_COLUMNS", "read_pybossa"]

PYBOSSA_COLUMNS = (
    "id",
    "created",
    "project_id",
    "task_id",
    "user_id",
    "user_ip",
    "finish_time",
    "timeout",
    "calibration",
    "external_uid",
    "media_url",
)
"""The task run model's columns, before the ``info`` fields."""

_SHOWN = ("id", "task_id", "user_id", "user_ip", "finish_time")


def _read_json(path: Path) -> pd.DataFrame:
    """A task_run JSON export (a list of task runs) as text columns, ``info`` flattened like the CSV's."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            runs = json.load(fh)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path} is not UTF-8 text ({exc.reason}).") from exc
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from exc
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise FileFormatError(f"{path} is not a PyBossa task_run export: expected a JSON list of task runs.")
    if not runs:
        raise FileFormatError(f"{path} holds no task runs (an empty list).")
    table = pd.json_normalize(runs, sep="_")
    return pd.DataFrame({str(name): json_text(table[name]) for name in table.columns})


def _read_csv(path: Path) -> pd.DataFrame:
    return read_export_csv(path, "PyBossa task_run export")


def _file_format(path: Path, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in ("csv", "json"):
            raise PlatformExportError(f"file_format must be 'csv' or 'json', got {file_format!r}.")
        return file_format
    suffixes = [s.lower() for s in path.suffixes]
    if ".json" in suffixes:
        return "json"
    if ".csv" in suffixes:
        return "csv"
    raise PlatformExportError(
        f"{path}: a PyBossa export is .csv or .json; name the format with file_format= (--format) for another suffix."
    )


def read_pybossa(
    paths: str | Path | Sequence[str | Path],
    *,
    building: str = "info_building_id",
    before: str | None = "info_before",
    after: str = "info_after",
    answer: str = "info_answer",
    task: Literal["compare", "timeline"] = "compare",
    yes: str | Iterable[str] = ("Yes",),
    no: str | Iterable[str] = ("No",),
    cant_tell: str | Iterable[str] = ("Can't tell",),
    duplicates: Literal["first", "all"] = "first",
    image_dates: object = None,
    file_format: Literal["csv", "json"] | None = None,
) -> ImportedAnswers:
    """Read a PyBossa task_run export (CSV or JSON) as a label table.

    Parameters
    ----------
    paths : path or sequence of paths
        The export(s); the format comes from the suffix (``.csv``, ``.json``) unless ``file_format`` says.
    building, before, after, answer : str
        The columns holding the building id, the earlier image date (empty, or ``before=None``: a one-image
        question), the later image date and the answer label. JSON fields use the CSV's flattened names.
    task : {"compare", "timeline"}
        The task kind of every answer: ``compare`` when the task gave the images (Decoders), ``timeline`` when
        the volunteer chose them.
    yes, no, cant_tell : str or sequence of str
        The answer labels of each meaning (case, apostrophes and blanks ignored; JSON booleans read as
        ``true``/``false``).
    duplicates : {"first", "all"}
        Repeated task runs of one volunteer on one task: keep the earliest (``finish_time``) and reject the
        others, or keep all. Either way the summary counts them.
    image_dates : dates or DataFrame, optional
        The image catalogue; answers with dates outside it are rejected.
    file_format : {"csv", "json"}, optional

    Returns
    -------
    ImportedAnswers

    Raises
    ------
    PlatformExportError
        If a file lacks a mapped column (the closest name is suggested) or the options contradict each other.
    FileFormatError
        If a file is empty or not CSV/JSON.
    """
    check_duplicates_policy(duplicates)
    if task not in TASKS:
        raise PlatformExportError(f"task must be one of {list(TASKS)}, got {task!r}.")
    labels = AnswerLabels.of(yes, no, cant_tell)
    paths = as_paths(paths)
    catalogue = catalogue_dates(image_dates)
    formats = {_file_format(p, file_format) for p in paths}
    reader = _read_json if formats == {"json"} else _read_csv
    if len(formats) > 1:
        raise PlatformExportError("the exports mix CSV and JSON; import them one format at a time.")
    fields = [building, after, answer] + ([before] if before is not None else [])
    table, files = read_exports(
        paths, reader, ("task_id", *fields), "PyBossa task_run export", keep=(*_SHOWN, "external_uid", "created")
    )
    n = len(table)
    triage = Triage(n)

    user = strip_float_suffix(table["user_id"])
    external = table["external_uid"].str.strip()
    ip = table["user_ip"].str.strip()
    volunteer = user.where(user != "", external.where(external != "", ip))
    anonymous = (user == "").to_numpy()
    triage.reject((volunteer == "").to_numpy(), "no_volunteer")

    building_text = strip_float_suffix(table[building])
    triage.reject((building_text == "").to_numpy(), "no_building")
    after_text = table[after].str.strip()
    triage.reject((after_text == "").to_numpy(), "no_dates")

    codes = labels.encode(table[answer])
    raw_answer = table[answer].to_numpy(dtype=object)
    triage.reject(codes == MISSING, "no_answer")
    triage.reject(codes == UNKNOWN, "unknown_answer", raw_answer)

    before_text = table[before] if before is not None else pd.Series("", index=table.index, dtype="str")
    # a one-image question's before is "none" in the tasks `stracker next --format pybossa` writes (PyBossa's
    # task import refuses empty cells), and so in the answers of a presenter that copies it
    before_text = before_text.mask(before_text.str.strip().str.lower() == "none", "")
    before_dates, before_bad = parse_dates(before_text)
    after_dates, after_bad = parse_dates(after_text)
    triage.reject(before_bad, "bad_date", before_text.to_numpy(dtype=object))
    triage.reject(after_bad, "bad_date", after_text.to_numpy(dtype=object))
    out_of_order = ~np.isnat(before_dates) & ~np.isnat(after_dates) & (before_dates >= after_dates)
    triage.reject(out_of_order, "dates_out_of_order", (before_text + " >= " + after_text).to_numpy(dtype=object))
    if catalogue is not None:
        triage.reject(~in_catalogue(before_dates, catalogue), "date_not_in_catalogue", before_text.to_numpy(object))
        triage.reject(~in_catalogue(after_dates, catalogue), "date_not_in_catalogue", after_text.to_numpy(object))

    finish = table["finish_time"].where(table["finish_time"].str.strip() != "", table["created"])
    time = parse_dates(finish)[0]
    task_key = strip_float_suffix(table["task_id"]).to_numpy(dtype=object)
    repeated, first = repeats(triage.ok, [task_key, volunteer.to_numpy(dtype=object)], time)
    if duplicates == "first":
        triage.reject(repeated, "duplicate", repeat_detail(first))
    return assemble(
        "pybossa",
        paths,
        files,
        triage,
        table[list(_SHOWN)],
        building=building_text,
        volunteer=volunteer,
        before=before_dates,
        after=after_dates,
        answer=codes,
        task=np.full(n, TASKS.index(task), dtype=np.int8),
        anonymous=anonymous,
        n_repeats=int(repeated.sum()),
        duplicates=duplicates,
        extra={"fields": {"building": building, "before": before, "after": after, "answer": answer}},
    )
