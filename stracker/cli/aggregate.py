"""``stracker aggregate``: turn answers into consensus destruction dates."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
import numpy as np
import pandas as pd

from stracker.cli.options import (
    METHODS,
    TASKS,
    connect_scheduler,
    echo_warnings,
    footprint_options,
    json_id,
    json_option,
    outputs_free,
    outputs_not_inputs,
    overwrite_option,
    stages,
    threads_option,
    visibility_options,
)
from stracker.errors import StrackerWarning
from stracker.io.files import output_directory

Method = Literal["em", "majority", "dawid_skene"]
Task = Literal["timeline", "compare"]

__all__ = ["aggregate_command"]


@click.command("aggregate")
@click.argument("labels_path", metavar="LABELS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@footprint_options("to join the consensus onto")
@click.option(
    "--images",
    "images_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The image catalogue: CSV or Parquet with an image_date column (default: the dates in LABELS).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="em",
    show_default=True,
    help="em: the full model; majority and dawid_skene: baselines.",
)
@click.option(
    "--task",
    type=click.Choice(TASKS),
    default=None,
    help="Task kind of every answer, for a table without a task column.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output: OUT.gpkg (layers buildings, volunteers, images, states) or OUT.parquet (GeoParquet "
    "and OUT.volunteers/.images/.states.parquet).",
)
@click.option(
    "--spatial",
    is_flag=True,
    help="Each building's prior leans towards what its neighbours' answers say (the spatial-temporal prior, "
    "learned by the EM; needs --footprints in a projected CRS). Every footprint gets a consensus, those "
    "without answers from their neighbours.",
)
@click.option(
    "--on-unknown",
    type=click.Choice(["error", "report"]),
    default="error",
    show_default=True,
    help="Answers for buildings missing from --footprints: stop, or write them to OUT.rejected.csv and go on.",
)
@visibility_options("The em fit then counts what clouds hid as no evidence (see docs/model.md).")
@click.option(
    "--gold",
    "gold_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Buildings an expert dated: CSV or Parquet with building_id and destroyed_on (empty: not destroyed), "
    "as the review page downloads gold.csv, or expert answers with building_id, before, after, destroyed. "
    "Their state is fixed and calibrates the volunteers who answered them (em only).",
)
@click.option(
    "--compare-image-reliability",
    is_flag=True,
    help="Learn per image how often compare answers about it are coin flips (an image hard to read for "
    "everyone); em only.",
)
@overwrite_option("Replace existing output files.")
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Fit the EM on this Dask cluster (e.g. tcp://host:8786), answers partitioned by building; "
    "needs the 'distributed' extra. Same result as in memory.",
)
@threads_option()
@json_option()
@click.pass_obj
def aggregate_command(
    obj: dict[str, Any],
    labels_path: Path,
    footprints_path: Path | None,
    layer: str | None,
    id_column: str,
    images_path: Path | None,
    method: Method,
    task: Task | None,
    out: Path,
    spatial: bool,
    on_unknown: Literal["error", "report"],
    visibility_path: Path | None,
    hidden_below: float,
    gold_path: Path | None,
    compare_image_reliability: bool,
    overwrite: bool,
    scheduler: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Aggregate answers into consensus destruction dates.

    LABELS (CSV or Parquet) has one row per answer: building_id, volunteer_id, before, after, destroyed and
    task (or --task). CSV may use , ; tab or | and start with a byte-order mark; id columns of plain whole
    numbers are read as integers, others as text, in LABELS and --footprints alike. Every footprint is kept
    (n_labels 0 where nobody answered); answers about buildings without a footprint stop the run, or with
    --on-unknown report are written to OUT.rejected.csv beside OUT.

    \b
    Examples:
      stracker aggregate answers.csv --footprints buildings.gpkg --out consensus.gpkg
      stracker aggregate answers.parquet --images images.csv --method dawid_skene --out consensus.parquet
      stracker aggregate answers.csv --footprints osm.geojson --on-unknown report --out c.gpkg --json
      stracker aggregate answers.csv --visibility visibility.parquet --gold gold.csv --out consensus.gpkg
      stracker aggregate answers.csv --footprints buildings.gpkg --spatial --out consensus.gpkg
    """
    import stracker
    from stracker.io import consensus_outputs, read_footprints, read_gold, read_images, read_visibility

    quiet = obj["verbosity"] < 0 or as_json
    if scheduler and method != "em":
        raise click.UsageError(f"--scheduler fits --method em only, not {method}.")
    known = {
        "--visibility": visibility_path,
        "--gold": gold_path,
        "--compare-image-reliability": compare_image_reliability,
    }
    given = [name for name, value in known.items() if value]
    if given and method != "em":
        raise click.UsageError(f"{', '.join(given)} are inputs of --method em, not {method}.")
    if scheduler and (visibility_path or gold_path):
        raise click.UsageError("--visibility and --gold are not available with --scheduler: fit in memory.")
    if spatial and (footprints_path is None or method != "em" or scheduler):
        raise click.UsageError("--spatial needs --footprints and fits --method em in memory (not with --scheduler).")
    if scheduler and threads is not None:
        raise click.UsageError("--threads is the in-memory fit's; on --scheduler the Dask workers' threads run it.")
    rejected_path = out.with_name(f"{out.stem}.rejected.csv")
    targets = consensus_outputs(out)
    outputs_not_inputs(
        [*targets, rejected_path],
        {
            "LABELS": labels_path,
            "--footprints": footprints_path,
            "--images": images_path,
            "--visibility": visibility_path,
            "--gold": gold_path,
        },
    )
    outputs_free(targets + ([rejected_path] if on_unknown == "report" else []), overwrite)
    output_directory(out)
    started = time.perf_counter()
    steps = ["labels", "footprints", "images", "visibility and gold", "aggregate", "write"]
    verbose_fit = obj["verbosity"] > 0 and not as_json  # iteration lines on stderr, in place of the bar
    with warnings.catch_warnings(record=True) as caught, stages("aggregating", steps, quiet or verbose_fit) as bar:
        warnings.simplefilter("always", StrackerWarning)
        labels = stracker.read_labels(labels_path)
        bar.update(1, "footprints")
        footprints = read_footprints(footprints_path, layer=layer, id_column=id_column) if footprints_path else None
        bar.update(1, "images")
        images = read_images(images_path) if images_path else None
        bar.update(1, "visibility and gold")
        dates = None if images is None else images["image_date"]
        visibility = read_visibility(visibility_path) if visibility_path else None
        if isinstance(visibility, np.ndarray):
            visibility = _array_visibility(visibility, footprints, id_column, dates)
        gold = read_gold(gold_path) if gold_path else None
        options = stracker.EMOptions(compare_image_reliability=True) if compare_image_reliability else None
        bar.update(1, "aggregate")

        objective = "lower bound" if method == "dawid_skene" else "log-likelihood"

        def iteration(n_iter: int, value: float) -> None:  # with -v: the fit's progress
            click.echo(f"iteration {n_iter:>4}: {objective} {value:,.3f}", err=True)

        callback = iteration if verbose_fit else None
        if scheduler:
            consensus = _aggregate_on(scheduler, labels, dates, task, callback, options)
        else:
            fitted, neighbours = labels, None
            if spatial:
                fitted, neighbours = _neighbours(labels, footprints, id_column, on_unknown, options)
            consensus = stracker.aggregate(
                fitted,
                dates,
                method=method,
                task=task,
                callback=callback,
                options=options,
                visibility=visibility,
                gold=gold,
                hidden_below=hidden_below,
                neighbours=neighbours,
                threads=threads,
            )
        bar.update(1, "write")
        # the answers about buildings without a footprint, written with the consensus (all or none)
        unknown = (
            []
            if footprints is None or on_unknown != "report"
            else pd.Index(labels["building_id"].unique()).difference(pd.Index(footprints[id_column])).tolist()
        )
        # (no mask over every answer when none is rejected: 0.2 s on 2 million)
        rejected_rows = labels[labels["building_id"].isin(unknown)] if unknown else labels.iloc[:0]
        extra: dict[str | Path, Callable[[Path], object]] = {}
        if len(rejected_rows):
            extra[rejected_path] = lambda p: rejected_rows.to_csv(p, date_format="%Y-%m-%d")
        layer_out = consensus.to_file(
            out, footprints, images=images, on=id_column, on_unknown=on_unknown, overwrite=overwrite, extra=extra
        )
        bar.update(1, "done")
    notes = echo_warnings([w for w in caught if issubclass(w.category, StrackerWarning)], quiet)
    # (a spatial fit leaves the answers about buildings without a footprint out, so they are not in the layer)
    unmatched = unknown if spatial else layer_out.attrs.get("unmatched_building_ids", [])
    if not len(rejected_rows) and rejected_path.exists() and overwrite:
        rejected_path.unlink()  # from an earlier run: it no longer describes OUT
    summary: dict[str, Any] = {
        "labels": str(labels_path),
        "answers": len(labels),
        "consensus": consensus.summary(),
        "out": [str(p) for p in targets],
        "buildings_in_layer": len(layer_out),
        "unmatched_buildings": [json_id(x) for x in unmatched],
        "rejected_rows": len(rejected_rows),
        "rejected_file": str(rejected_path) if len(rejected_rows) else None,
        "visibility": None if visibility_path is None else str(visibility_path),
        "gold": None if gold_path is None else str(gold_path),
        "warnings": notes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if consensus.spatial_prior is not None:
        summary["spatial_prior"] = consensus.spatial_prior
    if footprints is not None:
        summary["footprints"] = {
            "path": str(footprints_path),
            "features": len(footprints),
            "crs": footprints.crs.to_string(),
        }
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] >= 0:
        c = summary["consensus"]
        click.echo(
            f"{len(labels):,} answers about {c['buildings']:,} buildings from {c['volunteers']:,} volunteers, "
            f"{c['images']} images; method {c['method']}, {c['iterations']} iterations, "
            f"{c['destroyed']:,} buildings destroyed (p >= 0.5)"
        )
        if len(rejected_rows):
            click.echo(
                f"{len(unmatched)} building(s) with answers are not in the footprints: their "
                f"{len(rejected_rows)} answer(s) are in {rejected_path}"
            )
        click.echo(f"wrote {', '.join(summary['out'])}")


def _neighbours(labels: pd.DataFrame, footprints: Any, id_column: str, on_unknown: str, options: Any) -> Any:
    """The footprints' neighbour graph for ``--spatial``, and the answers to fit: with ``--on-unknown report``
    those about buildings without a footprint are left out of the fit (they go to OUT.rejected.csv)."""
    import stracker
    from stracker.consensus.spatial import neighbour_graph

    options = options or stracker.EMOptions()
    graph = neighbour_graph(
        footprints, id_column=id_column, k=options.spatial_neighbours, radius_m=options.spatial_radius_m
    )
    if on_unknown == "report":
        labels = labels[labels["building_id"].isin(graph.building_ids)]
    return labels, graph


def _array_visibility(array: np.ndarray, footprints: Any, id_column: str, dates: Any) -> pd.DataFrame:
    """A .npy visibility (rows in the footprints' order, columns the catalogue's) as the wide table
    :func:`stracker.aggregate` takes, or a usage error saying what it needs."""
    if footprints is None or dates is None:
        raise click.UsageError(
            "a .npy --visibility holds no building ids nor dates: give --footprints (its rows' buildings, in "
            "order) and --images (its columns' dates), or a CSV/Parquet table with building_id and image_date."
        )
    shape = (len(footprints), len(dates))
    if array.shape != shape:
        raise click.UsageError(
            f"the --visibility array has shape {array.shape}; with these --footprints and --images it needs {shape}."
        )
    return pd.DataFrame(
        array, index=pd.Index(footprints[id_column], name="building_id"), columns=pd.DatetimeIndex(dates)
    )


def _aggregate_on(
    address: str,
    labels: Any,
    image_dates: Any,
    task: Task | None,
    callback: Callable[[int, float], None] | None = None,
    options: Any = None,
) -> Any:
    """Fit on the Dask cluster at ``address``; the consensus comes back to be written here."""
    import stracker

    with connect_scheduler(address) as client:
        import dask.dataframe as dd

        n_partitions = max(1, sum(client.nthreads().values()))
        answers = dd.from_pandas(labels, npartitions=max(1, min(n_partitions, len(labels))))
        with stracker.aggregate_distributed(
            answers, image_dates, task=task, client=client, callback=callback, options=options
        ) as result:
            return result.compute()
