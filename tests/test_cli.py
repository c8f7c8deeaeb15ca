"""The stracker command line, through click's runner and as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

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
    layer = gpd.read_file(out / "consensus.gpkg", engine="pyogrio")
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
    result = CliRunner().invoke(cli, ["simulate", "--preset", "small", "--out", str(tmp_path), "--design", "compare"])
    assert result.exit_code == 0, result.output
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
    done = subprocess.run([script, "simulate", "--preset", "small", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["simulation"]["buildings"] == 400
    again = subprocess.run([script, "simulate", "--preset", "small", "--out", str(tmp_path)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "Traceback" not in again.stderr
