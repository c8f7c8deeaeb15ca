"""The compiled passes over the compare answers against numpy's own sums, and as the E-step uses them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks._data import compare_table
from stracker.consensus.blocks import BlockedAnswerModel
from stracker.consensus.em import MStep
from stracker.consensus.kernels import interval_differences, interval_masses
from stracker.consensus.model import AnswerModel


@st.composite
def interval_answers(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    size = draw(st.integers(1, 60))
    n_columns = draw(st.integers(1, 12))
    n = draw(st.integers(0, 200))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, size, n),
        rng.integers(0, size, n),
        rng.integers(0, n_columns, n),
        size,
        n_columns,
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@settings(max_examples=60, deadline=None)
@given(answers=interval_answers())
def test_the_passes_equal_numpy_sums_and_are_each_others_transpose(answers, dtype) -> None:
    lo, hi, column, size, n_columns = answers
    lo, hi, column = lo.astype(dtype), hi.astype(dtype), column.astype(dtype)
    rng = np.random.default_rng(size)
    value, cumulative = rng.normal(size=n_columns), rng.random(size)

    expected = np.zeros(size)
    np.add.at(expected, lo, value[column])
    np.add.at(expected, hi, -value[column])
    got = interval_differences(lo, hi, column, value, size)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)

    masses = interval_masses(lo, hi, column, cumulative, n_columns)
    np.testing.assert_allclose(
        masses, np.bincount(column, cumulative[hi] - cumulative[lo], n_columns), rtol=0, atol=1e-12
    )
    # <D(value), cumulative> = -<value, M(cumulative)>: one pass is minus the other's transpose
    assert got @ cumulative == pytest.approx(-(value @ masses), abs=1e-9)


def test_the_passes_add_in_answer_order_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    lo, hi, column = (rng.integers(0, 500, 10_000).astype(np.int32) for _ in range(3))
    value, cumulative = rng.normal(size=500), rng.random(500)
    first = interval_differences(lo, hi, column, value, 500)
    assert interval_differences(lo, hi, column, value, 500).tobytes() == first.tobytes()
    masses = interval_masses(lo, hi, column, cumulative, 500)
    assert interval_masses(lo, hi, column, cumulative, 500).tobytes() == masses.tobytes()


def test_an_e_step_through_the_kernels_equals_the_answers_taken_one_by_one() -> None:
    """The compare log-likelihood and expected counts from the compiled passes equal the per-answer gathers and
    bincounts of the path that takes the answers one by one (under a reliability of 1 they are the same model)."""
    enc, _ = compare_table(20_000, n_buildings=300, n_images=12, n_volunteers=40, seed=3)
    model = AnswerModel(enc)
    learn = MStep.start(enc.volunteer_ids, enc.image_dates)
    for _ in range(3):
        learn.update(model.e_step(learn.state()).statistics)
    state = learn.state()
    by_columns = model.e_step(state)
    one_by_one = model.e_step(dataclasses.replace(state, compare_reliability=np.ones(enc.n_images)))
    np.testing.assert_allclose(by_columns.posterior, one_by_one.posterior, rtol=0, atol=1e-12)
    assert by_columns.log_likelihood == pytest.approx(one_by_one.log_likelihood, rel=1e-12)
    a, b = by_columns.statistics, one_by_one.statistics
    np.testing.assert_allclose(a.num[a.observed], b.num[b.observed], rtol=1e-12)
    np.testing.assert_allclose(a.den[a.observed], b.den[b.observed], rtol=1e-12)


def test_blocks_on_threads_give_the_same_bits_as_on_one() -> None:
    enc, _ = compare_table(60_000, n_buildings=2_000, n_images=20, n_volunteers=100, seed=1)
    learn = MStep.start(enc.volunteer_ids, enc.image_dates)
    with BlockedAnswerModel(enc, threads=1, n_blocks=4) as one, BlockedAnswerModel(enc, threads=2, n_blocks=4) as two:
        a, b = one.e_step(learn.state(), eager=True), two.e_step(learn.state(), eager=True)
        assert a.posterior.tobytes() == b.posterior.tobytes()
        assert a.statistics.num.tobytes() == b.statistics.num.tobytes()
