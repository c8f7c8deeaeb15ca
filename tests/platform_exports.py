"""Export writers for the tests: answers written as Zooniverse, PyBossa and MapSwipe write their exports.

Each writer copies what the platform's own code does (none is part of stracker):

* Zooniverse: ``lib/formatter/csv/classification.rb`` in zooniverse/panoptes builds each row and Ruby's CSV
  writes it (fields quoted only when they hold a comma, a quote or a line break, quotes doubled, ``\\n``
  line ends); JSON cells come from Rails' ``to_json`` (compact, UTF-8, ``<``, ``>`` and ``&`` escaped as
  ``\\u003c``, ``\\u003e`` and ``\\u0026``); ``subject_ids`` are joined by ``;``; a volunteer who is not logged
  in is ``not-logged-in-<hashed ip>`` with an empty ``user_id``.
* PyBossa: ``pybossa/exporter/__init__.py`` flattens each task run's ``dictize()`` with flatten_json (nested
  keys joined by ``_``) and ``csv_export.py`` writes ``pd.DataFrame(rows).to_csv(index=False)``; the JSON
  export is ``json.dumps`` of the list of ``dictize()`` dicts. Times are ``datetime.utcnow().isoformat()``.
* MapSwipe: ``generate_stats/project_stats.py`` in mapswipe/python-mapswipe-workers lets Postgres ``COPY ...
  TO STDOUT WITH CSV HEADER`` write the results, reads them back with ``pd.read_csv`` and writes them again
  with ``to_csv`` (index included: the header starts with an empty field), then gzips the file.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    "info",
)
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


# ------------------------------------------------------------------------------------------------- Zooniverse
def rails_json(value: Any) -> str:
    """JSON as Rails' ``to_json`` writes it: compact, UTF-8, HTML-sensitive characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


@functools.cache
def _session(user_ip: str) -> str:
    """A classification's metadata JSON for one browser session, with the times left as placeholders."""
    return rails_json(
        {
            "source": "api",
            "session": hashlib.sha256(user_ip.encode()).hexdigest(),
            "viewport": {"width": 1710, "height": 948},
            "started_at": "@STARTED@",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            "utc_offset": "-3600",
            "finished_at": "@FINISHED@",
            "live_project": True,
            "user_language": "en",
            "subject_dimensions": [
                {"clientWidth": 600, "clientHeight": 600, "naturalWidth": 256, "naturalHeight": 256}
            ],
            "subject_selection_state": {
                "retired": False,
                "selected_at": "@STARTED@",
                "already_seen": False,
                "selection_state": "normal",
                "finished_workflow": False,
                "user_has_finished_workflow": False,
            },
        }
    )


def zooniverse_row(
    classification_id: int,
    user_name: str | None,
    user_ip: str,
    workflow_id: int,
    workflow_name: str,
    workflow_version: str,
    created_at: pd.Timestamp,
    annotations: list[dict] | str,
    subjects: dict[int, dict],
    user_id: int | None = None,
) -> dict:
    """One classification as the export formatter builds it; ``annotations`` given as text is written as is
    (for a broken cell). ``user_name`` None: not logged in."""
    finished = created_at.isoformat(timespec="milliseconds") + "Z"
    started = (created_at - pd.Timedelta(seconds=37)).isoformat(timespec="milliseconds") + "Z"
    metadata = _session(user_ip).replace("@STARTED@", started).replace("@FINISHED@", finished)
    subject_data = {str(sid): {"retired": None, **meta} for sid, meta in subjects.items()}
    return {
        "classification_id": classification_id,
        "user_name": user_name if user_name is not None else f"not-logged-in-{user_ip}",
        "user_id": user_id if user_name is not None else None,
        "user_ip": user_ip,
        "workflow_id": workflow_id,
        "workflow_name": workflow_name,
        "workflow_version": workflow_version,
        "created_at": f"{finished[:10]} {finished[11:19]} UTC",
        "gold_standard": None,
        "expert": None,
        "metadata": metadata,
        "annotations": annotations if isinstance(annotations, str) else rails_json(annotations),
        "subject_data": rails_json(subject_data),
        "subject_ids": ";".join(str(sid) for sid in subjects),
    }


def write_zooniverse(
    path: Path,
    rows: list[dict],
    *,
    bom: bool = False,
    line_end: str = "\n",
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    """Write classification rows as Ruby's CSV does (minimal quoting, quotes doubled). ``bom``, ``line_end``,
    ``encoding`` and ``delimiter`` give the variants a spreadsheet's re-save makes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator=line_end)
    writer.writerow(ZOONIVERSE_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in ZOONIVERSE_COLUMNS])
    text = buffer.getvalue()
    if encoding == "utf-16":
        path.write_bytes(text.encode("utf-16"))  # Python writes the BOM, as Excel's "Unicode text" does
    else:
        path.write_bytes(("\ufeff" if bom else "").encode() + text.encode(encoding))
    return path


def question_annotation(
    value: Any,
    task: str = "T0",
    label: str = "Was the building destroyed between the two images? (rubble, collapsed roof & walls)",
) -> list[dict]:
    return [{"task": task, "task_label": label, "value": value}]


def point_marks(frames: list[int], v2: bool = False) -> list[dict]:
    """A point tool's marks on a flipbook's frames, as the classic (PFE) or the new (FEM, v2) classifier saves."""
    if v2:
        return [
            {"frame": f, "toolIndex": 0, "toolType": "point", "x": 128.5 + f, "y": 131.25, "details": []}
            for f in frames
        ]
    return [
        {"x": 128.5 + f, "y": 131.25, "tool": 0, "frame": f, "details": [], "tool_label": "Destroyed"} for f in frames
    ]


def timeline_annotation(frames: list[int], task: str = "T0", v2: bool = False) -> list[dict]:
    return [
        {
            "task": task,
            "task_label": "Go through the images and mark the building on the first image "
            "where you see it destroyed. Mark nothing if it never is.",
            "value": point_marks(frames, v2),
        }
    ]


# ------------------------------------------------------------------------------------------------- PyBossa
def flatten(record: dict, prefix: str = "") -> dict:
    """flatten_json's ``flatten``: nested keys joined by ``_``, list items by their index."""
    out: dict = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}_"))
        elif isinstance(value, list) and value:
            out.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}_"))
        else:
            out[name] = value
    return out


def task_run(
    run_id: int,
    task_id: int,
    user_id: int | None,
    user_ip: str | None,
    finish: pd.Timestamp,
    info: dict,
    project_id: int = 7,
) -> dict:
    """A task run's ``dictize()``: the model's columns in table order, then ``info``."""
    created = finish - pd.Timedelta(seconds=41.5)
    return {
        "id": run_id,
        "created": created.isoformat(),
        "project_id": project_id,
        "task_id": task_id,
        "user_id": user_id,
        "user_ip": user_ip,
        "finish_time": finish.isoformat(),
        "timeout": None,
        "calibration": None,
        "external_uid": None,
        "media_url": None,
        "info": info,
    }


def write_pybossa_csv(path: Path, runs: list[dict]) -> Path:
    pd.DataFrame([flatten(run) for run in runs]).to_csv(path, index=False, encoding="utf-8")
    return path


def write_pybossa_json(path: Path, runs: list[dict]) -> Path:
    path.write_text(json.dumps(runs))
    return path


# ------------------------------------------------------------------------------------------------- MapSwipe
def write_mapswipe(path: Path, rows: list[dict]) -> Path:
    """Postgres COPY's CSV, read and written again by pandas (index kept), gzipped."""
    copy = io.StringIO()
    writer = csv.writer(copy, lineterminator="\n")
    writer.writerow(MAPSWIPE_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in MAPSWIPE_COLUMNS])
    copy.seek(0)
    frame = pd.read_csv(copy)
    with gzip.open(path, "wb") as fh:
        fh.write(frame.to_csv().encode("utf-8"))
    return path


def mapswipe_row(
    project_id: str,
    group_id: str,
    user_id: str | None,
    task_id: object,
    start: pd.Timestamp,
    result: int,
    username: str = "unknown",
) -> dict:
    def postgres(time: pd.Timestamp) -> str:  # Postgres prints a timestamp's fraction without trailing zeros
        return time.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")

    stamp, end = postgres(start), postgres(start + pd.Timedelta(seconds=74))
    return {
        "project_id": project_id,
        "group_id": group_id,
        "user_id": user_id,
        "task_id": task_id,
        "timestamp": stamp,
        "start_time": stamp,
        "end_time": end,
        "app_version": "2.2.5",
        "client_type": "web",
        "result": result,
        "username": username,
    }


# ------------------------------------------------------------------------------------------------- campaigns
def spelled(answers: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Yes/No/Can't tell labels for a destroyed column, spelled as volunteers' platforms vary them."""
    cant = np.array(["Can't tell", "Can\u2019t tell", "CAN'T TELL", "cant tell"], dtype=object)
    out = np.where(answers.fillna(False).to_numpy(dtype=bool), "Yes", "No").astype(object)
    na = answers.isna().to_numpy()
    out[na] = cant[rng.integers(0, len(cant), na.sum())]
    return out


def visible_frames(simulation: Any) -> dict[int, np.ndarray]:
    """Each building's usable images (not hidden by clouds): the frames of its timeline subject."""
    usable = simulation.visibility >= simulation.scenario.imagery.hidden_visibility
    dates = simulation.image_dates.to_numpy(dtype="datetime64[ns]")
    return {int(b): dates[usable[i]] for i, b in enumerate(simulation.buildings["building_id"])}


# ------------------------------------------------------------------------------------------------- fixtures
FIXTURES = Path(__file__).parent / "data" / "platforms"
CATALOGUE = ("2017-05-30", "2017-06-04", "2017-06-16", "2017-07-20", "2017-08-15", "2017-10-12")


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def zooniverse_question_fixture() -> list[dict]:
    """Rows of the question fixture; the comment after each says what the reader must make of it."""
    wf, name, v = 123, "Raqqa: destroyed between two images?", "16.55"
    s1 = {71001: {"#building_id": "12", "#before": "2017-06-04", "#after": "2017-06-16", "Filename": "b12_1.png"}}
    s2 = {71002: {"#building_id": "13", "#before": "", "#after": "2017-07-20", "Filename": "b13.png"}}
    yes, no = question_annotation("Yes"), question_annotation("No")
    return [
        zooniverse_row(500001, "anna_k", "a1b2c3d4e5f6a7b8c9d0", wf, name, v, _t("2019-01-10 10:00:00"), yes, s1, 1001),
        zooniverse_row(500002, None, "3f2a9c0d1e2f3a4b5c6d", wf, name, v, _t("2019-01-10 10:00:05"), no, s1),
        zooniverse_row(
            500003,
            "ben.r",
            "b1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:01:00"),
            question_annotation("Can\u2019t tell"),
            s2,
            1002,
        ),
        # anna again on the same subject, later: a duplicate of row 0
        zooniverse_row(500004, "anna_k", "a1b2c3d4e5f6a7b8c9d0", wf, name, v, _t("2019-01-10 10:02:00"), no, s1, 1001),
        zooniverse_row(
            500005, "carla", "c1b2c3d4e5f6a7b8c9d0", 124, "Tutorial", "2.1", _t("2019-01-10 10:03:00"), yes, s1, 1003
        ),
        zooniverse_row(
            500006, "carla", "c1b2c3d4e5f6a7b8c9d0", wf, name, "16.5", _t("2019-01-10 10:04:00"), yes, s1, 1003
        ),
        zooniverse_row(
            500007,
            "carla",
            "c1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:05:00"),
            yes,
            {71003: {"Filename": "b99.png"}},
            1003,
        ),
        zooniverse_row(
            500008,
            "dan",
            "d1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:06:00"),
            '[{"task":"T0","task_label":"Was it destroyed?","value":"Ye',
            s1,
            1004,
        ),
        zooniverse_row(
            500009, "dan", "d1b2c3d4e5f6a7b8c9d0", wf, name, v, _t("2019-01-10 10:07:00"), yes, {**s1, **s2}, 1004
        ),
        zooniverse_row(
            500010,
            "erin",
            "e1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:08:00"),
            question_annotation("Maybe"),
            s1,
            1005,
        ),
        zooniverse_row(
            500011,
            "erin",
            "e1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:09:00"),
            yes,
            {71004: {"#building_id": "14", "#before": "2017-06-16", "#after": "2017-09-01"}},
            1005,
        ),
        zooniverse_row(
            500012,
            "frank",
            "f1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:10:00"),
            yes,
            {71005: {"#building_id": "15", "#before": "2017-08-15", "#after": "2017-06-16"}},
            1006,
        ),
        zooniverse_row(
            500013,
            "gina",
            "g1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:11:00"),
            yes,
            {71006: {"!building_id": "16", "#before": "", "#after": "20/07/2017"}},
            1007,
        ),
        zooniverse_row(
            500014,
            "hal",
            "h1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:12:00"),
            question_annotation("CAN'T TELL"),
            s2,
            1008,
        ),
        zooniverse_row(
            500015,
            "ivan",
            "i1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:13:00"),
            question_annotation("Yes", task="T1", label="Any smoke?"),
            s1,
            1009,
        ),
        zooniverse_row(
            500016,
            "judy",
            "j1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:14:00"),
            question_annotation("No"),
            {71007: {"building_id": 17, "before": "2017-06-16", "after": "2017-07-20"}},
            1010,
        ),
        zooniverse_row(
            500017,
            "judy",
            "j1b2c3d4e5f6a7b8c9d0",
            wf,
            name,
            v,
            _t("2019-01-10 10:15:00"),
            yes,
            {71008: {"#building_id": "18", "#before": "2017-06-04"}},
            1010,
        ),
    ]


def zooniverse_timeline_fixture() -> list[dict]:
    wf, name, v = 200, "Raqqa: timeline", "3.1"
    s1 = {
        81001: {
            "#building_id": "21",
            "#dates": "2017-05-30;2017-06-04;2017-06-16;2017-07-20",
            "image_0": "b21_0.png",
            "image_1": "b21_1.png",
            "image_2": "b21_2.png",
            "image_3": "b21_3.png",
        }
    }
    return [
        zooniverse_row(
            600001, "anna_k", "a1", wf, name, v, _t("2019-02-01 09:00:00"), timeline_annotation([2]), s1, 1001
        ),
        zooniverse_row(
            600002, "ben.r", "b1", wf, name, v, _t("2019-02-01 09:01:00"), timeline_annotation([3, 1]), s1, 1002
        ),
        zooniverse_row(600003, None, "77aa01", wf, name, v, _t("2019-02-01 09:02:00"), timeline_annotation([]), s1),
        zooniverse_row(
            600004, "carla", "c1", wf, name, v, _t("2019-02-01 09:03:00"), timeline_annotation([0], v2=True), s1, 1003
        ),
        zooniverse_row(600005, "dan", "d1", wf, name, v, _t("2019-02-01 09:04:00"), timeline_annotation([7]), s1, 1004),
        zooniverse_row(
            600006,
            "erin",
            "e1",
            wf,
            name,
            v,
            _t("2019-02-01 09:05:00"),
            timeline_annotation([0]),
            {81002: {"#building_id": "22", "#dates": "2017-06-16;2017-06-04"}},
            1005,
        ),
        zooniverse_row(
            600007,
            "frank",
            "f1",
            wf,
            name,
            v,
            _t("2019-02-01 09:06:00"),
            [{"task": "T0", "task_label": "Mark it", "value": "Yes"}],
            s1,
            1006,
        ),
        zooniverse_row(
            600008,
            "gina",
            "g1",
            wf,
            name,
            v,
            _t("2019-02-01 09:07:00"),
            timeline_annotation([1]),
            {81003: {"!building_id": 23, "!dates": ["2017-06-04", "2017-07-20"]}},
            1007,
        ),
    ]


def pybossa_fixture() -> list[dict]:
    def info(building: object, before: object, after: object, answer: object) -> dict:
        out = {"building_id": building, "before": before, "after": after, "answer": answer}
        return {k: val for k, val in out.items() if val is not ...}

    return [
        task_run(101, 11, 5, None, _t("2017-11-20 10:33:21.123456"), info(12, "2017-06-04", "2017-06-16", "Yes")),
        task_run(102, 11, None, "10.1.2.3", _t("2017-11-20 10:34:02.5"), info(12, "2017-06-04", "2017-06-16", "No")),
        task_run(103, 12, 6, None, _t("2017-11-20 10:35:00.000001"), info(13, None, "2017-07-20", "Can't tell")),
        task_run(104, 11, 5, None, _t("2017-11-21 08:00:00.25"), info(12, "2017-06-04", "2017-06-16", "No")),
        task_run(105, 13, 7, None, _t("2017-11-21 08:01:00.5"), info(14, "2017-06-04", "2017-06-16", "perhaps")),
        task_run(106, 14, None, None, _t("2017-11-21 08:02:00.5"), info(15, "2017-06-04", "2017-06-16", "Yes")),
        task_run(107, 15, 8, None, _t("2017-11-21 08:03:00.5"), info(..., "2017-06-04", "2017-06-16", "Yes")),
        task_run(108, 16, 8, None, _t("2017-11-21 08:04:00.5"), info(17, "2017-06-16", "2017-06-04", "Yes")),
        task_run(109, 17, 9, None, _t("2017-11-21 08:05:00.5"), info(18, "2017-06-04", "next week", "No")),
        task_run(110, 18, 9, None, _t("2017-11-21 08:06:00.5"), info(19, "2017-06-04", None, "No")),
    ]


def mapswipe_fixture() -> list[dict]:
    p, g = "-MRaqqa01", "g101"
    return [
        mapswipe_row(p, g, "Hq3kV0aPz2Xb1", 12, _t("2021-03-01 10:00:00.125"), 1, "anna_k"),
        mapswipe_row(p, g, "Lm9sT4cQw7Ye2", 12, _t("2021-03-01 10:05:00.250"), 0),
        mapswipe_row(p, g, "Zx8rU5dRv6Wf3", 13, _t("2021-03-01 10:06:00.375"), 2, "carla"),
        mapswipe_row(p, g, "Pq7eI6fTu5Vg4", 13, _t("2021-03-01 10:07:00.500"), 3, "dan"),
        mapswipe_row(p, g, "Lm9sT4cQw7Ye2", 12, _t("2021-03-02 11:00:00.000"), 1),
        mapswipe_row(p, g, "Ab1cD2eF3gH4i", 14, _t("2021-03-02 11:01:00.000"), 5, "erin"),
        mapswipe_row(p, g, None, 14, _t("2021-03-02 11:02:00.000"), 1),
    ]


def write_fixtures(folder: Path = FIXTURES) -> None:
    """(Re)write the fixture files of tests/data/platforms."""
    folder.mkdir(parents=True, exist_ok=True)
    question = zooniverse_question_fixture()
    write_zooniverse(folder / "zooniverse_question.csv", question)
    write_zooniverse(folder / "zooniverse_question_bom_crlf.csv", question, bom=True, line_end="\r\n")
    write_zooniverse(
        folder / "zooniverse_question_utf16.txt", question, encoding="utf-16", delimiter="\t", line_end="\r\n"
    )
    write_zooniverse(folder / "zooniverse_timeline.csv", zooniverse_timeline_fixture())
    runs = pybossa_fixture()
    write_pybossa_csv(folder / "pybossa_task_run.csv", runs)
    write_pybossa_json(folder / "pybossa_task_run.json", runs)
    write_mapswipe(folder / "results_-MRaqqa01.csv.gz", mapswipe_fixture())
    (folder / "images.csv").write_text("image_date\n" + "\n".join(CATALOGUE) + "\n")


if __name__ == "__main__":
    write_fixtures()


# ------------------------------------------------------------------------------------------------- campaigns
@dataclass
class Export:
    """A campaign written as a platform export: its rows, the label table they stand for (volunteer ids as the
    platform names them) and the reason each injected bad row must be rejected with (row -> reason)."""

    rows: list[dict]
    labels: pd.DataFrame
    expected: dict[int, str] = field(default_factory=dict)
    anonymous_answers: int = 0


def _records(labels: pd.DataFrame) -> list[tuple]:
    """(building, volunteer, before, after, destroyed) per label row, as plain Python values."""
    return list(
        zip(
            labels["building_id"].astype(int).tolist(),
            labels["volunteer_id"].astype(int).tolist(),
            labels["before"].to_numpy(dtype="datetime64[ns]"),
            labels["after"].to_numpy(dtype="datetime64[ns]"),
            labels["destroyed"].astype(object).tolist(),
            strict=True,
        )
    )


def volunteer_names(
    volunteer_ids: np.ndarray, rng: np.random.Generator, anonymous_share: float = 0.15
) -> dict[int, str | None]:
    """A Zooniverse login per volunteer; None for the share who classify without logging in."""
    ids = np.unique(volunteer_ids)
    anonymous = rng.random(len(ids)) < anonymous_share
    return {int(v): None if a else f"volunteer_{int(v)}" for v, a in zip(ids, anonymous, strict=True)}


def _ip(volunteer: int) -> str:
    return hashlib.sha256(f"ip-{volunteer}".encode()).hexdigest()[:20]


def zooniverse_campaign(timeline: Any, compare: Any, seed: int = 0) -> tuple[Export, Export, list[dict]]:
    """Both simulated campaigns as one Zooniverse project: a timeline workflow (101, version 16.55) and a
    question workflow (102, version 3.1), plus what real exports also hold: a tutorial workflow, an older
    version, repeated classifications and broken rows. Returns the two workflows' exports (their ``rows``
    are the same list of all rows) and that list."""
    rng = np.random.default_rng(seed)
    names = volunteer_names(np.r_[timeline.labels["volunteer_id"], compare.labels["volunteer_id"]], rng)
    frames = visible_frames(timeline)
    clock = iter(pd.date_range("2019-03-01 08:00:00", periods=10**6, freq="7s"))
    rows: list[dict] = []
    expect_t: dict[int, str] = {}
    expect_q: dict[int, str] = {}
    used_t: list[int] = []  # label rows in the order their classification is used
    used_q: list[int] = []

    def user(volunteer: int) -> tuple[str | None, str, int]:
        return names[volunteer], _ip(volunteer), 10_000 + volunteer

    def add(row: dict, t_reason: str | None, q_reason: str | None) -> None:
        position = len(rows)
        rows.append(row)
        wf = row["workflow_id"]
        expect_t.update({position: t_reason} if t_reason else {} if wf == 101 else {position: "other_workflow"})
        expect_q.update({position: q_reason} if q_reason else {} if wf == 102 else {position: "other_workflow"})

    t_labels = timeline.labels.reset_index(drop=True)
    t_records = _records(t_labels)
    subject_t = {b: 900_000 + b for b in frames}
    meta_t = {
        b: {
            "#building_id": str(b),
            "#dates": ";".join(str(d)[:10] for d in dates),
            **{f"image_{k}": f"b{b}_{str(d)[:10]}.png" for k, d in enumerate(dates)},
        }
        for b, dates in frames.items()
    }

    def timeline_row(i: int, when: pd.Timestamp, frames_marked: list[int] | None = None) -> dict:
        b, v, _, after, destroyed = t_records[i]
        if frames_marked is None:
            frames_marked = [int(np.searchsorted(frames[b], after))] if destroyed else []
        meta = meta_t[b]
        name, ip, uid = user(v)
        return zooniverse_row(
            len(rows) + 1,
            name,
            ip,
            101,
            "Raqqa timeline",
            "16.55",
            when,
            timeline_annotation(frames_marked, v2=bool(i % 3 == 0)),
            {subject_t[b]: meta},
            uid,
        )

    for i in range(len(t_labels)):
        add(timeline_row(i, next(clock)), None, None)
        used_t.append(i)

    q_labels = compare.labels.reset_index(drop=True)
    questions = q_labels[["building_id", "before", "after"]].astype(str)
    subject_q = pd.factorize(questions.apply(tuple, axis=1))[0] + 700_000
    answers = spelled(q_labels["destroyed"], rng)

    q_records = _records(q_labels)

    def question_row(
        i: int, when: pd.Timestamp, answer: str | None = None, after: str | None = None, version: str = "3.1"
    ) -> dict:
        b, v, before_date, after_date, _ = q_records[i]
        before = "" if np.isnat(before_date) else str(before_date)[:10]
        meta = {
            "#building_id": str(b),
            "#before": before,
            "#after": after or str(after_date)[:10],
            "image_before": f"b{b}_{before}.png" if before else "",
            "image_after": f"b{b}.png",
        }
        name, ip, uid = user(v)
        return zooniverse_row(
            len(rows) + 1,
            name,
            ip,
            102,
            "Raqqa: destroyed between?",
            version,
            when,
            question_annotation(answer or answers[i]),
            {int(subject_q[i]): meta},
            uid,
        )

    for i in range(len(q_labels)):
        add(question_row(i, next(clock)), None, None)
        used_q.append(i)

    # what else a real export holds
    later = pd.Timestamp("2019-06-01 12:00:00")
    for i in rng.choice(len(t_labels), 25, replace=False):  # a repeated classification, later, other answer
        add(timeline_row(int(i), later + pd.Timedelta(minutes=int(i)), [0]), "duplicate", None)
    for i in rng.choice(len(q_labels), 25, replace=False):
        flipped = "No" if answers[i] == "Yes" else "Yes"
        add(question_row(int(i), later + pd.Timedelta(minutes=int(i)), flipped), None, "duplicate")
    for i in rng.choice(len(q_labels), 5, replace=False):  # the same answer again, earlier: it is the first
        original = used_q.index(int(i))
        first_row = len(t_labels) + original
        add(question_row(int(i), pd.Timestamp("2019-02-01 00:00:00")), None, None)
        expect_q[first_row] = "duplicate"
    for k in range(40):  # the project's tutorial workflow
        rows.append(
            zooniverse_row(
                len(rows) + 1,
                f"volunteer_{k}",
                _ip(k),
                999,
                "Tutorial",
                "1.1",
                next(clock),
                question_annotation("Yes", label="Is this a building?"),
                {500 + k: {"#n": k}},
                k,
            )
        )
        expect_t[len(rows) - 1] = expect_q[len(rows) - 1] = "other_workflow"
    for i in rng.choice(len(t_labels), 15, replace=False):  # before the workflow's last edit
        row = timeline_row(int(i), next(clock))
        row["workflow_version"] = "16.5"
        add(row, "other_version", None)
    for i in rng.choice(len(q_labels), 5, replace=False):
        row = question_row(int(i), next(clock))
        row["annotations"] = row["annotations"][: len(row["annotations"]) // 2]
        add(row, None, "bad_json")
    for i in rng.choice(len(q_labels), 4, replace=False):
        add(question_row(int(i), next(clock), "Maybe"), None, "unknown_answer")
    for i in rng.choice(len(q_labels), 3, replace=False):
        add(question_row(int(i), next(clock), after="2017-09-03"), None, "date_not_in_catalogue")
    for i in rng.choice(len(q_labels), 3, replace=False):
        row = question_row(int(i), next(clock))
        row["subject_data"] = rails_json({row["subject_ids"]: {"retired": None, "Filename": "x.png"}})
        add(row, None, "no_building")
    for i in rng.choice(len(t_labels), 2, replace=False):
        add(timeline_row(int(i), next(clock), [99]), "bad_frame", None)
    for i in rng.choice(len(q_labels), 2, replace=False):
        row = question_row(int(i), next(clock))
        subjects = json.loads(row["subject_data"])
        subjects["123"] = {"retired": None, "#building_id": "1", "#after": "2017-06-18"}
        row["subject_data"], row["subject_ids"] = rails_json(subjects), ";".join(subjects)
        add(row, None, "several_subjects")

    def named(labels: pd.DataFrame, order: list[int]) -> pd.DataFrame:
        out = labels.loc[order, ["building_id", "volunteer_id", "before", "after", "destroyed", "task"]].copy()
        out["volunteer_id"] = [names[v] or f"not-logged-in-{_ip(v)}" for v in out["volunteer_id"]]
        return out.reset_index(drop=True)

    anonymous_t = sum(names[int(v)] is None for v in t_labels["volunteer_id"])
    anonymous_q = sum(names[int(v)] is None for v in q_labels["volunteer_id"])
    return (
        Export(rows, named(t_labels, used_t), expect_t, anonymous_t),
        Export(rows, named(q_labels, used_q), expect_q, anonymous_q),
        rows,
    )


def pybossa_campaign(compare: Any, seed: int = 0) -> Export:
    """A compare campaign as PyBossa task runs (one task per question), with anonymous volunteers (no user_id,
    a user_ip), repeated task runs and broken ones."""
    rng = np.random.default_rng(seed)
    labels = compare.labels.reset_index(drop=True)
    ids = np.unique(labels["volunteer_id"])
    anonymous = dict(zip(ids.tolist(), (rng.random(len(ids)) < 0.15).tolist(), strict=True))
    questions = labels[["building_id", "before", "after"]].astype(str)
    task_ids = pd.factorize(questions.apply(tuple, axis=1))[0] + 1
    answers = spelled(labels["destroyed"], rng)
    clock = iter(pd.date_range("2017-11-20 08:00:00.123456", periods=10**6, freq="3s"))
    runs: list[dict] = []
    expected: dict[int, str] = {}

    records = _records(labels)

    def run(i: int, when: pd.Timestamp, **changes: Any) -> dict:
        b, v, before, after, _ = records[i]
        info = {
            "building_id": b,
            "before": None if np.isnat(before) else str(before)[:10],
            "after": str(after)[:10],
            "answer": answers[i],
            "seconds": 12,
        }
        info.update(changes)
        user_id, ip = (None, f"10.{v // 256}.{v % 256}.7") if anonymous[v] else (v, None)
        return task_run(len(runs) + 1, int(task_ids[i]), user_id, ip, when, info)

    for i in range(len(labels)):
        runs.append(run(i, next(clock)))
    for i in rng.choice(len(labels), 20, replace=False):
        runs.append(run(int(i), next(clock), answer="No" if answers[i] == "Yes" else "Yes"))
        expected[len(runs) - 1] = "duplicate"
    for reason, changes in (
        ("unknown_answer", {"answer": "dunno"}),
        ("no_building", {"building_id": None}),
        ("bad_date", {"after": "20/07/2017"}),
        ("no_answer", {"answer": ""}),
    ):
        for i in rng.choice(len(labels), 3, replace=False):
            runs.append(run(int(i), next(clock), **changes))
            expected[len(runs) - 1] = reason
    nobody = run(0, next(clock))
    nobody["user_id"] = nobody["user_ip"] = None
    runs.append(nobody)
    expected[len(runs) - 1] = "no_volunteer"
    out = labels[["building_id", "volunteer_id", "before", "after", "destroyed", "task"]].copy()
    out["volunteer_id"] = [f"10.{v // 256}.{v % 256}.7" if anonymous[v] else str(v) for v in out["volunteer_id"]]
    return Export(runs, out, expected, int(sum(anonymous[int(v)] for v in labels["volunteer_id"])))


def mapswipe_campaign(compare: Any, n_projects: int = 4, seed: int = 0) -> list[tuple[Export, object, object]]:
    """The compare answers about the most asked image pairs (and the most asked single image), one MapSwipe
    project each, with repeated and broken results. Returns each project's export with its before and after."""
    rng = np.random.default_rng(seed)
    labels = compare.labels.reset_index(drop=True)
    pair = labels["before"].dt.strftime("%Y-%m-%d").fillna("NaT") + "|" + labels["after"].dt.strftime("%Y-%m-%d")
    pairs = pair[labels["before"].notna()].value_counts().index[:n_projects].tolist()
    pairs += pair[labels["before"].isna()].value_counts().index[:1].tolist()
    out = []
    for k, chosen in enumerate(pairs):
        subset = labels[pair == chosen]
        project = f"-MRaqqa{k:02d}"
        clock = iter(pd.date_range("2021-03-01 10:00:00.125", periods=10**5, freq="1250ms"))
        result = np.where(subset["destroyed"].fillna(False).to_numpy(dtype=bool), 1, 0)
        result[subset["destroyed"].isna().to_numpy()] = rng.choice([2, 3], subset["destroyed"].isna().sum())
        rows = [
            mapswipe_row(project, f"g{b % 7}", f"uid{v:05d}", int(b), next(clock), int(r))
            for b, v, r in zip(subset["building_id"], subset["volunteer_id"], result, strict=True)
        ]
        expected: dict[int, str] = {}
        for j in rng.choice(len(rows), min(3, len(rows)), replace=False):
            rows.append(
                {
                    **rows[j],
                    "result": 1 - rows[j]["result"] if rows[j]["result"] < 2 else 0,
                    "timestamp": "2021-04-01 00:00:00",
                }
            )
            expected[len(rows) - 1] = "duplicate"
        rows.append({**rows[0], "result": 4})
        expected[len(rows) - 1] = "unknown_answer"
        rows.append({**rows[0], "user_id": None})
        expected[len(rows) - 1] = "no_volunteer"
        table = subset[["building_id", "volunteer_id", "before", "after", "destroyed", "task"]].copy()
        table["volunteer_id"] = [f"uid{v:05d}" for v in table["volunteer_id"]]
        before, after = chosen.split("|")
        out.append((Export(rows, table.reset_index(drop=True), expected), None if before == "NaT" else before, after))
    return out
