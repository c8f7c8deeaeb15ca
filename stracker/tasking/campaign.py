"""The simulated adaptive campaign (``stracker plan``): rounds of questions put to the simulator's volunteers.

Each round every unsettled building gets one question, chosen by the same core as a real campaign's next batch
(:mod:`stracker.tasking.core`), and put to one volunteer drawn by activity; the answers come from the
simulator's answer model (:func:`stracker.crowd.answers.answer_questions`), join everything so far in an
incremental fit (:class:`stracker.consensus.incremental.IncrementalFit`), and buildings whose date is settled
retire. When every building has retired and budget is left, the bar rises (the interval's tails shrink
tenfold) and the campaign goes on, so a budget is spread evenly: every building reaches 90% first, then 99%,
and so on. Everything per round is vectorized across buildings.

The fit: a round's answers update the posterior of the buildings they are about under the current model
parameters (exactly what a fresh E-step of every answer under those parameters gives), and the parameters are
refitted, warm-started and with a loose tolerance, once the answers since the last refit reach ``refit_share``
of those it had (every round early on, every few rounds later). Before the campaign ends (every building
settled, or the budget spent) it refits every answer in full, so the campaign ends on a proper fit and the
buildings that fit unsettles are asked again. At raqqa scale this takes an eighth to a twelfth of the time of a
full fit of every answer every round, with the same accuracy (``benchmarks/README.md``, "Planning time").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stracker.consensus import Consensus
from stracker.consensus.em import EMOptions
from stracker.consensus.incremental import IncrementalFit
from stracker.consensus.model import DEFAULT_PARAMS
from stracker.consensus.spatial import neighbour_graph
from stracker.crowd.answers import answer_questions
from stracker.crowd.volunteers import clashing
from stracker.errors import ScenarioError
from stracker.evaluation import evaluate
from stracker.labels import CANT_TELL, COMPARE
from stracker.simulation import Simulation
from stracker.tasking.core import CampaignState, campaign_state, choose_questions
from stracker.tasking.designs import ACTIVE, DESIGNS, mark_cant_tell, most_reliable_first

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
        ends on, under the final full fit), seconds spent fitting the round's answers (``aggregate_s``), and the
        evaluation metrics against the truth at that point (with
        ``record=False``, the last row only; the last row's are those of the final full fit).
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
        self.seen = np.zeros(0, dtype=np.int64)  # (building, volunteer) keys already asked, sorted
        self.true_states = simulation.true_states()
        self.dates = simulation.images["image_date"].to_numpy(dtype="datetime64[ns]")
        self.building_ids = simulation.buildings["building_id"].to_numpy()

    def _asked(self, key: np.ndarray) -> np.ndarray:
        """Whether each (building, volunteer) key was asked before (a binary search in the sorted keys)."""
        if self.seen.size == 0:
            return np.zeros(key.size, dtype=bool)
        return self.seen[np.minimum(np.searchsorted(self.seen, key), self.seen.size - 1)] == key

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
            clash = np.union1d(np.flatnonzero(self._asked(key)), clashing(key))
            if clash.size == 0:
                break
            volunteer[clash] = self._draw(clash.size)
        return volunteer

    def answer(self, buildings: np.ndarray, volunteer: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.DataFrame:
        """The volunteers' answers, as a label table keyed by the simulation's building ids."""
        sim, sc = self.simulation, self.simulation.scenario
        table = answer_questions(
            buildings,
            volunteer,
            lo,
            hi,
            self.true_states,
            sim.visibility,
            self.volunteers,
            self.dates,
            sc.imagery,
            sc.crowd,
            self.rng,
        )
        table["building_id"] = self.building_ids[buildings]
        key = np.unique(buildings.astype(np.int64) * self.activity.size + volunteer)
        key = key[~self._asked(key)]
        self.seen = np.insert(self.seen, np.searchsorted(self.seen, key), key)
        return table

    def learn(self, fit: IncrementalFit) -> None:
        """Take the fitted sensitivity and specificity of the volunteers who have answered (the fit's volunteer
        codes are the simulation's)."""
        answered = fit.answers_per_volunteer > 0
        self.sensitivity[answered] = fit.state.params["sensitivity"][answered]
        self.specificity[answered] = fit.state.params["specificity"][answered]


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
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One question per unsettled building, in order of value, each put to a volunteer and answered, as far
    as the frames left pay for them: the answers' table, and their buildings, volunteers and images (lo, hi);
    None: not even the first."""
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
    asked = active[affordable], volunteer[affordable], lo[affordable], hi[affordable]
    return crowd.answer(*asked), *asked


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
    refit_share: float = 0.1,
    refit_options: EMOptions | None = None,
    spatial: bool = False,
    visibility: bool = False,
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
    refit_share : float
        The model parameters are refitted once the answers since the last refit exceed this share of the
        answers it had; in between, a round's answers update only their buildings' posteriors. 0: refit every
        round (with ``refit_options=EMOptions()``, a full fit of every answer every round: the exact planner,
        several times slower).
    refit_options : EMOptions, optional
        How the refits between rounds run; default
        :data:`stracker.consensus.incremental.REFIT_OPTIONS` (tolerance 1e-5, 10 iterations at most). The
        campaign's last fit always runs with the full :class:`~stracker.consensus.em.EMOptions`.
    spatial : bool
        Fit with the spatial-temporal prior over the simulation's footprints (``IncrementalFit(...,
        neighbours=)``, as ``stracker.aggregate(..., footprints=)``), so that questions, retirement and the
        reported metrics use the spatial posterior (which covers every building, answered or not); a building
        nobody has answered is not retired on its neighbours alone.
    visibility : bool
        The campaign knows its clouds: the simulation's visibility (:meth:`Simulation.visibility_table`, as a
        campaign's cloud masks give it) is given to the questions (hidden images are never asked, and a building
        only hidden images could split retires, as with ``stracker next --visibility``) and to the fit
        (``IncrementalFit(..., visibility=)``, as ``stracker.aggregate(..., visibility=)``: what clouds hid is no
        evidence). Otherwise the campaign learns which images are hidden from "can't tell" answers.

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
    seen = simulation.visibility_table() if visibility else None
    state = campaign_state(
        None, simulation.image_dates, buildings=simulation.buildings["building_id"].to_numpy(), visibility=seen
    )
    neighbours = None
    if spatial:
        options = EMOptions()
        neighbours = neighbour_graph(
            simulation.buildings, k=options.spatial_neighbours, radius_m=options.spatial_radius_m
        )
        state = dataclasses.replace(state, spatial=True)
    fit = IncrementalFit(
        state.building_ids,
        crowd.volunteers.index,
        state.image_dates,
        refit_share=refit_share,
        refit_options=refit_options,
        neighbours=neighbours,
        visibility=seen,
    )
    settled = np.zeros(state.n_buildings, dtype=bool)  # under the current bar, as of the last round's state
    tables: list[pd.DataFrame] = []
    history: list[dict] = []
    frames = 0
    for round_ in range(1, max_rounds + 1):
        settled, mass = _raise_bar(state, settled, mass, ceiling, intact_confidence, history, frames < budget)
        if (settled.all() or frames >= budget) and not fit.is_full_fit:
            # the campaign would end here: first a full fit of every answer, under which some buildings may be
            # unsettled still
            fit.refit()
            state = _state(state, fit)
            settled = state.retirement(mass, intact_confidence) != ACTIVE
            history[-1] |= {"retired": int(settled.sum())}
            settled, mass = _raise_bar(state, settled, mass, ceiling, intact_confidence, history, frames < budget)
        unsettled = np.flatnonzero(~settled)
        if unsettled.size == 0 or frames >= budget:
            break
        asked = _ask_round(
            state, design, unsettled, crowd, budget - frames, simulation.scenario.tasks.single_image_share
        )
        if asked is None:
            break
        table, building, volunteer, lo, hi = asked
        table["round"] = round_
        tables.append(table)
        frames += int(table["frames_viewed"].sum())
        answer = _answer_codes(table["destroyed"])
        start = time.perf_counter()
        refitted = fit.update(fit.encode(building, volunteer, lo, hi, answer, COMPARE))
        seconds = time.perf_counter() - start
        mark_cant_tell(state.hidden, state.pair_cant_tell, building, lo, hi, answer == CANT_TELL)
        np.add.at(state.n_answers, building, 1)
        state = _state(state, fit)
        crowd.learn(fit)
        if refitted:
            settled = state.retirement(mass, intact_confidence) != ACTIVE
        else:  # only the round's buildings changed (with the spatial prior, their neighbours too)
            moved = fit.changed
            settled[moved] = state.retirement(mass, intact_confidence, buildings=moved) != ACTIVE
        entry = {
            "round": round_,
            "frames_viewed": frames,
            "answers": fit.n_answers,
            "asked": len(table),
            "retire_mass": mass,
            "retired": int(settled.sum()),
            "aggregate_s": round(seconds, 3),
        }
        history.append(entry | (_metrics(fit.consensus(), simulation) if record else {}))
        if progress is not None:
            progress(round_, frames, int(state.n_buildings - entry["retired"]))
    if not tables:
        raise ScenarioError(f"a budget of {budget} frames buys no question; raise it")
    if not fit.is_full_fit:  # max_rounds, or a budget too small for another question
        fit.refit()
        history[-1] |= {"retired": int((_state(state, fit).retirement(mass, intact_confidence) != ACTIVE).sum())}
    consensus = fit.consensus()
    history[-1] |= _metrics(consensus, simulation)  # with record, the full fit's in place of the last round's
    return AdaptiveCampaign(design, pd.concat(tables, ignore_index=True), consensus, pd.DataFrame(history))


def _state(state: CampaignState, fit: IncrementalFit) -> CampaignState:
    """The campaign's state with the fit's posterior (hidden images and answer counts kept up by the loop)."""
    return dataclasses.replace(state, posterior=fit.posterior)


def _answer_codes(destroyed: pd.Series) -> np.ndarray:
    """Answer codes (1 yes, 0 no, -1 can't tell) of the simulator's ``destroyed`` column (booleans with NA)."""
    told = destroyed.astype("boolean")
    return np.where(told.isna().to_numpy(), CANT_TELL, told.fillna(False).to_numpy(dtype=bool)).astype(np.int8)
