"""The consensus model: the answer models and their E-step, a posterior over each building's destruction state.

States: with image dates d_0 < ... < d_{D-1}, a building's destruction time T lies in one of D + 1 states:
state 0 = destroyed by d_0, state k = T in (d_{k-1}, d_k], state D = not destroyed by d_{D-1}.

Answer models, per volunteer v:

* compare answer about the interval (lo, hi] (two-coin Dawid-Skene): P(yes | T in interval) = sensitivity_v,
  P(no | T not in interval) = specificity_v.
* timeline mark "intact in image lo, destroyed in image hi" (the volunteer's own choice of interval), for a
  building in state k:

  (each times 1 - p_guess)

  - k in (lo, hi]: on time, (1 - p_miss)(1 - p_early)(1 - p_late);
  - k <= lo: late by delta = lo - k + 1 images, (1 - p_miss)(1 - p_early) p_late^delta (1 - p_late);
  - hi < k < D: early by delta = k - hi images, (1 - p_miss) p_early (1 - early_decay) early_decay^(delta - 1);
  - k = D (intact): a false alarm, p_false / D.

* a guess: with ``p_guess`` a volunteer marks an image at random, whatever the state (1 / D each). Far from a
  mark, where the geometric tails fall below it, this floor bounds what one stray mark can cost.
* timeline "no destruction seen" up to image hi (``destroyed`` False): for k in (lo, hi], a miss,
  p_miss + (1 - p_miss)(1 - p_early) p_late^(hi - k + 1) (scrolling past every destroyed image to the end; the
  second term is kept for the last few images, where it matters); elsewhere (1 - p_false).
* can't-tell answers carry no information.

Every answer's log-likelihood is piecewise linear in k over at most four ranges, so the log-likelihood of all
answers for all buildings is built with two difference arrays (a constant and a slope in k) filled by one
``np.bincount`` each and summed by ``cumsum``: O(answers + buildings x states) per EM iteration, no Python
loop over answers or buildings. The M-step's statistics read range masses of the posterior from its cumulative
sums.

This module is the E-step: :class:`AnswerModel` holds the index arrays of one table and
:meth:`AnswerModel.e_step` turns a :class:`ModelState` into the posterior and the :class:`SufficientStatistics`
the M-step needs, additive over buildings. The M-step and the EM loop are in :mod:`stracker.consensus.em`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from stracker.consensus.sparse import incidence_matrix
from stracker.errors import LabelsError
from stracker.labels import CANT_TELL, COMPARE, NO, TIMELINE, YES, EncodedLabels

__all__ = [
    "DEFAULT_PARAMS",
    "PARAM_CLIP",
    "PARAM_NAMES",
    "STAT_NAMES",
    "AnswerModel",
    "BuildingPrior",
    "EStep",
    "LogLikelihood",
    "MarkBreaks",
    "ModelState",
    "PriorStep",
    "SufficientStatistics",
    "cumulative_weight",
    "duration_prior",
    "posterior_and_evidence",
    "resolve_params",
]

PARAM_NAMES = ("p_late", "p_early", "early_decay", "p_miss", "p_false", "p_guess", "sensitivity", "specificity")
"""Per-volunteer parameters of the answer models."""

DEFAULT_PARAMS = {
    "p_late": 0.3,
    "p_early": 0.1,
    "early_decay": 0.3,
    "p_miss": 0.1,
    "p_false": 0.05,
    "p_guess": 0.02,
    "sensitivity": 0.8,
    "specificity": 0.8,
}
"""Starting values of the EM and the crowd values used where the crowd gives no evidence."""

STAT_NAMES = ("p_guess", "p_false", "p_miss", "p_early", "p_late", "early_decay", "sensitivity", "specificity")
"""The parameters with sufficient statistics, in the order of the rows of :class:`SufficientStatistics`."""

PARAM_CLIP = 1e-4
"""Volunteer parameters are kept in [PARAM_CLIP, 1 - PARAM_CLIP], so that every log stays finite."""

_N_LATE_TAIL = 3  # images before the end of a scan where late-to-the-end is modelled exactly


class PriorStep(NamedTuple):
    """What a :class:`BuildingPrior` gives an E-step: every building's prior and how to sum what it learns from."""

    log_prior: np.ndarray
    """Buildings x states, each row a normalised log prior."""
    statistics: Callable[[np.ndarray], np.ndarray]
    """From the posterior (buildings x states), the sums the building prior's own M-step needs."""
    independent: np.ndarray
    """Buildings x states: the posterior under the campaign's prior alone, from which the E-step's statistics for
    the volunteers' parameters (and the campaign prior) are taken, so that the building prior cannot feed back
    into what the answers are taken to be worth."""


class BuildingPrior(Protocol):
    """A prior over states that differs from building to building (the spatial prior of
    :mod:`stracker.consensus.spatial`): built, at every E-step, from the log-likelihood of every building's answers
    and the campaign's prior, and updated by the M-step from the sums its :class:`PriorStep` gave."""

    def step(self, log_likelihood: np.ndarray, log_prior: np.ndarray) -> PriorStep:
        """Every building's log prior under the campaign's ``log_prior``, and its statistics function."""
        ...

    def update(self, statistics: np.ndarray) -> BuildingPrior:
        """The prior of the next E-step, from statistics summed over buildings."""
        ...


@dataclass(frozen=True, eq=False)
class ModelState:
    """What an E-step needs besides the answers: the current parameters of the model.

    Attributes
    ----------
    params : dict of str to ndarray
        Per-volunteer parameters (:data:`PARAM_NAMES`), in volunteer-code order.
    image_weight : ndarray
        Per image, how many "missed images" skipping it counts as (1 for a clear image, less for an image that
        clouds made easy to scroll past).
    log_prior : ndarray
        Log of the prior over the D + 1 states.
    building_prior : BuildingPrior, optional
        A prior of every building built from ``log_prior`` and the answers (the spatial prior); default: every
        building's prior is ``log_prior``.
    """

    params: dict[str, np.ndarray]
    image_weight: np.ndarray
    log_prior: np.ndarray
    building_prior: BuildingPrior | None = None


class MarkBreaks(NamedTuple):
    """Per timeline mark, the states where its late and early tails fall below the guess floor.

    The log-likelihood of a mark is the floor for states below ``late`` and from ``early`` on (up to D); the
    E-step finds them and the sufficient statistics split the posterior mass at them.
    """

    late: np.ndarray
    early: np.ndarray


class LogLikelihood(NamedTuple):
    """Log-likelihood of every building's answers in every state (:meth:`AnswerModel.log_likelihood`)."""

    by_state: np.ndarray
    """Buildings x states, up to :attr:`constant`."""
    constant: float
    """The part that is the same in every state (summed over all buildings)."""
    breaks: MarkBreaks
    """Where each timeline mark's tails meet the guess floor."""


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """What one E-step over some buildings gives the M-step: sums over those buildings.

    Every field is a sum over buildings (or a flag that is an "or" over them), so the statistics of shards of
    buildings add up, with ``+``, to those of the whole table; the M-step
    (:meth:`stracker.consensus.em.MStep.update`) reads nothing else.

    Attributes
    ----------
    log_likelihood : float
        Log-likelihood of the answers (log evidence) under the state the E-step used.
    n_buildings : int
        Buildings summed over.
    posterior_sum : ndarray
        Sum of the buildings' posteriors (D + 1 states); with a building prior, of their posteriors under the
        campaign prior alone (:attr:`PriorStep.independent`), from which the campaign prior is learned.
    n_marks : int
        Timeline marks ("destroyed" answers) among the answers.
    num, den : ndarray
        Per parameter of :data:`STAT_NAMES` (rows) and volunteer (columns): the expected count of events and of
        chances, whose shrunken ratio is the parameter's estimate. Zero where not ``observed``.
    observed : ndarray of bool
        Per parameter of :data:`STAT_NAMES`: whether the answers inform it (timeline parameters with timeline
        answers, compare parameters with compare answers) and its statistics were computed.
    image_skips, image_notices : ndarray
        Per image: expected times a late mark skipped it, and expected marks that noticed the destruction in it.
    prior_statistics : ndarray or None
        The sums a :class:`BuildingPrior` learns from (None without one).
    """

    log_likelihood: float
    n_buildings: int
    posterior_sum: np.ndarray
    n_marks: int
    num: np.ndarray
    den: np.ndarray
    observed: np.ndarray
    image_skips: np.ndarray
    image_notices: np.ndarray
    prior_statistics: np.ndarray | None = None

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        return SufficientStatistics(
            log_likelihood=self.log_likelihood + other.log_likelihood,
            n_buildings=self.n_buildings + other.n_buildings,
            posterior_sum=self.posterior_sum + other.posterior_sum,
            n_marks=self.n_marks + other.n_marks,
            num=self.num + other.num,
            den=self.den + other.den,
            observed=self.observed | other.observed,
            image_skips=self.image_skips + other.image_skips,
            image_notices=self.image_notices + other.image_notices,
            prior_statistics=None
            if self.prior_statistics is None or other.prior_statistics is None
            else self.prior_statistics + other.prior_statistics,
        )


class EStep:
    """What an E-step gives: the posterior, the log-likelihood and the sufficient statistics for the M-step.

    The statistics may be given as a function that computes them: they are computed on first use (the last
    E-step of a fit that has converged needs none, and the in-memory engine skips them there).

    Attributes
    ----------
    posterior : ndarray or None
        Buildings x states, rows summing to 1; None where it stays elsewhere (on the Dask workers).
    log_likelihood : float
        Log-likelihood of the answers under the state the E-step ran under.
    terms : LogLikelihood or None
        The log-likelihood by building and state, its constant part and the marks' breakpoints the posterior
        and the statistics come from (None where they stay on the workers).
    """

    def __init__(
        self,
        posterior: np.ndarray | None,
        log_likelihood: float,
        statistics: SufficientStatistics | Callable[[], SufficientStatistics],
        terms: LogLikelihood | None = None,
    ) -> None:
        self.posterior = posterior
        self.log_likelihood = log_likelihood
        self.terms = terms
        self._statistics = statistics

    @classmethod
    def of(cls, statistics: SufficientStatistics) -> EStep:
        """The E-step whose statistics (summed over shards) are all there is, the posterior being elsewhere."""
        return cls(None, statistics.log_likelihood, statistics)

    @property
    def statistics(self) -> SufficientStatistics:
        """The sums the M-step needs (:class:`SufficientStatistics`)."""
        if not isinstance(self._statistics, SufficientStatistics):
            self._statistics = self._statistics()
        return self._statistics


def posterior_and_evidence(log_likelihood: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised posterior (buildings x states) from a log-likelihood and a log prior, and the log evidence.

    The log evidence is the sum over buildings of log sum_k exp(log_likelihood + log_prior), computed stably
    (each row shifted by its maximum).

    Examples
    --------
    >>> posterior, evidence = posterior_and_evidence(np.log([[1.0, 3.0]]), np.log([0.5, 0.5]))
    >>> posterior.tolist(), round(evidence, 12) == round(float(np.log(2.0)), 12)
    ([[0.25, 0.75]], True)
    """
    z = log_likelihood + log_prior
    shift = z.max(axis=1, keepdims=True)
    np.subtract(z, shift, out=z)
    np.exp(z, out=z)
    norm = z.sum(axis=1, keepdims=True)
    z /= norm
    return z, float(np.log(norm).sum() + shift.sum())


def cumulative_weight(image_weight: np.ndarray) -> np.ndarray:
    """Cumulative image weights at every state boundary (length D + 2): the weights of the images before each.

    Examples
    --------
    >>> cumulative_weight(np.array([1.0, 0.5, 2.0])).tolist()
    [0.0, 1.0, 1.5, 3.5, 3.5]
    """
    return np.concatenate([[0.0], np.cumsum(image_weight), [image_weight.sum()]])


def _flat(b: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    return b.astype(np.int64) * width + pos


class AnswerModel:
    """The answer models over one encoded table: index arrays computed once, then one E-step per EM iteration.

    A table of some of the buildings (with the global volunteer codes and image catalogue) gives the statistics
    of those buildings; the distributed engine holds one per shard.

    Parameters
    ----------
    enc : EncodedLabels
        The answers.

    Examples
    --------
    >>> import pandas as pd
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2], "volunteer_id": ["a", "b", "a"], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 3), "destroyed": [True, True, False], "task": "compare"})
    >>> enc = encode_labels(labels)
    >>> model = AnswerModel(enc)
    >>> state = ModelState(resolve_params(None, enc.volunteer_ids), np.ones(1), np.log([0.5, 0.5]))
    >>> step = model.e_step(state)
    >>> step.posterior.round(3).tolist()
    [[0.941, 0.059], [0.2, 0.8]]
    >>> step.statistics.n_buildings, step.statistics.observed.tolist()
    (2, [False, False, False, False, False, False, True, True])
    """

    def __init__(self, enc: EncodedLabels) -> None:
        self.n_buildings, self.n_images, self.n_states = enc.n_buildings, enc.n_images, enc.n_states
        self.n_volunteers = enc.n_volunteers
        B, D, S, V = self.n_buildings, self.n_images, self.n_states, self.n_volunteers
        self.width = W = S + 1  # width of the difference arrays and of the cumulative posterior
        lo1 = enc.lo.astype(np.int64) + 1
        hi1 = enc.hi.astype(np.int64) + 1
        timeline = enc.task == TIMELINE
        mark = timeline & (enc.answer == YES)
        nodest = timeline & (enc.answer == NO)
        compare = (enc.task == COMPARE) & (enc.answer != CANT_TELL)

        # timeline marks: four breakpoints (0, lo+1, hi+1, D) of a piecewise-linear log-likelihood
        self.mark_building, self.mark_volunteer = enc.building[mark], enc.volunteer[mark]
        self.mark_lo1, self.mark_hi1 = lo1[mark], hi1[mark]
        self.mark_hi = self.mark_hi1 - 1
        self.mark_base = self.mark_building.astype(np.int64) * W
        self.n_marks = int(self.mark_building.size)

        # "no destruction" answers: a range (lo, hi] plus exact terms for the last few states before hi
        self.nodest_building, self.nodest_volunteer = enc.building[nodest], enc.volunteer[nodest]
        self.nodest_lo1, self.nodest_hi1 = lo1[nodest], hi1[nodest]
        nb = self.nodest_building
        tail_idx, tail_delta, tail_answer = [], [], []
        for delta in range(1, _N_LATE_TAIL + 1):  # a fixed handful of offsets, not a loop over answers
            k = self.nodest_hi1 - delta
            ok = k >= self.nodest_lo1
            rows = np.flatnonzero(ok)
            tail_answer.append(rows)
            tail_delta.append(np.full(rows.size, delta, np.int64))
            tail_idx.append((_flat(nb[rows], k[rows], W), _flat(nb[rows], k[rows] + 1, W)))
        self.tail_answer = np.concatenate(tail_answer)
        self.tail_delta = np.concatenate(tail_delta)
        self.nodest_idx = np.concatenate(
            [
                _flat(nb, self.nodest_lo1, W),
                _flat(nb, self.nodest_hi1, W),
                np.concatenate([t[0] for t in tail_idx]),
                np.concatenate([t[1] for t in tail_idx]),
            ]
        )

        # compare answers: one range (lo, hi] with yes/no. Their log-likelihood depends on the answer only
        # through (volunteer, yes/no), so the difference array is a sparse incidence matrix (+1 at the
        # building's lo+1, -1 at its hi+1, in the column of the answer's (volunteer, yes/no)) times a vector
        # of 2V values; the M-step's expected counts are its transpose times the cumulative posterior. Built
        # once (linear time, duplicates kept), each is one pass over the answers.
        c_b = enc.building[compare]
        c_vy = enc.volunteer[compare].astype(np.int64) * 2 + enc.answer[compare]
        n_compare = c_b.size
        self.compare_counts = np.bincount(c_vy, minlength=2 * V).reshape(V, 2).astype(float)
        self.has_compare = bool(n_compare)
        if self.has_compare:
            rows = np.concatenate([_flat(c_b, lo1[compare], W), _flat(c_b, hi1[compare], W)])
            sign = np.concatenate([np.ones(n_compare), -np.ones(n_compare)])
            self.incidence = incidence_matrix(rows, np.concatenate([c_vy, c_vy]), sign, B * W, 2 * V)
            del rows, sign

        # gather positions into the cumulative posterior (B x W, flattened) for the M-step's statistics
        self.mark_at_lo1 = self.mark_base + self.mark_lo1
        self.mark_at_hi1 = self.mark_base + self.mark_hi1
        self.mark_at_D = self.mark_base + D
        self.timeline_count = np.bincount(
            np.concatenate([self.mark_volunteer, self.nodest_volunteer]), minlength=V
        ).astype(float)  # timeline answers told, per volunteer
        self.nodest_at_lo1 = _flat(nb, self.nodest_lo1, W)
        self.nodest_at_hi1 = _flat(nb, self.nodest_hi1, W)
        self.nodest_at_D = _flat(nb, np.full(nb.size, D, np.int64), W)
        self.states = np.arange(S, dtype=float)
        self.has_timeline = bool(self.n_marks + nb.size)

    # ----------------------------------------------------------------------------------------- E-step
    def e_step(self, state: ModelState, volunteer_statistics: bool = True) -> EStep:
        """The posterior of every building under ``state``, its log-likelihood and the statistics for the M-step.

        The statistics are computed when first read (:attr:`EStep.statistics`). Without
        ``volunteer_statistics`` (volunteer parameters fixed), they hold only the log-likelihood and the
        posterior sums: the M-step then updates the prior alone.
        """
        terms = self.log_likelihood(state.params, state.image_weight)
        if state.building_prior is None:
            posterior, log_evidence = posterior_and_evidence(terms.by_state, state.log_prior)
            answers_posterior, prior_statistics = posterior, None
        else:
            prior_step = state.building_prior.step(terms.by_state, state.log_prior)
            posterior, log_evidence = posterior_and_evidence(terms.by_state, prior_step.log_prior)
            answers_posterior = prior_step.independent
            prior_statistics = functools.partial(prior_step.statistics, posterior)
        log_likelihood = log_evidence + terms.constant
        statistics = functools.partial(
            self.statistics,
            answers_posterior,
            state,
            terms.breaks,
            log_likelihood,
            volunteer_statistics,
            prior_statistics=prior_statistics,
        )
        # the step holds its terms as long as it lives, as the loop holds the step until the next one is made:
        # the E-step's large arrays then keep one lifetime from iteration to iteration, and glibc's allocator
        # reuses their pages instead of returning them to the system and faulting them in again (measured:
        # five times the page faults and 20 % more time per fit on the raqqa campaign when they were freed here)
        return EStep(posterior, log_likelihood, statistics, terms)

    def log_likelihood(self, params: dict[str, np.ndarray], image_weight: np.ndarray) -> LogLikelihood:
        """Log-likelihood of every building's answers in every state (B x S), the constant part and the breaks."""
        B, D, S, W = self.n_buildings, self.n_images, self.n_states, self.width
        log = {name: np.log(value) for name, value in params.items()}
        log1m = {name: np.log1p(-value) for name, value in params.items()}
        cum_weight = cumulative_weight(image_weight)
        weights, base = [], 0.0
        mark_idx = slope_idx = slope_w = None
        empty = np.zeros(0, np.int64)
        breaks = MarkBreaks(empty, empty)
        if self.n_marks:
            v = self.mark_volunteer
            lo1, hi1 = self.mark_lo1, self.mark_hi1
            log_guess = log["p_guess"][v]
            follow = log1m["p_guess"][v]  # the volunteer follows the mark model rather than guessing
            floor = log_guess - np.log(D)  # a guess: any image, uniformly
            slope_late = -log["p_late"][v]
            # noticing the destruction in image hi: 1 - p_late ** weight(hi)
            noticed = np.log(-np.expm1(-slope_late * image_weight[self.mark_hi]))
            c_exact = (log1m["p_miss"] + log1m["p_early"])[v] + noticed + follow
            c_exact_mix = np.logaddexp(c_exact, floor)
            slope_early = log["early_decay"][v]
            # late: skipped images k..lo, each counting its weight: c_late + slope_late * cum_weight[k]
            c_late = c_exact - cum_weight[lo1] * slope_late
            c_early = (log1m["p_miss"] + log["p_early"] + log1m["early_decay"])[v] + follow - hi1 * slope_early
            c_intact = np.logaddexp(log["p_false"][v] + follow, log_guess) - np.log(D)
            # far from the mark the geometric tails fall below the guess floor: there, the floor holds
            # (a max in place of a sum of the two, within log 2), so a stray mark costs at most log(g / D)
            k_late = np.minimum(np.searchsorted(cum_weight, (floor - c_late) / slope_late, side="left"), lo1)
            k_early = np.clip(np.floor((floor - c_early) / slope_early) + 1, hi1, D).astype(np.int64)
            breaks = MarkBreaks(k_late, k_early)
            base_b = self.mark_base
            mark_idx = np.concatenate(
                [base_b, base_b + k_late, base_b + lo1, base_b + hi1, base_b + k_early, base_b + D]
            )
            weights += [
                floor,
                c_late - floor,
                c_exact_mix - c_late,
                c_early - c_exact_mix,
                floor - c_early,
                c_intact - floor,
            ]
            # late slopes multiply cum_weight[k], early slopes k: one bincount, two stacked difference arrays
            early_b = base_b + B * W
            slope_idx = np.concatenate([base_b + k_late, base_b + lo1, early_b + hi1, early_b + k_early])
            slope_w = np.concatenate([slope_late, -slope_late, slope_early, -slope_early])
        if self.nodest_building.size:
            v = self.nodest_volunteer
            inside = (log["p_miss"] - log1m["p_false"])[v]
            base += float((log1m["p_false"] + log1m["p_guess"])[v].sum())
            tv = v[self.tail_answer]
            miss, late = params["p_miss"][tv], params["p_late"][tv]
            hi1 = self.nodest_hi1[self.tail_answer]
            skipped = cum_weight[hi1] - cum_weight[hi1 - self.tail_delta]  # late past every image to the end
            tail = np.log(miss + (1 - miss) * (1 - params["p_early"][tv]) * late**skipped) - np.log(miss)
            weights += [inside, -inside, tail, -tail]
        compare = None
        if self.has_compare:
            sens, spec = params["sensitivity"], params["specificity"]
            # [volunteer, answer] -> log P(answer | inside), log P(answer | outside)
            inside = np.stack([np.log1p(-sens), np.log(sens)], axis=1)
            outside = np.stack([np.log(spec), np.log1p(-spec)], axis=1)
            base += float((self.compare_counts * outside).sum())
            compare = self.incidence @ (inside - outside).ravel()
        size = B * W
        const: np.ndarray
        if weights:
            idx = self.nodest_idx if mark_idx is None else np.concatenate([mark_idx, self.nodest_idx])
            const = np.bincount(idx, weights=np.concatenate(weights), minlength=size)
            if compare is not None:
                const += compare
        else:
            const = compare if compare is not None else np.zeros(size)
        L = np.cumsum(const.reshape(B, W), axis=1)[:, :S]
        if slope_idx is not None:
            slope = np.cumsum(np.bincount(slope_idx, weights=slope_w, minlength=2 * size).reshape(2, B, W), axis=2)[
                :, :, :S
            ]
            L += slope[0] * cum_weight[:S] + slope[1] * self.states
        return LogLikelihood(L, base, breaks)

    # ------------------------------------------------------------------------------ statistics for the M-step
    def statistics(
        self,
        posterior: np.ndarray,
        state: ModelState,
        breaks: MarkBreaks,
        log_likelihood: float,
        volunteer_statistics: bool = True,
        prior_statistics: Callable[[], np.ndarray] | None = None,
    ) -> SufficientStatistics:
        """The sums over this table's buildings that the M-step needs, after an E-step under ``state``.

        ``breaks`` are the E-step's (:attr:`LogLikelihood.breaks`). Per-volunteer numerators and denominators of
        every parameter's estimate, expected skips and notices per image (only with ``volunteer_statistics``),
        the posterior's column sums and, with a building prior, its statistics (``prior_statistics()``). With a
        building prior, ``posterior`` is the one under the campaign prior alone (:attr:`PriorStep.independent`).
        """
        n_stats, V, D = len(STAT_NAMES), self.n_volunteers, self.n_images
        num, den = np.zeros((n_stats, V)), np.zeros((n_stats, V))
        observed = np.zeros(n_stats, dtype=bool)
        image_skips, image_notices = np.zeros(D), np.zeros(D)
        if volunteer_statistics:
            by_name, images = self._volunteer_statistics(posterior, state, breaks)
            for name, (n, d) in by_name.items():
                j = STAT_NAMES.index(name)
                num[j], den[j], observed[j] = n, d, True
            if images is not None:
                image_skips, image_notices = images
        return SufficientStatistics(
            log_likelihood=log_likelihood,
            n_buildings=self.n_buildings,
            posterior_sum=posterior.sum(axis=0),
            n_marks=self.n_marks,
            num=num,
            den=den,
            observed=observed,
            image_skips=image_skips,
            image_notices=image_notices,
            prior_statistics=None if prior_statistics is None else prior_statistics(),
        )

    def _volunteer_statistics(
        self, posterior: np.ndarray, state: ModelState, breaks: MarkBreaks
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray] | None]:
        """Per parameter, the (numerator, denominator) per volunteer; and per image the expected skips and notices
        (None without timeline answers)."""
        B, W, V, S = self.n_buildings, self.width, self.n_volunteers, self.n_states
        params = state.params
        C0: np.ndarray = np.zeros((B, W))
        np.cumsum(posterior, axis=1, out=C0[:, 1:])
        C0 = C0.ravel()
        stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        images = None
        count = np.bincount
        if self.has_timeline:
            C1: np.ndarray = np.zeros((B, W))
            np.cumsum(posterior * self.states, axis=1, out=C1[:, 1:])
            C1 = C1.ravel()
            v = self.mark_volunteer
            at_late, at_early = self.mark_base + breaks.late, self.mark_base + breaks.early
            at_lo1, at_hi1, at_D = C0[self.mark_at_lo1], C0[self.mark_at_hi1], C0[self.mark_at_D]
            p_late = at_lo1 - C0[at_late]
            p_exact = at_hi1 - at_lo1
            p_early = C0[at_early] - at_hi1
            p_floor = C0[at_late] + (at_D - C0[at_early])
            p_intact = 1.0 - at_D
            guess, false = params["p_guess"][v], params["p_false"][v]
            intact_guess = p_intact * guess / (guess + (1 - guess) * false)
            cum_weight = cumulative_weight(state.image_weight)
            C2: np.ndarray = np.zeros((B, W))
            np.cumsum(posterior * cum_weight[:S], axis=1, out=C2[:, 1:])
            C2 = C2.ravel()
            late_delta = cum_weight[self.mark_lo1] * p_late - (C2[self.mark_at_lo1] - C2[at_late])
            early_extra = (C1[at_early] - C1[self.mark_at_hi1]) - self.mark_hi1 * p_early
            on_model = count(v, p_late + p_exact + p_early, V)
            early = count(v, p_early, V)
            not_early = count(v, p_late + p_exact, V)
            false_alarms = count(v, p_intact - intact_guess, V)
            guesses = count(v, p_floor + intact_guess, V)
            late = count(v, late_delta, V)
            extra = count(v, early_extra, V)
            nv = self.nodest_volunteer
            miss = count(nv, C0[self.nodest_at_hi1] - C0[self.nodest_at_lo1], V)
            nodest_intact = count(nv, 1.0 - C0[self.nodest_at_D], V)
            stats["p_guess"] = (guesses, self.timeline_count)
            stats["p_false"] = (false_alarms, false_alarms + nodest_intact)
            stats["p_miss"] = (miss, miss + on_model)
            stats["p_early"] = (early, on_model)
            stats["p_late"] = (late, late + not_early)
            stats["early_decay"] = (extra, extra + early)
            images = self._image_statistics(C0, breaks.late, at_late, p_late + p_exact)
        if self.has_compare:
            # the transpose's product reads C0 in order and scatters into 2V sums: no transposed copy needed
            inside = -(self.incidence.T @ C0).reshape(V, 2)  # expected answers whose interval holds the state
            outside = self.compare_counts - inside
            stats["sensitivity"] = (inside[:, 1], inside.sum(axis=1))
            stats["specificity"] = (outside[:, 0], outside.sum(axis=1))
        return stats, images

    def _image_statistics(
        self, C0: np.ndarray, k_late: np.ndarray, at_late: np.ndarray, noticed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expected skips and notices of every image, from which the M-step learns the image weights.

        A late mark (state k <= lo) skipped images k..lo; the expected skips of image j sum, over marks whose
        late range [k_late, lo] holds j, the posterior mass of states k_late..j. Both parts are difference
        arrays: one over buildings x images (how many late ranges cover j) and one over images.
        """
        B, W, D = self.n_buildings, self.width, self.n_images
        cover = np.bincount(
            np.concatenate([self.mark_base + k_late, self.mark_base + self.mark_lo1]),
            weights=np.repeat([1.0, -1.0], k_late.size),
            minlength=B * W,
        )
        cover = np.cumsum(cover.reshape(B, W), axis=1)[:, :D]
        start_mass = C0[at_late]
        offset = np.bincount(
            np.concatenate([k_late, self.mark_lo1]), weights=np.concatenate([start_mass, -start_mass]), minlength=W
        )
        C0 = C0.reshape(B, W)
        skips = (cover * C0[:, 1 : D + 1]).sum(axis=0) - np.cumsum(offset)[:D]
        notices = np.bincount(self.mark_hi, weights=noticed, minlength=D)
        return skips, notices


def duration_prior(image_dates: pd.DatetimeIndex) -> np.ndarray:
    """A prior over states that is uniform in time: interior states get mass in proportion to their length.

    The two open-ended states (before the first image, after the last) get 1 / (D + 1) each. Used to start
    the EM: where answers cannot tell two states apart (an image hidden by clouds for most volunteers), EM
    keeps their ratio, so it should start at the ratio of their durations.
    """
    D = len(image_dates)
    S = D + 1
    prior = np.full(S, 1.0 / S)
    if D > 1:
        days = np.diff(image_dates.to_numpy(dtype="datetime64[s]").astype(np.int64)) / 86400.0
        prior[1:D] = (1.0 - 2.0 / S) * days / days.sum()
    return prior


def resolve_params(
    volunteer_params: pd.DataFrame | None, volunteer_ids: pd.Index, allow_missing: bool = False
) -> dict[str, np.ndarray]:
    """Per-volunteer parameter arrays (in code order) from a table indexed by volunteer_id, or defaults.

    With ``allow_missing`` (a warm start), volunteers absent from the table start at the defaults.
    """
    V = len(volunteer_ids)
    params = {name: np.full(V, value) for name, value in DEFAULT_PARAMS.items()}
    if volunteer_params is None:
        return params
    if not isinstance(volunteer_params, pd.DataFrame):
        raise LabelsError("volunteer_params must be a DataFrame indexed by volunteer_id.")
    # other columns (counts, reliability, country...) are allowed and ignored
    if not set(PARAM_NAMES) & set(volunteer_params.columns):
        raise LabelsError(f"volunteer_params has none of the parameter columns {list(PARAM_NAMES)}.")
    missing = volunteer_ids.difference(volunteer_params.index)
    if len(missing) and not allow_missing:
        raise LabelsError(
            f"volunteer_params lacks {len(missing)} volunteer(s) of the labels, e.g. {missing[:5].tolist()}; "
            "give parameters for every volunteer who answered."
        )
    table = volunteer_params.reindex(volunteer_ids)
    for name in PARAM_NAMES:
        if name in table.columns:
            values = table[name].to_numpy(dtype=float)
            known = volunteer_ids.isin(volunteer_params.index)
            if np.isnan(values[known]).any() or (values[known] < 0).any() or (values[known] > 1).any():
                raise LabelsError(f"volunteer_params[{name!r}] must be probabilities in [0, 1].")
            params[name][known] = np.clip(values[known], PARAM_CLIP, 1 - PARAM_CLIP)
    return params
