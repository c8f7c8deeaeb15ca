"""Tests of stracker.imagery: scene catalogues, chips and cloud-free shares cut from real GeoTIFFs written here
with rasterio (two CRSs, nodata, mosaics, tags), and agreement with the simulator's own visibility."""

from __future__ import annotations

import json
import os
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
import rasterio.io
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

import stracker
from stracker.cli import cli
from stracker.errors import ImageryError, OutputExistsError, UnmatchedBuildingsError
from stracker.imagery import (
    MANIFEST_FILE,
    MISSING_FILE,
    chip_file_names,
    chips,
    scene_catalogue,
    scene_date,
    visibility,
    write_visibility,
)
from stracker.world.clouds import CloudField

UTM, WGS84 = "EPSG:32637", "EPSG:4326"
X0, Y1 = 504_900.0, 3_978_300.0  # north-west corner of the UTM scene (Raqqa, zone 37N), 400 m a side
INSIDE, OUTSIDE = 200, 20  # the footprint band: 200 on footprints, 20 elsewhere


def write_raster(path, data, crs, transform, nodata=None, tags=None, **profile):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **profile,
    ) as ds:
        ds.write(data)
        if tags:
            ds.update_tags(**tags)
    return path


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    """Four 10 x 12 m footprints: 1 and 2 in every scene, 3 under the WGS84 scene's nodata, 4 kilometres away."""
    boxes = [
        shapely.box(x, y, x + 10, y + 12)
        for x, y in [(505_020, 3_978_020), (505_150, 3_978_200), (505_230, 3_978_080), (512_000, 3_990_000)]
    ]
    return gpd.GeoDataFrame({"building_id": [1, 2, 3, 4]}, geometry=boxes, crs=UTM)


def footprint_band(buildings, crs, transform, shape) -> np.ndarray:
    burnt = rasterio.features.rasterize(buildings.to_crs(crs).geometry, out_shape=shape, transform=transform)
    return np.where(burnt > 0, INSIDE, OUTSIDE).astype(np.uint8)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, buildings):
    """A UTM scene (0.5 m, dated by its name) and a WGS84 scene (dated by its TIFF tag, nodata 0 over building
    3's chip and the northern 40% of building 2's), same footprints, different dates."""
    folder = tmp_path_factory.mktemp("scenes")
    utm = Affine(0.5, 0.0, X0, 0.0, -0.5, Y1)
    rows, cols = np.mgrid[0:800, 0:800]
    bands = np.stack([cols % 251, rows % 251, footprint_band(buildings, UTM, utm, (800, 800))]).astype(np.uint8)
    write_raster(folder / "utm_20170616.tif", bands, UTM, utm, tiled=True, blockxsize=256, blockysize=256)

    square = gpd.GeoSeries([shapely.box(X0, Y1 - 400, X0 + 400, Y1)], crs=UTM)
    west, south, east, north = square.to_crs(WGS84).total_bounds
    step = 5e-6  # degrees: about 0.45 m east-west, 0.55 m north-south
    geo = Affine(step, 0.0, west, 0.0, -step, north)
    shape = (int(np.ceil((north - south) / step)), int(np.ceil((east - west) / step)))
    band = footprint_band(buildings, WGS84, geo, shape)
    hole = shapely.box(505_200, 3_978_050, 505_270, 3_978_120)  # building 3's chip and then some
    strip = shapely.box(505_120, 3_978_212, 505_190, 3_978_300)  # the north 40% of building 2's chip (y to 3978236)
    blank = (
        rasterio.features.rasterize(gpd.GeoSeries([hole, strip], crs=UTM).to_crs(WGS84), out_shape=shape, transform=geo)
        > 0
    )
    band[blank] = 0
    write_raster(
        folder / "wgs84.tif",
        np.stack([band] * 3),
        WGS84,
        geo,
        nodata=0,
        tags={"TIFFTAG_DATETIME": "2017:07:01 10:30:00"},
    )
    return folder


def read_png(path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a chip is a picture, not a map
        ds = rasterio.open(path)
    with ds:
        assert ds.driver == "PNG"
        return ds.read()


def bright(chip: np.ndarray) -> np.ndarray:
    return chip[2] > (INSIDE + OUTSIDE) // 2


# --- scene dates ------------------------------------------------------------------------------------------


def test_catalogue_of_two_crs(scenes):
    table = scene_catalogue(str(scenes / "*.tif"))
    assert table["path"].map(os.path.basename).tolist() == ["utm_20170616.tif", "wgs84.tif"]
    assert table["image_date"].astype(str).tolist() == ["2017-06-16", "2017-07-01"]
    assert table["date_source"].tolist() == ["file name", "tag TIFFTAG_DATETIME"]
    assert table["crs"].tolist() == [UTM, WGS84]
    assert table[["width", "height", "count"]].iloc[0].tolist() == [800, 800, 3]
    assert np.isnan(table["nodata"].iloc[0]) and table["nodata"].iloc[1] == 0.0
    assert table[["left", "top"]].iloc[0].tolist() == [X0, Y1]


def test_date_rules_in_order(tmp_path):
    """Catalogue over tags, IMAGE_DATE over acquisition tags over TIFFTAG_DATETIME, tags over the file name."""
    t = Affine(1.0, 0.0, X0, 0.0, -1.0, Y1)
    tags = {
        "cat_20170101.tif": {"IMAGE_DATE": "2017-02-02"},
        "img_20170101.tif": {
            "IMAGE_DATE": "2017-03-03",
            "ACQUISITIONDATETIME": "2017-04-04T10:00:00Z",
            "TIFFTAG_DATETIME": "2017:05:05 00:00:00",
        },
        "acq_20170101.tif": {
            "ACQUISITIONDATETIME": "2017-06-05T23:30:00-02:00",  # 01:30 UTC on the 6th
            "TIFFTAG_DATETIME": "2017:05:05 00:00:00",
        },
        "tiff_20170101.tif": {"TIFFTAG_DATETIME": "2017:07:07 09:00:00"},
        "S2A_MSIL2A_20170808T081601_N0205_R078_T37SDA_20170809T082543.tif": {},
        "dashed-2017-09-09.tif": {},
    }
    for name, tag in tags.items():
        write_raster(tmp_path / name, np.zeros((4, 4), np.uint8), UTM, t, tags=tag)
    catalogue = tmp_path / "images.csv"
    catalogue.write_text("file,image_date\ncat_20170101.tif,2017-01-31\n")
    table = scene_catalogue(str(tmp_path / "*.tif"), catalogue=catalogue).set_index("path")
    table.index = [os.path.basename(p) for p in table.index]
    got = {name: (str(row.image_date.date()), row.date_source) for name, row in table.iterrows()}
    assert got == {
        "cat_20170101.tif": ("2017-01-31", "catalogue"),
        "img_20170101.tif": ("2017-03-03", "tag IMAGE_DATE"),
        "acq_20170101.tif": ("2017-06-06", "tag ACQUISITIONDATETIME"),
        "tiff_20170101.tif": ("2017-07-07", "tag TIFFTAG_DATETIME"),
        "S2A_MSIL2A_20170808T081601_N0205_R078_T37SDA_20170809T082543.tif": ("2017-08-08", "file name"),
        "dashed-2017-09-09.tif": ("2017-09-09", "file name"),
    }
    # a catalogue path relative to its folder matches too
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "images.csv").write_text("path,image_date\n../tiff_20170101.tif,2017-12-24T10:00:00\n")
    again = scene_catalogue([tmp_path / "tiff_20170101.tif"], catalogue=tmp_path / "sub" / "images.csv")
    assert again["image_date"].astype(str).tolist() == ["2017-12-24"] and again["date_source"].tolist() == ["catalogue"]


def test_scene_without_date_is_an_error_naming_it_and_the_fix(tmp_path):
    t = Affine(1.0, 0.0, X0, 0.0, -1.0, Y1)
    write_raster(tmp_path / "dated_20170616.tif", np.zeros((4, 4), np.uint8), UTM, t)
    write_raster(tmp_path / "raqqa_west.tif", np.zeros((4, 4), np.uint8), UTM, t)
    with pytest.raises(ImageryError, match=r"raqqa_west\.tif.*catalogue.*IMAGE_DATE"):
        scene_catalogue(str(tmp_path / "*.tif"))
    with pytest.raises(ImageryError, match=r"no file matches"):
        scene_catalogue(str(tmp_path / "*.jp2"))


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # rasterio, on the rotated grid
def test_bad_tags_and_catalogues_are_errors(tmp_path):
    t = Affine(1.0, 0.0, X0, 0.0, -1.0, Y1)
    write_raster(tmp_path / "a_20170616.tif", np.zeros((4, 4), np.uint8), UTM, t, tags={"IMAGE_DATE": "June"})
    with pytest.raises(ImageryError, match=r"IMAGE_DATE='June' is not a date"):
        scene_catalogue(tmp_path / "a_20170616.tif")
    write_raster(tmp_path / "b_20170616.tif", np.zeros((4, 4), np.uint8), UTM, t)
    for text, message in [
        ("path,image_date\nb_20170616.tif,16/06/2017\n", r"could not be read as dates.*16/06/2017"),
        ("path,image_date\nc_20170616.tif,2017-06-16\n", r"name no raster.*c_20170616\.tif"),
        ("path,image_date\nb_20170616.tif,2017-06-16\nb_20170616.tif,2017-06-17\n", r"more than once"),
        ("name,date\nb_20170616.tif,2017-06-16\n", r"needs a 'path'"),
    ]:
        (tmp_path / "images.csv").write_text(text)
        with pytest.raises(ImageryError, match=message):
            scene_catalogue([tmp_path / "b_20170616.tif"], catalogue=tmp_path / "images.csv")
    write_raster(
        tmp_path / "rotated_20170616.tif",
        np.zeros((4, 4), np.uint8),
        UTM,
        Affine.rotation(10.0) @ Affine(1.0, 0.0, X0, 0.0, -1.0, Y1),
    )
    with pytest.raises(ImageryError, match=r"not north up"):
        scene_catalogue(tmp_path / "rotated_20170616.tif")
    (tmp_path / "notes_20170616.tif").write_text("not a raster")
    with pytest.raises(stracker.FileFormatError, match=r"notes_20170616\.tif cannot be read as a raster"):
        scene_catalogue(tmp_path / "notes_20170616.tif")


def test_scene_date_examples():
    assert scene_date("x.tif", {"TIFFTAG_DATETIME": "2017:06:16 23:59:59"}) == (
        pd.Timestamp("2017-06-16"),
        "tag TIFFTAG_DATETIME",
    )
    assert scene_date("LC08_L1TP_171035_20170616_20170629_01_T1.tif", {}) == (pd.Timestamp("2017-06-16"), "file name")
    assert scene_date("scene_20171399.tif", {}) == (None, "")  # not a date: month 13
    assert scene_date("id_1234567890.tif", {}) == (None, "")  # digits inside a longer number


# --- chips ------------------------------------------------------------------------------------------------


def test_chip_of_known_pattern_is_the_pattern_centred_on_the_footprint(scenes, buildings, tmp_path):
    out = tmp_path / "chips"
    result = chips(str(scenes / "utm_*.tif"), buildings, out, resampling="nearest")
    chip = read_png(out / "1_2017-06-16.png")
    assert chip.shape == (3, 120, 120) and chip.dtype == np.uint8
    # the chip's grid is the scene's here (left edge 504995 m, top 3978056 m): pixel (i, j) is scene pixel
    # (190 + i, 488 + j), whose red and green bands hold its column and row modulo 251
    i = np.arange(120)
    np.testing.assert_array_equal(chip[0], np.broadcast_to((190 + i) % 251, (120, 120)))
    np.testing.assert_array_equal(chip[1], np.broadcast_to(((488 + i) % 251)[:, None], (120, 120)))
    # the 10 x 12 m footprint is 20 x 24 pixels in the middle of the 60 m chip
    expected = np.zeros((120, 120), bool)
    expected[48:72, 50:70] = True
    np.testing.assert_array_equal(bright(chip), expected)
    # bilinear on a grid that coincides with the scene's gives the same pixels
    again = chips(str(scenes / "utm_*.tif"), buildings, tmp_path / "bilinear")
    np.testing.assert_array_equal(read_png(again.directory / "1_2017-06-16.png")[:2], chip[:2])
    assert result.chips["file"].tolist() == ["1_2017-06-16.png", "2_2017-06-16.png", "3_2017-06-16.png"]


def test_chip_from_wgs84_scene_matches_the_utm_one(scenes, buildings, tmp_path):
    result = chips(str(scenes / "*.tif"), buildings, tmp_path / "chips", resampling="nearest")
    utm, geo = (bright(read_png(result.directory / f"1_{d}.png")) for d in ("2017-06-16", "2017-07-01"))
    rows, cols = np.nonzero(geo)
    # centred: the footprint's pixels have their centre in the chip's middle (to a pixel)
    assert abs(rows.mean() - 59.5) < 1.0 and abs(cols.mean() - 59.5) < 1.0
    # same shape and size, to the WGS84 scene's coarser pixels
    assert abs(geo.sum() - utm.sum()) / utm.sum() < 0.15
    assert (geo & utm).sum() / (geo | utm).sum() > 0.8


def test_nodata_and_outside_are_reported(scenes, buildings, tmp_path):
    out = tmp_path / "chips"
    result = chips(str(scenes / "*.tif"), buildings, out)
    missing = result.missing.assign(image_date=result.missing["image_date"].astype(str))
    assert missing[["building_id", "image_date", "reason"]].values.tolist() == [
        [3, "2017-07-01", "nodata"],
        [4, "2017-06-16", "outside"],
        [4, "2017-07-01", "outside"],
    ]
    assert missing["nodata_share"].iloc[0] == 1.0 and missing["nodata_share"].iloc[1:].isna().all()
    written = result.chips.assign(image_date=result.chips["image_date"].astype(str))
    assert written[["building_id", "image_date"]].values.tolist() == [
        [1, "2017-06-16"],
        [1, "2017-07-01"],
        [2, "2017-06-16"],
        [2, "2017-07-01"],
        [3, "2017-06-16"],
    ]
    # every pair is written or reported, never both, never neither
    assert len(written) + len(missing) == len(buildings) * 2
    # building 2 in WGS84 is written with its northern 40% black (nodata)
    chip = read_png(out / "2_2017-07-01.png")
    nodata = (chip == 0).all(axis=0)
    assert 0.3 < nodata.mean() < 0.5 and nodata[:40].all() and not nodata[60:].any()
    # the directory holds the chips, the manifest and the missing table, nothing else
    assert sorted(os.listdir(out)) == sorted([*written["file"], MANIFEST_FILE, MISSING_FILE])
    manifest = pd.read_csv(out / MANIFEST_FILE)
    assert list(manifest.columns) == ["building_id", "image_date", "file"]
    assert manifest["file"].tolist() == written["file"].tolist()
    assert manifest["image_date"].tolist() == written["image_date"].tolist()
    assert pd.read_csv(out / MISSING_FILE)["reason"].tolist() == ["nodata", "outside", "outside"]
    assert result.summary()["missing_by_reason"] == {"no_scene": 0, "outside": 2, "nodata": 1}
    # a stricter threshold reports building 2's chip too
    strict = chips(str(scenes / "*.tif"), buildings, tmp_path / "strict", max_nodata=0.2)
    assert (strict.missing["reason"] == "nodata").sum() == 2


def test_chip_at_the_scene_edge_is_clipped_and_its_outside_counted_as_nodata(scenes, tmp_path):
    """A building 10 m inside the UTM scene's west edge: the chip's western 20 m (40 of 120 columns) lie off the
    scene: they are black, and count as nodata."""
    edge = gpd.GeoDataFrame({"building_id": [9]}, geometry=[shapely.box(X0 + 5, Y1 - 206, X0 + 15, Y1 - 194)], crs=UTM)
    result = chips(str(scenes / "utm_*.tif"), edge, tmp_path / "chips", resampling="nearest")
    chip = read_png(result.directory / "9_2017-06-16.png")
    assert (chip[:, :, :40] == 0).all()
    np.testing.assert_array_equal(chip[0, :, 40:], np.broadcast_to(np.arange(80) % 251, (120, 80)))  # columns 0..79
    strict = chips(str(scenes / "utm_*.tif"), edge, tmp_path / "strict", max_nodata=0.3)
    assert strict.missing["reason"].tolist() == ["nodata"]
    assert strict.missing["nodata_share"].iloc[0] == pytest.approx(1 / 3)


def test_mosaic_takes_each_pixel_from_the_scene_with_data(buildings, tmp_path):
    """Two scenes on one date: the west one holds data west of building 1's centroid only, the east one east
    of it; the chip is whole, half from each."""
    t = Affine(0.5, 0.0, X0, 0.0, -0.5, Y1)
    west = np.full((800, 800), 50, np.uint8)
    west[:, 250:] = 0  # x >= 505025, building 1's centroid
    east = np.full((800, 800), 150, np.uint8)
    east[:, :250] = 0
    folder = tmp_path / "mosaic"
    folder.mkdir()
    write_raster(folder / "a_west.tif", west, UTM, t, nodata=0, tags={"IMAGE_DATE": "2017-08-01"})
    write_raster(folder / "b_east.tif", east, UTM, t, nodata=0, tags={"IMAGE_DATE": "2017-08-01"})
    result = chips(str(folder / "*.tif"), buildings.iloc[:1], tmp_path / "chips", resampling="nearest")
    assert len(result.missing) == 0 and result.chips["file"].tolist() == ["1_2017-08-01.png"]
    chip = read_png(result.directory / "1_2017-08-01.png")
    assert chip.shape == (1, 120, 120)
    assert (chip[0, :, :60] == 50).all() and (chip[0, :, 60:] == 150).all()


def test_chips_read_only_small_windows_of_a_huge_scene(buildings, tmp_path, monkeypatch):
    """A 100,000 x 100,000 pixel scene (10 GB if read whole; sparse on disk): every read is one chip's window."""
    t = Affine(0.5, 0.0, 480_000.0, 0.0, -0.5, 4_000_000.0)
    path = tmp_path / "huge_20170616.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=100_000,
        height=100_000,
        count=1,
        dtype="uint8",
        crs=UTM,
        transform=t,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        sparse_ok=True,
    ) as ds:
        col, row = ~t @ (X0, Y1)
        ds.write(np.full((1, 1024, 1024), 77, np.uint8), window=Window(int(col), int(row), 1024, 1024))
    assert path.stat().st_size < 5_000_000
    reads = []
    real_read, real_masks = rasterio.io.DatasetReader.read, rasterio.io.DatasetReader.read_masks

    def recording(real):
        def wrapper(self, *args, **kwargs):
            reads.append((real.__name__, kwargs.get("window"), kwargs.get("out_shape")))
            return real(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", recording(real_read))
    monkeypatch.setattr(rasterio.io.DatasetReader, "read_masks", recording(real_masks))
    result = chips(path, buildings, tmp_path / "chips")
    assert len(result.chips) == 4  # building 4 too: the scene is 50 km wide
    assert [r[0] for r in reads] == ["read"] * 4  # no mask reads: the scene has no nodata
    for _, window, out_shape in reads:
        assert window is not None and window.width <= 121 and window.height <= 121
        assert out_shape[1:] == (120, 120)
    assert (read_png(result.directory / "1_2017-06-16.png") == 77).all()


def test_questions_cut_only_their_images(scenes, buildings, tmp_path):
    questions = tmp_path / "questions.csv"
    questions.write_text(
        "building_id,before,after\n1,2017-06-16,2017-07-01\n2,,2017-07-01\n3,2017-05-01,2017-06-16\n1,,2017-07-01\n"
    )
    result = chips(str(scenes / "*.tif"), buildings, tmp_path / "chips", questions=questions)
    assert result.chips["file"].tolist() == [
        "1_2017-06-16.png",
        "1_2017-07-01.png",
        "2_2017-07-01.png",
        "3_2017-06-16.png",
    ]
    missing = result.missing.assign(image_date=result.missing["image_date"].astype(str))
    assert missing[["building_id", "image_date", "reason"]].values.tolist() == [[3, "2017-05-01", "no_scene"]]
    questions.write_text("building_id,before,after\n9,,2017-07-01\n")
    with pytest.raises(UnmatchedBuildingsError, match=r"footprints lack \(\[9\]\)"):
        chips(str(scenes / "*.tif"), buildings, tmp_path / "other", questions=questions)
    assert not (tmp_path / "other").exists()


def test_footprints_from_a_geopackage_in_degrees(scenes, buildings, tmp_path):
    path = tmp_path / "buildings.gpkg"
    buildings.to_crs(WGS84).to_file(path, engine="pyogrio")
    result = chips(str(scenes / "utm_*.tif"), path, tmp_path / "chips", resampling="nearest")
    chip = bright(read_png(result.directory / "1_2017-06-16.png"))
    rows, cols = np.nonzero(chip)  # the chip is north up in the footprints' UTM zone: the same footprint
    assert abs(rows.mean() - 59.5) < 1.0 and abs(cols.mean() - 59.5) < 1.0 and abs(chip.sum() - 480) < 40


def test_chip_size_and_sixteen_bit_stretch(buildings, tmp_path):
    t = Affine(0.5, 0.0, X0, 0.0, -0.5, Y1)
    values = np.full((800, 800), 500, np.uint16)
    values[:, :250] = 1000
    write_raster(tmp_path / "pan_20170616.tif", values, UTM, t)
    fixed = chips(
        tmp_path / "pan_20170616.tif",
        buildings.iloc[:1],
        tmp_path / "fixed",
        stretch=(0, 1000),
        size_m=40,
        pixel_m=1.0,
        resampling="nearest",
    )
    chip = read_png(fixed.directory / "1_2017-06-16.png")[0]
    assert chip.shape == (40, 40) and (chip[:, :20] == 255).all() and (chip[:, 20:] == 128).all()
    auto = read_png(
        chips(tmp_path / "pan_20170616.tif", buildings.iloc[:1], tmp_path / "auto", resampling="nearest").directory
        / "1_2017-06-16.png"
    )[0]
    assert (auto[:, :60] == 255).all() and (auto[:, 60:] == 0).all()  # 2nd and 98th percentiles: 500 and 1000


def test_outputs_whole_or_not_at_all(scenes, buildings, tmp_path):
    out = tmp_path / "chips"
    chips(str(scenes / "utm_*.tif"), buildings, out)
    with pytest.raises(OutputExistsError, match=r"exists; pass overwrite=True"):
        chips(str(scenes / "utm_*.tif"), buildings, out)
    result = chips(str(scenes / "*.tif"), buildings, out, overwrite=True)
    assert sorted(os.listdir(out)) == sorted([*result.chips["file"], MANIFEST_FILE, MISSING_FILE])
    # a failure part way (the second scene lacks band 3) leaves the old directory as it was, and no temporary
    before = sorted(os.listdir(out))
    with pytest.raises(ImageryError, match=r"has 3 band\(s\); bands \[4\]"):
        chips(str(scenes / "*.tif"), buildings, out, bands=[4], overwrite=True)
    assert sorted(os.listdir(out)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chips"]
    # a directory that is not a chips directory is never replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match=r"not a chips directory"):
        chips(str(scenes / "*.tif"), buildings, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_bad_options_and_ids(scenes, buildings, tmp_path):
    for kwargs, message in [
        ({"size_m": -1}, "size_m must be"),
        ({"pixel_m": 0}, "pixel_m must be"),
        ({"max_nodata": 2}, "max_nodata"),
        ({"bands": [1, 2]}, "one band"),
        ({"resampling": "magic"}, "resampling must be one of"),
    ]:
        with pytest.raises(ImageryError, match=message):
            chips(str(scenes / "*.tif"), buildings, tmp_path / "x", **kwargs)
    slashed = buildings.assign(building_id=["a/1", "b", "c", "d"])
    with pytest.raises(ImageryError, match=r"\['a/1'\].*cannot be chip file names"):
        chips(str(scenes / "*.tif"), slashed, tmp_path / "x")
    assert chip_file_names(["b7"], [pd.Timestamp("2017-06-16 10:00")]).tolist() == ["b7_2017-06-16.png"]


# --- visibility -------------------------------------------------------------------------------------------


def test_visibility_known_answers(tmp_path):
    """10 m UTM masks: building 1 covers four pixels, two of them clouded; building 2 half on nodata and clear;
    building 3 on nodata only; building 4 off the mask."""
    t = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 3_980_100.0)
    footprints = gpd.GeoDataFrame(
        {"building_id": ["a", "b", "c", "d"]},
        crs=UTM,
        geometry=[
            shapely.box(500_020, 3_980_060, 500_040, 3_980_080),
            shapely.box(500_060, 3_980_060, 500_080, 3_980_070),
            shapely.box(500_060, 3_980_020, 500_070, 3_980_030),
            shapely.box(600_000, 3_980_000, 600_010, 3_980_010),
        ],
    )
    mask = np.zeros((10, 10), np.uint8)
    mask[2:4, 2] = 1  # the west half of building a
    mask[3, 6] = 255  # nodata: the west half of b
    mask[7, 6] = 255  # all of c
    write_raster(tmp_path / "binary_2017-06-16.tif", mask, UTM, t, nodata=255)
    write_raster(tmp_path / "opacity_2017-07-01.tif", np.full((10, 10), 0.25, np.float32), UTM, t)
    classes = np.full((10, 10), 4, np.uint8)  # Sentinel-2 scene classes: 4 vegetation
    classes[2:4, 2:4] = [[8, 9], [10, 4]]  # cloud, cloud, cirrus, clear over building a
    write_raster(tmp_path / "scl_2017-08-01.tif", classes, UTM, t)
    table = visibility([tmp_path / "binary_2017-06-16.tif", tmp_path / "opacity_2017-07-01.tif"], footprints)
    assert list(table.columns) == ["building_id", "image_date", "visible"]
    assert table["image_date"].astype(str).tolist() == ["2017-06-16", "2017-07-01"] * 4
    np.testing.assert_array_equal(table["visible"].to_numpy(), [0.5, 0.75, 1.0, 0.75, np.nan, 0.75, np.nan, np.nan])
    scl = visibility(tmp_path / "scl_2017-08-01.tif", footprints, cloud_values=[8, 9, 10])
    assert scl["visible"].iloc[0] == 0.25 and scl["visible"].iloc[1] == 1.0
    assert table["building_id"].tolist() == ["a", "a", "b", "b", "c", "c", "d", "d"]


def test_visibility_from_a_wgs84_mask_and_a_mosaic(tmp_path, buildings):
    """A mask in degrees clouded west of building 1's centroid: half of it is visible; a second mask of the
    same date that knows building 3 (nodata in the first) fills it in."""
    west, south, east, north = buildings.iloc[:3].to_crs(WGS84).total_bounds
    step = 2e-6
    t = Affine(step, 0.0, west - 1e-4, 0.0, -step, north + 1e-4)
    shape = (int((north - south + 2e-4) / step) + 1, int((east - west + 2e-4) / step) + 1)
    lon = t.c + (np.arange(shape[1]) + 0.5) * step
    centre = buildings.iloc[[0]].geometry.centroid.to_crs(WGS84).x.iloc[0]
    clouds = np.broadcast_to((lon < centre).astype(np.uint8), shape).copy()
    blank = (
        rasterio.features.rasterize(
            buildings.iloc[[2]].geometry.buffer(2.0).to_crs(WGS84), out_shape=shape, transform=t
        )
        > 0
    )
    clouds[blank] = 255
    write_raster(tmp_path / "a_2017-06-16.tif", clouds, WGS84, t, nodata=255)
    write_raster(
        tmp_path / "b_2017-06-16.tif",
        np.ones((30, 30), np.uint8),
        UTM,
        Affine(10.0, 0.0, 505_100.0, 0.0, -10.0, 3_978_200.0),
    )  # all cloud, over building 3 only
    table = visibility(str(tmp_path / "*.tif"), buildings)
    visible = table["visible"].to_numpy()
    assert abs(visible[0] - 0.5) < 0.03  # the mask's pixels are 0.2 m: the split is exact to a sub-pixel
    assert visible[1] == pytest.approx(1.0, abs=1e-12)  # east of the cloud edge (a sum of area shares)
    assert visible[2] == 0.0  # from the second mask: the first knows nothing of it
    assert np.isnan(visible[3])


def test_visibility_agrees_with_the_simulator(tmp_path, monkeypatch):
    """The simulator's cloud rasters written as GeoTIFF masks (float opacity) give back Simulation.visibility,
    bit for bit once cast to its float32, in one window or many."""
    sim = stracker.simulate("small", seed=3)
    clouds = CloudField.from_simulation(sim)
    grid = clouds.grid
    for image, day in enumerate(sim.images["image_date"]):
        write_raster(
            tmp_path / f"opacity_{image:02d}.tif",
            clouds.opacity(image),
            grid.crs,
            grid.transform,
            tags={"IMAGE_DATE": f"{day:%Y-%m-%d}"},
            tiled=True,
            blockxsize=64,
            blockysize=64,
        )
    reads = []
    real_read = rasterio.io.DatasetReader.read

    def recording(self, *args, **kwargs):
        reads.append(kwargs.get("window"))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", recording)
    for window_px in (1024, 40):
        monkeypatch.setattr(stracker.imagery, "MASK_WINDOW_PX", window_px)
        reads.clear()
        table = visibility(str(tmp_path / "*.tif"), sim.buildings)
        assert table["image_date"].iloc[: len(sim.images)].tolist() == sim.images["image_date"].tolist()
        assert table["building_id"].iloc[:: len(sim.images)].tolist() == sim.buildings["building_id"].tolist()
        visible = table["visible"].to_numpy().reshape(len(sim.buildings), len(sim.images))
        np.testing.assert_array_equal(visible.astype(np.float32), sim.visibility)
        assert all(w is not None and w.width < grid.width and w.height < grid.height for w in reads)
        if window_px == 40:
            assert len(reads) > 4 * len(sim.images) and max(w.width for w in reads) < 80


def test_write_visibility(tmp_path, buildings):
    table = pd.DataFrame(
        {"building_id": [1, 1], "image_date": pd.to_datetime(["2017-06-16", "2017-07-01"]), "visible": [0.5, np.nan]}
    )
    path = write_visibility(table, tmp_path / "visibility.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    with pytest.raises(OutputExistsError):
        write_visibility(table, path)
    write_visibility(table.iloc[:1], path, overwrite=True)
    assert len(pd.read_parquet(path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visibility.parquet"]


# --- command line -----------------------------------------------------------------------------------------


def test_cli_chips(scenes, buildings, tmp_path):
    footprints = tmp_path / "buildings.gpkg"
    buildings.to_file(footprints, engine="pyogrio")
    out = tmp_path / "chips"
    args = ["chips", "--imagery", str(scenes / "*.tif"), "--footprints", str(footprints), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["chips"], summary["missing"], summary["scenes"], summary["image_dates"]) == (5, 3, 2, 2)
    assert summary["missing_by_reason"] == {"no_scene": 0, "outside": 2, "nodata": 1}
    assert pd.read_csv(out / MANIFEST_FILE)["file"].tolist() == [
        "1_2017-06-16.png",
        "1_2017-07-01.png",
        "2_2017-06-16.png",
        "2_2017-07-01.png",
        "3_2017-06-16.png",
    ]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and again.stderr.count("\n") == 1 and "--overwrite" in again.stderr
    small = CliRunner().invoke(
        cli, [*args, "--overwrite", "--size", "30", "--pixel", "1", "--bands", "3", "--resampling", "nearest"]
    )
    assert small.exit_code == 0, small.output
    assert "5 chips of 4 buildings from 2 scene(s) on 2 date(s)" in small.stdout
    assert "3 not cut (outside 2, nodata 1)" in small.stdout
    assert read_png(out / "1_2017-06-16.png").shape == (1, 30, 30)
    bad = CliRunner().invoke(cli, [*args, "--overwrite", "--bands", "x"])
    assert bad.exit_code == 2 and "--bands" in bad.stderr
    undated = tmp_path / "undated.tif"
    write_raster(undated, np.zeros((4, 4), np.uint8), UTM, Affine(1.0, 0.0, X0, 0.0, -1.0, Y1))
    failed = CliRunner().invoke(
        cli, ["chips", "--imagery", str(undated), "--footprints", str(footprints), "--out", str(tmp_path / "none")]
    )
    assert failed.exit_code == 1 and failed.stderr.startswith("stracker: error: no image date for 1 scene(s)")
    assert "Traceback" not in failed.output and failed.stderr.count("\n") == 1
    assert not (tmp_path / "none").exists()


def test_cli_visibility(tmp_path, buildings):
    footprints = tmp_path / "buildings.gpkg"
    buildings.to_file(footprints, engine="pyogrio")
    masks = tmp_path / "masks"
    masks.mkdir()
    t = Affine(10.0, 0.0, X0, 0.0, -10.0, Y1)
    classes = np.full((40, 40), 4, np.uint8)
    classes[:, :13] = 9  # cloud west of x = 505030: building 1 (505020 to 505030)
    write_raster(masks / "T37SDA_20170616_SCL.tif", classes, UTM, t)
    write_raster(masks / "T37SDA_20170701_SCL.tif", np.full((40, 40), 4, np.uint8), UTM, t)
    (tmp_path / "images.csv").write_text("file,image_date\nT37SDA_20170701_SCL.tif,2017-07-02\n")
    out = tmp_path / "visibility.parquet"
    args = [
        "visibility",
        "--masks",
        str(masks),
        "--footprints",
        str(footprints),
        "--cloud-values",
        "3,8,9,10",
        "--catalogue",
        str(tmp_path / "images.csv"),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["buildings"], summary["image_dates"], summary["unknown"]) == (8, 4, 2, 2)
    assert summary["mean_visible"] == {"2017-06-16": round(2 / 3, 4), "2017-07-02": 1.0}
    table = pd.read_parquet(out)
    assert list(table.columns) == ["building_id", "image_date", "visible"]
    np.testing.assert_allclose(table["visible"].to_numpy(), [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, np.nan])
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "exists; pass --overwrite" in again.stderr
    assert CliRunner().invoke(cli, [*args, "--overwrite", "--band", "1"]).exit_code == 0
    bad = CliRunner().invoke(cli, [*args, "--overwrite", "--band", "2"])
    assert bad.exit_code == 1 and "has 1 band(s), not band 2" in bad.stderr
