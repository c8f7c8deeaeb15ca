"""Tests of stracker.crowd: volunteers, who sees which building, and how clouds make answers wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stracker.crowd.answers import compare_answer_model, compare_answers, timeline_answers
from stracker.crowd.volunteers import VOLUNTEER_KINDS, assign_volunteers, make_volunteers
from stracker.labels import destruction_state, encode_labels
from stracker.scenario import COUNTRY_CODES, CrowdScenario, ImageryScenario, Scenario, TaskScenario
from stracker.simulation import Simulation, simulate

PARAMS = ("p_late", "p_early", "early_decay", "p_miss", "p_false", "sensitivity", "specificity")


@pytest.fixture(scope="module")
def compare_sim(simulated) -> Simulation:
    return simulated(Scenario.preset("small", seed=0).replace(tasks={"task": "compare"}))


def _arrays(sim: Simulation) -> dict[str, np.ndarray]:
    """Per label: footprint row, true state, catalogue indices of before (-1: NaT) and after, the answer."""
    enc = encode_labels(sim.labels, sim.image_dates)
    row = pd.Index(sim.buildings["building_id"]).get_indexer(sim.labels["building_id"])
    assert (row >= 0).all()
    return {
        "row": row,
        "state": sim.true_states()[row],
        "lo": enc.lo.astype(np.int64),
        "hi": enc.hi.astype(np.int64),
        "answer": enc.answer.astype(np.int64),
    }


# --- make_volunteers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crowd() -> CrowdScenario:
    return CrowdScenario(
        n_volunteers=6_000, n_countries=80, careless_share=0.2, random_share=0.1, adversarial_share=0.05
    )


@pytest.fixture(scope="module")
def volunteers(crowd) -> pd.DataFrame:
    return make_volunteers(crowd, np.random.default_rng(0))


def test_volunteer_table_shape(volunteers, crowd):
    assert len(volunteers) == crowd.n_volunteers
    assert isinstance(volunteers.index, pd.RangeIndex)
    assert volunteers.index.name == "volunteer_id"
    assert list(volunteers.columns[:3]) == ["country", "kind", "activity"]
    assert set(PARAMS) <= set(volunteers.columns)
    assert not volunteers.isna().any().any()
    assert isinstance(volunteers["kind"].dtype, pd.CategoricalDtype)
    assert list(volunteers["kind"].cat.categories) == list(VOLUNTEER_KINDS)


@pytest.mark.parametrize(("n_volunteers", "n_countries"), [(6_000, 80), (124, 124), (3_100, 124), (40, 1)])
def test_every_country_present(n_volunteers, n_countries):
    table = make_volunteers(CrowdScenario(n_volunteers=n_volunteers, n_countries=n_countries), np.random.default_rng(1))
    assert len(table) == n_volunteers
    assert set(table["country"]) == set(COUNTRY_CODES[:n_countries])


def test_countries_skewed(volunteers):
    counts = volunteers["country"].value_counts()
    assert counts.iloc[0] > 10 * counts.iloc[-1]  # a few countries send most volunteers


def test_kind_shares(volunteers, crowd):
    expected = {
        "careful": 1 - crowd.careless_share - crowd.random_share - crowd.adversarial_share,
        "careless": crowd.careless_share,
        "random": crowd.random_share,
        "adversarial": crowd.adversarial_share,
    }
    shares = volunteers["kind"].value_counts(normalize=True)
    n = len(volunteers)
    for kind, p in expected.items():
        assert abs(shares[kind] - p) < 4 * np.sqrt(p * (1 - p) / n), (kind, shares[kind], p)


def test_no_adversarial_by_default():
    table = make_volunteers(CrowdScenario(n_volunteers=500, n_countries=20), np.random.default_rng(2))
    assert (table["kind"] != "adversarial").all()


def test_parameters_by_kind(volunteers, crowd):
    assert (volunteers["activity"] > 0).all()
    for name in PARAMS:
        assert volunteers[name].between(0, 1).all(), name
    by_kind = volunteers.groupby("kind", observed=True)[list(PARAMS)].mean()
    careful, careless = by_kind.loc["careful"], by_kind.loc["careless"]
    assert careful["p_late"] == pytest.approx(crowd.p_late_mean, abs=0.02)
    assert careful["sensitivity"] == pytest.approx(crowd.sensitivity_mean, abs=0.02)
    for name in ("p_late", "p_early", "p_miss", "p_false"):
        assert careless[name] > 1.5 * careful[name], name
    for name in ("sensitivity", "specificity"):
        assert careless[name] < careful[name], name
    random = volunteers[volunteers["kind"] == "random"]
    assert (random["sensitivity"] == 0.5).all() and (random["specificity"] == 0.5).all()
    # adversarial volunteers' stored behaviour is inverted: they mostly say the opposite
    adversarial = by_kind.loc["adversarial"]
    assert adversarial["sensitivity"] < 0.5 and adversarial["specificity"] < 0.5
    assert adversarial["p_miss"] > 0.5


def test_volunteers_deterministic(crowd):
    a = make_volunteers(crowd, np.random.default_rng(3))
    b = make_volunteers(crowd, np.random.default_rng(3))
    c = make_volunteers(crowd, np.random.default_rng(4))
    pd.testing.assert_frame_equal(a, b)
    assert not a["activity"].equals(c["activity"])


# --- assign_volunteers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_buildings", "per_building", "n_volunteers", "sigma"),
    [(400, 5, 150, 1.3), (1_000, 7, 3_000, 1.3), (300, 7, 2_100, 1.3), (200, 3, 100, 2.5), (50, 1, 50, 1.0)],
)
def test_assignment(n_buildings, per_building, n_volunteers, sigma):
    rng = np.random.default_rng(5)
    activity = rng.lognormal(0.0, sigma, n_volunteers)
    building, volunteer = assign_volunteers(n_buildings, per_building, activity, rng)
    assert building.dtype == np.int32 and volunteer.dtype == np.int32
    assert building.size == volunteer.size == n_buildings * per_building
    # each building seen by exactly per_building volunteers, ordered by building
    assert (np.bincount(building, minlength=n_buildings) == per_building).all()
    assert (np.diff(building) >= 0).all()
    # never the same building twice for one volunteer
    pairs = building.astype(np.int64) * n_volunteers + volunteer
    assert np.unique(pairs).size == pairs.size
    # every volunteer gets at least one building
    assert volunteer.min() >= 0 and volunteer.max() < n_volunteers
    assert (np.bincount(volunteer, minlength=n_volunteers) >= 1).all()


def test_assignment_follows_activity():
    rng = np.random.default_rng(6)
    activity = rng.lognormal(0.0, 1.3, 500)
    _, volunteer = assign_volunteers(4_000, 5, activity, rng)
    counts = np.bincount(volunteer, minlength=500)
    top = np.argsort(-activity)[:50]
    bottom = np.argsort(activity)[:250]
    assert counts[top].mean() > 5 * counts[bottom].mean()
    assert np.corrcoef(activity, counts)[0, 1] > 0.9


def test_assignment_too_few_slots():
    with pytest.raises(ValueError, match="volunteers but only"):
        assign_volunteers(10, 2, np.ones(21), np.random.default_rng(0))


# --- answers in a simulated campaign ----------------------------------------------------------------------


@pytest.mark.slow
def test_heavy_tailed_activity(raqqa):
    counts = raqqa.labels.groupby("volunteer_id").size().sort_values(ascending=False)
    top = counts.iloc[: int(np.ceil(0.1 * len(counts)))].sum() / counts.sum()
    assert top >= 0.40, top
    assert counts.median() <= 0.6 * counts.mean(), (counts.median(), counts.mean())
    assert counts.median() <= 15
    assert counts.max() > 10 * counts.median()


@pytest.mark.slow
def test_every_volunteer_answers(raqqa):
    answered = raqqa.labels.groupby("volunteer_id").size()
    assert set(answered.index) == set(raqqa.volunteers.index)
    assert answered.min() >= 1


@pytest.mark.slow
def test_each_building_answered_by_distinct_volunteers(raqqa):
    per = raqqa.scenario.tasks.volunteers_per_building
    assert not raqqa.labels.duplicated(["building_id", "volunteer_id"]).any()
    counts = raqqa.labels.groupby("building_id").size()
    assert len(counts) == len(raqqa.buildings)
    assert (counts == per).all()


def test_compare_questions_distinct(compare_sim):
    labels = compare_sim.labels
    q = compare_sim.scenario.tasks.questions_per_volunteer
    per = compare_sim.scenario.tasks.volunteers_per_building
    assert not labels.duplicated(["building_id", "volunteer_id", "before", "after"]).any()
    assert (labels.groupby(["building_id", "volunteer_id"]).size() == q).all()
    assert (labels.groupby("building_id")["volunteer_id"].nunique() == per).all()
    single = labels["before"].isna().mean()
    assert single == pytest.approx(compare_sim.scenario.tasks.single_image_share, abs=0.03)


def test_compare_impossible_distinct_questions():
    scenario = Scenario.preset("small").replace(
        imagery={"n_images": 2}, tasks={"task": "compare", "questions_per_volunteer": 5, "single_image_share": 0.0}
    )
    with pytest.raises(ValueError, match="distinct questions"):
        simulate(scenario)


@pytest.mark.slow
def test_low_visibility_makes_timeline_marks_wrong(raqqa):
    a = _arrays(raqqa)
    D = len(raqqa.images)
    hidden = raqqa.scenario.imagery.hidden_visibility
    marks = (a["answer"] == 1) & (a["state"] < D)  # a mark on a building destroyed within the catalogue
    state, lo, hi = a["state"][marks], a["lo"][marks], a["hi"][marks]
    exact = (lo < state) & (state <= hi)  # the true state lies in (before, after]
    vis = raqqa.visibility[a["row"][marks], state]  # visibility of the first image showing the destruction
    clear = vis >= 0.95
    low = (vis >= hidden) & (vis < 0.7)
    assert clear.sum() > 10_000 and low.sum() > 1_000
    clear_rate, low_rate = exact[clear].mean(), exact[low].mean()
    assert clear_rate > 0.7, clear_rate
    assert low_rate < clear_rate - 0.15, (clear_rate, low_rate)


def test_low_visibility_makes_compare_answers_wrong(compare_sim):
    a = _arrays(compare_sim)
    vis = compare_sim.visibility
    v_after = vis[a["row"], a["hi"]]
    v_before = np.where(a["lo"] >= 0, vis[a["row"], np.maximum(a["lo"], 0)], 1.0)
    v_pair = np.minimum(v_after, v_before)
    changed = (a["lo"] < a["state"]) & (a["state"] <= a["hi"])
    answered = a["answer"] >= 0
    wrong = answered & ((a["answer"] == 1) != changed)
    clear = answered & (v_pair >= 0.95)
    low = answered & (v_pair < 0.7)
    assert clear.sum() > 500 and low.sum() > 500
    clear_rate, low_rate = wrong[clear].mean(), wrong[low].mean()
    assert clear_rate < 0.25, clear_rate
    assert low_rate > clear_rate + 0.07, (clear_rate, low_rate)


@pytest.mark.slow
def test_timeline_error_modes(raqqa):
    """Volunteers mark early, late, miss destructions and mark intact buildings; careless ones more often."""
    a = _arrays(raqqa)
    D = len(raqqa.images)
    k, lo, hi, answer = a["state"], a["lo"], a["hi"], a["answer"]
    kind = raqqa.volunteers["kind"].to_numpy()[raqqa.labels["volunteer_id"].to_numpy()]
    destroyed = k < D
    marked = answer == 1
    modes = {  # (error, among which answers, plausible range of its rate)
        "early": (marked & (hi < k), marked & destroyed, (0.01, 0.15)),
        "late": (marked & destroyed & (lo >= k), marked & destroyed, (0.05, 0.40)),
        "miss": ((answer == 0) & destroyed, destroyed, (0.02, 0.20)),
        "false": (marked & ~destroyed, ~destroyed, (0.01, 0.20)),
    }
    for name, (error, base, (low, high)) in modes.items():
        rate = error[base].mean()
        assert low < rate < high, (name, rate)
        careful, careless = error[base & (kind == "careful")].mean(), error[base & (kind == "careless")].mean()
        assert careless > 1.3 * careful, (name, careful, careless)


@pytest.mark.slow
def test_hidden_frames_never_marked(raqqa):
    a = _arrays(raqqa)
    vis = raqqa.visibility
    hidden = raqqa.scenario.imagery.hidden_visibility
    marked = a["answer"] == 1
    assert marked.sum() > 10_000
    assert (vis[a["row"][marked], a["hi"][marked]] >= hidden).all()
    with_before = marked & (a["lo"] >= 0)
    assert (vis[a["row"][with_before], a["lo"][with_before]] >= hidden).all()
    # "no destruction seen" ends at the last visible image of the building
    nothing = a["answer"] == 0
    visible = vis >= hidden
    last_visible = visible.shape[1] - 1 - np.argmax(visible[:, ::-1], axis=1)
    assert (a["hi"][nothing] == last_visible[a["row"][nothing]]).all()
    # hidden frames do exist, so the check above means something
    assert (vis[a["row"]] < hidden).any()


@pytest.mark.slow
def test_before_is_last_visible_image_before_the_mark(raqqa):
    a = _arrays(raqqa)
    visible = raqqa.visibility >= raqqa.scenario.imagery.hidden_visibility
    marked = np.flatnonzero(a["answer"] == 1)
    row, hi, lo = a["row"][marked], a["hi"][marked], a["lo"][marked]
    D = visible.shape[1]
    earlier = visible[row] & (np.arange(D) < hi[:, None])
    expected = np.where(earlier.any(axis=1), D - 1 - np.argmax(earlier[:, ::-1], axis=1), -1)
    assert np.array_equal(lo, expected)


def test_compare_hidden_pairs_cannot_tell(compare_sim):
    a = _arrays(compare_sim)
    vis = compare_sim.visibility
    hidden = compare_sim.scenario.imagery.hidden_visibility
    v_before = np.where(a["lo"] >= 0, vis[a["row"], np.maximum(a["lo"], 0)], 1.0)
    v_pair = np.minimum(vis[a["row"], a["hi"]], v_before)
    assert (v_pair < hidden).any()
    assert np.array_equal(a["answer"] == -1, v_pair < hidden)


def test_compare_answers_follow_their_model(compare_sim):
    """The simulated answers are draws from compare_answer_model: in bins of the model's P(yes), the share of
    yes answers matches, and the model's hidden flag is exactly the can't-tell answers."""
    a = _arrays(compare_sim)
    sc = compare_sim.scenario
    volunteer = compare_sim.volunteers.index.get_indexer(compare_sim.labels["volunteer_id"])
    yes_changed, yes_unchanged, hidden = compare_answer_model(
        a["row"], volunteer, a["lo"], a["hi"], compare_sim.visibility, compare_sim.volunteers, sc.imagery, sc.crowd
    )
    assert np.array_equal(hidden, a["answer"] == -1)
    changed = (a["lo"] < a["state"]) & (a["state"] <= a["hi"])
    p_yes = np.where(changed, yes_changed, yes_unchanged)[~hidden]
    said_yes = a["answer"][~hidden] == 1
    bins = np.digitize(p_yes, [0.2, 0.4, 0.6, 0.8])
    for b in np.unique(bins):
        inside = bins == b
        if inside.sum() >= 200:
            se = np.sqrt(p_yes[inside].mean() * (1 - p_yes[inside].mean()) / inside.sum())
            assert abs(said_yes[inside].mean() - p_yes[inside].mean()) < 4 * se + 0.01, b
    # partial cloud pulls both towards a coin flip, the more the cloudier the frame
    sens = compare_sim.volunteers["sensitivity"].to_numpy()[volunteer]
    spec = compare_sim.volunteers["specificity"].to_numpy()[volunteer]
    assert (np.abs(yes_changed - 0.5) <= np.abs(sens - 0.5) + 1e-12).all()
    assert (np.abs(yes_unchanged - 0.5) <= np.abs(spec - 0.5) + 1e-12).all()
    clear = compare_sim.visibility[a["row"], a["hi"]] >= 1.0
    single = a["lo"] < 0
    np.testing.assert_allclose(yes_changed[clear & single], sens[clear & single])
    np.testing.assert_allclose(yes_unchanged[clear & single], 1 - spec[clear & single])


# --- the answer models on controlled input ----------------------------------------------------------------


def _perfect_volunteers(n: int) -> pd.DataFrame:
    """Careful volunteers with error rates near zero."""
    crowd = CrowdScenario(
        n_volunteers=n,
        n_countries=1,
        careless_share=0.0,
        random_share=0.0,
        p_late_mean=1e-6,
        p_early_mean=1e-6,
        p_miss_mean=1e-6,
        p_false_mean=1e-6,
        sensitivity_mean=1 - 1e-6,
        specificity_mean=1 - 1e-6,
        skill_concentration=1e6,
    )
    return make_volunteers(crowd, np.random.default_rng(0))


DATES = pd.date_range("2017-06-01", periods=6, freq="7D").to_numpy(dtype="datetime64[ns]")


def test_timeline_perfect_volunteer_clear_sky():
    D = DATES.size
    state = np.arange(D + 1)  # one building per state, 0..D
    building = np.arange(D + 1)
    volunteer = np.zeros(D + 1, dtype=np.int64)
    vis = np.ones((D + 1, D), dtype=np.float32)
    labels = timeline_answers(
        building,
        volunteer,
        state,
        vis,
        _perfect_volunteers(1),
        DATES,
        ImageryScenario(),
        CrowdScenario(),
        np.random.default_rng(0),
    )
    destroyed = labels["destroyed"].to_numpy(dtype=bool, na_value=False)
    assert destroyed.tolist() == [True] * D + [False]
    # a mark: before = the image before the destruction (NaT for state 0), after = the first destroyed image
    assert labels["after"].tolist() == [pd.Timestamp(d) for d in DATES] + [pd.Timestamp(DATES[-1])]
    assert labels["before"].isna().tolist() == [True] + [False] * (D - 1) + [True]
    assert labels["before"].iloc[1:D].tolist() == [pd.Timestamp(d) for d in DATES[:-1]]
    assert labels["frames_viewed"].tolist() == [*range(1, D + 1), D]


def test_timeline_hidden_destruction_frame_widens_interval():
    D = DATES.size
    vis = np.ones((1, D), dtype=np.float32)
    vis[0, 2:4] = 0.1  # images 2 and 3 under cloud; the building is destroyed in image 2
    labels = timeline_answers(
        np.array([0]),
        np.array([0]),
        np.array([2]),
        vis,
        _perfect_volunteers(1),
        DATES,
        ImageryScenario(),
        CrowdScenario(),
        np.random.default_rng(0),
    )
    row = labels.iloc[0]
    assert bool(row["destroyed"])
    assert row["before"] == pd.Timestamp(DATES[1])
    assert row["after"] == pd.Timestamp(DATES[4])
    assert row["frames_viewed"] == 5


def test_timeline_fully_hidden_building_cannot_tell():
    D = DATES.size
    vis = np.zeros((1, D), dtype=np.float32)
    labels = timeline_answers(
        np.array([0]),
        np.array([0]),
        np.array([3]),
        vis,
        _perfect_volunteers(1),
        DATES,
        ImageryScenario(),
        CrowdScenario(),
        np.random.default_rng(0),
    )
    assert labels["destroyed"].isna().all()
    assert labels["frames_viewed"].tolist() == [D]


def test_compare_perfect_volunteer_clear_sky():
    D = DATES.size
    n_buildings = 50
    state = np.random.default_rng(1).integers(0, D + 1, n_buildings)
    building = np.arange(n_buildings)
    volunteer = np.zeros(n_buildings, dtype=np.int64)
    vis = np.ones((n_buildings, D), dtype=np.float32)
    tasks = TaskScenario(task="compare", questions_per_volunteer=3)
    labels = compare_answers(
        building,
        volunteer,
        state,
        vis,
        _perfect_volunteers(1),
        DATES,
        ImageryScenario(),
        CrowdScenario(),
        tasks,
        np.random.default_rng(0),
    )
    assert len(labels) == 3 * n_buildings
    enc = encode_labels(labels, DATES)
    k = state[labels["building_id"].to_numpy()]
    changed = (enc.lo < k) & (k <= enc.hi)
    assert np.array_equal(enc.answer == 1, changed)
    assert (enc.answer >= 0).all()
    assert (labels["frames_viewed"] == np.where(enc.lo < 0, 1, 2)).all()


def test_destruction_state_matches_contract():
    dates = pd.DatetimeIndex(DATES)
    on = pd.to_datetime(["2017-05-01", str(dates[0].date()), "2017-06-03", str(dates[-1].date()), "2018-01-01", None])
    assert destruction_state(on, dates).tolist() == [0, 0, 1, DATES.size - 1, DATES.size, DATES.size]
