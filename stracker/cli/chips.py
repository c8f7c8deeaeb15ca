"""``stracker chips``: cut the frames volunteers see from a campaign's own georeferenced scenes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import comma_numbers, footprint_options, json_option, overwrite_option

__all__ = ["RESAMPLINGS", "chips_command"]

RESAMPLINGS = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average")
"""The resampling methods offered on the command line (GDAL's, by rasterio's names)."""


@click.command("chips")
@click.option(
    "--imagery",
    required=True,
    metavar="GLOB",
    help="The scenes: a glob pattern (quoted, e.g. 'scenes/*.tif'; ** recurses), a folder of .tif files or "
    "one raster. Any CRS; several scenes on one date are a mosaic.",
)
@footprint_options("to cut chips around", required=True)
@click.option(
    "--catalogue",
    "catalogue_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or Parquet with path (or file) and image_date of the scenes. Scenes it does not list are "
    "dated by their tags (IMAGE_DATE, ACQUISITIONDATETIME..., TIFFTAG_DATETIME), else their file name.",
)
@click.option(
    "--questions",
    "questions_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Only the images of these questions (building_id, before, after; as `stracker next` writes them). "
    "Default: every building on every image date.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the chips (<building_id>_<YYYY-MM-DD>.png), chips.csv and missing.csv.",
)
@click.option("--size", "size_m", type=float, default=60.0, show_default=True, help="Side of a chip in metres.")
@click.option("--pixel", "pixel_m", type=float, default=0.5, show_default=True, help="Pixel size of a chip in metres.")
@click.option(
    "--bands",
    default=None,
    metavar="B[,G,B]",
    help="Bands shown: one (grey) or three (red, green, blue), e.g. 4,3,2. Default: 1,2,3, or 1 for a one-band scene.",
)
@click.option(
    "--stretch",
    type=float,
    nargs=2,
    default=None,
    metavar="LOW HIGH",
    help="Pixel values shown as black and white (16-bit imagery). Default: bytes as they are, other "
    "values from each band's 2nd to 98th percentile.",
)
@click.option(
    "--max-nodata",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Largest share of a chip without data for it to be written; others are reported in missing.csv.",
)
@click.option(
    "--resampling",
    type=click.Choice(RESAMPLINGS),
    default="bilinear",
    show_default=True,
    help="How scene pixels become chip pixels.",
)
@overwrite_option("Replace an existing chips directory (one holding chips.csv).")
@json_option()
@click.pass_obj
def chips_command(
    obj: dict[str, Any],
    imagery: str,
    footprints_path: Path,
    layer: str | None,
    id_column: str,
    catalogue_path: Path | None,
    questions_path: Path | None,
    out: Path,
    size_m: float,
    pixel_m: float,
    bands: str | None,
    stretch: tuple[float, float] | None,
    max_nodata: float,
    resampling: str,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Cut a PNG chip around every footprint from real scenes, for each image date (or each question).

    A chip is a --size square (60 m: what a Strike Trackers volunteer saw) centred on the footprint, north up,
    read from the scenes by small windows (a scene is never read whole). Chips outside every scene of their
    date, or with more than --max-nodata of their pixels without data, are listed with the reason in
    OUT/missing.csv; the chips written are in OUT/chips.csv (building_id, image_date, file). OUT appears whole
    or not at all.

    \b
    Examples:
      stracker chips --imagery 'scenes/*.tif' --footprints buildings.gpkg --out chips/
      stracker chips --imagery 'scenes/**/*.tif' --catalogue images.csv --footprints buildings.gpkg \\
          --questions questions.csv --out round2/ --json
    """
    from stracker.imagery import chips
    from stracker.io import read_footprints

    started = time.perf_counter()
    footprints = read_footprints(footprints_path, layer=layer, id_column=id_column)
    result = chips(
        imagery,
        footprints,
        out,
        catalogue=catalogue_path,
        questions=questions_path,
        size_m=size_m,
        pixel_m=pixel_m,
        bands=comma_numbers(bands, int, "--bands", "1 or 4,3,2"),
        stretch=stretch,
        max_nodata=max_nodata,
        resampling=resampling,
        id_column=id_column,
        overwrite=overwrite,
    )
    summary = {
        **result.summary(),
        "footprints": str(footprints_path),
        "buildings": len(footprints),
        "manifest": str(out / "chips.csv"),
        "missing_file": str(out / "missing.csv"),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif obj["verbosity"] >= 0:
        reasons = ", ".join(f"{k} {v:,}" for k, v in summary["missing_by_reason"].items() if v)
        click.echo(
            f"{out}: {summary['chips']:,} chips of {len(footprints):,} buildings from {summary['scenes']} "
            f"scene(s) on {summary['image_dates']} date(s) in {summary['seconds']:.1f} s"
        )
        if summary["missing"]:
            click.echo(f"{summary['missing']:,} not cut ({reasons}): see {summary['missing_file']}")
