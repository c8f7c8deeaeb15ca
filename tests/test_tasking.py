"""Adaptive tasking: bisection, information gain, retirement, and fewer frames than a timeline campaign."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import stracker
from stracker.consensus.em import EMOptions
from stracker.errors import ScenarioError
from stracker.tasking import (
    bisection_questions,
    campaign_state,
    expected_information_gain,
    infogain_questions,
    mark_cant_tell,
    most_reliable_first,
    retired,
    run_adaptive,
)


def _bayes_noiseless(posterior, lo, hi, truth):
    states = np.arange(posterior.shape[1])
    inside = (states > lo[:, None]) & (states <= hi[:, None])
    answer = (truth > lo) & (truth <= hi)
    consistent = inside == answer[:, None]
    updated = posterior * consistent
    return updated / updated.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("truth", [0, 3, 6, 7])
def test_bisection_halves_the_posterior_on_noiseless_answers(truth):
    posterior = np.full((1, 8), 1 / 8)  # 7 images, 8 states, uniform
    support = [8]
    while support[-1] > 1:
        lo, hi = bisection_questions(posterior)
        q = posterior[0, lo[0] + 1 : hi[0] + 1].sum()
        assert q == pytest.approx(0.5)  # the question splits the mass in halves
        posterior = _bayes_noiseless(posterior, lo, hi, np.array([truth]))
        support.append(int((posterior > 0).sum()))
    assert support == [8, 4, 2, 1]
    assert posterior[0, truth] == 1.0


def test_bisection_skips_clouded_images():
    posterior = np.full((1, 8), 1 / 8)
    unusable = np.zeros((1, 7), dtype=bool)
    unusable[0, 3] = True  # the median image is hidden for this building
    _, hi = bisection_questions(posterior, unusable=unusable)
    assert hi[0] in (2, 4)


def test_information_gain_prefers_reliable_volunteers():
    q = np.linspace(0.05, 0.95, 19)
    good = expected_information_gain(q, np.array(0.95), np.array(0.95))
    poor = expected_information_gain(q, np.array(0.7), np.array(0.7))
    coin = expected_information_gain(q, np.array(0.5), np.array(0.5))
    assert np.all(good > poor) and np.allclose(coin, 0.0)
    # where they help most: the gain of a reliable volunteer over a poor one is largest at even odds
    assert np.argmax(good - poor) == 9


def test_information_gain_question_for_a_perfect_volunteer_is_the_median_split():
    posterior = np.array([[0.05, 0.05, 0.1, 0.3, 0.3, 0.1, 0.1]])
    lo, hi, gain = infogain_questions(posterior, np.array([1.0]), np.array([1.0]))
    assert lo[0] == -1 and hi[0] == 3 and gain[0] == pytest.approx(1.0)  # P(destroyed by image 3) = 0.5


def test_reliable_volunteers_go_to_the_most_uncertain_buildings():
    order = most_reliable_first(np.array([0.55, 0.95, 0.8, 0.7]))
    assert order.tolist() == [1, 2, 3, 0]


def test_retirement():
    settled = np.array([[0.0, 0.97, 0.03, 0.0], [0.02, 0.01, 0.0, 0.97], [0.3, 0.4, 0.3, 0.0]])
    assert retired(settled).tolist() == [True, True, False]


def test_retirement_of_undestroyed_buildings_follows_the_interval_mass():
    # P(intact) 0.985: settled by a 90% or 95% interval (tails of 5% or 2.5%), not by a 98% one (1% tails)
    post = np.array([[0.005, 0.005, 0.005, 0.985]])
    assert retired(post, 0.9)[0] and retired(post, 0.95)[0] and not retired(post, 0.98)[0]
    assert retired(post, 0.98, intact_confidence=0.98)[0]


def test_retirement_when_clouds_hide_every_image_that_could_split_the_interval():
    post = np.array([[0.0, 0.5, 0.0, 0.5, 0.0], [0.0, 0.5, 0.5, 0.0, 0.0]])
    # building 0: states 1..3, separated by images 1 and 2; building 1: states 1..2, separated by image 1
    hidden = np.zeros((2, 4), dtype=bool)
    hidden[:, 1] = True
    assert retired(post, 0.9, hidden=hidden).tolist() == [False, True]
    hidden[0, 2] = True
    assert retired(post, 0.9, hidden=hidden).tolist() == [True, True]
    hidden[:] = False
    hidden[:, 0] = hidden[:, 3] = True  # images outside the interval change nothing
    assert retired(post, 0.9, hidden=hidden).tolist() == [False, False]


def test_retirement_of_some_buildings_is_their_rows_of_everyones(small):
    campaign = run_adaptive(small, "infogain", budget=3_000, record=False)
    state = campaign_state(campaign.labels, small.image_dates, buildings=small.buildings["building_id"])
    rows = np.random.default_rng(0).choice(state.n_buildings, 50, replace=False)
    for mass, intact in ((0.9, None), (0.8, 0.9)):
        everyone = state.retirement(mass, intact)
        assert (everyone != 0).any() and (everyone == 0).any()
        assert np.array_equal(state.retirement(mass, intact, buildings=rows), everyone[rows])


def test_only_single_image_cant_tell_proves_an_image_hidden():
    hidden, pair_cant_tell = np.zeros((3, 5), bool), np.zeros(3, bool)
    building, lo, hi = np.array([0, 1, 2]), np.array([1, -1, 0]), np.array([3, 2, 4])
    mark_cant_tell(hidden, pair_cant_tell, building, lo, hi, np.array([True, True, False]))
    assert not hidden[0].any() and pair_cant_tell.tolist() == [True, False, False]  # a pair: either may be clouded
    assert np.flatnonzero(hidden[1]).tolist() == [2] and not hidden[2].any()


def test_bisection_asks_single_images_after_a_pair_cant_tell():
    posterior = np.array([[0.0, 0.0, 0.1, 0.4, 0.4, 0.1]] * 2)
    lo, hi = bisection_questions(posterior, mass=0.8, single=np.array([False, True]))
    assert lo.tolist() == [1, -1] and hi[0] == hi[1] == 3


@pytest.mark.parametrize("design", ["random", "bisection"])
def test_pair_questions_never_retire_a_building_behind_a_clear_image(small, design):
    """Replaying a pair-heavy campaign's can't-tell answers: every image taken as hidden is hidden in the world,
    though pair questions came back "can't tell" too."""
    campaign = run_adaptive(small, design, budget=20_000, max_retire_mass=None, record=False)
    labels = campaign.labels
    B, D = len(small.buildings), len(small.image_dates)
    building = pd.Index(small.buildings["building_id"]).get_indexer(labels["building_id"])
    lo = np.where(labels["before"].isna(), -1, small.image_dates.get_indexer(labels["before"]))
    hi = small.image_dates.get_indexer(labels["after"])
    hidden, pair_cant_tell = np.zeros((B, D), bool), np.zeros(B, bool)
    mark_cant_tell(hidden, pair_cant_tell, building, lo, hi, labels["destroyed"].isna().to_numpy())
    truly_hidden = small.visibility < small.scenario.imagery.hidden_visibility
    assert hidden.any() and pair_cant_tell.any()
    assert not (hidden & ~truly_hidden).any()


def test_retired_buildings_are_not_asked_again(small):
    campaign = run_adaptive(small, "infogain", budget=4_000, seed=1)
    labels = campaign.labels
    last_round = labels.groupby("building_id")["round"].max()
    history = campaign.history.set_index("round")
    # rounds stop asking about settled buildings: later rounds ask fewer
    assert history["asked"].iloc[-1] < history["asked"].iloc[0]
    assert last_round.nunique() > 1
    # no building is asked twice by the same volunteer
    assert not labels.duplicated(["building_id", "volunteer_id"]).any()


@pytest.mark.parametrize("design", ["random", "bisection", "infogain"])
def test_budget_is_never_exceeded(small, design):
    campaign = run_adaptive(small, design, budget=1_500, record=False)
    assert campaign.frames_viewed <= 1_500
    assert campaign.history["frames_viewed"].iloc[-1] == campaign.frames_viewed


def test_adaptive_reaches_timeline_accuracy_with_a_quarter_of_the_frames(small):
    timeline = stracker.evaluate(stracker.aggregate(small.labels, small.image_dates), small.truth)
    timeline = timeline.set_index("metric")["value"]
    timeline_frames = int(small.labels["frames_viewed"].sum())
    campaigns = [run_adaptive(small, "infogain", budget=timeline_frames // 4, seed=s, record=False) for s in range(4)]
    assert all(campaign.frames_viewed <= timeline_frames // 4 for campaign in campaigns)
    metrics = pd.DataFrame([campaign.history.iloc[-1] for campaign in campaigns]).mean()
    # the stated accuracy, at a quarter of the frames, over four campaigns: the timeline's exact state (0.935) or
    # better, 90% intervals covering 95%, and its date error (0.86 days) within 30%: on these 400 buildings one
    # campaign's date error varies by 0.25 days from seed to seed (48 seeds: mean 0.88 days, 0.83 for the planner
    # that refitted every answer every round), so the mean of four by about 0.13
    assert metrics["state_accuracy"] >= max(0.94, timeline["state_accuracy"])
    assert metrics["mae_days"] <= 1.3 * timeline["mae_days"]
    assert metrics["ci_coverage"] >= 0.95
    assert metrics["f1"] >= 0.99


def test_incremental_planner_matches_the_planner_refitting_every_round(small):
    # the exact planner: a full EM fit of every answer after every round
    exact = run_adaptive(small, "infogain", budget=6_000, record=False, refit_share=0.0, refit_options=EMOptions())
    fast = run_adaptive(small, "infogain", budget=6_000, record=False)
    assert exact.history["aggregate_s"].sum() > fast.history["aggregate_s"].sum()
    a, b = exact.history.iloc[-1], fast.history.iloc[-1]
    assert a["frames_viewed"] == b["frames_viewed"] == 6_000
    assert abs(a["state_accuracy"] - b["state_accuracy"]) <= 0.02
    assert abs(a["ci_coverage"] - b["ci_coverage"]) <= 0.02
    assert abs(a["f1"] - b["f1"]) <= 0.01
    assert b["mae_days"] <= 1.5 * a["mae_days"]
    assert fast.consensus.converged  # the campaign ends on a full fit


def test_campaigns_are_deterministic(small):
    first, again = (run_adaptive(small, "infogain", budget=3_000, seed=4) for _ in range(2))
    pd.testing.assert_frame_equal(first.labels, again.labels)
    pd.testing.assert_frame_equal(first.history.drop(columns="aggregate_s"), again.history.drop(columns="aggregate_s"))
    assert np.array_equal(first.consensus.posterior, again.consensus.posterior)


def test_budget_left_raises_the_retirement_bar(small):
    fixed = run_adaptive(small, "infogain", budget=50_000, max_retire_mass=None, record=False)
    rising = run_adaptive(small, "infogain", budget=50_000, record=False)
    # both stop with budget left, every building settled: at 90%, or at 99.99% after three rises
    assert fixed.history["retired"].iloc[-1] == rising.history["retired"].iloc[-1] == len(small.buildings)
    assert fixed.frames_viewed < rising.frames_viewed < 50_000
    assert set(fixed.history["retire_mass"]) == {0.9}
    assert rising.history["retire_mass"].is_monotonic_increasing
    assert rising.history["retire_mass"].iloc[-1] == pytest.approx(0.9999)
    # the extra frames buy accuracy
    assert rising.history["mae_days"].iloc[-1] < fixed.history["mae_days"].iloc[-1]
    assert rising.history["ci_coverage"].iloc[-1] > fixed.history["ci_coverage"].iloc[-1]


def test_bad_design_and_budget(small):
    with pytest.raises(ScenarioError, match="design"):
        run_adaptive(small, "psychic", budget=100)
    with pytest.raises(ScenarioError, match="budget"):
        run_adaptive(small, "infogain", budget=0)
    with pytest.raises(ScenarioError, match="retire_mass"):
        run_adaptive(small, "infogain", budget=100, retire_mass=1.0)


def test_a_campaign_that_knows_its_clouds_never_asks_a_hidden_image(small):
    """With visibility=True the questions skip what clouds hid at each building and the fit reads the answers
    as aggregate(visibility=) does; without it, the campaign asks hidden images and learns of them from
    "can't tell"."""
    table = small.visibility_table()
    blind = run_adaptive(small, "infogain", budget=3_000, record=False)
    seeing = run_adaptive(small, "infogain", budget=3_000, record=False, visibility=True)

    def shares(labels: pd.DataFrame, column: str) -> np.ndarray:
        asked = labels[labels[column].notna()]
        long = table.stack()
        return long.reindex(pd.MultiIndex.from_arrays([asked["building_id"], asked[column]])).to_numpy()

    hidden_below = stracker.consensus.inputs.HIDDEN_VISIBILITY
    for column in ("after", "before"):
        assert (shares(seeing.labels, column) >= hidden_below).all()
    assert (shares(blind.labels, "after") < hidden_below).any()
    assert seeing.labels["destroyed"].isna().mean() < blind.labels["destroyed"].isna().mean()
    # the campaign's last fit is a full fit of its answers with the visibility
    again = stracker.aggregate(seeing.labels, small.image_dates, visibility=table)
    got = seeing.consensus.buildings.loc[again.buildings.index, "p_destroyed"]
    assert np.abs(got.to_numpy() - again.buildings["p_destroyed"].to_numpy()).max() < 0.02
    plain = stracker.aggregate(seeing.labels, small.image_dates)
    assert np.abs(plain.posterior - again.posterior).max() > 0.1  # the visibility changed the fit
