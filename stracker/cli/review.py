"""``stracker review``: the review page of a consensus file, one offline HTML file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import FOOTPRINT_HELP, json_option, outputs_free, overwrite_option

__all__ = ["review_command"]


@click.command("review")
@click.argument("consensus_path", metavar="CONSENSUS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The answers CONSENSUS was aggregated from (CSV or Parquet): listed per building, with each "
    "volunteer's reliability.",
)
@click.option(
    "--chips",
    "chips_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of image chips named <building_id>_<YYYY-MM-DD>.png, shown across dates.",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ground truth, where known: a footprint file or table with building_id and destroyed_on "
    "(empty: never destroyed); a toggle on the map.",
)
@click.option(
    "--footprints",
    "footprints_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"Footprints to draw ({FOOTPRINT_HELP}); default: CONSENSUS's own buildings layer.",
)
@click.option(
    "--max-frame-buildings",
    type=click.IntRange(min=0),
    default=40,
    show_default=True,
    help="Embed the chips of at most this many buildings (the least confident first; about 8 MB in all at most).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The HTML file to write.")
@overwrite_option("Replace an existing --out.")
@json_option()
@click.pass_obj
def review_command(
    obj: dict[str, Any],
    consensus_path: Path,
    labels_path: Path | None,
    chips_dir: Path | None,
    truth_path: Path | None,
    footprints_path: Path | None,
    max_frame_buildings: int,
    out: Path,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Write the review page of a consensus: one HTML file that works offline.

    The page maps every footprint by the week of its consensus date (grey: not destroyed; pale: no answers),
    lists the buildings most worth a look (lowest confidence, widest interval, most disagreement; by district
    and date), and shows a clicked building's posterior, credible interval, answers and chips. An expert sets
    dates there and downloads them as gold.csv (building_id, destroyed_on; empty: not destroyed).

    CONSENSUS is a file written by `stracker aggregate --footprints` or `stracker simulate` (.gpkg or .parquet).

    \b
    Examples:
      stracker review results/raqqa/consensus.gpkg --labels results/raqqa/labels.parquet \\
          --truth results/raqqa/buildings.gpkg --out review.html
      stracker review consensus.gpkg --labels answers.csv --chips chips/ --out review.html --json
    """
    import stracker
    from stracker.errors import FootprintsError
    from stracker.io import read_footprints, read_truth
    from stracker.review import write_review

    outputs_free([out], overwrite)
    consensus = stracker.read_consensus(consensus_path)
    try:
        footprints = read_footprints(footprints_path or consensus_path, layer=None if footprints_path else "buildings")
    except FootprintsError as exc:
        if footprints_path is not None:
            raise
        raise FootprintsError(
            f"{exc} (CONSENSUS holds no footprints: it was aggregated without --footprints; pass --footprints FILE.)"
        ) from exc
    labels = stracker.read_labels(labels_path) if labels_path else None
    truth = read_truth(truth_path) if truth_path else None
    out.parent.mkdir(parents=True, exist_ok=True)
    page = write_review(
        out,
        consensus,
        footprints,
        labels=labels,
        chips=chips_dir,
        truth=truth,
        max_frame_buildings=max_frame_buildings,
        overwrite=overwrite,
        title=f"stracker review: {consensus_path.name}",
    )
    summary = {
        "review": str(page.path),
        "size_bytes": page.size_bytes,
        "buildings": page.n_buildings,
        "answered": page.n_answered,
        "answers": page.n_answers,
        "frame_buildings": page.frame_buildings,
        "frames": page.n_frames,
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif obj["verbosity"] >= 0:
        click.echo(
            f"review page in {page.path} ({page.size_bytes / 1e6:.1f} MB): {page.n_buildings:,} buildings, "
            f"{page.n_answered:,} with answers, {page.n_answers:,} answers listed, frames of "
            f"{page.frame_buildings:,} building(s)"
        )
