"""Compiled loops of the consensus fit: the compare answers' two passes, and the passes over buildings x states.

A compare answer about the interval (lo, hi] adds its column's value to a building-state difference array at
``lo + 1`` and subtracts it at ``hi + 1`` (the E-step's log-likelihood), and reads the posterior mass of its
interval off the cumulative posterior (the M-step's expected counts). In numpy these are a sparse product and its
transpose over coordinates of 16 bytes each, two per answer; here they are one loop over four small integer
arrays (6 bytes an answer: the building and the column in two bytes each, the interval's ends in one, where they
fit), which streams a fifth of the bytes and adds in answer order. Measured on 2 million compare answers in 4
blocks: each pass about twice as fast as scipy's, on one thread and on two (``benchmarks/README.md``).
Those arrays are themselves made in one pass over the table (:func:`compare_rows`), not ten numpy passes.

The E-step's work over buildings x states (each building's running sum of its difference array, its posterior
from the log-likelihood, the running sum of the posterior) is numpy's along the rows of an array with a few dozen
states, where numpy's reductions and running sums along the short last axis cost a loop per row: 3 ns a cell for a
running sum, 6 to 8 for the posterior (measured on a block of 2,750 buildings x 51 states). Here each is one pass
over the rows, in the order numpy adds (a running sum adds left to right, a row's sum as numpy's pairwise
summation does): the same bits as numpy's calls. The exponentials stay numpy's (vectorised; numba's are not).
The posterior's column sums (the M-step's prior) are made in the pass that normalises it; numpy's sum along the
buildings adds the rows one after another, which :func:`column_sums` does too. Under clouds, every building's
cumulative image weights are one such running sum, the images' expected skips one pass (:func:`skip_sums`), and
each timeline mark's late breakpoint a binary search in its building's row (:func:`row_search`).

A table of compare answers alone (the plain case: no clouds, no gold) runs its E-step in two calls around numpy's
exponential rather than some thirty numpy and compiled calls: :func:`interval_log_likelihood` (the difference
rows, their running sums and the shift by each row's maximum) and :func:`posterior_interval_masses` (the
cumulative posterior and the masses of the answers' intervals), the same bits as the calls they stand for. Where
two blocks run side by side, each call between them hands the GIL over, and on a virtual machine a hand-over
costs more than a small call. Both work through the buildings in chunks of a few dozen (:func:`group_by_chunk`
groups the answers by chunk once, a stable counting sort), so that a chunk's rows stay in the first-level cache
while its answers read and write them: for answers in the order they came in (an export by time), not by
building, that takes a fifth to two fifths off the two passes.

The M-step's crowd types (:class:`stracker.consensus.em.CrowdTypes`) run ten steps of their own EM in every
M-step, over arrays of types x volunteers (4 x 3,000 on the raqqa campaigns); in numpy each step is a dozen calls
whose overhead is most of their time. Here a step is two passes (the types' log-likelihoods; the
responsibilities and the sums of the types' centres), numpy's exponential between them. They add in their own
order, not BLAS's: the results move by rounding only.

The result tables' counts (per building its answers and distinct volunteers, per volunteer its answers by task)
are passes over the answers too (:func:`building_tallies`, :func:`volunteer_tallies`, :func:`building_counts`),
with no sort of them, and each building's most probable state and credible interval one pass over its row
(:func:`state_summaries`).

The functions are compiled by numba on first use (cached on disk, so once per machine and version) and release
the GIL, so the blocks of :mod:`stracker.consensus.blocks` run them side by side. Each adds in a fixed order:
the same inputs give the same bits on the same machine, whatever the number of threads.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, overload

import numba
import numpy as np

__all__ = [
    "AnswerChunks",
    "building_counts",
    "building_tallies",
    "column_sums",
    "compare_rows",
    "crowd_type_steps",
    "cumulative_rows",
    "group_by_chunk",
    "interval_differences",
    "interval_log_likelihood",
    "interval_masses",
    "normalize_rows",
    "one_chunk",
    "posterior_interval_masses",
    "row_search",
    "shifted_rows",
    "skip_sums",
    "sloped_rows",
    "state_summaries",
    "volunteer_tallies",
]

_NO_FACTORS = np.empty((1, 0))  # the running sums' factors when there are none: the values as they are

# numpy's pairwise summation adds blocks of up to this many numbers with eight accumulators
_PAIRWISE_BLOCK = 128


# A chunk's passes are functions of their own, called per chunk: inlined into the loop over chunks (or written
# in it), LLVM compiles the answers' loop 25-30 % slower (measured on 100,000 answers).


@numba.njit(nogil=True, cache=True)
def _add_chunk(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    value: np.ndarray,
    first: int,
    differences: np.ndarray,
) -> bool:  # pragma: no cover - compiled; a chunk's answers into its difference rows
    rows = differences.shape[0]
    for r in range(rows):
        for k in range(differences.shape[1]):
            differences[r, k] = 0.0
    for a in range(building.size):
        b = np.int64(building[a]) - first
        if b < 0 or b >= rows:
            return False
        v = value[column[a]]
        differences[b, lo1[a]] += v
        differences[b, hi1[a]] -= v
    return True


@numba.njit(nogil=True, cache=True)
def _read_chunk(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    first: int,
    cumulative: np.ndarray,
    out: np.ndarray,
) -> bool:  # pragma: no cover - compiled; a chunk's answers' masses
    rows = cumulative.shape[0]
    for a in range(building.size):
        b = np.int64(building[a]) - first
        if b < 0 or b >= rows:
            return False
        out[column[a]] += cumulative[b, hi1[a]] - cumulative[b, lo1[a]]
    return True


@numba.njit(nogil=True, cache=True)
def _interval_log_likelihood(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    value: np.ndarray,
    log_prior: np.ndarray,
    no_factors: np.ndarray,
    chunk_answers: np.ndarray,
    rows_per_chunk: int,
    differences: np.ndarray,
    by_state: np.ndarray,
    shifted: np.ndarray,
    shift: np.ndarray,
) -> bool:  # pragma: no cover - compiled; run through interval_log_likelihood
    n_rows = by_state.shape[0]
    for c in range(chunk_answers.size - 1):
        # the chunk's difference rows stay in the core's cache while its answers are added and its rows summed
        first = c * rows_per_chunk
        chunk = differences[: min(rows_per_chunk, n_rows - first)]
        a0, a1 = chunk_answers[c], chunk_answers[c + 1]
        if not _add_chunk(building[a0:a1], lo1[a0:a1], hi1[a0:a1], column[a0:a1], value, first, chunk):
            return False  # an answer outside its chunk: the caller raises
        # cumulative_rows, then shifted_rows, on the chunk's rows while they are in the cache
        rows = by_state[first : first + chunk.shape[0]]
        _cumulative_rows(chunk, no_factors, rows, 0)
        _shifted_rows(rows, log_prior, shifted[first : first + chunk.shape[0]], shift[first : first + chunk.shape[0]])
    return True


@numba.njit(nogil=True, cache=True)
def _posterior_interval_masses(
    posterior: np.ndarray,
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    no_factors: np.ndarray,
    chunk_answers: np.ndarray,
    rows_per_chunk: int,
    cumulative: np.ndarray,
    out: np.ndarray,
) -> bool:  # pragma: no cover - compiled; run through posterior_interval_masses
    n_rows = posterior.shape[0]
    out[:] = 0.0
    for c in range(chunk_answers.size - 1):
        first = c * rows_per_chunk
        chunk = cumulative[: min(rows_per_chunk, n_rows - first)]
        _cumulative_rows(posterior[first : first + chunk.shape[0]], no_factors, chunk, 1)  # after a leading zero
        a0, a1 = chunk_answers[c], chunk_answers[c + 1]
        if not _read_chunk(building[a0:a1], lo1[a0:a1], hi1[a0:a1], column[a0:a1], first, chunk, out):
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _in_order(values: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether ``values`` never decrease: a pass with no branch, which LLVM vectorises (7 us on 100,000 two-byte
    codes, where a pass counting them took 100)."""
    ordered = True
    for i in range(1, values.size):
        ordered &= values[i] >= values[i - 1]
    return ordered


@numba.njit(nogil=True, cache=True)
def _group_by_chunk(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    chunk_of: np.ndarray,
    chunk_answers: np.ndarray,
    out_building: np.ndarray,
    out_lo1: np.ndarray,
    out_hi1: np.ndarray,
    out_column: np.ndarray,
) -> int:  # pragma: no cover - compiled; run through group_by_chunk
    n_chunks = chunk_answers.size - 1
    n = building.size
    if _in_order(building):  # a table sorted by building: nothing to move, each chunk's first answer searched for
        if n and (building[0] < 0 or building[n - 1] >= chunk_of.size):
            return -1  # a code out of range: the caller raises
        for c in range(n_chunks):
            chunk_answers[c] = np.searchsorted(building, np.searchsorted(chunk_of, c))  # its first building's
        chunk_answers[n_chunks] = n
        return 1
    for c in range(n_chunks + 1):
        chunk_answers[c] = 0
    # each building's chunk looked up (chunk_of), not divided out: a division per answer took twice the pass
    for a in range(n):
        b = np.int64(building[a])
        if b < 0 or b >= chunk_of.size:
            return -1  # a code out of range: the caller raises
        chunk_answers[chunk_of[b] + 1] += 1
    for c in range(n_chunks):
        chunk_answers[c + 1] += chunk_answers[c]
    at = chunk_answers[:-1].copy()
    for a in range(building.size):  # a stable counting sort: each chunk's answers keep their order
        chunk = chunk_of[building[a]]
        j = at[chunk]
        at[chunk] = j + 1
        out_building[j] = building[a]
        out_lo1[j] = lo1[a]
        out_hi1[j] = hi1[a]
        out_column[j] = column[a]
    return 0


def _check_answers(building: np.ndarray, lo1: np.ndarray, hi1: np.ndarray, column: np.ndarray) -> None:
    if not building.size == lo1.size == hi1.size == column.size:
        raise ValueError(
            f"building, lo1, hi1 and column must be as long, got {building.size}, {lo1.size}, {hi1.size}, {column.size}"
        )


def interval_differences(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    value: np.ndarray,
    n_buildings: int,
    width: int,
) -> np.ndarray:
    """The difference array of interval answers (buildings x ``width``, flat): ``value[column[a]]`` added at
    ``(building[a], lo1[a])`` and subtracted at ``(building[a], hi1[a])``, for every answer ``a`` in order.

    The integer arrays may be of any integer type: the E-step keeps them as small as their values allow (two
    bytes a building and a column, one a state boundary, where they fit), as the passes are bound by the bytes
    they read.

    Parameters
    ----------
    building : ndarray of integers
        Per answer, its building (``0 <= building < n_buildings``).
    lo1, hi1 : ndarray of integers
        Per answer, where its interval starts and ends in the building's row (``0 <= lo1, hi1 < width``).
    column : ndarray of integers
        Per answer, its column (say volunteer x answer) in ``value``.
    value : ndarray of float64
        One value per column.
    n_buildings, width : int
        The difference array's rows and columns.

    Examples
    --------
    >>> interval_differences(np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), np.array([1, 0]),
    ...     np.array([10.0, 1.0]), 2, 2)
    array([  1.,  -1.,  10., -10.])
    """
    _check_answers(building, lo1, hi1, column)
    out = np.empty((n_buildings, width))  # zeroed by the pass: one chunk of every building
    if not _add_chunk(building, lo1, hi1, column, np.ascontiguousarray(value, dtype=np.float64), 0, out):
        raise ValueError(f"building codes must be between 0 and {n_buildings - 1}")
    return out.ravel()


def interval_masses(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    cumulative: np.ndarray,
    width: int,
    n_columns: int,
) -> np.ndarray:
    """Per column, the sum over its answers of the cumulative array's ``(building, hi1)`` less its
    ``(building, lo1)``: with the cumulative posterior (buildings x ``width``, flat), the expected number of its
    answers whose interval holds the building's state.

    Minus the transpose of :func:`interval_differences`: ``interval_masses(..., c, width, n) @ x`` equals
    ``-(interval_differences(..., x, c.size // width, width) @ c)``.

    Examples
    --------
    >>> cumulative = np.array([0.0, 0.5, 0.0, 0.75])
    >>> interval_masses(np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), np.array([1, 1]), cumulative, 2, 2)
    array([0.  , 1.25])
    """
    _check_answers(building, lo1, hi1, column)
    cumulative = np.ascontiguousarray(cumulative, dtype=np.float64)
    if width < 1 or cumulative.size % width:
        raise ValueError(f"cumulative of {cumulative.size} numbers is not rows of width {width}")
    out = np.zeros(n_columns)
    if not _read_chunk(building, lo1, hi1, column, 0, cumulative.reshape(-1, width), out):
        raise ValueError(f"building codes must be between 0 and {cumulative.size // width - 1}")
    return out


class AnswerChunks(NamedTuple):
    """Interval answers grouped by chunks of buildings (:func:`group_by_chunk`): chunk ``c`` holds buildings
    ``c * rows_per_chunk`` up to ``(c + 1) * rows_per_chunk - 1`` and answers ``answers[c]`` up to
    ``answers[c + 1] - 1``."""

    rows_per_chunk: int
    answers: np.ndarray


def one_chunk(n_buildings: int, n_answers: int) -> AnswerChunks:
    """Every building and every answer in one chunk.

    Examples
    --------
    >>> one_chunk(3, 10)
    AnswerChunks(rows_per_chunk=3, answers=array([ 0, 10]))
    """
    return AnswerChunks(max(n_buildings, 1), np.array([0, n_answers], dtype=np.int64))


def group_by_chunk(
    building: np.ndarray, lo1: np.ndarray, hi1: np.ndarray, column: np.ndarray, rows_per_chunk: int, n_buildings: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, AnswerChunks]:
    """Interval answers grouped by chunks of ``rows_per_chunk`` buildings, each chunk's answers in their order (a
    stable counting sort, one compiled call): the four arrays in their dtypes (the same arrays, where they are in
    building order already), and the chunks.

    An answer's interval adds to its building's row in the same order as before, so the log-likelihood has the
    same bits; the per-column sums of :func:`posterior_interval_masses` add in chunk order (rounding moves).

    Examples
    --------
    >>> b, lo1, hi1, column, chunks = group_by_chunk(np.array([2, 0, 3, 1]), np.array([0, 1, 2, 3]),
    ...     np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8]), 2, 4)
    >>> b.tolist(), column.tolist(), chunks.answers.tolist()
    ([0, 1, 2, 3], [6, 8, 5, 7], [0, 2, 4])
    """
    _check_answers(building, lo1, hi1, column)
    rows_per_chunk = max(int(rows_per_chunk), 1)
    n_chunks = max(-(-n_buildings // rows_per_chunk), 1)
    chunk_answers = np.empty(n_chunks + 1, dtype=np.int64)
    out = (np.empty_like(building), np.empty_like(lo1), np.empty_like(hi1), np.empty_like(column))
    chunk_of = (np.arange(n_buildings, dtype=np.int32) // rows_per_chunk).astype(np.int32)
    moved = _group_by_chunk(building, lo1, hi1, column, chunk_of, chunk_answers, *out)
    if moved < 0:
        raise ValueError(f"building codes must be between 0 and {n_buildings - 1}")
    if moved:
        out = (building, lo1, hi1, column)  # in chunk order already
    return (*out, AnswerChunks(rows_per_chunk, chunk_answers))


def _chunks_for(chunks: AnswerChunks | None, n_buildings: int, n_answers: int) -> AnswerChunks:
    chunks = one_chunk(n_buildings, n_answers) if chunks is None else chunks
    n_chunks = chunks.answers.size - 1
    rows = chunks.rows_per_chunk
    if (
        n_chunks < 1
        or chunks.answers[-1] != n_answers
        or n_chunks * rows < n_buildings  # rows no chunk holds
        or (n_chunks - 1) * rows >= max(n_buildings, 1)  # a chunk with no rows
    ):
        raise ValueError(f"the chunks {chunks} do not split {n_buildings} buildings and {n_answers} answers")
    return chunks


def interval_log_likelihood(
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    value: np.ndarray,
    log_prior: np.ndarray,
    n_buildings: int,
    chunks: AnswerChunks | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log-likelihood of interval answers by building and state, and the same shifted for the posterior, in
    one call: ``L = cumulative_rows(interval_differences(...).reshape(B, W), S)`` and ``shifted_rows(L,
    log_prior)``, the same bits, without the Python between them (where two blocks run side by side, each hand-over
    of the GIL between numpy's calls costs more than the call: ``benchmarks/README.md``).

    With ``chunks`` (answers grouped by chunks of buildings, :func:`group_by_chunk`), one chunk at a time: its
    difference rows stay in the core's cache while its answers are added and its rows summed.

    Parameters
    ----------
    building, lo1, hi1, column, value
        As :func:`interval_differences` takes them (``lo1, hi1 <= S``, the states).
    log_prior : ndarray of float64
        One log prior over the ``S`` states for every building.
    n_buildings : int
        The rows.
    chunks : AnswerChunks, optional
        How the answers are grouped (default: one chunk).

    Returns
    -------
    by_state, shifted : ndarray, buildings x S
        The log-likelihood (each row's running sum of its difference array), and it plus ``log_prior`` less the
        row's maximum.
    shift : ndarray
        Per building, that maximum.

    Raises
    ------
    ValueError
        If the arrays differ in length, or an answer is not in its chunk.

    Examples
    --------
    >>> L, shifted, top = interval_log_likelihood(np.array([0, 0]), np.array([0, 1]), np.array([1, 2]),
    ...     np.array([0, 1]), np.array([2.0, -1.0]), np.log([0.5, 0.5]), 1)
    >>> L.tolist(), np.exp(shifted + top).round(3).tolist()
    ([[2.0, -1.0]], [[3.695, 0.184]])
    """
    _check_answers(building, lo1, hi1, column)
    chunks = _chunks_for(chunks, n_buildings, building.size)
    log_prior = np.ascontiguousarray(log_prior, dtype=np.float64)
    n_states = log_prior.size
    by_state = np.empty((n_buildings, n_states))
    shifted = np.empty((n_buildings, n_states))
    shift = np.empty(n_buildings)
    differences = np.empty((min(chunks.rows_per_chunk, n_buildings), n_states + 1))
    value = np.ascontiguousarray(value, dtype=np.float64)
    if not _interval_log_likelihood(
        building,
        lo1,
        hi1,
        column,
        value,
        log_prior.reshape(1, n_states),
        _NO_FACTORS,
        chunks.answers,
        chunks.rows_per_chunk,
        differences,
        by_state,
        shifted,
        shift,
    ):
        raise ValueError("an answer's building is outside its chunk: group the answers with group_by_chunk")
    return by_state, shifted, shift


def posterior_interval_masses(
    posterior: np.ndarray,
    building: np.ndarray,
    lo1: np.ndarray,
    hi1: np.ndarray,
    column: np.ndarray,
    n_columns: int,
    chunks: AnswerChunks | None = None,
) -> np.ndarray:
    """:func:`interval_masses` over the cumulative ``posterior`` (buildings x states; the running sums after a
    zero, as ``cumulative_rows(posterior, leading_zero=True)``), made in the same call: the same bits. With
    ``chunks`` (:func:`group_by_chunk`), one chunk of buildings at a time, its running sums in the core's cache.

    Examples
    --------
    >>> posterior_interval_masses(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1]), np.array([0, 0]),
    ...     np.array([1, 1]), np.array([1, 1]), 2)
    array([0.  , 0.75])
    """
    _check_answers(building, lo1, hi1, column)
    posterior = np.ascontiguousarray(posterior, dtype=np.float64)
    chunks = _chunks_for(chunks, posterior.shape[0], building.size)
    cumulative = np.empty((min(chunks.rows_per_chunk, posterior.shape[0]), posterior.shape[1] + 1))
    out = np.empty(n_columns)
    if not _posterior_interval_masses(
        posterior,
        building,
        lo1,
        hi1,
        column,
        _NO_FACTORS,
        chunks.answers,
        chunks.rows_per_chunk,
        cumulative,
        out,
    ):
        raise ValueError("an answer's building is outside its chunk: group the answers with group_by_chunk")
    return out


@numba.njit(nogil=True, cache=True)
def _copy_compare_rows(
    building: np.ndarray,
    volunteer: np.ndarray,
    answer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    out_building: np.ndarray,
    out_lo1: np.ndarray,
    out_hi1: np.ndarray,
    out_column: np.ndarray,
) -> None:  # pragma: no cover - compiled; every row kept: a loop LLVM vectorises (a quarter of the time)
    for i in range(building.size):
        out_building[i] = building[i]
        out_lo1[i] = lo[i] + 1
        out_hi1[i] = hi[i] + 1
        out_column[i] = 2 * volunteer[i] + answer[i]


@numba.njit(nogil=True, cache=True)
def _compact_compare_rows(
    keep: np.ndarray,
    building: np.ndarray,
    volunteer: np.ndarray,
    answer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    out_building: np.ndarray,
    out_lo1: np.ndarray,
    out_hi1: np.ndarray,
    out_column: np.ndarray,
) -> None:  # pragma: no cover - compiled; the kept rows, in order
    j = 0
    for i in range(keep.size):
        if keep[i]:
            out_building[j] = building[i]
            out_lo1[j] = lo[i] + 1
            out_hi1[j] = hi[i] + 1
            out_column[j] = 2 * volunteer[i] + answer[i]
            j += 1


@numba.njit(nogil=True, cache=True)
def _count_columns(column: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover - compiled
    for j in range(column.size):  # a loop of its own: in the copying loop it would keep that from vectorising
        counts[column[j]] += 1.0


def compare_rows(
    keep: np.ndarray,
    building: np.ndarray,
    volunteer: np.ndarray,
    answer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    n_volunteers: int,
    *,
    building_dtype: np.dtype | type = np.int32,
    boundary_dtype: np.dtype | type = np.int32,
    column_dtype: np.dtype | type = np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The compare answers the E-step reads, in one compiled pass over the table and one over its columns: of the
    rows where ``keep`` is true, the building, the interval's ends plus one (``lo + 1``, ``hi + 1``) and the column
    ``2 * volunteer + answer``, in the dtypes asked for, and the answers per column (``2 * n_volunteers`` of them,
    as floats).

    In numpy this was ten passes (masks, widening copies, a product, a count); the kernel writes the narrow
    arrays directly. The caller picks dtypes that hold the values (buildings and columns below 2**16 fit uint16,
    ``hi + 1`` below 2**8 uint8). Where every row is kept, the copy is a loop LLVM vectorises, and the count a loop
    of its own (2 million answers: 2.3 ms against 6.3 in one loop that skips rows and counts).

    Examples
    --------
    >>> keep = np.array([True, False, True])
    >>> b, lo1, hi1, column, counts = compare_rows(keep, np.array([0, 0, 1]), np.array([1, 0, 1]),
    ...     np.array([1, 1, 0]), np.array([-1, 0, 2]), np.array([3, 3, 4]), 2, boundary_dtype=np.uint8)
    >>> b.tolist(), lo1.tolist(), hi1.tolist(), column.tolist(), counts.tolist()
    ([0, 1], [0, 3], [4, 5], [3, 2], [0.0, 0.0, 1.0, 1.0])
    """
    if any(np.shape(a) != np.shape(keep) for a in (building, volunteer, answer, lo, hi)):
        raise ValueError("compare_rows takes one value per answer in every array")
    n = int(np.count_nonzero(keep))
    out = (
        np.empty(n, dtype=building_dtype),
        np.empty(n, dtype=boundary_dtype),
        np.empty(n, dtype=boundary_dtype),
        np.empty(n, dtype=column_dtype),
    )
    column_answers = np.zeros(2 * n_volunteers)
    if n == keep.size:
        _copy_compare_rows(building, volunteer, answer, lo, hi, *out)
    else:
        _compact_compare_rows(keep, building, volunteer, answer, lo, hi, *out)
    _count_columns(out[3], column_answers)
    return (*out, column_answers)


@numba.njit(nogil=True, cache=True)
def _state_summaries(
    posterior: np.ndarray,
    low: float,
    high: float,
    state: np.ndarray,
    confidence: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> None:  # pragma: no cover - compiled; run through state_summaries
    for r in range(posterior.shape[0]):
        best, top = 0, posterior[r, 0]
        nan = top != top  # numpy's argmax stops at the first NaN
        first, last = -1, -1
        total = 0.0
        for k in range(posterior.shape[1]):
            p = posterior[r, k]
            if not nan:
                if p != p:
                    best, nan = k, True
                elif p > top:
                    best, top = k, p
            total += p  # cumulative_rows' running sum: the same bits
            if first < 0 and total > low:
                first = k
            if last < 0 and total >= high:
                last = k
        state[r] = best
        confidence[r] = posterior[r, best]
        start[r] = max(first, 0)  # numpy's argmax of a row of False is 0
        end[r] = max(last, 0)


def state_summaries(
    posterior: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``posterior`` (buildings x states): its most probable state and that state's mass, and the first
    states where its running sum passes ``low`` and reaches ``high``, in one pass: numpy's ``argmax(axis=1)``, the
    gather, and ``argmax(cumsum(axis=1) > low)`` and ``argmax(cumsum >= high)``, the same results (0 where a row
    never passes; the first NaN where there is one).

    Examples
    --------
    >>> state, confidence, start, end = state_summaries(np.array([[0.1, 0.6, 0.3]]), 0.05, 0.95)
    >>> state.tolist(), confidence.tolist(), start.tolist(), end.tolist()
    ([1], [0.6], [0], [2])
    """
    posterior = np.ascontiguousarray(posterior, dtype=np.float64)
    if posterior.ndim != 2 or posterior.shape[1] == 0:
        raise ValueError(f"state_summaries takes a 2-d posterior with states, got shape {posterior.shape}")
    n = posterior.shape[0]
    state, start, end = (np.empty(n, dtype=np.int64) for _ in range(3))
    confidence = np.empty(n)
    _state_summaries(posterior, float(low), float(high), state, confidence, start, end)
    return state, confidence, start, end


@numba.njit(nogil=True, cache=True)
def _building_counts(building: np.ndarray, counts: np.ndarray) -> int:  # pragma: no cover - compiled
    n, n_buildings = building.size, counts.size
    if n == 0:
        return 1
    if not _in_order(building):  # counted one by one
        counts[:] = 0
        for i in range(n):
            b = building[i]
            if b < 0 or b >= n_buildings:
                return -1
            counts[b] += 1
        return 0
    if building[0] < 0 or building[n - 1] >= n_buildings:
        return -1
    if 32 * n_buildings < n:
        # many answers a building: each building's run found by a binary search (a tenth of the time of the pass
        # over the runs, on 100,000 answers about 555 buildings)
        first = 0
        for b in range(n_buildings):
            end = int(np.searchsorted(building, b + 1))
            counts[b] = end - first
            first = end
        return 1
    start = 0
    for i in range(1, n):  # runs of one building, each counted where it ends (no chain of increments)
        if building[i] != building[i - 1]:
            counts[building[i - 1]] = i - start
            start = i
    counts[building[n - 1]] = n - start
    return 1


def building_counts(building: np.ndarray, n_buildings: int) -> tuple[bool, np.ndarray]:
    """Whether the answers are in building order, and each building's answers (``np.bincount(building,
    minlength=n_buildings)``), in one compiled call: a branch-free check of the order, then over a table in
    building order a binary search for each building's run (where it has 32 answers or more on average) or a pass
    over the runs, and over one that is not a count of each answer (the first pass alone took 12 ms on 20 million
    answers, where numpy's check and search for each building's first answer took 27).

    Examples
    --------
    >>> sorted_, counts = building_counts(np.array([0, 0, 2]), 3)
    >>> sorted_, counts.tolist()
    (True, [2, 0, 1])
    """
    counts = np.zeros(n_buildings, dtype=np.int64)
    grouped = _building_counts(np.asarray(building), counts)
    if grouped < 0:
        raise ValueError(f"building codes must be between 0 and {n_buildings - 1}")
    return bool(grouped), counts


@numba.njit(nogil=True, cache=True)
def _building_tallies(
    building: np.ndarray, volunteer: np.ndarray, n_volunteers: int, n_answers: np.ndarray, n_distinct: np.ndarray
) -> bool:  # pragma: no cover - compiled; run through building_tallies
    n, n_buildings = building.size, n_answers.size
    grouped = _building_counts(building, n_answers)  # the answers per building, and whether they come in runs
    if grouped < 0:
        return False  # a code out of range: the caller raises
    if not grouped:  # a counting sort of the volunteers by building (stable, one pass)
        at = np.empty(n_buildings, dtype=np.int64)
        total = 0
        for b in range(n_buildings):
            at[b] = total
            total += n_answers[b]
        by_building = np.empty(n, dtype=volunteer.dtype)
        for i in range(n):
            by_building[at[building[i]]] = volunteer[i]
            at[building[i]] += 1
        volunteer = by_building
    last = np.full(n_volunteers, -1, dtype=np.int64)  # the last building each volunteer was seen at
    start = 0
    for b in range(n_buildings):
        distinct = 0
        for k in range(start, start + n_answers[b]):
            v = volunteer[k]
            distinct += last[v] != b
            last[v] = b
        n_distinct[b] = distinct
        start += n_answers[b]
    return True


def building_tallies(
    building: np.ndarray, volunteer: np.ndarray, n_buildings: int, n_volunteers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per building, its answers and its distinct volunteers, in a few passes over the answers (grouped by building
    first, with a counting sort, where the table is not sorted by building); no sort of the answers.

    Examples
    --------
    >>> [c.tolist() for c in building_tallies(np.array([1, 0, 1, 1]), np.array([0, 0, 1, 0]), 2, 2)]
    [[1, 3], [1, 2]]
    """
    n_answers = np.zeros(n_buildings, dtype=np.int64)
    n_distinct = np.zeros(n_buildings, dtype=np.int64)
    if not _building_tallies(building, volunteer, n_volunteers, n_answers, n_distinct):
        raise ValueError(f"building codes must be between 0 and {n_buildings - 1}")
    return n_answers, n_distinct


@numba.njit(nogil=True, cache=True)
def _volunteer_tallies(volunteer: np.ndarray, task: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover
    for i in range(volunteer.size):
        counts[volunteer[i], task[i]] += 1


def volunteer_tallies(volunteer: np.ndarray, task: np.ndarray, n_volunteers: int) -> np.ndarray:
    """Per volunteer (rows) and task code (columns: 0 and 1), the answers given, in one pass (numpy's bincount of
    ``2 * volunteer + task`` made three temporary arrays the size of the table first).

    Examples
    --------
    >>> volunteer_tallies(np.array([0, 0, 1]), np.array([1, 0, 1]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    counts = np.zeros((n_volunteers, 2), dtype=np.int64)
    _volunteer_tallies(volunteer, task, counts)
    return counts


@numba.njit(nogil=True, cache=True)
def _block_sum(row: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's sum of at most :data:`_PAIRWISE_BLOCK` numbers (eight accumulators), the same bits."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += row[start + i]
        return res
    r0, r1, r2, r3 = row[start], row[start + 1], row[start + 2], row[start + 3]
    r4, r5, r6, r7 = row[start + 4], row[start + 5], row[start + 6], row[start + 7]
    i = 8
    end = n - n % 8
    while i < end:
        j = start + i
        r0 += row[j]
        r1 += row[j + 1]
        r2 += row[j + 2]
        r3 += row[j + 3]
        r4 += row[j + 4]
        r5 += row[j + 5]
        r6 += row[j + 6]
        r7 += row[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += row[start + i]
        i += 1
    return res


@numba.njit(nogil=True, cache=True)
def _pairwise_sum(row: np.ndarray) -> float:  # pragma: no cover - compiled
    """numpy's pairwise sum of a row (``pairwise_sum`` in its loops), the same bits: blocks of up to 128 numbers,
    halves (a multiple of 8 first) added as a tree. The tree is walked with a stack of tasks, not by recursion
    (numba's cache cannot hold a recursive function)."""
    n = row.size
    if n <= _PAIRWISE_BLOCK:
        return _block_sum(row, 0, n)
    # tasks: (start, length) to sum, or length -1 to add the two last sums (left + right)
    task_start = np.empty(192, np.int64)
    task_length = np.empty(192, np.int64)
    sums = np.empty(96)
    n_tasks, n_sums = 1, 0
    task_start[0], task_length[0] = 0, n
    while n_tasks:
        n_tasks -= 1
        first, length = task_start[n_tasks], task_length[n_tasks]
        if length < 0:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        elif length <= _PAIRWISE_BLOCK:
            sums[n_sums] = _block_sum(row, first, length)
            n_sums += 1
        else:
            half = length // 2
            half -= half % 8
            # popped in reverse: the left half, the right half, then their sum
            task_start[n_tasks], task_length[n_tasks] = 0, -1
            task_start[n_tasks + 1], task_length[n_tasks + 1] = first + half, length - half
            task_start[n_tasks + 2], task_length[n_tasks + 2] = first, half
            n_tasks += 3
    return sums[0]


@numba.njit(nogil=True, cache=True)
def _cumulative_rows(
    values: np.ndarray, times: np.ndarray, out: np.ndarray, offset: int
) -> None:  # pragma: no cover - compiled; run through cumulative_rows
    per_row = times.shape[0] > 1
    scaled = times.shape[1] > 0  # no factors (an empty row): the values as they are, without a product each
    for r in range(out.shape[0]):
        w = r if per_row else 0
        for k in range(offset):
            out[r, k] = 0.0
        total = 0.0
        if scaled:
            for k in range(out.shape[1] - offset):
                total += values[r, k] * times[w, k]
                out[r, offset + k] = total
        else:
            for k in range(out.shape[1] - offset):
                total += values[r, k]
                out[r, offset + k] = total


@numba.njit(nogil=True, cache=True)
def _shifted_rows(
    log_likelihood: np.ndarray, log_prior: np.ndarray, out: np.ndarray, shift: np.ndarray
) -> None:  # pragma: no cover - compiled; run through shifted_rows
    per_row = log_prior.shape[0] > 1
    for r in range(out.shape[0]):
        p = r if per_row else 0
        top = -np.inf
        nan = False
        for k in range(out.shape[1]):
            z = log_likelihood[r, k] + log_prior[p, k]
            out[r, k] = z
            if z > top:
                top = z
            elif z != z:
                nan = True
        shift[r] = np.nan if nan else top  # a NaN is the maximum, as in numpy
        for k in range(out.shape[1]):
            out[r, k] -= top


@numba.njit(nogil=True, cache=True, error_model="numpy")  # 0 / 0 is a NaN, as in numpy
def _normalize_rows(
    values: np.ndarray, norm: np.ndarray, sums: np.ndarray
) -> None:  # pragma: no cover - compiled; run through normalize_rows
    summed = sums.size > 0  # the column sums too (one per column), or none (an empty array)
    for k in range(sums.size):
        sums[k] = 0.0
    for r in range(values.shape[0]):
        total = _pairwise_sum(values[r])
        norm[r] = total
        for k in range(values.shape[1]):
            values[r, k] /= total
            if summed:
                sums[k] += values[r, k]


@numba.njit(nogil=True, cache=True)
def _column_sums(values: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    for k in range(values.shape[1]):
        out[k] = 0.0
    for r in range(values.shape[0]):
        for k in range(values.shape[1]):
            out[k] += values[r, k]


@numba.njit(nogil=True, cache=True)
def _row_search(cum: np.ndarray, rows: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    width = cum.shape[1]
    for i in range(rows.size):
        r, v = rows[i], values[i]
        lo, hi = 0, width  # the first k with cum[r, k] >= v lies in [lo, hi]; a NaN is never reached: width
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[r, mid] >= v:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo


@numba.njit(nogil=True, cache=True)
def _skip_sums(
    cover: np.ndarray, cumulative: np.ndarray, offset: np.ndarray, share: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled; run through skip_sums
    for k in range(out.size):
        out[k] = 0.0
    for r in range(cover.shape[0]):
        for k in range(out.size):
            out[k] += (cover[r, k] * cumulative[r, k + 1] - offset[r, k]) * share[r, k]


@numba.njit(nogil=True, cache=True)
def _sloped_rows(
    const: np.ndarray, slope: np.ndarray, cum_weight: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled; run through sloped_rows
    n_rows, n_states = out.shape
    per_row = cum_weight.shape[0] > 1
    for r in range(n_rows):
        w = r if per_row else 0
        total = late = early = 0.0
        for k in range(n_states):
            total += const[r, k]
            late += slope[r, k]
            early += slope[n_rows + r, k]
            out[r, k] = total + (late * cum_weight[w, k] + early * np.float64(k))


def _one_or_per_row(factors: np.ndarray, name: str, n_rows: int, n_columns: int, exact: bool = False) -> np.ndarray:
    """``factors`` as C-contiguous float64 rows for the row passes: one row for every row, or one per row, of
    ``n_columns`` numbers (at least, or ``exact``ly)."""
    rows = np.ascontiguousarray(np.atleast_2d(factors), dtype=np.float64)
    wide = rows.ndim == 2 and (rows.shape[1] == n_columns if exact else rows.shape[1] >= n_columns)
    if not wide or rows.shape[0] not in (1, n_rows):
        raise ValueError(
            f"{name} of shape {np.shape(factors)} does not match {n_rows} rows of {n_columns} numbers: it needs one "
            "row for every row, or one per row"
        )
    return rows


def cumulative_rows(
    values: np.ndarray, keep: int | None = None, leading_zero: bool = False, times: np.ndarray | None = None
) -> np.ndarray:
    """Each row's running sum, its first ``keep`` columns (default all), after a column of zeros with
    ``leading_zero``: ``np.cumsum(values, axis=1)[:, :keep]``, the same bits, in one pass; with ``times``, of
    ``values * times[..., :n]`` (``np.cumsum(values * times[..., :n], axis=1)``), without the product's array.

    Parameters
    ----------
    values : ndarray of float64, 2-d
        The rows (any strides).
    keep : int, optional
        Columns of the running sum to keep (at most ``values.shape[1]``).
    leading_zero : bool
        Put a column of zeros first (the sum before the first column), ``keep + 1`` columns in all.
    times : ndarray, optional
        Factors of the values: one row for every row (at least as long as the rows), or one per row.

    Returns
    -------
    ndarray of float64, C-contiguous

    Examples
    --------
    >>> cumulative_rows(np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]), keep=2)
    array([[1. , 3. ],
           [0.5, 1. ]])
    >>> cumulative_rows(np.array([[1.0, 2.0]]), leading_zero=True)
    array([[0., 1., 3.]])
    >>> cumulative_rows(np.array([[1.0, 2.0]]), leading_zero=True, times=np.array([0.0, 1.0, 2.0]))
    array([[0., 0., 2.]])
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"cumulative_rows takes a 2-d array, got {values.ndim} dimensions")
    keep = values.shape[1] if keep is None else keep
    if not 0 <= keep <= values.shape[1]:
        raise ValueError(f"keep must be between 0 and {values.shape[1]}, got {keep}")
    offset = int(leading_zero)
    out = np.empty((values.shape[0], keep + offset))
    factors = _NO_FACTORS if times is None else _one_or_per_row(times, "times", values.shape[0], keep)
    _cumulative_rows(values, factors, out, offset)
    return out


def sloped_rows(const: np.ndarray, slope: np.ndarray, cum_weight: np.ndarray, n_states: int) -> np.ndarray:
    """The timeline log-likelihood's rows: the running sum of ``const`` plus the running sums of the two slopes
    times the cumulative image weight and the state: numpy's ``cumsum(const)[:, :S] + (cumsum(late)[:, :S] *
    cum_weight[..., :S] + cumsum(early)[:, :S] * arange(S))``, the same bits, in one pass without temporaries.

    Parameters
    ----------
    const : ndarray, rows x width
        A difference array per building.
    slope : ndarray, (2 rows) x width
        The late slopes' difference arrays (the first ``rows`` rows), then the early slopes'.
    cum_weight : ndarray, width or rows x width
        The cumulative image weight at each state (one row for every building, or one per building).
    n_states : int
        Columns kept (at most ``width``).

    Examples
    --------
    >>> const = np.array([[1.0, 0.0, 0.0]])
    >>> slope = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    >>> sloped_rows(const, slope, np.array([0.0, 1.0, 3.0]), 3)
    array([[1., 2., 8.]])
    """
    const = np.ascontiguousarray(const, dtype=np.float64)
    slope = np.ascontiguousarray(slope, dtype=np.float64)
    n_rows = const.shape[0]
    if slope.shape[0] != 2 * n_rows:
        raise ValueError(f"slope {slope.shape} must hold two rows per row of const {const.shape}")
    weight = _one_or_per_row(cum_weight, "cum_weight", n_rows, n_states)
    out = np.empty((n_rows, n_states))
    _sloped_rows(const, slope, weight, out)
    return out


def shifted_rows(log_likelihood: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log_likelihood + log_prior`` less each row's maximum, and the maxima: numpy's ``z = L + p``,
    ``z.max(axis=1)``, ``z - max`` in one pass, the same bits.

    ``log_prior`` is one row for every building (states) or one per building (buildings x states).

    Examples
    --------
    >>> shifted, top = shifted_rows(np.log([[1.0, 3.0]]), np.log([0.5, 0.5]))
    >>> np.exp(shifted).round(6).tolist(), np.exp(top).round(6).tolist()
    ([[0.333333, 1.0]], [1.5])
    """
    log_likelihood = np.ascontiguousarray(log_likelihood, dtype=np.float64)
    if log_likelihood.ndim != 2:
        raise ValueError(f"shifted_rows takes a 2-d log_likelihood, got {log_likelihood.ndim} dimensions")
    n_rows, n_states = log_likelihood.shape
    prior = _one_or_per_row(log_prior, "log_prior", n_rows, n_states, exact=True)
    out = np.empty(log_likelihood.shape)
    shift = np.empty(log_likelihood.shape[0])
    _shifted_rows(log_likelihood, prior, out, shift)
    return out, shift


@overload
def normalize_rows(values: np.ndarray) -> np.ndarray: ...


@overload
def normalize_rows(values: np.ndarray, sum_columns: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...


def normalize_rows(values: np.ndarray, sum_columns: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Divide each row of ``values`` (C-contiguous float64, in place) by its sum, and return the sums: numpy's
    ``norm = values.sum(axis=1)``, ``values /= norm`` (its pairwise summation), the same bits. With
    ``sum_columns``, also the sums of the normalized columns, ``values.sum(axis=0)`` after the division (the same
    bits as :func:`column_sums`), made in the same pass: ``(norm, sums)``.

    Examples
    --------
    >>> rows = np.array([[1.0, 3.0], [2.0, 2.0]])
    >>> normalize_rows(rows).tolist(), rows.tolist()
    ([4.0, 4.0], [[0.25, 0.75], [0.5, 0.5]])
    >>> norm, sums = normalize_rows(np.array([[1.0, 3.0], [2.0, 2.0]]), sum_columns=True)
    >>> sums.tolist()
    [0.75, 1.25]
    """
    if values.ndim != 2 or values.dtype != np.float64 or not values.flags.c_contiguous or not values.flags.writeable:
        raise ValueError("normalize_rows takes a writeable, C-contiguous 2-d float64 array")
    norm = np.empty(values.shape[0])
    # one column is summed pairwise by numpy (column_sums knows how): none in the pass then
    in_pass = sum_columns and values.shape[1] > 1
    sums = np.empty(values.shape[1] if in_pass else 0)
    _normalize_rows(values, norm, sums)
    if not sum_columns:
        return norm
    return norm, sums if in_pass else column_sums(values)


def column_sums(values: np.ndarray) -> np.ndarray:
    """The sum of each column of a 2-d float64 array over its rows: numpy's ``values.sum(axis=0)``, which adds
    the rows one after another (of two columns or more), the same bits, in one pass (numpy's costs a loop per
    row: 0.65 ms against 0.28 on 11,111 rows of 51).

    Examples
    --------
    >>> column_sums(np.array([[1.0, 2.0], [0.5, 0.25]])).tolist()
    [1.5, 2.25]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"column_sums takes a 2-d array, got {values.ndim} dimensions")
    if values.shape[1] == 1:  # one column is one contiguous run, which numpy sums pairwise
        return values.sum(axis=0)
    out = np.empty(values.shape[1])
    _column_sums(values, out)
    return out


def row_search(cum: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per query ``i``, the first position ``k`` in row ``rows[i]`` of ``cum`` (rows non-decreasing) with
    ``cum[rows[i], k] >= values[i]``, the row's length where there is none: ``np.searchsorted(cum[rows[i]],
    values[i], side="left")`` for every query, one binary search each in one compiled pass.

    Examples
    --------
    >>> cum = np.array([[0.0, 1.0, 2.0], [0.0, 0.5, 0.5]])
    >>> row_search(cum, np.array([0, 0, 1, 1]), np.array([1.0, 5.0, 0.5, -1.0])).tolist()
    [1, 3, 1, 0]
    """
    cum = np.ascontiguousarray(cum, dtype=np.float64)
    rows = np.asarray(rows)
    values = np.ascontiguousarray(values, dtype=np.float64)
    if cum.ndim != 2 or rows.shape != values.shape or rows.ndim != 1:
        raise ValueError("row_search takes a 2-d cum and as many rows as values")
    if rows.size and (rows.min() < 0 or rows.max() >= cum.shape[0]):
        raise ValueError(f"rows must lie in 0..{cum.shape[0] - 1}")
    out = np.empty(rows.size, dtype=np.int64)
    _row_search(cum, rows, values, out)
    return out


def skip_sums(cover: np.ndarray, cumulative: np.ndarray, offset: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Per image ``k``, the sum over buildings of ``(cover[:, k] * cumulative[:, k + 1] - offset[:, k]) *
    share[:, k]``: numpy's ``((cover * cumulative[:, 1 : n + 1] - offset) * share).sum(axis=0)`` (the expected
    skips of every image under clouds), the same bits, without its three temporary arrays.

    Examples
    --------
    >>> ones = np.ones((2, 2))
    >>> skip_sums(ones, np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 4.0]]), ones * 0.5, ones).tolist()
    [3.0, 5.0]
    """
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (cover, cumulative, offset, share)]
    cover, cumulative, offset, share = arrays
    n_rows, n = cover.shape
    if offset.shape != (n_rows, n) or share.shape != (n_rows, n) or cumulative.shape[0] != n_rows:
        raise ValueError("skip_sums takes cover, offset and share of one shape, and cumulative with as many rows")
    if cumulative.shape[1] < n + 1:
        raise ValueError(f"cumulative needs at least {n + 1} columns, got {cumulative.shape[1]}")
    if n == 1:  # one column, which numpy sums pairwise
        return column_sums((cover * cumulative[:, 1:2] - offset) * share)
    out = np.empty(n)
    _skip_sums(cover, cumulative, offset, share, out)
    return out


# the crowd types' sums may be reassociated (vectorised): they are not numpy's to match, and a fixed build adds in
# a fixed order (NaN and infinity keep their meaning: no "nnan" or "ninf")
_REASSOCIATE = {"reassoc", "contract", "nsz", "arcp"}
_LEAST_SCORE = -700.0


@numba.njit(nogil=True, cache=True, fastmath=_REASSOCIATE)
def _type_log_likelihoods(
    log_centre: np.ndarray,
    log_centre_miss: np.ndarray,
    log_weight: np.ndarray,
    events: np.ndarray,
    misses: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled; run through crowd_type_steps
    n_types, n_params = log_centre.shape
    n_volunteers = events.shape[1]
    for t in range(n_types):
        for v in range(n_volunteers):
            out[t, v] = log_weight[t]
        for p in range(n_params):
            a, b = log_centre[t, p], log_centre_miss[t, p]
            for v in range(n_volunteers):
                out[t, v] += a * events[p, v] + b * misses[p, v]
    top = out[0].copy()
    for t in range(1, n_types):
        for v in range(n_volunteers):
            top[v] = max(top[v], out[t, v])
    for t in range(n_types):
        for v in range(n_volunteers):
            # a type 700 nats behind the best keeps e^-700 (1e-304, nothing beside the best's 1) rather than
            # underflowing: numpy's exponential takes a slow path below -707, 9 to 20 times slower
            out[t, v] = max(out[t, v] - top[v], _LEAST_SCORE)


@numba.njit(nogil=True, cache=True, fastmath=_REASSOCIATE, error_model="numpy")
def _type_responsibilities(
    resp: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
    centre_num: np.ndarray,
    centre_den: np.ndarray,
    type_share: np.ndarray,
) -> None:  # pragma: no cover - compiled; run through crowd_type_steps
    n_types, n_volunteers = resp.shape
    n_params = num.shape[0]
    total = np.zeros(n_volunteers)
    for t in range(n_types):
        for v in range(n_volunteers):
            total[v] += resp[t, v]
    for t in range(n_types):
        share = 0.0
        for v in range(n_volunteers):
            resp[t, v] /= total[v]
            share += resp[t, v]
        type_share[t] = share
        for p in range(n_params):
            events, chances = 0.0, 0.0
            for v in range(n_volunteers):
                events += resp[t, v] * num[p, v]
                chances += resp[t, v] * den[p, v]
            centre_num[t, p], centre_den[t, p] = events, chances


@numba.njit(nogil=True, cache=True, fastmath=_REASSOCIATE)
def _crowd_type_scores(
    centres: np.ndarray,
    weights: np.ndarray,
    events: np.ndarray,
    misses: np.ndarray,
    clip: float,
    resp: np.ndarray,
) -> None:  # pragma: no cover - compiled; run through crowd_type_steps
    n_types, n_params = centres.shape
    log_centre = np.empty((n_types, n_params))
    log_centre_miss = np.empty((n_types, n_params))
    log_weight = np.log(weights)
    for t in range(n_types):
        for p in range(n_params):
            c = min(max(centres[t, p], clip), 1.0 - clip)
            log_centre[t, p], log_centre_miss[t, p] = np.log(c), np.log1p(-c)
    _type_log_likelihoods(log_centre, log_centre_miss, log_weight, events, misses, resp)


@numba.njit(nogil=True, cache=True, fastmath=_REASSOCIATE, error_model="numpy")
def _crowd_type_update(
    resp: np.ndarray,
    events: np.ndarray,
    chances: np.ndarray,
    pseudo: np.ndarray,
    pseudo_count: float,
    centres: np.ndarray,
    weights: np.ndarray,
) -> None:  # pragma: no cover - compiled; run through crowd_type_steps
    n_types, n_params = centres.shape
    n_volunteers = events.shape[1]
    centre_num = np.empty((n_types, n_params))
    centre_den = np.empty((n_types, n_params))
    share = np.empty(n_types)
    _type_responsibilities(resp, events, chances, centre_num, centre_den, share)
    for t in range(n_types):
        weights[t] = (share[t] + 1.0) / (n_volunteers + n_types)
        for p in range(n_params):
            centres[t, p] = (centre_num[t, p] + pseudo[p]) / (centre_den[t, p] + pseudo_count)


def crowd_type_steps(
    centres: np.ndarray,
    weights: np.ndarray,
    events: np.ndarray,
    chances: np.ndarray,
    pseudo: np.ndarray,
    pseudo_count: float,
    n_steps: int,
    clip: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_steps`` EM steps of the crowd types; returns the new centres, weights and the last step's
    responsibilities (types x volunteers).

    Each step: the types' centres clipped into ``[clip, 1 - clip]``; each volunteer's log-likelihood under each
    type, ``log w_t + sum_p (events[p, v] log c[t, p] + (chances - events)[p, v] log(1 - c[t, p]))``; its
    responsibilities (the exponentials of the scores less the best type's, floored at -700, normalised over the
    types); then the centres ``(resp @ events.T + pseudo) / (resp @ chances.T + pseudo_count)`` and the weights
    ``(resp.sum(axis=1) + 1) / (volunteers + types)``. Two compiled passes a step, with numpy's exponential
    between them, in place of a dozen numpy calls whose overhead was most of the M-step at a few hundred
    volunteers.

    Parameters
    ----------
    centres : ndarray, types x parameters
        The types' parameters at the start.
    weights : ndarray, types
        The types' shares of the crowd at the start.
    events, chances : ndarray, parameters x volunteers
        Per volunteer and parameter, the expected events and chances.
    pseudo : ndarray, parameters
        Pseudo-events added to each type's sums (``pseudo_count`` pseudo-chances times the defaults).
    pseudo_count : float
        Pseudo-chances added to each type's sums.
    n_steps : int
        Steps to take (at least one).
    clip : float
        How far the centres are kept from 0 and 1 when they are used.

    Examples
    --------
    >>> centres, weights, resp = crowd_type_steps(np.array([[0.9], [0.5]]), np.array([0.5, 0.5]),
    ...     np.array([[9.0, 1.0]]), np.array([[10.0, 10.0]]), np.array([7.0]), 10.0, 1, 1e-4)
    >>> resp.argmax(axis=0).tolist(), bool(np.allclose(resp.sum(axis=0), 1))
    ([0, 1], True)
    """
    if n_steps < 1:
        raise ValueError(f"crowd_type_steps takes at least one step, not {n_steps}")
    centres = np.array(centres, dtype=np.float64, order="C")
    weights = np.array(weights, dtype=np.float64)
    events = np.ascontiguousarray(events, dtype=np.float64)
    chances = np.ascontiguousarray(chances, dtype=np.float64)
    pseudo = np.ascontiguousarray(pseudo, dtype=np.float64)
    if (
        events.shape != chances.shape
        or centres.shape[1] != events.shape[0]
        or weights.shape != centres.shape[:1]
        or pseudo.shape != centres.shape[1:]
    ):
        raise ValueError(
            f"crowd_type_steps: centres {centres.shape}, weights {weights.shape}, events {events.shape} and "
            f"chances {chances.shape} and pseudo {pseudo.shape} do not fit (types x parameters, types, parameters "
            "x volunteers, parameters)"
        )
    misses = chances - events
    resp = np.empty((centres.shape[0], events.shape[1]))
    for _ in range(n_steps):
        _crowd_type_scores(centres, weights, events, misses, float(clip), resp)
        np.exp(resp, out=resp)  # numpy's vectorised exponential: several times faster than a compiled loop's
        _crowd_type_update(resp, events, chances, pseudo, float(pseudo_count), centres, weights)
    return centres, weights, resp
