"""The spatial-temporal prior (issue 14): ``stracker.aggregate(footprints=..., neighbours=...)``.

Synthetic campaigns on a grid of footprints (``campaigns.SpatialCampaign``): destruction dates that cluster in
blocks, or the same dates shuffled over the grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from campaigns import SpatialCampaign, metrics
from scipy import sparse

import stracker
from stracker.consensus.result import credible_bounds
from stracker.consensus.spatial import NeighbourGraph, neighbour_graph, state_kernels
from stracker.errors import FootprintsError, OptionsError, UnmatchedBuildingsError
from stracker.labels import destruction_state


@pytest.fixture(scope="module")
def clustered() -> SpatialCampaign:
    return SpatialCampaign(0, clustered=True, n_side=30, per_building=4)


@pytest.fixture(scope="module")
def clustered_fit(clustered):
    return stracker.aggregate(clustered.labels, clustered.dates, footprints=clustered.footprints)


def test_clustered_dates_are_dated_better_with_footprints(clustered, clustered_fit):
    plain = metrics(stracker.aggregate(clustered.labels, clustered.dates), clustered.truth)
    spatial = metrics(clustered_fit, clustered.truth)
    assert clustered_fit.spatial_prior["weight"] > 1.0
    assert spatial["mae_days"] < 0.8 * plain["mae_days"]
    assert spatial["log_score"] < plain["log_score"] - 0.3
    assert spatial["state_accuracy"] > plain["state_accuracy"] + 0.1
    assert spatial["ci_coverage"] >= 0.88


def test_the_learned_kernel_is_that_of_one_pair_of_neighbours(clustered, clustered_fit):
    """The kernel's chance that a neighbour is in the same state, against the share of neighbour pairs that are
    (the kernel fitted to each building's best-matching neighbour said 0.78 where 0.39 of pairs are)."""
    summary = clustered_fit.spatial_prior
    scales = tuple(float(name.split()[0]) for name in summary["kernel_shares"])
    shares = np.array(list(summary["kernel_shares"].values()))
    prior = clustered_fit.prior
    kernel = np.tensordot(shares, state_kernels(clustered.dates, scales), axes=1)
    kernel += summary["independent_share"] * prior[None, :]
    implied = float(prior @ np.diag(kernel))
    graph = neighbour_graph(clustered.footprints)
    truth = destruction_state(clustered.truth.reindex(graph.building_ids), clustered.dates)
    pairs = graph.weights.tocoo()
    same = float(np.sum(pairs.data * (truth[pairs.row] == truth[pairs.col])) / pairs.data.sum())
    assert implied == pytest.approx(same, abs=0.08)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_city_whose_dates_do_not_cluster_gets_todays_model(seed):
    c = SpatialCampaign(seed, clustered=False, n_side=30, per_building=4)
    plain = stracker.aggregate(c.labels, c.dates)
    spatial = stracker.aggregate(c.labels, c.dates, footprints=c.footprints)
    assert spatial.spatial_prior["weight"] < 0.05
    np.testing.assert_allclose(spatial.posterior, plain.posterior, atol=0.01)


def test_calibration_of_the_spatial_posterior():
    """Binned confidence (posterior mass of the most probable state) against accuracy, within 0.05."""
    c = SpatialCampaign(2, clustered=True, n_side=60, per_building=6)
    fit = stracker.aggregate(c.labels, c.dates, footprints=c.footprints)
    truth = destruction_state(c.truth.reindex(fit.buildings.index), c.dates)
    confidence = fit.posterior.max(axis=1)
    hit = fit.posterior.argmax(axis=1) == truth
    bins = np.minimum((confidence * 5).astype(int), 4)
    n = np.bincount(bins, minlength=5)
    gap = np.abs(np.bincount(bins, confidence, 5) - np.bincount(bins, hit, 5)) / np.maximum(n, 1)
    assert (n >= 200).sum() >= 3
    assert gap[n >= 200].max() <= 0.05
    assert metrics(fit, c.truth)["ci_coverage"] >= 0.9


def test_a_building_without_answers_gets_its_neighbours_dates_and_a_wide_interval():
    c = SpatialCampaign(3, clustered=True, n_side=30, per_building=3, task="timeline")
    D = len(c.dates)
    # every 29th building of a destroyed block has nobody's answers
    quiet = c.ids[(np.arange(c.ids.size) % 29 == 5) & (c.block_states < D)]
    labels = c.labels[~c.labels["building_id"].isin(quiet)]
    fit = stracker.aggregate(labels, c.dates, footprints=c.footprints)
    assert fit.spatial_prior["weight"] > 1.0
    assert len(fit.buildings) == len(c.footprints)  # every footprint has a row
    rows = fit.buildings.loc[quiet]
    assert (rows["n_labels"] == 0).all()
    assert (rows["p_destroyed"] > 0.5).mean() > 0.9 and rows["p_destroyed"].mean() > 0.85
    position = fit.buildings.index.get_indexer(quiet)
    est = fit.posterior[position].argmax(axis=1)
    block = c.block_states[np.searchsorted(c.ids, quiet)]
    assert np.abs(est - block).mean() <= 0.5  # their neighbours' date
    truth = destruction_state(c.truth.loc[quiet], c.dates)
    start, end = credible_bounds(fit.posterior)
    assert ((truth >= start[position]) & (truth <= end[position])).mean() >= 0.9
    answered = fit.buildings["n_labels"].to_numpy() > 0
    width = end - start
    assert np.median(width[~answered]) > np.median(width[answered])  # wider than answered buildings'
    plain = stracker.aggregate(labels, c.dates)
    assert not plain.buildings.index.isin(quiet).any()  # without footprints they have no row


def test_row_order_and_footprints_or_neighbours_give_the_same_fit(clustered, clustered_fit):
    rng = np.random.default_rng(5)
    footprints = clustered.footprints.iloc[rng.permutation(len(clustered.footprints))]
    labels = clustered.labels.iloc[rng.permutation(len(clustered.labels))]
    shuffled = stracker.aggregate(labels, clustered.dates, footprints=footprints)
    np.testing.assert_allclose(shuffled.posterior, clustered_fit.posterior, atol=1e-9)
    assert shuffled.buildings.index.equals(clustered_fit.buildings.index)
    graph = neighbour_graph(clustered.footprints)
    by_graph = stracker.aggregate(clustered.labels, clustered.dates, neighbours=graph)
    np.testing.assert_allclose(by_graph.posterior, clustered_fit.posterior, atol=1e-12)
    # the same weights as a plain matrix over the sorted building ids of the labels, unnormalised
    matrix = sparse.csr_matrix(graph.weights.multiply(3.0))
    by_matrix = stracker.aggregate(clustered.labels, clustered.dates, neighbours=matrix)
    np.testing.assert_allclose(by_matrix.posterior, clustered_fit.posterior, atol=1e-12)


def test_neighbour_graph_takes_the_nearest_within_the_radius():
    import geopandas as gpd
    import shapely

    x = np.array([0.0, 10.0, 30.0, 60.0, 500.0])
    footprints = gpd.GeoDataFrame(
        {"building_id": ["e", "d", "c", "b", "a"]}, geometry=shapely.box(x - 2, -2, x + 2, 2), crs="EPSG:32637"
    )
    graph = neighbour_graph(footprints, k=2, radius_m=40.0)
    assert graph.building_ids.tolist() == ["a", "b", "c", "d", "e"]
    w = graph.weights.toarray()
    # "e" (x 0) has "d" (10 m) and "c" (30 m); "a" (x 500) has nobody within 40 m
    assert w[4].nonzero()[0].tolist() == [2, 3]
    assert w[4, 3] / w[4, 2] == pytest.approx(np.exp(20.0 / 40.0))
    assert w[0].sum() == 0 and np.allclose(w[1:].sum(axis=1), 1.0)
    assert (np.diag(w) == 0).all()


def test_kernels_are_conditional_distributions_and_narrow_to_the_same_state():
    dates = pd.DatetimeIndex(["2017-06-01", "2017-06-04", "2017-06-20", "2017-07-01"])
    K = state_kernels(dates, (0.01, 3.0, 1e4))
    np.testing.assert_allclose(K.sum(axis=2), 1.0)
    np.testing.assert_allclose(np.diagonal(K[0], axis1=0, axis2=1), 1.0, atol=1e-2)
    assert K[1, 2, 2] > K[1, 1, 1]  # a long image gap holds more of a few days' spread than a short one
    assert K[2, 2, 0] == pytest.approx(0.5, abs=0.01) and K[2, 2, 4] == pytest.approx(0.5, abs=0.01)


def test_footprints_not_matching_the_answers_are_named(clustered):
    missing = clustered.footprints.iloc[10:]
    with pytest.raises(UnmatchedBuildingsError, match="not in the footprints") as error:
        stracker.aggregate(clustered.labels, clustered.dates, footprints=missing)
    assert sorted(error.value.building_ids) == sorted(clustered.ids[:10].tolist())
    as_text = clustered.footprints.assign(building_id=clustered.footprints["building_id"].astype(str))
    with pytest.raises(UnmatchedBuildingsError, match="differ in type"):
        stracker.aggregate(clustered.labels, clustered.dates, footprints=as_text)


def test_footprints_in_degrees_or_without_a_crs_are_refused(clustered):
    with pytest.raises(FootprintsError, match=r"geographic CRS.*to_crs"):
        stracker.aggregate(clustered.labels, clustered.dates, footprints=clustered.footprints.to_crs(4326))
    with pytest.raises(FootprintsError, match="no CRS"):
        stracker.aggregate(
            clustered.labels, clustered.dates, footprints=clustered.footprints.set_crs(None, allow_override=True)
        )
    with pytest.raises(FootprintsError, match="no 'building_id' column"):
        stracker.aggregate(
            clustered.labels, clustered.dates, footprints=clustered.footprints.rename(columns={"building_id": "id"})
        )


def test_bad_neighbour_graphs_and_options_are_refused(clustered):
    n = len(clustered.footprints)
    fit = stracker.aggregate
    args = (clustered.labels, clustered.dates)
    with pytest.raises(OptionsError, match=r"diagonal.*count twice"):
        fit(*args, neighbours=sparse.eye(n, format="csr"))
    with pytest.raises(OptionsError, match="3 x 3 matrix but there are 900 buildings"):
        fit(*args, neighbours=sparse.csr_matrix((3, 3)))
    with pytest.raises(OptionsError, match="negative"):
        fit(*args, neighbours=-sparse.random(n, n, density=0.01, format="csr", random_state=0))
    with pytest.raises(OptionsError, match="NeighbourGraph or a square"):
        fit(*args, neighbours=[[0, 1], [1, 0]])
    with pytest.raises(OptionsError, match="the EM's"):
        fit(*args, method="majority", footprints=clustered.footprints)
    with pytest.raises(OptionsError, match="not both"):
        fit(*args, footprints=clustered.footprints, neighbours=neighbour_graph(clustered.footprints))
    with pytest.raises(OptionsError, match="spatial_radius_m"):
        stracker.EMOptions(spatial_radius_m=0)
    with pytest.raises(OptionsError, match="spatial_neighbours"):
        stracker.EMOptions(spatial_neighbours=0)
    graph = NeighbourGraph.from_matrix(sparse.csr_matrix((2, 2)), pd.Index([1, 2]))
    with pytest.raises(UnmatchedBuildingsError):
        fit(*args, neighbours=graph)


def test_buildings_without_neighbours_keep_the_campaign_prior(clustered):
    """A graph without edges: every building's prior is the campaign's, the fit today's."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = sparse.csr_matrix((len(clustered.footprints), len(clustered.footprints)))
        alone = stracker.aggregate(clustered.labels, clustered.dates, neighbours=empty)
    plain = stracker.aggregate(clustered.labels, clustered.dates)
    np.testing.assert_allclose(alone.posterior, plain.posterior, atol=1e-12)
    assert alone.spatial_prior["weight"] == 0.0


def _incremental(campaign: SpatialCampaign, **options):
    """An incremental fit with the campaign's neighbour graph, and its answers in three slices of its codes."""
    from stracker.consensus.incremental import IncrementalFit

    enc = stracker.encode_labels(campaign.labels, campaign.dates)
    ids = pd.Index(campaign.ids, name="building_id")
    fit = IncrementalFit(
        ids, enc.volunteer_ids, enc.image_dates, neighbours=neighbour_graph(campaign.footprints), **options
    )
    building = ids.get_indexer(enc.building_ids)[enc.building]
    cuts = np.linspace(0, enc.n_answers, 4).astype(int)
    parts = [
        fit.encode(building[a:b], enc.volunteer[a:b], enc.lo[a:b], enc.hi[a:b], enc.answer[a:b], enc.task[a:b])
        for a, b in itertools.pairwise(cuts)
    ]
    return fit, parts, dataclasses.replace(enc, building_ids=ids, building=building.astype(np.int32))


def test_incremental_fit_with_neighbours_updates_every_posterior_as_a_fresh_e_step(clustered):
    from stracker.consensus.model import AnswerModel

    fit, parts, every = _incremental(clustered, refit_share=100.0)  # only the first slice refits
    assert fit.update(parts[0]) and not fit.update(parts[1]) and not fit.update(parts[2])
    assert fit.state.building_prior is not None and fit.state.building_prior.strength > 0
    fresh = AnswerModel(every).e_step(fit.state).posterior  # every answer, every building, the fit's parameters
    np.testing.assert_allclose(fit.posterior, fresh, rtol=0, atol=1e-12)
    consensus = fit.consensus()
    assert len(consensus.buildings) == len(clustered.footprints) and consensus.spatial_prior is not None


def test_between_refits_only_the_answered_buildings_and_those_beside_them_move(clustered):
    fit, parts, _ = _incremental(clustered, refit_share=100.0)
    fit.update(parts[0])
    prior = fit.state.building_prior
    assert prior is not None
    before = fit.posterior.copy()
    touched = fit.add(parts[1])
    graph = prior.weights
    beside = np.flatnonzero(np.asarray(graph[:, touched].sum(axis=1)).ravel() > 0)
    assert np.array_equal(fit.changed, np.union1d(touched, beside))
    assert fit.changed.size < len(fit.building_ids)  # a slice of the answers does not move every building
    unchanged = np.setdiff1d(np.arange(len(fit.building_ids)), fit.changed)
    assert np.array_equal(fit.posterior[unchanged], before[unchanged])
    # the rows of the prior's step, from the neighbours' log-likelihoods alone
    full = prior.step(fit.log_likelihood, fit.state.log_prior).log_prior
    rows = np.random.default_rng(3).choice(len(fit.building_ids), 40, replace=False)
    np.testing.assert_allclose(
        prior.log_prior_of(rows, fit.log_likelihood, fit.state.log_prior), full[rows], rtol=0, atol=1e-12
    )


def test_incremental_fit_with_neighbours_refitted_in_full_is_aggregate_with_footprints(clustered, clustered_fit):
    fit, parts, _ = _incremental(clustered, refit_share=0.0)
    for part in parts:
        fit.update(part)
    fit.refit()
    consensus = fit.consensus()
    # warm refits land where a cold fit does, up to the tolerance of the fit
    assert np.abs(consensus.posterior - clustered_fit.posterior).max() < 0.05
    assert consensus.spatial_prior["strength"] == pytest.approx(clustered_fit.spatial_prior["strength"], rel=0.05)


def test_the_spatial_prior_with_gold_and_visibility(clustered):
    """Gold buildings keep the expert's state (one outside the footprints too, without neighbours); the
    visibility rows follow the buildings the footprints add."""
    gold = pd.DataFrame({"building_id": [clustered.ids[0], 99999], "destroyed_on": [clustered.truth.iloc[0], pd.NaT]})
    vis = pd.DataFrame(1.0, index=pd.Index(clustered.ids, name="building_id"), columns=clustered.dates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gold building nobody answered about is named in a warning
        fit = stracker.aggregate(
            clustered.labels, clustered.dates, footprints=clustered.footprints, gold=gold, visibility=vis
        )
    assert len(fit.buildings) == len(clustered.footprints) + 1
    D = len(clustered.dates)
    state = destruction_state(clustered.truth.iloc[:1], clustered.dates)[0]
    assert fit.posterior[fit.buildings.index.get_loc(clustered.ids[0]), state] == pytest.approx(1.0)
    assert fit.posterior[fit.buildings.index.get_loc(99999), D] == pytest.approx(1.0)
    assert fit.spatial_prior["weight"] > 1.0
