"""Platform exports in: Zooniverse, PyBossa and MapSwipe files read into the label table.

Known answers on fixtures written as each platform writes its exports (tests/data/platforms, see its README),
every rejection reason, duplicates, anonymous volunteers, and the end-to-end check: a simulated campaign
exported as each platform would, imported, gives the consensus of its label table.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from platform_exports import (
    FIXTURES,
    mapswipe_campaign,
    pybossa_campaign,
    timeline_annotation,
    write_mapswipe,
    write_pybossa_csv,
    write_pybossa_json,
    write_zooniverse,
    zooniverse_campaign,
    zooniverse_question_fixture,
    zooniverse_row,
)

import stracker
from stracker.cli import cli
from stracker.errors import FileFormatError, PlatformExportError
from stracker.platforms import REASONS, AnswerLabels, read_mapswipe, read_pybossa, read_zooniverse
from stracker.platforms.zooniverse import WorkflowVersions

CATALOGUE = pd.read_csv(FIXTURES / "images.csv")
D = pd.Timestamp
NAT = pd.NaT


def table(rows: list[tuple]) -> pd.DataFrame:
    """Expected label rows: (row, building, volunteer, before, after, destroyed, task)."""
    frame = pd.DataFrame(rows, columns=["row", "building_id", "volunteer_id", "before", "after", "destroyed", "task"])
    for name in ("before", "after"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    frame["destroyed"] = frame["destroyed"].astype("boolean")
    return frame.set_index("row")


def assert_labels(labels: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = labels.copy()
    got["task"] = got["task"].astype(str)
    got["volunteer_id"] = got["volunteer_id"].astype(object)
    expected = expected.copy()
    expected["volunteer_id"] = expected["volunteer_id"].astype(object)
    pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_dtype=False)
    assert labels["destroyed"].dtype == "boolean"
    assert str(labels["before"].dtype) == str(labels["after"].dtype) == "datetime64[ns]"


def reasons(answers: stracker.platforms.ImportedAnswers) -> dict[int, str]:
    return dict(zip(answers.rejected["row"].tolist(), answers.rejected["reason"].tolist(), strict=True))


def assert_every_row_once(answers: stracker.platforms.ImportedAnswers) -> None:
    used = answers.labels.index.to_numpy()
    rejected = answers.rejected["row"].to_numpy()
    rows = np.sort(np.r_[used, rejected])
    assert rows.tolist() == list(range(answers.summary["rows_read"]))
    assert answers.summary["rows_used"] == len(used) and answers.summary["rows_rejected"] == len(rejected)
    assert sum(answers.summary["rejected"].values()) == len(rejected)


# ------------------------------------------------------------------------------------------------- Zooniverse
QUESTION_LABELS = table(
    [
        (0, 12, "anna_k", "2017-06-04", "2017-06-16", True, "compare"),
        (1, 12, "not-logged-in-3f2a9c0d1e2f3a4b5c6d", "2017-06-04", "2017-06-16", False, "compare"),
        (2, 13, "ben.r", None, "2017-07-20", None, "compare"),
        (13, 13, "hal", None, "2017-07-20", None, "compare"),
        (15, 17, "judy", "2017-06-16", "2017-07-20", False, "compare"),
    ]
)
QUESTION_REJECTED = {
    3: "duplicate",
    4: "other_workflow",
    5: "other_version",
    6: "no_building",
    7: "bad_json",
    8: "several_subjects",
    9: "unknown_answer",
    10: "date_not_in_catalogue",
    11: "dates_out_of_order",
    12: "bad_date",
    14: "no_answer",
    16: "no_dates",
}


@pytest.mark.parametrize(
    "name", ["zooniverse_question.csv", "zooniverse_question_bom_crlf.csv", "zooniverse_question_utf16.txt"]
)
def test_zooniverse_question_fixture_known_answers(name):
    answers = read_zooniverse(
        FIXTURES / name, workflow_id=123, workflow_version="16.55", task_key="T0", image_dates=CATALOGUE
    )
    assert_labels(answers.labels, QUESTION_LABELS)
    assert reasons(answers) == QUESTION_REJECTED
    assert_every_row_once(answers)
    rejected = answers.rejected.set_index("row")
    assert rejected.loc[3, "detail"] == "repeats row 0 (classification 500001)"
    assert rejected.loc[5, "detail"] == "version 16.5"
    assert rejected.loc[9, "detail"] == "Maybe"
    assert rejected.loc[10, "detail"] == "after 2017-09-01"
    assert rejected.loc[12, "detail"] == "#after 20/07/2017"
    assert rejected.loc[7, "classification_id"] == "500008" and rejected.loc[7, "user_name"] == "dan"
    summary = answers.summary
    assert summary["anonymous_answers"] == 1 and summary["anonymous_volunteers"] == 1
    assert summary["duplicates"] == 1 and summary["answers"] == {"yes": 1, "no": 2, "cant_tell": 2}
    assert summary["rows_read"] == 17 and summary["workflow_versions_used"] == ["16.55"]
    json.dumps(summary)


def test_zooniverse_cells_are_quoted_as_ruby_writes_them():
    text = (FIXTURES / "zooniverse_question.csv").read_text(encoding="utf-8")
    assert '"[{""task"":""T0"",""task_label"":""Was the building destroyed' in text
    assert "\\u0026 walls" in text  # Rails escapes & in JSON
    assert (FIXTURES / "zooniverse_question_bom_crlf.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (FIXTURES / "zooniverse_question_utf16.txt").read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")


def test_zooniverse_timeline_fixture_known_answers():
    answers = read_zooniverse(FIXTURES / "zooniverse_timeline.csv", image_dates=CATALOGUE)
    assert_labels(
        answers.labels,
        table(
            [
                (0, 21, "anna_k", "2017-06-04", "2017-06-16", True, "timeline"),  # mark on frame 2
                (1, 21, "ben.r", "2017-05-30", "2017-06-04", True, "timeline"),  # frames 3 and 1: the first counts
                (2, 21, "not-logged-in-77aa01", None, "2017-07-20", False, "timeline"),  # no mark: intact at the last
                (3, 21, "carla", None, "2017-05-30", True, "timeline"),  # the new classifier's marks, frame 0
                (7, 23, "gina", "2017-06-04", "2017-07-20", True, "timeline"),  # !-keys and a JSON list of dates
            ]
        ),
    )
    assert reasons(answers) == {4: "bad_frame", 5: "dates_out_of_order", 6: "unknown_answer"}
    assert answers.summary["workflow_id"] == "200" and answers.summary["task_key"] == "T0"
    assert_every_row_once(answers)


def test_real_panoptes_export_reads_and_says_why_it_is_not_stracker_subjects():
    # cls_export.csv from zooniverse/aggregation-for-caesar: a real export of another project
    answers = read_zooniverse(
        FIXTURES / "zooniverse_panoptes_aggregation_cls_export.csv", task_key="T0", workflow_version="16.55"
    )
    assert answers.labels.empty and list(answers.labels.columns) == list(QUESTION_LABELS.reset_index().columns[1:])
    assert set(answers.rejected["reason"]) == {"no_building"}
    assert answers.rejected["detail"].iloc[0] == "subject 96588114 has no #building_id"
    assert answers.rejected["user_name"].iloc[0] == "not-logged-in-b644753d0e3948f81dc2"
    assert_every_row_once(answers)


def test_zooniverse_duplicates_all_keeps_the_repeats_and_counts_them():
    first = read_zooniverse(
        FIXTURES / "zooniverse_question.csv", workflow_id=123, workflow_version="16.55", task_key="T0"
    )
    every = read_zooniverse(
        FIXTURES / "zooniverse_question.csv", workflow_id=123, workflow_version="16.55", task_key="T0", duplicates="all"
    )
    assert 3 in every.labels.index and 3 not in first.labels.index
    assert every.labels.loc[3, "destroyed"] == False  # noqa: E712 (a nullable boolean)
    assert every.summary["duplicates"] == first.summary["duplicates"] == 1
    assert "duplicate" not in every.summary["rejected"]


def test_zooniverse_first_is_the_earliest_classification_not_the_first_row(tmp_path):
    rows = zooniverse_question_fixture()[:2]
    late = dict(rows[0], created_at="2019-01-10 12:00:00 UTC", classification_id=9)
    early = dict(
        rows[0], created_at="2019-01-09 12:00:00 UTC", classification_id=8, annotations=rows[1]["annotations"]
    )  # the same volunteer and subject, a day earlier, "No"
    path = write_zooniverse(tmp_path / "c.csv", [late, early])
    answers = read_zooniverse(path)
    assert answers.labels.index.tolist() == [1] and answers.labels["destroyed"].tolist() == [False]
    assert reasons(answers) == {0: "duplicate"}
    assert answers.rejected["detail"].iloc[0] == "repeats row 1 (classification 8)"


def test_workflow_versions_compare_as_numbers():
    versions = pd.Series(["16.55", "16.5", "16.100", "17.1", "16", "x"])
    assert WorkflowVersions.parse("16.55").matches(versions).tolist() == [True, False, False, False, False, False]
    assert WorkflowVersions.parse("16.5").matches(versions).tolist() == [False, True, False, False, False, False]
    assert WorkflowVersions.parse("16").matches(versions).tolist() == [True, True, True, False, True, False]
    assert WorkflowVersions.parse(">=16.55").matches(versions).tolist() == [True, False, True, True, False, False]
    with pytest.raises(PlatformExportError, match=r"major\.minor"):
        WorkflowVersions.parse("v16")


def test_zooniverse_refuses_what_it_cannot_choose(tmp_path):
    path = FIXTURES / "zooniverse_question.csv"
    with pytest.raises(PlatformExportError, match=r"several workflows: 123 .* \(16 rows\); 124 'Tutorial'"):
        read_zooniverse(path)
    with pytest.raises(PlatformExportError, match="no classification of workflow 999"):
        read_zooniverse(path, workflow_id=999)
    with pytest.raises(PlatformExportError, match=r"no classification of version 17.1; its versions are \['16.5'"):
        read_zooniverse(path, workflow_id=123, workflow_version="17.1")
    with pytest.raises(PlatformExportError, match=r"several tasks: T0 .*T1 \(.Any smoke"):
        read_zooniverse(path, workflow_id=123)
    with pytest.raises(PlatformExportError, match="no task 'T7'"):
        read_zooniverse(path, workflow_id=123, task_key="T7")
    broken = tmp_path / "broken.csv"
    broken.write_text(path.read_text().replace("subject_data", "subject_dta", 1))
    with pytest.raises(PlatformExportError, match="'subject_data' \\(the table has 'subject_dta'"):
        read_zooniverse(broken)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FileFormatError, match="is empty"):
        read_zooniverse(empty)


def test_zooniverse_several_files_are_numbered_on(tmp_path):
    rows = zooniverse_question_fixture()
    one = write_zooniverse(tmp_path / "part1.csv", rows[:8])
    two = write_zooniverse(tmp_path / "part2.csv", rows[8:], bom=True)
    split = read_zooniverse([one, two], workflow_id=123, workflow_version="16.55", task_key="T0", image_dates=CATALOGUE)
    assert_labels(split.labels, QUESTION_LABELS)
    assert reasons(split) == QUESTION_REJECTED
    assert split.rejected.set_index("row").loc[[3, 9], "file"].tolist() == [str(one), str(two)]


def test_custom_labels_and_their_conflicts(tmp_path):
    rows = zooniverse_question_fixture()
    path = write_zooniverse(tmp_path / "c.csv", rows)
    answers = read_zooniverse(path, workflow_id=123, task_key="T0", yes=["Yes", "maybe"])
    assert answers.labels.loc[9, "destroyed"] == True  # noqa: E712
    assert AnswerLabels(yes="Destroyed", no=["Intact", "Standing"]).lookup == {
        "destroyed": 1,
        "intact": 0,
        "standing": 0,
        "cant tell": -1,
    }
    with pytest.raises(PlatformExportError, match="two meanings"):
        AnswerLabels(yes=["Yes", "Can’t tell"])
    with pytest.raises(PlatformExportError, match="no yes label"):
        AnswerLabels(yes=[])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=8, unique=True), min_size=1, max_size=10), st.data())
def test_timeline_marks_map_to_the_frames_around_them(tmp_path_factory, subjects, data):
    """Known answer for any subjects: a mark's before/after are the frames before it and at it; no mark is the
    last frame, intact."""
    rows, expected = [], []
    for k, days in enumerate(subjects):
        dates = sorted(D("2017-06-01") + pd.Timedelta(days=d) for d in days)
        marks = data.draw(st.lists(st.integers(0, len(dates) - 1), max_size=3))
        subject = {5000 + k: {"#building_id": str(k), "#dates": ";".join(str(d.date()) for d in dates)}}
        rows.append(
            zooniverse_row(k, "ann", "ip", 7, "t", "1.1", D("2019-01-01"), timeline_annotation(marks), subject, 3)
        )
        first = min(marks, default=None)
        expected.append(
            (
                k,
                "ann",
                dates[first - 1] if first else None,
                dates[-1 if first is None else first],
                first is not None,
                "timeline",
            )
        )
    path = write_zooniverse(tmp_path_factory.mktemp("t") / "c.csv", rows)
    labels = read_zooniverse(path).labels
    assert_labels(labels, table([(k, *row) for k, row in enumerate(expected)]))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.sampled_from(["'", "\u2019", "\u2018", "\u02bc", ""]),
    st.sampled_from([" ", "  ", "\t"]),
    st.sampled_from(["", " "]),
)
def test_cant_tell_matches_whatever_its_case_apostrophe_and_blanks(upper, apostrophe, gap, pad):
    text = "".join(c.upper() if u else c for c, u in zip("cant" + "tell", upper, strict=True))
    label = pad + text[:3] + apostrophe + text[3] + gap + text[4:] + pad
    assert AnswerLabels().encode(pd.Series([label, "Yes", "no", "perhaps"])).tolist() == [-1, 1, 0, -2]


def test_dates_with_a_time_zone_are_read_in_utc():
    from stracker.platforms.common import parse_dates

    dates, bad = parse_dates(
        pd.Series(
            ["2017-06-16T02:00:00+02:00", "2017-06-16T00:00:00Z", "2017-06-16", "2019-01-10 10:00:00 UTC", "next week"]
        )
    )
    assert [str(d) for d in dates[:4]] == ["2017-06-16T00:00:00.000000000"] * 3 + ["2019-01-10T10:00:00.000000000"]
    assert bad.tolist() == [False, False, False, False, True]


# ------------------------------------------------------------------------------------------------- PyBossa
PYBOSSA_LABELS = table(
    [
        (0, 12, "5", "2017-06-04", "2017-06-16", True, "compare"),
        (1, 12, "10.1.2.3", "2017-06-04", "2017-06-16", False, "compare"),
        (2, 13, "6", None, "2017-07-20", None, "compare"),
    ]
)
PYBOSSA_REJECTED = {
    3: "duplicate",
    4: "unknown_answer",
    5: "no_volunteer",
    6: "no_building",
    7: "dates_out_of_order",
    8: "bad_date",
    9: "no_dates",
}


@pytest.mark.parametrize("name", ["pybossa_task_run.csv", "pybossa_task_run.json"])
def test_pybossa_fixture_known_answers(name):
    answers = read_pybossa(FIXTURES / name, image_dates=CATALOGUE)
    assert_labels(answers.labels, PYBOSSA_LABELS)
    assert reasons(answers) == PYBOSSA_REJECTED
    assert answers.summary["anonymous_answers"] == 1 and answers.summary["duplicates"] == 1
    assert answers.rejected.set_index("row").loc[3, "detail"] == "repeats row 0"
    assert_every_row_once(answers)


def test_pybossa_csv_holds_pandas_floats_and_they_read_as_integers():
    text = (FIXTURES / "pybossa_task_run.csv").read_text()
    assert ",5.0,," in text and ",12.0," in text  # what pandas writes for integer columns with gaps
    answers = read_pybossa(FIXTURES / "pybossa_task_run.csv", building="task_id", before=None)
    assert answers.labels["building_id"].tolist() == [11, 11, 12, 15, 16]
    assert answers.labels["before"].isna().all()
    assert answers.labels["building_id"].dtype == "int64"


def test_pybossa_field_map_names_a_missing_column(tmp_path):
    with pytest.raises(PlatformExportError, match="'info_answr' \\(the table has 'info_answer'"):
        read_pybossa(FIXTURES / "pybossa_task_run.json", answer="info_answr")
    other = tmp_path / "runs.dat"
    shutil.copy(FIXTURES / "pybossa_task_run.json", other)
    with pytest.raises(PlatformExportError, match="file_format="):
        read_pybossa(other)
    assert len(read_pybossa(other, file_format="json").labels) == 3


def test_pybossa_logged_in_only_gives_integer_volunteers(tmp_path):
    runs = json.loads((FIXTURES / "pybossa_task_run.json").read_text())
    runs = [r for r in runs if r["user_id"] is not None]
    answers = read_pybossa(write_pybossa_json(tmp_path / "runs.json", runs))
    assert answers.labels["volunteer_id"].dtype == "int64" and answers.summary["anonymous_answers"] == 0


# ------------------------------------------------------------------------------------------------- MapSwipe
def test_mapswipe_fixture_known_answers():
    path = FIXTURES / "results_-MRaqqa01.csv.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    answers = read_mapswipe(path, before="2017-06-04", after="2017-06-16", image_dates=CATALOGUE)
    assert_labels(
        answers.labels,
        table(
            [
                (0, 12, "Hq3kV0aPz2Xb1", "2017-06-04", "2017-06-16", True, "compare"),
                (1, 12, "Lm9sT4cQw7Ye2", "2017-06-04", "2017-06-16", False, "compare"),
                (2, 13, "Zx8rU5dRv6Wf3", "2017-06-04", "2017-06-16", None, "compare"),  # 2: maybe
                (3, 13, "Pq7eI6fTu5Vg4", "2017-06-04", "2017-06-16", None, "compare"),  # 3: bad imagery
            ]
        ),
    )
    assert reasons(answers) == {4: "duplicate", 5: "unknown_answer", 6: "no_volunteer"}
    assert answers.summary["answers"] == {"yes": 1, "no": 1, "cant_tell": 2}
    assert_every_row_once(answers)
    single = read_mapswipe(path, after="2017-06-16", duplicates="all")
    assert single.labels["before"].isna().all() and len(single.labels) == 5


def test_mapswipe_project_dates_are_checked():
    path = FIXTURES / "results_-MRaqqa01.csv.gz"
    with pytest.raises(PlatformExportError, match="earlier than after"):
        read_mapswipe(path, before="2017-06-16", after="2017-06-04")
    with pytest.raises(PlatformExportError, match="not both in the image catalogue"):
        read_mapswipe(path, before="2017-06-05", after="2017-06-16", image_dates=CATALOGUE)
    with pytest.raises(PlatformExportError, match="ISO dates"):
        read_mapswipe(path, after="16/06/2017")


def test_every_reason_is_exercised_by_the_fixtures():
    seen = set()
    seen |= set(
        reasons(
            read_zooniverse(
                FIXTURES / "zooniverse_question.csv",
                workflow_id=123,
                workflow_version="16.55",
                task_key="T0",
                image_dates=CATALOGUE,
            )
        ).values()
    )
    seen |= set(reasons(read_zooniverse(FIXTURES / "zooniverse_timeline.csv")).values())
    seen |= set(reasons(read_pybossa(FIXTURES / "pybossa_task_run.csv")).values())
    assert seen == set(REASONS)


# ------------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def campaign(simulated):
    timeline = simulated("small", seed=2)
    compare = simulated(timeline.scenario.replace(tasks={"task": "compare"}))
    assert timeline.buildings.equals(compare.buildings)  # one world, two tasks
    return timeline, compare


def consensus_of(labels: pd.DataFrame, dates: pd.DatetimeIndex) -> stracker.Consensus:
    return stracker.aggregate(labels.reset_index(drop=True), dates)


def assert_same_consensus(imported: pd.DataFrame, direct: pd.DataFrame, dates: pd.DatetimeIndex) -> None:
    a, b = consensus_of(imported, dates), consensus_of(direct, dates)
    assert a.buildings.index.equals(b.buildings.index)
    np.testing.assert_allclose(a.posterior, b.posterior, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(a.buildings, b.buildings, check_exact=False, rtol=1e-9)
    np.testing.assert_allclose(
        a.volunteers.loc[b.volunteers.index].to_numpy(float), b.volunteers.to_numpy(float), rtol=1e-9, atol=1e-12
    )


def sorted_labels(labels: pd.DataFrame) -> pd.DataFrame:
    out = labels.reset_index(drop=True).copy()
    out["task"] = out["task"].astype(str)
    out["volunteer_id"] = out["volunteer_id"].astype(str)
    keys = ["building_id", "volunteer_id", "task", "after", "before"]
    return out.sort_values(keys, na_position="first").reset_index(drop=True)[list(out.columns)]


def test_zooniverse_campaign_end_to_end(campaign, tmp_path):
    timeline, compare = campaign
    export_t, export_q, rows = zooniverse_campaign(timeline, compare, seed=5)
    path = write_zooniverse(tmp_path / "raqqa-classifications.csv", rows)
    imported_t = read_zooniverse(path, workflow_id=101, workflow_version="16.55", image_dates=timeline.images)
    imported_q = read_zooniverse(path, workflow_id=102, image_dates=timeline.images)
    for imported, export in ((imported_t, export_t), (imported_q, export_q)):
        assert reasons(imported) == export.expected  # exactly the injected rows, each for its reason
        assert_every_row_once(imported)
        pd.testing.assert_frame_equal(sorted_labels(imported.labels), sorted_labels(export.labels), check_dtype=False)
        assert imported.summary["anonymous_answers"] == export.anonymous_answers > 0
    assert imported_t.summary["duplicates"] == 25 and imported_q.summary["duplicates"] == 30
    assert imported_t.summary["tasks"]["timeline"] == len(timeline.labels)
    direct = pd.concat([export_t.labels, export_q.labels], ignore_index=True)
    assert_same_consensus(pd.concat([imported_t.labels, imported_q.labels]), direct, timeline.image_dates)


def test_pybossa_campaign_end_to_end(campaign, tmp_path):
    _, compare = campaign
    export = pybossa_campaign(compare, seed=6)
    csv_path = write_pybossa_csv(tmp_path / "decoders_task_run.csv", export.rows)
    json_path = write_pybossa_json(tmp_path / "decoders_task_run.json", export.rows)
    imported = {}
    for path in (csv_path, json_path):
        imported[path.suffix] = answers = read_pybossa(path, image_dates=compare.images)
        assert reasons(answers) == export.expected
        assert_every_row_once(answers)
        assert answers.summary["anonymous_answers"] == export.anonymous_answers > 0
        pd.testing.assert_frame_equal(sorted_labels(answers.labels), sorted_labels(export.labels), check_dtype=False)
    pd.testing.assert_frame_equal(imported[".csv"].labels, imported[".json"].labels)
    assert_same_consensus(imported[".csv"].labels, export.labels, compare.image_dates)


def test_mapswipe_campaign_end_to_end(campaign, tmp_path):
    _, compare = campaign
    projects = mapswipe_campaign(compare, seed=7)
    imported, direct = [], []
    for k, (export, before, after) in enumerate(projects):
        path = write_mapswipe(tmp_path / f"results_-MRaqqa{k:02d}.csv.gz", export.rows)
        answers = read_mapswipe(path, before=before, after=after, image_dates=compare.images)
        assert reasons(answers) == export.expected
        assert_every_row_once(answers)
        imported.append(answers.labels)
        direct.append(export.labels)
    assert projects[-1][1] is None  # a one-image project among them
    assert_same_consensus(pd.concat(imported), pd.concat(direct), compare.image_dates)


def test_each_distinct_json_cell_is_parsed_once(tmp_path, monkeypatch):
    """30,000 classifications of 5,000 subjects: json.loads runs once per distinct cell, not per row."""
    rows = zooniverse_question_fixture()[:3]
    path = write_zooniverse(tmp_path / "big.csv", rows)
    head, *body = path.read_text().splitlines()
    lines = [head]
    for k in range(30_000):
        line = body[k % 3].replace("71001", str(71001 + (k % 5_000) * 3))
        for name in ("anna_k", "ben.r", "not-logged-in-3f2a"):
            line = line.replace(name, f"{name}-{k}")
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    raw = pd.read_csv(path, dtype=str)
    distinct = raw["subject_data"].nunique() + raw["annotations"].nunique()
    calls = []
    real_loads = json.loads
    monkeypatch.setattr("stracker.platforms.common.json.loads", lambda text: calls.append(1) or real_loads(text))
    answers = read_zooniverse(path)
    assert answers.summary["rows_used"] == 30_000 and answers.summary["buildings"] == 2
    assert len(calls) == distinct == 5_001 + 3


def test_fixture_folder_is_documented():
    readme = (FIXTURES / "README.md").read_text()
    for path in FIXTURES.iterdir():
        if path.name != "README.md":
            assert path.name in readme, path.name


# ------------------------------------------------------------------------------------------------- CLI
def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_cli_import_zooniverse_writes_the_label_table_and_the_rejected_rows(tmp_path):
    out, bad = tmp_path / "answers.parquet", tmp_path / "rejected.csv"
    result = run_cli(
        "import",
        "zooniverse",
        str(FIXTURES / "zooniverse_question.csv"),
        "--workflow-id",
        "123",
        "--workflow-version",
        "16.55",
        "--task",
        "T0",
        "--images",
        str(FIXTURES / "images.csv"),
        "--out",
        str(out),
        "--rejected",
        str(bad),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows_used"] == 5 and summary["rejected"]["duplicate"] == 1 and summary["out"] == str(out)
    labels = stracker.read_labels(out)
    assert labels.index.tolist() == QUESTION_LABELS.index.tolist()
    assert_labels(labels, QUESTION_LABELS)
    rejected = pd.read_csv(bad, dtype=str)
    assert dict(zip(rejected["row"].astype(int), rejected["reason"], strict=True)) == QUESTION_REJECTED
    consensus = run_cli(
        "aggregate",
        str(out),
        "--images",
        str(FIXTURES / "images.csv"),
        "--out",
        str(tmp_path / "consensus.gpkg"),
        "--json",
    )
    assert consensus.exit_code == 0, consensus.output
    assert json.loads(consensus.output)["consensus"]["buildings"] == 3


def test_cli_import_to_csv_reads_back_the_same_table(tmp_path):
    out = tmp_path / "answers.csv"
    result = run_cli("import", "zooniverse", str(FIXTURES / "zooniverse_timeline.csv"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "5 answers used (5 timeline)" in result.output and "1 answer from 1 anonymous volunteer" in result.output
    assert "3 rows rejected" in result.output and "pass --rejected FILE" in result.output
    direct = read_zooniverse(FIXTURES / "zooniverse_timeline.csv").labels
    again = stracker.read_labels(out)
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True).astype({"task": str}),
        direct.reset_index(drop=True).astype({"task": str}),
        check_dtype=False,
    )
    assert "2017-06-04," in out.read_text()  # whole days written as dates


def test_cli_import_pybossa_and_mapswipe(tmp_path):
    result = run_cli(
        "import",
        "pybossa",
        str(FIXTURES / "pybossa_task_run.csv"),
        "--building",
        "task_id",
        "--before",
        "",
        "--out",
        str(tmp_path / "p.parquet"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fields"]["before"] is None
    assert stracker.read_labels(tmp_path / "p.parquet")["before"].isna().all()
    result = run_cli(
        "import",
        "mapswipe",
        str(FIXTURES / "results_-MRaqqa01.csv.gz"),
        "--before",
        "2017-06-04",
        "--after",
        "2017-06-16",
        "--duplicates",
        "all",
        "--out",
        str(tmp_path / "m.parquet"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows_used"] == 5 and summary["duplicates"] == 1 and summary["duplicates_kept"] == "all"


def test_cli_import_errors_are_one_line(tmp_path):
    out = tmp_path / "answers.parquet"
    several = run_cli("import", "zooniverse", str(FIXTURES / "zooniverse_question.csv"), "--out", str(out))
    assert several.exit_code == 1 and "Traceback" not in several.output
    assert several.output.startswith("stracker: error: the export holds several workflows") and not out.exists()
    out.write_text("mine")
    exists = run_cli("import", "zooniverse", str(FIXTURES / "zooniverse_timeline.csv"), "--out", str(out))
    assert exists.exit_code == 1 and "--overwrite" in exists.output and out.read_text() == "mine"
    suffix = run_cli("import", "zooniverse", str(FIXTURES / "zooniverse_timeline.csv"), "--out", "a.gpkg")
    assert suffix.exit_code == 2 and ".parquet or .csv" in suffix.output
    bad = tmp_path / "rejected.csv"
    nothing = run_cli(
        "import",
        "zooniverse",
        str(FIXTURES / "zooniverse_panoptes_aggregation_cls_export.csv"),
        "--task",
        "T0",
        "--out",
        str(tmp_path / "none.parquet"),
        "--rejected",
        str(bad),
    )
    assert nothing.exit_code == 1 and "all 7 rows were rejected: 7 no_building" in nothing.output
    assert not (tmp_path / "none.parquet").exists() and len(pd.read_csv(bad)) == 7
