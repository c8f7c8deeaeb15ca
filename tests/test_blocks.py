"""The in-memory E-step on blocks of buildings (``stracker/consensus/blocks.py``): the same numbers whatever the
threads (bit for bit), the block sizes and the row order (to rounding), and the thread option checked."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import warnings

import numpy as np
import pandas as pd
import pytest
from campaigns import assert_same_consensus, mixed_table
from click.testing import CliRunner

import stracker
from stracker.cli import cli
from stracker.consensus import blocks
from stracker.consensus.blocks import MIN_WORK, BlockedAnswerModel, building_blocks, table_work
from stracker.consensus.em import MStep, fit_em
from stracker.consensus.model import AnswerModel, EStep, sum_statistics
from stracker.errors import OptionsError
from stracker.labels import COMPARE, TIMELINE, encode_labels
from stracker.parallel import THREADS_VARIABLE, available_cpus, resolve_threads


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Timeline marks, no-destruction answers and compare answers (some can't tell) about 400 buildings, rows
    in random order."""
    return mixed_table(seed=3)


@pytest.fixture(scope="module")
def enc(mixed):
    labels, dates = mixed
    return encode_labels(labels, dates)


def _state(enc):
    """A state after one M-step (image weights and parameters away from their defaults): the second E-step's."""
    return fit_em(enc, options=stracker.EMOptions(max_iter=2, tol=0.0)).state


def _aggregate(labels, dates, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stracker.aggregate(labels, dates, **kwargs)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few thousand answers' work, so that small tables have many (the defaults make one)."""
    monkeypatch.setattr(blocks, "MAX_CELLS", 300)
    monkeypatch.setattr(blocks, "MIN_WORK", 1)
    monkeypatch.setattr(blocks, "VOLUNTEER_ANSWERS", 1)


@pytest.mark.parametrize("n_blocks", [1, 2, 7, 400, 10**9])
def test_blocks_split_the_buildings_and_the_answers(enc, n_blocks):
    found = building_blocks(enc, n_blocks)
    starts = [b.start for b in found]
    assert starts[0] == 0 and found[-1].stop == enc.n_buildings
    assert all(a.stop == b.start and a.start < a.stop for a, b in itertools.pairwise(found))
    assert len(found) <= min(n_blocks, enc.n_buildings)  # blocks of equal work: one building each may merge
    assert len(found) == n_blocks or n_blocks > 7
    positions = np.concatenate([np.arange(enc.n_answers)[b.answers] for b in found])
    np.testing.assert_array_equal(np.sort(positions), np.arange(enc.n_answers))  # every answer, once
    for block in found:
        codes = enc.building[block.answers]
        assert ((codes >= block.start) & (codes < block.stop)).all()
        assert (np.diff(np.arange(enc.n_answers)[block.answers]) > 0).all()  # table order kept within a block


def test_a_table_sorted_by_building_gives_slices(enc):
    order = np.argsort(enc.building, kind="stable")
    sorted_enc = dataclasses.replace(
        enc, **{name: getattr(enc, name)[order] for name in ("building", "volunteer", "lo", "hi", "answer", "task")}
    )
    found = building_blocks(sorted_enc, 7)
    assert all(isinstance(b.answers, slice) for b in found)
    assert [(b.start, b.stop) for b in found] == [(b.start, b.stop) for b in building_blocks(enc, 7)]


@pytest.mark.parametrize("n_blocks", [2, 7, 400])
def test_the_e_step_on_blocks_is_the_e_step_of_the_table(enc, n_blocks):
    state = _state(enc)
    whole = AnswerModel(enc).e_step(state)
    with BlockedAnswerModel(enc, threads=2, n_blocks=n_blocks) as model:
        assert len(model.blocks) > 1
        step = model.e_step(state)
        got, expected = step.statistics, whole.statistics
        np.testing.assert_allclose(step.posterior, whole.posterior, rtol=0, atol=1e-13)
        assert step.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-13)
        assert got.log_likelihood == step.log_likelihood
        assert (got.n_buildings, got.n_marks) == (expected.n_buildings, expected.n_marks)
        np.testing.assert_array_equal(got.observed, expected.observed)
        for name in ("posterior_sum", "num", "den", "image_skips", "image_notices"):
            np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12, atol=1e-10)
        fixed = model.e_step(state, volunteer_statistics=False).statistics  # the prior-only statistics
        assert not fixed.observed.any() and fixed.n_buildings == enc.n_buildings


def test_threads_give_the_same_numbers_bit_for_bit(enc):
    state = _state(enc)
    steps = []
    for threads, eager in ((1, False), (2, False), (3, False), (1, True), (2, True)):
        with BlockedAnswerModel(enc, threads=threads, n_blocks=9) as model:
            assert model.workers == threads
            step = model.e_step(state, eager=eager)  # eager: each block's statistics made in its own task
            steps.append((step.posterior, step.log_likelihood, step.statistics))
    for posterior, log_likelihood, statistics in steps[1:]:
        np.testing.assert_array_equal(posterior, steps[0][0])
        assert log_likelihood == steps[0][1]
        for name in ("posterior_sum", "num", "den", "image_skips", "image_notices"):
            np.testing.assert_array_equal(getattr(statistics, name), getattr(steps[0][2], name))


def test_aggregate_on_any_threads_is_the_same_fit_bit_for_bit(mixed, small_blocks):
    labels, dates = mixed
    one = _aggregate(labels, dates, threads=1)
    for threads in (2, 4):
        other = _aggregate(labels, dates, threads=threads)
        np.testing.assert_array_equal(other.posterior, one.posterior)
        assert other.log_likelihood == one.log_likelihood and other.n_iter == one.n_iter
        pd.testing.assert_frame_equal(other.volunteers, one.volunteers)
        pd.testing.assert_frame_equal(other.buildings, one.buildings)


def test_block_sizes_and_row_order_change_the_fit_by_rounding_only(mixed, monkeypatch):
    labels, dates = mixed
    assert blocks.block_count(encode_labels(labels, dates)) == 1  # the table is small
    reference = _aggregate(labels, dates)
    monkeypatch.setattr(blocks, "MIN_WORK", 1)
    monkeypatch.setattr(blocks, "VOLUNTEER_ANSWERS", 1)
    for max_cells in (200, 600, 3_000):
        monkeypatch.setattr(blocks, "MAX_CELLS", max_cells)
        wanted = max(-(-400 * 12 // max_cells), blocks.MIN_BLOCKS)
        assert blocks.block_count(encode_labels(labels, dates)) == wanted - wanted % 2
        assert_same_consensus(_aggregate(labels, dates, threads=2), reference, atol=1e-12)
        shuffled = labels.sample(frac=1.0, random_state=max_cells)
        assert_same_consensus(_aggregate(shuffled, dates, threads=2), reference, atol=1e-12)
        by_building = labels.sort_values("building_id", kind="stable")  # blocks as slices of the table
        assert_same_consensus(_aggregate(by_building, dates, threads=2), reference, atol=1e-12)


def test_the_posterior_of_a_step_may_be_made_when_read():
    made = []

    def posterior():
        made.append(1)
        return np.ones((2, 3)) / 3

    step = EStep(posterior, -1.0, lambda: None)  # type: ignore[arg-type, return-value]
    assert not made
    assert step.posterior is step.posterior and len(made) == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_threads_must_be_a_whole_number(mixed, bad):
    labels, dates = mixed
    with pytest.raises(OptionsError, match=r"threads must be a whole number >= 1.*got"):
        _aggregate(labels, dates, threads=bad)
    with pytest.raises(OptionsError, match="threads"):
        _aggregate(labels, dates, method="majority", threads=bad)  # checked whatever the method


def test_threads_default_from_the_environment(monkeypatch, mixed):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert resolve_threads(None) == available_cpus() >= 1
    monkeypatch.setenv(THREADS_VARIABLE, " 3 ")
    assert resolve_threads(None) == 3 and resolve_threads(1) == 1  # the argument wins
    for bad in ("0", "two", "1.5"):
        monkeypatch.setenv(THREADS_VARIABLE, bad)
        with pytest.raises(OptionsError, match=f"{THREADS_VARIABLE}={bad!r}"):
            _aggregate(*mixed)
    monkeypatch.setenv(THREADS_VARIABLE, "")
    assert resolve_threads(None) == available_cpus()


def test_cli_threads(mixed, tmp_path):
    labels, _ = mixed
    path = tmp_path / "answers.parquet"
    labels.to_parquet(path)
    reference = _aggregate(labels, None, threads=1)
    out = tmp_path / "c.parquet"
    result = CliRunner().invoke(cli, ["-q", "aggregate", str(path), "--threads", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(stracker.read_consensus(out).posterior, reference.posterior)
    bad = CliRunner().invoke(cli, ["aggregate", str(path), "--threads", "0", "--out", str(tmp_path / "x.gpkg")])
    assert bad.exit_code == 2 and "--threads" in bad.output and "Traceback" not in bad.output
    both = CliRunner().invoke(
        cli, ["aggregate", str(path), "--threads", "2", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)]
    )
    assert both.exit_code == 2 and "--threads" in both.output


def test_counts_per_building_and_volunteer_made_block_by_block(mixed, small_blocks):
    labels, dates = mixed
    consensus = _aggregate(labels, dates, threads=2)
    grouped = labels.groupby("building_id")["volunteer_id"]
    np.testing.assert_array_equal(consensus.buildings["n_labels"], grouped.size().to_numpy())
    np.testing.assert_array_equal(consensus.buildings["n_volunteers"], grouped.nunique().to_numpy())
    by_task = labels.groupby(["volunteer_id", "task"]).size().unstack(fill_value=0)
    np.testing.assert_array_equal(consensus.volunteers["n_timeline"], by_task["timeline"].to_numpy())
    np.testing.assert_array_equal(consensus.volunteers["n_compare"], by_task["compare"].to_numpy())


def test_what_runs_alongside_each_block_is_its_tables_result_in_block_order(enc):
    seen = []

    def alongside(table):
        seen.append(table)
        return table.n_answers, table.building.max(initial=-1)

    with BlockedAnswerModel(enc, threads=2, n_blocks=7, alongside=alongside) as model:
        expected = [(m.enc.n_answers, m.enc.building.max(initial=-1)) for m in model.models]
        assert model.block_results == expected
        assert sum(n for n, _ in model.block_results) == enc.n_answers
        assert {id(table) for table in seen} == {id(m.enc) for m in model.models}  # the models' own tables
    assert BlockedAnswerModel(enc, n_blocks=3).block_results == []


def test_one_thread_by_default_in_a_task_on_a_dask_worker(monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        assert client.submit(resolve_threads, None).result() == 1
        assert client.submit(resolve_threads, 2).result() == 2
    assert resolve_threads(None) == available_cpus()


@pytest.fixture(scope="module")
def small_simulation():
    from stracker.scenario import Scenario

    return stracker.simulate(Scenario.preset("small", seed=2).replace(tasks={"task": "compare"}))


def test_visibility_and_gold_are_cut_per_block(small_simulation, monkeypatch):
    """Each block takes its rows of the visibility and its gold buildings: the fit on many blocks is the fit on
    one, to rounding."""
    sim = small_simulation
    truth = sim.truth
    gold = truth.iloc[::7].rename("destroyed_on").reset_index()  # every seventh building dated by an expert
    kwargs = {"visibility": sim.visibility_table(), "gold": gold}
    one = _aggregate(sim.labels, sim.image_dates, **kwargs)
    monkeypatch.setattr(blocks, "MAX_CELLS", 500)
    monkeypatch.setattr(blocks, "MIN_WORK", 1)
    monkeypatch.setattr(blocks, "VOLUNTEER_ANSWERS", 1)
    many = _aggregate(sim.labels, sim.image_dates, threads=2, **kwargs)
    assert_same_consensus(many, one, atol=1e-12)
    gold_rows = one.buildings.index.get_indexer(gold["building_id"])
    assert (many.posterior[gold_rows].max(axis=1) == 1.0).mean() > 0.5  # the experts' states hold in the blocks


def test_the_spatial_prior_on_blocks_is_its_fit_on_one(small_simulation, monkeypatch):
    """Under a building prior the blocks' log-likelihoods and statistics run on the pool and the prior's step
    over every building between them: the E-step of one model, and the fit of one block, to rounding."""
    from stracker.consensus.spatial import SpatialPrior, neighbour_graph, with_graph_buildings

    sim = small_simulation
    one_block = _aggregate(sim.labels, sim.image_dates, footprints=sim.buildings)  # the small table: one block
    enc, graph = with_graph_buildings(
        encode_labels(sim.labels, sim.image_dates, on_duplicate="ignore"), neighbour_graph(sim.buildings)
    )
    answered = np.bincount(enc.building, minlength=enc.n_buildings) > 0
    prior = dataclasses.replace(SpatialPrior.start(graph, enc.image_dates, answered), strength=0.8)
    state = dataclasses.replace(_state(enc), building_prior=prior)
    whole = AnswerModel(enc).e_step(state)
    for threads in (1, 2):
        with BlockedAnswerModel(enc, threads=threads, n_blocks=3) as model:
            step = model.e_step(state, eager=True)
        np.testing.assert_allclose(step.posterior, whole.posterior, rtol=0, atol=1e-12)
        assert step.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-12)
        for name in ("num", "den", "posterior_sum", "image_skips", "image_notices", "prior_statistics"):
            np.testing.assert_allclose(
                getattr(step.statistics, name), getattr(whole.statistics, name), rtol=1e-10, atol=1e-10
            )
        assert step.statistics.log_likelihood == pytest.approx(whole.statistics.log_likelihood, rel=1e-12)
    # and a whole fit on many blocks, on 1 and on 2 threads
    monkeypatch.setattr(blocks, "MAX_CELLS", 300)
    monkeypatch.setattr(blocks, "MIN_WORK", 1)
    monkeypatch.setattr(blocks, "VOLUNTEER_ANSWERS", 1)
    assert len(building_blocks(enc)) > 2
    fits = [_aggregate(sim.labels, sim.image_dates, footprints=sim.buildings, threads=t) for t in (1, 2)]
    assert np.array_equal(fits[0].posterior, fits[1].posterior)  # the blocks, not the threads, fix the numbers
    # other sums in another order: the fit drifts by rounding through its iterations (the Newton steps on beta)
    np.testing.assert_allclose(fits[1].posterior, one_block.posterior, rtol=0, atol=1e-8)
    assert fits[1].n_iter == one_block.n_iter
    np.testing.assert_allclose(fits[1].log_likelihood, one_block.log_likelihood, rtol=1e-9)
    assert fits[1].spatial_prior["strength"] == pytest.approx(one_block.spatial_prior["strength"], rel=1e-8)


def test_steps_side_by_side_give_their_results_and_the_first_error_in_order():
    import threading
    import time

    from stracker.parallel import side_by_side

    ran_on: dict[int, str] = {}

    def step(value: int, seconds: float = 0.0):
        def run() -> int:
            ran_on[value] = threading.current_thread().name
            time.sleep(seconds)
            return value

        return run

    # the caller is busy with the first step: the pool's thread takes the others
    assert side_by_side([step(1, 0.05), step(2), step(3)], threads=2) == [1, 2, 3]
    assert ran_on[1] == threading.current_thread().name  # the caller runs the first step
    assert ran_on[2].startswith("stracker") and ran_on[3].startswith("stracker")

    def late_failure() -> None:
        time.sleep(0.05)
        raise KeyError("first")

    def early_failure() -> None:
        raise ValueError("second")

    # the second step fails first in time; the first step's error is the one raised
    with pytest.raises(KeyError, match="first"):
        side_by_side([late_failure, early_failure], threads=2)
    assert side_by_side([step(5)], threads=1) == [5]


def test_tables_too_small_for_two_blocks_are_one_and_larger_ones_run_on_threads():
    from benchmarks._data import compare_table

    small, _ = compare_table(100_000, n_buildings=555, n_volunteers=153)
    medium, _ = compare_table(200_000, n_buildings=1_111, n_volunteers=307)
    large, _ = compare_table(1_000_000, n_buildings=5_555, n_volunteers=1_538)
    assert table_work(small) < 2 * MIN_WORK <= table_work(medium) < table_work(large)
    with BlockedAnswerModel(small, threads=2) as few, BlockedAnswerModel(large, threads=2) as many:
        assert len(few.blocks) == 1 and few.workers == 1  # about 215,000 answers' work in all
        assert len(many.blocks) == 4 and many.workers == 2
        assert len(blocks.building_blocks(medium)) == 2  # 431,000: two blocks (an even number), one per thread
        state = MStep.start(large.volunteer_ids, large.image_dates).state()
        with BlockedAnswerModel(large, threads=1) as one:
            assert one.workers == 1
            assert many.e_step(state).posterior.tobytes() == one.e_step(state).posterior.tobytes()


def test_statistics_hold_the_rows_they_inform_and_sum_in_place_as_plus_does(enc):
    """Blocks with timeline answers only, compare answers only and both: each block's statistics hold rows for
    the parameters its answers inform; summed in place (the blocks' and the Dask workers' sum) they are the
    ``+`` of them, bit for bit, with zeros where a block held no row."""
    state = _state(enc)
    timeline = np.flatnonzero(enc.task == TIMELINE)
    everything = np.arange(enc.n_answers)
    parts = [
        AnswerModel(blocks.block_table(enc, blocks.BuildingBlock(0, enc.n_buildings, rows))).e_step(state).statistics
        for rows in (timeline, np.flatnonzero(enc.task == COMPARE), everything[::2], timeline[::3])
    ]
    observed = {tuple(part.observed.tolist()) for part in parts}
    assert len(observed) > 1  # the blocks inform different parameters
    for part in parts:
        assert part.num.shape == (part.observed.sum(), enc.n_volunteers) == part.den.shape
    plus = functools.reduce(operator.add, parts)
    total = sum_statistics(parts)
    for field in dataclasses.fields(plus):
        a, b = getattr(plus, field.name), getattr(total, field.name)
        assert (a is None and b is None) or np.asarray(a).tobytes() == np.asarray(b).tobytes(), field.name
    for field in dataclasses.fields(total):  # no part's arrays taken over
        value = getattr(total, field.name)
        if isinstance(value, np.ndarray):
            assert not any(np.shares_memory(value, getattr(part, field.name)) for part in parts), field.name
    assert functools.reduce(operator.add, parts).num.tobytes() == plus.num.tobytes()  # nor changed
    np.testing.assert_array_equal(total.observed, np.any([part.observed for part in parts], axis=0))
    sens, _ = total.parameter("sensitivity")
    expected = sum(part.parameter("sensitivity")[0] for part in parts if part.observed[-2])
    np.testing.assert_array_equal(sens, expected)
    with pytest.raises(KeyError, match="p_late"):
        parts[[p.observed[4] for p in parts].index(False)].parameter("p_late")
    with pytest.raises(ValueError, match="at least one"):
        sum_statistics([])
    with pytest.raises(ValueError, match="every parameter"):
        total.rows(parts[1].observed)  # fewer rows than it holds


def test_a_busy_pool_leaves_its_share_to_the_caller_and_nothing_waits_on_it():
    """The pool is the process's: when every one of its threads is busy (other callers' fits), a map and
    side-by-side steps still finish, on the caller's thread, and what was queued never runs twice; a task on the
    pool that maps gets a thread of its own for its items."""
    import threading
    import time

    from stracker.parallel import POOL_THREADS, shared_pool, side_by_side, thread_map

    # a task that maps on the pool finds another thread for its items (the encoding's steps nest so)
    def name_after(i: int) -> str:
        time.sleep(0.05 if i == 0 else 0.0)  # the first item keeps the task's own thread busy
        return threading.current_thread().name

    names = shared_pool().submit(thread_map, name_after, range(2), 2).result(10)
    assert len(set(names)) == 2 and all(name.startswith("stracker") for name in names)

    release = threading.Event()
    blockers = [shared_pool().submit(release.wait, 10) for _ in range(POOL_THREADS)]
    try:
        calls: list[int] = []
        assert thread_map(lambda i: calls.append(i) or i + 1, range(4), threads=2) == [1, 2, 3, 4]
        assert sorted(calls) == [0, 1, 2, 3]  # each item once
        caller = threading.current_thread().name
        assert side_by_side([lambda: threading.current_thread().name] * 3, threads=2) == [caller] * 3
    finally:
        release.set()
    assert all(blocker.result(timeout=10) is True for blocker in blockers)
    assert thread_map(lambda i: i, range(3), threads=2) == [0, 1, 2]  # the pool works again


def test_an_interrupt_stops_the_map_at_once_and_nothing_runs_after_it():
    """Ctrl-C in the caller's item is raised as such (not an earlier item's error, not after every other item),
    once the items already running have finished: nothing of the call runs after it returns."""
    import threading
    import time

    from stracker.parallel import thread_map

    done: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        if i == 0:
            time.sleep(0.05)
            raise KeyboardInterrupt
        if i == 1:
            raise ValueError("another item's error")
        time.sleep(0.02)
        with lock:
            done.append(i)
        return i

    with pytest.raises(KeyboardInterrupt):
        thread_map(work, range(40), threads=2)
    with lock:
        finished = len(done)
    time.sleep(0.1)
    assert len(done) == finished < 38  # no item ran on after the call, and the rest were never taken


def test_the_blocks_map_runs_on_the_callers_thread_and_the_pools_and_raises_the_first_error_in_order(enc):
    import threading
    import time

    caller = threading.current_thread().name
    with BlockedAnswerModel(enc, threads=2, n_blocks=4) as model:
        assert model.workers == 2
        ran_on: dict[int, str] = {}

        def work(i: int) -> int:
            ran_on[i] = threading.current_thread().name
            time.sleep(0.02 if i == 0 else 0.0)  # the caller is busy with the first: the pool takes the rest
            return i * i

        assert model.map(work, range(6)) == [0, 1, 4, 9, 16, 25]
        assert ran_on[0] == caller and any(name.startswith("stracker") for name in ran_on.values())

        def fail(i: int) -> int:
            if i == 1:
                time.sleep(0.05)
                raise KeyError("first in order")
            if i == 3:
                raise ValueError("first in time")
            return i

        with pytest.raises(KeyError, match="first in order"):
            model.map(fail, range(5))
        assert model.map(work, [7]) == [49]
    assert model.map(work, range(3)) == [0, 1, 4]  # closed: on the caller's thread
