"""``stracker visibility``: each building's cloud-free share in each image, from cloud-mask rasters."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import comma_numbers, footprint_options, json_option, outputs_free, overwrite_option

__all__ = ["visibility_command"]


@click.command("visibility")
@click.option(
    "--masks",
    required=True,
    metavar="GLOB",
    help="The cloud masks: a glob pattern (quoted, e.g. 'masks/*.tif'), a folder of .tif files or one "
    "raster; any CRS, dated as --imagery is for `stracker chips`.",
)
@footprint_options("whose cloud-free share is measured", required=True)
@click.option(
    "--catalogue",
    "catalogue_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or Parquet with path (or file) and image_date of the masks.",
)
@click.option(
    "--cloud-values",
    default=None,
    metavar="V[,V...]",
    help="Mask values that are cloud (e.g. 3,8,9,10 for Sentinel-2's scene classes). Default: integer "
    "masks are cloud where nonzero; float masks hold cloud opacity, 0 clear to 1 opaque.",
)
@click.option("--band", type=click.IntRange(min=1), default=1, show_default=True, help="The masks' band.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Parquet file of building_id, image_date, visible.",
)
@overwrite_option("Replace an existing --out.")
@json_option()
@click.pass_obj
def visibility_command(
    obj: dict[str, Any],
    masks: str,
    footprints_path: Path,
    layer: str | None,
    id_column: str,
    catalogue_path: Path | None,
    cloud_values: str | None,
    band: int,
    out: Path,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Each building's cloud-free share in each image, from cloud-mask rasters.

    The share is computed by the simulator's own code: each footprint rasterized at a quarter of the mask's
    pixel and the clear share averaged over it, over its known part (nodata and anything off the mask is
    unknown). visible is 1 clear, 0 under cloud, empty (NaN) where no mask of the date knows the building.
    Several masks on one date are a mosaic: each building takes the mask that knows most of it.

    \b
    Examples:
      stracker visibility --masks 'masks/*.tif' --footprints buildings.gpkg --out visibility.parquet
      stracker visibility --masks 'scl/*_SCL.tif' --cloud-values 3,8,9,10 --footprints buildings.gpkg \\
          --out visibility.parquet --json
    """
    from stracker.imagery import visibility, write_visibility
    from stracker.io import read_footprints

    outputs_free([out], overwrite)
    started = time.perf_counter()
    footprints = read_footprints(footprints_path, layer=layer, id_column=id_column)
    table = visibility(
        masks,
        footprints,
        catalogue=catalogue_path,
        cloud_values=comma_numbers(cloud_values, float, "--cloud-values", "3,8,9,10"),
        band=band,
        id_column=id_column,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_visibility(table, out, overwrite=overwrite)
    means = table.groupby("image_date")["visible"].mean()
    summary = {
        "out": str(out),
        "footprints": str(footprints_path),
        "buildings": len(footprints),
        "image_dates": int(table["image_date"].nunique()),
        "rows": len(table),
        "unknown": int(table["visible"].isna().sum()),
        "mean_visible": {f"{d:%Y-%m-%d}": None if math.isnan(v) else round(float(v), 4) for d, v in means.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif obj["verbosity"] >= 0:
        click.echo(
            f"{out}: {summary['rows']:,} rows ({summary['buildings']:,} buildings x {summary['image_dates']} "
            f"dates), {summary['unknown']:,} unknown, in {summary['seconds']:.1f} s"
        )
