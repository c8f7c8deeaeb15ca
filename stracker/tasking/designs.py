"""Question designs and retirement, on arrays: what to ask about each building, and when to stop asking.

Every function here takes posteriors (buildings x states, the D + 1 destruction states of the label contract)
and boolean matrices (buildings x images) and returns arrays, vectorized across buildings. Questions are
(lo, hi) image indices meaning "was it destroyed after image lo and by image hi?"; lo = -1 is the single-image
question "is it destroyed in image hi?". Designs:

* ``random``: a random image pair (or single image), as a baseline.
* ``bisection``: probabilistic bisection (Horstein; Waeber, Frazier and Henderson): "was it destroyed between
  image a and image m?", with m at the posterior median of the building's state and a just below its
  credible range (a single image "is it destroyed here?" when that range starts at the first image).
* ``infogain``: for the volunteer at hand, the single-image question with the largest expected reduction in
  entropy of the building's state under that volunteer's estimated sensitivity and specificity.

A building retires (:func:`retirement_reasons`) when its credible interval lies within one image gap, it is
confidently undestroyed, or the only images that could still tell its states apart are hidden there.
"""

from __future__ import annotations

import numpy as np

from stracker.consensus.result import credible_bounds

__all__ = [
    "ACTIVE",
    "DESIGNS",
    "RETIREMENT_REASONS",
    "bisection_questions",
    "expected_information_gain",
    "infogain_questions",
    "mark_cant_tell",
    "most_reliable_first",
    "question_gain",
    "random_questions",
    "retired",
    "retirement_reasons",
    "state_entropy",
]

DESIGNS = ("random", "bisection", "infogain")
"""Adaptive question designs."""

RETIREMENT_REASONS = ("settled", "intact", "hidden")
"""Why a building retires, in order of precedence; code ``i + 1`` in :func:`retirement_reasons` (0: active).

``settled``: its credible interval is one image gap (destroyed between two consecutive images);
``intact``: confidently not destroyed by the last image; ``hidden``: every image that could still split its
interval is hidden at the building (clouds), so no question can settle it.
"""

ACTIVE = 0
"""Retirement code of a building still to be asked about."""

_EPS = 1e-12


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def bisection_questions(
    posterior: np.ndarray,
    mass: float = 0.99,
    unusable: np.ndarray | None = None,
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


def retirement_reasons(
    posterior: np.ndarray,
    mass: float = 0.9,
    intact_confidence: float | None = None,
    hidden: np.ndarray | None = None,
) -> np.ndarray:
    """Why each building is retired: 0 still active, else 1 + its index in :data:`RETIREMENT_REASONS`.

    The conditions are those of :func:`retired`; where several hold, the first reason of
    :data:`RETIREMENT_REASONS` is given.

    Examples
    --------
    >>> post = np.array([[0.0, 0.99, 0.01, 0.0], [0.0, 0.0, 0.01, 0.99], [0.0, 0.5, 0.5, 0.0]])
    >>> hidden = np.array([[False, False, False], [False, False, False], [False, True, False]])
    >>> [RETIREMENT_REASONS[c - 1] for c in retirement_reasons(post, 0.95, hidden=hidden)]
    ['settled', 'intact', 'hidden']
    >>> retirement_reasons(post, 0.95).tolist()
    [1, 2, 0]
    """
    D = posterior.shape[1] - 1
    start, end = credible_bounds(posterior, mass)
    one_state = start == end
    intact = one_state & (end == D)
    if intact_confidence is not None:
        intact |= posterior[:, -1] >= intact_confidence
    reasons = np.full(posterior.shape[0], ACTIVE, dtype=np.int8)
    if hidden is not None and hidden.any():
        # image j separates states j and j + 1: the interval's separating images are start .. end - 1
        usable_before = np.zeros((hidden.shape[0], hidden.shape[1] + 1), dtype=np.int64)
        np.cumsum(~hidden, axis=1, out=usable_before[:, 1:])
        rows = np.arange(hidden.shape[0])
        reasons[usable_before[rows, end] == usable_before[rows, start]] = 3
    reasons[intact] = 2
    reasons[one_state & (end < D)] = 1
    return reasons


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
    return retirement_reasons(posterior, mass, intact_confidence, hidden) != ACTIVE


def mark_cant_tell(
    hidden: np.ndarray,
    pair_cant_tell: np.ndarray,
    building: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cant_tell: np.ndarray,
) -> None:
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


def random_questions(
    n: int, n_images: int, single_image_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The ``random`` design: ``n`` questions on uniformly drawn images, a share ``single_image_share`` of them
    (and every draw of the same image twice) single-image questions; returns (lo, hi).

    Examples
    --------
    >>> lo, hi = random_questions(1000, 10, 0.2, np.random.default_rng(0))
    >>> bool(((lo < hi) & (hi < 10)).all()), 0.2 < float((lo < 0).mean()) < 0.4
    (True, True)
    """
    first, second = rng.integers(0, n_images, size=(2, n))
    single = (rng.random(n) < single_image_share) | (first == second)
    lo = np.where(single, -1, np.minimum(first, second))
    hi = np.where(single, first, np.maximum(first, second))
    return lo, hi


def state_entropy(posterior: np.ndarray) -> np.ndarray:
    """Entropy (bits) of each building's destruction state: how much is still unknown about it.

    Examples
    --------
    >>> state_entropy(np.array([[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])).round(6).tolist()
    [1.0, 2.0]
    """
    return -(posterior * np.log2(np.maximum(posterior, _EPS))).sum(axis=1)


def question_gain(
    posterior: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sensitivity: np.ndarray | float,
    specificity: np.ndarray | float,
) -> np.ndarray:
    """Expected information gain (bits) of each building's question (lo, hi] for a volunteer of the given
    sensitivity and specificity (:func:`expected_information_gain` of the posterior mass inside the interval).

    Examples
    --------
    >>> post = np.array([[0.25, 0.25, 0.25, 0.25]])
    >>> round(float(question_gain(post, np.array([-1]), np.array([1]), 1.0, 1.0)[0]), 6)  # half the mass: 1 bit
    1.0
    """
    cdf = np.zeros((posterior.shape[0], posterior.shape[1] + 1))
    np.cumsum(posterior, axis=1, out=cdf[:, 1:])
    rows = np.arange(posterior.shape[0])
    q = np.clip(cdf[rows, hi + 1] - cdf[rows, lo + 1], 0.0, 1.0)  # P(lo < T <= hi): states lo + 1 .. hi
    return expected_information_gain(q, np.asarray(sensitivity, dtype=float), np.asarray(specificity, dtype=float))
