"""The simulated adaptive campaign (``stracker plan``): rounds of questions put to the simulator's volunteers.

Each round every unsettled building gets one question, chosen by the same core as a real campaign's next batch
(:mod:`stracker.tasking.core`), and put to one volunteer drawn by activity; the answers come from the
simulator's answer model (:func:`stracker.crowd.answers.answer_questions`), are aggregated with everything so
far (the EM warm-started from the last round's volunteer estimates), and buildings whose date is settled
retire. When every building has retired and budget is left, the bar rises (the interval's tails shrink
tenfold) and the campaign goes on, so a budget is spread evenly: every building reaches 90% first, then 99%,
and so on. Everything per round is vectorized across buildings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stracker.consensus import Consensus, aggregate
from stracker.consensus.model import DEFAULT_PARAMS
from stracker.crowd.answers import answer_questions
from stracker.crowd.volunteers import clashing
from stracker.errors import ScenarioError
from stracker.evaluation import evaluate
from stracker.simulation import Simulation
from stracker.tasking.core import CampaignState, campaign_state, choose_questions
from stracker.tasking.designs import ACTIVE, DESIGNS, most_reliable_first

__all__ = ["AdaptiveCampaign", "run_adaptive"]


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


class _SimulatedCrowd:
    """The simulation's volunteers as a campaign meets them: drawn by activity, never twice on one building,
    answering by the simulator's answer model, and known to the campaign by their fitted parameters."""

    def __init__(self, simulation: Simulation, rng: np.random.Generator) -> None:
        self.simulation = simulation
        self.rng = rng
        self.volunteers = simulation.volunteers
        self.activity = self.volunteers["activity"].to_numpy()
        V = len(self.volunteers)
        self.sensitivity = np.full(V, DEFAULT_PARAMS["sensitivity"])
        self.specificity = np.full(V, DEFAULT_PARAMS["specificity"])
        self.seen = np.zeros(0, dtype=np.int64)  # (building, volunteer) keys already asked

    def _draw(self, n: int) -> np.ndarray:
        cdf = np.cumsum(self.activity / self.activity.sum())
        return np.minimum(np.searchsorted(cdf, self.rng.random(n), side="right"), self.activity.size - 1)

    def assign(self, buildings: np.ndarray, reliable_first: bool) -> np.ndarray:
        """A volunteer per building (buildings in order of value): with ``reliable_first`` the most reliable
        of the draw go to the first buildings. Clashing slots (a volunteer seeing a building twice) are redrawn,
        in rounds."""
        volunteer = self._draw(buildings.size)
        if reliable_first:
            volunteer = volunteer[most_reliable_first((self.sensitivity + self.specificity)[volunteer] / 2)]
        V = self.activity.size
        for _ in range(50):
            key = buildings.astype(np.int64) * V + volunteer
            clash = np.union1d(np.flatnonzero(np.isin(key, self.seen)), clashing(key))
            if clash.size == 0:
                break
            volunteer[clash] = self._draw(clash.size)
        return volunteer

    def answer(self, buildings: np.ndarray, volunteer: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.DataFrame:
        """The volunteers' answers, as a label table keyed by the simulation's building ids."""
        sim, sc = self.simulation, self.simulation.scenario
        dates = sim.images["image_date"].to_numpy(dtype="datetime64[ns]")
        table = answer_questions(
            buildings,
            volunteer,
            lo,
            hi,
            sim.true_states(),
            sim.visibility,
            self.volunteers,
            dates,
            sc.imagery,
            sc.crowd,
            self.rng,
        )
        table["building_id"] = sim.buildings["building_id"].to_numpy()[buildings]
        self.seen = np.concatenate([self.seen, buildings.astype(np.int64) * self.activity.size + volunteer])
        return table

    def learn(self, consensus: Consensus) -> None:
        """Take the volunteers' fitted sensitivity and specificity (ids are the simulation's codes)."""
        fitted = consensus.volunteers
        codes = fitted.index.to_numpy()
        self.sensitivity[codes] = fitted["sensitivity"].to_numpy()
        self.specificity[codes] = fitted["specificity"].to_numpy()


def _check_options(design: str, budget: int, retire_mass: float, max_retire_mass: float | None) -> None:
    if design not in DESIGNS:
        raise ScenarioError(f"unknown design {design!r}; choose one of {list(DESIGNS)}")
    if budget <= 0:
        raise ScenarioError(f"budget must be a positive number of frames, got {budget}")
    if not 0.0 < retire_mass < 1.0 or (max_retire_mass is not None and not 0.0 < max_retire_mass < 1.0):
        raise ScenarioError(
            f"retire_mass and max_retire_mass must lie strictly between 0 and 1, got {retire_mass} "
            f"and {max_retire_mass}"
        )


def _raise_bar(
    state: CampaignState,
    settled: np.ndarray,
    mass: float,
    ceiling: float,
    intact_confidence: float | None,
    history: list[dict],
    budget_left: bool,
) -> tuple[np.ndarray, float]:
    """With budget left and every building settled, shrink 1 - mass tenfold (up to ``ceiling``) until some
    building is unsettled again; the last round's history records the bar the campaign ends on."""
    while history and settled.all() and mass < ceiling and budget_left:
        mass = min(1.0 - (1.0 - mass) / 10.0, ceiling)
        settled = state.retirement(mass, intact_confidence) != ACTIVE
        history[-1] |= {"retire_mass": mass, "retired": int(settled.sum())}
    return settled, mass


def _ask_round(
    state: CampaignState,
    design: str,
    unsettled: np.ndarray,
    crowd: _SimulatedCrowd,
    frames_left: int,
    single_image_share: float,
) -> pd.DataFrame | None:
    """One question per unsettled building, in order of value, each put to a volunteer and answered, as far
    as the frames left pay for them (None: not even the first)."""
    active = state.by_value(unsettled)
    volunteer = crowd.assign(active, reliable_first=design == "infogain")
    lo, hi, _ = choose_questions(
        state,
        design,
        active,
        sensitivity=crowd.sensitivity[volunteer],
        specificity=crowd.specificity[volunteer],
        rng=crowd.rng,
        single_image_share=single_image_share,
    )
    affordable = np.cumsum(np.where(lo < 0, 1, 2)) <= frames_left
    if not affordable.any():
        return None
    return crowd.answer(active[affordable], volunteer[affordable], lo[affordable], hi[affordable])


def _metrics(consensus: Consensus, simulation: Simulation) -> dict[str, float]:
    table = evaluate(consensus, simulation.truth)
    return dict(zip(table["metric"].tolist(), table["value"].astype(float).tolist(), strict=True))


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
    progress: Callable[[int, int, int], None] | None = None,
    spatial: bool = False,
) -> AdaptiveCampaign:
    """Run an adaptive campaign on a simulated world until the budget of frames viewed is spent.

    The world (footprints, truth, images, clouds, volunteers) is the simulation's; its own timeline answers
    are not used. Every round chooses its questions with the core of :func:`stracker.tasking.next_questions`
    (the buildings' state from the answers so far, retirement, order of value, the design), and the answers
    come from the simulator's volunteers (:func:`stracker.crowd.answers.answer_questions`).

    Parameters
    ----------
    simulation : Simulation
    design : {"random", "bisection", "infogain"}
        For ``infogain``, each question is chosen for the volunteer who will answer it, and the round's most
        reliable volunteers go to the most uncertain buildings.
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
        :func:`stracker.tasking.retired`).
    record : bool
        Evaluate against the truth after every round (``history``); otherwise only the last.
    progress : callable, optional
        Called as ``progress(round, frames_viewed, active_buildings)`` after each round.
    spatial : bool
        Aggregate every round with the spatial-temporal prior over the simulation's footprints
        (``stracker.aggregate(..., footprints=)``), so that questions, retirement and the reported metrics use
        the spatial posterior (which covers every building, answered or not).

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
    _check_options(design, budget, retire_mass, max_retire_mass)
    mass = retire_mass
    ceiling = retire_mass if max_retire_mass is None else max(max_retire_mass, retire_mass)
    crowd = _SimulatedCrowd(simulation, np.random.default_rng(seed))
    building_ids = simulation.buildings["building_id"].to_numpy()
    image_dates = simulation.image_dates
    state = campaign_state(None, image_dates, buildings=building_ids)  # every building at the prior
    settled = np.zeros(state.n_buildings, dtype=bool)  # under the current bar, as of the last round's state
    tables: list[pd.DataFrame] = []
    history: list[dict] = []
    consensus: Consensus | None = None
    frames = 0
    for round_ in range(1, max_rounds + 1):
        settled, mass = _raise_bar(state, settled, mass, ceiling, intact_confidence, history, frames < budget)
        unsettled = np.flatnonzero(~settled)
        if unsettled.size == 0 or frames >= budget:
            break
        table = _ask_round(
            state, design, unsettled, crowd, budget - frames, simulation.scenario.tasks.single_image_share
        )
        if table is None:
            break
        table["round"] = round_
        tables.append(table)
        frames += int(table["frames_viewed"].sum())
        labels = pd.concat(tables, ignore_index=True)
        start = time.perf_counter()
        consensus = aggregate(
            labels,
            image_dates,
            volunteer_params=None if consensus is None else consensus.volunteers,
            fit_volunteers=True,
            on_duplicate="ignore",
            footprints=simulation.buildings if spatial else None,
        )
        seconds = time.perf_counter() - start
        state = campaign_state(labels, image_dates, buildings=building_ids, consensus=consensus)
        crowd.learn(consensus)
        settled = state.retirement(mass, intact_confidence) != ACTIVE
        entry = {
            "round": round_,
            "frames_viewed": frames,
            "answers": len(labels),
            "asked": len(table),
            "retire_mass": mass,
            "retired": int(settled.sum()),
            "aggregate_s": round(seconds, 3),
        }
        history.append(entry | (_metrics(consensus, simulation) if record else {}))
        if progress is not None:
            progress(round_, frames, int(state.n_buildings - entry["retired"]))
    if consensus is None:
        raise ScenarioError(f"a budget of {budget} frames buys no question; raise it")
    if not record and history:
        history[-1] |= _metrics(consensus, simulation)
    return AdaptiveCampaign(design, pd.concat(tables, ignore_index=True), consensus, pd.DataFrame(history))
