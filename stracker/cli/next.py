"""``stracker next``: the next batch of questions of a real campaign, written for the platform that asks them."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import click

from stracker.cli.options import (
    DESIGNS,
    TASKS,
    echo_warnings,
    footprint_options,
    json_option,
    outputs_free,
    overwrite_option,
    retire_mass_option,
    visibility_options,
)
from stracker.errors import StrackerWarning
from stracker.io.files import atomic_path
from stracker.tasking import QUESTION_FORMATS, RETIREMENT_REASONS, UPLOAD_COMMAND

__all__ = ["next_command"]


@click.command("next")
@click.argument(
    "answers_path", metavar="[ANSWERS]", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--images",
    "images_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The image catalogue: CSV or Parquet with an image_date column (every acquisition date).",
)
@footprint_options("of every building of the campaign, so that buildings without answers are asked too")
@visibility_options(
    "Bisection and infogain never ask hidden images, and the aggregation of the answers so far counts what "
    "clouds hid as no evidence."
)
@click.option(
    "--design",
    type=click.Choice(DESIGNS),
    default="infogain",
    show_default=True,
    help="infogain: the single image of most expected information; bisection: the image pair that "
    "halves the building's interval; random: a baseline.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=None,
    help="Questions at most, the most valuable first (default: one per unsettled building).",
)
@retire_mass_option()
@click.option(
    "--task",
    type=click.Choice(TASKS),
    default=None,
    help="Task kind of every answer, for a table without a task column.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random design.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The questions file.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(QUESTION_FORMATS),
    default="csv",
    show_default=True,
    help="csv: building_id, before, after; zooniverse: a subject manifest for panoptes-cli; pybossa: a "
    "tasks CSV whose columns become task.info.",
)
@click.option(
    "--frames",
    "frame_location",
    default="",
    metavar="DIR_OR_URL",
    help="Where the frames (<building_id>_<YYYY-MM-DD>.png) are: for zooniverse a directory relative to "
    "--out's, for pybossa a URL or path (default: beside --out).",
)
@click.option(
    "--retired",
    "retired_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the retired buildings and why (CSV).",
)
@click.option(
    "--spatial",
    is_flag=True,
    help="Aggregate with the spatial-temporal prior over --footprints (as stracker aggregate --spatial), so the "
    "questions follow the spatial posterior: buildings without answers start from their neighbours' dates.",
)
@overwrite_option("Replace existing output files.")
@json_option()
@click.pass_obj
def next_command(
    obj: dict[str, Any],
    answers_path: Path | None,
    images_path: Path,
    footprints_path: Path | None,
    layer: str | None,
    id_column: str,
    visibility_path: Path | None,
    hidden_below: float,
    design: str,
    batch: int | None,
    retire_mass: float,
    task: Literal["timeline", "compare"] | None,
    seed: int,
    out: Path,
    fmt: str,
    frame_location: str,
    retired_path: Path | None,
    spatial: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """The next questions of a campaign: one per unsettled building, the most uncertain first.

    ANSWERS (CSV or Parquet, the label table: building_id, volunteer_id, before, after, destroyed, task) are
    aggregated; buildings whose date is settled retire (settled: one image gap; intact: confidently not
    destroyed; hidden: only clouded images could split it); every other building gets one question
    (building_id, before, after; before empty for a single image), in order of the entropy of its state.
    Without ANSWERS (a campaign's start) every footprint is asked.

    \b
    Examples:
      stracker next answers.parquet --images images.csv --footprints buildings.gpkg --batch 500 --out q.csv
      stracker next answers.csv --images images.csv --design bisection --format zooniverse \\
          --frames chips --out manifest.csv --retired retired.csv --json
      stracker next --images images.csv --footprints buildings.gpkg --format pybossa \\
          --frames https://example.org/chips --out tasks.csv
    """
    import stracker
    from stracker.io import read_footprints, read_images, read_visibility
    from stracker.tasking import next_questions, write_questions

    quiet = obj["verbosity"] < 0 or as_json
    if answers_path is None and footprints_path is None:
        raise click.UsageError("give the ANSWERS so far, or --footprints to start a campaign (or both).")
    if spatial and footprints_path is None:
        raise click.UsageError("--spatial needs --footprints.")
    outputs_free([out] + ([retired_path] if retired_path is not None else []), overwrite)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StrackerWarning)
        answers = stracker.read_labels(answers_path) if answers_path is not None else None
        images = read_images(images_path)
        footprints = read_footprints(footprints_path, layer=layer, id_column=id_column) if footprints_path else None
        visibility = read_visibility(visibility_path) if visibility_path is not None else None
        read_s = time.perf_counter() - started
        result = next_questions(
            answers,
            images["image_date"],
            design=design,
            buildings=None if footprints is None else footprints[id_column],
            visibility=visibility,
            batch=batch,
            retire_mass=retire_mass,
            hidden_below=hidden_below,
            seed=seed,
            task=task,
            footprints=_as_building_layer(footprints, id_column) if spatial else None,
        )
    notes = echo_warnings([w for w in caught if issubclass(w.category, StrackerWarning)], quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_questions(result.questions, out, fmt, frame_location=frame_location)
    if retired_path is not None:
        retired_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(retired_path) as tmp:
            result.retired.to_csv(tmp, index=False, date_format="%Y-%m-%d", lineterminator="\n")
    summary: dict[str, Any] = {
        **result.summary(),
        "answers_file": None if answers_path is None else str(answers_path),
        "format": fmt,
        "out": str(out),
        "retired_file": None if retired_path is None else str(retired_path),
        "read_s": round(read_s, 3),
        "warnings": notes,
        "total_s": round(time.perf_counter() - started, 2),
    }
    if fmt == "zooniverse":
        summary["upload"] = UPLOAD_COMMAND.format(path=out)
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] >= 0:
        by_reason = ", ".join(f"{summary['retired_by_reason'][r]:,} {r}" for r in RETIREMENT_REASONS)
        click.echo(
            f"{summary['questions']:,} {design} questions ({summary['frames']:,} frames) about the "
            f"{summary['questions'] + summary['unasked']:,} unsettled of {summary['buildings']:,} buildings; "
            f"{summary['retired']:,} retired ({by_reason}); {summary['total_s']:.1f} s"
        )
        if summary["unasked"]:
            click.echo(f"{summary['unasked']:,} unsettled buildings left for a later batch (--batch {batch})")
        click.echo(f"wrote {out}" + (f" and {retired_path}" if retired_path is not None else ""))
        if fmt == "zooniverse":
            click.echo(f"upload with: {summary['upload']}")


def _as_building_layer(footprints: Any, id_column: str) -> Any:
    """The footprints' ids as ``building_id`` and their geometry: the layer ``stracker.aggregate(footprints=)``
    takes, whatever the id column is called."""
    if footprints is None or id_column == "building_id":
        return footprints
    return footprints[[id_column, footprints.geometry.name]].rename(columns={id_column: "building_id"})
