"""Which client aggregate_distributed runs on (Dask's convention: the given one, else the current one, else a
LocalCluster of its own) and that every way to get results out works on it.

No module-wide client here: some tests need there to be no current client at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

from campaigns import assert_same_buildings, assert_same_consensus, mixed_table
from dask.distributed import Client, LocalCluster

import stracker
from stracker import DistributedConsensus, aggregate_distributed
from stracker.consensus.distributed import current_client

OPTIONS = stracker.EMOptions(max_iter=8)


@pytest.fixture(scope="module")
def table():
    return mixed_table(seed=3, n_buildings=80)


@pytest.fixture(scope="module")
def reference(table):
    labels, dates = table
    return stracker.aggregate(labels, dates, options=OPTIONS)


def small_cluster() -> LocalCluster:
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")


def assert_every_way_out(
    result: DistributedConsensus,
    reference: stracker.Consensus,
    tmp_path,
    compute: Callable[[Any], Any] = lambda lazy: lazy.compute(),
) -> None:
    """compute(), the lazy tables (computed by ``compute``), summary(), state_probabilities(), to_file() and
    to_parquet() all give the in-memory consensus."""
    assert_same_consensus(result.compute(), reference)
    assert_same_buildings(compute(result.buildings), reference.buildings)
    expected_states = reference.state_probabilities()
    for states in (compute(result.states), compute(result.state_probabilities())):
        np.testing.assert_allclose(states.to_numpy(), expected_states.to_numpy(), rtol=0, atol=1e-9)
        assert states.index.equals(expected_states.index)
    summary, expected = result.summary(), reference.summary()
    assert summary.pop("mean_confidence") == pytest.approx(expected.pop("mean_confidence"), rel=1e-12)
    assert summary == expected
    written = result.to_file(tmp_path / "c.gpkg")
    assert len(written) == len(reference.buildings)
    np.testing.assert_allclose(
        stracker.read_consensus(tmp_path / "c.gpkg").posterior, reference.posterior, rtol=0, atol=1e-9
    )
    result.to_parquet(tmp_path / "buildings")
    assert_same_buildings(pd.read_parquet(tmp_path / "buildings").sort_index(), reference.buildings)


def test_inside_a_users_client_block_its_client_is_used(table, reference, tmp_path):
    """The bug of issue 15: without client= the fit started a LocalCluster of its own, and
    result.buildings.compute() then ran on the user's client and failed with "lost dependencies"."""
    labels, dates = table
    with small_cluster() as cluster, Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        result = aggregate_distributed(labels, dates, n_partitions=3, options=OPTIONS)
        assert result.client is client and not result._own  # nothing made, nothing to close
        assert set(result.client.scheduler_info()["workers"]) == workers
        assert_every_way_out(result, reference, tmp_path / "lazy")
        # the context manager releases the shards and leaves the user's client open
        with aggregate_distributed(labels, dates, n_partitions=2, options=OPTIONS) as again:
            assert again.client is client
            assert_every_way_out(again, reference, tmp_path / "with")
        assert client.status == "running"
        assert client.submit(sum, [1, 2]).result() == 3  # the user's client still works
        result.close()
        assert client.status == "running"


def test_the_default_client_is_used_outside_a_block(table, reference, tmp_path):
    """A client made with Client(...) and not entered is Dask's default client: it is used, not a new cluster."""
    labels, dates = table
    with small_cluster() as cluster:
        client = Client(cluster)
        try:
            assert current_client() is client
            result = aggregate_distributed(labels, dates, n_partitions=2, options=OPTIONS)
            assert result.client is client
            assert_every_way_out(result, reference, tmp_path)
            result.close()
            assert client.status == "running"
        finally:
            client.close()


def test_an_explicit_client_wins_over_the_current_one(table, reference, tmp_path):
    """client= is used even inside another client's block; the methods run on it; the lazy tables compute on it
    through result.client (on the current, other client their shards do not exist)."""
    labels, dates = table
    with small_cluster() as mine, Client(mine) as explicit, small_cluster() as theirs, Client(theirs) as current:
        assert current_client() is current
        result = aggregate_distributed(labels, dates, client=explicit, n_partitions=3, options=OPTIONS)
        assert result.client is explicit
        # the methods do not depend on which client is current; the lazy tables through result.client
        assert_every_way_out(
            result, reference, tmp_path / "methods", compute=lambda lazy: result.client.compute(lazy, sync=True)
        )
        with explicit.as_current():  # or with the result's client made current
            assert_every_way_out(result, reference, tmp_path / "current")
        result.close()
        assert explicit.status == "running" and current.status == "running"


def test_without_any_client_a_local_cluster_is_made_and_closed(table, reference, tmp_path):
    """No client anywhere: a LocalCluster of its own, the default client while the result is open (so the lazy
    tables compute on it), shared by a second call without a client, closed by the last result closed."""
    labels, dates = table
    assert current_client() is None, "another test left a client open"
    with aggregate_distributed(labels, dates, n_partitions=2, options=OPTIONS) as result:
        made = result.client
        assert current_client() is made
        assert_every_way_out(result, reference, tmp_path / "first")
        second = aggregate_distributed(labels, dates, n_partitions=3, options=OPTIONS)
        assert second.client is made  # the current client, the one made above: no second cluster
    # the first result is closed, the second still uses the cluster
    assert made.status == "running"
    assert_every_way_out(second, reference, tmp_path / "second")
    second.close()
    assert made.status == "closed"
    assert current_client() is None
