"""The in-memory E-step on blocks of buildings: one answer model per block, run on a pool of threads.

The E-step is additive over buildings (:class:`~stracker.consensus.model.SufficientStatistics` add up), so the
in-memory engine splits the table into blocks of contiguous building codes, holds one
:class:`~stracker.consensus.model.AnswerModel` per block (as the Dask engine holds one per shard) and sums their
statistics. Two things come of it:

* every core works: the blocks' models are built, and their E-steps run, on a pool of threads. Their work is
  numpy ufuncs, ``np.bincount``, fancy indexing, cumulative sums, scipy's sparse products and the compiled
  loops of :mod:`stracker.consensus.kernels`, which release the GIL while they run;
* the work of a block stays near the core: its buildings x states arrays (log-likelihood, posterior, cumulative
  sums) are small enough to stay in the core's cache through the passes of its E-step (which is what a timeline
  campaign, 11,000 buildings x 51 states for 77,000 answers, spends its time on), and a block is built without
  sorting the table's answers.

The blocks depend on the table alone (answers, buildings, states and volunteers), never on the number of threads,
and the statistics of the blocks are summed in block order: any number of threads gives the same numbers, bit
for bit. Blocks of other sizes sum in another order, which moves results by rounding only (a few 1e-15).
A table small enough for one block is one :class:`~stracker.consensus.model.AnswerModel`, as before blocks.

Per-building inputs are cut into blocks in one place, :func:`block_model` (the block's answers, its rows of the
visibility, its gold buildings), and :meth:`BlockedAnswerModel.block_state` for the state of an E-step: whatever
the answer models come to take per building has its slice made there. A building prior (the spatial prior,
``ModelState.building_prior``) ties every building to its neighbours: under one, the blocks' log-likelihoods
are computed on the pool, the prior's step and the posterior over every building at once, and then the blocks'
statistics on the pool again.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from stracker.consensus.kernels import building_counts
from stracker.consensus.model import (
    AnswerModel,
    EStep,
    GoldStates,
    ModelState,
    SufficientStatistics,
    posterior_and_evidence,
    sum_statistics,
)
from stracker.consensus.sparse import stable_order
from stracker.errors import LabelsError
from stracker.labels import EncodedLabels
from stracker.parallel import resolve_threads, thread_map

__all__ = [
    "CELL_ANSWERS",
    "MAX_CELLS",
    "MIN_BLOCKS",
    "MIN_WORK",
    "VOLUNTEER_ANSWERS",
    "BlockedAnswerModel",
    "BuildingBlock",
    "block_count",
    "block_model",
    "block_table",
    "building_blocks",
    "table_work",
]

MAX_CELLS = 2**17
"""Building-state cells a block holds at most, when the table has work enough for more blocks: its arrays of
buildings x states (8 bytes a cell) then stay in a core's cache through the passes of its E-step."""

MIN_BLOCKS = 4
"""Blocks a table is split into at least, when it has work enough for them, to share among a few threads."""

MIN_WORK = 2**17
"""The least work of a block, in answers (a building-state cell counting :data:`CELL_ANSWERS`): the Python
overhead of a block's E-step (under 0.1 ms) stays small beside its work, and blocks this large pay on threads
(measured on a 2-vCPU machine, 80 fits alternating: 200,000 compare answers, 431,000 answers' work, in 2 blocks
took 0.85 times as long on 2 threads as in one block, median, and 1.09 times on one thread; 2 blocks paid on 2
threads only once the caller's thread worked beside the pool's, :meth:`BlockedAnswerModel.map`)."""

CELL_ANSWERS = 4
"""One building-state cell costs an E-step about as much as this many answers."""

VOLUNTEER_ANSWERS = 128
"""A block's statistics hold arrays the size of the volunteers: a block does at least this much work (in answers)
per volunteer, so that they stay a small part of it (else the blocks of a table with many volunteers would cost
more in them than they save)."""

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BuildingBlock:
    """Buildings ``start`` to ``stop - 1`` (codes) and the positions of their answers in the table.

    ``answers`` is a slice when the table is sorted by building, else the answers' positions in table order.
    """

    start: int
    stop: int
    answers: slice | np.ndarray


def table_work(enc: EncodedLabels) -> int:
    """A table's E-step work in answers: its answers, and its building-state cells at :data:`CELL_ANSWERS` each.

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": 1, "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
    >>> table_work(encode_labels(labels))  # 2 answers, 2 buildings x 3 cells (one image: 2 states, +1)
    26
    """
    return enc.n_answers + CELL_ANSWERS * enc.n_buildings * (enc.n_states + 1)


def block_count(enc: EncodedLabels) -> int:
    """How many blocks a table is split into: enough that a block's buildings x states fit :data:`MAX_CELLS`, and
    :data:`MIN_BLOCKS` at least, as long as each does :data:`MIN_WORK` and :data:`VOLUNTEER_ANSWERS` per volunteer;
    an even number (or one).

    Only the table's shape decides it (never the number of threads). A table of a few thousand answers is one
    block; 2 million compare answers about 11,000 buildings (50 images) are 4.

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": 1, "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
    >>> block_count(encode_labels(labels))
    1
    """
    B, V = enc.n_buildings, max(enc.n_volunteers, 1)
    cells = B * (enc.n_states + 1)
    work = table_work(enc)
    wanted = max(-(-cells // MAX_CELLS), MIN_BLOCKS)
    most = min(work // MIN_WORK, work // (VOLUNTEER_ANSWERS * V), B)
    n_blocks = min(wanted, most)
    # an even number, so that two threads share the blocks evenly (three blocks on two threads take two blocks' time)
    return max(1, n_blocks - n_blocks % 2 if n_blocks > 1 else n_blocks)


def building_blocks(enc: EncodedLabels, n_blocks: int | None = None) -> list[BuildingBlock]:
    """Split a table into ``n_blocks`` (default :func:`block_count`) blocks of contiguous building codes of about
    equal work (a block's answers, and its buildings' states at :data:`CELL_ANSWERS` answers each).

    Answers of a table not sorted by building are grouped by block with one stable radix pass; within a block
    they keep their order.

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [3, 1, 2, 1], "volunteer_id": [1, 2, 3, 4], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 4), "destroyed": True, "task": "compare"})
    >>> blocks = building_blocks(encode_labels(labels), n_blocks=2)
    >>> [(b.start, b.stop, b.answers.tolist()) for b in blocks]
    [(0, 2, [1, 2, 3]), (2, 3, [0])]
    """
    B, W = enc.n_buildings, enc.n_states + 1
    n_blocks = max(1, min(B, block_count(enc) if n_blocks is None else n_blocks))
    if n_blocks == 1:
        return [BuildingBlock(0, B, slice(0, enc.n_answers))]
    building = enc.building
    by_building, counts = building_counts(building, B)  # one compiled pass
    cumulative = np.cumsum(counts + CELL_ANSWERS * W)
    total = int(cumulative[-1])
    # block k ends after the building where the work reaches k / n_blocks of the total
    ends = np.searchsorted(cumulative, np.arange(1, n_blocks) * (total / n_blocks)) + 1
    bounds = np.unique(np.concatenate([[0], np.minimum(ends, B), [B]]))
    answer_bounds = np.concatenate([[0], np.cumsum(counts)])[bounds]
    if by_building:
        return [
            BuildingBlock(int(a), int(b), slice(int(s), int(e)))
            for a, b, s, e in zip(bounds[:-1], bounds[1:], answer_bounds[:-1], answer_bounds[1:], strict=True)
        ]
    block_of = np.repeat(np.arange(len(bounds) - 1, dtype=np.int32), np.diff(bounds))
    order = stable_order(block_of[building])
    return [
        BuildingBlock(int(a), int(b), order[s:e])
        for a, b, s, e in zip(bounds[:-1], bounds[1:], answer_bounds[:-1], answer_bounds[1:], strict=True)
    ]


def block_table(enc: EncodedLabels, block: BuildingBlock) -> EncodedLabels:
    """The answers of one block as a table of its own: local building codes, the global volunteer codes and images.

    The one place a block's slice of the per-building inputs is made (a per-building array the answer models come
    to take is cut here too, as ``building_ids``).
    """
    rows = block.answers
    return EncodedLabels(
        building_ids=enc.building_ids[block.start : block.stop],
        volunteer_ids=enc.volunteer_ids,
        image_dates=enc.image_dates,
        building=(enc.building[rows] - np.int32(block.start)).astype(np.int32, copy=False),
        volunteer=enc.volunteer[rows],
        lo=enc.lo[rows],
        hi=enc.hi[rows],
        answer=enc.answer[rows],
        task=enc.task[rows],
        row_index=pd.RangeIndex(len(enc.building[rows]) if isinstance(rows, slice) else rows.size),
    )


def block_model(
    enc: EncodedLabels,
    block: BuildingBlock,
    visibility: np.ndarray | None = None,
    gold: GoldStates | None = None,
) -> AnswerModel:
    """The answer model of one block: its table (:func:`block_table`) with its slices of the per-building inputs,
    the rows of ``visibility`` (buildings x images, in building-code order) and the gold buildings among its own.

    The one place a block's share of what the answer models take per building is cut.
    """
    if gold is not None:
        mine = (gold.rows >= block.start) & (gold.rows < block.stop)
        gold = GoldStates(gold.rows[mine] - block.start, gold.allowed[mine])
    return AnswerModel(
        block_table(enc, block),
        visibility=None if visibility is None else visibility[block.start : block.stop],
        gold=gold,
    )


def _posterior_of(step: EStep) -> np.ndarray:
    posterior = step.posterior
    assert posterior is not None  # an AnswerModel's E-step always has it
    return posterior


class BlockedAnswerModel:
    """The answer models of a table as blocks of buildings, with one E-step over all of them.

    It has :class:`~stracker.consensus.model.AnswerModel`'s ``e_step``: the posterior of every building (in
    building-code order), the log-likelihood, and the statistics summed over the blocks. The blocks' models are
    built, and their E-steps run, on ``threads`` threads (``workers``: as many as there are blocks at most); the
    numbers do not depend on how many.
    Use it as a context manager (or call :meth:`close`): once closed it runs on the caller's thread alone.

    Parameters
    ----------
    enc : EncodedLabels
        The answers.
    threads : int, optional
        Threads to run on (see :func:`stracker.parallel.resolve_threads`).
    n_blocks : int, optional
        Blocks (default :func:`block_count`).
    visibility, gold : optional
        As :class:`~stracker.consensus.model.AnswerModel` takes them, for the whole table (cut per block by
        :func:`block_model`).
    alongside : callable, optional
        ``alongside(table)`` of each block's table, run in the task that builds the block's model, while the
        table is still in the cache (a fit's per-building counts: one round over the blocks, not two). The
        results, in block order, are ``block_results`` (empty without it).

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> from stracker.consensus.model import resolve_params
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2], "volunteer_id": ["a", "b", "a"], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 3), "destroyed": [True, True, False], "task": "compare"})
    >>> enc = encode_labels(labels)
    >>> state = ModelState(resolve_params(None, enc.volunteer_ids), np.ones(1), np.log([0.5, 0.5]))
    >>> with BlockedAnswerModel(enc, threads=2, n_blocks=2) as model:
    ...     step = model.e_step(state)
    ...     len(model.blocks), step.posterior.round(3).tolist(), step.statistics.n_buildings
    (2, [[0.941, 0.059], [0.2, 0.8]], 2)
    """

    def __init__(
        self,
        enc: EncodedLabels,
        *,
        threads: int | None = None,
        n_blocks: int | None = None,
        visibility: np.ndarray | None = None,
        gold: GoldStates | None = None,
        alongside: Callable[[EncodedLabels], Any] | None = None,
    ) -> None:
        self.threads = resolve_threads(threads)
        self.enc = enc
        self.blocks = building_blocks(enc, n_blocks)
        self.n_buildings, self.n_states = enc.n_buildings, enc.n_states
        if visibility is not None:
            visibility = np.asarray(visibility, dtype=float)
            if visibility.shape != (enc.n_buildings, enc.n_images):
                raise LabelsError(
                    f"visibility has shape {visibility.shape}; it needs one row per building and one column "
                    f"per image, {(enc.n_buildings, enc.n_images)}."
                )
        self.workers = min(self.threads, len(self.blocks))
        self._open = True

        def build(block: BuildingBlock) -> tuple[AnswerModel, Any]:
            model = block_model(enc, block, visibility, gold)
            return model, None if alongside is None else alongside(model.enc)

        built = self.map(build, self.blocks)
        self.models = [model for model, _ in built]
        self.block_results: list[Any] = [] if alongside is None else [result for _, result in built]

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]`` on ``workers`` threads, the caller's one of them
        (:func:`stracker.parallel.thread_map`; on the caller's alone once closed). If calls fail, the error of the
        first failing item in order is raised, as ``[fn(item) for item in items]`` would."""
        return thread_map(fn, items, self.workers if self._open else 1)

    def over_blocks(self, fn: Callable[[EncodedLabels], R]) -> list[R]:
        """``fn`` of every block's table (:func:`block_table`, as its model holds it), in block order, on the
        threads."""
        return self.map(lambda model: fn(model.enc), self.models)

    def block_state(self, state: ModelState, index: int) -> ModelState:
        """The state block ``index``'s E-step runs under on its own: ``state`` (its parts are per volunteer and per
        image; a building prior, the one per-building part, needs every building at once, and :meth:`e_step` runs
        it between the blocks' log-likelihoods and their statistics)."""
        if state.building_prior is not None and len(self.blocks) > 1:
            raise RuntimeError("a building prior ties buildings across blocks: its E-step is BlockedAnswerModel's")
        return state

    def _e_step_with_prior(self, state: ModelState, volunteer_statistics: bool, eager: bool) -> EStep:
        """The E-step under a building prior, which ties every building to others: the blocks' log-likelihoods
        on the pool, the prior's step and the posterior over every building at once, then the blocks'
        statistics on the pool (from the posterior under the campaign prior alone, as one model's E-step takes
        them) and the prior's own statistics over every building."""
        prior = state.building_prior
        assert prior is not None  # the caller's test
        terms = self.map(
            lambda model: model.log_likelihood(state.params, state.image_weight, state.compare_reliability, state.logs),
            self.models,
        )
        by_state = np.concatenate([part.by_state for part in terms])
        prior_step = prior.step(by_state, state.log_prior)
        posterior, log_evidence = posterior_and_evidence(by_state, prior_step.log_prior)
        log_likelihood = log_evidence + sum(part.constant for part in terms)  # in block order

        def block_statistics(i: int) -> SufficientStatistics:
            block, part = self.blocks[i], terms[i]
            independent = prior_step.independent[block.start : block.stop]
            return self.models[i].statistics(independent, state, part.breaks, 0.0, volunteer_statistics, part.compare)

        def statistics() -> SufficientStatistics:
            total = sum_statistics(self.map(block_statistics, range(len(self.models))))
            return dataclasses.replace(
                total, log_likelihood=log_likelihood, prior_statistics=prior_step.statistics(posterior)
            )

        step = EStep(posterior, log_likelihood, statistics)
        if eager:
            step.statistics  # noqa: B018 - made here, read by the M-step
        return step

    def e_step(self, state: ModelState, volunteer_statistics: bool = True, eager: bool = False) -> EStep:
        """The E-step of every block under ``state``: as :meth:`stracker.consensus.model.AnswerModel.e_step`.

        The statistics (summed in block order) and the whole posterior (the blocks' joined) are made when first
        read; the blocks' steps are held until then, as one model's step holds its arrays. With ``eager``, each
        block's statistics are made in the block's own task, right after its posterior (still in the cache), for a
        caller that will read them: the same numbers, in one pass over the blocks instead of two (measured on 2
        million compare answers, 4 blocks on 2 threads: 0.63 of one thread's time, against 0.79 in two passes).
        """

        def block_step(i: int) -> EStep:
            step = self.models[i].e_step(self.block_state(state, i), volunteer_statistics)
            if eager:
                step.statistics  # noqa: B018 - made here, read by the sum
            return step

        if len(self.models) > 1:
            # the parameters' logs, which every block reads, made once here: made by the first block to need
            # them, the others would wait on the cached property's lock (or make them again) while it does
            state.logs  # noqa: B018
        if state.building_prior is not None and len(self.models) > 1:
            return self._e_step_with_prior(state, volunteer_statistics, eager)
        steps = self.map(block_step, range(len(self.models)))
        if len(steps) == 1:
            return steps[0]

        summed: SufficientStatistics | Callable[[], SufficientStatistics]
        if eager:  # made in the blocks' tasks: summed here, without another round of tasks
            summed = sum_statistics(step.statistics for step in steps)
        else:
            summed = lambda: sum_statistics(self.map(operator.attrgetter("statistics"), steps))  # noqa: E731
        return EStep(
            lambda: np.concatenate([_posterior_of(step) for step in steps]),
            sum(step.log_likelihood for step in steps),  # in block order, as the statistics add up
            summed,
        )

    def close(self) -> None:
        """Run on the caller's thread alone from now on (the threads are the process's pool,
        :func:`stracker.parallel.shared_pool`, and stay for the next fit)."""
        self._open = False

    def __enter__(self) -> BlockedAnswerModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
