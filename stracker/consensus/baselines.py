"""Baseline aggregators in the same API: a majority vote and a frame-level Dawid-Skene.

* ``majority``: every answer votes for the states it is consistent with (a mark or a "yes" for the states
  inside its interval, a "no" for those outside); the state with the most votes wins. On timeline marks the
  winner lies in the interval marked most often; on yes/no answers it is the plain vote.
* ``dawid_skene``: every distinct (building, before, after) frame is a binary task, aggregated by the classic
  two-class Dawid-Skene EM exactly as crowd-kit's ``DawidSkene`` does it (majority-vote start, the same
  M-step clipping, the same stopping rule on the evidence lower bound), so the frame posteriors agree with
  crowd-kit's to rounding. A building's state posterior is the product of its frames' posteriors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from stracker.consensus.sparse import incidence_matrix
from stracker.labels import EncodedLabels

__all__ = [
    "DAWID_SKENE_MAX_ITER",
    "DAWID_SKENE_TOL",
    "dawid_skene_frames",
    "majority_posterior",
    "majority_votes",
    "range_scores",
]

DAWID_SKENE_MAX_ITER = 100
"""Iterations of ``dawid_skene`` unless told otherwise: crowd-kit's ``DawidSkene`` default ``n_iter``."""

DAWID_SKENE_TOL = 1e-5
"""Stopping tolerance of ``dawid_skene`` (on the change of the lower bound): crowd-kit's default ``tol``."""

_EPS = 1e-10  # crowd-kit's clipping constant


def range_scores(
    enc: EncodedLabels,
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    inside: np.ndarray,
    outside: np.ndarray,
) -> np.ndarray:
    """Sum, for every building and state, ``inside`` over answers whose range [lo1, hi1) holds the state
    and ``outside`` over the others (buildings x states), with one difference array."""
    B, S = enc.n_buildings, enc.n_states
    W = S + 1
    b = building.astype(np.int64) * W
    idx = np.concatenate([b, b + lo1, b + hi1])
    weights = np.concatenate([outside, inside - outside, outside - inside])
    diff = np.bincount(idx, weights=weights, minlength=B * W).reshape(B, W)
    return np.cumsum(diff, axis=1)[:, :S]


def majority_votes(enc: EncodedLabels) -> np.ndarray:
    """Consistency votes (buildings x states): how many told answers each state agrees with."""
    told = enc.answer >= 0
    yes = (enc.answer[told] == 1).astype(float)
    return range_scores(
        enc,
        enc.building[told],
        enc.lo[told].astype(np.int64) + 1,
        enc.hi[told].astype(np.int64) + 1,
        inside=yes,
        outside=1.0 - yes,
    )


def majority_posterior(enc: EncodedLabels) -> np.ndarray:
    """All mass on the state with the most votes (buildings x states); a tie goes to the later state.

    A vote gives a winner, not a probability: the posterior is one-hot, so p_destroyed is the vote's verdict.
    Ties go to the later state (no evidence of earlier destruction), as a plain yes/no vote breaks them to no.
    """
    votes = majority_votes(enc)
    winner = votes.shape[1] - 1 - np.argmax(votes[:, ::-1], axis=1)
    posterior = np.zeros_like(votes)
    posterior[np.arange(len(winner)), winner] = 1.0
    return posterior


def dawid_skene_frames(
    enc: EncodedLabels,
    n_iter: int = DAWID_SKENE_MAX_ITER,
    tol: float = DAWID_SKENE_TOL,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, np.ndarray], list[float], int]:
    """Two-class Dawid-Skene over frames, reproducing crowd-kit's ``DawidSkene(n_iter, tol)``.

    ``callback(iteration, loss)`` is called after every iteration.

    Returns
    -------
    posterior : ndarray
        Buildings x states: the normalised product of each building's frame posteriors.
    frames : DataFrame
        One row per frame: building code, lo, hi, ``p_destroyed`` and ``n_labels``.
    params : dict
        Per-volunteer ``sensitivity`` and ``specificity`` (NaN where a volunteer gave no such answer).
    loss_history : list of float
        crowd-kit's loss (the evidence lower bound per answer) after each iteration.
    n_iter : int
        Iterations used.
    """
    told = enc.answer >= 0
    b, v = enc.building[told].astype(np.int64), enc.volunteer[told].astype(np.int64)
    lo1, hi1 = enc.lo[told].astype(np.int64) + 1, enc.hi[told].astype(np.int64) + 1
    y = enc.answer[told].astype(np.int64)
    S, V = enc.n_states, enc.n_volunteers
    key = (b * (S + 1) + lo1) * (S + 1) + hi1
    frame_key, task = np.unique(key, return_inverse=True)
    T, n = frame_key.size, y.size
    if n == 0:  # nobody could tell anything: no frames, and every state stays equally likely
        uniform = np.full((enc.n_buildings, S), 1.0 / S)
        empty = pd.DataFrame({"building": [], "lo": [], "hi": [], "p_destroyed": [], "n_labels": []})
        nan = np.full(V, np.nan)
        return (
            uniform,
            empty.astype({"building": np.int64, "lo": np.int64, "hi": np.int64, "n_labels": np.int64}),
            {"sensitivity": nan, "specificity": nan.copy()},
            [],
            0,
        )
    vy = v * 2 + y
    occurs = (np.bincount(vy, minlength=2 * V) > 0).reshape(V, 2)
    n_per_task = np.bincount(task, minlength=T).astype(float)
    # incidence of answers: frame x (volunteer, observed label); sums over a frame's answers and over a
    # volunteer's answers are then products with it and with its transpose, one pass over the answers each
    incidence = incidence_matrix(task, vy, np.ones(n), T, 2 * V)

    vy_count = np.bincount(vy, minlength=2 * V).astype(float)

    # Two classes: a frame's posterior is p1 = P(destroyed in the frame), p0 = 1 - p1; 1-D arrays throughout.
    def m_step(p1: np.ndarray) -> np.ndarray:
        # errors[v, observed, true] = sum of P(true) over v's answers with that observed label
        yes = incidence.T @ p1
        errors = np.stack([vy_count - yes, yes], axis=1).reshape(V, 2, 2)
        errors = np.where(occurs[:, :, None], np.maximum(errors, _EPS), 0.0)
        with np.errstate(invalid="ignore"):  # volunteers who told nothing: 0/0, never read
            return errors / errors.sum(axis=1, keepdims=True)

    def data_term(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # sum over each frame's answers of log errors[v, observed, true], for true = 0 and 1
        with np.errstate(divide="ignore"):
            log_err = np.where(occurs[:, :, None], np.log(np.where(occurs[:, :, None], errors, 1.0)), 0.0)
        log_err = log_err.reshape(2 * V, 2)
        return incidence @ log_err[:, 0], incidence @ log_err[:, 1]

    def e_step(priors: np.ndarray, data: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        log_prior = np.log(np.maximum(priors, _EPS))
        from scipy import special  # here: its import costs every command about 0.2 s

        return special.expit((log_prior[1] + data[1]) - (log_prior[0] + data[0]))

    def elbo(p1: np.ndarray, priors: np.ndarray, data: tuple[np.ndarray, np.ndarray]) -> float:
        # crowd-kit's bound: the prior is counted once per answer, not once per frame
        p0 = 1.0 - p1
        log_prior = np.log(np.maximum(priors, _EPS))
        joint = float(p0 @ data[0] + p1 @ data[1] + (n_per_task @ p0) * log_prior[0] + (n_per_task @ p1) * log_prior[1])
        c0, c1 = np.maximum(p0, _EPS), np.maximum(p1, _EPS)
        return (joint - float(c0 @ np.log(c0) + c1 @ np.log(c1))) / n

    p1 = np.bincount(task, weights=y.astype(float), minlength=T) / n_per_task  # majority-vote start
    priors = np.array([1.0 - p1.mean(), p1.mean()])
    data = data_term(m_step(p1))
    loss, history, used = -np.inf, [], 0
    for used in range(1, n_iter + 1):
        p1 = e_step(priors, data)
        priors = np.array([1.0 - p1.mean(), p1.mean()])
        errors = m_step(p1)
        data = data_term(errors)  # also the next E-step's
        new_loss = elbo(p1, priors, data)
        history.append(new_loss)
        if callback is not None:
            callback(used, new_loss)
        if new_loss - loss < tol:
            break
        loss = new_loss
    probas = np.stack([1.0 - p1, p1], axis=1)
    probas = np.maximum(probas, _EPS)  # crowd-kit clips its returned probabilities in place, too

    frame_b = frame_key // ((S + 1) * (S + 1))
    frame_lo1 = (frame_key // (S + 1)) % (S + 1)
    frame_hi1 = frame_key % (S + 1)
    log_scores = range_scores(enc, frame_b, frame_lo1, frame_hi1, np.log(probas[:, 1]), np.log(probas[:, 0]))
    log_scores -= log_scores.max(axis=1, keepdims=True)
    posterior = np.exp(log_scores)
    posterior /= posterior.sum(axis=1, keepdims=True)
    frames = pd.DataFrame(
        {
            "building": frame_b,
            "lo": frame_lo1 - 1,
            "hi": frame_hi1 - 1,
            "p_destroyed": probas[:, 1],
            "n_labels": n_per_task.astype(np.int64),
        }
    )
    with np.errstate(invalid="ignore"):
        params = {
            "sensitivity": np.where(occurs.any(axis=1), errors[:, 1, 1], np.nan),
            "specificity": np.where(occurs.any(axis=1), errors[:, 0, 0], np.nan),
        }
    return posterior, frames, params, history, used
