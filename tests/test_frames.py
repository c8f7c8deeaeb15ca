"""Image frames: cloud rasters and the visibility they give (stracker.world.clouds), rendered tiles and chips
(stracker.render), the Cloud-Optimized GeoTIFFs they write, and the `stracker render` command."""

from __future__ import annotations

import dataclasses
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.enums import ColorInterp
from scipy import ndimage

import stracker
from benchmarks import _common
from benchmarks import frames as frames_benchmark
from stracker.cli import cli
from stracker.errors import FootprintsError, RenderError, StrackerError
from stracker.render import COG_BLOCK_PX, TileExistsError, default_bounds
from stracker.scenario import ImageryScenario
from stracker.simulation import Simulation, simulate
from stracker.world.clouds import GRID_MARGIN_M, CloudField, cloud_grid, footprint_pixels, visibility


@pytest.fixture(scope="module")
def sim(small) -> Simulation:
    return small


def _with_cover(sim: Simulation, cover: float | np.ndarray) -> Simulation:
    """The same campaign with the images' cloud cover replaced (0: clear everywhere, 1: overcast)."""
    images = sim.images.copy()
    images["cloud_cover"] = cover
    return dataclasses.replace(sim, images=images)


def _images(cover) -> pd.DataFrame:
    cover = np.atleast_1d(np.asarray(cover, dtype=float))
    return pd.DataFrame(
        {
            "image_id": np.arange(cover.size),
            "cloud_cover": cover,
            "image_date": pd.date_range("2017-06-01", periods=cover.size, freq="4D"),
        }
    )


def _footprint_ids(sim: Simulation, tile) -> np.ndarray:
    """The footprints burnt into the tile's grid, directly (1 + row; 0: no building)."""
    geoms = sim.buildings.geometry.values
    return rasterio.features.rasterize(
        zip(geoms, range(1, len(geoms) + 1), strict=True),
        out_shape=tile.rgb.shape[:2],
        transform=tile.transform,
        dtype="int32",
    )


def _per_building(sim: Simulation, tile) -> pd.DataFrame:
    """Mean brightness, roughness (mean squared difference between horizontal neighbours) and mean colour inside
    each footprint, over pixels one pixel away from its edge."""
    ids = _footprint_ids(sim, tile)
    interior = np.where(ndimage.binary_erosion(ids > 0), ids, 0)
    gray = tile.rgb.astype(np.float64).mean(axis=2)
    index = np.arange(1, len(sim.buildings) + 1)
    pair = (interior[:, 1:] == interior[:, :-1]) & (interior[:, 1:] > 0)
    step = (gray[:, 1:] - gray[:, :-1]) ** 2
    out = pd.DataFrame(
        {
            "pixels": ndimage.sum(interior > 0, interior, index),
            "brightness": ndimage.mean(gray, interior, index),
            "roughness": ndimage.mean(step[pair], interior[:, 1:][pair], index),
        }
    )
    for band, name in enumerate("rgb"):
        out[name] = ndimage.mean(tile.rgb[..., band].astype(np.float64), interior, index)
    return out


# --- cloud rasters and visibility ----------------------------------------------------------------------------


def test_cloud_grid_covers_the_city_with_a_margin_on_whole_pixels(sim):
    grid = CloudField.from_simulation(sim).grid
    minx, miny, maxx, maxy = sim.buildings.total_bounds
    gx0, gy0, gx1, gy1 = grid.bounds
    assert grid.crs == "EPSG:32637" and grid.pixel_m == sim.scenario.imagery.cloud_pixel_m == 10.0
    assert gx0 <= minx - GRID_MARGIN_M and gy0 <= miny - GRID_MARGIN_M
    assert gx1 >= maxx + GRID_MARGIN_M and gy1 >= maxy + GRID_MARGIN_M
    assert gx1 - gx0 < maxx - minx + 2 * GRID_MARGIN_M + 2 * grid.pixel_m
    assert gx0 % grid.pixel_m == 0 and gy1 % grid.pixel_m == 0


def test_cloud_pixel_size_follows_the_scenario(sim):
    imagery = dataclasses.replace(sim.scenario.imagery, cloud_pixel_m=25.0)
    grid = cloud_grid(sim.buildings, imagery)
    assert grid.pixel_m == 25.0 and grid.transform.e == -25.0


def test_cloud_rasters_reproduce_the_catalogue_cloud_cover(sim):
    clouds = CloudField.from_simulation(sim)
    city, weight, n = clouds.footprints.city, clouds.footprints.city_weight, len(sim.buildings)
    assert weight.sum() == pytest.approx(n)
    covers = sim.images["cloud_cover"].to_numpy()
    assert covers.min() < 0.01 and covers.max() > 0.2  # clear and cloudy images alike
    for image, cover in enumerate(covers):
        opacity = clouds.opacity(image)
        assert opacity.shape == clouds.grid.shape and opacity.dtype == np.float32
        assert 0.0 <= opacity.min() and opacity.max() <= 1.0
        clouded = opacity.ravel()[city] >= 0.5
        assert weight[clouded].sum() / n == pytest.approx(cover, abs=weight.max() / n + 1e-9), image


def test_cloud_rasters_are_spatially_correlated(sim):
    clouds = CloudField.from_simulation(sim)
    cloudy = int(np.argmax(np.abs(sim.images["cloud_cover"].to_numpy() - 0.4) < 0.2))
    opacity = clouds.opacity(cloudy)
    assert np.corrcoef(opacity[:, 1:].ravel(), opacity[:, :-1].ravel())[0, 1] > 0.9
    assert np.corrcoef(opacity[1:, :].ravel(), opacity[:-1, :].ravel())[0, 1] > 0.9


def test_fully_clouded_image_hides_everything_and_clear_one_nothing(sim):
    clouds = CloudField.build(sim.buildings, _images([1.0, 0.0, 0.5]), sim.scenario.imagery, np.random.default_rng(0))
    assert (clouds.opacity(0) == 1.0).all() and (clouds.opacity(1) == 0.0).all()
    vis = clouds.visibility()
    assert (vis[:, 0] == 0.0).all()
    assert (vis[:, 1] == 1.0).all()
    assert 0.2 < vis[:, 2].mean() < 0.8


def test_visibility_is_the_simulators_and_reproducible(sim):
    again = CloudField.from_simulation(sim).visibility()
    assert again.dtype == np.float32 and again.shape == (len(sim.buildings), len(sim.images))
    assert np.array_equal(again, sim.visibility)
    assert np.array_equal(simulate("small", seed=0).visibility, sim.visibility)
    assert not np.array_equal(simulate("small", seed=1).visibility, sim.visibility)


def test_visibility_agrees_with_a_direct_per_footprint_computation(sim):
    """Per building, with rasterio's geometry_mask on the cloud raster at the sub-pixel size the module
    rasterizes at (identical), and with exact overlap areas of the footprint and the 10 m pixels (close)."""
    buildings = sim.buildings
    clouds = CloudField.build(buildings, _images([0.5]), sim.scenario.imagery, np.random.default_rng(3))
    vis = visibility(buildings, _images([0.5]), sim.scenario.imagery, np.random.default_rng(3))[:, 0]
    clear = 1.0 - clouds.opacity(0).astype(np.float64)
    grid = clouds.grid
    fine = np.repeat(np.repeat(clear, 4, axis=0), 4, axis=1)
    fine_transform = grid.transform @ Affine.scale(0.25)
    area = buildings.geometry.area.to_numpy()
    partly = np.flatnonzero((vis > 0.05) & (vis < 0.95))
    assert len(partly) >= 5
    rng = np.random.default_rng(0)
    chosen = np.unique(
        np.concatenate(
            [np.argsort(area)[:3], np.argsort(area)[-3:], partly[:5], rng.choice(len(buildings), 5, replace=False)]
        )
    )
    p = grid.pixel_m
    for i in chosen:
        geom = buildings.geometry.iloc[i]
        inside = rasterio.features.geometry_mask([geom], out_shape=fine.shape, transform=fine_transform, invert=True)
        assert inside.any()
        assert vis[i] == pytest.approx(fine[inside].mean(), abs=1e-5), i
        # exact: the clear share of each 10 m pixel weighted by the footprint's area in it
        c0, r1 = grid.index(geom.bounds[0], geom.bounds[1])
        c1, r0 = grid.index(geom.bounds[2], geom.bounds[3])
        rows, cols = np.mgrid[int(r0) : int(r1) + 1, int(c0) : int(c1) + 1]
        x0, y1 = grid.transform.c + cols * p, grid.transform.f - rows * p
        cells = shapely.box(x0, y1 - p, x0 + p, y1)
        share = shapely.area(shapely.intersection(cells, geom))
        exact = (share * clear[rows, cols]).sum() / share.sum()
        assert vis[i] == pytest.approx(exact, abs=0.03), i


def test_a_footprint_smaller_than_a_subpixel_takes_the_cloud_pixel_under_it():
    big = shapely.box(500_000.0, 3_978_000.0, 500_050.0, 3_978_050.0)
    tiny = shapely.box(500_101.2, 3_978_101.2, 500_101.7, 3_978_101.7)  # 0.25 m², off every sub-pixel centre
    buildings = gpd.GeoDataFrame({"building_id": [0, 1]}, geometry=[big, tiny], crs="EPSG:32637")
    grid = cloud_grid(buildings, ImageryScenario())
    pixels = footprint_pixels(buildings, grid)
    assert np.bincount(pixels.building, weights=pixels.weight) == pytest.approx([1.0, 1.0])
    (only,) = np.flatnonzero(pixels.building == 1)
    col, row = grid.index(500_101.45, 3_978_101.45)
    assert pixels.pixel[only] == int(row) * grid.width + int(col) and pixels.weight[only] == 1.0
    assert (pixels.building == 0).sum() == 25  # 50 m x 50 m on whole 10 m pixels


def test_cloud_rasters_refuse_footprints_in_degrees(sim):
    with pytest.raises(FootprintsError, match="projected CRS"):
        cloud_grid(sim.buildings.to_crs("EPSG:4326"), ImageryScenario())


# --- rendered tiles ------------------------------------------------------------------------------------------


def test_tile_array_transform_and_crs(sim):
    date = sim.images["image_date"].iloc[5]
    tile = stracker.render_tile(sim, date, (500_900.0, 3_978_300.0, 501_000.5, 3_978_400.0), 0.5)
    assert tile.rgb.dtype == np.uint8 and tile.rgb.shape == (200, 201, 3)  # bands last; ceil(100.5 / 0.5)
    assert tile.transform == Affine(0.5, 0.0, 500_900.0, 0.0, -0.5, 3_978_400.0)
    assert tile.crs == "EPSG:32637" and tile.date == date
    assert tile.bounds == (500_900.0, 3_978_300.0, 501_000.5, 3_978_400.0)


def test_default_tile_is_500_m_around_the_city_centre(sim):
    date = sim.images["image_date"].iloc[0]
    tile = stracker.render_tile(sim, date)
    minx, miny, maxx, maxy = sim.buildings.total_bounds
    assert tile.rgb.shape == (500, 500, 3)
    assert tile.bounds == default_bounds(sim)
    centre = ((tile.bounds[0] + tile.bounds[2]) / 2, (tile.bounds[1] + tile.bounds[3]) / 2)
    assert centre == pytest.approx(((minx + maxx) / 2, (miny + maxy) / 2), abs=1.0)


def test_written_tile_is_a_cloud_optimized_geotiff(sim, tmp_path):
    date = sim.images["image_date"].iloc[-1]
    path = tmp_path / "tile.tif"
    tile = stracker.render_tile(sim, date, default_bounds(sim, 1000.0), 1.0, path=path)
    with rasterio.open(path) as ds:
        assert ds.driver == "GTiff" and ds.count == 3 and ds.dtypes == ("uint8",) * 3
        assert ds.crs.to_epsg() == 32637
        assert ds.transform == tile.transform
        assert (ds.width, ds.height) == (1000, 1000)
        assert ds.block_shapes == [(COG_BLOCK_PX, COG_BLOCK_PX)] * 3
        assert ds.overviews(1) == [2, 4]  # down to the first level that fits in one block
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"  # GDAL's COG layout: IFDs before the data
        assert ds.compression.name.lower() == "deflate"
        assert ds.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        assert ds.tags()["IMAGE_DATE"] == f"{date:%Y-%m-%d}" and ds.tags()["STRACKER_SEED"] == "0"
        assert np.array_equal(ds.read(), np.moveaxis(tile.rgb, -1, 0))
        overview = ds.read(1, out_shape=(250, 250))  # read from the internal overview
        assert overview.shape == (250, 250) and 50 < overview.mean() < 250


def test_destroyed_footprints_look_unlike_intact_ones(sim):
    clear = _with_cover(sim, 0.0)
    date = sim.images["image_date"].iloc[-1]
    tile = stracker.render_tile(clear, date, tuple(sim.buildings.total_bounds), 1.0)
    stats = _per_building(sim, tile)
    destroyed = (sim.buildings["destroyed_on"] <= date).to_numpy()
    ok = (stats["pixels"] >= 10).to_numpy()
    wreck, standing = stats[destroyed & ok], stats[~destroyed & ok]
    assert len(wreck) > 200 and len(standing) > 30
    # darker and rougher, building by building, not only on average
    assert wreck["brightness"].mean() < standing["brightness"].mean() - 50
    assert wreck["brightness"].quantile(0.95) < standing["brightness"].quantile(0.05)
    assert wreck["roughness"].median() > 20 * standing["roughness"].median()
    assert wreck["roughness"].quantile(0.05) > standing["roughness"].quantile(0.95)
    # grey-brown rubble: red >= green >= blue
    assert (wreck["r"] >= wreck["g"]).mean() > 0.95 and (wreck["g"] >= wreck["b"]).mean() > 0.95


def test_debris_and_craters_spill_outside_destroyed_footprints(sim):
    clear = _with_cover(sim, 0.0)
    first, last = sim.images["image_date"].iloc[[0, -1]]
    bounds = tuple(sim.buildings.total_bounds)
    before, after = (stracker.render_tile(clear, d, bounds, 1.0) for d in (first, last))
    ids = _footprint_ids(sim, before)
    fell = np.concatenate(
        [[False], ((sim.buildings["destroyed_on"] > first) & (sim.buildings["destroyed_on"] <= last)).to_numpy()]
    )
    gap = ndimage.distance_transform_edt(~fell[ids])
    ring = (ids == 0) & (gap >= 1) & (gap <= 4)  # open ground within 4 m of a building that fell
    far = (ids == 0) & (ndimage.distance_transform_edt(ids == 0) > 20)  # open ground far from any building
    changed = np.abs(after.rgb.astype(int) - before.rgb.astype(int)).max(axis=2) > 25
    assert changed[ring].mean() > 0.3
    assert changed[far].mean() < 0.02


def test_buildings_keep_their_place_and_roof_across_dates(sim):
    clear = _with_cover(sim, 0.0)
    dates = sim.images["image_date"]
    first, last = dates.iloc[0], dates.iloc[-1]
    bounds = tuple(sim.buildings.total_bounds)
    a, b = (_per_building(sim, stracker.render_tile(clear, d, bounds, 1.0)) for d in (first, last))
    on = sim.buildings["destroyed_on"]
    ok = (a["pixels"] >= 10).to_numpy()
    standing = ((on.isna()) | (on > last)).to_numpy() & ok
    fell = ((on > first) & (on <= last)).to_numpy() & ok
    gone = (on <= first).to_numpy() & ok
    assert standing.sum() > 30 and fell.sum() > 100 and gone.sum() > 3
    # a standing building shows the same uniform roof on both dates: its colour, up to the day's light
    assert (a["roughness"][standing] < 20).all() and (b["roughness"][standing] < 20).all()
    for band in "rgb":
        assert np.corrcoef(a[band][standing], b[band][standing])[0, 1] > 0.95
    # a building that fell in between is a roof first, rubble after; one that fell before is rubble on both
    assert (a["roughness"][fell] < 20).all() and (b["roughness"][fell] > 100).mean() > 0.95
    assert (a["roughness"][gone] > 100).all() and (b["roughness"][gone] > 100).all()


def test_overcast_image_is_white_and_clouds_hide_what_visibility_says(sim):
    bounds = tuple(sim.buildings.total_bounds)
    date = sim.images["image_date"].iloc[-1]
    overcast = stracker.render_tile(_with_cover(sim, 1.0), date, bounds, 2.0).rgb
    assert overcast.min() > 215 and overcast.std() < 6
    # a partly cloudy image: buildings the volunteers could not see are under white cloud in the frame
    cover = np.full(len(sim.images), 0.5)
    half = _with_cover(sim, cover)
    tile = stracker.render_tile(half, date, bounds, 1.0)
    vis = CloudField.from_simulation(half).visibility()[:, -1]
    stats = _per_building(sim, tile)
    hidden, seen = vis < 0.02, vis > 0.98
    assert hidden.sum() > 20 and seen.sum() > 20
    assert stats["brightness"][hidden].min() > 215
    assert stats["roughness"][hidden].max() < stats["roughness"][seen].median()


def test_rendering_is_deterministic_to_the_byte(sim, tmp_path):
    date = sim.images["image_date"].iloc[7]
    bounds = default_bounds(sim, 300.0)
    a = stracker.render_tile(sim, date, bounds, 1.0, path=tmp_path / "a.tif")
    b = stracker.render_tile(simulate("small", seed=0), date, bounds, 1.0, path=tmp_path / "b.tif")
    assert np.array_equal(a.rgb, b.rgb)
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()
    other = simulate("small", seed=1)
    c = stracker.render_tile(other, other.images["image_date"].iloc[7], bounds, 1.0)
    assert not np.array_equal(a.rgb, c.rgb)


def test_overlapping_tiles_agree_where_they_overlap(sim):
    date = sim.images["image_date"].iloc[12]
    x, y = default_bounds(sim)[:2]
    big = stracker.render_tile(sim, date, (x, y, x + 200, y + 200), 1.0)
    part = stracker.render_tile(sim, date, (x + 50, y + 50, x + 150, y + 150), 1.0)
    assert np.array_equal(big.rgb[50:150, 50:150], part.rgb)


def test_frame_is_centred_on_its_building(sim):
    date = sim.images["image_date"].iloc[-1]
    rect = int(np.argmin(np.abs(shapely.get_num_coordinates(sim.buildings.geometry.values) - 5)))
    building_id = sim.buildings["building_id"].iloc[rect]
    chip = stracker.frame(sim, building_id, date)
    assert chip.rgb.shape == (120, 120, 3) and chip.transform.a == 0.5
    centre = sim.buildings.geometry.iloc[rect].centroid
    minx, miny, maxx, maxy = chip.bounds
    assert ((minx + maxx) / 2, (miny + maxy) / 2) == pytest.approx((centre.x, centre.y))
    ids = _footprint_ids(sim, chip)
    assert ids[60, 60] == rect + 1
    small = stracker.frame(sim, building_id, date, size_m=30, resolution=1.0)
    assert small.rgb.shape == (30, 30, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"date": "2017-06-01"}, r"no image on 2017-06-01; the nearest are 2017-05-30 and"),
        ({"date": "2018-01-01"}, r"outside the catalogue \(20 images from 2017-05-30 to 2017-10-28\)"),
        ({"date": "someday"}, r"ISO date"),
        ({"bounds": (10.0, 0.0, 0.0, 10.0)}, r"minx < maxx"),
        ({"bounds": (0.0, 0.0, 1.0)}, r"four numbers"),
        ({"bounds": (0.0, 0.0, 100.0, 100.0)}, r"outside the simulated area"),
        ({"resolution": 0.0}, r"positive number"),
        ({"resolution": float("nan")}, r"positive number"),
        ({"resolution": 0.05}, r"more than 64,000,000"),
    ],
)
def test_render_errors_say_what_to_do(sim, kwargs, message):
    args = {"date": sim.images["image_date"].iloc[0], "bounds": None, "resolution": 1.0, **kwargs}
    with pytest.raises(RenderError, match=message) as info:
        stracker.render_tile(sim, args["date"], args["bounds"], args["resolution"])
    assert isinstance(info.value, ValueError) and isinstance(info.value, StrackerError)


def test_frame_of_an_unknown_building(sim):
    with pytest.raises(RenderError, match="no building has building_id 99999"):
        stracker.frame(sim, 99999, sim.images["image_date"].iloc[0])


def test_writing_never_clobbers_without_overwrite(sim, tmp_path):
    path = tmp_path / "tile.tif"
    path.write_bytes(b"precious")
    date = sim.images["image_date"].iloc[0]
    with pytest.raises(TileExistsError, match="overwrite") as info:
        stracker.render_tile(sim, date, default_bounds(sim, 100.0), path=path)
    assert isinstance(info.value, FileExistsError)
    assert path.read_bytes() == b"precious"
    stracker.render_tile(sim, date, default_bounds(sim, 100.0), path=path, overwrite=True)
    with rasterio.open(path) as ds:
        assert ds.width == 100
    assert [p.name for p in tmp_path.iterdir()] == ["tile.tif"]  # no temporary file left behind


# --- the command line and the benchmark ----------------------------------------------------------------------


def test_cli_render_writes_a_tile(tmp_path):
    out = tmp_path / "sub" / "tile.tif"
    result = CliRunner().invoke(
        cli,
        [
            "render",
            "--preset",
            "small",
            "--seed",
            "0",
            "--date",
            "2017-10-28",
            "--bbox",
            "500900",
            "3978300",
            "501100",
            "3978500",
            "--resolution",
            "0.5",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["width"] == summary["height"] == 400 and summary["date"] == "2017-10-28"
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32637 and ds.transform == Affine(0.5, 0, 500900, 0, -0.5, 3978500)
    again = CliRunner().invoke(cli, ["render", "--preset", "small", "--date", "2017-10-28", "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert len(again.output.strip().splitlines()) == 1 and "Traceback" not in again.output
    replaced = CliRunner().invoke(
        cli, ["-q", "render", "--preset", "small", "--date", "2017-10-28", "--out", str(out), "--overwrite"]
    )
    assert replaced.exit_code == 0, replaced.output
    with rasterio.open(out) as ds:
        assert ds.width == 500  # the default 500 m box at 1 m


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2017-06-02"], "no image on 2017-06-02"),
        (["--date", "2016-01-01"], "outside the catalogue"),
        (["--date", "2017-10-28", "--bbox", "0", "0", "10", "10"], "outside the simulated area"),
        (["--date", "2017-10-28", "--bbox", "501000", "3978300", "500900", "3978500"], "minx < maxx"),
    ],
)
def test_cli_render_bad_input_is_one_line_and_exit_1(tmp_path, args, message):
    out = tmp_path / "tile.tif"
    result = CliRunner().invoke(cli, ["render", "--preset", "small", "--json", *args, "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_frames_benchmark_runs_small(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    rows = frames_benchmark.main(["--preset", "small", "--repeat", "1"])
    assert [r["task"] for r in rows] == ["clouds+visibility", "render 500 m", "render 500 m", "frame 60 m"]
    assert all(r["seconds"] > 0 for r in rows) and rows[1]["tile_kib"] > 0
    assert json.loads((tmp_path / "frames_small.json").read_text())["rows"] == rows


def test_a_saved_and_loaded_campaign_renders_the_same(sim, tmp_path):
    loaded = Simulation.load(sim.save(tmp_path / "campaign"))
    date = sim.images["image_date"].iloc[-3]
    bounds = default_bounds(sim, 200.0)
    assert np.array_equal(stracker.render_tile(loaded, date, bounds).rgb, stracker.render_tile(sim, date, bounds).rgb)
    assert np.array_equal(CloudField.from_simulation(loaded).visibility(), sim.visibility)
