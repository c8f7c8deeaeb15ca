"""Sweeps of small simulated campaigns as Dask tasks."""

from __future__ import annotations

import matplotlib
import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, LocalCluster

import stracker
from stracker.errors import ScenarioError
from stracker.sweep import plot_sweep, run_campaign, sweep

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


def test_sweep_of_small_campaigns(client):
    grid = {"tasks.volunteers_per_building": [2, 5], "tasks.task": ["timeline", "compare"]}
    table = sweep(grid, preset="small", seeds=[0, 1], methods=["em", "majority"], client=client)
    assert list(table.columns) == [*grid, "seed", "method", "metric", "value"]
    cells = table.groupby([*grid, "seed", "method"]).size()
    assert len(cells) == 2 * 2 * 2 * 2
    f1 = table[table["metric"] == "f1"].set_index([*grid, "seed", "method"])["value"]
    assert ((f1 > 0.5) & (f1 <= 1)).all()
    # the same cell and seed is the same campaign as simulated here
    scenario = stracker.Scenario.preset("small").replace(
        seed=1, tasks={"volunteers_per_building": 5, "task": "compare"}
    )
    alone = run_campaign(scenario, ["em"]).set_index("metric")["value"]
    assert f1.loc[(5, "compare", 1, "em")] == pytest.approx(alone["f1"], abs=1e-12)
    answers = table[(table["metric"] == "answers") & (table["method"] == "em")]
    by_volunteers = answers.groupby("tasks.volunteers_per_building")["value"].mean()
    assert by_volunteers[5] > by_volunteers[2]
    ax = plot_sweep(table, "mae_days")
    assert len(ax.get_lines()) >= 4


def test_planning_study_runs_through_the_sweep(client):
    """The adaptive-tasking planning study: designs against the timeline campaign, per grid cell and seed."""
    table = sweep(
        {"crowd.random_share": [0.0, 0.1]},
        preset="small",
        methods=["em"],
        designs=["infogain", "bisection"],
        client=client,
    )
    values = table.set_index(["crowd.random_share", "seed", "method", "metric"])["value"]
    assert set(table["method"]) == {"em", "plan:infogain", "plan:bisection"}
    for share in (0.0, 0.1):
        timeline_frames = values.loc[(share, 0, "em", "frames_viewed")]
        for design in ("plan:infogain", "plan:bisection"):
            assert 0 < values.loc[(share, 0, design, "frames_viewed")] <= timeline_frames // 4
            assert 0 < values.loc[(share, 0, design, "state_accuracy")] <= 1
    with pytest.raises(ScenarioError, match="designs"):
        sweep({"crowd.random_share": [0.0]}, designs=["psychic"], client=client)


def test_sweep_refuses_bad_grids(client):
    with pytest.raises(ScenarioError, match=r"part\.field"):
        sweep({"volunteers_per_building": [2]}, client=client)
    with pytest.raises(ScenarioError):
        sweep({"tasks.no_such_field": [2]}, client=client)
    with pytest.raises(ScenarioError, match="non-empty list"):
        sweep({"tasks.task": "timeline"}, client=client)
    with pytest.raises(ScenarioError, match="methods"):
        sweep({"tasks.task": ["timeline"]}, methods=["vote"], client=client)


def test_sweep_grid_of_the_old_task_spelling(client):
    """tasks.design (the task kind's name before) still sweeps, with a warning: the same campaigns as tasks.task."""
    from stracker.errors import RenamedWarning

    new = sweep({"tasks.task": ["compare"]}, methods=["majority"], client=client)
    with pytest.warns(RenamedWarning, match=r"tasks\.design is renamed tasks\.task"):
        old = sweep({"tasks.design": ["compare"]}, methods=["majority"], client=client)
    assert old.rename(columns={"tasks.design": "tasks.task"}).equals(new)


def test_cli_sweep(client, tmp_path):
    import json

    import pandas as pd
    from click.testing import CliRunner

    from stracker.cli import cli

    out, plot = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    args = [
        "sweep",
        "--grid",
        "tasks.volunteers_per_building=2,4",
        "--seeds",
        "0,1",
        "--method",
        "majority",
        "--out",
        str(out),
        "--plot",
        str(plot),
        "--scheduler",
        client.scheduler.address,
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["campaigns"] == 4 and plot.stat().st_size > 0
    table = pd.read_csv(out)
    assert set(table["tasks.volunteers_per_building"]) == {2, 4} and set(table["seed"]) == {0, 1}
    bad = CliRunner().invoke(cli, ["sweep", "--grid", "tasks.volunteers_per_building", "--out", str(out)])
    assert bad.exit_code != 0 and "PART.FIELD=V1,V2" in bad.output


def test_cli_sweep_with_adaptive_designs(client, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from stracker.cli import cli

    out = tmp_path / "plan.csv"
    args = [
        "sweep",
        "--grid",
        "tasks.volunteers_per_building=3",
        "--design",
        "infogain",
        "--budget",
        "1500",
        "--out",
        str(out),
        "--scheduler",
        client.scheduler.address,
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    frames = table[(table["metric"] == "frames_viewed")].set_index("method")["value"]
    assert set(frames.index) == {"em", "plan:infogain"} and 0 < frames["plan:infogain"] <= 1500
