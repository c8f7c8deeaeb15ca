"""Cloud rasters, visibility and rendered frames: wall time, peak memory and file sizes.

Target: clouds plus visibility for the raqqa preset (11,000 buildings, 50 images) under 10 s on 2 cores.

Run: ``python -m benchmarks.frames [--preset raqqa] [--repeat 3]``. Rows:

* ``clouds+visibility``: :func:`stracker.world.clouds.visibility` as the simulator calls it (rasterize the
  footprints once, then one cloud raster and one weighted bincount per image), with its two parts: the
  footprint id raster and pixel shares, and the rasters plus bincounts;
* ``render``: :func:`stracker.render_tile` of the default 500 m tile at 1 m and 0.5 m and a volunteer's 60 m
  chip at 0.5 m, each written as a Cloud-Optimized GeoTIFF (its size in ``tile_kib``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._common import best_of, peak_rss_mb, report


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import stracker
    from stracker.scenario import stage_rng
    from stracker.world.clouds import CloudField, cloud_grid, footprint_pixels, visibility

    sim = stracker.simulate(args.preset, seed=0)
    scenario, buildings, images = sim.scenario, sim.buildings, sim.images
    base = {"preset": args.preset, "buildings": len(buildings), "images": len(images)}

    seconds, vis = best_of(
        lambda: visibility(buildings, images, scenario.imagery, stage_rng(scenario, "visibility")), args.repeat
    )
    assert np.array_equal(vis, sim.visibility)
    grid = cloud_grid(buildings, scenario.imagery)
    pixels_s, pixels = best_of(lambda: footprint_pixels(buildings, grid), args.repeat)
    clouds = CloudField.from_simulation(sim)
    rasters_s, _ = best_of(clouds.visibility, args.repeat)
    rows = [
        {
            **base,
            "task": "clouds+visibility",
            "seconds": round(seconds, 3),
            "footprint_pixels_s": round(pixels_s, 3),
            "rasters_and_bincount_s": round(rasters_s, 3),
            "grid_px": f"{grid.width}x{grid.height}",
            "pixel_m": grid.pixel_m,
            "pairs": len(pixels.pixel),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    ]

    date = images["image_date"].iloc[len(images) // 2]
    with tempfile.TemporaryDirectory() as tmp:
        for name, resolution, make in (
            ("render 500 m", 1.0, lambda path, r: stracker.render_tile(sim, date, None, r, path=path, overwrite=True)),
            ("render 500 m", 0.5, lambda path, r: stracker.render_tile(sim, date, None, r, path=path, overwrite=True)),
            (
                "frame 60 m",
                0.5,
                lambda path, r: stracker.frame(
                    sim, int(buildings["building_id"].iloc[0]), date, resolution=r, path=path, overwrite=True
                ),
            ),
        ):
            path = Path(tmp) / "tile.tif"
            seconds, tile = best_of(lambda make=make, path=path, r=resolution: make(path, r), args.repeat)
            rows.append(
                {
                    **base,
                    "task": name,
                    "seconds": round(seconds, 3),
                    "resolution_m": resolution,
                    "tile_px": f"{tile.rgb.shape[1]}x{tile.rgb.shape[0]}",
                    "tile_kib": round(path.stat().st_size / 1024),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                }
            )
    report(f"frames_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    main()
