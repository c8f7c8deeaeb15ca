"""What a campaign knows besides its answers, given to the consensus: visibility, gold, per-image reliability.

* visibility (``stracker.aggregate(visibility=)``, ``stracker aggregate --visibility``): an answer about a hidden
  frame changes nothing; the wide table, the long table and files through the command line give one posterior;
  bad visibility is refused naming the values; with it, a timeline campaign comes within 0.01 of the oracle
  that knows the same visibility;
* gold (``gold=``, ``--gold``): gold buildings keep the expert's state and calibrate the volunteers who answered
  them;
* per-image compare reliability (``EMOptions.compare_image_reliability``): learned low for images whose answers
  are coin flips, near 1 elsewhere;
* without these inputs nothing changes (``tests/test_engine_regression.py`` holds the reference posteriors).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from campaigns import catalogue, make_table, metrics
from click.testing import CliRunner

import stracker
from stracker.cli.main import cli
from stracker.errors import InputCoverageWarning, LabelsError, OptionsError, UnmatchedBuildingsError
from stracker.scenario import Scenario


def _campaign(task: str, seed: int = 0) -> stracker.Simulation:
    return stracker.simulate(Scenario.preset("small", seed=seed).replace(tasks={"task": task}))


def _with_answer(labels: pd.DataFrame, **answer: object) -> pd.DataFrame:
    row = {c: answer.get(c, labels[c].iloc[0]) for c in ("building_id", "volunteer_id", "before", "after")}
    row |= {"destroyed": answer["destroyed"], "task": answer["task"]}
    extra = pd.DataFrame([row]).astype({"before": "datetime64[ns]", "after": "datetime64[ns]"})
    extra["destroyed"] = extra["destroyed"].astype("boolean")
    return pd.concat([labels[list(row)], extra], ignore_index=True)


def _quiet_aggregate(*args: object, **kwargs: object) -> stracker.Consensus:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stracker.errors.DuplicateAnswersWarning)
        return stracker.aggregate(*args, **kwargs)


# ------------------------------------------------------------------------------------------- hidden frames
@pytest.mark.parametrize("task", ["timeline", "compare"])
def test_an_answer_about_a_fully_hidden_frame_changes_nothing(task):
    sim = _campaign(task)
    labels = sim.labels.drop(columns="frames_viewed")
    dates = sim.image_dates
    visibility = sim.visibility_table()
    volunteer = labels["volunteer_id"].value_counts().index[0]  # answered many buildings: stays in the table
    building = labels.loc[labels["volunteer_id"] != volunteer, "building_id"].iloc[0]
    visibility.loc[building, dates[5]] = 0.0
    if task == "compare":
        added = [
            {"after": dates[5], "before": pd.NaT, "destroyed": True},  # a single image, hidden
            {"after": dates[9], "before": dates[5], "destroyed": False},  # a pair, one frame hidden
        ]
    else:
        added = [{"after": dates[5], "before": dates[4], "destroyed": True}]  # a mark on the hidden frame
    plain = _quiet_aggregate(labels, dates, visibility=visibility)
    for answer in added:
        more = _with_answer(labels, building_id=building, volunteer_id=volunteer, task=task, **answer)
        with_it = _quiet_aggregate(more, dates, visibility=visibility)
        np.testing.assert_array_equal(with_it.posterior, plain.posterior)
        assert with_it.buildings.loc[building, "n_labels"] == plain.buildings.loc[building, "n_labels"] + 1
        # without the visibility the same answer is evidence
        assert not np.array_equal(_quiet_aggregate(more, dates).posterior, _quiet_aggregate(labels, dates).posterior)


def test_no_destruction_seen_where_every_frame_is_hidden_changes_nothing():
    sim = _campaign("timeline")
    labels = sim.labels.drop(columns="frames_viewed")
    dates = sim.image_dates
    visibility = sim.visibility_table()
    volunteer = labels["volunteer_id"].value_counts().index[0]
    building = labels.loc[labels["volunteer_id"] != volunteer, "building_id"].iloc[0]
    visibility.loc[building] = 0.2  # below the hidden threshold in every image
    more = _with_answer(
        labels,
        building_id=building,
        volunteer_id=volunteer,
        before=pd.NaT,
        after=dates[-1],
        destroyed=False,
        task="timeline",
    )
    plain = _quiet_aggregate(labels, dates, visibility=visibility)
    np.testing.assert_array_equal(_quiet_aggregate(more, dates, visibility=visibility).posterior, plain.posterior)
    # every answer about that building says nothing: it keeps the campaign's prior
    np.testing.assert_allclose(plain.posterior[plain.buildings.index.get_loc(building)], plain.prior, atol=1e-12)


def test_full_visibility_is_todays_model():
    for task in ("timeline", "compare"):
        sim = _campaign(task, seed=1)
        clear = sim.visibility_table() * 0.0 + 1.0
        today, given = (
            stracker.aggregate(sim.labels, sim.image_dates),
            stracker.aggregate(sim.labels, sim.image_dates, visibility=clear),
        )
        assert given.n_iter == today.n_iter
        np.testing.assert_allclose(given.posterior, today.posterior, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------- formats
def _long(wide: pd.DataFrame) -> pd.DataFrame:
    table = wide.stack().rename("visible").reset_index()
    return table.rename(columns={"level_1": "image_date"})


def test_visibility_as_a_wide_table_a_long_table_and_files_gives_one_posterior(tmp_path):
    sim = _campaign("timeline", seed=2)
    wide = sim.visibility_table()
    long = _long(wide)
    assert list(long.columns) == ["building_id", "image_date", "visible"]
    by_wide = stracker.aggregate(sim.labels, sim.image_dates, visibility=wide)
    by_long = stracker.aggregate(sim.labels, sim.image_dates, visibility=long.sample(frac=1.0, random_state=0))
    np.testing.assert_array_equal(by_long.posterior, by_wide.posterior)
    # wide columns as ISO text, booleans of visible / hidden frames
    text = wide.rename(columns=lambda d: f"{d:%Y-%m-%d}")
    np.testing.assert_array_equal(
        stracker.aggregate(sim.labels, sim.image_dates, visibility=text).posterior, by_wide.posterior
    )
    # through files and the command line
    labels_path = tmp_path / "labels.parquet"
    sim.labels.to_parquet(labels_path)
    images_path = tmp_path / "images.csv"
    sim.images.to_csv(images_path, index=False)
    long.to_parquet(tmp_path / "visibility.parquet")
    long.assign(image_date=long["image_date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "visibility.csv", index=False)
    np.save(tmp_path / "visibility.npy", sim.visibility)
    sim.buildings.to_file(tmp_path / "buildings.gpkg", layer="buildings", engine="pyogrio")
    for name in ("visibility.parquet", "visibility.csv", "visibility.npy"):
        out = tmp_path / f"consensus_{name.replace('.', '_')}.gpkg"
        args = ["aggregate", str(labels_path), "--images", str(images_path), "--visibility", str(tmp_path / name)]
        args += ["--footprints", str(tmp_path / "buildings.gpkg"), "--out", str(out), "--json"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        back = stracker.read_consensus(out)
        np.testing.assert_allclose(back.posterior, by_wide.posterior, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        stracker.aggregate(sim.labels, sim.image_dates, visibility=tmp_path / "visibility.csv").posterior,
        by_wide.posterior,
        rtol=0,
        atol=1e-12,
    )


def test_a_npy_visibility_needs_the_footprints_and_the_catalogue(tmp_path):
    sim = _campaign("timeline")
    sim.labels.to_parquet(tmp_path / "labels.parquet")
    np.save(tmp_path / "visibility.npy", sim.visibility)
    result = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(tmp_path / "labels.parquet"),
            "--visibility",
            str(tmp_path / "visibility.npy"),
            "--out",
            str(tmp_path / "c.gpkg"),
        ],
    )
    assert result.exit_code == 2 and "--footprints" in result.output and "Traceback" not in result.output


def test_bad_visibility_is_refused_naming_the_values():
    sim = _campaign("timeline")
    labels, dates = sim.labels, sim.image_dates
    wide = sim.visibility_table()
    with pytest.raises(UnmatchedBuildingsError, match="differ in type") as caught:
        stracker.aggregate(labels, dates, visibility=wide.rename(index=str))
    assert "'0'" in str(caught.value) or "'1'" in str(caught.value)
    with pytest.raises(UnmatchedBuildingsError, match="not in the campaign"):
        stracker.aggregate(labels, dates, visibility=wide.set_axis(wide.index + 10_000))
    late = wide.rename(columns={dates[3]: pd.Timestamp("2031-01-01")})
    with pytest.raises(LabelsError, match="2031-01-01"):
        stracker.aggregate(labels, dates, visibility=late)
    for bad in (1.5, -0.1):
        outside = wide.copy()
        outside.iloc[4, 2] = bad
        with pytest.raises(LabelsError, match=rf"outside \[0, 1\].*{bad}"):
            stracker.aggregate(labels, dates, visibility=outside)
    long = _long(wide)
    with pytest.raises(LabelsError, match="same building and image"):
        stracker.aggregate(labels, dates, visibility=pd.concat([long, long.head(2)]))
    with pytest.raises(LabelsError, match="must be image dates"):
        stracker.aggregate(
            labels, dates, visibility=wide.set_axis([f"frame {i}" for i in range(wide.shape[1])], axis=1)
        )
    with pytest.raises(LabelsError, match="no building ids"):
        stracker.aggregate(labels, dates, visibility=sim.visibility)
    with pytest.raises(OptionsError, match="em model"):
        stracker.aggregate(labels, dates, method="majority", visibility=wide)


def test_buildings_the_visibility_misses_are_fully_visible_and_named():
    sim = _campaign("timeline")
    wide = sim.visibility_table()
    missing = wide.index[:3]
    with pytest.warns(InputCoverageWarning, match=str(missing.tolist())[1:-1]):
        partial = stracker.aggregate(sim.labels, sim.image_dates, visibility=wide.drop(index=missing))
    clear_rows = wide.copy()
    clear_rows.loc[missing] = 1.0
    np.testing.assert_array_equal(
        partial.posterior, stracker.aggregate(sim.labels, sim.image_dates, visibility=clear_rows).posterior
    )
    # visibility of buildings nobody answered about is ignored, and NaN is unknown: visible
    more = pd.concat([wide, pd.DataFrame(0.5, index=pd.Index([99_999], name="building_id"), columns=wide.columns)])
    unknown = wide.copy()
    unknown.loc[missing] = np.nan
    np.testing.assert_array_equal(
        stracker.aggregate(sim.labels, sim.image_dates, visibility=more).posterior,
        stracker.aggregate(sim.labels, sim.image_dates, visibility=wide).posterior,
    )
    with pytest.warns(InputCoverageWarning):
        np.testing.assert_array_equal(
            stracker.aggregate(sim.labels, sim.image_dates, visibility=unknown).posterior, partial.posterior
        )


# ------------------------------------------------------------------------------------------- quality
def test_with_visibility_a_timeline_campaign_comes_within_001_of_the_oracle():
    """A seeded campaign of the small preset's crowd and catalogue with 3,000 buildings (at 400 the realised
    state shares the oracle knows are worth more than the visibility): the fitted model with the visibility
    against the same model given the visibility, the true volunteer parameters and the true prior."""
    scenario = Scenario.preset("small", seed=0).replace(city={"n_buildings": 3000}, crowd={"n_volunteers": 1125})
    sim = stracker.simulate(scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stracker.errors.DuplicateAnswersWarning)
        enc = stracker.encode_labels(sim.labels, sim.image_dates)
    visibility = sim.visibility_table()
    fitted = metrics(stracker.aggregate(enc, visibility=visibility), sim.truth)
    blind = metrics(stracker.aggregate(enc), sim.truth)
    oracle = stracker.aggregate(enc, volunteer_params=sim.volunteers, prior=sim.true_prior(), visibility=visibility)
    best = metrics(oracle, sim.truth)
    assert fitted["state_accuracy"] >= best["state_accuracy"] - 0.01
    assert fitted["state_accuracy"] > blind["state_accuracy"] + 0.003
    assert fitted["log_score"] < blind["log_score"]  # log_score: mean -log posterior of the true state
    assert fitted["ci_coverage"] >= 0.88


# ------------------------------------------------------------------------------------------- gold
def _two_voices(n: int = 40) -> tuple[pd.DataFrame, pd.DatetimeIndex, np.ndarray]:
    """Single-image compare questions about n buildings: volunteer "x" always right, "y" always wrong, and
    "z" right on one in three: the answers alone make y the one to believe."""
    dates = catalogue(3)
    rng = np.random.default_rng(3)
    states = rng.choice([1, 3], size=n)  # destroyed between the first two images, or intact
    truth = (states <= 1).astype(int)  # "destroyed in image 1?"
    b = np.repeat(np.arange(n), 3)
    v = np.tile(np.array(["x", "y", "z"]), n)
    z_right = rng.random(n) < 1 / 3
    answer = np.stack([truth, 1 - truth, np.where(z_right, truth, 1 - truth)], axis=1).ravel()
    return make_table(b, v, np.full(b.size, -1), np.full(b.size, 1), answer, dates, "compare"), dates, states


def test_gold_buildings_keep_their_state_and_calibrate_the_volunteers():
    labels, dates, states = _two_voices()
    d = dates.to_numpy()
    gold_ids = np.arange(10)
    # y is right about the gold buildings in the table; the expert says otherwise
    gold = pd.DataFrame(
        {"building_id": gold_ids, "destroyed_on": np.where(states[gold_ids] <= 1, d[1] - np.timedelta64(1, "D"), None)}
    )
    gold["destroyed_on"] = pd.to_datetime(gold["destroyed_on"])
    without = stracker.aggregate(labels, dates)
    with_gold = stracker.aggregate(labels, dates, gold=gold)
    expected = np.eye(4)[states[gold_ids]]
    np.testing.assert_array_equal(with_gold.posterior[gold_ids] > 0, expected > 0)
    np.testing.assert_allclose(with_gold.posterior[gold_ids], expected, atol=1e-12)
    reliability = with_gold.volunteers["reliability"]
    assert reliability["y"] < 0.2 < 0.8 < reliability["x"]
    assert without.volunteers["reliability"]["y"] > 0.8  # the answers alone believe y
    # the buildings without gold follow the volunteer the gold vouched for
    rest = np.arange(10, len(states))
    by_image_1 = with_gold.posterior[rest, :2].sum(axis=1) > 0.5  # what the questions asked
    assert (by_image_1 == (states[rest] <= 1)).mean() >= 0.95


def test_gold_as_expert_answers_and_through_the_review_pages_csv(tmp_path):
    labels, dates, states = _two_voices()
    d = dates.to_numpy()
    # the review page's download: building_id, destroyed_on (empty: not destroyed)
    csv = tmp_path / "gold.csv"
    on = np.where(states[:10] <= 1, pd.DatetimeIndex(d[1:2] - np.timedelta64(2, "D")).strftime("%Y-%m-%d")[0], "")
    pd.DataFrame({"building_id": np.arange(10), "destroyed_on": on}).to_csv(csv, index=False)
    by_dates = stracker.aggregate(labels, dates, gold=csv)
    # an expert's answers to the questions the volunteers had: "destroyed by image 1?" settles that, not the state
    experts = labels[(labels["volunteer_id"] == "x") & (labels["building_id"] < 10)].assign(volunteer_id="expert")
    by_answers = stracker.aggregate(labels, dates, gold=experts)
    for fit in (by_dates, by_answers):
        np.testing.assert_allclose(fit.posterior[:10, :2].sum(axis=1), states[:10] <= 1, atol=1e-12)
        assert fit.volunteers["reliability"]["y"] < 0.2 < 0.8 < fit.volunteers["reliability"]["x"]
    assert (by_answers.posterior[:10] > 0).sum() > 10  # several states left open per building
    # and the command line reads both
    labels.to_csv(tmp_path / "labels.csv", index=False)
    experts.to_csv(tmp_path / "experts.csv", index=False)
    pd.DataFrame({"image_date": dates}).to_csv(tmp_path / "images.csv", index=False)
    for name, ref in (("gold.csv", by_dates), ("experts.csv", by_answers)):
        out = tmp_path / f"{name}.gpkg"
        args = ["aggregate", str(tmp_path / "labels.csv"), "--images", str(tmp_path / "images.csv")]
        result = CliRunner().invoke(cli, [*args, "--gold", str(tmp_path / name), "--out", str(out)])
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(stracker.read_consensus(out).posterior, ref.posterior, atol=1e-9)


def test_gold_buildings_without_answers_get_a_row_and_are_named():
    labels, dates, _ = _two_voices()
    gold = pd.DataFrame({"building_id": [3, 500, 501], "destroyed_on": pd.to_datetime([None, "2017-06-10", None])})
    with pytest.warns(InputCoverageWarning, match=r"500, 501"):
        c = stracker.aggregate(labels, dates, gold=gold)
    assert c.buildings.loc[[500, 501], "n_labels"].tolist() == [0, 0]
    np.testing.assert_allclose(c.state_probabilities().loc[[500, 501]].to_numpy(), np.eye(4)[[1, 3]], atol=1e-12)


def test_bad_gold_is_refused_naming_the_values():
    labels, dates, _ = _two_voices()
    with pytest.raises(UnmatchedBuildingsError, match="differ in type"):
        stracker.aggregate(labels, dates, gold=pd.DataFrame({"building_id": ["3"], "destroyed_on": [pd.NaT]}))
    with pytest.raises(LabelsError, match=r"\[3\] more than one date"):
        stracker.aggregate(labels, dates, gold=pd.DataFrame({"building_id": [3, 3], "destroyed_on": [pd.NaT] * 2}))
    contradicting = labels[labels["building_id"] == 4].head(2).assign(destroyed=[True, False])
    contradicting["volunteer_id"] = "expert"
    with pytest.raises(LabelsError, match=r"building\(s\) \[4\] contradict each other"):
        stracker.aggregate(labels, dates, gold=contradicting)
    with pytest.raises(LabelsError, match="destroyed_on"):
        stracker.aggregate(labels, dates, gold=pd.DataFrame({"building_id": [3], "date": [pd.NaT]}))


# ------------------------------------------------------------------------------------------- compare images
def _hard_images(sim: stracker.Simulation, hard: list[int], seed: int = 0) -> pd.DataFrame:
    """The campaign's compare answers with those about the ``hard`` images replaced by coin flips."""
    labels = sim.labels.copy()
    hard_dates = sim.image_dates[hard]
    about = (labels["after"].isin(hard_dates) | labels["before"].isin(hard_dates)) & labels["destroyed"].notna()
    flips = np.random.default_rng(seed).random(int(about.sum())) < 0.5
    labels.loc[about, "destroyed"] = pd.array(flips, dtype="boolean")
    return labels


def test_compare_image_reliability_finds_the_images_hard_for_everyone(tmp_path):
    sim = _campaign("compare", seed=3)
    hard = [4, 11]
    labels = _hard_images(sim, hard)
    options = stracker.EMOptions(compare_image_reliability=True)
    learned = stracker.aggregate(labels, sim.image_dates, options=options)
    plain = stracker.aggregate(labels, sim.image_dates)
    reliability = learned.compare_reliability
    others = np.setdiff1d(np.arange(len(sim.image_dates)), hard)
    assert (reliability[hard] < 0.6).all() and np.median(reliability[others]) > 0.95
    assert metrics(learned, sim.truth)["log_score"] < metrics(plain, sim.truth)["log_score"]
    # on the clean campaign no image stands out and the posterior hardly moves
    clean = stracker.aggregate(sim.labels, sim.image_dates, options=options)
    assert clean.compare_reliability.min() > 0.75
    today = stracker.aggregate(sim.labels, sim.image_dates)
    assert abs(metrics(clean, sim.truth)["state_accuracy"] - metrics(today, sim.truth)["state_accuracy"]) <= 0.01
    assert plain.compare_reliability is None
    learned.to_file(tmp_path / "c.gpkg")  # the images layer carries it
    images = gpd.read_file(tmp_path / "c.gpkg", layer="images", engine="pyogrio")
    np.testing.assert_allclose(images["compare_reliability"].to_numpy(), reliability)


def test_the_dask_engine_learns_the_same_reliability_and_refuses_visibility_and_gold():
    from dask.distributed import Client, LocalCluster

    sim = _campaign("compare", seed=3)
    labels = _hard_images(sim, [4, 11])
    options = stracker.EMOptions(compare_image_reliability=True, max_iter=30)
    in_memory = stracker.aggregate(labels, sim.image_dates, options=options)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster):
        with stracker.aggregate_distributed(labels, sim.image_dates, options=options, n_partitions=3) as result:
            on_dask = result.compute()
    np.testing.assert_allclose(on_dask.posterior, in_memory.posterior, rtol=0, atol=1e-9)
    np.testing.assert_allclose(on_dask.compare_reliability, in_memory.compare_reliability, rtol=0, atol=1e-9)
    for given in ({"visibility": sim.visibility_table()}, {"gold": sim.truth.head()}):
        with pytest.raises(OptionsError, match=f"does not take {next(iter(given))}="):
            stracker.aggregate_distributed(labels, sim.image_dates, **given)


def test_zooniverse_expert_classifications_become_gold(tmp_path):
    from platform_exports import question_annotation, write_zooniverse, zooniverse_row

    from stracker.platforms import read_zooniverse

    dates = catalogue(3)
    day = [f"{d:%Y-%m-%d}" for d in dates]
    rows, n = [], 0
    for building in range(12):
        destroyed = building % 2 == 0
        subject = {100 + building: {"#building_id": str(building), "#before": day[0], "#after": day[1]}}
        answers = {"x": destroyed, "y": not destroyed, "z": not destroyed}
        if building < 4:
            answers["expert_ann"] = destroyed
        for user, says in answers.items():
            n += 1
            row = zooniverse_row(
                n,
                user,
                f"ip{user}",
                7,
                "Raqqa",
                "1.1",
                pd.Timestamp("2019-01-10") + pd.Timedelta(minutes=n),
                question_annotation("Yes" if says else "No"),
                subject,
                user_id=n,
            )
            row["expert"] = "TRUE" if user == "expert_ann" else None
            rows.append(row)
    path = write_zooniverse(tmp_path / "classifications.csv", rows)
    imported = read_zooniverse(path, experts="gold")
    assert imported.gold is not None and set(imported.gold["volunteer_id"]) == {"expert_ann"}
    assert "expert_ann" not in set(imported.labels["volunteer_id"])
    assert imported.summary["expert_answers"] == 4 and imported.summary["gold_buildings"] == 4
    assert read_zooniverse(path).gold is None  # by default experts answer like volunteers
    with_gold = stracker.aggregate(imported.labels, dates, gold=imported.gold)
    assert with_gold.volunteers["reliability"]["x"] > 0.8 > 0.2 > with_gold.volunteers["reliability"]["y"]
    assert stracker.aggregate(imported.labels, dates).volunteers["reliability"]["x"] < 0.5  # outvoted without
    # the command line: import sets the experts apart, aggregate takes them as gold
    pd.DataFrame({"image_date": dates}).to_csv(tmp_path / "images.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "import",
            "zooniverse",
            str(path),
            "--out",
            str(tmp_path / "answers.csv"),
            "--gold",
            str(tmp_path / "gold.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 expert answers about 4 buildings set apart as gold" in result.output
    out = tmp_path / "consensus.gpkg"
    args = ["aggregate", str(tmp_path / "answers.csv"), "--images", str(tmp_path / "images.csv")]
    result = CliRunner().invoke(cli, [*args, "--gold", str(tmp_path / "gold.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(stracker.read_consensus(out).posterior, with_gold.posterior, atol=1e-9)


def test_next_aggregates_the_answers_with_the_visibility():
    from stracker.tasking import next_questions

    sim = _campaign("timeline", seed=1)
    ids = sim.buildings["building_id"]
    batch = next_questions(sim.labels, sim.image_dates, buildings=ids, visibility=sim.visibility, design="bisection")
    blind = next_questions(sim.labels, sim.image_dates, buildings=ids, design="bisection")
    seen = stracker.aggregate(sim.labels, sim.image_dates, visibility=sim.visibility_table())
    rows = batch.state.building_ids.get_indexer(seen.buildings.index)
    np.testing.assert_allclose(batch.state.posterior[rows], seen.posterior, rtol=0, atol=1e-9)
    assert not np.allclose(blind.state.posterior[rows], seen.posterior, atol=1e-3)
