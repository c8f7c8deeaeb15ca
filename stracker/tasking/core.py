"""The question-choosing core: from the answers so far to the next question about every unsettled building.

It knows nothing of the simulator. Its inputs are what a real campaign has: a label table of the answers so far
(the label contract, ``docs/contracts.md``), the image catalogue, optionally the buildings (footprint ids, so
that buildings nobody has answered about yet are asked too) and optionally each building's visibility in each
image (from cloud masks). :func:`campaign_state` aggregates the answers (:func:`stracker.aggregate`) into a
:class:`CampaignState`; :meth:`CampaignState.retirement` says which buildings are settled and why;
:meth:`CampaignState.by_value` orders the others; :func:`choose_questions` picks each one's question under a
design. :func:`next_questions` chains them for a real campaign (``stracker next``); the simulated campaign
(:func:`stracker.tasking.run_adaptive`, ``stracker plan``) runs the same steps every round, with its simulated
volunteers drawn between ordering and choosing.

Value, the order of the questions: the entropy of the building's destruction state (bits), the most uncertain
building first, for every design. Bisection halves a building's interval per reliable answer, so the buildings
with the most states left need the most questions; information gain picks for each building the question of
largest expected gain, and in the simulated campaign the round's most reliable volunteers go to the first
buildings. Each question also carries its expected gain (``gain_bits``) for the crowd's typical volunteer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from stracker.consensus import Consensus, aggregate
from stracker.consensus.inputs import HIDDEN_VISIBILITY, id_type_hint, shares_of, visibility_matrix
from stracker.consensus.model import DEFAULT_PARAMS, duration_prior
from stracker.consensus.result import credible_bounds, image_date_at
from stracker.errors import LabelsError, ScenarioError, UnmatchedBuildingsError
from stracker.labels import COMPARE, EncodedLabels, encode_labels
from stracker.tasking.designs import (
    ACTIVE,
    DESIGNS,
    RETIREMENT_REASONS,
    bisection_questions,
    infogain_questions,
    mark_cant_tell,
    question_gain,
    random_questions,
    retirement_reasons,
    state_entropy,
)

__all__ = [
    "HIDDEN_VISIBILITY",
    "CampaignState",
    "QuestionBatch",
    "campaign_state",
    "choose_questions",
    "hidden_images",
    "next_questions",
    "visibility_shares",
]


@dataclass(frozen=True, eq=False)
class CampaignState:
    """What the answers so far say about each building, as far as choosing questions needs.

    Attributes
    ----------
    building_ids : pandas.Index
        The campaign's buildings, in order; every array below has one row per building in this order.
    image_dates : pandas.DatetimeIndex
        The image catalogue d_0 < ... < d_{D-1}.
    posterior : numpy.ndarray
        Buildings x (D + 1) state probabilities (the consensus; the prior for buildings without answers).
    hidden : numpy.ndarray
        Buildings x images, True where the image cannot show the building: the visibility says so, or a
        single-image compare question about it came back "can't tell".
    pair_cant_tell : numpy.ndarray
        Buildings whose compare question about an image pair came back "can't tell" (either image may be the
        clouded one: bisection asks them single images, whose answers tell).
    n_answers : numpy.ndarray
        Answers about each building so far.
    consensus : Consensus or None
        The aggregate of the answers (None when there are none yet).
    spatial : bool
        Whether the posterior has the spatial-temporal prior: then a building nobody has answered about is not
        retired on its neighbours' answers alone.
    """

    building_ids: pd.Index
    image_dates: pd.DatetimeIndex
    posterior: np.ndarray
    hidden: np.ndarray
    pair_cant_tell: np.ndarray
    n_answers: np.ndarray
    consensus: Consensus | None = None
    spatial: bool = False

    @property
    def n_buildings(self) -> int:
        """Number of buildings."""
        return len(self.building_ids)

    def retirement(
        self, mass: float = 0.9, intact_confidence: float | None = None, buildings: np.ndarray | None = None
    ) -> np.ndarray:
        """Retirement code per building (:func:`stracker.tasking.retirement_reasons`): 0 still to be asked.

        With ``buildings`` (positions), of those buildings only (a building's code depends on its row alone).
        With the spatial prior, a building nobody has answered about is not settled (nor intact) on its
        neighbours' answers alone: it is asked at least once (unless clouds hide it).
        """
        rows = slice(None) if buildings is None else buildings
        reasons = retirement_reasons(self.posterior[rows], mass, intact_confidence, self.hidden[rows])
        if self.spatial:
            hidden = RETIREMENT_REASONS.index("hidden") + 1
            reasons[(self.n_answers[rows] == 0) & (reasons != hidden)] = ACTIVE
        return reasons

    def by_value(self, buildings: np.ndarray) -> np.ndarray:
        """``buildings`` (positions) ordered by value: the entropy of their state, the most uncertain first
        (ties keep their order)."""
        entropy = state_entropy(self.posterior[buildings])
        return buildings[np.argsort(-entropy, kind="stable")]

    def typical_volunteer(self) -> tuple[float, float]:
        """Sensitivity and specificity of the crowd's typical volunteer: the fitted values averaged over the
        compare answers each volunteer gave (the model's defaults before any compare answer)."""
        if self.consensus is not None and "n_compare" in self.consensus.volunteers:
            fitted = self.consensus.volunteers
            weight = fitted["n_compare"].to_numpy(dtype=float)
            usable = (weight > 0) & fitted["sensitivity"].notna().to_numpy() & fitted["specificity"].notna().to_numpy()
            if usable.any():
                return (
                    float(np.average(fitted["sensitivity"].to_numpy()[usable], weights=weight[usable])),
                    float(np.average(fitted["specificity"].to_numpy()[usable], weights=weight[usable])),
                )
        return DEFAULT_PARAMS["sensitivity"], DEFAULT_PARAMS["specificity"]


def _catalogue(image_dates: object) -> pd.DatetimeIndex:
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(image_dates).ravel())))
    except (ValueError, TypeError) as exc:
        raise LabelsError(f"the image catalogue could not be read as dates: {exc}") from exc
    if dates.tz is not None:
        raise LabelsError("the image catalogue is timezone-aware; give naive UTC dates.")
    if len(dates) == 0 or dates.hasnans:
        raise LabelsError("the image catalogue is empty or holds a missing date; list every acquisition date.")
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise LabelsError(
            "the image catalogue must be strictly increasing, without duplicates; sort and deduplicate it."
        )
    return pd.DatetimeIndex(dates.astype("datetime64[ns]"), name="image_date")


def _universe(buildings: object, answered: pd.Index, extra: pd.Index) -> pd.Index:
    """The campaign's buildings: the given ones (checked to hold every answered one), else the answered ones
    and those the visibility names, sorted."""
    if buildings is None:
        ids = answered.union(extra) if len(extra) else answered
        return pd.Index(ids, name="building_id")
    if isinstance(buildings, pd.DataFrame):
        if "building_id" not in buildings.columns:
            raise LabelsError(f"the buildings table has no 'building_id' column; it has {list(buildings.columns)}.")
        buildings = buildings["building_id"]
    ids = pd.Index(
        np.asarray(buildings).ravel() if not isinstance(buildings, pd.Series | pd.Index) else buildings,
        name="building_id",
    )
    if ids.hasnans or ids.has_duplicates:
        bad = ids[ids.isna() | ids.duplicated(keep=False)].unique()[:8].tolist()
        raise LabelsError(f"the building ids are missing or repeated ({bad}); give each building once.")
    for name, named in (("answers", answered), ("visibility", extra)):
        unknown = named[~named.isin(ids)] if len(named) else named
        if len(unknown):
            raise UnmatchedBuildingsError(
                f"the {name} name {len(unknown)} building(s) not among the {len(ids)} buildings given, e.g. "
                f"{unknown[:8].tolist()}{id_type_hint(named, ids)}; add their footprints or remove those rows.",
                unknown.tolist(),
            )
    return ids


def hidden_images(
    visibility: object,
    building_ids: pd.Index | None,
    image_dates: pd.DatetimeIndex,
    hidden_below: float = HIDDEN_VISIBILITY,
) -> tuple[np.ndarray, pd.Index]:
    """Which images cannot show which building, from a visibility array or long table.

    Parameters
    ----------
    visibility : numpy.ndarray or pandas.DataFrame
        Buildings x images (in the order of ``building_ids`` and the catalogue): booleans (True visible) or
        cloud-free shares in [0, 1] (NaN: unknown). Or a long table with ``building_id``, ``image_date`` and
        ``visible`` (booleans) or ``visibility`` (shares), one row per building and image at most; pairs
        absent from it are taken as visible. Or a wide table indexed by building_id, one column per image date
        (:func:`stracker.consensus.inputs.visibility_matrix`).
    building_ids : pandas.Index or None
        The campaign's buildings; None: the table's own buildings, sorted (a long table only).
    image_dates : pandas.DatetimeIndex
    hidden_below : float
        A share below this hides the image.

    Returns
    -------
    hidden : numpy.ndarray of bool, buildings x images
    building_ids : pandas.Index
        The buildings of the rows of ``hidden``.

    Examples
    --------
    >>> dates = pd.DatetimeIndex(["2017-06-01", "2017-06-10"])
    >>> table = pd.DataFrame({"building_id": [7, 7], "image_date": dates, "visibility": [0.9, 0.1]})
    >>> hidden, ids = hidden_images(table, pd.Index([7, 8]), dates)
    >>> hidden.tolist()
    [[False, True], [False, False]]
    """
    shares, building_ids = visibility_shares(visibility, building_ids, image_dates)
    return shares < hidden_below, building_ids  # NaN (unknown) compares False: taken as visible


def visibility_shares(
    visibility: object, building_ids: pd.Index | None, image_dates: pd.DatetimeIndex
) -> tuple[np.ndarray, pd.Index]:
    """Each building's visible share in each image (buildings x images, NaN unknown) from a visibility array,
    long or wide table, as :func:`hidden_images` takes them; and the buildings of its rows."""
    D = len(image_dates)
    if isinstance(visibility, pd.DataFrame):
        if building_ids is None:
            named = visibility["building_id"] if "building_id" in visibility.columns else visibility.index
            building_ids = pd.Index(pd.Index(named).dropna().unique().sort_values(), name="building_id")
        return visibility_matrix(visibility, building_ids, image_dates, unknown_buildings="error"), building_ids
    array = np.asarray(visibility)
    if building_ids is None:
        raise LabelsError(
            "a visibility array needs the buildings its rows are (buildings=, --footprints); or give "
            "a long table with building_id, image_date, visible."
        )
    if array.shape != (len(building_ids), D):
        raise LabelsError(
            f"the visibility array has shape {array.shape}; it needs one row per building and one "
            f"column per catalogue image, {(len(building_ids), D)}."
        )
    return shares_of(array, "visibility"), building_ids


def _canonical(enc: EncodedLabels) -> EncodedLabels:
    """The same answers in a fixed order (by building, volunteer, images, answer, task), so that the fit, and
    with it the questions, do not depend on the order of the table's rows."""
    order = np.lexsort((enc.task, enc.answer, enc.hi, enc.lo, enc.volunteer, enc.building))
    return EncodedLabels(
        building_ids=enc.building_ids,
        volunteer_ids=enc.volunteer_ids,
        image_dates=enc.image_dates,
        building=enc.building[order],
        volunteer=enc.volunteer[order],
        lo=enc.lo[order],
        hi=enc.hi[order],
        answer=enc.answer[order],
        task=enc.task[order],
        row_index=enc.row_index[order],
    )


def _label_codes(
    labels: pd.DataFrame, building_ids: pd.Index, image_dates: pd.DatetimeIndex, task: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Building positions, image indices, answers (1, 0, -1) and task codes of a table already aggregated."""
    building = building_ids.get_indexer(labels["building_id"])
    lo = image_dates.get_indexer(pd.DatetimeIndex(labels["before"]))  # NaT is no catalogue date: -1
    hi = image_dates.get_indexer(pd.DatetimeIndex(labels["after"]))
    destroyed = labels["destroyed"].astype("boolean")
    answer = np.where(destroyed.isna().to_numpy(), -1, destroyed.fillna(False).to_numpy(dtype=bool).astype(np.int8))
    if "task" in labels.columns:
        kind = (labels["task"] == "compare").to_numpy(dtype=bool)
    else:
        kind = np.full(len(labels), task == "compare")
    return building, lo, hi, answer, np.where(kind, COMPARE, 0)


def campaign_state(
    labels: pd.DataFrame | None,
    image_dates: object,
    *,
    buildings: object = None,
    visibility: object = None,
    consensus: Consensus | None = None,
    task: Literal["timeline", "compare"] | None = None,
    hidden_below: float = HIDDEN_VISIBILITY,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    footprints: object = None,
) -> CampaignState:
    """Aggregate the answers so far into a :class:`CampaignState`.

    Parameters
    ----------
    labels : pandas.DataFrame or None
        The answers so far (the label contract); None or empty at a campaign's start (then ``buildings`` is
        needed).
    image_dates : array-like of dates
        The full image catalogue (questions may be about images nobody has answered about yet).
    buildings : array-like of ids or DataFrame with ``building_id``, optional
        Every building of the campaign (a footprint layer); default: those with answers (and those the
        visibility table names). Answers about other buildings are an error.
    visibility : numpy.ndarray or pandas.DataFrame, optional
        Each building's visibility per image (see :func:`hidden_images`); hidden images are never asked and a
        building whose interval only hidden images could split retires. The aggregation of the answers uses it
        too (``stracker.aggregate(..., visibility=)``: what clouds hid is no evidence).
    consensus : Consensus, optional
        The aggregate of ``labels``, if already fitted (the simulated campaign warm-starts its own each round);
        default: ``stracker.aggregate`` of the answers in a fixed row order.
    task : {"timeline", "compare"}, optional
        Task kind of every answer, for a table without a ``task`` column.
    hidden_below : float
        Visibility share below which an image cannot show a building.
    on_duplicate : {"warn", "error", "ignore"}
        Exact duplicate answers, as :func:`stracker.aggregate` treats them.
    footprints : geopandas.GeoDataFrame, optional
        Aggregate with the spatial-temporal prior over these footprints (``stracker.aggregate(...,
        footprints=)``): buildings without answers get their neighbours' dates, and the questions are chosen
        from the spatial posterior. Default ``buildings``: the footprints' ids.

    Returns
    -------
    CampaignState

    Raises
    ------
    LabelsError
        If the answers break the label contract, or the catalogue or visibility cannot be used.
    UnmatchedBuildingsError
        If answers or visibility name buildings missing from ``buildings``.

    Examples
    --------
    >>> dates = pd.date_range("2017-06-01", periods=4, freq="10D")
    >>> answers = pd.DataFrame({"building_id": [1, 1], "volunteer_id": ["a", "b"], "before": [pd.NaT, dates[0]],
    ...                         "after": [dates[2], dates[3]], "destroyed": pd.array([pd.NA, True]),
    ...                         "task": "compare"})
    >>> state = campaign_state(answers, dates, buildings=[1, 2])
    >>> state.posterior.shape, state.n_answers.tolist()
    ((2, 5), [2, 0])
    >>> state.hidden.astype(int).tolist()  # "can't tell" about the single image 2
    [[0, 0, 1, 0], [0, 0, 0, 0]]
    """
    dates = _catalogue(image_dates)
    D = len(dates)
    has_answers = labels is not None and len(labels) > 0
    enc = None
    if footprints is not None and buildings is None:
        buildings = footprints
    if has_answers and consensus is None:
        enc = _canonical(encode_labels(labels, dates, task=task, on_duplicate=on_duplicate))
    answered = pd.Index([], name="building_id")
    if enc is not None:
        answered = enc.building_ids
    elif has_answers and consensus is not None:
        answered = consensus.buildings.index
    vis_ids = pd.Index([])
    if isinstance(visibility, pd.DataFrame) and "building_id" in visibility.columns:
        vis_ids = pd.Index(visibility["building_id"].dropna().unique())
    building_ids = _universe(buildings, answered, vis_ids)
    if len(building_ids) == 0:
        raise LabelsError(
            "there are no answers and no buildings: nothing to ask about. Give the footprints "
            "(buildings=, --footprints) to start a campaign."
        )
    B = len(building_ids)
    hidden = np.zeros((B, D), dtype=bool)
    shares = None
    if visibility is not None:
        shares = visibility_shares(visibility, building_ids, dates)[0]
        hidden |= shares < hidden_below  # NaN (unknown) compares False: taken as visible
    if enc is not None:  # the consensus counts what clouds hid as such
        # pairs the visibility leaves out are visible (as for hidden_images), without the consensus's warning
        seen = (
            None if shares is None else pd.DataFrame(np.nan_to_num(shares, nan=1.0), index=building_ids, columns=dates)
        )
        consensus = aggregate(enc, visibility=seen, hidden_below=hidden_below, footprints=footprints)
    pair_cant_tell = np.zeros(B, dtype=bool)
    n_answers = np.zeros(B, dtype=np.int64)
    if not has_answers:
        posterior = np.tile(duration_prior(dates), (B, 1))
        return CampaignState(building_ids, dates, posterior, hidden, pair_cant_tell, n_answers, None)
    assert consensus is not None  # given, or aggregated above: there are answers
    posterior = np.tile(consensus.prior, (B, 1))  # buildings not asked yet keep the campaign's prior
    posterior[building_ids.get_indexer(consensus.buildings.index)] = consensus.posterior
    if enc is not None:
        to_universe = building_ids.get_indexer(enc.building_ids)
        building, lo, hi, answer, kind = to_universe[enc.building], enc.lo, enc.hi, enc.answer, enc.task
    else:
        building, lo, hi, answer, kind = _label_codes(labels, building_ids, dates, task)
    compare = kind == COMPARE  # only a compare question's "can't tell" says which images were unreadable
    mark_cant_tell(
        hidden,
        pair_cant_tell,
        building[compare],
        lo[compare].astype(np.int64),
        hi[compare].astype(np.int64),
        answer[compare] < 0,
    )
    n_answers = np.bincount(building, minlength=B)
    spatial = consensus.spatial_prior is not None
    return CampaignState(building_ids, dates, posterior, hidden, pair_cant_tell, n_answers, consensus, spatial)


def choose_questions(
    state: CampaignState,
    design: str,
    buildings: np.ndarray,
    *,
    sensitivity: np.ndarray | float | None = None,
    specificity: np.ndarray | float | None = None,
    rng: np.random.Generator | None = None,
    single_image_share: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each building's next question under ``design``: (lo, hi, gain_bits), image indices (lo = -1: a single
    image) and the expected information gain for its volunteer.

    ``sensitivity`` and ``specificity`` describe the volunteer who will answer each question (arrays aligned
    with ``buildings``, or one value for all); default: the crowd's typical volunteer
    (:meth:`CampaignState.typical_volunteer`). ``random`` draws from ``rng`` and asks a share
    ``single_image_share`` of single images; ``bisection`` and ``infogain`` skip hidden images, and bisection
    asks single images of a building after a pair came back "can't tell".

    Examples
    --------
    >>> state = campaign_state(None, pd.date_range("2017-06-01", periods=4, freq="10D"), buildings=[7, 8])
    >>> lo, hi, gain = choose_questions(state, "infogain", np.array([0, 1]), sensitivity=1.0, specificity=1.0)
    >>> lo.tolist(), hi.tolist(), bool((gain > 0.9).all())  # "is it destroyed in image 1?" splits the prior
    ([-1, -1], [1, 1], True)
    """
    if design not in DESIGNS:
        raise ScenarioError(f"unknown design {design!r}; choose one of {list(DESIGNS)}")
    if sensitivity is None or specificity is None:
        typical = state.typical_volunteer()
        sensitivity = typical[0] if sensitivity is None else sensitivity
        specificity = typical[1] if specificity is None else specificity
    n = buildings.size
    sens = np.broadcast_to(np.asarray(sensitivity, dtype=float), (n,))
    spec = np.broadcast_to(np.asarray(specificity, dtype=float), (n,))
    post = state.posterior[buildings]
    if design == "random":
        if rng is None:
            raise ScenarioError("the random design needs a random generator (rng=)")
        lo, hi = random_questions(n, len(state.image_dates), single_image_share, rng)
    elif design == "bisection":
        lo, hi = bisection_questions(post, unusable=state.hidden[buildings], single=state.pair_cant_tell[buildings])
    else:
        lo, hi, _ = infogain_questions(post, sens, spec, state.hidden[buildings])
    return lo, hi, question_gain(post, lo, hi, sens, spec)


@dataclass(eq=False)
class QuestionBatch:
    """The outcome of :func:`next_questions`.

    Attributes
    ----------
    design : str
    questions : pandas.DataFrame
        One row per question, in order of value (the first is asked first): ``building_id``, ``before`` (an image
        date; NaT for a single-image question), ``after``, ``frames`` (images a volunteer views: 1 or 2),
        ``n_answers`` (answers about the building so far), ``entropy_bits`` (the value: how uncertain the
        building's state is) and ``gain_bits`` (the expected information gain of the question for the crowd's
        typical volunteer).
    retired : pandas.DataFrame
        One row per settled building: ``building_id``, ``reason`` (see
        :data:`stracker.tasking.RETIREMENT_REASONS`), ``p_destroyed``, ``ci_start`` and ``ci_end`` (the
        ``retire_mass`` credible interval of its destruction, as image dates, NaT at an open end) and
        ``n_answers``.
    state : CampaignState
    unasked : int
        Unsettled buildings left without a question by the batch size.
    retire_mass : float
    seconds : float
        Time to aggregate and choose.
    """

    design: str
    questions: pd.DataFrame
    retired: pd.DataFrame
    state: CampaignState
    unasked: int
    retire_mass: float
    seconds: float

    def summary(self) -> dict[str, object]:
        """Headline figures, JSON-ready."""
        reasons = self.retired["reason"].value_counts()
        return {
            "design": self.design,
            "buildings": self.state.n_buildings,
            "answers": int(self.state.n_answers.sum()),
            "buildings_without_answers": int((self.state.n_answers == 0).sum()),
            "questions": len(self.questions),
            "single_image_questions": int((self.questions["frames"] == 1).sum()),
            "frames": int(self.questions["frames"].sum()),
            "unasked": self.unasked,
            "retired": len(self.retired),
            "retired_by_reason": {reason: int(reasons.get(reason, 0)) for reason in RETIREMENT_REASONS},
            "retire_mass": self.retire_mass,
            "seconds": round(self.seconds, 3),
        }


def next_questions(
    answers: pd.DataFrame | None,
    image_dates: object,
    *,
    design: str = "infogain",
    buildings: object = None,
    visibility: object = None,
    batch: int | None = None,
    retire_mass: float = 0.9,
    intact_confidence: float | None = None,
    hidden_below: float = HIDDEN_VISIBILITY,
    single_image_share: float = 0.2,
    seed: int = 0,
    task: Literal["timeline", "compare"] | None = None,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    footprints: object = None,
) -> QuestionBatch:
    """The next batch of questions of a campaign: one per unsettled building, in order of value.

    The answers are aggregated (:func:`stracker.aggregate`, in a fixed row order, so the batch does not depend
    on the order of the table's rows); buildings whose date is settled retire (:data:`RETIREMENT_REASONS`
    says why); every other building gets one question under ``design``, the most uncertain building first
    (value: the entropy of its state in bits, for every design; see :mod:`stracker.tasking.core`).

    Parameters
    ----------
    answers : pandas.DataFrame or None
        The answers so far, a label table (``docs/contracts.md``); None at a campaign's start.
    image_dates : array-like of dates
        The full image catalogue.
    design : {"infogain", "bisection", "random"}
        ``infogain``: the single image of largest expected information gain for the crowd's typical volunteer;
        ``bisection``: the pair splitting the building's posterior at its median; ``random``: random images
        (a baseline), ``single_image_share`` of them single.
    buildings : array-like of ids or DataFrame with ``building_id``, optional
        Every building of the campaign (footprints), so that buildings without answers are asked too.
    visibility : numpy.ndarray or pandas.DataFrame, optional
        Each building's visibility per image (see :func:`hidden_images`).
    batch : int, optional
        Questions at most (the first ``batch`` in order of value); default: one per unsettled building.
    retire_mass : float
        A building retires when its credible interval of this mass is one image gap (for "not destroyed":
        P(intact) > 1 - (1 - retire_mass) / 2), or when only hidden images could split it.
    intact_confidence : float, optional
        Also retire buildings once P(intact) reaches this.
    hidden_below : float
        Visibility share below which an image cannot show a building.
    single_image_share : float
        Share of single-image questions of the random design.
    seed : int
        Seed of the random design's draws.
    task : {"timeline", "compare"}, optional
        Task kind of every answer, for a table without a ``task`` column.
    on_duplicate : {"warn", "error", "ignore"}
        Exact duplicate answers, as :func:`stracker.aggregate` treats them.
    footprints : geopandas.GeoDataFrame, optional
        Choose from the spatial posterior (the answers aggregated with the spatial-temporal prior over these
        footprints, see :func:`campaign_state`); default ``buildings``: the footprints' ids.

    Returns
    -------
    QuestionBatch

    Examples
    --------
    >>> import pandas as pd
    >>> dates = pd.date_range("2017-06-01", periods=6, freq="10D")
    >>> answers = pd.DataFrame({"building_id": [1, 1, 2], "volunteer_id": ["a", "b", "a"],
    ...                         "before": [dates[1], dates[1], pd.NaT], "after": [dates[2], dates[2], dates[5]],
    ...                         "destroyed": [True, True, False], "task": "timeline"})
    >>> batch = next_questions(answers, dates, buildings=[1, 2, 3], design="bisection")
    >>> batch.questions["building_id"].tolist()  # building 3 has no answers yet: the most uncertain
    [3, 2, 1]
    >>> batch.questions.columns.tolist()
    ['building_id', 'before', 'after', 'frames', 'n_answers', 'entropy_bits', 'gain_bits']
    """
    started = time.perf_counter()
    if design not in DESIGNS:
        raise ScenarioError(f"unknown design {design!r}; choose one of {list(DESIGNS)}")
    if batch is not None and batch < 1:
        raise ScenarioError(f"batch must be a positive number of questions, got {batch}")
    if not 0.0 < retire_mass < 1.0:
        raise ScenarioError(f"retire_mass must lie strictly between 0 and 1, got {retire_mass}")
    state = campaign_state(
        answers,
        image_dates,
        buildings=buildings,
        visibility=visibility,
        task=task,
        hidden_below=hidden_below,
        on_duplicate=on_duplicate,
        footprints=footprints,
    )
    reasons = state.retirement(retire_mass, intact_confidence)
    active = state.by_value(np.flatnonzero(reasons == ACTIVE))
    unasked = 0
    if batch is not None and active.size > batch:
        unasked = int(active.size - batch)
        active = active[:batch]
    rng = np.random.default_rng(seed)
    lo, hi, gain = choose_questions(state, design, active, rng=rng, single_image_share=single_image_share)
    dates = state.image_dates.to_numpy(dtype="datetime64[ns]")
    questions = pd.DataFrame(
        {
            "building_id": state.building_ids[active],
            "before": image_date_at(dates, lo),
            "after": dates[hi],
            "frames": np.where(lo < 0, 1, 2).astype(np.int64),
            "n_answers": state.n_answers[active],
            "entropy_bits": state_entropy(state.posterior[active]),
            "gain_bits": gain,
        }
    )
    return QuestionBatch(
        design,
        questions,
        _retired_table(state, reasons, retire_mass),
        state,
        unasked,
        retire_mass,
        time.perf_counter() - started,
    )


def _retired_table(state: CampaignState, reasons: np.ndarray, mass: float) -> pd.DataFrame:
    settled = np.flatnonzero(reasons != ACTIVE)
    dates = state.image_dates.to_numpy(dtype="datetime64[ns]")
    start, end = credible_bounds(state.posterior[settled], mass)
    return pd.DataFrame(
        {
            "building_id": state.building_ids[settled],
            "reason": pd.Categorical(
                np.asarray(RETIREMENT_REASONS)[reasons[settled] - 1], categories=RETIREMENT_REASONS
            ),
            "p_destroyed": 1.0 - state.posterior[settled, -1],
            "ci_start": image_date_at(dates, start - 1),
            "ci_end": image_date_at(dates, end),
            "n_answers": state.n_answers[settled],
        }
    )
