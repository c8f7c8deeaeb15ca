"""MapSwipe results in: ``results_<project>.csv.gz`` as MapSwipe's workers write it, into the label table.

MapSwipe writes a project's results with pandas, index included, so the header starts with an empty field:
``,project_id,group_id,user_id,task_id,timestamp,start_time,end_time,app_version,client_type,result,username``.
Each row is one volunteer's answer about one task; ``result`` is 0 (no), 1 (yes), 2 (maybe) or 3 (bad imagery).

For stracker, a MapSwipe project asks about buildings: ``task_id`` is the building id (typed by
:func:`stracker.io.typed_ids`, so ``"123"`` joins footprint 123), the volunteer is ``user_id``, and the
project's two images are the same for every row, so their dates are given by the caller (MapSwipe keeps them in
the project settings, not in the results): ``before`` (omitted for a one-image "is it destroyed here?" project)
and ``after``. Answers: 1 destroyed, 0 not, 2 and 3 can't tell. Every row is a ``compare`` answer.

Examples
--------
>>> import gzip, pathlib, tempfile
>>> from stracker.platforms import read_mapswipe
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results_-Mx1.csv.gz"
>>> with gzip.open(path, "wt") as fh:
...     _ = fh.write(",project_id,group_id,user_id,task_id,timestamp,result\\n"
...                  "0,-Mx1,g0,u1,12,2021-03-01 10:00:00,1\\n"
...                  "1,-Mx1,g0,u2,12,2021-03-01 10:05:00,3\\n")
>>> answers = read_mapswipe(path, before="2017-06-06", after="2017-10-20")
>>> answers.labels["building_id"].tolist(), answers.labels["destroyed"].tolist()
([12, 12], [True, <NA>])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from stracker.errors import PlatformExportError
from stracker.labels import TASKS
from stracker.platforms.common import (
    CANT_TELL,
    MISSING,
    NO,
    UNKNOWN,
    YES,
    ImportedAnswers,
    Triage,
    as_paths,
    assemble,
    catalogue_dates,
    check_duplicates_policy,
    in_catalogue,
    parse_dates,
    read_export_csv,
    read_exports,
    repeat_detail,
    repeats,
)

__all__ = ["MAPSWIPE_COLUMNS", "MAPSWIPE_RESULTS", "read_mapswipe"]

MAPSWIPE_COLUMNS = (
    "project_id",
    "group_id",
    "user_id",
    "task_id",
    "timestamp",
    "start_time",
    "end_time",
    "app_version",
    "client_type",
    "result",
    "username",
)
"""Columns of a MapSwipe results file, after the unnamed index column."""

MAPSWIPE_RESULTS = {"0": NO, "1": YES, "2": CANT_TELL, "3": CANT_TELL}
"""MapSwipe's result codes: 0 no, 1 yes, 2 maybe and 3 bad imagery (both can't tell)."""

_REQUIRED = ("user_id", "task_id", "result")
_SHOWN = ("project_id", "group_id", "user_id", "task_id", "timestamp", "result")


def _read(path: Path) -> pd.DataFrame:
    table = read_export_csv(path, "MapSwipe results file")
    first = str(table.columns[0]) if len(table.columns) else ""
    if first == "" or first.startswith("Unnamed: 0"):
        table = table.drop(columns=table.columns[0])  # pandas' index, written by MapSwipe's to_csv
    return table


def _date_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return pd.Timestamp(value).isoformat()
    except (ValueError, TypeError):
        return str(value)


def _question_dates(before: object, after: object, catalogue: np.ndarray | None) -> tuple[np.datetime64, np.datetime64]:
    """The project's image dates, checked: after required, before earlier, both in the catalogue."""
    dates, bad = parse_dates(pd.Series([_date_text(before), _date_text(after)], dtype="str"))
    if bad.any() or np.isnat(dates[1]):
        raise PlatformExportError(
            f"the MapSwipe project's image dates must be ISO dates (before optional, after required); got "
            f"before={before!r}, after={after!r}."
        )
    if not np.isnat(dates[0]) and dates[0] >= dates[1]:
        raise PlatformExportError(f"before ({before}) must be earlier than after ({after}).")
    if catalogue is not None and not in_catalogue(dates, catalogue).all():
        raise PlatformExportError(
            f"the MapSwipe project's image dates (before={before}, after={after}) are not both in the image "
            "catalogue; give the acquisition dates of the project's imagery."
        )
    return dates[0], dates[1]


def read_mapswipe(
    paths: str | Path | Sequence[str | Path],
    *,
    after: object,
    before: object = None,
    duplicates: Literal["first", "all"] = "first",
    image_dates: object = None,
) -> ImportedAnswers:
    """Read MapSwipe results (``results_<project>.csv.gz``) as a label table of ``compare`` answers.

    Parameters
    ----------
    paths : path or sequence of paths
        One results file or several (of projects with the same image dates), gzip or plain CSV, with or
        without the leading index column.
    after : date
        Date of the project's (later) image.
    before : date, optional
        Date of the earlier image; omit it for a one-image project ("is it destroyed here?").
    duplicates : {"first", "all"}
        Repeated answers of one volunteer about one task: keep the earliest (``timestamp``) and reject the
        others, or keep all. Either way the summary counts them.
    image_dates : dates or DataFrame, optional
        The image catalogue; ``before`` and ``after`` must be among its dates.

    Returns
    -------
    ImportedAnswers

    Raises
    ------
    PlatformExportError
        On a file without ``user_id``, ``task_id`` or ``result``, or on bad project dates.
    FileFormatError
        If a file is empty or not a table.
    """
    check_duplicates_policy(duplicates)
    paths = as_paths(paths)
    catalogue = catalogue_dates(image_dates)
    before_date, after_date = _question_dates(before, after, catalogue)
    table, files = read_exports(paths, _read, _REQUIRED, "MapSwipe results file", keep=_SHOWN)
    n = len(table)
    triage = Triage(n)
    volunteer = table["user_id"].str.strip()
    building = table["task_id"].str.strip()
    triage.reject((volunteer == "").to_numpy(), "no_volunteer")
    triage.reject((building == "").to_numpy(), "no_building")
    result = table["result"].str.strip()
    # pandas writes an integer column with gaps as floats: "1.0" is result 1
    result = result.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    answer = result.map(MAPSWIPE_RESULTS).fillna(UNKNOWN).to_numpy(dtype=np.int8)
    answer[(result == "").to_numpy()] = MISSING
    raw_result = table["result"].to_numpy(dtype=object)
    triage.reject(answer == MISSING, "no_answer")
    triage.reject(answer == UNKNOWN, "unknown_answer", raw_result)

    stamp = table["timestamp"]
    if "start_time" in table.columns:  # the same time; older files may lack one of them
        stamp = stamp.where(stamp.str.strip() != "", table["start_time"])
    time = parse_dates(stamp)[0]
    repeated, first = repeats(
        triage.ok,
        [table["project_id"].to_numpy(dtype=object), building.to_numpy(dtype=object), volunteer.to_numpy(dtype=object)],
        time,
    )
    if duplicates == "first":
        triage.reject(repeated, "duplicate", repeat_detail(first))
    return assemble(
        "mapswipe",
        paths,
        files,
        triage,
        table[list(_SHOWN)],
        building=building,
        volunteer=volunteer,
        before=np.full(n, before_date, dtype="datetime64[ns]"),
        after=np.full(n, after_date, dtype="datetime64[ns]"),
        answer=answer,
        task=np.full(n, TASKS.index("compare"), dtype=np.int8),
        anonymous=np.zeros(n, dtype=bool),
        n_repeats=int(repeated.sum()),
        duplicates=duplicates,
        extra={
            "before": None if np.isnat(before_date) else str(pd.Timestamp(before_date).date()),
            "after": str(pd.Timestamp(after_date).date()),
        },
    )
