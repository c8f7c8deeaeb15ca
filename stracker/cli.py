"""The ``stracker`` command line: a click command group.

Progress and tables go to stderr/stdout for people; ``--json`` prints one machine-readable JSON object on
stdout instead. Bad input ends with exit code 1 and a one-line message, not a traceback.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from stracker._io import atomic_path
from stracker.consensus.aggregate import METHODS
from stracker.errors import OutputExistsError, StrackerError, StrackerWarning
from stracker.labels import TASKS

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
      stracker aggregate answers.csv --footprints buildings.gpkg --out consensus.gpkg
      stracker evaluate consensus.gpkg truth.csv
      stracker info consensus.gpkg
      stracker render --preset raqqa --date 2017-08-01 --out tile.tif
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
    also consensus.gpkg (footprints with the consensus columns), report/report.html (the campaign report
    with its figures), consensus_volunteers.parquet and
    evaluation.csv, and prints the evaluation table.

    \b
    Examples:
      stracker simulate --preset raqqa --seed 0 --out results/raqqa
      stracker simulate --preset small --seed 3 --out /tmp/small --overwrite --json
    """
    import stracker
    from stracker.scenario import Scenario
    from stracker.simulation import SIMULATION_FILES
    from stracker.simulation import simulate as run_simulation

    quiet = obj["verbosity"] < 0 or as_json
    scenario = Scenario.preset(preset, seed=seed)
    if design is not None:
        scenario = scenario.replace(tasks={"design": design})
    outputs = list(SIMULATION_FILES) + (["consensus.gpkg", "consensus_volunteers.parquet", "evaluation.csv"]
                                        if do_aggregate else [])
    _outputs_free([out_dir / name for name in outputs], overwrite)
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
        consensus.to_file(out_dir / "consensus.gpkg", sim.buildings, images=sim.images, overwrite=True)
        with atomic_path(out_dir / "consensus_volunteers.parquet") as tmp:
            consensus.volunteers.to_parquet(tmp)
        with atomic_path(out_dir / "evaluation.csv") as tmp:
            table.to_csv(tmp, index=False)
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
            click.echo(_evaluation_text(table))
        click.echo(f"results in {out_dir}/" + (f", report in {out_dir}/report/report.html" if do_aggregate else ""))


def _outputs_free(paths: list[Path], overwrite: bool) -> None:
    """Refuse to clobber: every output that exists needs --overwrite."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} exists; pass --overwrite or choose another --out.")


def _stages(label: str, steps: list[str], hidden: bool) -> Any:
    """A progress bar over named steps, on stderr; hidden with -q or --json, and when stderr is not a terminal
    (a log or a pipe gets the result lines, not a bar's remains)."""
    return click.progressbar(length=len(steps), label=label, file=sys.stderr, hidden=hidden or not sys.stderr.isatty(),
                             item_show_func=lambda step: step)


def _echo_warnings(caught: list[warnings.WarningMessage], quiet: bool) -> list[str]:
    """The package's warnings as one line each on stderr (not Python's two-line format); returned for --json."""
    messages = [str(w.message) for w in caught]
    if not quiet:
        for message in messages:
            click.echo(f"stracker: warning: {message}", err=True)
    return messages


_FOOTPRINT_HELP = "GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet or anything else GDAL reads"


@cli.command("aggregate")
@click.argument("labels_path", metavar="LABELS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--footprints", "footprints_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"Building footprints to join the consensus onto ({_FOOTPRINT_HELP}).")
@click.option("--layer", default=None, help="Layer of a multi-layer footprint file (default: 'buildings' or the "
              "only one).")
@click.option("--id-column", default="building_id", show_default=True,
              help="The footprints' building id column (matched to the answers' building_id).")
@click.option("--images", "images_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The image catalogue: CSV or Parquet with an image_date column (default: the dates in LABELS).")
@click.option("--method", type=click.Choice(METHODS), default="em", show_default=True,
              help="em: the full model; majority and dawid_skene: baselines.")
@click.option("--task", type=click.Choice(TASKS), default=None,
              help="Task kind of every answer, for a table without a task column.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output: OUT.gpkg (layers buildings, volunteers, images, states) or OUT.parquet (GeoParquet "
              "and OUT.volunteers/.images/.states.parquet).")
@click.option("--on-unknown", type=click.Choice(["error", "report"]), default="error", show_default=True,
              help="Answers for buildings missing from --footprints: stop, or write them to OUT.rejected.csv and "
              "go on.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Fit the EM on this Dask cluster (e.g. tcp://host:8786), answers partitioned by building; "
              "needs the 'distributed' extra. Same result as in memory.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_obj
def aggregate_command(obj: dict[str, Any], labels_path: Path, footprints_path: Path | None, layer: str | None,
                      id_column: str, images_path: Path | None, method: str, task: str | None, out: Path,
                      on_unknown: str, overwrite: bool, scheduler: str | None, as_json: bool) -> None:
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
    """
    import stracker
    from stracker.io import consensus_outputs, read_footprints, read_images

    quiet = obj["verbosity"] < 0 or as_json
    if scheduler and method != "em":
        raise click.UsageError(f"--scheduler fits --method em only, not {method}.")
    rejected_path = out.with_name(f"{out.stem}.rejected.csv")
    targets = consensus_outputs(out)
    _outputs_free(targets + ([rejected_path] if on_unknown == "report" else []), overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    steps = ["labels", "footprints", "images", "aggregate", "write"]
    verbose_fit = obj["verbosity"] > 0 and not as_json  # iteration lines on stderr, in place of the bar
    with warnings.catch_warnings(record=True) as caught, _stages("aggregating", steps, quiet or verbose_fit) as bar:
        warnings.simplefilter("always", StrackerWarning)
        labels = stracker.read_labels(labels_path)
        bar.update(1, "footprints")
        footprints = read_footprints(footprints_path, layer=layer, id_column=id_column) if footprints_path else None
        bar.update(1, "images")
        images = read_images(images_path) if images_path else None
        bar.update(1, "aggregate")
        dates = None if images is None else images["image_date"]

        objective = "lower bound" if method == "dawid_skene" else "log-likelihood"

        def iteration(n_iter: int, value: float) -> None:  # with -v: the fit's progress
            click.echo(f"iteration {n_iter:>4}: {objective} {value:,.3f}", err=True)

        callback = iteration if verbose_fit else None
        consensus = (_aggregate_on(scheduler, labels, dates, task, callback) if scheduler
                     else stracker.aggregate(labels, dates, method=method, task=task, callback=callback))
        bar.update(1, "write")
        layer_out = consensus.to_file(out, footprints, images=images, on=id_column, on_unknown=on_unknown,
                                      overwrite=overwrite)
        bar.update(1, "done")
    notes = _echo_warnings([w for w in caught if issubclass(w.category, StrackerWarning)], quiet)
    unmatched = layer_out.attrs.get("unmatched_building_ids", [])
    rejected_rows = labels[labels["building_id"].isin(unmatched)]
    if len(rejected_rows):
        with atomic_path(rejected_path) as tmp:
            rejected_rows.to_csv(tmp, date_format="%Y-%m-%d")
    elif rejected_path.exists() and overwrite:
        rejected_path.unlink()  # from an earlier run: it no longer describes OUT
    summary: dict[str, Any] = {
        "labels": str(labels_path),
        "answers": len(labels),
        "consensus": consensus.summary(),
        "out": [str(p) for p in targets],
        "buildings_in_layer": len(layer_out),
        "unmatched_buildings": [_json_id(x) for x in unmatched],
        "rejected_rows": len(rejected_rows),
        "rejected_file": str(rejected_path) if len(rejected_rows) else None,
        "warnings": notes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if footprints is not None:
        summary["footprints"] = {"path": str(footprints_path), "features": len(footprints),
                                 "crs": footprints.crs.to_string()}
    if as_json:
        click.echo(json.dumps(summary))
        return
    if obj["verbosity"] >= 0:
        c = summary["consensus"]
        click.echo(f"{len(labels):,} answers about {c['buildings']:,} buildings from {c['volunteers']:,} volunteers, "
                   f"{c['images']} images; method {c['method']}, {c['iterations']} iterations, "
                   f"{c['destroyed']:,} buildings destroyed (p >= 0.5)")
        if len(rejected_rows):
            click.echo(f"{len(unmatched)} building(s) with answers are not in the footprints: their "
                       f"{len(rejected_rows)} answer(s) are in {rejected_path}")
        click.echo(f"wrote {', '.join(summary['out'])}")


def _aggregate_on(address: str, labels: Any, image_dates: Any, task: str | None,
                  callback: Callable[[int, float], None] | None = None) -> Any:
    """Fit on the Dask cluster at ``address``; the consensus comes back to be written here."""
    import stracker

    try:
        import dask.dataframe as dd
        from dask.distributed import Client
    except ImportError as exc:
        raise click.UsageError("--scheduler needs Dask: pip install 'stracker[distributed]'.") from exc
    with Client(address) as client:
        n_partitions = max(1, sum(client.nthreads().values()))
        answers = dd.from_pandas(labels, npartitions=max(1, min(n_partitions, len(labels))))
        with stracker.aggregate(answers, image_dates, task=task, client=client, callback=callback) as result:
            return result.compute()


def _json_id(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


@cli.command("evaluate")
@click.argument("consensus_path", metavar="CONSENSUS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("truth_path", metavar="TRUTH", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Layer of a multi-layer TRUTH file (default: 'buildings' or the "
              "only one).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the metrics as CSV (metric, value, unit).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as a JSON object on stdout.")
@click.pass_obj
def evaluate_command(obj: dict[str, Any], consensus_path: Path, truth_path: Path, layer: str | None,
                     out: Path | None, overwrite: bool, as_json: bool) -> None:
    """Score a consensus file against ground truth.

    CONSENSUS is a file written by `stracker aggregate` or `stracker simulate` (.gpkg or .parquet). TRUTH is a
    footprint file or a table (CSV, Parquet) with building_id and destroyed_on (empty: never destroyed).

    \b
    Examples:
      stracker evaluate results/raqqa/consensus.gpkg results/raqqa/buildings.gpkg
      stracker evaluate consensus.parquet truth.csv --out metrics.csv --json
    """
    import stracker
    from stracker.io import read_truth

    if out is not None:
        _outputs_free([out], overwrite)
    consensus = stracker.read_consensus(consensus_path)
    table = stracker.evaluate(consensus, read_truth(truth_path, layer=layer))
    if out is not None:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    if as_json:
        click.echo(json.dumps({"consensus": str(consensus_path), "truth": str(truth_path),
                               "metrics": dict(zip(table["metric"], table["value"].astype(float), strict=True))}))
        return
    click.echo(_evaluation_text(table))


@cli.command("info")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as a JSON object on stdout.")
@click.pass_obj
def info_command(obj: dict[str, Any], path: Path, as_json: bool) -> None:
    """Say what a file or simulation folder is.

    Prints the kind of PATH with its layers, CRS, counts and date range (-v: the fields of every layer too).

    \b
    Examples:
      stracker info answers.csv
      stracker info results/raqqa
      stracker info results/raqqa/consensus.gpkg --json
    """
    from stracker.io import describe

    info = describe(path)
    if as_json:
        click.echo(json.dumps(info, default=str))
        return
    click.echo(_info_text(info, detail=obj["verbosity"] > 0))


def _info_text(info: dict[str, Any], detail: bool, indent: str = "") -> str:
    """key: value lines; layers one per line (their fields with -v)."""
    lines = []
    for key, value in info.items():
        if key == "layers":
            for layer in value:
                line = (f"{indent}layer {layer['name']}: {layer['geometry'] or 'no geometry'}, "
                        f"{layer['features']:,} features, CRS {layer['crs'] or 'none'}")
                if layer.get("date_range"):
                    line += f", dates {layer['date_range'][0]} .. {layer['date_range'][1]}"
                lines.append(line)
                if detail:
                    lines.extend(f"{indent}    {name}: {kind}" for name, kind in layer["fields"].items())
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_info_text(value, detail, indent + "  "))
        elif key == "columns" and not detail:
            lines.append(f"{indent}columns: {len(value)} ({', '.join(value[:8])}{', ...' if len(value) > 8 else ''})")
        elif key == "date_range" and value:
            lines.append(f"{indent}date range: {value[0]} .. {value[1]}")
        elif key in ("files", "fields") and not detail:
            continue
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)


@cli.command("render")
@click.option("--preset", type=click.Choice(["raqqa", "small"]), default="raqqa", show_default=True,
              help="Scenario preset.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--date", required=True, help="An image date of the catalogue, e.g. 2017-08-01.")
@click.option("--bbox", type=float, nargs=4, default=None, metavar="MINX MINY MAXX MAXY",
              help="Box in metres of the footprints' CRS (EPSG:32637); default: 500 m around the city centre.")
@click.option("--resolution", type=float, default=1.0, show_default=True, help="Pixel size in metres.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Cloud-Optimized GeoTIFF to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_obj
def render_command(obj: dict[str, Any], preset: str, seed: int, date: str, bbox: tuple[float, ...] | None,
                   resolution: float, out: Path, overwrite: bool, as_json: bool) -> None:
    """Render the satellite frame of one image date as a 3-band Cloud-Optimized GeoTIFF.

    Simulates the campaign (as `stracker simulate` does, without writing it) and paints --bbox as the image
    of --date saw it: roads, roofs, rubble, debris and craters of the buildings destroyed by then, clouds and
    their shadows. The same preset, seed, date, box and resolution give the same file, byte for byte.

    \b
    Examples:
      stracker render --preset raqqa --seed 0 --date 2017-08-01 --out tile.tif
      stracker render --date 2017-10-28 --bbox 500400 3978100 500900 3978600 --resolution 0.5 --out t.tif
    """
    from stracker.render import TileExistsError, render_tile
    from stracker.simulation import simulate as run_simulation

    if out.exists() and not overwrite:
        raise TileExistsError(f"{out} exists; pass --overwrite or choose another --out.")
    quiet = obj["verbosity"] < 0 or as_json
    if not quiet:
        click.echo(f"simulating {preset} (seed {seed}) ...", err=True)
    sim = run_simulation(preset, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tile = render_tile(sim, date, bbox, resolution, path=out, overwrite=overwrite)
    rows, cols = tile.rgb.shape[:2]
    summary = {"out": str(out), "date": f"{tile.date:%Y-%m-%d}", "crs": tile.crs,
               "bounds": [round(v, 3) for v in tile.bounds], "resolution_m": tile.transform.a,
               "width": cols, "height": rows, "bytes": out.stat().st_size}
    if as_json:
        click.echo(json.dumps(summary))
    elif obj["verbosity"] >= 0:
        click.echo(f"{out}: {cols} x {rows} px at {tile.transform.a:g} m, {summary['date']}, {tile.crs}, "
                   f"{summary['bytes'] / 1024:.0f} KiB")


@cli.command("plan")
@click.option("--preset", type=click.Choice(["raqqa", "small"]), default="raqqa", show_default=True,
              help="Scenario preset of the simulated world.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--design", type=click.Choice(["random", "bisection", "infogain"]), default="infogain",
              show_default=True, help="How questions are chosen.")
@click.option("--budget", type=click.IntRange(min=1), default=500_000, show_default=True,
              help="Frames viewed at most.")
@click.option("--retire-mass", type=click.FloatRange(0.5, 0.99999), default=0.9, show_default=True,
              help="A building retires when its credible interval of this mass is one image gap.")
@click.option("--max-retire-mass", type=click.FloatRange(0.5, 0.99999), default=0.9999, show_default=True,
              help="With budget left once every building has retired, 1 - mass shrinks tenfold, up to this mass.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the campaign's answers (CSV or Parquet) and its per-round history beside them.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_obj
def plan_command(obj: dict[str, Any], preset: str, seed: int, design: str, budget: int, retire_mass: float,
                 max_retire_mass: float, out_path: Path | None, overwrite: bool, as_json: bool) -> None:
    """Plan an adaptive campaign: date every building with a budget of frames viewed.

    Simulates the preset's world and volunteers, then asks questions in rounds (one per building still
    uncertain), re-aggregating after each round, until the budget is spent or every building is settled at
    --max-retire-mass (a building settles when its credible interval is one image gap, or when clouds hide
    every image that could split it; the bar starts at --retire-mass and rises while budget is left).
    Prints the frames viewed and the evaluation against the simulated truth.

    \b
    Examples:
      stracker plan --preset raqqa --design infogain --budget 500000 --json
      stracker plan --preset small --design bisection --budget 6000 --out plan.csv
    """
    import stracker
    from stracker.simulation import simulate as run_simulation
    from stracker.tasking import run_adaptive

    quiet = obj["verbosity"] < 0 or as_json
    history_path = out_path.with_name(out_path.stem + ".history.csv") if out_path is not None else None
    if out_path is not None:
        _outputs_free([out_path, history_path], overwrite)
    started = time.perf_counter()
    sim = run_simulation(preset, seed=seed)

    def progress(round_: int, frames: int, active: int) -> None:
        if not quiet:
            click.echo(f"round {round_:>3}: {frames:>10,} frames viewed, {active:,} buildings still uncertain",
                       err=True)

    campaign = run_adaptive(sim, design, budget=budget, seed=seed, retire_mass=retire_mass,
                            max_retire_mass=max_retire_mass, record=False, progress=progress)
    last = campaign.history.iloc[-1]
    metrics = {k: float(v) for k, v in last.items() if k not in ("round", "answers", "asked", "retired", "retire_mass",
                                                                  "aggregate_s", "frames_viewed")}
    summary = {"preset": preset, "seed": seed, "design": design, "budget": budget,
               "frames_viewed": campaign.frames_viewed, "answers": len(campaign.labels),
               "rounds": int(last["round"]), "retired": int(last["retired"]),
               "retire_mass": float(last["retire_mass"]),
               "seconds": round(time.perf_counter() - started, 2), **metrics}
    if out_path is not None:
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
        click.echo(f"{design}: {summary['frames_viewed']:,} frames viewed in {summary['rounds']} rounds, "
                   f"{summary['retired']:,} buildings settled, {summary['seconds']:.1f} s")
        click.echo(_evaluation_text(stracker.evaluate(campaign.consensus, sim.truth)))


@cli.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the report (default: DIRECTORY/report).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_obj
def report_command(obj: dict[str, Any], directory: Path, out_dir: Path | None, as_json: bool) -> None:
    """Write the campaign report of a simulation directory: PNG figures and one HTML page.

    DIRECTORY is one written by `stracker simulate`; its answers are aggregated again (seconds) so that the
    report shows the full posterior.

    \b
    Examples:
      stracker report results/raqqa
      stracker report results/raqqa --out /tmp/raqqa-report
    """
    import stracker
    from stracker.report import write_report
    from stracker.simulation import Simulation

    sim = Simulation.load(directory)
    consensus = stracker.aggregate(sim.labels, sim.image_dates)
    page = write_report(out_dir or directory / "report", sim, consensus)
    if as_json:
        click.echo(json.dumps({"report": str(page)}))
    elif obj["verbosity"] >= 0:
        click.echo(f"report in {page}")


@cli.command("sweep")
@click.option("--preset", type=click.Choice(["raqqa", "small"]), default="small", show_default=True,
              help="Scenario preset every campaign starts from.")
@click.option("--grid", "grid_specs", multiple=True, metavar="PART.FIELD=V1,V2",
              help="A scenario field and the values to try (repeatable), e.g. tasks.volunteers_per_building=3,5,7.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, one campaign each per cell.")
@click.option("--method", "methods", type=click.Choice(METHODS), multiple=True,
              help="Aggregation method to evaluate (repeatable; default em).")
@click.option("--design", "designs", type=click.Choice(["random", "bisection", "infogain"]), multiple=True,
              help="Also run this adaptive tasking design on each campaign's world (repeatable): the planning study.")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Frames viewed per adaptive design (default: a quarter of the simulated campaign's).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on this Dask cluster (e.g. tcp://host:8786); default: a local cluster.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The tidy table of metrics: CSV or Parquet (by suffix).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also plot --metric against the first grid field (PNG, SVG or PDF).")
@click.option("--metric", default="mae_days", show_default=True, help="Metric of the printed table and plot.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_obj
def sweep_command(obj: dict[str, Any], preset: str, grid_specs: tuple[str, ...], seeds: str,
                  methods: tuple[str, ...], designs: tuple[str, ...], budget: int | None, scheduler: str | None,
                  out: Path, plot_path: Path | None, metric: str, overwrite: bool, as_json: bool) -> None:
    """Run a grid of simulated campaigns as Dask tasks and tabulate their evaluation.

    Every combination of the --grid values, for every seed, is one campaign: simulated, aggregated with each
    --method and evaluated against its truth. OUT gets one row per (cell, seed, method, metric).

    \b
    Examples:
      stracker sweep --grid tasks.volunteers_per_building=2,4,7 --grid tasks.design=timeline,compare --out s.csv
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
            raise click.UsageError(f"--grid {spec!r}: write PART.FIELD=V1,V2 (e.g. tasks.design=timeline,compare).")
        grid[key.strip()] = [_grid_value(v) for v in values.split(",")]
    if not grid:
        raise click.UsageError("give at least one --grid PART.FIELD=V1,V2.")
    try:
        seed_list = [int(x) for x in seeds.split(",")]
    except ValueError:
        raise click.UsageError(f"--seeds must be comma-separated integers, got {seeds!r}.") from None
    _outputs_free([out] + ([plot_path] if plot_path else []), overwrite)
    started = time.perf_counter()
    client = None
    if scheduler:
        from dask.distributed import Client

        client = Client(scheduler)
    try:
        table = sweep(grid, preset=preset, seeds=seed_list, methods=list(methods) or ["em"], designs=list(designs),
                      budget=budget, client=client)
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
    summary = {"preset": preset, "grid": grid, "seeds": seed_list, "campaigns": len(seed_list) * n_cells,
               "rows": len(table), "out": str(out), "plot": str(plot_path) if plot_path else None,
               "seconds": round(time.perf_counter() - started, 2)}
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="stracker")


if __name__ == "__main__":
    main()
