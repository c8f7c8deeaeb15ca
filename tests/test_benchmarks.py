"""A smoke run of every benchmark script at tiny size: they run, print a table and write valid JSON."""

from __future__ import annotations

import json

import pytest

from benchmarks import _common, aggregate, simulate


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
