"""The compiled passes over the compare answers against numpy's own sums, the passes over buildings x states
against numpy's own calls bit for bit, and both as the E-step uses them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks._data import compare_table
from stracker.consensus.blocks import BlockedAnswerModel
from stracker.consensus.em import CrowdTypes, MStep
from stracker.consensus.kernels import (
    building_counts,
    building_tallies,
    column_sums,
    compare_rows,
    crowd_type_steps,
    cumulative_rows,
    group_by_chunk,
    interval_differences,
    interval_log_likelihood,
    interval_masses,
    normalize_rows,
    one_chunk,
    posterior_interval_masses,
    row_search,
    shifted_rows,
    skip_sums,
    sloped_rows,
    state_summaries,
)
from stracker.consensus.model import AnswerModel, posterior_and_evidence
from stracker.labels import TIMELINE


@st.composite
def interval_answers(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    n_buildings = draw(st.integers(1, 8))
    width = draw(st.integers(1, 12))
    n_columns = draw(st.integers(1, 12))
    n = draw(st.integers(0, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        rng.integers(0, n_buildings, n),
        rng.integers(0, width, n),
        rng.integers(0, width, n),
        rng.integers(0, n_columns, n),
        n_buildings,
        width,
        n_columns,
    )


@pytest.mark.parametrize("dtypes", [(np.uint16, np.uint8, np.uint16), (np.int32, np.int32, np.int32), (np.int64,) * 3])
@settings(max_examples=60, deadline=None)
@given(answers=interval_answers())
def test_the_passes_equal_numpy_sums_and_are_each_others_transpose(answers, dtypes) -> None:
    """With the small integer types the E-step keeps (building and column in two bytes, the ends in one) and with
    wide ones: numpy's sums over the flat positions."""
    building, lo1, hi1, column, n_buildings, width, n_columns = answers
    at_lo1, at_hi1 = building * width + lo1, building * width + hi1
    building_type, boundary_type, column_type = dtypes
    building, column = building.astype(building_type), column.astype(column_type)
    lo1, hi1 = lo1.astype(boundary_type), hi1.astype(boundary_type)
    size = n_buildings * width
    rng = np.random.default_rng(size)
    value, cumulative = rng.normal(size=n_columns), rng.random(size)

    expected = np.zeros(size)
    np.add.at(expected, at_lo1, value[column])
    np.add.at(expected, at_hi1, -value[column])
    got = interval_differences(building, lo1, hi1, column, value, n_buildings, width)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)

    masses = interval_masses(building, lo1, hi1, column, cumulative, width, n_columns)
    np.testing.assert_allclose(
        masses, np.bincount(column, cumulative[at_hi1] - cumulative[at_lo1], n_columns), rtol=0, atol=1e-12
    )
    # <D(value), cumulative> = -<value, M(cumulative)>: one pass is minus the other's transpose
    assert got @ cumulative == pytest.approx(-(value @ masses), abs=1e-9)


def test_the_passes_add_in_answer_order_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    building, lo1, hi1 = (rng.integers(0, 50, 10_000).astype(np.uint16) for _ in range(3))
    column = rng.integers(0, 500, 10_000).astype(np.uint16)
    value, cumulative = rng.normal(size=500), rng.random(2_500)
    first = interval_differences(building, lo1, hi1, column, value, 50, 50)
    assert interval_differences(building, lo1, hi1, column, value, 50, 50).tobytes() == first.tobytes()
    # answer after answer, its start then its end: np.add.at's sums in that order, bit for bit
    expected = np.zeros(2_500)
    flat = building.astype(np.int64) * 50
    at = np.stack([flat + lo1, flat + hi1], axis=1).ravel()
    np.add.at(expected, at, np.stack([value[column], -value[column]], axis=1).ravel())
    assert first.tobytes() == expected.tobytes()
    masses = interval_masses(building, lo1, hi1, column, cumulative, 50, 500)
    assert interval_masses(building, lo1, hi1, column, cumulative, 50, 500).tobytes() == masses.tobytes()
    with pytest.raises(ValueError, match="as long"):
        interval_masses(building, lo1[:-1], hi1, column, cumulative, 50, 500)
    # a building past the rows is refused, not written or read outside them
    with pytest.raises(ValueError, match="between 0 and 48"):
        interval_differences(building, lo1, hi1, column, value, 49, 50)
    with pytest.raises(ValueError, match="between 0 and 48"):
        interval_masses(building, lo1, hi1, column, cumulative[:-50], 50, 500)
    with pytest.raises(ValueError, match="not rows of width 50"):
        interval_masses(building, lo1, hi1, column, cumulative[:-1], 50, 500)
    with pytest.raises(ValueError, match="between 0 and 48"):
        building_tallies(building, column, 49, 500)


@settings(max_examples=60, deadline=None)
@given(answers=interval_answers())
def test_the_fused_calls_give_the_bits_of_the_passes_and_row_passes_they_stand_for(answers) -> None:
    """interval_log_likelihood is interval_differences, cumulative_rows and shifted_rows; posterior_interval_masses
    is cumulative_rows with a leading zero and interval_masses: the same bits, NaN and -inf rows included."""
    building, lo1, hi1, column, n_buildings, width, n_columns = answers
    hi1 = hi1 + (hi1 == width - 1)  # some intervals end at the last boundary, past every state
    rng = np.random.default_rng(width * 7919 + n_columns)
    value = rng.normal(size=n_columns) * 10.0 ** rng.uniform(-3, 3, size=n_columns)
    value[rng.random(n_columns) < 0.1] = np.inf * rng.choice([-1, 1])
    log_prior = np.log(rng.dirichlet(np.ones(width)))
    by_state, shifted, shift = interval_log_likelihood(building, lo1, hi1, column, value, log_prior, n_buildings)
    differences = interval_differences(building, lo1, hi1, column, value, n_buildings, width + 1)
    expected = cumulative_rows(differences.reshape(n_buildings, width + 1), width)
    expected_shifted, expected_shift = shifted_rows(expected, log_prior)
    assert by_state.tobytes() == expected.tobytes()
    assert shifted.tobytes() == expected_shifted.tobytes() and shift.tobytes() == expected_shift.tobytes()

    posterior = rng.dirichlet(np.ones(width), size=n_buildings)
    cumulative = cumulative_rows(posterior, leading_zero=True).ravel()
    masses = posterior_interval_masses(posterior, building, lo1, hi1, column, n_columns)
    assert masses.tobytes() == interval_masses(building, lo1, hi1, column, cumulative, width + 1, n_columns).tobytes()
    with pytest.raises(ValueError, match="as long"):
        posterior_interval_masses(posterior, building, lo1, np.append(hi1, 0), column, n_columns)


@settings(max_examples=60, deadline=None)
@given(answers=interval_answers(), rows_per_chunk=st.integers(1, 9), by_building=st.booleans())
def test_answers_grouped_by_chunk_give_the_same_rows_chunk_by_chunk(answers, rows_per_chunk, by_building) -> None:
    """group_by_chunk is a stable sort by chunk (every building's answers keep their order); the chunked passes
    over the grouped answers give the log-likelihood of the answers in table order bit for bit (each cell adds
    in the same order) and the masses to rounding (each column adds in chunk order). A table in building order
    (where the chunks' starts are searched for) gives the same."""
    building, lo1, hi1, column, n_buildings, width, n_columns = answers
    if by_building:
        sort = np.argsort(building, kind="stable")
        building, lo1, hi1, column = building[sort], lo1[sort], hi1[sort], column[sort]
    hi1 = hi1 + (hi1 == width - 1)
    *grouped, chunks = group_by_chunk(building, lo1, hi1, column, rows_per_chunk, n_buildings)
    order = np.argsort(building // rows_per_chunk, kind="stable")
    for got, expected in zip(grouped, (building, lo1, hi1, column), strict=True):
        assert got.tolist() == expected[order].tolist() and got.dtype == expected.dtype
    assert (
        chunks.answers.tolist()
        == np.searchsorted(building[order] // rows_per_chunk, np.arange(-(-n_buildings // rows_per_chunk) + 1)).tolist()
    )
    rng = np.random.default_rng(n_buildings * 31 + width)
    value, log_prior = rng.normal(size=n_columns), np.log(rng.dirichlet(np.ones(width)))
    table_order = interval_log_likelihood(building, lo1, hi1, column, value, log_prior, n_buildings)
    chunked = interval_log_likelihood(*grouped, value, log_prior, n_buildings, chunks)
    for a, b in zip(table_order, chunked, strict=True):
        assert a.tobytes() == b.tobytes()
    posterior = rng.dirichlet(np.ones(width), size=n_buildings)
    np.testing.assert_allclose(
        posterior_interval_masses(posterior, *grouped, n_columns, chunks),
        posterior_interval_masses(posterior, building, lo1, hi1, column, n_columns),
        rtol=1e-13,
        atol=1e-13,
    )


def test_chunks_that_do_not_fit_the_answers_are_refused() -> None:
    building, lo1, hi1, column = np.array([0, 3, 1]), np.zeros(3, int), np.ones(3, int), np.zeros(3, int)
    args = (building, lo1, hi1, column, np.ones(1), np.log([0.5, 0.5]), 4)
    *grouped, chunks = group_by_chunk(building, lo1, hi1, column, 2, 4)
    assert grouped[0].tolist() == [0, 1, 3] and chunks.answers.tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="outside its chunk"):  # in table order: building 3 among chunk 0's
        interval_log_likelihood(*args, chunks)
    with pytest.raises(ValueError, match="outside its chunk"):
        posterior_interval_masses(np.full((4, 2), 0.5), building, lo1, hi1, column, 1, chunks)
    for wrong in (chunks._replace(rows_per_chunk=1), chunks._replace(answers=np.array([0, 3])), one_chunk(4, 2)):
        with pytest.raises(ValueError, match="do not split"):
            interval_log_likelihood(*grouped, *args[4:], wrong)
    for wrong_building in ([4], [-1], [0, 2, 4], [-1, 0, 1], [3, 4, 0]):  # in building order, and not
        n = len(wrong_building)
        with pytest.raises(ValueError, match="between 0 and 3"):
            group_by_chunk(np.array(wrong_building), np.zeros(n, int), np.ones(n, int), np.zeros(n, int), 2, 4)


@pytest.mark.parametrize("volunteer_statistics", [True, False])
@pytest.mark.parametrize("table_order", ["by building", "as answered"])
def test_a_compare_table_e_step_in_two_calls_gives_the_bits_of_the_general_one(
    volunteer_statistics, table_order
) -> None:
    """A table of compare answers alone takes the fused calls (in chunks of buildings, its answers grouped by
    chunk where they are not in building order); the general E-step (the same model told it has other answers
    too) gives the same posterior, log-likelihood, terms and statistics, bit for bit."""
    enc, _ = compare_table(30_000, n_buildings=400, n_images=15, n_volunteers=60, seed=5)
    if table_order == "as answered":
        order = np.random.default_rng(0).permutation(enc.n_answers)
        enc = dataclasses.replace(
            enc, **{name: getattr(enc, name)[order] for name in ("building", "volunteer", "lo", "hi", "answer", "task")}
        )
    fused = AnswerModel(enc)
    general = AnswerModel(enc)
    general.compare_only = False
    assert fused.compare_only and fused.compare_chunks is not None and fused.compare_chunks.answers.size > 2
    learn = MStep.start(enc.volunteer_ids, enc.image_dates)
    for _ in range(3):
        learn.update(fused.e_step(learn.state()).statistics)
    a, b = fused.e_step(learn.state(), volunteer_statistics), general.e_step(learn.state(), volunteer_statistics)
    assert a.posterior.tobytes() == b.posterior.tobytes() and a.log_likelihood == b.log_likelihood
    assert a.terms.by_state.tobytes() == b.terms.by_state.tobytes() and a.terms.constant == b.terms.constant
    sa, sb = a.statistics, b.statistics
    assert sa.observed.tolist() == sb.observed.tolist()
    for name in ("num", "den", "posterior_sum", "image_skips", "image_notices"):
        assert getattr(sa, name).tobytes() == getattr(sb, name).tobytes(), name
    # with timeline answers too, or under visibility, the general E-step runs
    timeline = np.where(np.arange(enc.n_answers) % 7 == 0, TIMELINE, enc.task).astype(enc.task.dtype)
    assert not AnswerModel(dataclasses.replace(enc, task=timeline)).compare_only
    assert not AnswerModel(enc, visibility=np.ones((enc.n_buildings, enc.n_images))).compare_only


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
    assert a.observed.tolist() == b.observed.tolist() and a.num.shape == (2, enc.n_volunteers)
    np.testing.assert_allclose(a.num, b.num, rtol=1e-12)
    np.testing.assert_allclose(a.den, b.den, rtol=1e-12)


def test_blocks_on_threads_give_the_same_bits_as_on_one() -> None:
    enc, _ = compare_table(60_000, n_buildings=2_000, n_images=20, n_volunteers=100, seed=1)
    learn = MStep.start(enc.volunteer_ids, enc.image_dates)
    with BlockedAnswerModel(enc, threads=1, n_blocks=4) as one, BlockedAnswerModel(enc, threads=2, n_blocks=4) as two:
        assert two.workers == 2
        a, b = one.e_step(learn.state(), eager=True), two.e_step(learn.state(), eager=True)
        assert a.posterior.tobytes() == b.posterior.tobytes()
        assert a.statistics.num.tobytes() == b.statistics.num.tobytes()


@st.composite
def rows_of_states(draw: st.DrawFn) -> np.ndarray:
    """Buildings x states log-likelihoods of every scale, the widths on both sides of numpy's pairwise blocks (8,
    128) and of its split of wider rows, with -inf (a state gold answers rule out) here and there."""
    n_rows = draw(st.integers(1, 40))
    width = draw(st.sampled_from([1, 2, 7, 8, 9, 16, 51, 127, 128, 129, 136, 255, 256, 300, 777, 1100]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.normal(size=(n_rows, width)) * 10.0 ** rng.uniform(-3, 3, size=(n_rows, width))
    values[rng.random((n_rows, width)) < 0.05] = -np.inf
    return values


@settings(max_examples=80, deadline=None)
@given(values=rows_of_states(), per_building=st.booleans())
def test_the_row_passes_give_numpys_bits(values: np.ndarray, per_building: bool) -> None:
    """Each compiled pass over rows equals numpy's calls it replaces to the last bit, so that moving the E-step's
    work over buildings x states into them changed no result."""
    rng = np.random.default_rng(values.shape[1])
    n_rows, width = values.shape
    log_prior = rng.normal(size=(n_rows, width) if per_building else width)

    z = values + log_prior
    top = z.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # a row of -inf only: numpy's NaN too
        z = z - top
    shifted, shift = shifted_rows(values, log_prior)
    assert shifted.tobytes() == z.tobytes() and shift.tobytes() == top[:, 0].tobytes()

    np.exp(z, out=z)
    norm = z.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        z /= norm
        exp = np.exp(shifted)
        sums = normalize_rows(exp)
    assert sums.tobytes() == norm[:, 0].tobytes() and exp.tobytes() == z.tobytes()
    with np.errstate(invalid="ignore", divide="ignore"):
        again = np.exp(shifted)
        sums, by_column = normalize_rows(again, sum_columns=True)  # the column sums made in the same pass
    assert sums.tobytes() == norm[:, 0].tobytes() and again.tobytes() == z.tobytes()
    assert by_column.tobytes() == z.sum(axis=0).tobytes()

    finite = np.nan_to_num(values, neginf=-1e3)
    for keep in (0, 1, width // 2, width):
        assert cumulative_rows(finite, keep).tobytes() == np.cumsum(finite, axis=1)[:, :keep].tobytes()
    leading = np.zeros((n_rows, width + 1))
    np.cumsum(finite, axis=1, out=leading[:, 1:])
    assert cumulative_rows(finite, leading_zero=True).tobytes() == leading.tobytes()
    times = rng.random(width + 2)
    assert (
        cumulative_rows(finite, leading_zero=True, times=times).tobytes()
        == cumulative_rows(finite * times[:width], leading_zero=True).tobytes()
    )
    per_row = rng.random((n_rows, width))
    assert (
        cumulative_rows(finite, 2 if width > 1 else 1, times=per_row).tobytes()
        == np.cumsum(finite * per_row, axis=1)[:, : 2 if width > 1 else 1].tobytes()
    )
    # a strided view (the difference array's first columns) reads as a copy of it does
    assert cumulative_rows(finite[:, ::2]).tobytes() == np.cumsum(finite[:, ::2], axis=1).tobytes()
    assert column_sums(values).tobytes() == values.sum(axis=0).tobytes()  # NaN and infinities as numpy's
    assert column_sums(finite[:, ::2]).tobytes() == finite[:, ::2].sum(axis=0).tobytes()


def test_the_posterior_is_numpys_and_a_nan_stays_a_nan() -> None:
    rng = np.random.default_rng(4)
    log_likelihood, log_prior = rng.normal(size=(500, 51)) * 20, np.log(rng.dirichlet(np.ones(51)))
    z = log_likelihood + log_prior
    shift = z.max(axis=1, keepdims=True)
    z = np.exp(z - shift)
    norm = z.sum(axis=1, keepdims=True)
    posterior, evidence = posterior_and_evidence(log_likelihood, log_prior)
    assert posterior.tobytes() == (z / norm).tobytes()
    assert evidence == float(np.log(norm).sum() + shift.sum())
    log_likelihood[3, 7] = np.nan
    assert np.isnan(shifted_rows(log_likelihood, log_prior)[1][3])


def test_the_row_passes_refuse_what_they_cannot_take() -> None:
    with pytest.raises(ValueError, match="2-d"):
        cumulative_rows(np.zeros(3))
    with pytest.raises(ValueError, match="2-d"):
        column_sums(np.zeros(3))
    with pytest.raises(ValueError, match="keep"):
        cumulative_rows(np.zeros((2, 3)), keep=4)
    with pytest.raises(ValueError, match="does not match"):
        shifted_rows(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="C-contiguous"):
        normalize_rows(np.zeros((3, 4))[:, ::2])


@settings(max_examples=40, deadline=None)
@given(
    n_types=st.integers(1, 6),
    n_params=st.integers(1, 8),
    n_volunteers=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_crowd_type_step_equals_numpys_products(n_types, n_params, n_volunteers, seed) -> None:
    rng = np.random.default_rng(seed)
    chances = rng.random((n_params, n_volunteers)) * 10.0 ** rng.uniform(0, 3, (n_params, n_volunteers))
    events = chances * rng.random((n_params, n_volunteers))
    start = rng.uniform(-0.01, 1.01, (n_types, n_params))  # some outside [clip, 1 - clip]
    weights = rng.dirichlet(np.ones(n_types))
    pseudo = rng.random(n_params) * 10

    centres = np.clip(start, 1e-4, 1 - 1e-4)
    expected = np.log(centres) @ events + np.log1p(-centres) @ (chances - events) + np.log(weights)[:, None]
    expected -= expected.max(axis=0)
    expected_resp = np.exp(expected)
    expected_resp /= expected_resp.sum(axis=0)
    got_centres, got_weights, resp = crowd_type_steps(start, weights, events, chances, pseudo, 10.0, 1, 1e-4)
    np.testing.assert_allclose(resp, expected_resp, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(got_centres, (expected_resp @ events.T + pseudo) / (expected_resp @ chances.T + 10))
    np.testing.assert_allclose(got_weights, (expected_resp.sum(axis=1) + 1) / (n_volunteers + n_types), rtol=1e-12)
    assert resp.max(axis=0).min() > 0  # the best type's exponential is 1 before normalising: never underflows


def test_crowd_type_steps_refuse_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        crowd_type_steps(np.full((2, 1), 0.5), np.full(2, 0.5), np.ones((1, 3)), np.ones((1, 3)), np.ones(1), 1, 0, 0)
    with pytest.raises(ValueError, match="do not fit"):
        crowd_type_steps(np.full((2, 1), 0.5), np.full(2, 0.5), np.ones((2, 3)), np.ones((2, 3)), np.ones(2), 1, 1, 0)
    with pytest.raises(ValueError, match="do not fit"):  # one pseudo-count per parameter
        crowd_type_steps(np.full((2, 1), 0.5), np.full(2, 0.5), np.ones((1, 3)), np.ones((1, 3)), np.ones(2), 1, 1, 0)
    with pytest.raises(ValueError, match="one value per answer"):
        compare_rows(np.ones(3, bool), np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3), np.ones(3), 1)


def test_crowd_types_fit_as_their_numpy_steps_did() -> None:
    """Ten steps of the crowd types' EM through the compiled passes, against the same steps in numpy (the code
    before the passes): the same types and centres to rounding."""
    rng = np.random.default_rng(7)
    chances = rng.integers(1, 200, (3_000, 2)).astype(float)
    num = chances * np.where(rng.random((3_000, 1)) < 0.9, rng.beta(18, 2, (3_000, 2)), 0.5)
    defaults = np.array([0.85, 0.9])
    start = np.array([[0.95, 0.95], [0.85, 0.9], [0.7, 0.8], [0.5, 0.5]])
    compiled, numpy_types = CrowdTypes(4, defaults), CrowdTypes(4, defaults)
    compiled.centres, numpy_types.centres = start.copy(), start.copy()
    got = compiled.fit(num.T, chances.T)  # parameters x volunteers, as the statistics hold them

    events, misses = num.T, (chances - num).T
    for _ in range(10):
        centres = np.clip(numpy_types.centres, 1e-4, 1 - 1e-4)
        loglik = np.log(centres) @ events + np.log1p(-centres) @ misses + np.log(numpy_types.weights)[:, None]
        loglik -= loglik.max(axis=0)
        resp = np.exp(loglik)
        resp /= resp.sum(axis=0)
        numpy_types.centres = (resp @ num + 10.0 * defaults) / (resp @ chances + 10.0)
        numpy_types.weights = (resp.sum(axis=1) + 1.0) / (len(num) + 4)
    expected = resp.T @ np.clip(numpy_types.centres, 1e-4, 1 - 1e-4)
    np.testing.assert_allclose(compiled.centres, numpy_types.centres, rtol=1e-12)
    np.testing.assert_allclose(compiled.weights, numpy_types.weights, rtol=1e-12)
    np.testing.assert_allclose(got, expected.T, rtol=1e-12)
    # volunteers without chances take no part and get the types' weighted mean
    idle = CrowdTypes(4, defaults)
    idle.centres = start.copy()
    with_idle = idle.fit(
        np.concatenate([num.T, np.zeros((2, 5))], axis=1), np.concatenate([chances.T, np.zeros((2, 5))], axis=1)
    )
    np.testing.assert_allclose(with_idle[:, :-5], got, rtol=1e-12)
    np.testing.assert_allclose(
        with_idle[:, -5:], (idle.weights @ np.clip(idle.centres, 1e-4, 1 - 1e-4))[:, None] + np.zeros(5), rtol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(1, 30),
    width=st.sampled_from([2, 9, 52, 130]),
    per_building=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_sloped_rows_are_numpys_timeline_log_likelihood_bit_for_bit(n_rows, width, per_building, seed) -> None:
    """The timeline log-likelihood's rows in one pass: the bits of the numpy expression they replaced."""
    rng = np.random.default_rng(seed)
    n_states = width - 1
    const = rng.normal(size=(n_rows, width)) * 5
    slope = rng.normal(size=(2 * n_rows, width))
    cum_weight = np.cumsum(rng.random((n_rows, width) if per_building else width), axis=-1)
    late = np.cumsum(slope[:n_rows], axis=1)[:, :n_states]
    early = np.cumsum(slope[n_rows:], axis=1)[:, :n_states]
    expected = np.cumsum(const, axis=1)[:, :n_states]
    expected += late * cum_weight[..., :n_states] + early * np.arange(n_states, dtype=float)
    assert sloped_rows(const, slope, cum_weight, n_states).tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="two rows per row"):
        sloped_rows(const, slope[:-1], cum_weight, n_states)


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(0, 400),
    n_volunteers=st.integers(1, 40),
    narrow=st.booleans(),
    kept=st.sampled_from([0.7, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compare_rows_are_the_numpy_selection(n_rows, n_volunteers, narrow, kept, seed) -> None:
    """The compare answers' arrays in one pass: the masked, widened numpy arrays they replaced, in their dtypes
    (some rows kept, or every row: the copying loop)."""
    rng = np.random.default_rng(seed)
    keep = rng.random(n_rows) < kept
    building = rng.integers(0, 300, n_rows).astype(np.int32)
    volunteer = rng.integers(0, n_volunteers, n_rows).astype(np.int32)
    answer = rng.integers(0, 2, n_rows).astype(np.int8)
    lo = rng.integers(-1, 200, n_rows).astype(np.int16)
    hi = (lo + rng.integers(1, 50, n_rows)).astype(np.int16)
    dtypes = (np.uint16, np.uint8, np.uint16) if narrow else (np.int32, np.int32, np.int64)
    got = compare_rows(
        keep,
        building,
        volunteer,
        answer,
        lo,
        hi,
        n_volunteers,
        building_dtype=dtypes[0],
        boundary_dtype=dtypes[1],
        column_dtype=dtypes[2],
    )
    column = volunteer[keep].astype(np.int64) * 2 + answer[keep]
    expected = (building[keep], lo[keep] + 1, hi[keep].astype(np.int64) + 1, column)
    for array, want, dtype in zip(got[:4], expected, (dtypes[0], dtypes[1], dtypes[1], dtypes[2]), strict=True):
        assert array.dtype == dtype
        assert array.tolist() == want.tolist()
    assert got[4].tolist() == np.bincount(column, minlength=2 * n_volunteers).astype(float).tolist()


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(0, 300),
    n_buildings=st.integers(1, 30),
    n_volunteers=st.integers(1, 12),
    order=st.sampled_from(["any", "sorted", "runs"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_building_tallies_count_answers_and_distinct_volunteers(n_rows, n_buildings, n_volunteers, order, seed):
    """Against a count over the distinct (building, volunteer) pairs, in any order of the answers: sorted by
    building, in runs of one building not sorted, or shuffled."""
    rng = np.random.default_rng(seed)
    building = rng.integers(0, n_buildings, n_rows).astype(np.int32)
    if order == "sorted":
        building.sort()
    elif order == "runs":  # grouped by building, the groups in a shuffled order
        building = rng.permutation(n_buildings).astype(np.int32)[np.sort(building)]
    volunteer = rng.integers(0, n_volunteers, n_rows).astype(np.int32)
    n_answers, n_distinct = building_tallies(building, volunteer, n_buildings, n_volunteers)
    assert n_answers.tolist() == np.bincount(building, minlength=n_buildings).tolist()
    pairs = np.unique(building.astype(np.int64) * n_volunteers + volunteer)
    assert n_distinct.tolist() == np.bincount(pairs // n_volunteers, minlength=n_buildings).tolist()


def test_cumulative_weights_under_visibility_are_numpys_bit_for_bit() -> None:
    """Every building's cumulative image weights under clouds (a compiled running sum of the padded visible
    shares) equal numpy's cumsum of the visibility times the weights, the total repeated at the end."""
    enc, _ = compare_table(3_000, n_buildings=120, n_images=9, n_volunteers=30, seed=5)
    rng = np.random.default_rng(5)
    visibility = rng.random((enc.n_buildings, enc.n_images))
    visibility[rng.random(visibility.shape) < 0.3] = 0.0
    weight = rng.random(enc.n_images) + 0.5
    expected = np.zeros((enc.n_buildings, enc.n_images + 2))
    np.cumsum(visibility * weight, axis=1, out=expected[:, 1 : enc.n_images + 1])
    expected[:, -1] = expected[:, -2]
    got = AnswerModel(enc, visibility=visibility).cumulative_weights(weight)
    assert got.tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 30),
    width=st.integers(1, 60),
    n_queries=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_row_search_is_searchsorted_in_each_row(n_rows, width, n_queries, seed) -> None:
    """The first position in a row at or above each value, against numpy's searchsorted of that row: ties
    (repeated and zero steps), values below and above every row, NaN (past the end, as numpy sorts it)."""
    rng = np.random.default_rng(seed)
    steps = rng.random((n_rows, width)) * (rng.random((n_rows, width)) < 0.7)  # flat runs: ties
    cum = np.cumsum(steps, axis=1) - steps[:, :1]  # every row from 0
    rows = rng.integers(0, n_rows, n_queries)
    pick = rng.integers(0, width, n_queries)
    values = np.where(rng.random(n_queries) < 0.5, cum[rows, pick], rng.uniform(-1, cum.max() + 1, n_queries))
    values[rng.random(n_queries) < 0.05] = np.nan
    expected = [np.searchsorted(cum[r], v, side="left") for r, v in zip(rows, values, strict=True)]
    assert row_search(cum, rows, values).tolist() == expected
    with pytest.raises(ValueError, match="rows must lie"):
        row_search(cum, np.array([n_rows]), np.array([0.0]))


@settings(max_examples=40, deadline=None)
@given(values=rows_of_states())
def test_skip_sums_are_numpys_bits(values: np.ndarray) -> None:
    n_rows, width = values.shape
    rng = np.random.default_rng(width)
    finite = np.nan_to_num(values, neginf=-1e3)
    cumulative = np.cumsum(rng.random((n_rows, width + 2)), axis=1)
    share = rng.random((n_rows, width)) * (rng.random((n_rows, width)) < 0.8)
    offset = rng.normal(size=(n_rows, width))
    expected = ((finite * cumulative[:, 1 : width + 1] - offset) * share).sum(axis=0)
    assert skip_sums(finite, cumulative, offset, share).tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="columns"):
        skip_sums(finite, cumulative[:, :width], offset, share)


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(0, 1000),  # from 32 answers a building, a sorted table's runs are searched for
    n_buildings=st.integers(1, 30),
    order=st.sampled_from(["any", "sorted"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_building_counts_are_numpys_check_and_bincount(n_rows, n_buildings, order, seed) -> None:
    building = np.random.default_rng(seed).integers(0, n_buildings, n_rows).astype(np.int32)
    if order == "sorted":
        building.sort()
    by_building, counts = building_counts(building, n_buildings)
    assert by_building == bool((building[1:] >= building[:-1]).all())
    assert counts.tolist() == np.bincount(building, minlength=n_buildings).tolist()
    for wrong in (np.append(building, n_buildings), np.insert(building, 0, -1)):
        with pytest.raises(ValueError, match=f"between 0 and {n_buildings - 1}"):
            building_counts(wrong, n_buildings)


@settings(max_examples=80, deadline=None)
@given(values=rows_of_states(), nan=st.booleans(), levels=st.sampled_from([(0.05, 0.95), (0.25, 0.75), (0.0, 1.0)]))
def test_state_summaries_are_numpys_argmax_gather_and_running_sum_searches(values, nan, levels) -> None:
    """The most probable state, its mass and the interval's ends as numpy finds them, ties, NaN rows and rows that
    never reach a level included."""
    with np.errstate(invalid="ignore"):  # a row of -inf only: NaN, made a row of zeros (it never reaches a level)
        posterior = np.exp(values - values.max(axis=1, keepdims=True))
        posterior /= posterior.sum(axis=1, keepdims=True)
    posterior[np.isnan(posterior)] = 0.0
    posterior[::3, :2] = posterior[::3, :1]  # ties
    if nan:
        posterior[::2, posterior.shape[1] // 2] = np.nan
    low, high = levels
    state, confidence, start, end = state_summaries(posterior, low, high)
    expected = np.argmax(posterior, axis=1)
    cdf = np.cumsum(posterior, axis=1)
    assert state.tolist() == expected.tolist()
    np.testing.assert_array_equal(confidence, posterior[np.arange(len(expected)), expected])
    assert start.tolist() == np.argmax(cdf > low, axis=1).tolist()
    assert end.tolist() == np.argmax(cdf >= high, axis=1).tolist()
