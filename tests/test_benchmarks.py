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
    cores,
    distributed,
    next_questions,
    plan,
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


def test_cores_benchmark_times_each_kind_of_loop_on_one_thread_and_two(tmp_path):
    rows = cores.main(["--work", "2e5", "--runs", "1", "--handoffs", "40"])
    assert [r["loop"].split(":")[0] for r in rows] == [
        "latency-bound",
        "throughput-bound",
        "throughput-bound",
        "memory stream",
        "hand-off",
        "hand-off",
        "GIL convoy",
    ]
    side_by_side = [r for r in rows if "ratio" in r]
    assert len(side_by_side) == 5
    assert all(r["one_thread_s"] > 0 and r["two_threads_s"] > 0 for r in side_by_side)
    # the ratio is of two threads' work side by side over one thread doing both
    assert all(r["ratio"] == pytest.approx(r["two_threads_s"] / (2 * r["one_thread_s"])) for r in side_by_side)
    assert all(r["median_s"] > 0 for r in rows if "median_s" in r)
    assert json.loads((tmp_path / "cores.json").read_text())["rows"] == rows


def test_read_labels_benchmark_reads_both_formats_beside_pyarrow(tmp_path):
    rows = read_labels.main(["--answers", "20000", "--repeat", "1"])
    assert [r["step"] for r in rows] == [
        "read_labels (csv)",
        "read_labels (parquet)",
        "encode_labels (text volunteer ids)",
        "encode_labels (categorical volunteer ids)",
        "encode_labels (integer volunteer ids)",
    ]
    assert all(r["answers"] == 20_000 and r["seconds"] > 0 and r["ratio_to_anchor"] > 0 for r in rows)
    assert json.loads((tmp_path / "read_labels.json").read_text())["rows"] == rows


def test_aggregate_benchmark_covers_every_method(tmp_path):
    rows = aggregate.main(["--preset", "small", "--repeat", "1"])
    assert {r["method"] for r in rows} == {"em", "majority", "dawid_skene", "em + visibility", "em + spatial"}
    by_method = {r["method"]: r for r in rows}
    assert by_method["em"]["iterations"] >= 2
    assert by_method["em"]["mae_days"] <= by_method["majority"]["mae_days"]
    assert by_method["em + spatial"]["per_iteration_vs_em"] > 0
    assert json.loads((tmp_path / "aggregate_small.json").read_text())["rows"] == rows


def test_scaling_benchmark_runs_each_size_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the child runs `python -m benchmarks.scaling`
    rows = scaling.main(["--sizes", "2e4", "5e4", "--iterations", "3", "--repeat", "2", "--rounds", "2"])
    assert [r["answers"] for r in rows] == [20_000, 50_000]  # in the sizes' order, whatever the sweep's
    for r in rows:  # the figures per answer are those of the best fit over the rounds
        assert r["ns_per_answer_iteration"] == round(r["fit_s"] / 3 / r["answers"] * 1e9, 2)
        assert r["threads_over_1_thread"] == round(r["fit_s"] / r["fit_1_thread_s"], 2)
    assert all(r["iterations"] == 3 and r["fit_s"] > 0 and r["peak_rss_mb"] > 0 for r in rows)
    assert rows[0]["time_per_answer_vs_smallest"] == rows[0]["time_per_answer_vs_smallest_1_thread"] == 1.0
    assert all(r["fit_1_thread_s"] > 0 and r["threads_over_1_thread"] > 0 for r in rows)
    assert json.loads((tmp_path / "scaling.json").read_text())["rows"] == rows


def test_next_benchmark_times_every_campaign_and_design(tmp_path):
    rows = next_questions.main(["--preset", "small", "--repeat", "1", "--plan-frames", "3000"])
    assert {(r["campaign"], r["design"]) for r in rows} == {
        (c, d) for c in ("timeline, half", "timeline, all", "after plan") for d in ("infogain", "bisection", "random")
    }
    assert all(r["questions"] + r["retired"] == 400 and r["cli_s"] > 0 for r in rows)
    assert json.loads((tmp_path / "next_small.json").read_text())["rows"] == rows


def test_plan_benchmark_times_both_planners(tmp_path):
    rows = plan.main(["--preset", "small", "--budget", "2000"])
    assert [(r["design"], r["planner"]) for r in rows] == [
        (d, p) for d in ("infogain", "bisection") for p in ("incremental", "exact")
    ]
    assert all(r["frames_viewed"] <= 2_000 and 0 < r["fit_s"] < r["seconds"] for r in rows)
    assert all(r["exact_over_incremental"] > 0 for r in rows[::2])
    assert json.loads((tmp_path / "plan_small.json").read_text())["rows"] == rows


def test_versus_crowdkit_agrees_and_reports_ratios(tmp_path):
    rows = versus_crowdkit.main(["--answers", "20000", "--buildings", "200", "--iterations", "3", "--repeat", "1"])
    by_method = {r["method"]: r for r in rows}
    assert by_method["crowd-kit DawidSkene"]["crowdkit_ds_over_this"] == 1.0
    assert by_method["stracker em"]["iterations"] == 3
    whole = by_method["stracker aggregate(DataFrame), whole call, 2 threads"]
    assert whole["iterations"] >= 2 and whole["crowdkit_ds_over_this"] > 0 and whole["one_thread_over_this"] > 0
    assert by_method["stracker aggregate CLI, CSV + footprints -> GeoPackage"]["seconds"] > 0
    for threads in ("2 threads", "1 thread"):
        assert by_method[f"one em iteration, {threads}"]["vs_bincount_floor"] > 0
    assert by_method["one em iteration, 2 threads"]["this_over_one_thread"] > 0
    assert by_method["np.bincount floor in 2 parts on 2 threads"]["this_over_one_thread"] > 0
    # same answers, same iterations: stracker's frame-level Dawid-Skene is crowd-kit's
    assert by_method["max |stracker - crowd-kit| frame posterior"]["agreement"] < 1e-6


def test_quality_benchmark_has_every_method_and_task(tmp_path):
    rows = quality.main(["--preset", "small"])
    both = ("em", "majority", "dawid_skene", "oracle", "em_vis", "oracle_vis", "bayes", "spatial", "spatial_vis")
    methods = {"timeline": both, "compare": (*both, "em_rel")}  # the per-image compare reliability: compare only
    assert {(r["task"], r["crowd"], r["method"]) for r in rows} == {
        (d, c, m) for d in ("timeline", "compare") for c in ("preset", "spam", "honest", "few") for m in methods[d]
    } | {("compare", "hard", m) for m in ("em", "em_rel", "oracle")}
    by = {(r["task"], r["crowd"], r["method"]): r for r in rows}
    # images hard for everyone: the per-image reliability recovers part of what they cost
    assert by["compare", "hard", "em_rel"]["log_score"] < by["compare", "hard", "em"]["log_score"]
    for task in ("timeline", "compare"):  # the Bayes posterior is the best log score of the independent models
        assert by[task, "preset", "bayes"]["log_score"] <= min(
            r["log_score"]
            for r in rows
            if r["task"] == task and r["crowd"] == "preset" and not r["method"].startswith("spatial")
        )
    assert all(0 <= r["ci_coverage"] <= 1 for r in rows)
    answers = {(r["task"], r["crowd"]): r["answers"] for r in rows}
    for task in ("timeline", "compare"):  # the honest table is the spam campaign without the spammers' answers
        assert 0.7 * answers[task, "spam"] < answers[task, "honest"] < 0.9 * answers[task, "spam"]


def test_bayes_posterior_of_compare_campaigns_by_brute_force():
    """quality.bayes_compare against the product, state by state, of every answer's probability under
    compare_answer_model, for a handful of buildings."""
    import stracker
    from stracker.crowd.answers import compare_answer_model
    from stracker.scenario import Scenario

    sim = stracker.simulate(Scenario.preset("small", seed=3).replace(tasks={"task": "compare"}))
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


def test_bayes_timeline_answer_probabilities_match_the_simulator():
    """quality.timeline_answer_probabilities against the frequencies of the simulator's own timeline answers:
    for buildings with hidden and partly clouded frames and volunteers of each kind that follows the model,
    every state, 40,000 seeded answers each; every outcome's frequency within 4.5 standard errors."""
    import stracker
    from stracker.crowd.answers import timeline_answers
    from stracker.scenario import Scenario

    sim = stracker.simulate(Scenario.preset("small", seed=5).replace(crowd={"adversarial_share": 0.1}))
    sc, D, N = sim.scenario, len(sim.image_dates), 40_000
    visible = sim.visibility >= sc.imagery.hidden_visibility
    partial = (sim.visibility > 0.4) & (sim.visibility < 0.9)
    building = int(np.argmax((~visible).sum(axis=1) * 10 + partial.sum(axis=1)))  # hidden and partly clouded frames
    assert (~visible[building]).sum() >= 2 and partial[building].any()
    kinds = sim.volunteers["kind"].astype(str)
    rng = np.random.default_rng(0)
    dates = sim.image_dates.to_numpy(dtype="datetime64[ns]")
    for kind in ("careful", "careless", "adversarial"):
        volunteer = int(np.flatnonzero(kinds.to_numpy() == kind)[0])
        for state in range(D + 1):
            states = np.full(len(sim.buildings), state)
            table = timeline_answers(
                np.full(N, building),
                np.full(N, volunteer),
                states,
                sim.visibility,
                sim.volunteers,
                dates,
                sc.imagery,
                sc.crowd,
                rng,
            )
            marked = table["destroyed"].to_numpy(dtype=bool)
            hi = sim.image_dates.get_indexer(table["after"])
            outcome = np.where(marked, hi, D)  # the frame marked, or D: no destruction seen
            freq = np.bincount(outcome, minlength=D + 1) / N
            frames = np.arange(D + 1)
            marks = frames < D
            last_seen = int(np.flatnonzero(visible[building])[-1])
            prob = quality.timeline_answer_probabilities(
                sim, np.full(D + 1, building), np.full(D + 1, volunteer), np.where(marks, frames, last_seen), marks
            )[:, state]
            error = 4.5 * np.sqrt(np.maximum(prob * (1 - prob), 1e-4) / N)
            assert np.all(np.abs(freq - prob) <= error), (kind, state, np.round(freq, 4), np.round(prob, 4))


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
