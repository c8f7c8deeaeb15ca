"""``stracker sweep``: a grid of simulated campaigns as Dask tasks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import (
    DESIGNS,
    METHODS,
    connect_scheduler,
    json_option,
    outputs_free,
    overwrite_option,
    preset_option,
)
from stracker.io.files import atomic_path
from stracker.sweep import SWEEP_METRICS

__all__ = ["sweep_command"]


@click.command("sweep")
@preset_option(default="small", help="Scenario preset every campaign starts from.")
@click.option(
    "--grid",
    "grid_specs",
    multiple=True,
    metavar="PART.FIELD=V1,V2",
    help="A scenario field and the values to try (repeatable), e.g. tasks.volunteers_per_building=3,5,7.",
)
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, one campaign each per cell.")
@click.option(
    "--method",
    "methods",
    type=click.Choice(METHODS),
    multiple=True,
    help="Aggregation method to evaluate (repeatable; default em).",
)
@click.option(
    "--design",
    "designs",
    type=click.Choice(DESIGNS),
    multiple=True,
    help="Also run this adaptive tasking design on each campaign's world (repeatable): the planning study.",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Frames viewed per adaptive design (default: a quarter of the simulated campaign's).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run on this Dask cluster (e.g. tcp://host:8786); default: a local cluster.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The tidy table of metrics: CSV or Parquet (by suffix).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also plot --metric against the first grid field (PNG, SVG or PDF).",
)
@click.option(
    "--metric",
    type=click.Choice(SWEEP_METRICS),
    default="mae_days",
    show_default=True,
    help="Metric of the printed table and plot.",
)
@overwrite_option("Replace existing output files.")
@json_option()
@click.pass_obj
def sweep_command(
    obj: dict[str, Any],
    preset: str,
    grid_specs: tuple[str, ...],
    seeds: str,
    methods: tuple[str, ...],
    designs: tuple[str, ...],
    budget: int | None,
    scheduler: str | None,
    out: Path,
    plot_path: Path | None,
    metric: str,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Run a grid of simulated campaigns as Dask tasks and tabulate their evaluation.

    Every combination of the --grid values, for every seed, is one campaign: simulated, aggregated with each
    --method and evaluated against its truth. OUT gets one row per (cell, seed, method, metric).

    \b
    Examples:
      stracker sweep --grid tasks.volunteers_per_building=2,4,7 --grid tasks.task=timeline,compare --out s.csv
      stracker sweep --grid crowd.random_share=0,0.1,0.2 --seeds 0,1,2 --method em --method majority \\
        --out s.parquet --plot s.png --scheduler tcp://10.0.0.5:8786
      stracker sweep --grid tasks.volunteers_per_building=3,7 --design infogain --design bisection --out plan.csv
    """
    import numpy as np

    from stracker.sweep import plot_sweep, sweep

    grid: dict[str, list[Any]] = {}
    for spec in grid_specs:
        key, eq, values = spec.partition("=")
        if not eq or not key or not values:
            raise click.UsageError(f"--grid {spec!r}: write PART.FIELD=V1,V2 (e.g. tasks.task=timeline,compare).")
        grid[key.strip()] = [_grid_value(v) for v in values.split(",")]
    if not grid:
        raise click.UsageError("give at least one --grid PART.FIELD=V1,V2.")
    try:
        seed_list = [int(x) for x in seeds.split(",")]
    except ValueError:
        raise click.UsageError(f"--seeds must be comma-separated integers, got {seeds!r}.") from None
    outputs_free([out] + ([plot_path] if plot_path else []), overwrite)
    started = time.perf_counter()
    client = None
    if scheduler:
        client = connect_scheduler(scheduler)
    try:
        table = sweep(
            grid,
            preset=preset,
            seeds=seed_list,
            methods=list(methods) or ["em"],
            designs=list(designs),
            budget=budget,
            client=client,
        )
    finally:
        if client is not None:
            client.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    if plot_path is not None:
        import matplotlib

        matplotlib.use("Agg")
        ax = plot_sweep(table, metric)
        with atomic_path(plot_path) as tmp:
            ax.figure.savefig(tmp, format=plot_path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    n_cells = int(np.prod([len(v) for v in grid.values()]))
    summary = {
        "preset": preset,
        "grid": grid,
        "seeds": seed_list,
        "campaigns": len(seed_list) * n_cells,
        "rows": len(table),
        "out": str(out),
        "plot": str(plot_path) if plot_path else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] >= 0:
        shown = table[table["metric"] == metric].groupby([*grid, "method"])["value"].mean()
        click.echo(f"{summary['campaigns']} campaigns in {summary['seconds']:.1f} s; {metric}, mean over seeds:")
        click.echo(shown.to_string())
        click.echo(f"wrote {out}" + (f" and {plot_path}" if plot_path else ""))


def _grid_value(text: str) -> Any:
    """A --grid value: an integer, a number, true/false, or text."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)
