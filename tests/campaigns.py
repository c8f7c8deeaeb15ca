"""Synthetic campaigns drawn from the consensus model's own answer model, shared by the consensus tests.

Nothing here imports the simulator: the consensus must stand alone. Imported by ``test_consensus.py`` and
``test_distributed.py`` (tests do not import each other).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import stracker
from stracker.consensus import Consensus

__all__ = [
    "CONTRACT_COLUMNS",
    "DATE_COLUMNS",
    "FLOAT_COLUMNS",
    "RTE",
    "Campaign",
    "SpatialCampaign",
    "assert_same_buildings",
    "assert_same_consensus",
    "assign",
    "catalogue",
    "make_table",
    "metrics",
    "mixed_table",
    "state_of",
    "timeline_answers",
    "truth_of",
    "volunteer_params",
]

CONTRACT_COLUMNS = [
    "p_destroyed",
    "destroyed_after",
    "destroyed_by",
    "confidence",
    "ci90_start",
    "ci90_end",
    "n_labels",
    "n_volunteers",
]
DATE_COLUMNS = ["destroyed_after", "destroyed_by", "ci90_start", "ci90_end"]
FLOAT_COLUMNS = ["p_destroyed", "confidence"]
# real answers carried by the repository (tests/data/rte/README.md: source, citation, licence)
RTE = Path(__file__).resolve().parent / "data" / "rte" / "answers.csv"


def catalogue(n: int, gap_days: int = 10, start: str = "2017-06-06") -> pd.DatetimeIndex:
    """n image dates, gap_days apart."""
    return pd.DatetimeIndex(pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * gap_days, unit="D"))


def make_table(building, volunteer, lo, hi, answer, dates, task) -> pd.DataFrame:
    """A contract table from arrays: lo/hi image indices (lo -1: NaT), answer 1 yes / 0 no / -1 can't tell."""
    d = dates.to_numpy(dtype="datetime64[ns]")
    lo, hi, answer = np.asarray(lo), np.asarray(hi), np.asarray(answer)
    before = np.where(lo >= 0, d[np.maximum(lo, 0)], np.datetime64("NaT", "ns"))
    destroyed = pd.array(np.where(answer < 0, None, answer == 1), dtype="boolean")
    return pd.DataFrame(
        {
            "building_id": np.asarray(building),
            "volunteer_id": np.asarray(volunteer),
            "before": before,
            "after": d[hi],
            "destroyed": destroyed,
            "task": np.broadcast_to(np.asarray(task, dtype=object), lo.shape),
        }
    )


def truth_of(states: np.ndarray, dates: pd.DatetimeIndex, ids=None) -> pd.Series:
    """Ground truth destroyed_on for states: a day before the state's upper image date; NaT for intact."""
    ends = np.append(dates.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    ids = np.arange(len(states)) if ids is None else ids
    return pd.Series(
        ends[states] - np.timedelta64(1, "D"), index=pd.Index(ids, name="building_id"), name="destroyed_on"
    )


def state_of(consensus: Consensus) -> np.ndarray:
    return np.argmax(consensus.posterior, axis=1)


TRUE_PARAMS = ("p_late", "p_early", "early_decay", "p_miss", "p_false", "sensitivity", "specificity")
"""Parameters of the answer model the campaigns here are drawn from (nobody guesses: p_guess = 0)."""


def volunteer_params(rng: np.random.Generator, n: int, first_id: int = 0) -> pd.DataFrame:
    """Varied but decent volunteers."""
    return pd.DataFrame(
        {
            "p_late": rng.uniform(0.05, 0.45, n),
            "p_early": rng.uniform(0.02, 0.2, n),
            "early_decay": rng.uniform(0.1, 0.5, n),
            "p_miss": rng.uniform(0.02, 0.25, n),
            "p_false": rng.uniform(0.01, 0.1, n),
            "sensitivity": rng.uniform(0.6, 0.95, n),
            "specificity": rng.uniform(0.6, 0.95, n),
            "p_guess": np.zeros(n),  # ignored by a model without a guess term
        },
        index=pd.Index(np.arange(first_id, first_id + n), name="volunteer_id"),
    )


def timeline_answers(rng, state, volunteer, params, n_images):
    """(lo, hi, answer) of timeline answers drawn from the model's mark model."""
    D = n_images
    p = {name: params[name].to_numpy()[volunteer] for name in TRUE_PARAMS}
    n = state.size
    lo, hi, answer = np.full(n, -1), np.full(n, D - 1), np.zeros(n, dtype=int)  # default: no destruction
    destroyed = state < D
    miss = destroyed & (rng.random(n) < p["p_miss"])
    early = destroyed & ~miss & (rng.random(n) < p["p_early"])
    late = destroyed & ~miss & ~early  # late by 0 is on time
    early_hi = np.maximum(state - rng.geometric(1 - p["early_decay"]), 0)
    late_hi = state + rng.geometric(1 - p["p_late"]) - 1
    marked = late & (late_hi <= D - 1)  # late past the last image: no destruction seen
    false = ~destroyed & (rng.random(n) < p["p_false"])
    false_hi = rng.integers(0, D, n)
    for mask, h in [(early, early_hi), (marked, late_hi), (false, false_hi)]:
        hi = np.where(mask, h, hi)
        lo = np.where(mask, h - 1, lo)
        answer = np.where(mask, 1, answer)
    return lo, hi, answer


def assign(rng, n_buildings, volunteer_ids, per_building):
    """Each building answered by per_building distinct volunteers."""
    b = np.repeat(np.arange(n_buildings), per_building)
    v = np.concatenate([rng.choice(volunteer_ids, per_building, replace=False) for _ in range(n_buildings)])
    return b, v


class Campaign:
    """A synthetic timeline campaign drawn from the model's answer model."""

    def __init__(self, seed, n_buildings=300, n_volunteers=40, n_images=10, per_building=5, p_intact=0.3):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.dates = catalogue(n_images)
        D = n_images
        self.states = rng.integers(0, D, n_buildings)
        self.states[rng.random(n_buildings) < p_intact] = D
        self.params = volunteer_params(rng, n_volunteers)
        b, v = assign(rng, n_buildings, np.arange(n_volunteers), per_building)
        lo, hi, answer = timeline_answers(rng, self.states[b], v, self.params, D)
        self.labels = make_table(b, v, lo, hi, answer, self.dates, "timeline")
        self.truth = truth_of(self.states, self.dates)
        self.prior = np.bincount(self.states, minlength=D + 1) / n_buildings


def metrics(consensus: Consensus, truth) -> pd.Series:
    return stracker.evaluate(consensus, truth).set_index("metric")["value"]


def assert_same_buildings(a: pd.DataFrame, b: pd.DataFrame, atol: float = 1e-9) -> None:
    assert a.index.equals(b.index)
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a[FLOAT_COLUMNS].to_numpy(), b[FLOAT_COLUMNS].to_numpy(), rtol=0, atol=atol)
    for column in DATE_COLUMNS:
        pd.testing.assert_series_equal(a[column], b[column])
    pd.testing.assert_frame_equal(a[["n_labels", "n_volunteers"]], b[["n_labels", "n_volunteers"]])


def mixed_table(seed: int = 1, n_buildings: int = 400) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Timeline marks and compare answers about the same buildings (a few thousand answers)."""
    c = Campaign(seed=seed, n_buildings=n_buildings, n_volunteers=40, n_images=10, per_building=5)
    rng = np.random.default_rng(seed + 100)
    n = 4 * n_buildings
    b = rng.integers(0, n_buildings, n)
    v = rng.integers(0, 40, n)
    first, second = rng.integers(-1, 10, n), rng.integers(0, 10, n)
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    hi = np.where(lo == hi, np.minimum(hi + 1, 9), hi)
    lo = np.where(lo >= hi, -1, lo)
    inside = (lo < c.states[b]) & (c.states[b] <= hi)
    sens, spec = c.params["sensitivity"].to_numpy()[v], c.params["specificity"].to_numpy()[v]
    answer = (rng.random(n) < np.where(inside, sens, 1 - spec)).astype(int)
    answer[rng.random(n) < 0.05] = -1  # some can't tell
    compare = make_table(b, v, lo, hi, answer, c.dates, "compare")
    labels = pd.concat([c.labels, compare], ignore_index=True).sample(frac=1.0, random_state=seed)
    return labels.drop_duplicates().reset_index(drop=True), c.dates


def assert_same_consensus(got: stracker.Consensus, ref: stracker.Consensus, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(got.posterior, ref.posterior, rtol=0, atol=atol)
    assert_same_buildings(got.buildings, ref.buildings, atol=atol)
    assert got.volunteers.index.equals(ref.volunteers.index)
    np.testing.assert_allclose(got.volunteers.to_numpy(float), ref.volunteers.to_numpy(float), rtol=0, atol=atol)
    np.testing.assert_allclose(got.prior, ref.prior, rtol=0, atol=atol)
    assert got.n_iter == ref.n_iter
    assert got.converged == ref.converged
    np.testing.assert_allclose(got.log_likelihood, ref.log_likelihood, rtol=1e-12)


def compare_answers(rng, states, volunteer, params, n_images):
    """(lo, hi, answer) of compare questions about random image pairs, drawn from the two-coin model."""
    n = states.size
    first, second = rng.integers(-1, n_images, n), rng.integers(0, n_images, n)
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    lo = np.where(lo == hi, lo - 1, lo)
    inside = (lo < states) & (states <= hi)
    sens, spec = params["sensitivity"].to_numpy()[volunteer], params["specificity"].to_numpy()[volunteer]
    answer = (rng.random(n) < np.where(inside, sens, 1 - spec)).astype(int)
    return lo, hi, answer


class SpatialCampaign:
    """A campaign on a grid of footprints whose destruction dates cluster in blocks, or do not.

    Buildings stand ``spacing_m`` apart on an ``n_side`` x ``n_side`` grid (EPSG:32637). With ``clustered``,
    each block of ``block`` x ``block`` buildings gets one state (a strike) that each building keeps with
    probability ``keep``, else moves one state either way; otherwise the same states are shuffled over the grid
    (same shares, no spatial pattern). Every building gets ``per_building`` answers from distinct volunteers:
    compare answers about random pairs of images, or timeline answers (``task="timeline"``).
    """

    def __init__(
        self,
        seed,
        clustered=True,
        n_side=30,
        n_images=12,
        per_building=4,
        spacing_m=12.0,
        block=4,
        keep=0.7,
        n_volunteers=40,
        task="compare",
    ):
        import geopandas as gpd
        import shapely

        rng = np.random.default_rng(seed)
        D = n_images
        self.dates = catalogue(D, gap_days=7)
        n = n_side * n_side
        row, col = np.divmod(np.arange(n), n_side)
        block_id = (row // block) * (n_side // block + 1) + col // block
        block_state = rng.integers(0, D + 1, block_id.max() + 1)
        states = block_state[block_id]
        self.block_states = states.copy()
        move = rng.random(n) > keep
        states = np.where(move, np.clip(states + rng.choice([-1, 1], n), 0, D), states)
        if not clustered:
            states = rng.permutation(states)
            self.block_states = states.copy()
        self.states = states
        x = col * spacing_m + rng.uniform(-1, 1, n)
        y = row * spacing_m + rng.uniform(-1, 1, n)
        self.ids = np.arange(1000, 1000 + n)
        self.footprints = gpd.GeoDataFrame(
            {"building_id": self.ids},
            geometry=shapely.box(x - 4, y - 4, x + 4, y + 4),
            crs="EPSG:32637",
        )
        self.params = volunteer_params(rng, n_volunteers)
        b, v = assign(rng, n, np.arange(n_volunteers), per_building)
        draw = compare_answers if task == "compare" else timeline_answers
        lo, hi, answer = draw(rng, states[b], v, self.params, D)
        self.labels = make_table(self.ids[b], v, lo, hi, answer, self.dates, task)
        self.truth = truth_of(states, self.dates, self.ids)
