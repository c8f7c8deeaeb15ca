"""``stracker import``: a platform's export (Zooniverse, PyBossa, MapSwipe) into a label table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from stracker.cli.options import TASKS, json_option, outputs_free, outputs_not_inputs, overwrite_option
from stracker.errors import PlatformExportError
from stracker.io.files import atomic_path, atomic_paths, output_directory

__all__ = ["import_group"]

F = TypeVar("F", bound=Callable[..., Any])

_LABEL_SUFFIXES = (".parquet", ".pq", ".csv")
Duplicates = Literal["first", "all"]


def _common_options(answer_labels: bool) -> Callable[[F], F]:
    """The options every platform shares: files, outputs, catalogue, duplicates, labels, --json."""

    def decorate(command: F) -> F:
        options = [
            click.argument(
                "files",
                metavar="FILE...",
                nargs=-1,
                required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
            ),
            click.option(
                "--out",
                type=click.Path(dir_okay=False, path_type=Path),
                required=True,
                help="The label table: OUT.parquet (each answer's input row as its index) or OUT.csv.",
            ),
            click.option(
                "--rejected",
                "rejected_path",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Write the rejected rows here (CSV: row, file, the export's key fields, reason, detail).",
            ),
            click.option(
                "--images",
                "images_path",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="Image catalogue (CSV or Parquet with image_date): answers whose dates "
                "are not in it are rejected.",
            ),
            click.option(
                "--duplicates",
                type=click.Choice(["first", "all"]),
                default="first",
                show_default=True,
                help="Repeated answers of one volunteer to one question: keep the earliest, or all. "
                "Either way they are counted.",
            ),
        ]
        if answer_labels:
            options += [
                click.option(
                    "--yes",
                    "yes",
                    multiple=True,
                    default=("Yes",),
                    show_default=True,
                    help="Answer label meaning destroyed (repeatable; case and apostrophes ignored).",
                ),
                click.option(
                    "--no",
                    "no",
                    multiple=True,
                    default=("No",),
                    show_default=True,
                    help="Answer label meaning not destroyed (repeatable).",
                ),
                click.option(
                    "--cant-tell",
                    "cant_tell",
                    multiple=True,
                    default=("Can't tell",),
                    show_default=True,
                    help="Answer label meaning can't tell (repeatable).",
                ),
            ]
        options += [
            overwrite_option("Replace existing --out and --rejected files."),
            json_option("Print the import summary as a JSON object on stdout."),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _catalogue(images_path: Path | None) -> Any:
    if images_path is None:
        return None
    from stracker.io import read_images

    return read_images(images_path)


def _write_labels(labels: Any, path: Path) -> None:
    """A label table as CSV (ISO dates, days where every date is a day) or Parquet (each row's index kept)."""
    if path.suffix.lower() == ".csv":
        dates = labels[["before", "after"]]
        whole_days = all((dates[c].dropna() == dates[c].dropna().dt.normalize()).all() for c in dates)
        labels.to_csv(path, index=False, date_format="%Y-%m-%d" if whole_days else None)
    else:
        labels.to_parquet(path, index=True)


def _write(
    obj: dict[str, Any],
    answers: Any,
    out: Path,
    rejected_path: Path | None,
    as_json: bool,
    overwrite: bool,
    gold_path: Path | None = None,
) -> None:
    """Write the label table, the rejected rows and the expert answers (all whole or none), then report."""
    rejected = answers.rejected
    summary = dict(answers.summary)
    for path in (out, rejected_path, gold_path):
        if path is not None:
            output_directory(path)
    if summary["rows_used"] == 0:
        if rejected_path is not None:
            with atomic_path(rejected_path, overwrite=overwrite) as tmp:
                rejected.to_csv(tmp, index=False)
        counts = ", ".join(f"{n} {reason}" for reason, n in summary["rejected"].items())
        where = f" (listed in {rejected_path})" if rejected_path else "; pass --rejected FILE to list them"
        raise PlatformExportError(
            f"no answer could be used: all {summary['rows_read']} rows were rejected: "
            f"{counts}{where}. {out} was not written."
        )
    extra = [p for p in (rejected_path, gold_path) if p is not None]
    with atomic_paths([out, *extra], overwrite=overwrite) as temps:
        written = dict(zip([out, *extra], temps, strict=True))
        _write_labels(answers.labels, written[out])
        if rejected_path is not None:
            rejected.to_csv(written[rejected_path], index=False)
        if gold_path is not None:
            _write_labels(answers.gold, written[gold_path])
    summary["out"] = str(out)
    summary["rejected_file"] = None if rejected_path is None else str(rejected_path)
    if gold_path is not None:
        summary["gold_file"] = str(gold_path)
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] < 0:
        return
    tasks = ", ".join(f"{n:,} {task}" for task, n in summary["tasks"].items() if n)
    click.echo(
        f"read {summary['rows_read']:,} rows: {summary['rows_used']:,} answers used ({tasks or 'none'}) "
        f"about {summary['buildings']:,} buildings from {summary['volunteers']:,} volunteers"
    )
    if summary["anonymous_answers"]:
        click.echo(
            f"  {_count(summary['anonymous_answers'], 'answer')} from "
            f"{_count(summary['anonymous_volunteers'], 'anonymous volunteer')} (kept)"
        )
    if summary["duplicates"]:
        kept = "kept" if summary["duplicates_kept"] == "all" else "rejected, the earliest kept"
        click.echo(f"  {_count(summary['duplicates'], 'repeated answer')} ({kept})")
    if summary["rows_rejected"]:
        counts = ", ".join(f"{n:,} {reason}" for reason, n in summary["rejected"].items())
        where = f"listed in {rejected_path}" if rejected_path else "pass --rejected FILE to list them"
        click.echo(f"  {summary['rows_rejected']:,} rows rejected: {counts} ({where})")
    if gold_path is not None:
        click.echo(
            f"  {_count(summary['expert_answers'], 'expert answer')} about "
            f"{_count(summary['gold_buildings'], 'building')} set apart as gold in {gold_path}"
        )
    click.echo(f"wrote {out}" + (f" and {rejected_path}" if rejected_path else ""))


def _count(n: int, noun: str) -> str:
    """``1 answer``, ``2 answers``.

    Examples
    --------
    >>> _count(1, "answer"), _count(1200, "repeated answer")
    ('1 answer', '1,200 repeated answers')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _check_outputs(
    out: Path,
    rejected_path: Path | None,
    overwrite: bool,
    files: tuple[Path, ...],
    images_path: Path | None,
    gold_path: Path | None = None,
) -> None:
    outputs = [out, *(p for p in (rejected_path, gold_path) if p is not None)]
    outputs_not_inputs(outputs, {**{f"export {f.name}": f for f in files}, "--images": images_path})
    for option, path in (("--out", out), ("--gold", gold_path)):
        if path is not None and path.suffix.lower() not in _LABEL_SUFFIXES:
            raise click.UsageError(f"{option} must end in .parquet or .csv, not {path.suffix!r}.")
    if len({p.resolve() for p in outputs}) < len(outputs):
        raise click.UsageError("--out, --rejected and --gold must be different files.")
    outputs_free(outputs, overwrite)


@click.group("import")
def import_group() -> None:
    """Read a platform's export into a label table for `stracker aggregate`.

    Every row of the export is either an answer in --out or a rejected row (with its reason) in --rejected;
    the summary counts both. See the README for the subject conventions.

    \b
    Examples:
      stracker import zooniverse classifications.csv --workflow-id 123 --out answers.parquet --rejected bad.csv
      stracker import pybossa task_runs.json --building info_building_id --answer info_answer --out answers.parquet
      stracker import mapswipe results_-Mx1.csv.gz --before 2017-06-06 --after 2017-10-20 --out answers.parquet
    """


@import_group.command("zooniverse")
@_common_options(answer_labels=True)
@click.option("--workflow-id", default=None, help="The workflow to import (needed when the export holds several).")
@click.option(
    "--workflow-version",
    default=None,
    help="16.55 (that version only), 16 (any 16.x) or >=16.55; default: every version.",
)
@click.option(
    "--task",
    "task_key",
    default=None,
    metavar="KEY",
    help="The workflow's task whose answers are read, e.g. T0 (default: its only task).",
)
@click.option(
    "--gold",
    "gold_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Set the expert classifications (the export's expert column) apart from the volunteers' answers and "
    "write them here (CSV or Parquet), for `stracker aggregate --gold`.",
)
@click.pass_obj
def zooniverse_command(
    obj: dict[str, Any],
    files: tuple[Path, ...],
    out: Path,
    rejected_path: Path | None,
    images_path: Path | None,
    duplicates: Duplicates,
    yes: tuple[str, ...],
    no: tuple[str, ...],
    cant_tell: tuple[str, ...],
    overwrite: bool,
    as_json: bool,
    workflow_id: str | None,
    workflow_version: str | None,
    task_key: str | None,
    gold_path: Path | None,
) -> None:
    """Import a Zooniverse classification export (CSV).

    Question workflows: one subject per question, its metadata #building_id, #before (empty: one image) and
    #after; the answer label gives destroyed (--yes/--no/--cant-tell). Timeline workflows: one subject per
    building, #building_id and #dates (its frames' dates, joined by ;); the first frame marked destroyed, or no
    mark. The volunteer is user_name (not-logged-in-... volunteers are kept and counted).

    \b
    Examples:
      stracker import zooniverse raqqa-classifications.csv --workflow-id 123 --workflow-version 16.55 \\
          --task T0 --images images.csv --out answers.parquet --rejected rejected.csv
    """
    from stracker.platforms import read_zooniverse

    _check_outputs(out, rejected_path, overwrite, files, images_path, gold_path)
    answers = read_zooniverse(
        list(files),
        workflow_id=workflow_id,
        workflow_version=workflow_version,
        task_key=task_key,
        yes=yes,
        no=no,
        cant_tell=cant_tell,
        duplicates=duplicates,
        image_dates=_catalogue(images_path),
        experts="gold" if gold_path is not None else "volunteers",
    )
    _write(obj, answers, out, rejected_path, as_json, overwrite, gold_path)


@import_group.command("pybossa")
@_common_options(answer_labels=True)
@click.option("--building", default="info_building_id", show_default=True, help="Column of the building id.")
@click.option(
    "--before",
    default="info_before",
    show_default=True,
    help="Column of the earlier image's date; '' for one-image questions.",
)
@click.option("--after", default="info_after", show_default=True, help="Column of the later image's date.")
@click.option("--answer", default="info_answer", show_default=True, help="Column of the answer label.")
@click.option(
    "--task",
    type=click.Choice(TASKS),
    default="compare",
    show_default=True,
    help="Task kind of every answer: compare (the task gave the images) or timeline.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "json"]),
    default=None,
    help="The export's format (default: from the suffix).",
)
@click.pass_obj
def pybossa_command(
    obj: dict[str, Any],
    files: tuple[Path, ...],
    out: Path,
    rejected_path: Path | None,
    images_path: Path | None,
    duplicates: Duplicates,
    yes: tuple[str, ...],
    no: tuple[str, ...],
    cant_tell: tuple[str, ...],
    overwrite: bool,
    as_json: bool,
    building: str,
    before: str,
    after: str,
    answer: str,
    task: Literal["compare", "timeline"],
    file_format: Literal["csv", "json"] | None,
) -> None:
    """Import a PyBossa task_run export (CSV with info_* columns, or JSON with info nested).

    The field map names the columns (JSON fields by their CSV names, e.g. info_building_id). The volunteer
    is user_id; anonymous runs are the external_uid or user_ip volunteer, and are counted.

    \b
    Examples:
      stracker import pybossa decoders_task_run.csv --building info_building_id --before info_before \\
          --after info_after --answer info_answer --out answers.parquet --rejected rejected.csv
    """
    from stracker.platforms import read_pybossa

    _check_outputs(out, rejected_path, overwrite, files, images_path)
    answers = read_pybossa(
        list(files),
        building=building,
        before=before or None,
        after=after,
        answer=answer,
        task=task,
        yes=yes,
        no=no,
        cant_tell=cant_tell,
        duplicates=duplicates,
        image_dates=_catalogue(images_path),
        file_format=file_format,
    )
    _write(obj, answers, out, rejected_path, as_json, overwrite)


@import_group.command("mapswipe")
@_common_options(answer_labels=False)
@click.option("--before", default=None, help="Date of the project's earlier image (omit for one-image projects).")
@click.option("--after", required=True, help="Date of the project's later image.")
@click.pass_obj
def mapswipe_command(
    obj: dict[str, Any],
    files: tuple[Path, ...],
    out: Path,
    rejected_path: Path | None,
    images_path: Path | None,
    duplicates: Duplicates,
    overwrite: bool,
    as_json: bool,
    before: str | None,
    after: str,
) -> None:
    """Import MapSwipe results (results_<project>.csv.gz).

    task_id is the building id, user_id the volunteer; result 1 is destroyed, 0 not, 2 (maybe) and 3 (bad
    imagery) can't tell. The project's image dates are given here: MapSwipe keeps them in the project.

    \b
    Examples:
      stracker import mapswipe results_-MRaqqa01.csv.gz --before 2017-06-06 --after 2017-10-20 \\
          --out answers.parquet --rejected rejected.csv
    """
    from stracker.platforms import read_mapswipe

    _check_outputs(out, rejected_path, overwrite, files, images_path)
    answers = read_mapswipe(
        list(files), before=before, after=after, duplicates=duplicates, image_dates=_catalogue(images_path)
    )
    _write(obj, answers, out, rejected_path, as_json, overwrite)
