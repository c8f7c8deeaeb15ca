"""``stracker plan``: an adaptive campaign on a simulated world."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import (
    DESIGNS,
    evaluation_text,
    json_option,
    outputs_free,
    overwrite_option,
    preset_option,
    retire_mass_option,
    seed_option,
)
from stracker.io.files import atomic_path

__all__ = ["plan_command"]


@click.command("plan")
@preset_option(default="raqqa", help="Scenario preset of the simulated world.")
@seed_option()
@click.option(
    "--design", type=click.Choice(DESIGNS), default="infogain", show_default=True, help="How questions are chosen."
)
@click.option("--budget", type=click.IntRange(min=1), default=500_000, show_default=True, help="Frames viewed at most.")
@retire_mass_option()
@click.option(
    "--max-retire-mass",
    type=click.FloatRange(0.5, 0.99999),
    default=0.9999,
    show_default=True,
    help="With budget left once every building has retired, 1 - mass shrinks tenfold, up to this mass.",
)
@click.option(
    "--spatial",
    is_flag=True,
    help="Aggregate every round with the spatial-temporal prior over the world's footprints (as stracker "
    "aggregate --spatial): questions and retirement follow the spatial posterior.",
)
@click.option(
    "--visibility",
    is_flag=True,
    help="The campaign knows its clouds: the world's visibility goes to the questions (hidden images are never "
    "asked, as with stracker next --visibility) and to every fit (as stracker aggregate --visibility).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the campaign's answers (CSV or Parquet) and its per-round history beside them.",
)
@overwrite_option("Replace existing output files.")
@json_option()
@click.pass_obj
def plan_command(
    obj: dict[str, Any],
    preset: str,
    seed: int,
    design: str,
    budget: int,
    retire_mass: float,
    max_retire_mass: float,
    spatial: bool,
    visibility: bool,
    out_path: Path | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Plan an adaptive campaign: date every building with a budget of frames viewed.

    Simulates the preset's world and volunteers, then asks questions in rounds (one per building still
    uncertain, chosen by the same core as `stracker next`), updating the consensus after each round (an
    incremental fit, refitted every few rounds, and a full fit at the end), until the budget
    is spent or every building is settled at --max-retire-mass (a building settles when its credible interval
    is one image gap, or when clouds hide every image that could split it; the bar starts at --retire-mass and
    rises while budget is left).
    Prints the frames viewed and the evaluation against the simulated truth.

    \b
    Examples:
      stracker plan --preset raqqa --design infogain --budget 500000 --json
      stracker plan --preset small --design bisection --budget 6000 --out plan.csv
      stracker plan --preset raqqa --design infogain --spatial --visibility --json
    """
    import stracker
    from stracker.simulation import simulate as run_simulation
    from stracker.tasking import run_adaptive

    quiet = obj["verbosity"] < 0 or as_json
    history_path = out_path.with_name(out_path.stem + ".history.csv") if out_path is not None else None
    if out_path is not None and history_path is not None:
        outputs_free([out_path, history_path], overwrite)
    started = time.perf_counter()
    sim = run_simulation(preset, seed=seed)

    def progress(round_: int, frames: int, active: int) -> None:
        if not quiet:
            click.echo(
                f"round {round_:>3}: {frames:>10,} frames viewed, {active:,} buildings still uncertain", err=True
            )

    campaign = run_adaptive(
        sim,
        design,
        budget=budget,
        seed=seed,
        retire_mass=retire_mass,
        max_retire_mass=max_retire_mass,
        record=False,
        progress=progress,
        spatial=spatial,
        visibility=visibility,
    )
    last = campaign.history.iloc[-1]
    metrics = {
        k: float(v)
        for k, v in last.items()
        if k not in ("round", "answers", "asked", "retired", "retire_mass", "aggregate_s", "frames_viewed")
    }
    summary = {
        "preset": preset,
        "seed": seed,
        "design": design,
        "budget": budget,
        "spatial": spatial,
        "visibility": visibility,
        "frames_viewed": campaign.frames_viewed,
        "answers": len(campaign.labels),
        "rounds": int(last["round"]),
        "retired": int(last["retired"]),
        "retire_mass": float(last["retire_mass"]),
        "seconds": round(time.perf_counter() - started, 2),
        **metrics,
    }
    if out_path is not None and history_path is not None:
        with atomic_path(out_path) as tmp:
            if out_path.suffix.lower() == ".parquet":
                campaign.labels.to_parquet(tmp, index=False)
            else:
                campaign.labels.to_csv(tmp, index=False)
        with atomic_path(history_path) as tmp:
            campaign.history.to_csv(tmp, index=False)
        summary["out"] = str(out_path)
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] >= 0:
        click.echo(
            f"{design}: {summary['frames_viewed']:,} frames viewed in {summary['rounds']} rounds, "
            f"{summary['retired']:,} buildings settled, {summary['seconds']:.1f} s"
        )
        click.echo(evaluation_text(stracker.evaluate(campaign.consensus, sim.truth)))
