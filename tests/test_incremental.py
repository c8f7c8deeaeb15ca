"""The incremental fit of a growing campaign (stracker.consensus.incremental): the rows it updates between refits
are those of a fresh E-step, a refit with the full options from the start is stracker.aggregate, and a full refit
after loose ones is a converged fit."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from campaigns import assert_same_consensus, mixed_table

import stracker
from stracker.consensus.em import EMOptions
from stracker.consensus.incremental import IncrementalFit
from stracker.consensus.model import AnswerModel
from stracker.errors import LabelsError, OptionsError
from stracker.labels import EncodedLabels, encode_labels


@pytest.fixture(scope="module")
def enc() -> EncodedLabels:
    labels, dates = mixed_table(seed=3, n_buildings=200)  # timeline marks, "no destruction" and compare answers
    return encode_labels(labels, dates)


def parts(fit: IncrementalFit, enc: EncodedLabels, n: int) -> list[EncodedLabels]:
    """The table's answers in ``n`` consecutive slices (later slices name buildings the first did not)."""
    cuts = np.linspace(0, enc.n_answers, n + 1).astype(int)
    return [
        fit.encode(enc.building[a:b], enc.volunteer[a:b], enc.lo[a:b], enc.hi[a:b], enc.answer[a:b], enc.task[a:b])
        for a, b in itertools.pairwise(cuts)
    ]


def new_fit(enc: EncodedLabels, **options) -> IncrementalFit:
    return IncrementalFit(enc.building_ids, enc.volunteer_ids, enc.image_dates, **options)


def test_rows_updated_between_refits_equal_a_fresh_e_step(enc):
    fit = new_fit(enc, refit_share=100.0)  # only the first answers refit
    first, *rest = parts(fit, enc, 4)
    assert fit.update(first)
    unanswered = ~fit.answered.copy()
    for part in rest:
        assert not fit.update(part)
    assert (fit.answered & unanswered).any()  # buildings first answered after the refit
    model = AnswerModel(fit.encoded())
    fresh = model.log_likelihood(fit.state.params, fit.state.image_weight).by_state
    rows = fit.log_likelihood[fit.answered]
    assert np.abs(rows - fresh).max() <= 1e-12 * np.abs(fresh).max()
    np.testing.assert_allclose(fit.posterior[fit.answered], model.e_step(fit.state).posterior, rtol=0, atol=1e-12)
    # buildings without answers keep the prior
    assert np.allclose(fit.posterior[~fit.answered], np.exp(fit.state.log_prior))


def test_a_full_refit_of_every_answer_at_once_is_aggregate(enc):
    fit = new_fit(enc, refit_options=EMOptions())
    assert fit.update(parts(fit, enc, 1)[0])
    assert fit.is_full_fit
    assert_same_consensus(fit.consensus(), stracker.aggregate(enc), atol=1e-12)


def test_a_full_refit_after_loose_ones_is_converged(enc):
    fit = new_fit(enc, refit_share=0.2)
    refits = [fit.update(part) for part in parts(fit, enc, 6)]
    assert refits[0] and not all(refits)  # some rounds only update rows
    assert not fit.is_full_fit
    result = fit.refit()
    assert result.converged and result.n_iter < EMOptions().max_iter and fit.is_full_fit
    before = fit.posterior.copy()
    fit.refit()  # at its fixed point: another fit barely moves
    assert np.abs(fit.posterior - before).max() < 1e-3
    consensus = fit.consensus()
    assert consensus.converged and consensus.buildings.index.equals(enc.building_ids)
    assert consensus.volunteers["n_labels"].sum() == enc.n_answers


def test_refits_are_due_by_the_share_of_new_answers(enc):
    fit = new_fit(enc, refit_share=0.5)
    a, b, c, d = parts(fit, enc, 4)
    assert [fit.update(a), fit.update(b), fit.update(c), fit.update(d)] == [True, True, False, True]
    every = new_fit(enc, refit_share=0.0)
    assert all(every.update(part) for part in parts(every, enc, 3))


def test_codes_outside_the_universe_and_bad_options_are_refused(enc):
    fit = IncrementalFit(enc.building_ids[:-1], enc.volunteer_ids, enc.image_dates)
    with pytest.raises(LabelsError, match="encode them with its ids"):
        fit.add(enc)
    with pytest.raises(LabelsError, match="no answers yet"):
        fit.consensus()
    with pytest.raises(LabelsError, match="no answers yet"):
        fit.refit()
    fit = new_fit(enc)
    good = dict(building=[0, 1], volunteer=[0, 1], lo=[-1, 0], hi=[2, 1], answer=[1, 0], task=1)
    for name, value in (("building", [0, 200]), ("volunteer", [-1, 0]), ("lo", [2, 0]), ("hi", [2, 10])):
        with pytest.raises(LabelsError, match=r"outside this fit's universe .* at positions \["):
            fit.add(fit.encode(**(good | {name: value})))
    assert fit.n_answers == 0
    assert fit.add(fit.encode(**good)).tolist() == [0, 1]
    with pytest.raises(OptionsError, match="refit_share"):
        new_fit(enc, refit_share=-1.0)
    with pytest.raises(OptionsError, match="refit_options must be an EMOptions"):
        new_fit(enc, refit_options={"tol": 1e-3})


@pytest.fixture(scope="module")
def shares(enc) -> np.ndarray:
    """Visible shares of the table's buildings and images: a third of the frames hidden, some partly cloudy."""
    rng = np.random.default_rng(11)
    values = rng.choice([0.0, 0.4, 1.0], size=(enc.n_buildings, enc.n_images), p=[0.3, 0.2, 0.5])
    values[rng.random(values.shape) < 0.05] = np.nan  # unknown: taken as visible
    return values


def test_with_visibility_a_full_refit_is_aggregate_with_it(enc, shares):
    table = pd.DataFrame(shares, index=enc.building_ids, columns=enc.image_dates)
    fit = new_fit(enc, refit_options=EMOptions(), visibility=table)
    assert fit.update(parts(fit, enc, 1)[0])
    expected = stracker.aggregate(enc, visibility=table)
    assert_same_consensus(fit.consensus(), expected, atol=1e-12)
    plain = stracker.aggregate(enc)
    assert np.abs(expected.posterior - plain.posterior).max() > 0.05  # the visibility is not a no-op here


def test_with_visibility_rows_between_refits_equal_a_fresh_e_step(enc, shares):
    fit = new_fit(enc, refit_share=100.0, visibility=shares)  # the array, in the universe's order
    first, *rest = parts(fit, enc, 3)
    fit.update(first)
    for part in rest:
        assert not fit.update(part)
    rows = np.flatnonzero(fit.answered)
    model = AnswerModel(fit.encoded(), visibility=fit.visibility[rows])
    fresh = model.log_likelihood(fit.state.params, fit.state.image_weight).by_state
    assert np.abs(fit.log_likelihood[rows] - fresh).max() <= 1e-12 * np.abs(fresh).max()
    # and they differ from the rows read without the visibility
    blind = AnswerModel(fit.encoded()).log_likelihood(fit.state.params, fit.state.image_weight).by_state
    assert np.abs(blind - fresh).max() > 1.0


def test_visibility_of_the_wrong_shape_or_range_is_refused(enc, shares):
    with pytest.raises(LabelsError, match=r"one row per building of the fit"):
        new_fit(enc, visibility=shares[:-1])
    bad = shares.copy()
    bad[3, 0] = 1.5
    with pytest.raises(LabelsError, match=r"outside \[0, 1\], e\.g\. \[1\.5\]"):
        new_fit(enc, visibility=bad)
