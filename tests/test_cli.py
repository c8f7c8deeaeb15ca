"""The stracker command line, through click's runner and as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import stracker
from stracker.cli import cli
from stracker.simulation import SIMULATION_FILES, Simulation

CONSENSUS_FILES = ("consensus.gpkg", "consensus_volunteers.parquet", "evaluation.csv")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    result = CliRunner().invoke(cli, ["simulate", "--preset", "small", "--seed", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_simulate_writes_every_file_and_a_json_summary(small_run):
    out, summary = small_run
    for name in SIMULATION_FILES + CONSENSUS_FILES:
        assert (out / name).is_file(), name
    sim = summary["simulation"]
    assert sim["buildings"] == 400 and sim["preset"] == "small" and sim["seed"] == 2
    assert sim["frames_viewed"] > sim["answers"] > 0
    assert 0.9 <= summary["evaluation"]["f1"] <= 1.0
    assert summary["consensus"]["converged"] is True


def test_consensus_layer_keeps_every_footprint_with_consensus_columns(small_run):
    out, _ = small_run
    layer = gpd.read_file(out / "consensus.gpkg", layer="buildings", engine="pyogrio")
    sim = Simulation.load(out)
    assert len(layer) == len(sim.buildings)
    assert layer.crs.to_epsg() == 32637
    for column in ("p_destroyed", "destroyed_after", "destroyed_by", "confidence", "ci90_start", "ci90_end"):
        assert column in layer.columns
    assert pd.api.types.is_datetime64_any_dtype(layer["destroyed_by"])
    table = pd.read_csv(out / "evaluation.csv")
    assert {"metric", "value", "unit"} == set(table.columns)


def test_simulate_refuses_to_overwrite_with_one_line_error(small_run):
    out, _ = small_run
    result = CliRunner().invoke(cli, ["simulate", "--preset", "small", "--out", str(out)])
    assert result.exit_code == 1
    assert "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_simulate_human_output_has_summary_and_evaluation_table(tmp_path):
    result = CliRunner().invoke(cli, ["simulate", "--preset", "small", "--out", str(tmp_path), "--task", "compare"])
    assert result.exit_code == 0, result.output
    assert "deprecated" not in result.output
    for word in ("buildings", "volunteers", "countries", "answers", "frames viewed", "mae_days", "results in"):
        assert word in result.output
    labels = pd.read_parquet(tmp_path / "labels.parquet")
    assert set(labels["task"]) == {"compare"}


def test_no_aggregate_writes_only_the_simulation(tmp_path):
    result = CliRunner().invoke(cli, ["-q", "simulate", "--preset", "small", "--out", str(tmp_path), "--no-aggregate"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "consensus.gpkg").exists()
    assert (tmp_path / "labels.parquet").exists()


def test_bad_option_is_a_usage_error():
    result = CliRunner().invoke(cli, ["simulate", "--preset", "paris", "--out", "x"])
    assert result.exit_code == 2
    assert "paris" in result.output


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).with_name("stracker")
    assert script.exists(), "the package must be installed (pip install -e .) for its console script"
    help_text = subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    assert "simulate" in help_text
    done = subprocess.run(
        [script, "simulate", "--preset", "small", "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["simulation"]["buildings"] == 400
    again = subprocess.run(
        [script, "simulate", "--preset", "small", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert again.returncode == 1 and "Traceback" not in again.stderr


# ------------------------------------------------------------------------------------- aggregate, evaluate, info
def _one_line_error(result, *words):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stracker: error: "), result.output
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def exports(small_run, tmp_path_factory):
    """The small run's answers as a platform export would give them: a ';' CSV with a byte-order mark and text
    dates, and the image catalogue as CSV."""
    out, _ = small_run
    folder = tmp_path_factory.mktemp("exports")
    labels = pd.read_parquet(out / "labels.parquet")
    labels.to_csv(folder / "answers.csv", sep=";", index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
    pd.read_parquet(out / "images.parquet").to_csv(folder / "images.csv", index=False, date_format="%Y-%m-%d")
    return out, folder


def test_aggregate_export_onto_footprints(exports):
    sim_dir, folder = exports
    out = folder / "consensus.gpkg"
    result = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(folder / "answers.csv"),
            "--footprints",
            str(sim_dir / "buildings.gpkg"),
            "--images",
            str(folder / "images.csv"),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["answers"] == 2000 and summary["buildings_in_layer"] == 400
    assert summary["unmatched_buildings"] == [] and summary["rejected_file"] is None
    assert summary["footprints"]["crs"] == "EPSG:32637"
    layer = gpd.read_file(out, layer="buildings", engine="pyogrio")
    reference = gpd.read_file(sim_dir / "consensus.gpkg", layer="buildings", engine="pyogrio")
    pd.testing.assert_frame_equal(layer.drop(columns="geometry"), reference.drop(columns="geometry"))
    images = gpd.read_file(out, layer="images", engine="pyogrio")
    assert "cloud_cover" in images.columns and len(images) == 20


def test_aggregate_verbose_reports_iterations(exports, tmp_path):
    _, folder = exports
    args = ["aggregate", str(folder / "answers.csv"), "--images", str(folder / "images.csv")]
    verbose = CliRunner().invoke(cli, ["-v", *args, "--out", str(tmp_path / "v.parquet")])
    assert verbose.exit_code == 0, verbose.output
    iterations = [line for line in verbose.stderr.splitlines() if line.startswith("iteration")]
    assert len(iterations) > 2 and "log-likelihood" in iterations[0]
    assert f"{len(iterations)} iterations" in verbose.stdout  # the summary counts the same iterations
    plain = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "p.parquet")])
    assert plain.exit_code == 0 and "iteration " not in plain.stderr


def test_aggregate_refuses_to_clobber_then_overwrites(exports, tmp_path):
    _, folder = exports
    out = tmp_path / "c.parquet"
    args = ["-q", "aggregate", str(folder / "answers.csv"), "--method", "majority", "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.images.parquet",
        "c.parquet",
        "c.states.parquet",
        "c.volunteers.parquet",
    ]
    stamp = out.stat().st_mtime_ns
    _one_line_error(CliRunner().invoke(cli, args), "exists", "--overwrite")
    assert out.stat().st_mtime_ns == stamp
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_aggregate_unknown_buildings_error_then_report(exports, tmp_path):
    sim_dir, folder = exports
    footprints = gpd.read_file(sim_dir / "buildings.gpkg", engine="pyogrio")
    kept = footprints[footprints["building_id"] >= 5]
    kept.to_file(tmp_path / "partial.geojson")
    out = tmp_path / "c.gpkg"
    args = [
        "aggregate",
        str(folder / "answers.csv"),
        "--footprints",
        str(tmp_path / "partial.geojson"),
        "--out",
        str(out),
    ]
    _one_line_error(CliRunner().invoke(cli, args), "5 building(s)", "[0, 1, 2, 3, 4]", "--on-unknown report")
    assert not out.exists()
    result = CliRunner().invoke(cli, [*args, "--on-unknown", "report", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["unmatched_buildings"] == [0, 1, 2, 3, 4]
    rejected = pd.read_csv(tmp_path / "c.rejected.csv")
    labels = pd.read_parquet(sim_dir / "labels.parquet")
    expected = labels.index[labels["building_id"] < 5]
    assert rejected["row"].tolist() == expected.tolist()  # the rows of the answers file, every one of them
    assert (rejected["building_id"] < 5).all() and len(rejected) == summary["rejected_rows"] > 0
    assert (
        gpd.read_file(out, layer="buildings", engine="pyogrio")["building_id"].tolist() == kept["building_id"].tolist()
    )
    # a second report run finds the rejected file in the way too
    _one_line_error(CliRunner().invoke(cli, [*args, "--on-unknown", "report"]), "c.gpkg", "c.rejected.csv")


def test_aggregate_spatial_fits_every_footprint_as_the_library_does(exports, tmp_path):
    sim_dir, folder = exports
    args = ["aggregate", str(folder / "answers.csv"), "--images", str(folder / "images.csv")]
    footprints = gpd.read_file(sim_dir / "buildings.gpkg", engine="pyogrio")
    # building 7 has nobody's answers: it gets a consensus from its neighbours
    answers = pd.read_csv(folder / "answers.csv", sep=";", encoding="utf-8-sig")
    answers[answers["building_id"] != 7].to_csv(tmp_path / "answers.csv", index=False)
    args[1] = str(tmp_path / "answers.csv")
    out = tmp_path / "c.gpkg"
    fp = ["--footprints", str(sim_dir / "buildings.gpkg")]
    result = CliRunner().invoke(cli, [*args, *fp, "--spatial", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["spatial_prior"]["weight"] > 0.5 and summary["consensus"]["buildings"] == 400
    layer = gpd.read_file(out, layer="buildings", engine="pyogrio").set_index("building_id")
    assert layer.loc[7, "n_labels"] == 0 and layer.loc[7, "p_destroyed"] > 0
    library = stracker.aggregate(
        stracker.read_labels(tmp_path / "answers.csv"),
        pd.read_csv(folder / "images.csv")["image_date"],
        footprints=stracker.read_footprints(sim_dir / "buildings.gpkg"),
    )
    np.testing.assert_allclose(layer["p_destroyed"].to_numpy(), library.buildings["p_destroyed"].to_numpy(), atol=1e-9)
    usage = CliRunner().invoke(cli, [*args, "--spatial", "--out", str(tmp_path / "x.gpkg")])
    assert usage.exit_code == 2 and "--spatial needs --footprints" in usage.output
    # answers about buildings without a footprint: named, or left out of the fit and reported
    footprints[footprints["building_id"] >= 5].to_file(tmp_path / "partial.geojson")
    partial = ["--footprints", str(tmp_path / "partial.geojson"), "--spatial"]
    _one_line_error(CliRunner().invoke(cli, [*args, *partial, "--out", str(tmp_path / "p.gpkg")]), "5 building(s)")
    reported = CliRunner().invoke(
        cli, [*args, *partial, "--on-unknown", "report", "--out", str(tmp_path / "p.gpkg"), "--json"]
    )
    assert reported.exit_code == 0, reported.output
    assert json.loads(reported.stdout)["unmatched_buildings"] == [0, 1, 2, 3, 4]
    assert (pd.read_csv(tmp_path / "p.rejected.csv")["building_id"] < 5).all()
    footprints.to_crs(4326).to_file(tmp_path / "degrees.geojson")
    degrees = ["--footprints", str(tmp_path / "degrees.geojson"), "--spatial", "--out", str(tmp_path / "d.gpkg")]
    _one_line_error(CliRunner().invoke(cli, [*args, *degrees]), "geographic CRS", "to_crs")


def test_aggregate_human_output_and_duplicate_warning_on_one_line(tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text(
        "building_id,volunteer_id,before,after,destroyed,task\n"
        "1,a,,2017-06-10,yes,compare\n1,a,,2017-06-10,yes,compare\n2,b,,2017-06-10,no,compare\n"
    )
    result = CliRunner().invoke(cli, ["aggregate", str(path), "--out", str(tmp_path / "c.gpkg")])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("stracker: warning: exact duplicate answers in 2 row(s) [0, 1]")
    assert "3 answers about 2 buildings from 2 volunteers" in result.stdout
    assert "wrote" in result.stdout


@pytest.mark.parametrize(
    "content, words",
    [
        (
            "building_id,volunter_id,before,after,destroyed,task\n1,a,,2017-06-10,yes,compare\n",
            ["'volunteer_id'", "the table has 'volunter_id'"],
        ),
        (
            "building_id,volunteer_id,before,after,destroyed,task\n1,a,2017-06-10,2017-06-10,yes,compare\n",
            ["'before' is not earlier than 'after'", "[0]"],
        ),
        ("building_id,volunteer_id,before,after,destroyed,task\n1,a,,10/06/2017,yes,compare\n", ["day and month"]),
        ("", ["empty"]),
    ],
    ids=["misspelled", "before-after", "day-month", "empty"],
)
def test_aggregate_bad_labels_one_line(tmp_path, content, words):
    path = tmp_path / "answers.csv"
    path.write_text(content)
    _one_line_error(CliRunner().invoke(cli, ["aggregate", str(path), "--out", str(tmp_path / "c.gpkg")]), *words)
    assert not (tmp_path / "c.gpkg").exists()


def test_aggregate_bad_footprints_one_line(exports, tmp_path):
    _, folder = exports
    dup = gpd.read_file(exports[0] / "buildings.gpkg", engine="pyogrio").iloc[[0, 1, 1]]
    dup.to_file(tmp_path / "dup.gpkg")
    result = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(folder / "answers.csv"),
            "--footprints",
            str(tmp_path / "dup.gpkg"),
            "--out",
            str(tmp_path / "c.gpkg"),
        ],
    )
    _one_line_error(result, "dup.gpkg", "repeat in 2 row(s) [1, 2]")


def test_evaluate_consensus_file_against_truth(exports, tmp_path):
    sim_dir, _ = exports
    truth = tmp_path / "truth.csv"
    gpd.read_file(sim_dir / "buildings.gpkg", engine="pyogrio")[["building_id", "destroyed_on"]].to_csv(
        truth, index=False, date_format="%Y-%m-%d"
    )
    from_gpkg = CliRunner().invoke(
        cli, ["evaluate", str(sim_dir / "consensus.gpkg"), str(sim_dir / "buildings.gpkg"), "--json"]
    )
    assert from_gpkg.exit_code == 0, from_gpkg.output
    metrics = json.loads(from_gpkg.stdout)["metrics"]
    expected = pd.read_csv(sim_dir / "evaluation.csv").set_index("metric")["value"]
    for name in ("f1", "state_accuracy", "log_score", "ci_coverage"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-12), name
    result = CliRunner().invoke(
        cli, ["evaluate", str(sim_dir / "consensus.gpkg"), str(truth), "--out", str(tmp_path / "m.csv")]
    )
    assert result.exit_code == 0 and "state_accuracy" in result.output
    assert pd.read_csv(tmp_path / "m.csv").set_index("metric")["value"]["f1"] == pytest.approx(metrics["f1"])
    _one_line_error(
        CliRunner().invoke(
            cli, ["evaluate", str(sim_dir / "consensus.gpkg"), str(truth), "--out", str(tmp_path / "m.csv")]
        ),
        "--overwrite",
    )
    (tmp_path / "partial.csv").write_text("building_id,destroyed_on\n0,2017-06-01\n")
    partial = CliRunner().invoke(cli, ["evaluate", str(sim_dir / "consensus.gpkg"), str(tmp_path / "partial.csv")])
    _one_line_error(partial, "have no truth")


@pytest.mark.parametrize(
    "target, kind",
    [
        ("", "simulation"),
        ("labels.parquet", "labels"),
        ("buildings.gpkg", "footprints"),
        ("consensus.gpkg", "consensus"),
    ],
)
def test_info_kinds(small_run, target, kind):
    out, _ = small_run
    result = CliRunner().invoke(cli, ["info", str(out / target), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["kind"] == kind
    text = CliRunner().invoke(cli, ["info", str(out / target)]).output
    assert f"kind: {kind}" in text


def test_info_consensus_layers(small_run):
    out, _ = small_run
    info = json.loads(CliRunner().invoke(cli, ["info", str(out / "consensus.gpkg"), "--json"]).stdout)
    layers = {layer["name"]: layer for layer in info["layers"]}
    assert list(layers) == ["buildings", "volunteers", "images", "states"]
    assert layers["buildings"]["crs"] == "EPSG:32637" and layers["buildings"]["features"] == 400
    assert layers["buildings"]["fields"]["destroyed_by"] == "DateTime"
    assert info["date_range"][0] < info["date_range"][1]


def test_info_unreadable_file_one_line(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01garbage")
    _one_line_error(CliRunner().invoke(cli, ["info", str(tmp_path / "x.bin")]), "not a file stracker reads")


@pytest.mark.parametrize("command", ["simulate", "aggregate", "evaluate", "info"])
def test_every_command_has_help_with_examples(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and f"stracker {command}" in result.output


def test_console_script_aggregate_evaluate_info(exports, tmp_path):
    sim_dir, folder = exports
    script = Path(sys.executable).with_name("stracker")
    out = tmp_path / "c.gpkg"
    done = subprocess.run(
        [
            script,
            "aggregate",
            folder / "answers.csv",
            "--footprints",
            sim_dir / "buildings.gpkg",
            "--out",
            out,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["buildings_in_layer"] == 400
    scored = subprocess.run(
        [script, "evaluate", out, sim_dir / "buildings.gpkg", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(scored.stdout)["metrics"]["f1"] > 0.9
    info = subprocess.run([script, "info", out, "--json"], capture_output=True, text=True, check=True)
    assert json.loads(info.stdout)["kind"] == "consensus"
    bad = subprocess.run(
        [script, "aggregate", folder / "images.csv", "--out", tmp_path / "x.gpkg"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "lacks column(s)" in bad.stderr


@pytest.mark.parametrize("knows", [[], ["--spatial"], ["--visibility"], ["--spatial", "--visibility"]])
def test_plan_prints_frames_and_metrics_as_json(knows):
    result = CliRunner().invoke(
        cli, ["plan", "--preset", "small", "--design", "infogain", "--budget", "2000", "--json", *knows]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert 0 < summary["frames_viewed"] <= 2000
    assert {"mae_days", "state_accuracy", "ci_coverage", "f1"} <= set(summary)
    assert (summary["spatial"], summary["visibility"]) == ("--spatial" in knows, "--visibility" in knows)


def test_plan_writes_answers_and_history(tmp_path):
    out = tmp_path / "plan.csv"
    args = ["plan", "--preset", "small", "--design", "bisection", "--budget", "1500", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "frames viewed" in result.output and "mae_days" in result.output
    labels = pd.read_csv(out)
    assert labels["frames_viewed"].sum() <= 1500 and set(labels["task"]) == {"compare"}
    assert (tmp_path / "plan.history.csv").is_file()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_report_command_rewrites_the_report_of_a_simulation(small_run, tmp_path):
    out, _ = small_run
    assert (out / "report" / "report.html").is_file()  # simulate ends with the report
    result = CliRunner().invoke(cli, ["report", str(out), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    page = Path(json.loads(result.stdout)["report"])
    assert page.is_file() and (page.parent / "frames.png").is_file()


def test_simulate_design_is_a_deprecated_spelling_of_task(tmp_path):
    result = CliRunner().invoke(
        cli, ["simulate", "--preset", "small", "--out", str(tmp_path), "--no-aggregate", "--design", "compare"]
    )
    assert result.exit_code == 0, result.output
    assert "--design is deprecated" in result.output and "--task" in result.output
    assert set(pd.read_parquet(tmp_path / "labels.parquet")["task"]) == {"compare"}
    clash = CliRunner().invoke(
        cli,
        ["simulate", "--preset", "small", "--out", str(tmp_path / "b"), "--design", "compare", "--task", "timeline"],
    )
    assert clash.exit_code == 2 and "contradicts" in clash.output


def test_os_errors_are_one_line_naming_the_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(
        cli, ["-q", "simulate", "--preset", "small", "--no-aggregate", "--out", str(blocker / "sub")]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert str(blocker) in result.output and result.output.startswith("stracker: error: ")


def test_a_bug_is_one_line_pointing_at_a_log_with_the_traceback(monkeypatch, tmp_path):
    import stracker.simulation

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a planted bug")

    monkeypatch.setattr(stracker.simulation, "simulate", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = CliRunner().invoke(cli, ["-q", "simulate", "--preset", "small", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ZeroDivisionError: a planted bug" in result.output and "bug in stracker" in result.output
    logs = list(tmp_path.glob("stracker-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in result.output
    assert "Traceback" in logs[0].read_text() and "a planted bug" in logs[0].read_text()


def test_sweep_refuses_an_unknown_metric_before_running_anything(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "sweep",
            "--grid",
            "tasks.volunteers_per_building=2,3",
            "--metric",
            "mea_days",
            "--out",
            str(tmp_path / "s.csv"),
        ],
    )
    assert result.exit_code == 2 and "mae_days" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists()


def test_evaluate_returns_the_metrics_the_cli_offers():
    import stracker
    from stracker.evaluation import METRICS

    sim = stracker.simulate("small", seed=0)
    table = stracker.evaluate(stracker.aggregate(sim.labels, sim.image_dates, method="majority"), sim.truth)
    assert tuple(table["metric"]) == METRICS


@pytest.mark.parametrize("command", ["aggregate", "sweep"])
def test_an_unreachable_scheduler_is_one_line_within_seconds(tmp_path, command):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    labels = tmp_path / "answers.csv"
    labels.write_text("building_id,volunteer_id,before,after,destroyed,task\n1,a,,2017-06-10,yes,compare\n")
    args = {
        "aggregate": ["aggregate", str(labels), "--out", str(tmp_path / "c.gpkg")],
        "sweep": ["sweep", "--grid", "tasks.volunteers_per_building=2", "--out", str(tmp_path / "s.csv")],
    }[command]
    result = CliRunner().invoke(cli, [*args, "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert f"tcp://127.0.0.1:{port}" in result.output and "dask scheduler" in result.output
    assert "within 10 s" in result.output  # our connect timeout, not Dask's 30 s ending in a raw OSError
