"""The EM fit of the consensus model: its options, the M-step and the one loop that both engines drive.

:mod:`stracker.consensus.model` gives the E-step: under a :class:`~stracker.consensus.model.ModelState` (the
volunteers' parameters, the image weights, the prior), the posterior of every building and the
:class:`~stracker.consensus.model.SufficientStatistics`, sums over buildings. :class:`MStep` turns summed
statistics into the next state, and :func:`run_em` alternates the two until the log-likelihood settles. The
in-memory engine (:func:`fit_em`) runs the E-step on blocks of buildings on a pool of threads
(:class:`~stracker.consensus.blocks.BlockedAnswerModel`); the Dask engine (:func:`stracker.aggregate_distributed`)
runs it shard by shard on the workers; both sum the statistics, with the same loop, the same M-step and the same
:class:`EMOptions`.

Volunteer parameters are MAP estimates under Beta priors centred on their crowd type's estimate
(:class:`CrowdTypes`) with ``shrinkage`` pseudo-answers, so a volunteer with few answers borrows strength from
volunteers like it.

With ``EMOptions.compare_image_reliability`` the M-step also learns each image's compare reliability
(:func:`compare_reliability`): the share of the answers about it that were not coin flips, under a Beta prior
at 1 (20 pseudo-answers), divided by its median over the answers. Lowering every image's reliability alike is
the same model as lowering every volunteer's accuracy, so the median pins the scale: on a campaign without hard
images every image stays at 0.999 and the fit is today's; an image hard for everyone falls below the rest. It
starts at 0.9 (from 1, the EM of a mixture never leaves it).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stracker.consensus.blocks import BlockedAnswerModel
from stracker.consensus.kernels import crowd_type_steps
from stracker.consensus.model import (
    DEFAULT_PARAMS,
    PARAM_CLIP,
    STAT_NAMES,
    BuildingPrior,
    EStep,
    GoldStates,
    ModelState,
    SufficientStatistics,
    duration_prior,
    resolve_params,
)
from stracker.errors import LabelsError, OptionsError
from stracker.labels import EncodedLabels

__all__ = [
    "COMPARE_RELIABILITY_START",
    "CrowdTypes",
    "EMOptions",
    "FitResult",
    "MStep",
    "compare_reliability",
    "converged_at",
    "em_options",
    "fit_em",
    "image_weights",
    "run_em",
    "smooth_rate",
]

_CROWD_PSEUDO = 10.0  # pseudo-answers holding the crowd-level estimates near their defaults


@dataclass(frozen=True)
class EMOptions:
    """How the consensus EM runs; the one place its defaults live, shared by both engines and the CLI.

    Attributes
    ----------
    shrinkage : float
        Pseudo-answers pulling each volunteer's estimates towards its crowd type's (empirical-Bayes shrinkage).
    prior_pseudocount : float
        Dirichlet pseudo-counts per state (on average, shaped like :func:`~stracker.consensus.model.duration_prior`)
        on the learned prior over states.
    image_difficulty : bool
        Learn per-image weights (an image that clouds made easy to scroll past counts less as a missed image).
    compare_image_reliability : bool
        Learn per image the chance that a compare answer about it read it at all, the rest being coin flips
        (an image hard to read for everyone; :func:`compare_reliability`). Off by default: on campaigns without
        such images it only spends iterations.
    volunteer_types : int
        Crowd types each volunteer's parameters shrink towards (:class:`CrowdTypes`); 1: the whole crowd.
    smooth_prior : bool
        Smooth the learned prior as a destruction rate per day (:func:`smooth_rate`).
    max_iter : int
        The EM stops after this many iterations ...
    tol : float
        ... or when the log-likelihood changes by at most ``tol`` relative to its value.
    spatial_neighbours : int
        With footprints (the spatial prior, :mod:`stracker.consensus.spatial`): neighbours per building ...
    spatial_radius_m : float
        ... within this distance between centroids (metres); weights fall as exp(-distance / radius).

    Examples
    --------
    >>> options = EMOptions(max_iter=50)
    >>> options.max_iter, options.tol
    (50, 1e-07)
    >>> EMOptions(tol=-1.0)
    Traceback (most recent call last):
    ...
    stracker.errors.OptionsError: EMOptions.tol must be a number >= 0, got -1.0.
    """

    shrinkage: float = 2.0
    prior_pseudocount: float = 0.5
    image_difficulty: bool = True
    compare_image_reliability: bool = False
    volunteer_types: int = 4
    smooth_prior: bool = True
    max_iter: int = 200
    tol: float = 1e-7
    spatial_neighbours: int = 8
    spatial_radius_m: float = 100.0

    def __post_init__(self) -> None:
        if not isinstance(self.spatial_radius_m, numbers.Real) or not float(self.spatial_radius_m) > 0:
            raise OptionsError(f"EMOptions.spatial_radius_m must be a number > 0, got {self.spatial_radius_m!r}.")
        for name in ("shrinkage", "prior_pseudocount", "tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
                raise OptionsError(f"EMOptions.{name} must be a number >= 0, got {value!r}.")
        for name in ("max_iter", "volunteer_types", "spatial_neighbours"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise OptionsError(f"EMOptions.{name} must be a whole number >= 1, got {value!r}.")


def em_options(options: EMOptions | None = None, **overrides: object) -> EMOptions:
    """``options`` (default :class:`EMOptions`) with the fields given in ``overrides`` that are not None.

    What :func:`stracker.aggregate` does with its ``max_iter=``, ``tol=`` and ``shrinkage=`` shortcuts.

    Examples
    --------
    >>> options = em_options(EMOptions(max_iter=50), tol=1e-3, shrinkage=None)
    >>> options.max_iter, options.tol, options.shrinkage
    (50, 0.001, 2.0)
    """
    if options is not None and not isinstance(options, EMOptions):
        raise OptionsError(f"options must be an EMOptions, got {type(options).__name__}.")
    given = {name: value for name, value in overrides.items() if value is not None}
    return dataclasses.replace(options or EMOptions(), **given)  # type: ignore[arg-type]


def converged_at(history: list[float], tol: float) -> bool:
    """Whether the relative change of the last log-likelihood is at most ``tol``."""
    return len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1])


def image_weights(skips: np.ndarray, notices: np.ndarray, crowd_late: float, pseudo: float = 5.0) -> np.ndarray:
    """Image weights from the expected skips and notices of every image.

    A volunteer scrolls past the destruction in image j with probability s_j = crowd_late ** weight_j: the
    weight is read from the image's share of skips (with ``pseudo`` pseudo-answers at the crowd's rate), clipped
    to [0.05, 5] and scaled to a weighted mean of 1 (p_late and the weights trade off).
    """
    share = (skips + pseudo * crowd_late) / (skips + notices + pseudo)
    weight = np.clip(np.log(share) / np.log(crowd_late), 0.05, 5.0)
    # pin the scale (p_late and the weights trade off): weighted mean weight 1
    volume = skips + notices + pseudo
    return weight / np.average(weight, weights=volume)


COMPARE_RELIABILITY_START = 0.9
"""Where each image's compare reliability starts (``EMOptions.compare_image_reliability``)."""


def compare_reliability(unread: np.ndarray, asked: np.ndarray, pseudo: float = 20.0) -> np.ndarray:
    """Per-image reliability of compare answers from the expected unread frames and the answers about each image.

    The chance that a compare answer read the image (``ModelState.compare_reliability``),
    relative to the campaign's typical image: the share of its answers that were not coin flips, with ``pseudo``
    pseudo-answers that read it (a Beta prior at 1, so an image with few answers is taken as readable), divided
    by the median over answers of that share, clipped to [0.05, 0.999]. Without visibility, lowering every image
    alike is the same model as lowering every volunteer's accuracy; the median pins that scale, so on a campaign
    without hard images every image stays at (nearly) 1 and the volunteers keep their accuracy.

    Examples
    --------
    >>> compare_reliability(np.array([0.0, 5.0, 50.0]), np.array([100.0, 100.0, 100.0])).round(3).tolist()
    [0.999, 0.999, 0.609]
    """
    share = (asked - unread + pseudo) / (asked + pseudo)
    order = np.argsort(share)
    volume = np.cumsum(asked[order])
    typical = share[order][np.searchsorted(volume, 0.5 * volume[-1])] if volume.size and volume[-1] > 0 else 1.0
    return np.clip(share / typical, 0.05, 0.999)


def _shrink(num: np.ndarray, den: np.ndarray, strength: float, default: float) -> np.ndarray:
    """MAP estimate under a Beta prior centred on the crowd's estimate.

    The crowd's estimate is itself pulled towards ``default`` by ``_CROWD_PSEUDO`` pseudo-answers, so a
    parameter the table barely informs (say the miss rate in a table without marks) stays at its default.
    """
    crowd = float(
        np.clip((num.sum() + _CROWD_PSEUDO * default) / (den.sum() + _CROWD_PSEUDO), PARAM_CLIP, 1 - PARAM_CLIP)
    )
    return np.clip((num + strength * crowd) / (den + strength), PARAM_CLIP, 1 - PARAM_CLIP)


def smooth_rate(prior: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Smooth the destruction rate per day behind a prior over states.

    Destruction goes on at a rate that changes from day to day, not from image to image: an interior state's
    mass is its duration times the rate over it and its two neighbours (their mass over their duration). Where
    answers cannot split two neighbouring states (an image hidden by clouds for most of a district), this shares
    their mass out by the rate around them instead of leaving it where the EM started. ``shape`` is
    :func:`~stracker.consensus.model.duration_prior` (interior states: in proportion to duration); the
    open-ended first and last states are kept as they are.

    Examples
    --------
    >>> shape = np.array([0.25, 0.4, 0.1, 0.25])  # 3 images: durations 4 : 1 days between them
    >>> smooth_rate(np.array([0.25, 0.25, 0.25, 0.25]), shape).round(3).tolist()
    [0.25, 0.4, 0.1, 0.25]
    """
    S = prior.size
    if S < 3:
        return prior
    inner, days = prior[1 : S - 1], shape[1 : S - 1]

    def with_neighbours(x: np.ndarray) -> np.ndarray:
        padded = np.concatenate(([0.0], x, [0.0]))  # np.pad's zeros: smooth_rate 34 -> 18 us a call
        return padded[:-2] + padded[1:-1] + padded[2:]

    smoothed = days * with_neighbours(inner) / with_neighbours(days)
    out = prior.copy()
    out[1 : S - 1] = smoothed * inner.sum() / smoothed.sum()
    return out / out.sum()


class CrowdTypes:
    """A mixture of volunteer types: each volunteer's parameters shrink towards the types it resembles.

    Each type is a vector of all answer-model parameters. A volunteer's answers so far (per parameter, the
    expected count of events ``num`` out of ``den`` chances) give a likelihood under each type; the type
    centres are re-estimated from the responsibilities. A volunteer with few answers then borrows strength
    from volunteers of its kind (a few answers that look like random clicking pull it towards the clickers),
    rather than from the whole crowd. Fitted inside every M-step, warm-started from the last one; all matrix
    products over volunteers x types x parameters.
    """

    def __init__(self, n_types: int, defaults: np.ndarray) -> None:
        self.n_types = n_types
        self.defaults = defaults
        self.centres: np.ndarray | None = None
        self.weights = np.full(n_types, 1.0 / n_types)

    def _initial_centres(self, events: np.ndarray, chances: np.ndarray) -> np.ndarray:
        """Types from quantile groups of a crude per-volunteer error score (weighted by answers); ``events`` and
        ``chances`` parameters x volunteers."""
        defaults = self.defaults[:, None]
        raw = (events + _CROWD_PSEUDO * defaults / 10) / (chances + _CROWD_PSEUDO / 10)
        score = np.abs(raw - defaults).sum(axis=0)
        order = np.argsort(score, kind="stable")
        volume = chances.sum(axis=0)[order]
        group = np.minimum((np.cumsum(volume) / max(volume.sum(), 1e-12) * self.n_types).astype(int), self.n_types - 1)
        members = np.zeros((self.n_types, len(order)))
        members[group, order] = 1.0
        return (members @ events.T + _CROWD_PSEUDO * self.defaults) / (members @ chances.T + _CROWD_PSEUDO)

    def fit(self, events: np.ndarray, chances: np.ndarray, n_iter: int = 10) -> np.ndarray:
        """Update the types and return each volunteer's prior centre.

        ``events`` and ``chances`` are parameters x volunteers (the expected events out of the chances, as
        :class:`~stracker.consensus.model.SufficientStatistics` holds them, ``num`` and ``den``), and so is the
        result: the compiled steps run along the volunteers with no copy made. Volunteers without informative
        answers take no part (so adding them changes nothing) and get the type-weighted mean as their centre.

        Examples
        --------
        >>> types = CrowdTypes(2, np.array([0.8]))
        >>> centre = types.fit(np.array([[95.0, 50.0, 0.0]]), np.array([[100.0, 100.0, 0.0]]))
        >>> centre.shape, bool(centre[0, 0] > centre[0, 1])
        ((1, 3), True)
        """
        active = chances.sum(axis=0) > 0
        every = bool(active.all())
        fitted = None
        if active.any():
            # the same parameters for every volunteer in the common case: no copy of the sums
            fitted = self._fit_active(
                events if every else events[:, active], chances if every else chances[:, active], n_iter
            )
            if every:
                return fitted
        centre = np.empty_like(events)
        if fitted is not None:
            centre[:, active] = fitted
        idle = (
            self.weights @ np.clip(self.centres, PARAM_CLIP, 1 - PARAM_CLIP)
            if self.centres is not None
            else self.defaults
        )
        centre[:, ~active] = idle[:, None]
        return centre

    def _fit_active(self, events: np.ndarray, chances: np.ndarray, n_iter: int) -> np.ndarray:
        if self.centres is None:
            self.centres = self._initial_centres(events, chances)
        self.centres, self.weights, resp = crowd_type_steps(
            self.centres,
            self.weights,
            events,
            chances,
            _CROWD_PSEUDO * self.defaults,
            _CROWD_PSEUDO,
            n_iter,
            PARAM_CLIP,
        )
        return np.clip(self.centres, PARAM_CLIP, 1 - PARAM_CLIP).T @ resp


class MStep:
    """The M-step: everything the EM learns beyond the per-building posterior, from summed statistics.

    It holds the current :class:`~stracker.consensus.model.ModelState` (volunteer parameters, image weights,
    prior) and updates it from :class:`~stracker.consensus.model.SufficientStatistics` summed over all
    buildings, so one table in memory and a table split into shards by building give the same updates.

    Parameters
    ----------
    params : dict of str to ndarray
        Starting volunteer parameters (see :func:`~stracker.consensus.model.resolve_params`).
    image_dates : pandas.DatetimeIndex
        The image catalogue.
    fit_volunteers : bool
        Whether to learn the volunteer parameters (and the image weights); otherwise they stay as given.
    prior : ndarray, optional
        A known prior over states; default: learned, starting from the duration prior.
    options : EMOptions
        How to learn.
    building_prior : BuildingPrior, optional
        A prior of every building (the spatial prior), learned with the rest; the campaign prior is then the
        prior it is built from.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        image_dates: pd.DatetimeIndex,
        *,
        fit_volunteers: bool,
        prior: np.ndarray | None,
        options: EMOptions,
        building_prior: BuildingPrior | None = None,
    ) -> None:
        self.params = {k: v.copy() for k, v in params.items()}
        self.fit_volunteers = fit_volunteers
        self.learn_prior = prior is None
        self.options = options
        self.shape = duration_prior(image_dates)
        self.S = len(image_dates) + 1
        self.pi = self.shape if self.learn_prior else np.asarray(prior, dtype=float)
        if self.pi.shape != (self.S,) or (self.pi < 0).any() or not np.isclose(self.pi.sum(), 1.0):
            raise LabelsError(f"prior must be {self.S} probabilities (one per state) summing to 1.")
        self.image_weight = np.ones(len(image_dates))
        self.compare_reliability = (
            np.full(len(image_dates), COMPARE_RELIABILITY_START) if options.compare_image_reliability else None
        )
        self.types: CrowdTypes | None = None
        self.building_prior = building_prior

    @classmethod
    def start(
        cls,
        volunteer_ids: pd.Index,
        image_dates: pd.DatetimeIndex,
        *,
        volunteer_params: pd.DataFrame | None = None,
        fit_volunteers: bool | None = None,
        prior: np.ndarray | None = None,
        options: EMOptions | None = None,
        building_prior: BuildingPrior | None = None,
    ) -> MStep:
        """The M-step at the start of a fit, as :func:`stracker.aggregate` sets it up (its defaults too).

        ``fit_volunteers`` defaults to whether ``volunteer_params`` is missing; fitting from given parameters is
        a warm start, where volunteers missing from them start at the defaults. ``options`` default:
        :class:`EMOptions`.
        """
        if fit_volunteers is None:
            fit_volunteers = volunteer_params is None
        start = resolve_params(volunteer_params, volunteer_ids, allow_missing=fit_volunteers)
        return cls(
            start,
            image_dates,
            fit_volunteers=fit_volunteers,
            prior=prior,
            options=options or EMOptions(),
            building_prior=building_prior,
        )

    @property
    def learns(self) -> bool:
        """Whether the M-step changes anything (otherwise one E-step is the fit)."""
        return self.fit_volunteers or self.learn_prior or self.building_prior is not None

    def state(self) -> ModelState:
        """The state the next E-step runs under."""
        log_prior = np.log(np.maximum(self.pi, 1e-300))
        return ModelState(
            dict(self.params), self.image_weight, log_prior, self.compare_reliability, self.building_prior
        )

    def update(self, stats: SufficientStatistics) -> None:
        """One M-step from statistics summed over all buildings (volunteer parameters, image weights, prior)."""
        options = self.options
        params = self.params
        if self.fit_volunteers and stats.observed.any():
            names = [name for name, seen in zip(STAT_NAMES, stats.observed, strict=True) if seen]
            num, den = stats.num, stats.den  # parameters (the observed ones) x volunteers
            if options.volunteer_types > 1:
                if self.types is None:
                    self.types = CrowdTypes(options.volunteer_types, np.array([DEFAULT_PARAMS[n] for n in names]))
                centre = self.types.fit(num, den)
                estimate = np.clip(
                    (num + options.shrinkage * centre) / (den + options.shrinkage), PARAM_CLIP, 1 - PARAM_CLIP
                )
                for j, name in enumerate(names):
                    params[name] = estimate[j]
            else:
                for j, name in enumerate(names):
                    params[name] = _shrink(num[j], den[j], options.shrinkage, DEFAULT_PARAMS[name])
            if options.image_difficulty and stats.n_marks:
                late_num, late_den = stats.parameter("p_late")
                crowd_late = float(np.clip(late_num.sum() / max(late_den.sum(), 1e-12), PARAM_CLIP, 1 - PARAM_CLIP))
                self.image_weight = image_weights(stats.image_skips, stats.image_notices, crowd_late)
            if self.compare_reliability is not None and stats.image_unread is not None:
                assert stats.image_compare is not None  # both or neither
                self.compare_reliability = compare_reliability(stats.image_unread, stats.image_compare)
        if self.building_prior is not None and stats.prior_statistics is not None:
            self.building_prior = self.building_prior.update(stats.prior_statistics)
        if self.learn_prior:
            # Dirichlet pseudo-counts shaped like the duration prior, prior_pseudocount per state on average
            pseudo = options.prior_pseudocount * self.S * self.shape
            pi = (stats.posterior_sum + pseudo) / (stats.n_buildings + pseudo.sum())
            self.pi = smooth_rate(pi, self.shape) if options.smooth_prior else pi


@dataclass(eq=False)
class FitResult:
    """What :func:`run_em` (and :func:`fit_em`) return: the last E-step and everything learned on the way.

    ``state`` is the state of the last E-step, the one ``posterior`` is computed under; ``params``, ``prior``
    and ``image_weight`` are the M-step's after the fit (one step further than ``state`` when the fit stopped at
    ``max_iter``). ``posterior`` is None when the E-step keeps it elsewhere (the Dask engine's workers).
    ``compare_reliability`` is the learned per-image reliability of compare answers (None unless
    ``EMOptions.compare_image_reliability``).
    """

    state: ModelState
    posterior: np.ndarray | None
    params: dict[str, np.ndarray]
    prior: np.ndarray
    image_weight: np.ndarray
    log_likelihood: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    compare_reliability: np.ndarray | None = None
    building_prior: BuildingPrior | None = None


def run_em(
    e_step: Callable[[ModelState], EStep],
    m_step: MStep,
    options: EMOptions,
    callback: Callable[[int, float], None] | None = None,
) -> FitResult:
    """The EM loop both engines drive: E-step, stop if settled, else M-step; ``max_iter`` times at most.

    ``e_step(state)`` runs the E-step on every building: an :class:`~stracker.consensus.model.EStep` with the
    log-likelihood and the statistics summed over all buildings (and the posterior, in memory). The fit stops
    when the relative change of the log-likelihood is at most ``options.tol``, or after one E-step when the
    M-step would learn nothing; only then are the last step's statistics not read. ``callback(n_iter,
    log_likelihood)`` is called after every E-step.
    """
    history: list[float] = []
    converged = False
    n_iter = 0
    state = m_step.state()
    step = None
    for n_iter in range(1, options.max_iter + 1):
        state = m_step.state()
        step = e_step(state)
        history.append(step.log_likelihood)
        if callback is not None:
            callback(n_iter, history[-1])
        if converged_at(history, options.tol) or not m_step.learns:
            converged = True
            break
        m_step.update(step.statistics)
    return FitResult(
        state,
        None if step is None else step.posterior,  # read once: a step on blocks joins it when read
        m_step.params,
        m_step.pi,
        m_step.image_weight,
        history,
        n_iter,
        converged,
        m_step.compare_reliability,
        state.building_prior,
    )


def fit_em(
    enc: EncodedLabels,
    *,
    volunteer_params: pd.DataFrame | None = None,
    fit_volunteers: bool | None = None,
    prior: np.ndarray | None = None,
    options: EMOptions | None = None,
    callback: Callable[[int, float], None] | None = None,
    visibility: np.ndarray | None = None,
    gold: GoldStates | None = None,
    building_prior: BuildingPrior | None = None,
    threads: int | None = None,
    model: BlockedAnswerModel | None = None,
) -> FitResult:
    """Fit the consensus model by EM on a table in memory (the in-memory engine of :func:`stracker.aggregate`).

    Parameters as in :func:`stracker.aggregate`; ``options`` default: :class:`EMOptions`. ``visibility`` (buildings
    x images, rows in the order of ``enc.building_ids``) and ``gold`` are as
    :class:`~stracker.consensus.model.AnswerModel` takes them (:mod:`stracker.consensus.inputs` makes them from
    tables). ``building_prior`` (the spatial prior, :class:`stracker.consensus.spatial.SpatialPrior`) starts the
    prior of every building. The E-step runs on blocks of buildings on ``threads`` threads
    (:class:`~stracker.consensus.blocks.BlockedAnswerModel`; under a building prior, which ties every building
    to its neighbours, the prior's step runs over every building between the blocks' parts), or on ``model``,
    the table's blocks with their inputs made already (the caller closes it).

    Examples
    --------
    >>> import pandas as pd
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2, 2], "volunteer_id": ["a", "b", "a", "b"],
    ...     "before": pd.NaT, "after": pd.to_datetime(["2017-06-10"] * 4),
    ...     "destroyed": [True, True, False, False], "task": "compare"})
    >>> fit = fit_em(encode_labels(labels))
    >>> fit.converged, (fit.posterior[:, 0] > 0.5).tolist()
    (True, [True, False])
    """
    options = options or EMOptions()
    m_step = MStep.start(
        enc.volunteer_ids,
        enc.image_dates,
        volunteer_params=volunteer_params,
        fit_volunteers=fit_volunteers,
        prior=prior,
        options=options,
        building_prior=building_prior,
    )
    # the statistics of every E-step but the last are read (none when the M-step learns nothing): made block by
    # block with the posteriors, the last step's are made for nothing
    eager = m_step.learns
    if model is not None:
        return run_em(lambda state: model.e_step(state, m_step.fit_volunteers, eager), m_step, options, callback)
    with BlockedAnswerModel(enc, threads=threads, visibility=visibility, gold=gold) as own:
        return run_em(lambda state: own.e_step(state, m_step.fit_volunteers, eager), m_step, options, callback)
