"""The ``stracker`` command line: a click command group.

Progress and tables go to stderr/stdout for people; ``--json`` prints one machine-readable JSON object on
stdout instead. Bad input ends with exit code 1 and a one-line message, not a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
import pandas as pd

from stracker.errors import StrackerError

__all__ = ["main"]


def _fail(message: str) -> None:
    click.echo(f"stracker: error: {message}", err=True)
    sys.exit(1)


class _Group(click.Group):
    """Turns the package's own errors into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (StrackerError, FileExistsError) as exc:
            _fail(str(exc))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.version_option(package_name="stracker")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Simulate crowdsourced satellite damage dating and aggregate volunteer answers.

    \b
    Examples:
      stracker simulate --preset raqqa --seed 0 --out results/raqqa
      stracker simulate --preset small --design compare --out /tmp/small --json
    """
    ctx.obj = {"verbosity": -1 if quiet else verbose}


def _evaluation_text(table: pd.DataFrame) -> str:
    lines = [f"  {'metric':<26}{'value':>12}  unit"]
    for metric, value, unit in table.itertuples(index=False):
        shown = f"{value:>12.0f}" if unit == "count" else f"{value:>12.4f}"
        lines.append(f"  {metric:<26}{shown}  {unit}")
    return "\n".join(lines)


@cli.command()
@click.option("--preset", type=click.Choice(["raqqa", "small"]), default="raqqa", show_default=True,
              help="Scenario preset.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--design", type=click.Choice(["timeline", "compare"]), default=None,
              help="Task design (default: the preset's, timeline).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the simulation's files.")
@click.option("--aggregate/--no-aggregate", "do_aggregate", default=True, show_default=True,
              help="Also aggregate the answers, evaluate against the truth and write the consensus layer.")
@click.option("--overwrite", is_flag=True, help="Replace files already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout instead of tables.")
@click.pass_obj
def simulate(obj: dict[str, Any], preset: str, seed: int, design: str | None, out_dir: Path, do_aggregate: bool,
             overwrite: bool, as_json: bool) -> None:
    """Simulate a Strike Trackers campaign and write it to --out.

    Writes scenario.json, buildings.gpkg (footprints with the truth column destroyed_on), images.parquet,
    volunteers.parquet, labels.parquet (the label table) and visibility.npy; with --aggregate (the default)
    also consensus.gpkg (footprints with the consensus columns), consensus_volunteers.parquet and
    evaluation.csv, and prints the evaluation table.

    \b
    Examples:
      stracker simulate --preset raqqa --seed 0 --out results/raqqa
      stracker simulate --preset small --seed 3 --out /tmp/small --overwrite --json
    """
    import stracker
    from stracker._io import atomic_path, write_geopackage
    from stracker.scenario import Scenario
    from stracker.simulation import SIMULATION_FILES
    from stracker.simulation import simulate as run_simulation

    quiet = obj["verbosity"] < 0 or as_json
    scenario = Scenario.preset(preset, seed=seed)
    if design is not None:
        scenario = scenario.replace(tasks={"design": design})
    outputs = list(SIMULATION_FILES) + (["consensus.gpkg", "consensus_volunteers.parquet", "evaluation.csv"]
                                        if do_aggregate else [])
    clash = [name for name in outputs if (out_dir / name).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"{out_dir} already holds {clash}; pass --overwrite or choose another --out.")
    started = time.perf_counter()
    stages = ["footprints", "destruction", "catalogue", "visibility", "volunteers", "answers"]
    with click.progressbar(length=len(stages), label=f"simulating {preset}", file=sys.stderr,
                           hidden=quiet, item_show_func=lambda s: s) as bar:
        sim = run_simulation(scenario, progress=lambda stage, _: bar.update(1, stage))
    sim.save(out_dir, overwrite=True)
    summary: dict[str, Any] = sim.summary()
    result: dict[str, Any] = {"simulation": summary, "out": str(out_dir)}
    if do_aggregate:
        if not quiet:
            click.echo("aggregating answers (EM) ...", err=True)
        consensus = stracker.aggregate(sim.labels, sim.image_dates)
        table = stracker.evaluate(consensus, sim.truth)
        layer = consensus.to_geodataframe(sim.buildings)
        write_geopackage(layer, out_dir / "consensus.gpkg", layer="buildings")
        with atomic_path(out_dir / "consensus_volunteers.parquet") as tmp:
            consensus.volunteers.to_parquet(tmp)
        with atomic_path(out_dir / "evaluation.csv") as tmp:
            table.to_csv(tmp, index=False)
        result["consensus"] = consensus.summary()
        result["evaluation"] = dict(zip(table["metric"], table["value"].astype(float), strict=True))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        click.echo(json.dumps(result))
        return
    if obj["verbosity"] >= 0:
        click.echo(
            f"{summary['buildings']:,} buildings ({summary['destroyed']:,} destroyed), {summary['images']} images, "
            f"{summary['volunteers']:,} volunteers from {summary['countries']} countries, "
            f"{summary['answers']:,} answers, {summary['frames_viewed']:,} frames viewed, "
            f"{summary['seconds']:.1f} s"
        )
        if do_aggregate:
            c = result["consensus"]
            click.echo(f"consensus: {c['iterations']} EM iterations, converged={c['converged']}")
            click.echo(_evaluation_text(table))
        click.echo(f"results in {out_dir}/")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="stracker")


if __name__ == "__main__":
    main()
