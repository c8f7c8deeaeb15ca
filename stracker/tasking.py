"""Adaptive tasking: date every building with far fewer frames viewed than a full timeline scan.

A campaign runs in rounds. Each round every active building gets one question, put to one volunteer; the
answers are aggregated with everything so far (the EM warm-started from the last round's volunteer
estimates), and buildings whose date is settled retire. Designs:

* ``random``: a random image pair (or single image), as a baseline.
* ``bisection``: probabilistic bisection (Horstein; Waeber, Frazier and Henderson): "was it destroyed between
  image a and image m?", with m at the posterior median of the building's state and a just below its
  credible range (a single image "is it destroyed here?" when that range starts at the first image).
* ``infogain``: for the volunteer at hand, the single-image question with the largest expected reduction in
  entropy of the building's state under that volunteer's estimated sensitivity and specificity; the most
  reliable volunteers of a round go to the buildings whose state is most uncertain.

A building retires when its credible interval lies within one image gap (a single state), it is confidently
undestroyed, or the only images that could still tell its states apart are hidden by clouds there. When every
building has retired and budget is left, the bar rises (the interval's tails shrink tenfold) and the campaign
goes on, so a budget is spread evenly: every building reaches 90% first, then 99%, and so on. Everything per
round is vectorized across buildings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stracker.consensus import Consensus, aggregate
from stracker.consensus.model import DEFAULT_PARAMS, duration_prior
from stracker.consensus.result import credible_bounds
from stracker.crowd.answers import answer_questions
from stracker.crowd.volunteers import clashing
from stracker.errors import ScenarioError
from stracker.evaluation import evaluate
from stracker.simulation import Simulation

__all__ = [
    "DESIGNS",
    "AdaptiveCampaign",
    "bisection_questions",
    "expected_information_gain",
    "infogain_questions",
    "mark_cant_tell",
    "most_reliable_first",
    "retired",
    "run_adaptive",
]

DESIGNS = ("random", "bisection", "infogain")
"""Adaptive question designs."""

_EPS = 1e-12


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def bisection_questions(
    posterior: np.ndarray, mass: float = 0.99, unusable: np.ndarray | None = None,
    single: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic bisection: the question (lo, hi] splitting each building's posterior at its median.

    ``hi`` is the image whose "destroyed by then" probability is nearest one half (the upper edge of the median
    state or of the state below it; the last image when the split is "intact"); ``lo`` is the image just before
    the building's ``mass`` credible range (-1: a single image). Images marked ``unusable`` for a building
    (buildings x images; e.g. answered "can't tell" before) are skipped: ``hi`` is the usable image that splits
    the mass most evenly, ``lo`` the nearest usable one below the range. Buildings marked ``single`` get a
    single-image question (lo = -1), whose "can't tell" shows which image is clouded.

    Examples
    --------
    >>> post = np.array([[0.1, 0.2, 0.3, 0.3, 0.1]])  # 4 images, 5 states
    >>> lo, hi = bisection_questions(post)
    >>> int(lo[0]), int(hi[0])
    (-1, 2)
    >>> lo, hi = bisection_questions(post, unusable=np.array([[False, False, True, False]]))
    >>> int(hi[0])  # P(destroyed by image 1) = 0.3 splits better than P(by image 3) = 0.9
    1
    """
    D = posterior.shape[1] - 1
    by_image = np.cumsum(posterior, axis=1)[:, :D]  # P(destroyed by image j)
    images = np.arange(D)
    # the even split; ties go to the upper image (the median state's upper edge)
    score = np.abs(by_image - 0.5) + 1e-9 * (D - images) / D
    if unusable is not None:
        score = np.where(unusable, np.inf, score)
    hi = np.argmin(score, axis=1)
    start, _ = credible_bounds(posterior, mass)
    lo = np.minimum(start - 1, hi - 1)
    if unusable is not None and unusable.any():
        # the last usable image at or below lo; -1 (a single image) when there is none
        below = np.where(~unusable & (images <= lo[:, None]), images, -1)
        lo = np.where(lo < 0, -1, below.max(axis=1))
    if single is not None:
        lo = np.where(single, -1, lo)
    return lo.astype(np.int64), hi.astype(np.int64)


def expected_information_gain(q: np.ndarray, sensitivity: np.ndarray, specificity: np.ndarray) -> np.ndarray:
    """Expected entropy reduction (bits) of a yes/no answer about an interval holding posterior mass ``q``.

    ``I = h(P(yes)) - [q h(sensitivity) + (1 - q) h(specificity)]`` with h the binary entropy; arrays broadcast.

    Examples
    --------
    >>> round(float(expected_information_gain(np.array(0.5), np.array(1.0), np.array(1.0))), 6)
    1.0
    >>> bool(expected_information_gain(np.array(0.5), np.array(0.9), np.array(0.9))
    ...      > expected_information_gain(np.array(0.5), np.array(0.7), np.array(0.7)))
    True
    """
    p_yes = sensitivity * q + (1 - specificity) * (1 - q)
    return _binary_entropy(p_yes) - (q * _binary_entropy(sensitivity) + (1 - q) * _binary_entropy(specificity))


def infogain_questions(
    posterior: np.ndarray, sensitivity: np.ndarray, specificity: np.ndarray, unusable: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each building and its volunteer, the single-image question "destroyed by image m?" of largest
    expected information gain, skipping images ``unusable`` for the building; returns (lo = -1, hi = m, gain
    in bits)."""
    D = posterior.shape[1] - 1
    q = np.cumsum(posterior, axis=1)[:, :D]  # P(destroyed by image m), m = 0..D-1
    gain = expected_information_gain(q, sensitivity[:, None], specificity[:, None])
    if unusable is not None:
        gain = np.where(unusable, -1.0, gain)
    hi = np.argmax(gain, axis=1)
    return np.full(hi.size, -1, dtype=np.int64), hi.astype(np.int64), gain[np.arange(hi.size), hi]


def most_reliable_first(reliability: np.ndarray) -> np.ndarray:
    """Order of a round's volunteers, most reliable first, to match buildings sorted by falling entropy.

    Examples
    --------
    >>> most_reliable_first(np.array([0.6, 0.9, 0.75])).tolist()
    [1, 2, 0]
    """
    return np.argsort(-reliability, kind="stable")


def retired(
    posterior: np.ndarray,
    mass: float = 0.9,
    intact_confidence: float | None = None,
    hidden: np.ndarray | None = None,
) -> np.ndarray:
    """Buildings whose date is settled, as far as questions can settle it.

    A building is settled when its equal-tailed ``mass`` credible interval is a single state (for the last
    state, "not destroyed", that is P(intact) > 1 - (1 - mass) / 2: confidently undestroyed); or, with
    ``intact_confidence``, when P(intact) reaches it; or when every image that separates the states of its
    interval is known to be ``hidden`` at it (buildings x images; clouded there: a single-image question
    about it was answered "can't tell"), so that no question could tell those states apart.

    Examples
    --------
    >>> post = np.array([[0.0, 0.99, 0.01, 0.0], [0.0, 0.0, 0.01, 0.99], [0.0, 0.5, 0.5, 0.0]])
    >>> retired(post, 0.95).tolist()
    [True, True, False]
    >>> hidden = np.array([[False, False, False], [False, False, False], [False, True, False]])
    >>> retired(post, 0.95, hidden=hidden).tolist()  # image 1 alone separates states 1 and 2
    [True, True, True]
    """
    start, end = credible_bounds(posterior, mass)
    settled = start == end
    if intact_confidence is not None:
        settled |= posterior[:, -1] >= intact_confidence
    if hidden is not None and hidden.any():
        # image j separates states j and j + 1: the interval's separating images are start .. end - 1
        usable_before = np.zeros((hidden.shape[0], hidden.shape[1] + 1), dtype=np.int64)
        np.cumsum(~hidden, axis=1, out=usable_before[:, 1:])
        rows = np.arange(hidden.shape[0])
        settled |= usable_before[rows, end] == usable_before[rows, start]
    return settled


def mark_cant_tell(hidden: np.ndarray, pair_cant_tell: np.ndarray, building: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray, cant_tell: np.ndarray) -> None:
    """Record "can't tell" answers in place. A single-image question (``lo`` = -1) proves its image ``hidden``
    at the building (buildings x images): later questions skip it and retirement counts it. Of a pair, either
    image may be the clouded one, so the building is only flagged in ``pair_cant_tell``: its next questions are
    single images, whose answers tell.

    Examples
    --------
    >>> hidden, pair_cant_tell = np.zeros((2, 4), bool), np.zeros(2, bool)
    >>> mark_cant_tell(hidden, pair_cant_tell, np.array([0, 1]), np.array([1, -1]), np.array([2, 3]),
    ...                np.array([True, True]))
    >>> hidden.astype(int).tolist(), pair_cant_tell.tolist()
    ([[0, 0, 0, 0], [0, 0, 0, 1]], [True, False])
    """
    single = cant_tell & (lo < 0)
    hidden[building[single], hi[single]] = True
    pair_cant_tell[building[cant_tell & (lo >= 0)]] = True


@dataclass
class AdaptiveCampaign:
    """The outcome of :func:`run_adaptive`.

    Attributes
    ----------
    design : str
    labels : pandas.DataFrame
        Every answer asked, as a label table (compare task) with ``frames_viewed`` and ``round``.
    consensus : Consensus
        The aggregate after the last round.
    history : pandas.DataFrame
        One row per round: frames viewed so far, answers, buildings asked (``asked``), the retirement bar
        (``retire_mass``) and the buildings settled under it (``retired``; the last row: the bar the campaign
        ends on), seconds of aggregation, and the evaluation metrics against the truth at that point (with
        ``record=False``, the last row only).
    """

    design: str
    labels: pd.DataFrame
    consensus: Consensus
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def frames_viewed(self) -> int:
        """Frames viewed by the whole campaign."""
        return int(self.labels["frames_viewed"].sum())


def _draw_volunteers(n: int, activity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(activity / activity.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), activity.size - 1)


def run_adaptive(
    simulation: Simulation,
    design: str = "infogain",
    budget: int = 500_000,
    seed: int = 0,
    max_rounds: int = 1000,
    retire_mass: float = 0.9,
    max_retire_mass: float | None = 0.9999,
    intact_confidence: float | None = None,
    record: bool = True,
    progress: object = None,
) -> AdaptiveCampaign:
    """Run an adaptive campaign on a simulated world until the budget of frames viewed is spent.

    The world (footprints, truth, images, clouds, volunteers) is the simulation's; its own timeline answers
    are not used. Answers come from the simulator's volunteers (:func:`stracker.crowd.answer_questions`).

    Parameters
    ----------
    simulation : Simulation
    design : {"random", "bisection", "infogain"}
    budget : int
        Frames viewed at most.
    seed : int
        Seed of the campaign's own random draws (volunteers, random questions, answers).
    max_rounds : int
        Rounds at most (a campaign usually ends first: budget spent, or every building settled at
        ``max_retire_mass``; the pair questions of bisection took 200 rounds for 475,000 frames on raqqa).
    retire_mass : float
        A building retires when its credible interval of this mass is a single state (for "not destroyed":
        P(intact) > 1 - (1 - retire_mass) / 2), or when clouds hide every image that could still split it.
    max_retire_mass : float or None
        With budget left once every building has retired, the mass rises (1 - mass shrinks tenfold each
        time) up to this, and the campaign goes on; ``None``: stop at ``retire_mass``.
    intact_confidence : float, optional
        Retire buildings once P(intact) reaches this, earlier than ``retire_mass`` alone would (see
        :func:`retired`).
    record : bool
        Evaluate against the truth after every round (``history``); otherwise only the last.
    progress : callable, optional
        Called as ``progress(round, frames_viewed, active_buildings)`` after each round.

    Returns
    -------
    AdaptiveCampaign

    Examples
    --------
    >>> import stracker
    >>> from stracker.tasking import run_adaptive
    >>> sim = stracker.simulate("small")
    >>> campaign = run_adaptive(sim, "infogain", budget=3_000, record=False)
    >>> campaign.frames_viewed <= 3_000
    True
    """
    if design not in DESIGNS:
        raise ScenarioError(f"unknown design {design!r}; choose one of {list(DESIGNS)}")
    if budget <= 0:
        raise ScenarioError(f"budget must be a positive number of frames, got {budget}")
    if not 0.0 < retire_mass < 1.0 or (max_retire_mass is not None and not 0.0 < max_retire_mass < 1.0):
        raise ScenarioError(f"retire_mass and max_retire_mass must lie strictly between 0 and 1, got {retire_mass} "
                            f"and {max_retire_mass}")
    mass = retire_mass
    ceiling = retire_mass if max_retire_mass is None else max(max_retire_mass, retire_mass)
    rng = np.random.default_rng(seed)
    sc = simulation.scenario
    dates = simulation.images["image_date"].to_numpy(dtype="datetime64[ns]")
    image_dates = simulation.image_dates
    D = dates.size
    B = len(simulation.buildings)
    building_ids = simulation.buildings["building_id"].to_numpy()
    true_state = simulation.true_states()
    volunteers = simulation.volunteers
    V = len(volunteers)
    activity = volunteers["activity"].to_numpy()

    posterior = np.tile(duration_prior(image_dates), (B, 1))
    sens = np.full(V, DEFAULT_PARAMS["sensitivity"])
    spec = np.full(V, DEFAULT_PARAMS["specificity"])
    seen = np.zeros(0, dtype=np.int64)  # (building, volunteer) keys already asked
    hidden = np.zeros((B, D), dtype=bool)  # images known clouded at a building (single-image "can't tell")
    pair_cant_tell = np.zeros(B, dtype=bool)  # a pair came back "can't tell": ask single images to find out which
    tables: list[pd.DataFrame] = []
    history: list[dict] = []
    consensus: Consensus | None = None
    settled = np.zeros(B, dtype=bool)  # under the current bar, as of the last round's posterior
    frames = 0
    for round_ in range(1, max_rounds + 1):
        while history and settled.all() and mass < ceiling and frames < budget:
            mass = min(1.0 - (1.0 - mass) / 10.0, ceiling)  # budget left: raise the bar
            settled = retired(posterior, mass, intact_confidence, hidden)
            history[-1] |= {"retire_mass": mass, "retired": int(settled.sum())}  # the bar the campaign ends on
        active = np.flatnonzero(~settled)
        if active.size == 0 or frames >= budget:
            break
        # questions this round: one per active building, the most uncertain first if the budget runs short
        entropy = -(posterior[active] * np.log2(np.maximum(posterior[active], _EPS))).sum(axis=1)
        order = np.argsort(-entropy, kind="stable")
        active = active[order]
        volunteer = _draw_volunteers(active.size, activity, rng)
        if design == "infogain":  # buildings are in falling entropy: the most reliable volunteers go first
            volunteer = volunteer[most_reliable_first((sens + spec)[volunteer] / 2)]
        for _ in range(50):  # nobody sees a building twice: redraw clashing slots, in rounds
            key = active.astype(np.int64) * V + volunteer
            clash = np.union1d(np.flatnonzero(np.isin(key, seen)), clashing(key))
            if clash.size == 0:
                break
            volunteer[clash] = _draw_volunteers(clash.size, activity, rng)
        post = posterior[active]
        if design == "random":
            first, second = rng.integers(0, D, size=(2, active.size))
            single = (rng.random(active.size) < sc.tasks.single_image_share) | (first == second)
            lo = np.where(single, -1, np.minimum(first, second))
            hi = np.where(single, first, np.maximum(first, second))
        elif design == "bisection":
            lo, hi = bisection_questions(post, unusable=hidden[active], single=pair_cant_tell[active])
        else:
            lo, hi, _ = infogain_questions(post, sens[volunteer], spec[volunteer], hidden[active])
        cost = np.where(lo < 0, 1, 2)
        affordable = np.cumsum(cost) <= budget - frames
        if not affordable.any():
            break
        active, volunteer, lo, hi = active[affordable], volunteer[affordable], lo[affordable], hi[affordable]
        table = answer_questions(active, volunteer, lo, hi, true_state, simulation.visibility, volunteers, dates,
                                 sc.imagery, sc.crowd, rng)
        mark_cant_tell(hidden, pair_cant_tell, active, lo, hi, table["destroyed"].isna().to_numpy())
        table["building_id"] = building_ids[active]
        table["round"] = round_
        tables.append(table)
        seen = np.concatenate([seen, active.astype(np.int64) * V + volunteer])
        frames += int(table["frames_viewed"].sum())
        labels = pd.concat(tables, ignore_index=True)
        start = time.perf_counter()
        warm = consensus.volunteers if consensus is not None else None
        consensus = aggregate(labels, image_dates, volunteer_params=warm, fit_volunteers=True,
                              on_duplicate="ignore")
        seconds = time.perf_counter() - start
        # the posterior of every building in campaign order (buildings not asked yet keep the prior)
        posterior = np.tile(consensus.prior, (B, 1))
        rows = pd.Index(building_ids).get_indexer(consensus.buildings.index)
        posterior[rows] = consensus.posterior
        fitted = consensus.volunteers
        codes = fitted.index.to_numpy()
        sens[codes] = fitted["sensitivity"].to_numpy()
        spec[codes] = fitted["specificity"].to_numpy()
        settled = retired(posterior, mass, intact_confidence, hidden)
        entry = {"round": round_, "frames_viewed": frames, "answers": len(labels), "asked": int(active.size),
                 "retire_mass": mass, "retired": int(settled.sum()), "aggregate_s": round(seconds, 3)}
        if record:
            entry |= dict(zip(*_metrics(consensus, simulation), strict=True))
        history.append(entry)
        if progress is not None:
            progress(round_, frames, B - entry["retired"])
    if consensus is None:
        raise ScenarioError(f"a budget of {budget} frames buys no question; raise it")
    if not record and history:
        history[-1] |= dict(zip(*_metrics(consensus, simulation), strict=True))
    return AdaptiveCampaign(design, pd.concat(tables, ignore_index=True), consensus, pd.DataFrame(history))


def _metrics(consensus: Consensus, simulation: Simulation) -> tuple[list[str], list[float]]:
    table = evaluate(consensus, simulation.truth)
    return table["metric"].tolist(), table["value"].astype(float).tolist()
