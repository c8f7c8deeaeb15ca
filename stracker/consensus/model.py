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

What a campaign knows besides its answers (each optional; without them the model is the one above):

* visibility (:class:`AnswerModel` ``visibility=``; buildings x images, v_bi the share of frame i a volunteer can
  see at building b, 0 below the hidden threshold, see :mod:`stracker.consensus.inputs`). The timeline model counts
  skipped frames by what could be seen: skipping frame i at building b counts ``w_i v_bi`` missed images (w_i the
  learned image weight), so the late tail of a mark is p_late^(sum of w_i v_bi over the skipped frames), a hidden
  frame cannot be missed, and noticing the destruction in the marked frame has chance 1 - p_late^(w_hi v_b,hi).
  The cumulative weights become one row per building (buildings x states, the size of the posterior); the
  "no destruction" answer's miss term is exact for the states from which at most three *visible* frames lead
  to hi (three states when every frame is visible, more behind hidden ones). A compare answer is read with
  chance m = v_b,lo v_b,hi (each frame read independently; a single image: v_b,hi) and is otherwise a coin flip:
  P(yes | inside) = m sensitivity + (1 - m) / 2, P(yes | outside) = m (1 - specificity) + (1 - m) / 2; the
  M-step counts each answer towards its volunteer's sensitivity or specificity by the posterior chance that it
  followed the volunteer's model (an EM of the mixture), so a volunteer is not blamed for a cloud. m is used to
  1/128, so answers still group into the columns (volunteer, answer, m) of the compare passes. Answers
  about hidden frames (a mark on one, a compare question about one, "no destruction" where no frame up to hi was
  visible) carry no information and are left out, so they change nothing.
* gold (``gold=``, :class:`GoldStates`): for buildings an expert dated, every state but the expert's (or those
  the expert's answers leave open) gets likelihood zero. Their posterior is the expert's; the M-step reads the
  volunteers' parameters from the posteriors, so the volunteers who answered them are calibrated by the truth.
* per-image compare reliability (``ModelState.compare_reliability``, rho_i): a compare answer about images lo
  and hi is read with chance m = rho_lo rho_hi (times the visibility), a coin flip otherwise; the E-step then
  takes the answers one by one (per-answer arrays in place of one value per column: about twice the time per
  iteration on 2 million answers, and the EM needs more iterations). The M-step's statistics are each image's
  expected unread frames: an answer that was a coin flip failed at image i with chance (1 - rho_i) / (1 - m),
  exactly (the frames are read independently).

This module is the E-step: :class:`AnswerModel` holds the index arrays of one table and
:meth:`AnswerModel.e_step` turns a :class:`ModelState` into the posterior and the :class:`SufficientStatistics`
the M-step needs, additive over buildings. The M-step and the EM loop are in :mod:`stracker.consensus.em`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from stracker.consensus.kernels import (
    AnswerChunks,
    column_sums,
    compare_rows,
    cumulative_rows,
    group_by_chunk,
    interval_differences,
    interval_log_likelihood,
    interval_masses,
    normalize_rows,
    posterior_interval_masses,
    row_search,
    shifted_rows,
    skip_sums,
    sloped_rows,
)
from stracker.errors import LabelsError
from stracker.labels import CANT_TELL, COMPARE, NO, TIMELINE, YES, EncodedLabels

__all__ = [
    "COMPARE_CHUNK_CELLS",
    "DEFAULT_PARAMS",
    "PARAM_CLIP",
    "PARAM_NAMES",
    "STAT_NAMES",
    "AnswerModel",
    "BuildingPrior",
    "CompareAnswers",
    "CompareColumns",
    "CompareTerms",
    "EStep",
    "GoldStates",
    "LazyParamLogs",
    "LogLikelihood",
    "MarkBreaks",
    "ModelState",
    "ParamLogs",
    "PriorStep",
    "SufficientStatistics",
    "cumulative_weight",
    "duration_prior",
    "param_logs",
    "posterior_and_evidence",
    "posterior_evidence_and_sums",
    "resolve_params",
    "sum_statistics",
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

COMPARE_CHUNK_CELLS = 2**12
"""Building-state cells of a chunk of a compare table's E-step (:func:`~stracker.consensus.kernels.group_by_chunk`):
a chunk's difference rows and running sums (32 KB each, a core's first-level cache) stay near the core while its
answers read and write them. Where a table's answers are not in building order (an export in the order they came
in), a block's whole rows would not: 2 million answers over 11,000 buildings x 51 states in random order take
the log-likelihood's pass 7.2-7.8 ms in one chunk and 4.8-5.6 in chunks, the statistics' 5.1-5.5 and 3.1-3.3."""

_N_LATE_TAIL = 3  # images before the end of a scan where late-to-the-end is modelled exactly
_MIXING_LEVELS = 128  # a compare answer's chance of being read, to 1/128, groups answers into columns
_NO_ROWS = np.empty(0, dtype=np.intp)  # an index that picks no answer


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
    compare_reliability : ndarray or None
        Per image, the chance that it can be read at all for a compare answer (an answer about an unreadable
        frame is a coin flip); None: every image can (``EMOptions.compare_image_reliability`` off).
    building_prior : BuildingPrior, optional
        A prior of every building built from ``log_prior`` and the answers (the spatial prior); default: every
        building's prior is ``log_prior``.
    """

    params: dict[str, np.ndarray]
    image_weight: np.ndarray
    log_prior: np.ndarray
    compare_reliability: np.ndarray | None = None
    building_prior: BuildingPrior | None = None

    @functools.cached_property
    def logs(self) -> ParamLogs:
        """:func:`param_logs` of the parameters, computed once per state (every block of an E-step on blocks of
        buildings reads them)."""
        return param_logs(self.params)


def _log1m(value: np.ndarray) -> np.ndarray:
    return np.log1p(-value)


class LazyParamLogs(Mapping[str, np.ndarray]):
    """``{name: fn(params[name])}``, each made when first read and kept: a table of compare answers reads two of
    the eight parameters' logs, and each is a numpy call an iteration (a tenth of the compare E-step's own work on
    200,000 answers). Two threads reading a log at once may both make it; they make the same array.

    Examples
    --------
    >>> logs = LazyParamLogs({"sensitivity": np.array([1.0])}, np.log)
    >>> logs["sensitivity"].tolist(), list(logs), len(logs)
    ([0.0], ['sensitivity'], 1)
    """

    def __init__(self, params: Mapping[str, np.ndarray], fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self._params, self._fn = params, fn
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._made.get(name)
        if value is None:
            value = self._made[name] = self._fn(self._params[name])
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


class ParamLogs(NamedTuple):
    """Per parameter of :data:`PARAM_NAMES`, per volunteer: the log and the log of the complement (each made when
    first read, :class:`LazyParamLogs`); and per compare column (volunteer x answer, no or yes) the log-likelihood
    ratio of the answer inside the range to outside it, and the log-likelihood outside (volunteers x 2), which
    every block of an E-step reads."""

    log: Mapping[str, np.ndarray]
    log1m: Mapping[str, np.ndarray]
    compare_ratio: np.ndarray
    compare_outside: np.ndarray


def param_logs(params: dict[str, np.ndarray]) -> ParamLogs:
    """``log`` and ``log(1 - .)`` of every parameter, and the compare columns' logs (:class:`ParamLogs`).

    Examples
    --------
    >>> logs = param_logs({"sensitivity": np.array([0.8]), "specificity": np.array([0.9])})
    >>> np.exp(logs.compare_outside).round(2).tolist(), logs.compare_ratio.round(3).tolist()  # [no, yes]
    ([[0.9, 0.1]], [-1.504, 2.079])
    """
    log = LazyParamLogs(params, np.log)
    log1m = LazyParamLogs(params, _log1m)
    if "sensitivity" in params:
        # [volunteer, answer] -> log P(answer | inside), log P(answer | outside): the columns written in place
        # (np.stack's copies cost as much as the logs of 300 volunteers)
        sensitivity, specificity = params["sensitivity"], params["specificity"]
        inside, outside = np.empty((sensitivity.size, 2)), np.empty((specificity.size, 2))
        inside[:, 0], inside[:, 1] = log1m["sensitivity"], log["sensitivity"]
        outside[:, 0], outside[:, 1] = log["specificity"], log1m["specificity"]
        ratio = np.subtract(inside, outside).ravel()
    else:
        ratio, outside = np.zeros(0), np.zeros((0, 2))
    return ParamLogs(log, log1m, ratio, outside)


class MarkBreaks(NamedTuple):
    """Per timeline mark, the states where its late and early tails fall below the guess floor.

    The log-likelihood of a mark is the floor for states below ``late`` and from ``early`` on (up to D); the
    E-step finds them and the sufficient statistics split the posterior mass at them.
    """

    late: np.ndarray
    early: np.ndarray


def _no_breaks() -> MarkBreaks:
    empty = np.zeros(0, np.int64)
    empty.flags.writeable = False
    return MarkBreaks(empty, empty)


_NO_BREAKS = _no_breaks()
"""The breaks of a table without timeline marks."""


class LogLikelihood(NamedTuple):
    """Log-likelihood of every building's answers in every state (:meth:`AnswerModel.log_likelihood`)."""

    by_state: np.ndarray
    """Buildings x states, up to :attr:`constant`."""
    constant: float
    """The part that is the same in every state (summed over all buildings)."""
    breaks: MarkBreaks
    """Where each timeline mark's tails meet the guess floor."""
    compare: CompareTerms | None = None
    """Per compare answer, its probabilities and mixing, where answers are read one by one (None: the sparse
    product)."""


class CompareTerms(NamedTuple):
    """Per compare answer (:attr:`AnswerModel.compare_answers`), what the E-step computed and the M-step's
    statistics reuse: the chance its frames could be read, and its probability inside and outside its range."""

    mixing: np.ndarray
    p_in: np.ndarray
    p_out: np.ndarray


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
        Per parameter the answers inform (rows: the ``observed`` ones, in the order of :data:`STAT_NAMES`) and
        volunteer (columns): the expected count of events and of chances, whose shrunken ratio is the parameter's
        estimate. Only the observed rows are held: a compare campaign's statistics are 2 rows of 8 (a block of
        buildings makes and sums its own, so the rows it does not need would cost every block as much as those
        it does).
    observed : ndarray of bool
        Per parameter of :data:`STAT_NAMES`: whether the answers inform it (timeline parameters with timeline
        answers, compare parameters with compare answers) and its statistics were computed.
    image_skips, image_notices : ndarray
        Per image: expected times a late mark skipped it, and expected marks that noticed the destruction in it.
    image_unread, image_compare : ndarray or None
        Per image: expected compare answers given without reading it (a coin flip), and compare answers about
        it; None unless the E-step ran under a per-image compare reliability
        (``ModelState.compare_reliability``).
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
    image_unread: np.ndarray | None = None
    image_compare: np.ndarray | None = None
    prior_statistics: np.ndarray | None = None

    def rows(self, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``num`` and ``den`` with a row for every parameter ``observed`` (a superset of ``self.observed``,
        in the order of :data:`STAT_NAMES`): zeros in the rows these statistics do not hold."""
        return _observed_rows(self.num, self.den, self.observed, observed)

    def parameter(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (numerator, denominator) per volunteer of one observed parameter (a name of :data:`STAT_NAMES`)."""
        j = STAT_NAMES.index(name)
        if not self.observed[j]:
            raise KeyError(f"{name!r} is not observed in these statistics")
        row = int(self.observed[:j].sum())
        return self.num[row], self.den[row]

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        observed = self.observed | other.observed
        (num, den), (other_num, other_den) = self.rows(observed), other.rows(observed)
        return SufficientStatistics(
            log_likelihood=self.log_likelihood + other.log_likelihood,
            n_buildings=self.n_buildings + other.n_buildings,
            posterior_sum=self.posterior_sum + other.posterior_sum,
            n_marks=self.n_marks + other.n_marks,
            num=num + other_num,
            den=den + other_den,
            observed=observed,
            image_skips=self.image_skips + other.image_skips,
            image_notices=self.image_notices + other.image_notices,
            image_unread=_add_optional(self.image_unread, other.image_unread),
            image_compare=_add_optional(self.image_compare, other.image_compare),
            prior_statistics=_add_optional(self.prior_statistics, other.prior_statistics),
        )


def sum_statistics(parts: Iterable[SufficientStatistics]) -> SufficientStatistics:
    """The statistics of shards of buildings added up in the order given: ``parts[0] + parts[1] + ...``, the
    same bits, with one set of arrays accumulated in place rather than a new one per ``+``.

    Examples
    --------
    >>> import pandas as pd
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": ["a", "b"], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
    >>> model = AnswerModel(encode_labels(labels))
    >>> state = ModelState(resolve_params(None, pd.Index(["a", "b"])), np.ones(1), np.log([0.5, 0.5]))
    >>> one = model.e_step(state).statistics
    >>> total = sum_statistics([one, one, one])
    >>> total.n_buildings, bool(np.array_equal(total.num, (one + one + one).num))
    (6, True)
    """
    parts = iter(parts)
    try:
        first = next(parts)
    except StopIteration:
        raise ValueError("sum_statistics needs statistics of at least one shard") from None
    # the fields named, not walked (dataclasses.fields and a dict cost as much as the sums of two blocks' 300
    # volunteers); the same additions in the same order as ``+``
    observed, num, den = first.observed.copy(), first.num.copy(), first.den.copy()
    log_likelihood, n_buildings, n_marks = first.log_likelihood, first.n_buildings, first.n_marks
    posterior_sum = first.posterior_sum.copy()
    image_skips, image_notices = first.image_skips.copy(), first.image_notices.copy()
    optional = [None if value is None else value.copy() for value in _optional_parts(first)]
    for part in parts:
        if _same_flags(part.observed, observed):
            part_num, part_den = part.num, part.den
        else:  # shards that inform other parameters
            wider = observed | part.observed
            num, den = _observed_rows(num, den, observed, wider)
            observed = wider
            part_num, part_den = part.rows(observed)
        num += part_num
        den += part_den
        log_likelihood += part.log_likelihood
        n_buildings += part.n_buildings
        n_marks += part.n_marks
        posterior_sum += part.posterior_sum
        image_skips += part.image_skips
        image_notices += part.image_notices
        for i, value in enumerate(_optional_parts(part)):
            if value is not None:
                total = optional[i]
                optional[i] = value.copy() if total is None else _add_in_place(total, value)
    image_unread, image_compare, prior_statistics = optional
    return SufficientStatistics(
        log_likelihood=log_likelihood,
        n_buildings=n_buildings,
        posterior_sum=posterior_sum,
        n_marks=n_marks,
        num=num,
        den=den,
        observed=observed,
        image_skips=image_skips,
        image_notices=image_notices,
        image_unread=image_unread,
        image_compare=image_compare,
        prior_statistics=prior_statistics,
    )


def _optional_parts(stats: SufficientStatistics) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    return stats.image_unread, stats.image_compare, stats.prior_statistics


def _same_flags(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of flags are equal (``np.array_equal``, in a tenth of its time on 8 flags)."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _observed_rows(
    num: np.ndarray, den: np.ndarray, held: np.ndarray, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``num`` and ``den`` (rows: the parameters ``held``) with a row for every parameter ``observed``, a superset:
    new arrays, zeros in the added rows, unless the two are the same."""
    if _same_flags(observed, held):
        return num, den
    if (held & ~observed).any():
        raise ValueError("observed must hold every parameter these statistics hold")
    at = np.flatnonzero(held[observed])
    shape = (int(observed.sum()), num.shape[1])
    wider_num, wider_den = np.zeros(shape), np.zeros(shape)
    wider_num[at], wider_den[at] = num, den
    return wider_num, wider_den


def _add_in_place(total: np.ndarray, value: np.ndarray) -> np.ndarray:
    total += value
    return total


def _add_optional(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Sum of two per-image statistics where either may be absent (a shard without compare answers)."""
    if a is None:
        return b
    return a if b is None else a + b


class EStep:
    """What an E-step gives: the posterior, the log-likelihood and the sufficient statistics for the M-step.

    The statistics, and the posterior, may be given as functions that compute them: they are computed on first use
    (the last E-step of a fit that has converged needs no statistics, and the in-memory engine skips them there;
    the posterior of a step on blocks of buildings is joined from the blocks' only when read).

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
        posterior: np.ndarray | Callable[[], np.ndarray] | None,
        log_likelihood: float,
        statistics: SufficientStatistics | Callable[[], SufficientStatistics],
        terms: LogLikelihood | None = None,
    ) -> None:
        self._posterior = posterior
        self.log_likelihood = log_likelihood
        self.terms = terms
        self._statistics = statistics

    @classmethod
    def of(cls, statistics: SufficientStatistics) -> EStep:
        """The E-step whose statistics (summed over shards) are all there is, the posterior being elsewhere."""
        return cls(None, statistics.log_likelihood, statistics)

    @property
    def posterior(self) -> np.ndarray | None:
        """Buildings x states, rows summing to 1; None where it stays elsewhere (on the Dask workers)."""
        if callable(self._posterior):
            self._posterior = self._posterior()
        return self._posterior

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
    # numpy's steps (add, row maximum, subtract, exp, row sum, divide), the row passes compiled (the same bits)
    z, shift = shifted_rows(log_likelihood, log_prior)
    np.exp(z, out=z)
    norm = normalize_rows(z)
    return z, _log_evidence(norm, shift)


def posterior_evidence_and_sums(
    log_likelihood: np.ndarray, log_prior: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """:func:`posterior_and_evidence`, and the posterior's column sums (``posterior.sum(axis=0)``, the same bits)
    made in the pass that normalises it, for the statistics of the M-step.

    Examples
    --------
    >>> posterior, evidence, sums = posterior_evidence_and_sums(np.log([[1.0, 3.0], [1.0, 1.0]]), np.log([0.5, 0.5]))
    >>> sums.tolist()
    [0.75, 1.25]
    """
    z, shift = shifted_rows(log_likelihood, log_prior)
    np.exp(z, out=z)
    norm, sums = normalize_rows(z, sum_columns=True)
    return z, _log_evidence(norm, shift), sums


def _log_evidence(norm: np.ndarray, shift: np.ndarray) -> float:
    """The log evidence from each row's sum of shifted exponentials and its shift."""
    return float(np.log(norm).sum() + shift.sum())


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


class CompareAnswers(NamedTuple):
    """Compare answers one by one (:attr:`AnswerModel.compare_answers`): positions of each range's ends in
    the flattened difference array, the (volunteer, answer) column (2 volunteer + answer), and the two images
    (``lo`` D for a single image, so that it indexes a reliability padded with a 1)."""

    at_lo1: np.ndarray
    at_hi1: np.ndarray
    vy: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


class CompareColumns(NamedTuple):
    """The columns of the compare answers under visibility (``AnswerModel.compare_columns``):
    per column its volunteer, whether its answers are yes, the chance they were read, and how many there are."""

    volunteer: np.ndarray
    yes: np.ndarray
    mixing: np.ndarray
    n_answers: np.ndarray


class GoldStates(NamedTuple):
    """Buildings whose state an expert established: the states each may be in (one, for a known date).

    ``rows`` are building positions in the table's order; ``allowed`` is ``len(rows)`` x (D + 1), True for the
    states the expert's findings leave open. The E-step gives every other state of those buildings probability
    zero, so their posterior is the expert's and the M-step calibrates the volunteers who answered them by it.
    """

    rows: np.ndarray
    allowed: np.ndarray


class AnswerModel:
    """The answer models over one encoded table: index arrays computed once, then one E-step per EM iteration.

    A table of some of the buildings (with the global volunteer codes and image catalogue) gives the statistics
    of those buildings; the distributed engine holds one per shard.

    Parameters
    ----------
    enc : EncodedLabels
        The answers.
    visibility : ndarray, optional
        Buildings x images, the share of each frame a volunteer can see (1 clear, 0 hidden; see
        :func:`stracker.consensus.inputs.frame_visibility`), rows in the order of ``enc.building_ids``. Skipping a
        frame counts as a missed image in proportion to its share (a hidden frame cannot be missed); a compare
        answer is read with the chance that both its frames can be (otherwise it is a coin flip); answers about
        hidden frames (a mark on one, a compare question about one, "no destruction" where no frame was
        visible) carry no information and are left out. Default: every frame fully visible.
    gold : GoldStates, optional
        Buildings whose state an expert established.

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
    >>> hidden = AnswerModel(enc, visibility=np.array([[0.0], [1.0]]))  # building 1's frame is hidden
    >>> hidden.e_step(state).posterior.round(3).tolist()
    [[0.5, 0.5], [0.2, 0.8]]
    """

    def __init__(
        self, enc: EncodedLabels, *, visibility: np.ndarray | None = None, gold: GoldStates | None = None
    ) -> None:
        self.n_buildings, self.n_images, self.n_states = enc.n_buildings, enc.n_images, enc.n_states
        self.n_volunteers = enc.n_volunteers
        B, D, S, V = self.n_buildings, self.n_images, self.n_states, self.n_volunteers
        self.width = W = S + 1  # width of the difference arrays and of the cumulative posterior
        self.gold = gold
        self.visibility = vis = None if visibility is None else np.asarray(visibility, dtype=float)
        is_compare = enc.task == COMPARE
        mark: np.ndarray
        nodest: np.ndarray
        if vis is None and is_compare.all():
            # compare answers alone (an export of one task): the timeline rows are none, picked by an empty index
            # instead of masks, each a pass over every answer that would find none
            mark = nodest = _NO_ROWS
            compare = enc.answer != CANT_TELL
        else:
            timeline = enc.task == TIMELINE
            mark = timeline & (enc.answer == YES)
            nodest = timeline & (enc.answer == NO)
            compare = is_compare & (enc.answer != CANT_TELL)
        compare_vis = None
        if vis is not None:
            if vis.shape != (B, D):
                raise LabelsError(
                    f"visibility has shape {vis.shape}; it needs one row per building and one column "
                    f"per image, {(B, D)}."
                )
            # the visible shares with a column of zeros after the last image: one compiled running sum of it gives
            # every building's cumulative weights, the total repeated at the end (cumulative_weights)
            self.visible_padded = np.concatenate([vis, np.zeros((B, 1))], axis=1)
            seen = vis > 0
            # visible frames before each state boundary, per building: seen_before[b, k] counts frames 0..k-1
            self.seen_before = np.zeros((B, D + 1), dtype=np.int64)
            np.cumsum(seen, axis=1, out=self.seen_before[:, 1:])
            # what clouds hid carries no information: marks on hidden frames, "no destruction" where no frame
            # was visible, compare questions about a hidden frame
            mark &= seen[enc.building, enc.hi]
            sb = self.seen_before.ravel()
            lo1, hi1 = enc.lo.astype(np.int64) + 1, enc.hi.astype(np.int64) + 1
            nodest &= sb[_flat(enc.building, hi1, D + 1)] > sb[_flat(enc.building, np.minimum(lo1, hi1), D + 1)]
            compare_vis = vis[enc.building, enc.hi] * np.where(
                enc.lo >= 0, vis[enc.building, np.maximum(enc.lo, 0)], 1.0
            )
            compare_level = np.rint(compare_vis * _MIXING_LEVELS).astype(np.int64)
            compare &= compare_level > 0

        # timeline marks: four breakpoints (0, lo+1, hi+1, D) of a piecewise-linear log-likelihood
        self.mark_building, self.mark_volunteer = enc.building[mark], enc.volunteer[mark]
        self.mark_lo1, self.mark_hi1 = enc.lo[mark].astype(np.int64) + 1, enc.hi[mark].astype(np.int64) + 1
        self.mark_hi = self.mark_hi1 - 1
        self.mark_base = self.mark_building.astype(np.int64) * W
        self.n_marks = int(self.mark_building.size)

        # "no destruction" answers: a range (lo, hi] plus exact terms for the last few states before hi
        self.nodest_building, self.nodest_volunteer = enc.building[nodest], enc.volunteer[nodest]
        self.nodest_lo1, self.nodest_hi1 = enc.lo[nodest].astype(np.int64) + 1, enc.hi[nodest].astype(np.int64) + 1
        nb = self.nodest_building
        if vis is None:
            tail_answer, tail_k = [], []
            for delta in range(1, _N_LATE_TAIL + 1):  # a fixed handful of offsets, not a loop over answers
                k = self.nodest_hi1 - delta
                rows = np.flatnonzero(k >= self.nodest_lo1)
                tail_answer.append(rows)
                tail_k.append(k[rows])
            self.tail_answer = np.concatenate(tail_answer)
            self.tail_k = np.concatenate(tail_k)
        else:
            self.tail_answer, self.tail_k = self._visible_tail()
        tb = nb[self.tail_answer]
        self.nodest_idx = np.concatenate(
            [
                _flat(nb, self.nodest_lo1, W),
                _flat(nb, self.nodest_hi1, W),
                _flat(tb, self.tail_k, W),
                _flat(tb, self.tail_k + 1, W),
            ]
        )

        # compare answers: one range (lo, hi] with yes/no. Their log-likelihood depends on the answer only
        # through its column (volunteer, yes/no), so the difference array adds a column's value at the building's
        # lo+1 and subtracts it at its hi+1, and the M-step's expected counts read the cumulative posterior there:
        # one compiled pass over four small integer arrays each (stracker.consensus.kernels), in answer order
        self.n_compare_columns = 2 * V
        # as small as the values allow: the passes are bound by the bytes they read (6 an answer, not 12)
        plain_columns = vis is None and 2 * V <= 2**16
        c_b, c_lo1, c_hi1, columns, column_answers = compare_rows(
            compare,
            enc.building,
            enc.volunteer,
            enc.answer,
            enc.lo,
            enc.hi,
            V,
            building_dtype=np.uint16 if B <= 2**16 else np.int32,
            boundary_dtype=np.uint8 if W <= 2**8 else np.int32,
            column_dtype=np.uint16 if plain_columns else np.int64,
        )
        self.compare_counts = column_answers.reshape(V, 2)
        self.has_compare = bool(c_b.size)
        self.compare_columns: CompareColumns | None = None
        if self.has_compare:
            if vis is not None:
                # under visibility an answer's column is (volunteer, answer, chance it was read, to 1/128): the
                # passes stay one each, over the columns present
                columns, present = pd.factorize(columns * (_MIXING_LEVELS + 1) + compare_level[compare], sort=True)
                vy, level = np.divmod(present, _MIXING_LEVELS + 1)
                self.compare_columns = CompareColumns(
                    volunteer=vy // 2,
                    yes=vy % 2 == YES,
                    mixing=level / _MIXING_LEVELS,
                    n_answers=np.bincount(columns, minlength=present.size).astype(float),
                )
                self.n_compare_columns = present.size
            self.compare_building, self.compare_lo1, self.compare_hi1 = c_b, c_lo1, c_hi1
            self.compare_column = columns.astype(np.uint16 if self.n_compare_columns <= 2**16 else np.int32, copy=False)
        self.enc, self._compare = enc, compare  # the table, and for the per-answer arrays made when first needed
        self.compare_visible = None if compare_vis is None else compare_vis[compare]

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
        # compare answers alone, every frame seen and no state known: an E-step is two compiled passes and numpy's
        # exponential (_compare_e_step), which hand the GIL over three times rather than some thirty
        self.compare_only = (
            self.has_compare and not self.has_timeline and vis is None and (gold is None or not gold.rows.size)
        )
        self.compare_chunks: AnswerChunks | None = None
        if self.compare_only and B * W > COMPARE_CHUNK_CELLS:
            # the answers grouped by chunks of buildings, each chunk's in table order: every building's row adds
            # its answers in the same order as before (the same log-likelihood, bit for bit)
            *grouped, self.compare_chunks = group_by_chunk(
                self.compare_building,
                self.compare_lo1,
                self.compare_hi1,
                self.compare_column,
                max(COMPARE_CHUNK_CELLS // W, 1),
                B,
            )
            self.compare_building, self.compare_lo1, self.compare_hi1, self.compare_column = grouped

    def _visible_tail(self) -> tuple[np.ndarray, np.ndarray]:
        """The states of each "no destruction" answer whose miss term is kept exact, under visibility: those
        from which at most ``_N_LATE_TAIL`` visible frames lead to ``hi`` (the last three states when every frame
        is visible; more behind hidden ones). Returns (answer, state) pairs, a ragged expansion."""
        nb, lo1, hi1 = self.nodest_building, self.nodest_lo1, self.nodest_hi1
        seen_hi = self.seen_before[nb, hi1]
        first = np.maximum(row_search(self.seen_before.astype(float), nb, seen_hi - _N_LATE_TAIL), lo1)
        first = np.minimum(first, hi1)
        counts = hi1 - first
        answer = np.repeat(np.arange(nb.size), counts)
        step = np.arange(answer.size) - np.repeat(np.cumsum(counts) - counts, counts)
        return answer, hi1[answer] - 1 - step

    @functools.cached_property
    def compare_answers(self) -> CompareAnswers:
        """The compare answers one by one, for E-steps where they differ in how well their frames can be read
        (visibility, per-image reliability); made on first use, as the passes over columns need none of it."""
        enc, compare, W, D = self.enc, self._compare, self.width, self.n_images
        b = enc.building[compare]
        lo = enc.lo[compare].astype(np.int64)
        return CompareAnswers(
            at_lo1=_flat(b, lo + 1, W),
            at_hi1=_flat(b, enc.hi[compare].astype(np.int64) + 1, W),
            vy=enc.volunteer[compare].astype(np.int64) * 2 + enc.answer[compare],
            lo=np.where(lo < 0, D, lo),
            hi=enc.hi[compare].astype(np.int64),
        )

    @functools.cached_property
    def compare_asked(self) -> np.ndarray:
        """Compare answers about each image (either of its frames), for the per-image reliability."""
        answers, D = self.compare_answers, self.n_images
        return (np.bincount(answers.hi, minlength=D) + np.bincount(answers.lo, minlength=D + 1)[:D]).astype(float)

    # ----------------------------------------------------------------------------------------- E-step
    def e_step(self, state: ModelState, volunteer_statistics: bool = True) -> EStep:
        """The posterior of every building under ``state``, its log-likelihood and the statistics for the M-step.

        The statistics are computed when first read (:attr:`EStep.statistics`). Without
        ``volunteer_statistics`` (volunteer parameters fixed), they hold only the log-likelihood and the
        posterior sums: the M-step then updates the prior alone.
        """
        if self.compare_only and state.compare_reliability is None and state.building_prior is None:
            return self._compare_e_step(state, volunteer_statistics)
        terms = self.log_likelihood(state.params, state.image_weight, state.compare_reliability, state.logs)
        posterior_sum = None
        if state.building_prior is None:
            posterior, log_evidence, posterior_sum = posterior_evidence_and_sums(terms.by_state, state.log_prior)
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
            terms.compare,
            prior_statistics=prior_statistics,
            posterior_sum=posterior_sum,
        )
        # the step holds its terms as long as it lives, as the loop holds the step until the next one is made:
        # the E-step's large arrays then keep one lifetime from iteration to iteration, and glibc's allocator
        # reuses their pages instead of returning them to the system and faulting them in again (measured:
        # five times the page faults and 20 % more time per fit on the raqqa campaign when they were freed here)
        return EStep(posterior, log_likelihood, statistics, terms)

    def _compare_e_step(self, state: ModelState, volunteer_statistics: bool) -> EStep:
        """:meth:`e_step` of a table of compare answers alone (:attr:`compare_only`), under a state with neither a
        per-image reliability nor a building prior: the same steps and bits as the general one, in two compiled
        calls (the log-likelihood and its shift; the normalisation) around numpy's exponential."""
        logs = state.logs
        by_state, posterior, shift = interval_log_likelihood(
            self.compare_building,
            self.compare_lo1,
            self.compare_hi1,
            self.compare_column,
            logs.compare_ratio,
            state.log_prior,
            self.n_buildings,
            self.compare_chunks,
        )
        np.exp(posterior, out=posterior)
        norm, posterior_sum = normalize_rows(posterior, sum_columns=True)
        constant = float((self.compare_counts * logs.compare_outside).sum())
        log_likelihood = _log_evidence(norm, shift) + constant
        terms = LogLikelihood(by_state, constant, _NO_BREAKS)
        statistics = functools.partial(
            self.statistics,
            posterior,
            state,
            terms.breaks,
            log_likelihood,
            volunteer_statistics,
            posterior_sum=posterior_sum,
        )
        return EStep(posterior, log_likelihood, statistics, terms)

    def cumulative_weights(self, image_weight: np.ndarray) -> np.ndarray:
        """Cumulative image weights at every state boundary: :func:`cumulative_weight` (length D + 2), or under
        visibility one row per building (B x (D + 2)), each image's weight times its visible share there."""
        if self.visibility is None:
            return cumulative_weight(image_weight)
        # numpy's zeros, cumsum(visibility * image_weight, axis=1) and the last column copied, in one pass and the
        # same bits (the total plus 0.0 is the total: every term is at least 0); twice an iteration under clouds,
        # 0.8 ms against numpy's 5 over 11,000 buildings x 50 images
        return cumulative_rows(self.visible_padded, leading_zero=True, times=np.append(image_weight, 0.0))

    def _at(self, cum: np.ndarray, building: np.ndarray, k: np.ndarray) -> np.ndarray:
        """``cum`` (from :meth:`cumulative_weights`) at state boundary ``k`` of each ``building``."""
        if cum.ndim == 1:
            return cum[k]
        return cum.ravel()[_flat(building, k, cum.shape[1])]

    def compare_mixing(self, reliability: np.ndarray) -> np.ndarray:
        """Per compare answer, the chance its frames could be read: the images' reliability (times the
        visibility)."""
        share = self.compare_visible
        answers = self.compare_answers
        padded = np.append(reliability, 1.0)  # lo = D (a single image): no first frame to read
        mixing = padded[answers.lo] * padded[answers.hi]
        return mixing if share is None else mixing * share

    def log_likelihood(
        self,
        params: dict[str, np.ndarray],
        image_weight: np.ndarray,
        compare_reliability: np.ndarray | None = None,
        logs: ParamLogs | None = None,
    ) -> LogLikelihood:
        """Log-likelihood of every building's answers in every state (B x S), the constant part and the breaks.

        ``logs`` are the parameters' logs (:attr:`ModelState.logs`), computed here when not given.
        """
        B, D, S, W = self.n_buildings, self.n_images, self.n_states, self.width
        logs = logs if logs is not None else param_logs(params)
        log, log1m = logs.log, logs.log1m
        cum_weight = self.cumulative_weights(image_weight)
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
            weight_hi = image_weight[self.mark_hi]
            if self.visibility is not None:
                weight_hi = weight_hi * self.visibility[self.mark_building, self.mark_hi]
            noticed = np.log(-np.expm1(-slope_late * weight_hi))
            c_exact = (log1m["p_miss"] + log1m["p_early"])[v] + noticed + follow
            c_exact_mix = np.logaddexp(c_exact, floor)
            slope_early = log["early_decay"][v]
            # late: skipped images k..lo, each counting its weight: c_late + slope_late * cum_weight[k]
            c_late = c_exact - self._at(cum_weight, self.mark_building, lo1) * slope_late
            c_early = (log1m["p_miss"] + log["p_early"] + log1m["early_decay"])[v] + follow - hi1 * slope_early
            c_intact = np.logaddexp(log["p_false"][v] + follow, log_guess) - np.log(D)
            # far from the mark the geometric tails fall below the guess floor: there, the floor holds
            # (a max in place of a sum of the two), so a stray mark costs at most log(g / D)
            if cum_weight.ndim == 1:
                found = np.searchsorted(cum_weight, (floor - c_late) / slope_late, side="left")
            else:
                found = row_search(cum_weight, self.mark_building, (floor - c_late) / slope_late)
            k_late = np.minimum(found, lo1)
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
            tb = self.nodest_building[self.tail_answer]
            # late past every image to the end
            skipped = self._at(cum_weight, tb, hi1) - self._at(cum_weight, tb, self.tail_k)
            tail = np.log(miss + (1 - miss) * (1 - params["p_early"][tv]) * late**skipped) - np.log(miss)
            weights += [inside, -inside, tail, -tail]
        compare = compare_terms = None
        if self.has_compare:
            sens, spec = params["sensitivity"], params["specificity"]
            if compare_reliability is None and self.compare_columns is not None:
                compare, base_compare, compare_terms = self._column_compare(sens, spec)
                base += base_compare
            elif compare_reliability is None:
                base += float((self.compare_counts * logs.compare_outside).sum())
                compare = self._compare_differences(logs.compare_ratio)
            else:
                answers = self.compare_answers
                # P(answer) = 1/2 + mixing (P(answer | the volunteer's model) - 1/2), per (volunteer, answer)
                lean_in = np.stack([0.5 - sens, sens - 0.5], axis=1).ravel()
                lean_out = np.stack([spec - 0.5, 0.5 - spec], axis=1).ravel()
                mixing = self.compare_mixing(compare_reliability)
                p_in = lean_in[answers.vy]
                p_in *= mixing
                p_in += 0.5
                p_out = lean_out[answers.vy]
                p_out *= mixing
                p_out += 0.5
                log_out = np.log(p_out)
                ratio = np.log(p_in)
                ratio -= log_out
                base += float(log_out.sum())
                compare = np.bincount(answers.at_lo1, weights=ratio, minlength=B * W)
                compare -= np.bincount(answers.at_hi1, weights=ratio, minlength=B * W)
                compare_terms = CompareTerms(mixing, p_in, p_out)
        size = B * W
        const: np.ndarray
        if weights:
            idx = self.nodest_idx if mark_idx is None else np.concatenate([mark_idx, self.nodest_idx])
            const = np.bincount(idx, weights=np.concatenate(weights), minlength=size)
            if compare is not None:
                const += compare
        else:
            const = compare if compare is not None else np.zeros(size)
        if slope_idx is None:
            L = cumulative_rows(const.reshape(B, W), S)
        else:  # the running sums plus the slopes' times the cumulative weight (one row, or one per building), k
            slope = np.bincount(slope_idx, weights=slope_w, minlength=2 * size).reshape(2 * B, W)
            L = sloped_rows(const.reshape(B, W), slope, cum_weight, S)
        if self.gold is not None and self.gold.rows.size:
            rows = self.gold.rows
            L[rows] = np.where(self.gold.allowed, L[rows], -np.inf)
        return LogLikelihood(L, base, breaks, compare_terms)

    def _compare_differences(self, value: np.ndarray) -> np.ndarray:
        """The compare answers' difference array (buildings x (states + 1), flat), given a value per column."""
        return interval_differences(
            self.compare_building,
            self.compare_lo1,
            self.compare_hi1,
            self.compare_column,
            value,
            self.n_buildings,
            self.width,
        )

    def _compare_masses(self, C0: np.ndarray) -> np.ndarray:
        """Per column, the expected compare answers whose interval holds the state (``C0``: the cumulative
        posterior, flat)."""
        return interval_masses(
            self.compare_building,
            self.compare_lo1,
            self.compare_hi1,
            self.compare_column,
            C0,
            self.width,
            self.n_compare_columns,
        )

    def _column_compare(self, sens: np.ndarray, spec: np.ndarray) -> tuple[np.ndarray, float, CompareTerms]:
        """The compare answers' difference array under visibility: per column (volunteer, answer, chance of
        being read) its log-likelihood ratio, one pass over the answers; the constant; and the per-column terms."""
        assert self.compare_columns is not None
        v, yes, mixing, n_answers = self.compare_columns
        lean_in = np.where(yes, sens[v] - 0.5, 0.5 - sens[v])
        lean_out = np.where(yes, 0.5 - spec[v], spec[v] - 0.5)
        p_in, p_out = 0.5 + mixing * lean_in, 0.5 + mixing * lean_out
        log_out = np.log(p_out)
        return (
            self._compare_differences(np.log(p_in) - log_out),
            float((n_answers * log_out).sum()),
            CompareTerms(mixing, p_in, p_out),
        )

    # ------------------------------------------------------------------------------ statistics for the M-step
    def statistics(
        self,
        posterior: np.ndarray,
        state: ModelState,
        breaks: MarkBreaks,
        log_likelihood: float,
        volunteer_statistics: bool = True,
        compare_terms: CompareTerms | None = None,
        prior_statistics: Callable[[], np.ndarray] | None = None,
        posterior_sum: np.ndarray | None = None,
    ) -> SufficientStatistics:
        """The sums over this table's buildings that the M-step needs, after an E-step under ``state``.

        ``breaks`` and ``compare_terms`` are the E-step's (:attr:`LogLikelihood.breaks`,
        :attr:`LogLikelihood.compare`; the latter recomputed when not given). Per-volunteer numerators and
        denominators of
        every parameter's estimate, expected skips and notices per image (only with ``volunteer_statistics``),
        expected unread frames per image (under a per-image compare reliability) and the posterior's column
        sums, and, with a building prior, its statistics
        (``prior_statistics()``). With a building prior, ``posterior`` is the one under the campaign prior alone
        (:attr:`PriorStep.independent`). ``posterior_sum`` is its column sums where the E-step made them.
        """
        V, D = self.n_volunteers, self.n_images
        by_name: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        image_skips, image_notices = np.zeros(D), np.zeros(D)
        unread = None
        if volunteer_statistics:
            by_name, images, unread = self._volunteer_statistics(posterior, state, breaks, compare_terms)
            if images is not None:
                image_skips, image_notices = images
        observed = np.array([name in by_name for name in STAT_NAMES])
        num, den = np.empty((int(observed.sum()), V)), np.empty((int(observed.sum()), V))
        for row, name in enumerate(name for name in STAT_NAMES if name in by_name):
            num[row], den[row] = by_name[name]
        return SufficientStatistics(
            log_likelihood=log_likelihood,
            n_buildings=self.n_buildings,
            posterior_sum=column_sums(posterior) if posterior_sum is None else posterior_sum,
            n_marks=self.n_marks,
            num=num,
            den=den,
            observed=observed,
            image_skips=image_skips,
            image_notices=image_notices,
            image_unread=None if unread is None else unread[0],
            image_compare=None if unread is None else unread[1],
            prior_statistics=None if prior_statistics is None else prior_statistics(),
        )

    def _volunteer_statistics(
        self, posterior: np.ndarray, state: ModelState, breaks: MarkBreaks, compare_terms: CompareTerms | None
    ) -> tuple[
        dict[str, tuple[np.ndarray, np.ndarray]],
        tuple[np.ndarray, np.ndarray] | None,
        tuple[np.ndarray, np.ndarray] | None,
    ]:
        """Per parameter, the (numerator, denominator) per volunteer; per image the expected skips and notices
        (None without timeline answers); per image the expected unread frames and compare answers (None unless
        the state has a per-image compare reliability)."""
        V = self.n_volunteers
        params = state.params
        stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        images = unread = None
        plain_compare = self.has_compare and state.compare_reliability is None and self.compare_columns is None
        if plain_compare and not self.has_timeline:  # the cumulative posterior made and read in one call
            inside = posterior_interval_masses(
                posterior,
                self.compare_building,
                self.compare_lo1,
                self.compare_hi1,
                self.compare_column,
                self.n_compare_columns,
                self.compare_chunks,
            )
            return self._compare_statistics(inside), images, unread
        C0 = cumulative_rows(posterior, leading_zero=True).ravel()
        count = np.bincount
        if self.has_timeline:
            C1 = cumulative_rows(posterior, leading_zero=True, times=self.states).ravel()
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
            cum_weight = self.cumulative_weights(state.image_weight)
            C2 = cumulative_rows(posterior, leading_zero=True, times=cum_weight).ravel()
            late_weight = self._at(cum_weight, self.mark_building, self.mark_lo1)
            late_delta = late_weight * p_late - (C2[self.mark_at_lo1] - C2[at_late])
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
            mixed = state.compare_reliability is not None or self.compare_columns is not None
            if compare_terms is None and mixed:
                compare_terms = self.log_likelihood(params, state.image_weight, state.compare_reliability).compare
            if compare_terms is None:
                stats.update(self._compare_statistics(self._compare_masses(C0)))
            elif state.compare_reliability is None:
                stats.update(self._column_compare_statistics(C0, compare_terms))
            else:
                compare_stats, unread = self._mixed_compare_statistics(C0, compare_terms, state.compare_reliability)
                stats.update(compare_stats)
        return stats, images, unread

    def _compare_statistics(self, inside: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Sensitivity and specificity statistics from the expected compare answers of each column (volunteer x
        answer) whose interval holds the state."""
        inside = inside.reshape(self.n_volunteers, 2)
        outside = self.compare_counts - inside
        # (two columns added as such: numpy's sum along a short axis costs a loop per volunteer)
        return {
            "sensitivity": (inside[:, 1], inside[:, 0] + inside[:, 1]),
            "specificity": (outside[:, 0], outside[:, 0] + outside[:, 1]),
        }

    def _column_compare_statistics(
        self, C0: np.ndarray, terms: CompareTerms
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Compare statistics under visibility, per column of the compare answers (as
        :meth:`_mixed_compare_statistics` per answer): the expected answers of each column whose range holds the
        state, each counting towards its volunteer by the chance that it followed the volunteer's model."""
        assert self.compare_columns is not None
        v, yes, _, n_answers = self.compare_columns
        mixing, p_in, p_out = terms
        flip = 0.5 * (1.0 - mixing)
        inside = self._compare_masses(C0)
        model_in = inside * (1.0 - flip / p_in)
        model_out = (n_answers - inside) * (1.0 - flip / p_out)
        V = self.n_volunteers
        return {
            "sensitivity": (np.bincount(v, model_in * yes, V), np.bincount(v, model_in, V)),
            "specificity": (np.bincount(v, model_out * ~yes, V), np.bincount(v, model_out, V)),
        }

    def _mixed_compare_statistics(
        self, C0: np.ndarray, terms: CompareTerms, reliability: np.ndarray | None
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray] | None]:
        """Compare statistics when answers may be coin flips (frames that could not be read): each answer counts
        towards its volunteer's sensitivity or specificity by the chance that it followed the volunteer's model,
        and, under a per-image reliability, towards each of its images' unread frames by the chance that image
        could not be read (given that the answer was a coin flip, in proportion to the image's own chance)."""
        V, D = self.n_volunteers, self.n_images
        answers = self.compare_answers
        mixing, p_in, p_out = terms
        flip = 0.5 * (1.0 - mixing)
        inside = C0[answers.at_hi1] - C0[answers.at_lo1]  # posterior mass of the answer's range
        # the chance that the answer came from the volunteer's model, inside the range and outside it
        model_in = inside * (1.0 - flip / p_in)
        model_out = (1.0 - inside) * (1.0 - flip / p_out)
        by_in = np.bincount(answers.vy, weights=model_in, minlength=2 * V).reshape(V, 2)
        by_out = np.bincount(answers.vy, weights=model_out, minlength=2 * V).reshape(V, 2)
        stats = {
            "sensitivity": (by_in[:, 1], by_in.sum(axis=1)),
            "specificity": (by_out[:, 0], by_out.sum(axis=1)),
        }
        if reliability is None:
            return stats, None
        guessed = 1.0 - model_in - model_out
        np.clip(guessed, 0.0, 1.0, out=guessed)
        guessed /= np.maximum(1.0 - mixing, 1e-12)  # given a coin flip, each image failed in proportion to 1 - rho
        failing = np.append(1.0 - reliability, 0.0)
        unread = np.bincount(answers.hi, weights=guessed * failing[answers.hi], minlength=D)
        unread += np.bincount(answers.lo, weights=guessed * failing[answers.lo], minlength=D + 1)[:D]
        return stats, (unread, self.compare_asked)

    def _image_statistics(
        self, C0: np.ndarray, k_late: np.ndarray, at_late: np.ndarray, noticed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expected skips and notices of every image, from which the M-step learns the image weights.

        A late mark (state k <= lo) skipped images k..lo; the expected skips of image j sum, over marks whose
        late range [k_late, lo] holds j, the posterior mass of states k_late..j. Both parts are difference
        arrays: one over buildings x images (how many late ranges cover j) and one over images. Under
        visibility each skip and notice counts the frame's visible share at that building (a hidden frame is no
        chance to notice).
        """
        B, W, D = self.n_buildings, self.width, self.n_images
        cover = np.bincount(
            np.concatenate([self.mark_base + k_late, self.mark_base + self.mark_lo1]),
            weights=np.repeat([1.0, -1.0], k_late.size),
            minlength=B * W,
        )
        cover = cumulative_rows(cover.reshape(B, W), D)
        start_mass = C0[at_late]
        C0 = C0.reshape(B, W)
        if self.visibility is not None:
            offset_b = np.bincount(
                np.concatenate([self.mark_base + k_late, self.mark_base + self.mark_lo1]),
                weights=np.concatenate([start_mass, -start_mass]),
                minlength=B * W,
            )
            offset_b = cumulative_rows(offset_b.reshape(B, W), D)
            skips = skip_sums(cover, C0, offset_b, self.visibility)
            shown = self.visibility[self.mark_building, self.mark_hi]
            return skips, np.bincount(self.mark_hi, weights=noticed * shown, minlength=D)
        offset = np.bincount(
            np.concatenate([k_late, self.mark_lo1]), weights=np.concatenate([start_mass, -start_mass]), minlength=W
        )
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
