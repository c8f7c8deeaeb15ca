"""A smoke run of every benchmark script at tiny size (they run, print a table and write valid JSON), and checks
of what they compute beside the package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import (
    _common,
    aggregate,
    distributed,
    next_questions,
    quality,
    read_labels,
    scaling,
    simulate,
    versus_crowdkit,
)


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)


def test_simulate_benchmark_writes_json(tmp_path, capsys):
    rows = simulate.main(["--preset", "small", "--repeat", "1"])
    data = json.loads((tmp_path / "simulate_small.json").read_text())
    assert data["rows"] == rows
    assert rows[0]["buildings"] == 400 and rows[0]["simulate_s"] > 0 and rows[0]["peak_rss_mb"] > 0
    assert "simulate_s" in capsys.readouterr().out


def test_read_labels_benchmark_reads_both_formats_beside_pyarrow(tmp_path):
    rows = read_labels.main(["--answers", "20000", "--repeat", "1"])
    assert [r["step"] for r in rows] == [
        "read_labels (csv)",
        "read_labels (parquet)",
        "encode_labels (text volunteer ids)",
        "encode_labels (integer volunteer ids)",
    ]
    assert all(r["answers"] == 20_000 and r["seconds"] > 0 and r["ratio_to_anchor"] > 0 for r in rows)
    assert json.loads((tmp_path / "read_labels.json").read_text())["rows"] == rows


def test_aggregate_benchmark_covers_every_method(tmp_path):
    rows = aggregate.main(["--preset", "small", "--repeat", "1"])
    assert {r["method"] for r in rows} == {"em", "majority", "dawid_skene", "em + spatial"}
    by_method = {r["method"]: r for r in rows}
    assert by_method["em"]["iterations"] >= 2
    assert by_method["em"]["mae_days"] <= by_method["majority"]["mae_days"]
    assert by_method["em + spatial"]["vs_em_per_iteration"] > 0
    assert json.loads((tmp_path / "aggregate_small.json").read_text())["rows"] == rows


def test_scaling_benchmark_runs_each_size_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the child runs `python -m benchmarks.scaling`
    rows = scaling.main(["--sizes", "2e4", "5e4", "--iterations", "3"])
    assert [r["answers"] for r in rows] == [20_000, 50_000]
    assert all(r["iterations"] == 3 and r["fit_s"] > 0 and r["peak_rss_mb"] > 0 for r in rows)
    assert rows[0]["time_per_answer_vs_smallest"] == 1.0
    assert json.loads((tmp_path / "scaling.json").read_text())["rows"] == rows


def test_next_benchmark_times_every_campaign_and_design(tmp_path):
    rows = next_questions.main(["--preset", "small", "--repeat", "1", "--plan-frames", "3000"])
    assert {(r["campaign"], r["design"]) for r in rows} == {
        (c, d) for c in ("timeline, half", "timeline, all", "after plan") for d in ("infogain", "bisection", "random")
    }
    assert all(r["questions"] + r["retired"] == 400 and r["cli_s"] > 0 for r in rows)
    assert json.loads((tmp_path / "next_small.json").read_text())["rows"] == rows


def test_versus_crowdkit_agrees_and_reports_ratios(tmp_path):
    rows = versus_crowdkit.main(["--answers", "20000", "--iterations", "3", "--repeat", "1"])
    by_method = {r["method"]: r for r in rows}
    assert by_method["crowd-kit DawidSkene"]["crowdkit_ds_over_this"] == 1.0
    assert by_method["stracker em"]["iterations"] == 3
    assert by_method["one em iteration"]["vs_bincount_floor"] > 0
    # same answers, same iterations: stracker's frame-level Dawid-Skene is crowd-kit's
    assert by_method["max |stracker - crowd-kit| frame posterior"]["agreement"] < 1e-6


def test_quality_benchmark_has_every_method_and_design(tmp_path):
    rows = quality.main(["--preset", "small"])
    methods = {
        "timeline": ("em", "majority", "dawid_skene", "oracle", "spatial"),
        "compare": ("em", "majority", "dawid_skene", "oracle", "bayes", "spatial"),
    }
    assert {(r["design"], r["crowd"], r["method"]) for r in rows} == {
        (d, c, m) for d in ("timeline", "compare") for c in ("preset", "spam", "honest", "few") for m in methods[d]
    }
    assert all(0 <= r["ci_coverage"] <= 1 for r in rows)
    answers = {(r["design"], r["crowd"]): r["answers"] for r in rows}
    for design in ("timeline", "compare"):  # the honest table is the spam campaign without the spammers' answers
        assert 0.7 * answers[design, "spam"] < answers[design, "honest"] < 0.9 * answers[design, "spam"]


def test_bayes_posterior_of_compare_campaigns_by_brute_force():
    """quality.bayes_compare against the product, state by state, of every answer's probability under
    compare_answer_model, for a handful of buildings."""
    import stracker
    from stracker.crowd.answers import compare_answer_model
    from stracker.scenario import Scenario

    sim = stracker.simulate(Scenario.preset("small", seed=3).replace(tasks={"design": "compare"}))
    enc = stracker.encode_labels(sim.labels, sim.image_dates)
    bayes = quality.bayes_compare(
        sim, enc, stracker.aggregate(enc, volunteer_params=sim.volunteers, prior=sim.true_prior())
    )
    assert bayes.method == "bayes"
    sc = sim.scenario
    labels = sim.labels[sim.labels["destroyed"].notna()]
    for building_id in enc.building_ids[[0, 7, 123, 399]]:
        rows = labels[labels["building_id"] == building_id]
        row = np.flatnonzero(sim.buildings["building_id"].to_numpy() == building_id)[0]
        lo = np.where(rows["before"].isna(), -1, sim.image_dates.get_indexer(rows["before"]))
        hi = sim.image_dates.get_indexer(rows["after"])
        volunteer = sim.volunteers.index.get_indexer(rows["volunteer_id"])
        p_in, p_out, _ = compare_answer_model(
            np.full(len(rows), row), volunteer, lo, hi, sim.visibility, sim.volunteers, sc.imagery, sc.crowd
        )
        yes = rows["destroyed"].to_numpy(bool)
        log_post = np.log(np.maximum(sim.true_prior(), 1e-300))
        for state in range(len(log_post)):
            p = np.where((lo < state) & (state <= hi), p_in, p_out)
            log_post[state] += np.log(np.where(yes, p, 1 - p)).sum()
        expected = np.exp(log_post - log_post.max())
        np.testing.assert_allclose(
            bayes.posterior[enc.building_ids.get_loc(building_id)], expected / expected.sum(), atol=1e-9
        )


@pytest.mark.parametrize("shuffle", ["tasks", "none"])
def test_distributed_benchmark_matches_the_in_memory_engine(tmp_path, monkeypatch, shuffle):
    pytest.importorskip("dask.distributed")
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the children run `python -m benchmarks.distributed`
    rows = distributed.main(["--sizes", "2e4", "--iterations", "2", "--partitions", "2", "--shuffle", shuffle])
    row = rows[0]
    assert row["answers"] == 20_000 and row["dask_iterations"] == 2 and len(row["dask_worker_peak_rss_mb"]) == 2
    assert row["dask_shuffled"] == (shuffle != "none")
    assert row["max_abs_diff_p_destroyed"] < 1e-9
    assert json.loads((tmp_path / "distributed.json").read_text())["rows"] == rows
