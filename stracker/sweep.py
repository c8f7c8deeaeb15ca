"""Sweeps: a grid of simulated campaigns run as Dask tasks, collected as one tidy table of evaluation metrics.

A grid maps scenario fields, named ``part.field`` (``tasks.volunteers_per_building``, ``tasks.task``,
``crowd.random_share``...), to the values to try. Every combination, for every seed, is one task: simulate the
campaign, aggregate its answers with each method and evaluate against the truth. The table has one row per
(grid cell, seed, method, metric), ready for ``groupby`` and plotting (:func:`plot_sweep`).

Examples
--------
>>> from dask.distributed import Client, LocalCluster
>>> from stracker.sweep import sweep
>>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as c:
...     table = sweep({"tasks.volunteers_per_building": [2, 4]}, preset="small", methods=["majority"], client=c)
>>> table.pivot_table(index="tasks.volunteers_per_building", columns="metric", values="value")["f1"].size
2
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from stracker.evaluation import METRICS
from stracker.scenario import Scenario, ScenarioError

__all__ = ["SWEEP_METRICS", "expand_grid", "plot_sweep", "run_campaign", "sweep"]

SWEEP_METRICS = (*METRICS, "answers", "frames_viewed")
"""The metrics of a sweep's table: :data:`stracker.evaluation.METRICS` and the campaign's counts."""


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as dicts ``{"part.field": value}``, in the grid's order.

    Examples
    --------
    >>> expand_grid({"tasks.task": ["timeline", "compare"], "crowd.random_share": [0.0]})
    [{'tasks.task': 'timeline', 'crowd.random_share': 0.0}, {'tasks.task': 'compare', 'crowd.random_share': 0.0}]
    """
    keys = list(grid)
    lists = []
    for key in keys:
        values = grid[key]
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__") or not len(values := list(values)):
            raise ScenarioError(f"grid[{key!r}] must be a non-empty list of values, got {grid[key]!r}.")
        lists.append([v.item() if hasattr(v, "item") else v for v in values])  # numpy scalars as Python values
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*lists)]


def _scenario(preset: str | Scenario, seed: int, cell: Mapping[str, Any]) -> Scenario:
    base = preset if isinstance(preset, Scenario) else Scenario.preset(preset)
    changes: dict[str, dict[str, Any]] = {}
    for key, value in cell.items():
        part, dot, name = key.partition(".")
        if not dot or not name:
            raise ScenarioError(
                f"grid key {key!r} must name a scenario field as 'part.field', e.g. "
                "'tasks.volunteers_per_building' or 'crowd.random_share'."
            )
        changes.setdefault(part, {})[name] = value
    return base.replace(seed=seed, **changes)


def run_campaign(
    scenario: Scenario,
    methods: Sequence[str] = ("em",),
    designs: Sequence[str] = (),
    budget: int | None = None,
) -> pd.DataFrame:
    """Simulate one campaign, aggregate it with each method and evaluate: columns method, metric, value.

    With ``designs`` (adaptive tasking: "random", "bisection", "infogain"), each is also run on the campaign's
    world with ``budget`` frames (default: a quarter of the simulated campaign's) and evaluated, as method
    ``"plan:DESIGN"``. Every method's rows include ``frames_viewed`` and ``answers``.
    """
    import stracker
    from stracker.tasking import run_adaptive

    sim = stracker.simulate(scenario)
    frames = float(sim.labels["frames_viewed"].sum())
    tables = []
    for method in methods:
        consensus = stracker.aggregate(sim.labels, sim.image_dates, method=method)  # type: ignore[arg-type]
        table = stracker.evaluate(consensus, sim.truth)
        counts = pd.DataFrame({"metric": ["answers", "frames_viewed"], "value": [float(len(sim.labels)), frames]})
        tables.append(pd.concat([table[["metric", "value"]], counts]).assign(method=method))
    for design in designs:
        campaign = run_adaptive(sim, design, budget=int(budget or frames // 4), seed=scenario.seed, record=False)
        table = stracker.evaluate(campaign.consensus, sim.truth)
        counts = pd.DataFrame(
            {
                "metric": ["answers", "frames_viewed"],
                "value": [float(len(campaign.labels)), float(campaign.frames_viewed)],
            }
        )
        tables.append(pd.concat([table[["metric", "value"]], counts]).assign(method=f"plan:{design}"))
    return pd.concat(tables, ignore_index=True)[["method", "metric", "value"]]


def sweep(
    grid: Mapping[str, Sequence[Any]],
    *,
    preset: str | Scenario = "small",
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] = ("em",),
    designs: Sequence[str] = (),
    budget: int | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """Run every grid cell for every seed as a Dask task and collect the evaluation metrics.

    Parameters
    ----------
    grid : mapping of "part.field" to a list of values
        Scenario fields to vary (see :class:`stracker.Scenario`).
    preset : str or Scenario
        The campaign every cell starts from.
    seeds : sequence of int
        Seeds per cell (the scenario's seed: the same seed gives the same campaign).
    methods : sequence of str
        Aggregation methods to evaluate on each campaign.
    designs : sequence of str
        Adaptive tasking designs to run on each campaign's world too (the planning study of
        :mod:`stracker.tasking`), as methods ``"plan:DESIGN"``.
    budget : int, optional
        Frames viewed for each adaptive design; default a quarter of the simulated campaign's.
    client : dask.distributed.Client, optional
        Where to run; default, as Dask's convention: the current client (a ``with Client(...)`` block's, or the
        default client); when there is none, a new ``LocalCluster``, closed at the end.

    Returns
    -------
    pandas.DataFrame
        One row per (cell, seed, method, metric): the grid's columns, ``seed``, ``method``, ``metric``,
        ``value``. The metrics ``answers`` and ``frames_viewed`` count the campaign's answers and frames.

    Raises
    ------
    ScenarioError
        If a grid key is not a scenario field or a value is invalid (checked for every cell before running).
    """
    from stracker.consensus.aggregate import METHODS
    from stracker.consensus.distributed import close_all, local_client
    from stracker.tasking import DESIGNS

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ScenarioError(f"methods must be among {list(METHODS)}, got {list(methods)}.")
    if [d for d in designs if d not in DESIGNS]:
        raise ScenarioError(f"designs must be among {list(DESIGNS)}, got {list(designs)}.")
    cells = expand_grid(grid)
    jobs = [(cell, seed, _scenario(preset, seed, cell)) for cell in cells for seed in seeds]
    client, own = local_client(client)
    try:
        futures = [
            client.submit(run_campaign, scenario, tuple(methods), tuple(designs), budget, pure=False)
            for _, _, scenario in jobs
        ]
        results = client.gather(futures)
    finally:
        close_all(own)
    parts = []
    for (cell, seed, _), result in zip(jobs, results, strict=True):
        parts.append(result.assign(**cell, seed=seed))
    table = pd.concat(parts, ignore_index=True)
    return table[[*grid, "seed", "method", "metric", "value"]]


def plot_sweep(table: pd.DataFrame, metric: str = "mae_days", x: str | None = None, ax: Any = None) -> Any:
    """Plot one metric against a grid column (default: the first), one line per method and other grid values.

    Points are means over seeds, with the seeds' range as error bars. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    grid_columns = [c for c in table.columns if c not in ("seed", "method", "metric", "value")]
    if not grid_columns:
        raise ValueError("the table has no grid columns; pass the output of sweep().")
    x = x or grid_columns[0]
    if metric not in set(table["metric"]):
        raise ValueError(f"metric {metric!r} is not in the table; it has {sorted(set(table['metric']))}.")
    data = table[table["metric"] == metric]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    groups = [c for c in grid_columns if c != x] + ["method"]
    for key, part in data.groupby(groups, sort=True):
        stats = part.groupby(x)["value"].agg(["mean", "min", "max"])
        label = ", ".join(f"{g}={k}" for g, k in zip(groups, key if isinstance(key, tuple) else (key,), strict=True))
        ax.errorbar(
            stats.index.astype(str) if stats.index.dtype == object else stats.index,
            stats["mean"],
            yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    return ax
