"""Regenerate the sample tiles exactly: ``python sample_tiles/make_tiles.py [--out DIR]``.

Simulates the raqqa preset with seed 0 and renders one 400 m neighbourhood at 1 m on six image dates that span
its destruction (see README.md beside this file), as Cloud-Optimized GeoTIFFs; writes a preview mosaic
(``preview.png``) and ``manifest.json`` (what each tile shows, its SHA-256, and the library versions that
made the files). ``tests/test_sample_tiles.py`` regenerates them and compares them with the committed ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import warnings
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.errors import NotGeoreferencedWarning

import stracker
from stracker.io.files import atomic_path

PRESET, SEED = "raqqa", 0
BOUNDS = (500_650.0, 3_978_000.0, 501_050.0, 3_978_400.0)  # EPSG:32637 metres: minx, miny, maxx, maxy
RESOLUTION_M = 1.0
DATES = ("2017-08-01", "2017-09-05", "2017-09-16", "2017-09-30", "2017-10-07", "2017-10-18")
PREVIEW_STEP = 2  # the preview shows every second pixel of each tile, three tiles a row

HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    """The processor the files were made on: the renderer's floats can round differently on another CPU, and
    machines sold under one model name ("AMD EPYC") differ in family, model and stepping (seen: the same name, other
    bytes), so all four name it."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "stepping") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break
    except OSError:
        pass
    if "model name" in fields:
        extra = " ".join(f"{key} {fields[key]}" for key in ("cpu family", "model", "stepping") if key in fields)
        return (
            f"{platform.machine()} {fields['model name']} ({extra})"
            if extra
            else f"{platform.machine()} {fields['model name']}"
        )
    return platform.machine() or platform.processor() or "unknown"


def tile_name(date: str) -> str:
    """File name of the tile of one date."""
    return f"{PRESET}_s{SEED}_{date}.tif"


def make_tiles(out: Path = HERE) -> dict:
    """Write the tiles, the preview and the manifest into ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    sim = stracker.simulate(PRESET, seed=SEED)
    buildings = sim.buildings
    inside = shapely.contains(shapely.box(*BOUNDS), shapely.centroid(buildings.geometry.values))
    destroyed_on = buildings["destroyed_on"].to_numpy(dtype="datetime64[ns]")[inside]
    dates = sim.images["image_date"].dt.strftime("%Y-%m-%d").tolist()
    tiles, previews = [], []
    for date in DATES:
        path = out / tile_name(date)
        tile = stracker.render_tile(sim, date, BOUNDS, RESOLUTION_M, path=path, overwrite=True)
        image = dates.index(date)
        tiles.append(
            {
                "file": path.name,
                "date": date,
                "image_id": image,
                "city_cloud_cover": round(float(sim.images["cloud_cover"].iloc[image]), 4),
                "mean_visibility": round(float(sim.visibility[inside, image].mean()), 4),
                "destroyed": int((destroyed_on <= np.datetime64(date)).sum()),
                "bytes": path.stat().st_size,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
        )
        previews.append(tile.rgb[::PREVIEW_STEP, ::PREVIEW_STEP])
    rows = [np.concatenate(previews[i : i + 3], axis=1) for i in range(0, len(previews), 3)]
    mosaic = np.moveaxis(np.concatenate(rows, axis=0), -1, 0)
    with atomic_path(out / "preview.png") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
        with rasterio.open(
            tmp, "w", driver="PNG", width=mosaic.shape[2], height=mosaic.shape[1], count=3, dtype="uint8"
        ) as dst:
            dst.write(mosaic)
    manifest = {
        "preset": PRESET,
        "seed": SEED,
        "crs": "EPSG:32637",
        "bounds": list(BOUNDS),
        "resolution_m": RESOLUTION_M,
        "buildings": int(inside.sum()),
        "tiles": tiles,
        "preview": {"file": "preview.png", "order": list(DATES), "step": PREVIEW_STEP},
        "made_with": {
            "stracker": stracker.__version__,
            "gdal": rasterio.__gdal_version__,
            "rasterio": rasterio.__version__,
            "numpy": np.__version__,
            "cpu": cpu_model(),
        },
    }
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the tiles (default: beside this script)")
    args = parser.parse_args(argv)
    manifest = make_tiles(args.out)
    for tile in manifest["tiles"]:
        print(
            f"{tile['file']}: {tile['destroyed']:>3} of {manifest['buildings']} destroyed, "
            f"visibility {tile['mean_visibility']:.2f}, {tile['bytes'] / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
