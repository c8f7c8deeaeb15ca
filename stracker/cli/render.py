"""``stracker render``: render a simulated satellite frame as a GeoTIFF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import json_option, overwrite_option, preset_option, seed_option

__all__ = ["render_command"]


@click.command("render")
@preset_option(default="raqqa", help="Scenario preset.")
@seed_option()
@click.option("--date", required=True, help="An image date of the catalogue, e.g. 2017-08-01.")
@click.option(
    "--bbox",
    type=float,
    nargs=4,
    default=None,
    metavar="MINX MINY MAXX MAXY",
    help="Box in metres of the footprints' CRS (EPSG:32637); default: 500 m around the city centre.",
)
@click.option("--resolution", type=float, default=1.0, show_default=True, help="Pixel size in metres.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Cloud-Optimized GeoTIFF to write."
)
@overwrite_option("Replace an existing --out.")
@json_option()
@click.pass_obj
def render_command(
    obj: dict[str, Any],
    preset: str,
    seed: int,
    date: str,
    bbox: tuple[float, float, float, float] | None,
    resolution: float,
    out: Path,
    overwrite: bool,
    as_json: bool,
) -> None:
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
    summary = {
        "out": str(out),
        "date": f"{tile.date:%Y-%m-%d}",
        "crs": tile.crs,
        "bounds": [round(v, 3) for v in tile.bounds],
        "resolution_m": tile.transform.a,
        "width": cols,
        "height": rows,
        "bytes": out.stat().st_size,
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif obj["verbosity"] >= 0:
        click.echo(
            f"{out}: {cols} x {rows} px at {tile.transform.a:g} m, {summary['date']}, {tile.crs}, "
            f"{summary['bytes'] / 1024:.0f} KiB"
        )
