"""The next questions of a real campaign: the question-choosing core without the simulator, and the batch written
for Zooniverse (panoptes-cli) and PyBossa."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import stracker
from stracker.crowd.answers import answer_questions
from stracker.errors import LabelsError, ScenarioError, UnmatchedBuildingsError
from stracker.imagery import chip_file_names
from stracker.platforms import read_pybossa, read_zooniverse
from stracker.tasking import (
    PYBOSSA_NO_IMAGE,
    RETIREMENT_REASONS,
    campaign_state,
    hidden_images,
    next_questions,
    read_questions,
    read_visibility,
    run_adaptive,
    write_questions,
)

DATES = pd.date_range("2017-06-01", periods=6, freq="10D")


@pytest.fixture(scope="module")
def partial(small):
    """A partial campaign: the first volunteer's timeline answer about half the buildings, picked at random."""
    ids = small.buildings["building_id"]
    chosen = np.random.default_rng(0).choice(ids, len(ids) // 2, replace=False)
    first = small.labels.drop_duplicates("building_id")
    return first[first["building_id"].isin(chosen)].reset_index(drop=True)


def ask(sim, labels, questions, rng):
    """The simulator's volunteers answer the questions (drawn by activity, none twice on a building), as
    run_adaptive has them answer: by stracker.crowd.answers.answer_questions."""
    ids = pd.Index(sim.buildings["building_id"])
    building = ids.get_indexer(questions["building_id"])
    lo = np.where(questions["before"].isna(), -1, sim.image_dates.get_indexer(questions["before"]))
    hi = sim.image_dates.get_indexer(questions["after"])
    activity = sim.volunteers["activity"].to_numpy()
    V = activity.size
    seen = ids.get_indexer(labels["building_id"]).astype(np.int64) * V + labels["volunteer_id"].to_numpy()
    volunteer = rng.choice(V, size=building.size, p=activity / activity.sum())
    for _ in range(50):
        clash = np.flatnonzero(np.isin(building.astype(np.int64) * V + volunteer, seen))
        if clash.size == 0:
            break
        volunteer[clash] = rng.choice(V, size=clash.size, p=activity / activity.sum())
    sc = sim.scenario
    table = answer_questions(
        building,
        volunteer,
        lo,
        hi,
        sim.true_states(),
        sim.visibility,
        sim.volunteers,
        sim.images["image_date"].to_numpy(dtype="datetime64[ns]"),
        sc.imagery,
        sc.crowd,
        rng,
    )
    table["building_id"] = ids[building]
    return pd.concat([labels, table], ignore_index=True)


def mean_date_error(sim, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        consensus = stracker.aggregate(labels, sim.image_dates)
    metrics = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
    return float(metrics["mae_days"])


# ----------------------------------------------------------------------------------------- the test
def test_three_rounds_of_bisection_beat_three_rounds_of_random_questions_with_the_same_frames(small, partial):
    design = "bisection"
    adaptive, random = partial, partial
    rng_adaptive, rng_random = np.random.default_rng(1), np.random.default_rng(1)
    frames = {"adaptive": 0, "random": 0}
    for round_ in range(3):
        questions = next_questions(adaptive, small.image_dates, buildings=small.buildings, design=design).questions
        baseline = next_questions(
            random, small.image_dates, buildings=small.buildings, design="random", seed=round_
        ).questions
        # the same frames: random questions (a fifth single images, the rest pairs) up to the adaptive round's
        baseline = baseline[np.cumsum(baseline["frames"].to_numpy()) <= questions["frames"].sum()]
        frames["adaptive"] += int(questions["frames"].sum())
        frames["random"] += int(baseline["frames"].sum())
        adaptive = ask(small, adaptive, questions, rng_adaptive)
        random = ask(small, random, baseline, rng_random)
    assert 0 <= frames["adaptive"] - frames["random"] <= 3  # at most one pair short per round
    assert frames["adaptive"] > 3 * 300  # every unsettled building asked, buildings without answers included
    assert adaptive["building_id"].nunique() == len(small.buildings)
    # measured: 13.0 days against 19.9 (seeds 2 and 3 of the volunteers' draws: 13.6 and 11.0 against 19.1, 18.2)
    assert mean_date_error(small, adaptive) < 0.85 * mean_date_error(small, random)


@pytest.fixture(scope="module")
def campaign_files(small, partial, tmp_path_factory):
    """The small world on disk as a real campaign has it: footprints, catalogue, visibility, the answers so far."""
    directory = tmp_path_factory.mktemp("campaign")
    small.save(directory)
    partial.drop(columns="frames_viewed").to_parquet(directory / "answers.parquet", index=False)
    return directory


def _next(directory, answers, out, *options):
    from click.testing import CliRunner

    from stracker.cli import cli

    args = [
        "next",
        str(answers),
        "--images",
        str(directory / "images.parquet"),
        "--footprints",
        str(directory / "buildings.gpkg"),
        "--out",
        str(out),
        "--overwrite",
        "--json",
        *options,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_stracker_next_three_rounds_beat_random_questions_with_the_same_frames(small, campaign_files, tmp_path):
    """The issue's test, through the command line: each round `stracker next` reads the answers so far from
    disk, writes its questions, and the simulator's volunteers answer them."""
    paths = {"infogain": tmp_path / "infogain.parquet", "random": tmp_path / "random.parquet"}
    for path in paths.values():
        pd.read_parquet(campaign_files / "answers.parquet").to_parquet(path)
    rngs = {name: np.random.default_rng(1) for name in paths}
    frames = {name: 0 for name in paths}
    for round_ in range(3):
        summary = _next(campaign_files, paths["infogain"], tmp_path / "q.csv", "--design", "infogain")
        questions = read_questions(tmp_path / "q.csv")
        assert summary["questions"] == len(questions) and summary["frames"] == questions["frames"].sum()
        _next(campaign_files, paths["random"], tmp_path / "r.csv", "--design", "random", "--seed", str(round_))
        baseline = read_questions(tmp_path / "r.csv")
        baseline = baseline[np.cumsum(baseline["frames"].to_numpy()) <= summary["frames"]]
        for name, asked in (("infogain", questions), ("random", baseline)):
            frames[name] += int(asked["frames"].sum())
            ask(small, pd.read_parquet(paths[name]), asked, rngs[name]).to_parquet(paths[name])
    assert 0 <= frames["infogain"] - frames["random"] <= 3
    errors = {name: mean_date_error(small, pd.read_parquet(path)) for name, path in paths.items()}
    # measured: 13.2 days against 19.4 (seeds 2 and 3 of the volunteers' draws: 14.5 and 10.7 against 20.6, 19.4)
    assert errors["infogain"] < 0.85 * errors["random"]


def test_stracker_next_writes_a_manifest_the_retired_and_a_summary(campaign_files, tmp_path):
    manifest, retired = tmp_path / "upload" / "manifest.csv", tmp_path / "retired.csv"
    summary = _next(
        campaign_files,
        campaign_files / "answers.parquet",
        manifest,
        "--format",
        "zooniverse",
        "--frames",
        "chips",
        "--design",
        "bisection",
        "--batch",
        "50",
        "--retired",
        str(retired),
        "--visibility",
        str(campaign_files / "visibility.npy"),
    )
    assert summary["questions"] == 50 and summary["unasked"] > 0 and summary["buildings"] == 400
    assert summary["buildings_without_answers"] == 200
    assert summary["upload"].startswith("panoptes subject-set upload-subjects --file-column 1 --file-column 2")
    back = read_questions(manifest, "zooniverse")
    assert len(back) == 50 and back["#frame_after"].str.startswith("chips/").all()
    table = pd.read_csv(retired)
    assert list(table.columns) == ["building_id", "reason", "p_destroyed", "ci_start", "ci_end", "n_answers"]
    assert len(table) == summary["retired"] and set(table["reason"]) <= set(RETIREMENT_REASONS)


def test_stracker_next_visibility_table_and_a_campaign_start(small, campaign_files, tmp_path):
    ids = small.buildings["building_id"].to_numpy()
    rows, cols = np.meshgrid(np.arange(ids.size), np.arange(len(small.image_dates)), indexing="ij")
    table = pd.DataFrame(
        {
            "building_id": ids[rows.ravel()],
            "image_date": small.image_dates[cols.ravel()],
            "visible": (small.visibility >= 0.35).ravel(),
        }
    )
    table.assign(visible=np.where(table["visible"], "yes", "no")).to_csv(tmp_path / "vis.csv", index=False)
    from click.testing import CliRunner

    from stracker.cli import cli

    result = CliRunner().invoke(
        cli,
        [
            "next",
            "--images",
            str(campaign_files / "images.parquet"),
            "--footprints",
            str(campaign_files / "buildings.gpkg"),
            "--visibility",
            str(tmp_path / "vis.csv"),
            "--format",
            "pybossa",
            "--out",
            str(tmp_path / "tasks.csv"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["answers"] == 0 and summary["questions"] + summary["retired"] == 400
    tasks = read_questions(tmp_path / "tasks.csv", "pybossa")
    hidden = small.visibility < 0.35
    asked = small.image_dates.get_indexer(tasks["after"])
    assert not hidden[pd.Index(ids).get_indexer(tasks["building_id"]), asked].any()


def test_stracker_next_errors_are_one_line(campaign_files, tmp_path):
    from click.testing import CliRunner

    from stracker.cli import cli

    runner = CliRunner()
    images = str(campaign_files / "images.parquet")
    result = runner.invoke(cli, ["next", "--images", images, "--out", str(tmp_path / "q.csv")])
    assert result.exit_code == 2 and "--footprints" in result.output
    other = tmp_path / "few.csv"
    pd.DataFrame({"building_id": [0, 1]}).to_csv(other, index=False)
    bad_footprints = tmp_path / "few.geojson"
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"building_id": [0, 1]}, geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)], crs="EPSG:32637").to_file(
        bad_footprints
    )
    result = runner.invoke(
        cli,
        [
            "next",
            str(campaign_files / "answers.parquet"),
            "--images",
            images,
            "--footprints",
            str(bad_footprints),
            "--out",
            str(tmp_path / "q.csv"),
        ],
    )
    assert result.exit_code == 1 and "not among the 2 buildings" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    (tmp_path / "q.csv").write_text("keep me")
    result = runner.invoke(
        cli, ["next", str(campaign_files / "answers.parquet"), "--images", images, "--out", str(tmp_path / "q.csv")]
    )
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (tmp_path / "q.csv").read_text() == "keep me"


# --------------------------------------------------------------------------------------------------- the core
def test_the_simulated_campaign_asks_its_first_round_with_the_same_core(small):
    campaign = run_adaptive(small, "bisection", budget=600, record=False)
    first = campaign.labels[campaign.labels["round"] == 1]
    batch = next_questions(None, small.image_dates, buildings=small.buildings, design="bisection")
    expected = batch.questions.iloc[: len(first)]
    assert first["building_id"].tolist() == expected["building_id"].tolist()
    pd.testing.assert_series_equal(first["before"].reset_index(drop=True), expected["before"].reset_index(drop=True))
    pd.testing.assert_series_equal(first["after"].reset_index(drop=True), expected["after"].reset_index(drop=True))


def test_the_batch_does_not_depend_on_the_order_of_the_answers(small, partial):
    more = ask(
        small,
        partial,
        next_questions(partial, small.image_dates, buildings=small.buildings).questions,
        np.random.default_rng(5),
    )
    shuffled = more.sample(frac=1.0, random_state=3)
    for design in ("infogain", "bisection", "random"):
        a = next_questions(more, small.image_dates, buildings=small.buildings, design=design)
        b = next_questions(shuffled, small.image_dates, buildings=small.buildings, design=design)
        pd.testing.assert_frame_equal(a.questions, b.questions)
        pd.testing.assert_frame_equal(a.retired, b.retired)


def test_buildings_without_answers_are_asked_at_the_prior(small, partial):
    batch = next_questions(partial, small.image_dates, buildings=small.buildings, design="bisection")
    questions = batch.questions.set_index("building_id")
    unanswered = ~small.buildings["building_id"].isin(partial["building_id"])
    assert unanswered.sum() == 200
    asked = questions.loc[small.buildings.loc[unanswered, "building_id"]]
    assert (asked["n_answers"] == 0).all()
    # all at the same (learned) prior: one question and one entropy for all of them, side by side in the order
    # of value, in the footprints' order
    assert asked[["before", "after"]].drop_duplicates().shape[0] == 1
    assert asked["entropy_bits"].nunique() == 1
    assert batch.questions["entropy_bits"].is_monotonic_decreasing
    position = np.flatnonzero(batch.questions["n_answers"].to_numpy() == 0)
    assert (np.diff(position) == 1).all()
    assert batch.questions["building_id"].iloc[position].tolist() == asked.index.tolist()
    assert batch.summary()["buildings_without_answers"] == 200


def test_with_footprints_buildings_without_answers_are_asked_from_their_neighbours(small, partial):
    """The spatial prior: a building nobody answered about starts from its neighbours' dates, not the prior."""
    plain = next_questions(partial, small.image_dates, buildings=small.buildings, design="infogain")
    spatial = next_questions(partial, small.image_dates, footprints=small.buildings, design="infogain")
    assert spatial.state.consensus.spatial_prior["weight"] > 0.5
    ids = small.buildings.loc[~small.buildings["building_id"].isin(partial["building_id"]), "building_id"]
    entropy = {
        name: b.questions.set_index("building_id").loc[ids, "entropy_bits"]
        for name, b in (("plain", plain), ("spatial", spatial))
    }
    assert entropy["plain"].nunique() == 1 and entropy["spatial"].nunique() > 100
    assert entropy["spatial"].mean() < entropy["plain"].iloc[0] - 0.5
    truth = stracker.labels.destruction_state(small.truth.loc[ids], small.image_dates)
    near, log_p = {}, {}
    for name, b in (("plain", plain), ("spatial", spatial)):
        posterior = b.state.posterior[b.state.building_ids.get_indexer(ids)]
        near[name] = (np.abs(posterior.argmax(axis=1) - truth) <= 1).mean()
        log_p[name] = np.log(posterior[np.arange(truth.size), truth]).mean()
    # measured: 0.35 of them within one image of the truth, against 0.23 at the campaign prior's mode; and the
    # truth more probable on average (mean log probability -2.96 against -3.11): not overconfident
    assert near["spatial"] > near["plain"] + 0.1
    assert log_p["spatial"] > log_p["plain"]
    # nobody has seen them: none retires on its neighbours' answers alone
    assert spatial.questions["building_id"].isin(ids).sum() == len(ids)
    assert spatial.summary()["buildings_without_answers"] == len(ids)


def test_stracker_next_spatial_and_an_adaptive_campaign_with_footprints(small, campaign_files, tmp_path):
    summary = _next(campaign_files, campaign_files / "answers.parquet", tmp_path / "q.csv", "--spatial")
    assert summary["questions"] > 0
    campaign = run_adaptive(small, "infogain", budget=3_000, record=False, spatial=True)
    assert campaign.frames_viewed <= 3_000
    assert campaign.consensus.spatial_prior is not None
    assert len(campaign.consensus.buildings) == len(small.buildings)  # every footprint, answered or not


def test_a_campaign_starts_from_the_footprints_alone():
    batch = next_questions(None, DATES, buildings=[30, 10, 20], design="infogain")
    q = batch.questions
    assert q["building_id"].tolist() == [30, 10, 20]  # equal value: the footprints' order
    assert q["before"].isna().all() and (q["frames"] == 1).all() and (q["n_answers"] == 0).all()
    assert len(batch.retired) == 0 and batch.summary()["answers"] == 0
    with pytest.raises(LabelsError, match="nothing to ask"):
        next_questions(None, DATES)


def _agreeing(building, before, after, destroyed, n=8, task="timeline"):
    return pd.DataFrame(
        {
            "building_id": building,
            "volunteer_id": [f"v{i}" for i in range(n)],
            "before": before,
            "after": after,
            "destroyed": destroyed,
            "task": task,
        }
    )


def test_retirement_reasons_are_known_answers():
    answers = pd.concat(
        [
            _agreeing(1, DATES[1], DATES[2], True),  # eight volunteers: destroyed between images 1 and 2
            _agreeing(2, pd.NaT, DATES[5], False),  # eight: not destroyed by the last image
            _agreeing(3, DATES[0], DATES[5], True, n=2),  # destroyed some time in between: still uncertain
        ],
        ignore_index=True,
    )
    # building 4 is behind clouds in every image, building 6 in all but the first; building 5 has no answers
    visibility = pd.DataFrame({"building_id": [4] * 6 + [6] * 5, "image_date": [*DATES, *DATES[1:]], "visible": False})
    batch = next_questions(answers, DATES, buildings=[1, 2, 3, 4, 5, 6], visibility=visibility, design="bisection")
    reasons = batch.retired.set_index("building_id")["reason"].astype(str).to_dict()
    assert reasons == {1: "settled", 2: "intact", 4: "hidden"}
    assert sorted(batch.questions["building_id"]) == [3, 5, 6]
    only = batch.questions.set_index("building_id").loc[6]  # the one image that can show it
    assert pd.isna(only["before"]) and only["after"] == DATES[0]
    settled = batch.retired.set_index("building_id").loc[1]
    assert settled["ci_start"] == DATES[1] and settled["ci_end"] == DATES[2]
    assert batch.summary()["retired_by_reason"] == {"settled": 1, "intact": 1, "hidden": 1}
    assert list(RETIREMENT_REASONS) == ["settled", "intact", "hidden"]


def test_single_image_cant_tell_answers_hide_images_and_can_retire_a_building():
    # building 1: eight volunteers say destroyed after image 1 and by image 3; the single image 2, the only one
    # that could split (1, 3], came back "can't tell"
    answers = pd.concat(
        [
            _agreeing(1, DATES[1], DATES[3], True, n=8, task="compare"),
            pd.DataFrame(
                {
                    "building_id": 1,
                    "volunteer_id": ["w1"],
                    "before": [pd.NaT],
                    "after": [DATES[2]],
                    "destroyed": pd.array([pd.NA], dtype="boolean"),
                    "task": "compare",
                }
            ),
        ],
        ignore_index=True,
    )
    state = campaign_state(answers, DATES)
    assert np.flatnonzero(state.hidden[0]).tolist() == [2]
    batch = next_questions(answers, DATES, design="bisection")
    # the interval (image 1, image 3] holds two states, split by image 2 only, which is hidden: retired
    assert batch.retired["reason"].astype(str).tolist() == ["hidden"]
    assert len(batch.questions) == 0
    # a pair "can't tell" hides no image: either may be the clouded one
    pair = answers.copy()
    pair.loc[8, "before"] = DATES[0]
    assert not campaign_state(pair, DATES).hidden.any() and campaign_state(pair, DATES).pair_cant_tell.all()


def test_hidden_images_are_never_asked(small, partial):
    visibility = small.visibility.copy()
    visibility[:, ::2] = 0.0  # every other image clouded everywhere
    for design in ("infogain", "bisection"):
        q = next_questions(
            partial, small.image_dates, buildings=small.buildings, visibility=visibility, design=design
        ).questions
        asked = np.concatenate(
            [small.image_dates.get_indexer(q["before"].dropna()), small.image_dates.get_indexer(q["after"])]
        )
        assert len(q) and (asked % 2 == 1).all()


def test_visibility_as_an_array_or_a_long_table_is_the_same(small):
    ids = pd.Index(small.buildings["building_id"])
    rows, cols = np.meshgrid(np.arange(len(ids)), np.arange(len(small.image_dates)), indexing="ij")
    table = pd.DataFrame(
        {
            "building_id": ids[rows.ravel()],
            "image_date": small.image_dates[cols.ravel()],
            "visibility": small.visibility.ravel(),
        }
    ).sample(frac=1.0, random_state=0)
    from_array, _ = hidden_images(small.visibility, ids, small.image_dates)
    from_table, _ = hidden_images(table, ids, small.image_dates)
    assert np.array_equal(from_array, from_table) and from_array.any()
    booleans = table.assign(visible=table["visibility"] >= 0.35).drop(columns="visibility")
    assert np.array_equal(hidden_images(booleans, ids, small.image_dates)[0], from_array)


def test_bad_visibility_is_named():
    ids = pd.Index([1, 2])
    with pytest.raises(UnmatchedBuildingsError, match="not in the campaign"):
        hidden_images(pd.DataFrame({"building_id": [3], "image_date": [DATES[0]], "visible": [True]}), ids, DATES)
    with pytest.raises(LabelsError, match="not a catalogue date"):
        hidden_images(pd.DataFrame({"building_id": [1], "image_date": ["2017-06-02"], "visible": [True]}), ids, DATES)
    with pytest.raises(LabelsError, match="same building and image"):
        hidden_images(
            pd.DataFrame({"building_id": [1, 1], "image_date": [DATES[0]] * 2, "visible": [True, False]}), ids, DATES
        )
    with pytest.raises(LabelsError, match="shape"):
        hidden_images(np.ones((3, 6)), ids, DATES)
    with pytest.raises(LabelsError, match=r"outside \[0, 1\]"):
        hidden_images(np.full((2, 6), 2.0), ids, DATES)


def test_answers_about_unknown_buildings_are_an_error(partial, small):
    with pytest.raises(UnmatchedBuildingsError, match="not among the 3 buildings") as info:
        next_questions(partial, small.image_dates, buildings=[0, 1, 2])
    assert len(info.value.building_ids) > 0
    with pytest.raises(UnmatchedBuildingsError, match="differ in type"):
        next_questions(partial, small.image_dates, buildings=small.buildings["building_id"].astype(str))


def test_batch_cuts_the_order_of_value(small, partial):
    full = next_questions(partial, small.image_dates, buildings=small.buildings)
    cut = next_questions(partial, small.image_dates, buildings=small.buildings, batch=25)
    pd.testing.assert_frame_equal(cut.questions, full.questions.iloc[:25])
    assert cut.unasked == len(full.questions) - 25
    with pytest.raises(ScenarioError, match="batch"):
        next_questions(partial, small.image_dates, batch=0)
    with pytest.raises(ScenarioError, match="design"):
        next_questions(partial, small.image_dates, design="psychic")


def test_infogain_asks_single_images_and_bisection_pairs_too(small, partial):
    info = next_questions(partial, small.image_dates, buildings=small.buildings, design="infogain").questions
    bisect = next_questions(partial, small.image_dates, buildings=small.buildings, design="bisection").questions
    assert (info["frames"] == 1).all()
    assert (bisect["frames"] == 2).any()  # where the credible range starts after the first image
    # each question's expected gain for the typical volunteer: infogain's are the largest single-image gains
    assert (info["gain_bits"] > 0).all() and info["gain_bits"].mean() >= 0.9 * bisect["gain_bits"].mean()


# ----------------------------------------------------------------------------------------------- the writers
def _dates(*values):
    return pd.to_datetime(list(values), format="ISO8601").astype("datetime64[ns]")


def _questions():
    return pd.DataFrame(
        {
            "building_id": [12, 7, 40],
            "before": _dates("2017-06-04", None, "2017-06-16"),
            "after": _dates("2017-06-16", "2017-07-01", "2017-07-01"),
            "frames": [2, 1, 2],
            "n_answers": [3, 0, 1],
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "zooniverse", "pybossa"])
def test_writers_round_trip(tmp_path, fmt):
    questions = _questions()
    path = write_questions(questions, tmp_path / "questions.csv", fmt, frame_location="chips")
    back = read_questions(path, fmt)
    pd.testing.assert_frame_equal(
        back[["building_id", "before", "after"]].reset_index(drop=True), questions[["building_id", "before", "after"]]
    )
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_round_trip_of_a_real_batch_with_text_ids(tmp_path, small, partial):
    labels = partial.assign(building_id="b-" + partial["building_id"].astype(str))
    ids = "b-" + small.buildings["building_id"].astype(str)
    batch = next_questions(labels, small.image_dates, buildings=ids, design="bisection")
    for fmt in ("csv", "zooniverse", "pybossa"):
        back = read_questions(write_questions(batch.questions, tmp_path / f"{fmt}.csv", fmt), fmt)
        pd.testing.assert_frame_equal(
            back[["building_id", "before", "after"]].reset_index(drop=True),
            batch.questions[["building_id", "before", "after"]],
        )


def _panoptes_subjects(manifest, file_column=(), allow_missing=False):
    """The subjects panoptes-cli makes of a manifest: its reading code (panoptes_cli/commands/subject_set.py,
    upload_subjects, v1.2.1), reduced to what it does with the file, without the upload."""
    subjects, file_column = [], list(file_column)
    with open(manifest) as manifest_f:
        file_root = os.path.dirname(manifest)
        r = csv.reader(manifest_f, skipinitialspace=True)
        headers = next(r)
        cleaned_headers = [header.lstrip("%") for header in headers]
        for row in r:
            metadata = dict(zip(cleaned_headers, row, strict=False))
            files = []
            if not file_column:
                for field_number, col in enumerate(row, start=1):
                    file_path = os.path.join(file_root, col)
                    if os.path.exists(file_path):
                        file_column.append(field_number)
                        if os.path.isfile(file_path) and os.path.getsize(file_path) > 0:
                            files.append(file_path)
                        elif not allow_missing:
                            return None
            else:
                for field_number in file_column:
                    file_path = os.path.join(file_root, row[field_number - 1])
                    if os.path.isfile(file_path) and os.path.getsize(file_path) > 0:
                        files.append(file_path)
                    elif not allow_missing:
                        return None
            subjects.append((files, metadata))
    return subjects


def test_zooniverse_manifest_uploads_as_panoptes_cli_reads_it(tmp_path):
    questions = _questions()
    chips = tmp_path / "chips"
    chips.mkdir()
    shown = pd.concat(
        [questions[["building_id", c]].set_axis(["building_id", "date"], axis=1).dropna() for c in ("before", "after")]
    )
    for name in chip_file_names(shown["building_id"], shown["date"]):  # as `stracker chips` names them
        (chips / name).write_bytes(b"\x89PNG\r\n\x1a\n")  # panoptes-cli checks existence and size only
    manifest = write_questions(questions, tmp_path / "manifest.csv", "zooniverse", frame_location="chips")
    text = manifest.read_text()
    assert not text.startswith("\ufeff") and "\r" not in text
    subjects = _panoptes_subjects(str(manifest), file_column=(1, 2), allow_missing=True)
    assert [len(files) for files, _ in subjects] == [2, 1, 2]
    assert [os.path.basename(f) for f in subjects[1][0]] == ["7_2017-07-01.png"]  # the single image
    assert [os.path.basename(f) for f in subjects[0][0]] == ["12_2017-06-04.png", "12_2017-06-16.png"]
    meta = subjects[1][1]
    assert meta["#building_id"] == "7" and meta["#before"] == "" and meta["#after"] == "2017-07-01"
    assert all(key.startswith("#") for key in meta)  # every key hidden from volunteers
    # auto-detection (no --file-column) finds the frame columns from a first row that is a pair
    auto = _panoptes_subjects(str(manifest), allow_missing=True)
    assert [len(files) for files, _ in auto] == [2, 1, 2]
    # ... but without --allow-missing a single-image row aborts the upload: hence the documented command
    assert _panoptes_subjects(str(manifest), file_column=(1, 2)) is None


def test_pybossa_tasks_import_without_empty_cells(tmp_path):
    questions = _questions()
    path = write_questions(questions, tmp_path / "tasks.csv", "pybossa", frame_location="https://example.org/c/")
    # PyBossa's CSV importer (pybossa/importers/csv.py): pandas reads it, priority_0 is the task's, the rest info
    frame = pd.read_csv(io.StringIO(path.read_text(encoding="utf-8-sig")))
    reserved = {"state", "quorum", "calibration", "priority_0", "n_answers"}
    assert set(frame.columns) & reserved == {"priority_0"}
    infos = [{k: v for k, v in row.items() if k not in reserved} for row in frame.astype(object).to_dict("records")]
    for info in infos:
        json.dumps(info, allow_nan=False)  # PostgreSQL JSONB takes no NaN: no cell may be empty
    assert infos[1]["before"] == PYBOSSA_NO_IMAGE and infos[1]["frame_before"] == PYBOSSA_NO_IMAGE
    assert infos[0]["frame_before"] == "https://example.org/c/12_2017-06-04.png"
    assert frame["priority_0"].is_monotonic_decreasing and frame["priority_0"].iloc[0] == 1.0
    # the answers so far make a repeated question a new task: PyBossa skips a task whose info exists already
    assert [info["answers_so_far"] for info in infos] == [3, 0, 1]
    # pbs add_tasks reads it with csv.DictReader: every column a key of info
    rows = list(csv.DictReader(io.StringIO(path.read_text()), delimiter=","))
    assert rows[1]["before"] == "none" and rows[0]["building_id"] == "12"


def test_writers_refuse_what_cannot_name_a_frame(tmp_path):
    questions = _questions().assign(building_id=["a/b", "7", "c"])
    with pytest.raises(LabelsError, match="cannot name frame files"):
        write_questions(questions, tmp_path / "m.csv", "zooniverse")
    write_questions(questions, tmp_path / "q.csv", "csv")  # the plain CSV names no file
    same_day = _questions().assign(after=_dates("2017-06-16 08:00", "2017-06-16 14:00", "2017-07-01"))
    with pytest.raises(LabelsError, match="same day"):
        write_questions(same_day, tmp_path / "m.csv", "pybossa")
    with pytest.raises(stracker.FileFormatError, match="format"):
        write_questions(_questions(), tmp_path / "m.csv", "mturk")
    assert not (tmp_path / "m.csv").exists()


def test_dates_with_a_time_of_day_keep_it(tmp_path):
    questions = _questions().assign(after=_dates("2017-06-16 08:30", "2017-07-01", "2017-07-01"))
    back = read_questions(write_questions(questions, tmp_path / "q.csv"), "csv")
    assert back["after"].tolist() == questions["after"].tolist()


def test_read_questions_names_bad_rows(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("building_id,before,after\n1,2017-06-04,2017-06-01\n")
    with pytest.raises(LabelsError, match="not earlier"):
        read_questions(path)
    path.write_text("building_id,before,after\n1,,soon\n")
    with pytest.raises(LabelsError, match="could not be read as dates"):
        read_questions(path)
    path.write_text("building,before,after\n1,,2017-06-01\n")
    with pytest.raises(LabelsError, match="no building_id"):
        read_questions(path)


def _answered(questions, answers):
    """The questions' keys as the importers give them back, and the answers given."""
    table = questions[["building_id", "before", "after"]].reset_index(drop=True)
    return table.assign(destroyed=pd.array(answers, dtype="boolean"))


def test_a_zooniverse_batch_comes_back_through_the_zooniverse_import(tmp_path):
    """Subjects made from the manifest (panoptes-cli keeps every column as metadata), classified, exported as
    Zooniverse writes the export, and imported: the same building and dates come back."""
    questions = _questions()
    manifest = write_questions(questions, tmp_path / "manifest.csv", "zooniverse", frame_location="chips")
    rows = list(csv.DictReader(io.StringIO(manifest.read_text())))
    header = (
        "classification_id,user_name,user_id,user_ip,workflow_id,workflow_name,workflow_version,created_at,"
        "gold_standard,expert,metadata,annotations,subject_data,subject_ids"
    )
    lines = [header]
    for i, (metadata, value) in enumerate(zip(rows, ["Yes", "No", "Can't tell"], strict=True)):
        subject = {str(100 + i): {"retired": None, **metadata}}
        annotation = [{"task": "T0", "task_label": "Destroyed?", "value": value}]
        cell = lambda obj: '"' + json.dumps(obj).replace('"', '""') + '"'  # noqa: E731
        lines.append(
            f'{i + 1},anna,5,ab12,123,Raqqa,16.55,2019-01-10 10:00:00 UTC,,,"{{}}",{cell(annotation)},'
            f"{cell(subject)},{100 + i}"
        )
    export = tmp_path / "classifications.csv"
    export.write_text("\n".join(lines) + "\n")
    labels = read_zooniverse(export, workflow_id=123).labels
    got = labels[["building_id", "before", "after", "destroyed"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _answered(questions, [True, False, None]), check_dtype=False)


def test_a_pybossa_batch_comes_back_through_the_pybossa_import(tmp_path):
    """Tasks imported from the tasks CSV, answered by a presenter that copies task.info into the answer, exported
    as PyBossa's task_run CSV (info flattened to info_<key>), and imported: a single image's "none" is NaT."""
    questions = _questions()
    tasks = read_questions(write_questions(questions, tmp_path / "tasks.csv", "pybossa"), "pybossa")
    raw = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
    runs = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "created": "2017-11-20T10:00:00",
            "project_id": 1,
            "task_id": [5, 6, 7],
            "user_id": [7, "", 8],
            "user_ip": ["", "10.0.0.3", ""],
            "finish_time": "2017-11-20T10:01:00",
            "timeout": "",
            "calibration": "",
            "external_uid": "",
            "media_url": "",
        }
    )
    for column in raw.columns:
        runs[f"info_{column}"] = raw[column]
    runs["info_answer"] = ["Yes", "No", "Can't tell"]
    runs.to_csv(tmp_path / "task_run.csv", index=False)
    labels = read_pybossa(tmp_path / "task_run.csv").labels
    got = labels[["building_id", "before", "after", "destroyed"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _answered(questions, [True, False, None]), check_dtype=False)
    assert tasks["before"].isna().tolist() == [False, True, False]


def test_visibility_as_stracker_visibility_writes_it(small, tmp_path):
    """The long table of `stracker visibility`: building_id, image_date, visible as a float share, NaN unknown."""
    ids = small.buildings["building_id"].to_numpy()
    rows, cols = np.meshgrid(np.arange(ids.size), np.arange(len(small.image_dates)), indexing="ij")
    share = small.visibility.astype("float64").ravel()
    share[::7] = np.nan  # no mask knew these: taken as visible
    table = pd.DataFrame(
        {"building_id": ids[rows.ravel()], "image_date": small.image_dates[cols.ravel()], "visible": share}
    )
    table.to_parquet(tmp_path / "visibility.parquet")
    table.to_csv(tmp_path / "visibility.csv", index=False)
    expected = np.nan_to_num(share, nan=1.0).reshape(small.visibility.shape) < 0.35
    for name in ("visibility.parquet", "visibility.csv"):
        hidden, _ = hidden_images(read_visibility(tmp_path / name), pd.Index(ids), small.image_dates)
        assert np.array_equal(hidden, expected), name
    (tmp_path / "bad.csv").write_text("building_id,image_date,visible\n0,2017-05-30,cloudy\n")
    with pytest.raises(LabelsError, match="cloud-free share"):
        read_visibility(tmp_path / "bad.csv")
