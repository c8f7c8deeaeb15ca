"""``stracker simulate``: simulate a campaign and write its files."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import (
    TASKS,
    evaluation_text,
    json_option,
    outputs_free,
    overwrite_option,
    preset_option,
    seed_option,
)

__all__ = ["simulate"]


@click.command()
@preset_option(default="raqqa", help="Scenario preset.")
@seed_option()
@click.option(
    "--task",
    type=click.Choice(TASKS),
    default=None,
    help="Task kind of the campaign's questions (default: the preset's, timeline).",
)
@click.option(
    "--design",
    "deprecated_design",
    type=click.Choice(TASKS),
    default=None,
    hidden=True,
    help="Deprecated spelling of --task (design now means only the adaptive question design).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the simulation's files.",
)
@click.option(
    "--aggregate/--no-aggregate",
    "do_aggregate",
    default=True,
    show_default=True,
    help="Also aggregate the answers, evaluate against the truth and write the consensus layer.",
)
@overwrite_option("Replace files already in --out.")
@json_option("Print a JSON summary on stdout instead of tables.")
@click.pass_obj
def simulate(
    obj: dict[str, Any],
    preset: str,
    seed: int,
    task: str | None,
    deprecated_design: str | None,
    out_dir: Path,
    do_aggregate: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Simulate a Strike Trackers campaign and write it to --out.

    Writes scenario.json, buildings.gpkg (footprints with the truth column destroyed_on), images.parquet,
    volunteers.parquet, labels.parquet (the label table) and visibility.npy; with --aggregate (the default)
    also consensus.gpkg (footprints with the consensus columns), report/report.html (the campaign report
    with its figures), consensus_volunteers.parquet and
    evaluation.csv, and prints the evaluation table.

    \b
    Examples:
      stracker simulate --preset raqqa --seed 0 --out results/raqqa
      stracker simulate --preset small --seed 3 --task compare --out /tmp/small --overwrite --json
    """
    import stracker
    from stracker.scenario import Scenario
    from stracker.simulation import SIMULATION_FILES
    from stracker.simulation import simulate as run_simulation

    quiet = obj["verbosity"] < 0 or as_json
    scenario = Scenario.preset(preset, seed=seed)
    if deprecated_design is not None:
        if task is not None and task != deprecated_design:
            raise click.UsageError(f"--design {deprecated_design} contradicts --task {task}; give --task only.")
        click.echo(
            "stracker: warning: --design is deprecated for the task kind and will be removed in the next "
            "release; use --task.",
            err=True,
        )
        task = deprecated_design
    if task is not None:
        scenario = scenario.replace(tasks={"task": task})
    outputs = list(SIMULATION_FILES) + (
        ["consensus.gpkg", "consensus_volunteers.parquet", "evaluation.csv"] if do_aggregate else []
    )
    outputs_free([out_dir / name for name in outputs], overwrite)
    started = time.perf_counter()
    stages = ["footprints", "destruction", "catalogue", "visibility", "volunteers", "answers"]
    with click.progressbar(
        length=len(stages), label=f"simulating {preset}", file=sys.stderr, hidden=quiet, item_show_func=lambda s: s
    ) as bar:
        sim = run_simulation(scenario, progress=lambda stage, _: bar.update(1, stage))
    summary: dict[str, Any] = sim.summary()
    result: dict[str, Any] = {"simulation": summary, "out": str(out_dir)}
    extra: dict[str, Any] = {}
    if do_aggregate:
        if not quiet:
            click.echo("aggregating answers (EM) ...", err=True)
        consensus = stracker.aggregate(sim.labels, sim.image_dates)
        table = stracker.evaluate(consensus, sim.truth)
        # written and renamed with the simulation's files, listed in its manifest: the folder is one run
        extra = {
            "consensus.gpkg": lambda p: consensus.to_file(p, sim.buildings, images=sim.images),
            "consensus_volunteers.parquet": lambda p: consensus.volunteers.to_parquet(p),
            "evaluation.csv": lambda p: table.to_csv(p, index=False),
        }
    sim.save(out_dir, overwrite=overwrite, extra=extra)
    if do_aggregate:
        result["consensus"] = consensus.summary()
        result["evaluation"] = dict(zip(table["metric"], table["value"].astype(float), strict=True))
        if not quiet:
            click.echo("writing the report ...", err=True)
        from stracker.report import write_report

        result["report"] = str(write_report(out_dir / "report", sim, consensus, table))
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
            click.echo(evaluation_text(table))
        click.echo(f"results in {out_dir}/" + (f", report in {out_dir}/report/report.html" if do_aggregate else ""))
