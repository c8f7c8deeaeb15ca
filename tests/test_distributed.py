"""The consensus EM on Dask: the same answer as the in-memory engine, whatever the partitioning."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

from campaigns import Campaign, assert_same_buildings, assert_same_consensus, mixed_table
from dask.distributed import Client, LocalCluster

import stracker
from stracker import DistributedConsensus, aggregate_distributed
from stracker.errors import DuplicateAnswersWarning, FileFormatError, LabelsError, OptionsError


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def table():
    return mixed_table()


@pytest.fixture(scope="module")
def reference(table):
    labels, dates = table
    return stracker.aggregate(labels, dates)


@pytest.mark.parametrize("n_partitions", [1, 2, 3, 7])
def test_same_answer_as_in_memory_whatever_the_partitioning(client, table, reference, n_partitions):
    labels, dates = table
    assert set(labels["task"]) == {"timeline", "compare"} and len(labels) > 3000
    result = aggregate_distributed(labels, dates, client=client, n_partitions=n_partitions)
    assert result.buildings.npartitions == n_partitions
    assert_same_consensus(result.compute(), reference)


def test_a_dask_dataframe_goes_to_aggregate_distributed(client, table, reference):
    import dask.dataframe as dd

    labels, dates = table
    answers = dd.from_pandas(labels, npartitions=5)
    result = stracker.aggregate_distributed(answers, dates, client=client)
    assert isinstance(result, DistributedConsensus)
    assert result.buildings.npartitions == 5
    assert_same_consensus(result.compute(), reference)
    # aggregate() is the in-memory engine: it says where a Dask DataFrame goes instead of changing its result type
    with pytest.raises(LabelsError, match="aggregate_distributed"):
        stracker.aggregate(answers, dates)


def test_the_result_has_the_methods_of_the_in_memory_one(client, table, reference, tmp_path):
    labels, dates = table
    result = aggregate_distributed(labels, dates, client=client, n_partitions=3)
    public = {name for name in dir(stracker.Consensus) if not name.startswith("_")}
    missing = {name for name in public if not hasattr(result, name)}
    assert not missing
    import inspect

    for name in ("summary", "state_probabilities", "to_file", "to_geodataframe", "compute"):
        assert (
            inspect.signature(getattr(DistributedConsensus, name)).parameters.keys()
            == inspect.signature(getattr(stracker.Consensus, name)).parameters.keys()
        ), name
    summary = result.summary()
    expected = reference.summary()
    assert summary.keys() == expected.keys()
    assert summary["mean_confidence"] == pytest.approx(expected["mean_confidence"], rel=1e-12)
    assert {k: v for k, v in summary.items() if k != "mean_confidence"} == {
        k: v for k, v in expected.items() if k != "mean_confidence"
    }
    assert result.n_states == reference.n_states == len(dates) + 1
    states = result.state_probabilities().compute()
    np.testing.assert_allclose(states.to_numpy(), reference.state_probabilities().to_numpy(), rtol=0, atol=1e-9)
    assert states.columns.tolist() == reference.state_probabilities().columns.tolist()
    # to_file writes what the in-memory consensus writes: read back, the same consensus
    written = result.to_file(tmp_path / "c.gpkg")
    assert len(written) == len(reference.buildings)
    back = stracker.read_consensus(tmp_path / "c.gpkg")
    np.testing.assert_allclose(back.posterior, reference.posterior, rtol=0, atol=1e-9)
    assert reference.compute() is reference


def test_options_are_the_in_memory_ones(client, table):
    labels, dates = table
    options = stracker.EMOptions(volunteer_types=1, image_difficulty=False, max_iter=6)
    ref = stracker.aggregate(labels, dates, options=options)
    result = aggregate_distributed(labels, dates, client=client, n_partitions=3, options=options)
    assert result.n_iter == ref.n_iter == 6
    assert_same_consensus(result.compute(), ref)
    with pytest.raises(OptionsError, match="max_iter"):
        aggregate_distributed(labels, dates, client=client, max_iter=0)


def test_parquet_dataset_in_and_out_with_string_ids(client, table, tmp_path):
    labels, dates = table
    labels = labels.assign(
        building_id="b" + labels["building_id"].astype(str), volunteer_id="v" + labels["volunteer_id"].astype(str)
    )
    ref = stracker.aggregate(labels, dates)
    path = tmp_path / "answers"
    path.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(labels)), 3)):
        labels.iloc[chunk].to_parquet(path / f"part.{i}.parquet")
    result = aggregate_distributed(str(path), dates, client=client, n_partitions=4)
    assert_same_consensus(result.compute(), ref)
    out = tmp_path / "buildings"
    result.to_parquet(out)
    written = pd.read_parquet(out).sort_index()
    written.index = written.index.astype(ref.buildings.index.dtype)  # Parquet reads text back as NA-backed strings
    assert len(list(out.glob("*.parquet"))) == 4
    assert_same_buildings(written, ref.buildings)


def test_answers_already_partitioned_by_building_are_not_shuffled(client, table, reference, tmp_path):
    import dask.dataframe as dd

    labels, dates = table
    by_building = dd.from_pandas(labels.set_index("building_id").sort_index(), npartitions=3)
    assert by_building.known_divisions
    result = aggregate_distributed(by_building, dates, client=client, n_partitions=7)  # the input's partitions hold
    assert result.buildings.npartitions == 3 and result.buildings.divisions == by_building.divisions
    assert not result.shuffled
    assert_same_consensus(result.compute(), reference)
    # a sorted Parquet dataset read with its divisions: the same, without a shuffle
    path = tmp_path / "sorted"
    by_building.to_parquet(path)
    from_parquet = dd.read_parquet(path, index="building_id", calculate_divisions=True)
    result = aggregate_distributed(from_parquet, dates, client=client)
    assert not result.shuffled
    assert_same_consensus(result.compute(), reference)
    # the shuffle is still there for unsorted input
    assert aggregate_distributed(dd.from_pandas(labels, npartitions=3), dates, client=client).shuffled


def test_divisions_that_leave_a_partition_empty_fall_back_to_the_shuffle(client, table, reference):
    import dask.dataframe as dd

    labels, dates = table
    ids = np.sort(labels["building_id"].unique())
    # a division between two buildings: the partition from it would not start at a building it holds
    by_building = dd.from_pandas(labels, npartitions=2).set_index(
        "building_id", divisions=[ids[0], ids[100] + 0.5, ids[-1]]
    )
    result = aggregate_distributed(by_building, dates, client=client)
    assert result.shuffled
    assert_same_consensus(result.compute(), reference)


def test_catalogue_found_in_the_table(client, table):
    labels, _ = table
    ref = stracker.aggregate(labels)
    result = aggregate_distributed(labels, client=client, n_partitions=3)
    assert result.image_dates.equals(ref.image_dates)
    assert_same_consensus(result.compute(), ref)


def test_known_parameters_and_prior(client, table):
    labels, dates = table
    c = Campaign(seed=1, n_buildings=400, n_volunteers=40, n_images=10, per_building=5)
    ref = stracker.aggregate(labels, dates, volunteer_params=c.params, prior=c.prior)
    result = aggregate_distributed(
        labels, dates, client=client, n_partitions=3, volunteer_params=c.params, prior=c.prior
    )
    assert result.n_iter == 1
    assert_same_consensus(result.compute(), ref)


def test_duplicates_and_bad_input(client, table, tmp_path):
    labels, dates = table
    doubled = pd.concat([labels, labels.iloc[:3]], ignore_index=True)
    with pytest.warns(DuplicateAnswersWarning, match="6 row") as caught:
        aggregate_distributed(doubled, dates, client=client, n_partitions=2, max_iter=2)
    assert caught[0].filename == __file__  # the warning points at the caller, not at the engine
    # the same message as the in-memory engine's, with the buildings named instead of the rows
    with pytest.warns(DuplicateAnswersWarning) as in_memory:
        stracker.encode_labels(doubled, dates)
    assert str(caught[0].message).split(":", 1)[1] == str(in_memory[0].message).split(":", 1)[1]
    buildings = sorted(doubled["building_id"].iloc[-3:])
    assert f"about buildings {buildings}" in str(caught[0].message)
    with pytest.raises(LabelsError, match="duplicate"):
        aggregate_distributed(doubled, dates, client=client, n_partitions=2, on_duplicate="error")
    with pytest.raises(LabelsError, match="on_duplicate"):
        aggregate_distributed(labels, dates, client=client, on_duplicate="merge")
    csv = tmp_path / "answers.csv"
    labels.to_csv(csv, index=False)
    with pytest.raises(FileFormatError, match="not a Parquet dataset"):
        aggregate_distributed(csv, dates, client=client)
    with pytest.raises(FileFormatError, match="does not exist"):
        aggregate_distributed(tmp_path / "nowhere", dates, client=client)
    with pytest.raises(LabelsError, match="lacks column"):
        aggregate_distributed(labels.drop(columns="after"), dates, client=client)
    with pytest.raises(LabelsError, match="not in the image catalogue"):
        aggregate_distributed(labels, dates[1:], client=client, n_partitions=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aggregate_distributed(labels, dates, client=client, n_partitions=2, max_iter=2)


def test_a_worker_lost_mid_fit_changes_nothing(table, reference):
    """Between two iterations a worker restarts and loses its shards: Dask recomputes them from lineage."""
    labels, dates = table
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        restarted = []

        def kill_one(n_iter: int, _: float) -> None:
            if n_iter == 3:
                victim = sorted(client.scheduler_info()["workers"])[0]
                held = client.has_what()[victim]
                client.restart_workers([victim])
                restarted.append(len(held))

        result = aggregate_distributed(labels, dates, client=client, n_partitions=4, callback=kill_one)
        got = result.compute()
    assert restarted and restarted[0] > 0
    assert_same_consensus(got, reference)


def test_cli_scheduler_option(table, reference, tmp_path):
    from click.testing import CliRunner

    from stracker.cli import cli

    labels, dates = table
    path = tmp_path / "answers.parquet"
    labels.to_parquet(path)
    images = tmp_path / "images.csv"
    pd.DataFrame({"image_date": dates}).to_csv(images, index=False)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        result = CliRunner().invoke(
            cli,
            [
                "aggregate",
                str(path),
                "--images",
                str(images),
                "--out",
                str(tmp_path / "c.parquet"),
                "--scheduler",
                cluster.scheduler_address,
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(tmp_path / "c.parquet").set_index("building_id").sort_index()
    np.testing.assert_allclose(written["p_destroyed"], reference.buildings["p_destroyed"], rtol=0, atol=1e-9)
    bad = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(path),
            "--out",
            str(tmp_path / "d.parquet"),
            "--method",
            "majority",
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert bad.exit_code != 0 and "--method em only" in bad.output


def test_files_that_hold_their_own_buildings_are_shards_without_a_shuffle(client, table, reference, tmp_path):
    # a dataset exported by building range, files in no particular order, read without declaring anything
    labels, dates = table
    path = tmp_path / "by_building"
    path.mkdir()
    ids = np.sort(labels["building_id"].unique())
    cuts = [ids[0], ids[150], ids[260], ids[-1] + 1]
    for name, (lo, hi) in zip(("c", "a", "b"), itertools.pairwise(cuts), strict=True):  # file order != building order
        part = labels[(labels["building_id"] >= lo) & (labels["building_id"] < hi)]
        part.sample(frac=1.0, random_state=0).to_parquet(path / f"{name}.parquet")  # unsorted within each file
    result = aggregate_distributed(str(path), dates, client=client)
    assert not result.shuffled and result.buildings.npartitions == 3
    assert result.buildings.divisions == (ids[0], ids[150], ids[260], ids[-1])
    assert_same_consensus(result.compute(), reference)
    # asking for another number of shards shuffles them
    again = aggregate_distributed(str(path), dates, client=client, n_partitions=2)
    assert again.shuffled and again.buildings.npartitions == 2
    assert_same_consensus(again.compute(), reference)


def test_partitions_with_other_catalogues_and_an_empty_one(client, table):
    # each partition sees only some image dates (its own catalogue, mapped onto the global one), one sees none
    import dask.dataframe as dd

    labels, _ = table
    by_date = labels.sort_values("after", kind="stable").reset_index(drop=True)
    answers = dd.from_pandas(by_date, npartitions=4, sort=True)
    kept = answers[answers["after"] > by_date["after"].iloc[len(by_date) // 4]]  # the first partition empties
    expected = by_date[by_date["after"] > by_date["after"].iloc[len(by_date) // 4]]
    ref = stracker.aggregate(expected)
    for n_partitions in (None, 3):
        result = aggregate_distributed(kept, client=client, n_partitions=n_partitions)
        assert result.shuffled
        assert result.image_dates.equals(ref.image_dates)
        assert_same_consensus(result.compute(), ref)


def test_a_bad_row_is_named_with_its_partition(client, table):
    import dask.dataframe as dd

    labels, dates = table
    bad = labels.astype({"destroyed": object})
    bad.loc[bad.index[-3], "destroyed"] = "perhaps"  # the last of three partitions
    with pytest.raises(LabelsError, match=rf"partition 2 of the answers: 'destroyed' .* \[{bad.index[-3]}\]"):
        aggregate_distributed(dd.from_pandas(bad, npartitions=3), dates, client=client)


def test_two_fits_give_the_same_numbers_to_the_last_bit(client, table):
    # each iteration sums fixed blocks of shards in a fixed order, wherever Dask placed them
    labels, dates = table
    first, second = (
        aggregate_distributed(labels, dates, client=client, n_partitions=5, max_iter=4).compute() for _ in range(2)
    )
    np.testing.assert_array_equal(first.posterior, second.posterior)
    assert first.log_likelihood == second.log_likelihood


@pytest.mark.parametrize("shuffle_method", ["tasks", "p2p"])
def test_either_shuffle_gives_the_same_answer(client, table, reference, shuffle_method):
    # tasks: pieces of each partition's codes, one task per (partition, shard); p2p: Dask's shuffle of a table
    labels, dates = table
    result = aggregate_distributed(labels, dates, client=client, n_partitions=3, shuffle_method=shuffle_method)
    assert result.shuffled and result.buildings.npartitions == 3
    assert_same_consensus(result.compute(), reference)


@pytest.mark.parametrize("reliability", [False, True])
def test_a_block_of_shards_with_and_without_compare_answers(client, table, reliability):
    # three shards on two worker threads: the first block holds a shard of timeline answers only (its per-image
    # compare statistics absent) and one of compare answers only; the block's sums are the in-memory ones
    labels, dates = table
    ids = np.sort(labels["building_id"].unique())
    first_third = labels["building_id"] <= ids[len(ids) // 3]
    mixed = labels[(first_third & (labels["task"] == "timeline")) | (~first_third & (labels["task"] == "compare"))]
    options = stracker.EMOptions(compare_image_reliability=reliability, max_iter=5)
    ref = stracker.aggregate(mixed, dates, options=options)
    result = aggregate_distributed(mixed, dates, client=client, n_partitions=3, options=options)
    assert result.buildings.npartitions == 3
    assert_same_consensus(result.compute(), ref)
    if reliability:
        np.testing.assert_allclose(result.compare_reliability, ref.compare_reliability, rtol=0, atol=1e-9)
