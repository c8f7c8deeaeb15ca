"""The consensus model: a posterior over each building's destruction state, fit by EM.

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
loop over answers or buildings. The M-step reads range masses of the posterior from its cumulative sums.

Volunteer parameters are MAP estimates under Beta priors centred on the crowd's pooled estimate with
``shrinkage`` pseudo-answers, so a volunteer with few answers borrows strength from the crowd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stracker.consensus.sparse import incidence_matrix
from stracker.errors import LabelsError
from stracker.labels import COMPARE, NO, TIMELINE, YES, EncodedLabels

__all__ = [
    "DEFAULT_PARAMS",
    "PARAM_NAMES",
    "FitResult",
    "duration_prior",
    "fit_em",
    "resolve_params",
    "smooth_rate",
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

_CLIP = 1e-4
_CROWD_PSEUDO = 10.0  # pseudo-answers holding the crowd-level estimates near their defaults
_N_LATE_TAIL = 3  # images before the end of a scan where late-to-the-end is modelled exactly


@dataclass
class FitResult:
    """What :func:`fit_em` returns: the posterior and everything learned on the way."""

    posterior: np.ndarray
    params: dict[str, np.ndarray]
    prior: np.ndarray
    image_weight: np.ndarray
    log_likelihood: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def _flat(b: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    return b.astype(np.int64) * width + pos


class _Problem:
    """Index arrays of one encoded table, computed once and reused by every EM iteration."""

    def __init__(self, enc: EncodedLabels) -> None:
        self.B, self.D, self.S, self.V = enc.n_buildings, enc.n_images, enc.n_states, enc.n_volunteers
        self.W = self.S + 1  # width of the difference arrays and of the cumulative posterior
        W, D = self.W, self.D
        lo1 = enc.lo.astype(np.int64) + 1
        hi1 = enc.hi.astype(np.int64) + 1
        timeline = enc.task == TIMELINE
        mark = timeline & (enc.answer == YES)
        nodest = timeline & (enc.answer == NO)
        compare = (enc.task == COMPARE) & (enc.answer != -1)

        # timeline marks: four breakpoints (0, lo+1, hi+1, D) of a piecewise-linear log-likelihood
        self.m_b, self.m_v = enc.building[mark], enc.volunteer[mark]
        self.m_lo1, self.m_hi1 = lo1[mark], hi1[mark]
        self.m_base = self.m_b.astype(np.int64) * W
        n_mark = self.m_b.size
        # late and early floor breakpoints, set by each E-step for the M-step that follows
        self.breaks: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        # how many "missed images" skipping each image counts as: learned, 1 for a clear image, less for an image
        # that clouds made easy to scroll past; cum_weight[k] = sum of the weights of images before k
        self.image_weight = np.ones(D)
        self.m_hi = self.m_hi1 - 1

        # "no destruction" answers: a range (lo, hi] plus exact terms for the last few states before hi
        self.n_b, self.n_v = enc.building[nodest], enc.volunteer[nodest]
        self.n_lo1, self.n_hi1 = lo1[nodest], hi1[nodest]
        tail_idx, tail_delta, tail_answer = [], [], []
        for delta in range(1, _N_LATE_TAIL + 1):  # a fixed handful of offsets, not a loop over answers
            k = self.n_hi1 - delta
            ok = k >= self.n_lo1
            rows = np.flatnonzero(ok)
            tail_answer.append(rows)
            tail_delta.append(np.full(rows.size, delta, np.int64))
            tail_idx.append((_flat(self.n_b[rows], k[rows], W), _flat(self.n_b[rows], k[rows] + 1, W)))
        self.tail_answer = np.concatenate(tail_answer)
        self.tail_delta = np.concatenate(tail_delta)
        self.nodest_idx = np.concatenate([
            _flat(self.n_b, self.n_lo1, W),
            _flat(self.n_b, self.n_hi1, W),
            np.concatenate([t[0] for t in tail_idx]),
            np.concatenate([t[1] for t in tail_idx]),
        ])

        # compare answers: one range (lo, hi] with yes/no. Their log-likelihood depends on the answer only
        # through (volunteer, yes/no), so the difference array is a sparse incidence matrix (+1 at the
        # building's lo+1, -1 at its hi+1, in the column of the answer's (volunteer, yes/no)) times a vector
        # of 2V values; the M-step's expected counts are its transpose times the cumulative posterior. Built
        # once (linear time, duplicates kept), each is one pass over the answers.
        c_b = enc.building[compare]
        c_vy = enc.volunteer[compare].astype(np.int64) * 2 + enc.answer[compare]
        n_compare = c_b.size
        self.c_vy_count = np.bincount(c_vy, minlength=2 * self.V).reshape(self.V, 2).astype(float)
        self.has_compare = bool(n_compare)
        if self.has_compare:
            rows = np.concatenate([_flat(c_b, lo1[compare], W), _flat(c_b, hi1[compare], W)])
            sign = np.concatenate([np.ones(n_compare), -np.ones(n_compare)])
            self.incidence = incidence_matrix(rows, np.concatenate([c_vy, c_vy]), sign, self.B * W, 2 * self.V)
            del rows, sign

        self.fixed_idx = self.nodest_idx
        # gather positions into the cumulative posterior (B x W, flattened) for the M-step
        self.m_at_lo1 = self.m_base + self.m_lo1
        self.m_at_hi1 = self.m_base + self.m_hi1
        self.m_at_D = self.m_base + D
        self.n_timeline = np.bincount(np.concatenate([self.m_v, self.n_v]), minlength=self.V).astype(float)
        self.n_at_lo1 = _flat(self.n_b, self.n_lo1, W)
        self.n_at_hi1 = _flat(self.n_b, self.n_hi1, W)
        self.n_at_D = _flat(self.n_b, np.full(self.n_b.size, D, np.int64), W)
        self.states = np.arange(self.S, dtype=float)
        self.n_mark_by_image = np.bincount(self.m_hi, minlength=D).astype(float)
        self.has_timeline = bool(n_mark + self.n_b.size)

    # ----------------------------------------------------------------------------------------- E-step
    def log_likelihood(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """Log-likelihood of every building's answers in every state (B x S), and the constant part."""
        log = {name: np.log(value) for name, value in params.items()}
        log1m = {name: np.log1p(-value) for name, value in params.items()}
        weights, base = [], 0.0
        mark_idx = slope_idx = slope_w = None
        if self.m_b.size:
            v = self.m_v
            lo1, hi1 = self.m_lo1, self.m_hi1
            log_guess = log["p_guess"][v]
            follow = log1m["p_guess"][v]  # the volunteer follows the mark model rather than guessing
            floor = log_guess - np.log(self.D)  # a guess: any image, uniformly
            cum_weight = self.cum_weight()
            slope_late = -log["p_late"][v]
            # noticing the destruction in image hi: 1 - p_late ** weight(hi)
            noticed = np.log(-np.expm1(-slope_late * self.image_weight[self.m_hi]))
            c_exact = (log1m["p_miss"] + log1m["p_early"])[v] + noticed + follow
            c_exact_mix = np.logaddexp(c_exact, floor)
            slope_early = log["early_decay"][v]
            # late: skipped images k..lo, each counting its weight: c_late + slope_late * cum_weight[k]
            c_late = c_exact - cum_weight[lo1] * slope_late
            c_early = (log1m["p_miss"] + log["p_early"] + log1m["early_decay"])[v] + follow - hi1 * slope_early
            c_intact = np.logaddexp(log["p_false"][v] + follow, log_guess) - np.log(self.D)
            # far from the mark the geometric tails fall below the guess floor: there, the floor holds
            # (a max in place of a sum of the two, within log 2), so a stray mark costs at most log(g / D)
            k_late = np.minimum(np.searchsorted(cum_weight, (floor - c_late) / slope_late, side="left"), lo1)
            k_early = np.clip(np.floor((floor - c_early) / slope_early) + 1, hi1, self.D).astype(np.int64)
            self.breaks = (k_late, k_early)
            base_b = self.m_base
            mark_idx = np.concatenate([base_b, base_b + k_late, base_b + lo1, base_b + hi1, base_b + k_early,
                                       base_b + self.D])
            weights += [floor, c_late - floor, c_exact_mix - c_late, c_early - c_exact_mix, floor - c_early,
                        c_intact - floor]
            # late slopes multiply cum_weight[k], early slopes k: one bincount, two stacked difference arrays
            early_b = base_b + self.B * self.W
            slope_idx = np.concatenate([base_b + k_late, base_b + lo1, early_b + hi1, early_b + k_early])
            slope_w = np.concatenate([slope_late, -slope_late, slope_early, -slope_early])
        if self.n_b.size:
            v = self.n_v
            inside = (log["p_miss"] - log1m["p_false"])[v]
            base += float((log1m["p_false"] + log1m["p_guess"])[v].sum())
            tv = v[self.tail_answer]
            miss, late = params["p_miss"][tv], params["p_late"][tv]
            hi1 = self.n_hi1[self.tail_answer]
            cum_weight = self.cum_weight()
            skipped = cum_weight[hi1] - cum_weight[hi1 - self.tail_delta]  # late past every image to the end
            tail = np.log(miss + (1 - miss) * (1 - params["p_early"][tv]) * late**skipped) - np.log(miss)
            weights += [inside, -inside, tail, -tail]
        compare = None
        if self.has_compare:
            sens, spec = params["sensitivity"], params["specificity"]
            # [volunteer, answer] -> log P(answer | inside), log P(answer | outside)
            inside = np.stack([np.log1p(-sens), np.log(sens)], axis=1)
            outside = np.stack([np.log(spec), np.log1p(-spec)], axis=1)
            base += float((self.c_vy_count * outside).sum())
            compare = self.incidence @ (inside - outside).ravel()
        size = self.B * self.W
        if weights:
            idx = self.fixed_idx if mark_idx is None else np.concatenate([mark_idx, self.fixed_idx])
            const = np.bincount(idx, weights=np.concatenate(weights), minlength=size)
            if compare is not None:
                const += compare
        else:
            const = compare if compare is not None else np.zeros(size)
        L = np.cumsum(const.reshape(self.B, self.W), axis=1)[:, : self.S]
        if slope_idx is not None:
            slope = np.cumsum(np.bincount(slope_idx, weights=slope_w, minlength=2 * size).reshape(2, self.B, self.W),
                              axis=2)[:, :, : self.S]
            L += slope[0] * self.cum_weight()[: self.S] + slope[1] * self.states
        return L, base

    def cum_weight(self) -> np.ndarray:
        """Cumulative image weights at every state boundary (length S + 1)."""
        return np.concatenate([[0.0], np.cumsum(self.image_weight), [self.image_weight.sum()]])

    # ----------------------------------------------------------------------------------------- M-step
    def sufficient_statistics(
        self, posterior: np.ndarray, params: dict[str, np.ndarray]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-volunteer (numerator, denominator) of every parameter's estimate, after an E-step."""
        B, W, V = self.B, self.W, self.V
        C0 = np.zeros((B, W))
        np.cumsum(posterior, axis=1, out=C0[:, 1:])
        C0 = C0.ravel()
        stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        count = np.bincount
        if self.has_timeline:
            C1 = np.zeros((B, W))
            np.cumsum(posterior * self.states, axis=1, out=C1[:, 1:])
            C1 = C1.ravel()
            v = self.m_v
            k_late, k_early = self.breaks
            at_late, at_early = self.m_base + k_late, self.m_base + k_early
            at_lo1, at_hi1, at_D = C0[self.m_at_lo1], C0[self.m_at_hi1], C0[self.m_at_D]
            p_late = at_lo1 - C0[at_late]
            p_exact = at_hi1 - at_lo1
            p_early = C0[at_early] - at_hi1
            p_floor = C0[at_late] + (at_D - C0[at_early])
            p_intact = 1.0 - at_D
            guess, false = params["p_guess"][v], params["p_false"][v]
            intact_guess = p_intact * guess / (guess + (1 - guess) * false)
            cum_weight = self.cum_weight()
            C2 = np.zeros((B, W))
            np.cumsum(posterior * cum_weight[: self.S], axis=1, out=C2[:, 1:])
            C2 = C2.ravel()
            late_delta = cum_weight[self.m_lo1] * p_late - (C2[self.m_at_lo1] - C2[at_late])
            early_extra = (C1[at_early] - C1[self.m_at_hi1]) - self.m_hi1 * p_early
            on_model = count(v, p_late + p_exact + p_early, V)
            early = count(v, p_early, V)
            not_early = count(v, p_late + p_exact, V)
            false_alarms = count(v, p_intact - intact_guess, V)
            guesses = count(v, p_floor + intact_guess, V)
            late = count(v, late_delta, V)
            extra = count(v, early_extra, V)
            nv = self.n_v
            miss = count(nv, C0[self.n_at_hi1] - C0[self.n_at_lo1], V)
            nodest_intact = count(nv, 1.0 - C0[self.n_at_D], V)
            stats["p_guess"] = (guesses, self.n_timeline)
            stats["p_false"] = (false_alarms, false_alarms + nodest_intact)
            stats["p_miss"] = (miss, miss + on_model)
            stats["p_early"] = (early, on_model)
            stats["p_late"] = (late, late + not_early)
            stats["early_decay"] = (extra, extra + early)
            self._image_statistics(posterior, C0, at_late, p_late + p_exact)
        if self.has_compare:
            # the transpose's product reads C0 in order and scatters into 2V sums: no transposed copy needed
            inside = -(self.incidence.T @ C0).reshape(V, 2)  # expected answers whose interval holds the state
            outside = self.c_vy_count - inside
            stats["sensitivity"] = (inside[:, 1], inside.sum(axis=1))
            stats["specificity"] = (outside[:, 0], outside.sum(axis=1))
        return stats


    def _image_statistics(self, posterior: np.ndarray, C0: np.ndarray, at_late: np.ndarray,
                          noticed: np.ndarray) -> None:
        """Expected skips and notices of every image, for :meth:`update_image_weights`.

        A late mark (state k <= lo) skipped images k..lo; the expected skips of image j sum, over marks whose
        late range [k_late, lo] holds j, the posterior mass of states k_late..j. Both parts are difference
        arrays: one over buildings x images (how many late ranges cover j) and one over images.
        """
        B, W, D = self.B, self.W, self.D
        k_late = self.breaks[0]
        cover = np.bincount(np.concatenate([self.m_base + k_late, self.m_base + self.m_lo1]),
                            weights=np.repeat([1.0, -1.0], k_late.size), minlength=B * W)
        cover = np.cumsum(cover.reshape(B, W), axis=1)[:, :D]
        start_mass = C0[at_late]
        offset = np.bincount(np.concatenate([k_late, self.m_lo1]), weights=np.concatenate([start_mass, -start_mass]),
                             minlength=W)
        C0 = C0.reshape(B, W)
        self.image_skips = (cover * C0[:, 1 : D + 1]).sum(axis=0) - np.cumsum(offset)[:D]
        self.image_notices = np.bincount(self.m_hi, weights=noticed, minlength=D)

    def update_image_weights(self, crowd_late: float, pseudo: float = 5.0) -> None:
        """Re-estimate image weights from skips and notices: skip share s_j = crowd_late ** weight_j."""
        self.image_weight = image_weights(self.image_skips, self.image_notices, crowd_late, pseudo)


def image_weights(skips: np.ndarray, notices: np.ndarray, crowd_late: float, pseudo: float = 5.0) -> np.ndarray:
    """Image weights from expected skips and notices of every image (see :meth:`_Problem.update_image_weights`)."""
    share = (skips + pseudo * crowd_late) / (skips + notices + pseudo)
    weight = np.clip(np.log(share) / np.log(crowd_late), 0.05, 5.0)
    # pin the scale (p_late and the weights trade off): weighted mean weight 1
    volume = skips + notices + pseudo
    return weight / np.average(weight, weights=volume)


def _shrink(num: np.ndarray, den: np.ndarray, strength: float, default: float) -> np.ndarray:
    """MAP estimate under a Beta prior centred on the crowd's estimate.

    The crowd's estimate is itself pulled towards ``default`` by ``_CROWD_PSEUDO`` pseudo-answers, so a
    parameter the table barely informs (say the miss rate in a table without marks) stays at its default.
    """
    crowd = float(np.clip((num.sum() + _CROWD_PSEUDO * default) / (den.sum() + _CROWD_PSEUDO), _CLIP, 1 - _CLIP))
    return np.clip((num + strength * crowd) / (den + strength), _CLIP, 1 - _CLIP)


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

    def _initial_centres(self, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        """Types from quantile groups of a crude per-volunteer error score (weighted by answers)."""
        raw = (num + _CROWD_PSEUDO * self.defaults / 10) / (den + _CROWD_PSEUDO / 10)
        score = np.abs(raw - self.defaults).sum(axis=1)
        order = np.argsort(score, kind="stable")
        volume = den.sum(axis=1)[order]
        group = np.minimum((np.cumsum(volume) / max(volume.sum(), 1e-12) * self.n_types).astype(int),
                           self.n_types - 1)
        members = np.zeros((self.n_types, len(order)))
        members[group, order] = 1.0
        return (members @ num + _CROWD_PSEUDO * self.defaults) / (members @ den + _CROWD_PSEUDO)

    def fit(self, num: np.ndarray, den: np.ndarray, n_iter: int = 10) -> np.ndarray:
        """Update the types and return each volunteer's prior centre (volunteers x parameters).

        Volunteers without informative answers take no part (so adding them changes nothing) and get the
        type-weighted mean as their centre.
        """
        active = den.sum(axis=1) > 0
        centre = np.empty_like(num)
        if active.any():
            centre[active] = self._fit_active(num[active], den[active], n_iter)
        centre[~active] = self.weights @ np.clip(self.centres, _CLIP, 1 - _CLIP) if self.centres is not None \
            else self.defaults
        return centre

    def _fit_active(self, num: np.ndarray, den: np.ndarray, n_iter: int) -> np.ndarray:
        if self.centres is None:
            self.centres = self._initial_centres(num, den)
        for _ in range(n_iter):
            centres = np.clip(self.centres, _CLIP, 1 - _CLIP)
            loglik = num @ np.log(centres).T + (den - num) @ np.log1p(-centres).T + np.log(self.weights)
            loglik -= loglik.max(axis=1, keepdims=True)
            resp = np.exp(loglik)
            resp /= resp.sum(axis=1, keepdims=True)
            self.centres = (resp.T @ num + _CROWD_PSEUDO * self.defaults) / (resp.T @ den + _CROWD_PSEUDO)
            self.weights = (resp.sum(axis=0) + 1.0) / (len(num) + self.n_types)
        self.responsibilities = resp
        return resp @ np.clip(self.centres, _CLIP, 1 - _CLIP)


def _posterior(L: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, float]:
    z = L + log_prior
    shift = z.max(axis=1, keepdims=True)
    np.subtract(z, shift, out=z)
    np.exp(z, out=z)
    norm = z.sum(axis=1, keepdims=True)
    z /= norm
    return z, float(np.log(norm).sum() + shift.sum())


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
            params[name][known] = np.clip(values[known], _CLIP, 1 - _CLIP)
    return params


STAT_NAMES = ("p_guess", "p_false", "p_miss", "p_early", "p_late", "early_decay", "sensitivity", "specificity")
"""Order of the sufficient statistics, as :meth:`_Problem.sufficient_statistics` fills them."""


def smooth_rate(prior: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Smooth the destruction rate per day behind a prior over states.

    Destruction goes on at a rate that changes from day to day, not from image to image: an interior state's
    mass is its duration times the rate over it and its two neighbours (their mass over their duration). Where
    answers cannot split two neighbouring states (an image hidden by clouds for most of a district), this shares
    their mass out by the rate around them instead of leaving it where the EM started. ``shape`` is
    :func:`duration_prior` (interior states: in proportion to duration); the open-ended first and last states
    are kept as they are.

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
        padded = np.pad(x, 1)
        return padded[:-2] + padded[1:-1] + padded[2:]

    smoothed = days * with_neighbours(inner) / with_neighbours(days)
    out = prior.copy()
    out[1 : S - 1] = smoothed * inner.sum() / smoothed.sum()
    return out / out.sum()


class _Updater:
    """The M-step on summed statistics: everything :func:`fit_em` learns beyond the per-building posterior.

    The statistics are sums over buildings (per-volunteer numerators and denominators, per-image skips and
    notices, the posterior's column sums), so one table in memory and a table split into shards by building
    give the same updates: :func:`fit_em` and :mod:`stracker.consensus.distributed` both call :meth:`update`.
    """

    def __init__(self, params: dict[str, np.ndarray], image_dates: pd.DatetimeIndex, *, fit_volunteers: bool,
                 prior: np.ndarray | None, shrinkage: float, prior_pseudocount: float, image_difficulty: bool,
                 volunteer_types: int, smooth_prior: bool = True) -> None:
        self.params = {k: v.copy() for k, v in params.items()}
        self.fit_volunteers = fit_volunteers
        self.learn_prior = prior is None
        self.shape = duration_prior(image_dates)
        self.S = len(image_dates) + 1
        self.pi = self.shape if self.learn_prior else np.asarray(prior, dtype=float)
        if self.pi.shape != (self.S,) or (self.pi < 0).any() or not np.isclose(self.pi.sum(), 1.0):
            raise LabelsError(f"prior must be {self.S} probabilities (one per state) summing to 1.")
        self.image_weight = np.ones(len(image_dates))
        self.shrinkage = shrinkage
        self.prior_pseudocount = prior_pseudocount
        self.image_difficulty = image_difficulty
        self.volunteer_types = volunteer_types
        self.smooth_prior = smooth_prior
        self.types: CrowdTypes | None = None

    @property
    def learns(self) -> bool:
        """Whether the M-step changes anything (otherwise one E-step is the fit)."""
        return self.fit_volunteers or self.learn_prior

    def log_prior(self) -> np.ndarray:
        return np.log(np.maximum(self.pi, 1e-300))

    def update(self, stats: dict[str, tuple[np.ndarray, np.ndarray]] | None, image_skips: np.ndarray | None,
               image_notices: np.ndarray | None, has_marks: bool, posterior_sum: np.ndarray,
               n_buildings: int) -> None:
        """One M-step from statistics summed over all buildings (``stats`` None when volunteers are fixed)."""
        params = self.params
        if self.fit_volunteers and stats:
            names = list(stats)
            num = np.stack([stats[n][0] for n in names], axis=1)
            den = np.stack([stats[n][1] for n in names], axis=1)
            if self.volunteer_types > 1:
                if self.types is None:
                    self.types = CrowdTypes(self.volunteer_types, np.array([DEFAULT_PARAMS[n] for n in names]))
                centre = self.types.fit(num, den)
                estimate = np.clip((num + self.shrinkage * centre) / (den + self.shrinkage), _CLIP, 1 - _CLIP)
                for j, name in enumerate(names):
                    params[name] = estimate[:, j]
            else:
                for j, name in enumerate(names):
                    params[name] = _shrink(num[:, j], den[:, j], self.shrinkage, DEFAULT_PARAMS[name])
            if self.image_difficulty and has_marks:
                num, den = stats["p_late"]
                crowd_late = float(np.clip(num.sum() / max(den.sum(), 1e-12), _CLIP, 1 - _CLIP))
                self.image_weight = image_weights(image_skips, image_notices, crowd_late)
        if self.learn_prior:
            # Dirichlet pseudo-counts shaped like the duration prior, prior_pseudocount per state on average
            pseudo = self.prior_pseudocount * self.S * self.shape
            pi = (posterior_sum + pseudo) / (n_buildings + pseudo.sum())
            self.pi = smooth_rate(pi, self.shape) if self.smooth_prior else pi


def converged_at(history: list[float], tol: float) -> bool:
    """Whether the relative change of the last log-likelihood is below ``tol``."""
    return len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1])


def fit_em(
    enc: EncodedLabels,
    *,
    params: dict[str, np.ndarray],
    fit_volunteers: bool = True,
    prior: np.ndarray | None = None,
    shrinkage: float = 2.0,
    prior_pseudocount: float = 0.5,
    max_iter: int = 200,
    tol: float = 1e-7,
    image_difficulty: bool = True,
    volunteer_types: int = 4,
    callback: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit the consensus model by EM (see the module docstring); ``params`` are the starting values.

    The loop: E-step (posterior and log-likelihood under the current parameters), stop if the relative change
    of the log-likelihood is below ``tol``, else M-step (volunteer parameters unless fixed, then the prior).
    ``callback(n_iter, log_likelihood)`` is called after every E-step.
    """
    problem = _Problem(enc)
    updater = _Updater(params, enc.image_dates, fit_volunteers=fit_volunteers, prior=prior, shrinkage=shrinkage,
                       prior_pseudocount=prior_pseudocount, image_difficulty=image_difficulty,
                       volunteer_types=volunteer_types)
    history: list[float] = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        problem.image_weight = updater.image_weight
        L, base = problem.log_likelihood(updater.params)
        posterior, ll = _posterior(L, updater.log_prior())
        history.append(ll + base)
        if callback is not None:
            callback(n_iter, history[-1])
        if converged_at(history, tol) or not updater.learns:
            converged = True
            break
        stats = problem.sufficient_statistics(posterior, updater.params) if fit_volunteers else None
        skips, notices = getattr(problem, "image_skips", None), getattr(problem, "image_notices", None)
        updater.update(stats, skips, notices, bool(problem.m_b.size), posterior.sum(axis=0), problem.B)
    return FitResult(posterior, updater.params, updater.pi, updater.image_weight, history, n_iter, converged)
