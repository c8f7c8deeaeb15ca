"""A smoke run of every benchmark script at tiny size: they run, print a table and write valid JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import _common, aggregate, distributed, quality, scaling, simulate, versus_crowdkit


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)


def test_simulate_benchmark_writes_json(tmp_path, capsys):
    rows = simulate.main(["--preset", "small", "--repeat", "1"])
    data = json.loads((tmp_path / "simulate_small.json").read_text())
    assert data["rows"] == rows
    assert rows[0]["buildings"] == 400 and rows[0]["simulate_s"] > 0 and rows[0]["peak_rss_mb"] > 0
    assert "simulate_s" in capsys.readouterr().out


def test_aggregate_benchmark_covers_every_method(tmp_path):
    rows = aggregate.main(["--preset", "small", "--repeat", "1"])
    assert {r["method"] for r in rows} == {"em", "majority", "dawid_skene"}
    by_method = {r["method"]: r for r in rows}
    assert by_method["em"]["iterations"] >= 2
    assert by_method["em"]["mae_days"] <= by_method["majority"]["mae_days"]
    assert json.loads((tmp_path / "aggregate_small.json").read_text())["rows"] == rows


def test_scaling_benchmark_runs_each_size_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the child runs `python -m benchmarks.scaling`
    rows = scaling.main(["--sizes", "2e4", "5e4", "--iterations", "3"])
    assert [r["answers"] for r in rows] == [20_000, 50_000]
    assert all(r["iterations"] == 3 and r["fit_s"] > 0 and r["peak_rss_mb"] > 0 for r in rows)
    assert rows[0]["time_per_answer_vs_smallest"] == 1.0
    assert json.loads((tmp_path / "scaling.json").read_text())["rows"] == rows


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
    methods = {"timeline": ("em", "majority", "dawid_skene", "oracle"),
               "compare": ("em", "majority", "dawid_skene", "oracle", "bayes")}
    assert {(r["design"], r["crowd"], r["method"]) for r in rows} == {
        (d, c, m) for d in ("timeline", "compare") for c in ("preset", "spam", "honest") for m in methods[d]
    }
    assert all(0 <= r["ci_coverage"] <= 1 for r in rows)
    answers = {(r["design"], r["crowd"]): r["answers"] for r in rows}
    for design in ("timeline", "compare"):  # the honest table is the spam campaign without the spammers' answers
        assert 0.7 * answers[design, "spam"] < answers[design, "honest"] < 0.9 * answers[design, "spam"]


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
