"""stracker.io: real files in (labels, footprints, catalogues, truth) and out (GeoPackage, GeoParquet), and the
bad-input table of issue 5: every bad file is a clear error of the package naming the rows and the fix, or a
report of rejected rows; never a silently smaller result."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Polygon, box

import stracker
from stracker.describe import describe
from stracker.errors import (
    FileFormatError,
    FootprintsError,
    InputFileNotFoundError,
    LabelsError,
    OutputExistsError,
    StrackerError,
    UnmatchedBuildingsError,
)
from stracker.io import read_images, read_table, read_truth, typed_ids

HEADER = "building_id,volunteer_id,before,after,destroyed,task"
ROWS = [
    "12,anna,2017-06-04,2017-06-16,yes,timeline",
    "12,ben,,2017-06-16,True,timeline",
    "13,anna,,2017-06-26,no,timeline",
    "13,ben,2017-06-04,2017-06-16,,compare",
    "14,carl,2017-06-16,2017-06-26,1,compare",
]


def _csv(tmp_path, rows=ROWS, header=HEADER, name="labels.csv", sep=",", bom=False):
    text = "\n".join([header, *rows]) + "\n"
    if sep != ",":
        text = text.replace(",", sep)
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def _footprints(ids=(12, 13, 14), crs="EPSG:32637"):
    geoms = [box(500000 + 20 * i, 3978000, 500010 + 20 * i, 3978010) for i in range(len(ids))]
    return gpd.GeoDataFrame({"building_id": list(ids), "name": [f"b{i}" for i in ids]}, geometry=geoms, crs=crs)


def _raises(error, call, *patterns):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    return message


@pytest.fixture(scope="module")
def sim():
    return stracker.simulate("small", seed=3)


# ------------------------------------------------------------------------------------------------- read_labels
def test_read_labels_csv_types_columns(tmp_path):
    labels = stracker.read_labels(_csv(tmp_path))
    assert labels["building_id"].dtype == np.int64
    assert labels["building_id"].tolist() == [12, 12, 13, 13, 14]
    assert labels["volunteer_id"].tolist() == ["anna", "ben", "anna", "ben", "carl"]
    assert str(labels["before"].dtype) == "datetime64[ns]" and labels["before"].isna().tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert labels["destroyed"].dtype == "boolean"
    assert labels["destroyed"].tolist() == [True, True, False, pd.NA, True]
    assert labels.index.name == "row" and labels.index.tolist() == [0, 1, 2, 3, 4]
    assert stracker.aggregate(labels).buildings.index.tolist() == [12, 13, 14]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_bom_and_other_separators_read_like_plain_csv(tmp_path, sep, bom):
    reference = stracker.read_labels(_csv(tmp_path, name="plain.csv"))
    other = stracker.read_labels(_csv(tmp_path, sep=sep, bom=bom, name="other.csv"))
    pd.testing.assert_frame_equal(other, reference)


def test_semicolon_csv_with_decimal_commas_elsewhere(tmp_path):
    header = HEADER + ";cloud"
    rows = [r.replace(",", ";") + ";0,5" for r in ROWS]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows, header=header.replace(",", ";")))
    assert labels["cloud"].tolist() == ["0,5"] * 5 and len(labels) == 5


def test_parquet_labels_keep_their_types(tmp_path, sim):
    path = tmp_path / "labels.parquet"
    sim.labels.to_parquet(path, index=False)
    labels = stracker.read_labels(path)
    assert labels["building_id"].dtype == np.int64 and labels["task"].tolist() == sim.labels["task"].tolist()
    pd.testing.assert_series_equal(labels["after"], sim.labels["after"], check_names=False)


def test_id_rule_digits_become_int_other_text_stays_text():
    assert typed_ids(pd.Series(["12", " 13 ", "-4"])).tolist() == [12, 13, -4]
    for text in (["12", "007"], ["12", "b7"], ["1.5", "2"], ["12", "99999999999999999999"]):
        out = typed_ids(pd.Series(text))
        assert out.tolist() == [t.strip() for t in text], text
    assert typed_ids(pd.Series([3.0, 4.0])).dtype == np.int64
    assert typed_ids(pd.Series([3.5, 4.0])).dtype == np.float64


def test_csv_ids_mixing_12_and_012_stay_text_and_name_the_type_mismatch(tmp_path):
    rows = [r.replace("14,carl", "014,carl") for r in ROWS]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows))
    assert labels["building_id"].tolist() == ["12", "12", "13", "13", "014"]
    consensus = stracker.aggregate(labels)
    _raises(
        UnmatchedBuildingsError,
        lambda: consensus.to_geodataframe(_footprints()),
        "differ in type",
        "integers on one side, text on the other",
    )


def test_text_ids_in_geojson_join_integer_ids_in_csv(tmp_path):
    path = tmp_path / "footprints.geojson"
    frame = _footprints()
    frame["building_id"] = frame["building_id"].astype(str)  # a GeoJSON written with "12", not 12
    frame.to_file(path)
    assert pyogrio.read_info(path)["dtypes"][0] == "object"
    footprints = stracker.read_footprints(path)
    assert footprints["building_id"].tolist() == [12, 13, 14]
    layer = stracker.aggregate(stracker.read_labels(_csv(tmp_path))).to_geodataframe(footprints)
    assert layer["n_labels"].tolist() == [2, 2, 1]


def test_in_memory_ids_mixing_12_and_str_12_are_refused():
    table = pd.DataFrame(
        {
            "building_id": [12, "12"],
            "volunteer_id": [1, 2],
            "before": pd.NaT,
            "after": pd.to_datetime(["2017-06-16"] * 2),
            "destroyed": [True, True],
            "task": "compare",
        },
        index=["r0", "r1"],
    )
    _raises(LabelsError, lambda: stracker.aggregate(table), "mixes integers and strings", r"astype\(str\)")


# ------------------------------------------------------------------------------------------------- bad labels
def test_missing_column(tmp_path):
    path = _csv(
        tmp_path,
        header="building_id,volunteer_id,before,after,task",
        rows=[",".join(r.split(",")[:4] + r.split(",")[5:]) for r in ROWS],
    )
    _raises(LabelsError, lambda: stracker.read_labels(path), str(path), "'destroyed'", "rename")


def test_misspelled_column_suggests_the_closest_name(tmp_path):
    path = _csv(tmp_path, header=HEADER.replace("volunteer_id", "volunter_id"))
    _raises(LabelsError, lambda: stracker.read_labels(path), "'volunteer_id'", "the table has 'volunter_id'")


def test_unparsable_dates_name_rows(tmp_path):
    rows = [*ROWS[:2], ROWS[2].replace("2017-06-26", "26th June"), *ROWS[3:]]
    _raises(
        LabelsError,
        lambda: stracker.read_labels(_csv(tmp_path, rows=rows)),
        r"'after' could not be read as dates in 1 row\(s\) \[2\]",
        "26th June",
        "ISO",
    )


def test_day_month_order_refused(tmp_path):
    rows = [ROWS[0].replace("2017-06-04", "04/06/2017"), *ROWS[1:]]
    _raises(
        LabelsError,
        lambda: stracker.read_labels(_csv(tmp_path, rows=rows)),
        "'before'",
        "day and month",
        r"\[0\]",
        "year-month-day",
    )


def test_timezone_aware_date_strings_refused(tmp_path):
    rows = [ROWS[0].replace("2017-06-16", "2017-06-16T00:00:00+03:00"), *ROWS[1:]]
    _raises(LabelsError, lambda: stracker.read_labels(_csv(tmp_path, rows=rows)), "timezone-aware", r"\[0\]")


def test_timezone_aware_parquet_column_refused(tmp_path, sim):
    table = sim.labels.copy()
    table["after"] = table["after"].dt.tz_localize("UTC")
    table.to_parquet(tmp_path / "tz.parquet")
    _raises(
        LabelsError, lambda: stracker.read_labels(tmp_path / "tz.parquet"), "'after' is timezone-aware", "tz_localize"
    )


def test_dates_out_of_range_are_named_not_an_overflow(tmp_path):
    rows = [ROWS[0].replace("2017-06-04", "0001-06-04"), *ROWS[1:]]
    _raises(LabelsError, lambda: stracker.read_labels(_csv(tmp_path, rows=rows)), "outside the years", r"\[0\]")


def test_dates_not_in_the_image_catalogue(tmp_path):
    labels = stracker.read_labels(_csv(tmp_path))
    images = tmp_path / "images.csv"
    images.write_text("image_date,cloud_cover\n2017-06-04,0.1\n2017-06-16,0.2\n")
    catalogue = read_images(images)
    _raises(
        LabelsError,
        lambda: stracker.aggregate(labels, catalogue["image_date"]),
        "'after' holds dates not in the image catalogue",
        r"\[2, 4\]",
        "2017-06-26",
    )


def test_before_not_earlier_than_after(tmp_path):
    rows = [*ROWS[:3], ROWS[3].replace("2017-06-04,2017-06-16", "2017-06-16,2017-06-16"), ROWS[4]]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows))
    _raises(
        LabelsError, lambda: stracker.aggregate(labels), "'before' is not earlier than 'after'", r"1 row\(s\) \[3\]"
    )


def test_destroyed_not_an_answer(tmp_path):
    rows = [ROWS[0].replace(",yes,", ",maybe,"), *ROWS[1:]]
    _raises(LabelsError, lambda: stracker.read_labels(_csv(tmp_path, rows=rows)), "'destroyed'", "maybe", r"\[0\]")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n"], ids=["zero-bytes", "bom-only", "blank"])
def test_empty_csv(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    _raises(FileFormatError, lambda: stracker.read_labels(path), "empty")


def test_header_only_csv(tmp_path):
    _raises(LabelsError, lambda: stracker.read_labels(_csv(tmp_path, rows=[])), "no answers")


def test_empty_parquet_file(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    _raises(FileFormatError, lambda: stracker.read_labels(tmp_path / "empty.parquet"), "empty")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "\n12,Jos\xe9,,2017-06-16,yes,timeline\n").encode("latin-1"))
    _raises(FileFormatError, lambda: stracker.read_labels(path), "not UTF-8", "CSV UTF-8")


def test_ragged_csv(tmp_path):
    path = _csv(tmp_path, rows=[*ROWS, "15,dan,2017-06-04,2017-06-16,yes,timeline,extra,more"])
    _raises(
        FileFormatError, lambda: stracker.read_labels(path), r"1 row\(s\) \[5\] have more fields than the header.s 6"
    )


def test_unknown_label_format(tmp_path):
    path = tmp_path / "labels.xlsx"
    path.write_bytes(b"PK")
    _raises(FileFormatError, lambda: stracker.read_labels(path), "CSV", "Parquet", "'.xlsx'")


# ------------------------------------------------------------------------------------------------- footprints
@pytest.mark.parametrize(
    "suffix, driver",
    [
        (".gpkg", "GPKG"),
        (".geojson", "GeoJSON"),
        (".shp", "ESRI Shapefile"),
        (".fgb", "FlatGeobuf"),
        (".parquet", None),
    ],
)
def test_read_footprints_formats(tmp_path, suffix, driver):
    frame = _footprints()
    path = tmp_path / f"footprints{suffix}"
    if driver is None:
        frame.to_parquet(path)
    else:
        frame.rename(columns={"building_id": "bid"}).to_file(path, driver=driver)
    footprints = stracker.read_footprints(path, id_column="building_id" if driver is None else "bid")
    assert len(footprints) == 3 and footprints.crs.to_epsg() == 32637
    assert sorted(footprints.iloc[:, 0].tolist()) == [12, 13, 14]  # FlatGeobuf stores features in index order


def test_shapefile_cut_field_name_is_explained(tmp_path):
    path = tmp_path / "footprints.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL says it cut the field name
        _footprints().to_file(path)
    _raises(FootprintsError, lambda: stracker.read_footprints(path), "10 characters", "id_column='building_i'")


def test_duplicate_building_ids_name_rows(tmp_path):
    path = tmp_path / "dup.gpkg"
    _footprints(ids=(12, 13, 12, 14)).to_file(path)
    _raises(
        FootprintsError,
        lambda: stracker.read_footprints(path),
        str(path),
        r"repeat in 2 row\(s\) \[0, 2\]",
        r"building_id \[12, 12\]",
        "dissolve",
    )


def test_ids_equal_after_typing_are_duplicates(tmp_path):
    path = tmp_path / "dup.geojson"
    _footprints(ids=("12", " 12", "13")).to_file(path)
    _raises(FootprintsError, lambda: stracker.read_footprints(path), r"\[0, 1\]")


def test_null_ids(tmp_path):
    path = tmp_path / "null.gpkg"
    _footprints(ids=(12.0, None, 14.0)).to_file(path)
    _raises(FootprintsError, lambda: stracker.read_footprints(path), r"missing in 1 row\(s\) \[1\]")


def test_invalid_geometry_names_rows_and_fix(tmp_path):
    frame = _footprints()
    frame.loc[1, "geometry"] = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # a bow tie
    path = tmp_path / "invalid.gpkg"
    frame.to_file(path)
    _raises(
        FootprintsError,
        lambda: stracker.read_footprints(path),
        r"invalid geometries in 1 row\(s\) \[1\]",
        r"building_id \[13\]",
        "Self-intersection",
        "make_valid",
    )


@pytest.mark.parametrize("geometry", [None, Polygon()], ids=["null", "empty"])
def test_null_or_empty_geometry(tmp_path, geometry):
    frame = _footprints()
    frame.loc[2, "geometry"] = geometry
    path = tmp_path / "missing.gpkg"
    frame.to_file(path)
    _raises(FootprintsError, lambda: stracker.read_footprints(path), r"null or empty geometries in 1 row\(s\) \[2\]")


def test_missing_crs(tmp_path):
    path = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # geopandas warns that the file will have no CRS: that is the point
        _footprints().set_crs(None, allow_override=True).rename(columns={"building_id": "bid"}).to_file(path)
    _raises(
        FootprintsError,
        lambda: stracker.read_footprints(path, id_column="bid"),
        "no CRS",
        ".prj",
        "set_crs",
        "ogr2ogr -a_srs",
    )


def test_zero_feature_layer(tmp_path):
    path = tmp_path / "none.gpkg"
    _footprints().iloc[:0].to_file(path)
    _raises(FootprintsError, lambda: stracker.read_footprints(path), "no features")


def test_zero_byte_and_garbage_vector_files(tmp_path):
    (tmp_path / "zero.gpkg").write_bytes(b"")
    _raises(FileFormatError, lambda: stracker.read_footprints(tmp_path / "zero.gpkg"), "empty")
    (tmp_path / "junk.geojson").write_text("not json")
    _raises(FileFormatError, lambda: stracker.read_footprints(tmp_path / "junk.geojson"), "not a file stracker reads")


def test_layer_choice(tmp_path, sim):
    path = tmp_path / "two.gpkg"
    _footprints().to_file(path, layer="a")
    _footprints().to_file(path, layer="b")
    _raises(FileFormatError, lambda: stracker.read_footprints(path), "several layers", "layer=")
    _raises(FileFormatError, lambda: stracker.read_footprints(path, layer="c"), "no layer 'c'")
    assert len(stracker.read_footprints(path, layer="b")) == 3


def test_plain_parquet_is_not_footprints(tmp_path):
    pd.DataFrame({"building_id": [1]}).to_parquet(tmp_path / "t.parquet")
    _raises(FootprintsError, lambda: stracker.read_footprints(tmp_path / "t.parquet"), "GeoParquet")


# ------------------------------------------------------------------------------------------------- join
def test_unknown_buildings_error_by_default_names_them(tmp_path):
    consensus = stracker.aggregate(stracker.read_labels(_csv(tmp_path)))
    with pytest.raises(UnmatchedBuildingsError) as info:
        consensus.to_geodataframe(_footprints(ids=(12, 13)))
    assert info.value.building_ids == [14]
    assert "1 building(s)" in str(info.value) and "[14]" in str(info.value) and "on_unknown='report'" in str(info.value)


def test_unknown_buildings_report_keeps_every_footprint_and_lists_them(tmp_path):
    consensus = stracker.aggregate(stracker.read_labels(_csv(tmp_path)))
    layer = consensus.to_geodataframe(_footprints(ids=(12, 13, 20)), on_unknown="report")
    assert layer["building_id"].tolist() == [12, 13, 20]
    assert layer["n_labels"].tolist() == [2, 2, 0]
    assert layer["p_destroyed"].isna().tolist() == [False, False, True]
    assert layer.attrs["unmatched_building_ids"] == [14]
    assert consensus.to_geodataframe(_footprints(), on_unknown="report").attrs["unmatched_building_ids"] == []
    _raises(FootprintsError, lambda: consensus.to_geodataframe(_footprints(), on_unknown="drop"), "on_unknown")


# ------------------------------------------------------------------------------------------------- writers
@pytest.fixture(scope="module")
def written(tmp_path_factory, sim):
    folder = tmp_path_factory.mktemp("written")
    consensus = stracker.aggregate(sim.labels, sim.image_dates)
    consensus.to_file(folder / "c.gpkg", sim.buildings, images=sim.images)
    consensus.to_file(folder / "c.parquet", sim.buildings, images=sim.images)
    return folder, consensus


def test_geopackage_layers_crs_and_date_fields(written, sim):
    folder, consensus = written
    path = folder / "c.gpkg"
    assert pyogrio.list_layers(path)[:, 0].tolist() == ["buildings", "volunteers", "images", "states"]
    info = pyogrio.read_info(path, layer="buildings")
    assert info["crs"] == "EPSG:32637" and info["features"] == len(sim.buildings)
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    for column in ("destroyed_after", "destroyed_by", "ci90_start", "ci90_end", "destroyed_on"):
        assert types[column] == "OFTDateTime", column
    images = pyogrio.read_info(path, layer="images")
    assert dict(zip(images["fields"], images["ogr_types"], strict=True))["image_date"] == "OFTDateTime"
    assert pyogrio.list_layers(path)[1:, 1].tolist() == [None, None, None]  # attribute tables
    table = pyogrio.read_dataframe(path, layer="images", read_geometry=False)
    assert {"image_index", "image_date", "n_destroyed_by", "cloud_cover"} <= set(table.columns)
    assert table["n_destroyed_by"].sum() == consensus.buildings["destroyed_by"].notna().sum()


def test_ogrinfo_reads_the_geopackage(written):
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI"):
            pytest.fail("ogrinfo (Debian package gdal-bin) is missing; .ci/run installs it")
        pytest.skip("ogrinfo (Debian package gdal-bin) is not installed")
    folder, _ = written
    done = subprocess.run(["ogrinfo", "-so", "-al", str(folder / "c.gpkg")], capture_output=True, text=True, check=True)
    out = done.stdout
    names = re.findall(r"^Layer name: (\w+)", out, flags=re.M)
    assert names == ["buildings", "volunteers", "images", "states"]
    assert re.search(r'ID\["EPSG",32637\]\]\s*$', out.split("Layer name: volunteers")[0], flags=re.M)
    for field in ("destroyed_by", "ci90_start", "ci90_end", "destroyed_after", "image_date"):
        assert re.search(rf"^{field}: DateTime", out, flags=re.M), field
    assert re.search(r"^p_destroyed: Real", out, flags=re.M)
    assert "Warning" not in done.stderr


def test_geoparquet_and_siblings(written, sim):
    folder, _ = written
    layer = gpd.read_parquet(folder / "c.parquet")
    assert layer.crs.to_epsg() == 32637 and len(layer) == len(sim.buildings)
    assert str(layer["destroyed_by"].dtype).startswith("datetime64")
    for name in ("volunteers", "images", "states"):
        assert (folder / f"c.{name}.parquet").is_file()


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_consensus_round_trip(written, suffix):
    folder, consensus = written
    again = stracker.read_consensus(folder / f"c{suffix}")
    np.testing.assert_array_equal(again.posterior, consensus.posterior)
    pd.testing.assert_index_equal(again.image_dates, consensus.image_dates)
    pd.testing.assert_frame_equal(again.buildings, consensus.buildings, check_dtype=False)
    assert (again.method, again.n_iter, again.converged) == (consensus.method, consensus.n_iter, consensus.converged)
    np.testing.assert_allclose(again.prior, consensus.prior)


def test_writes_without_footprints_and_refuses_to_clobber(tmp_path, sim):
    consensus = stracker.aggregate(sim.labels, method="majority")
    path = tmp_path / "c.gpkg"
    written = consensus.to_file(path)
    assert len(written) == len(consensus.buildings)
    assert pyogrio.list_layers(path)[:, 1].tolist() == [None] * 4
    stamp = path.stat().st_mtime_ns
    _raises(OutputExistsError, lambda: consensus.to_file(path), "exists", "overwrite=True")
    assert path.stat().st_mtime_ns == stamp
    consensus.to_file(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.gpkg"]  # no temporary file left
    _raises(FileFormatError, lambda: consensus.to_file(tmp_path / "c.shp"), "GeoPackage", "GeoParquet")


def test_failed_write_leaves_no_output(tmp_path, sim):
    consensus = stracker.aggregate(sim.labels, method="majority")
    with pytest.raises(UnmatchedBuildingsError):
        consensus.to_file(tmp_path / "c.gpkg", sim.buildings.iloc[:10])
    assert list(tmp_path.iterdir()) == []


def test_read_consensus_of_a_plain_footprint_file(tmp_path, sim):
    sim.buildings.to_file(tmp_path / "b.gpkg", layer="buildings")
    _raises(
        FileFormatError, lambda: stracker.read_consensus(tmp_path / "b.gpkg"), "lacks the layer", "stracker aggregate"
    )


# ------------------------------------------------------------------------------------------------- truth, info
def test_read_truth_from_csv_and_footprints(tmp_path, sim):
    path = tmp_path / "truth.csv"
    sim.buildings[["building_id", "destroyed_on"]].to_csv(path, index=False, date_format="%Y-%m-%d")
    truth = read_truth(path)
    assert truth.index.dtype == np.int64 and truth["destroyed_on"].isna().sum() == sim.truth.isna().sum()
    sim.buildings.to_file(tmp_path / "b.gpkg", layer="buildings")
    pd.testing.assert_series_equal(read_truth(tmp_path / "b.gpkg")["destroyed_on"], truth["destroyed_on"])
    (tmp_path / "bad.csv").write_text("building_id,destroyed\n1,2017-06-01\n")
    _raises(LabelsError, lambda: read_truth(tmp_path / "bad.csv"), "'destroyed_on'", "the table has 'destroyed'")


def test_read_table_drops_geometry(written):
    folder, _ = written
    assert "geometry" not in read_table(folder / "c.parquet").columns
    assert "geometry" not in read_table(folder / "c.gpkg").columns


def test_describe_kinds(tmp_path, written, sim):
    folder, _ = written
    assert describe(folder / "c.gpkg")["kind"] == "consensus"
    assert describe(folder / "c.parquet")["kind"] == "consensus"
    assert describe(_csv(tmp_path))["kind"] == "labels"
    bad = describe(_csv(tmp_path, rows=[ROWS[0].replace("yes", "maybe")], name="bad.csv"))
    assert bad["kind"] == "labels" and "maybe" in bad["problem"]
    sim.buildings.to_file(tmp_path / "b.gpkg", layer="buildings")
    info = describe(tmp_path / "b.gpkg")
    assert info["kind"] == "footprints" and info["layers"][0]["crs"] == "EPSG:32637"
    with pytest.raises(StrackerError):
        describe(tmp_path)  # a folder that is not a simulation


# ------------------------------------------------------------------------------- bad input of issue 17
def test_csv_header_naming_a_column_twice_is_refused_naming_both_positions(tmp_path):
    # pandas would read the second as 'destroyed.1' and use the first without a word
    path = _csv(
        tmp_path,
        header="building_id,volunteer_id,before,after,destroyed,task,destroyed ",
        rows=[r + ",no" for r in ROWS],
    )
    _raises(
        FileFormatError,
        lambda: stracker.read_labels(path),
        str(path),
        r"'destroyed' at columns \[5, 7\]",
        "rename or remove",
    )


def test_in_memory_table_with_a_contract_column_twice_is_refused():
    labels = pd.DataFrame(
        [[1, 1, None, "2017-06-04", True, False]],
        columns=["building_id", "volunteer_id", "before", "after", "destroyed", "destroyed"],
    )
    _raises(LabelsError, lambda: stracker.encode_labels(labels, task="compare"), r"'destroyed' at positions \[5, 6\]")


def test_rows_cut_short_are_refused_every_one_named(tmp_path):
    rows = [*ROWS, "15,dan,2017-06-04,2017-06-16,yes", "16,dan,2017-06-04,2017-06-16,no,compare", "17,eve,2017"]
    path = _csv(tmp_path, rows=rows)
    _raises(
        FileFormatError,
        lambda: stracker.read_labels(path),
        str(path),
        r"2 row\(s\) \[5, 7\] have fewer fields than the header's 6",
        "can't-tell",
    )


def test_an_empty_last_field_is_a_cant_tell_answer_not_a_short_row(tmp_path):
    path = _csv(
        tmp_path, rows=[*ROWS, "15,dan,2017-06-04,2017-06-16,,compare", "16,dan,,2017-06-16,yes,"], header=HEADER
    )
    _raises(LabelsError, lambda: stracker.read_labels(path).pipe(stracker.encode_labels), r"unknown task kind")
    labels = stracker.read_labels(_csv(tmp_path, rows=[*ROWS, "15,dan,2017-06-04,2017-06-16,,compare"]))
    assert labels["destroyed"].isna().tolist() == [False, False, False, True, False, True]


def test_blank_lines_are_skipped_not_rows(tmp_path):
    path = _csv(tmp_path, rows=[ROWS[0], "", "   ", *ROWS[1:], ""])
    labels = stracker.read_labels(path)
    assert len(labels) == len(ROWS) and labels.index.tolist() == list(range(len(ROWS)))


@pytest.mark.parametrize("spelling", ["NA", "None", "null", "NULL", "nan", "N/A", " #N/A "])
@pytest.mark.parametrize("column", ["building_id", "volunteer_id"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ids_spelled_as_a_missing_value_are_named_as_the_text_seen(tmp_path, spelling, column, suffix):
    table = pd.read_csv(_csv(tmp_path), dtype=str, keep_default_na=False)
    table.loc[3, column] = spelling
    path = tmp_path / f"spelled{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    message = _raises(
        LabelsError,
        lambda: stracker.read_labels(path),
        str(path),
        f"{column} holds the text '{re.escape(spelling.strip())}'",
        r"1 row\(s\) \[3\]",
        "fill in the real ids",
    )
    assert "is null" not in message and "is missing" not in message


def test_missing_value_spellings_in_destroyed_are_cant_tell(tmp_path):
    rows = [
        ROWS[0],
        "12,ben,,2017-06-16,NA,timeline",
        "13,anna,,2017-06-26,null,timeline",
        "13,ben,2017-06-04,2017-06-16,N/A,compare",
    ]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows))
    assert labels["destroyed"].tolist() == [True, pd.NA, pd.NA, pd.NA]


def test_csv_cells_are_read_as_written_other_columns_keep_their_text(tmp_path):
    path = _csv(tmp_path, header=HEADER + ",note", rows=[r + ",NA" for r in ROWS[:2]] + [ROWS[2] + ", 007"])
    labels = stracker.read_labels(path)
    assert labels["note"].isna().tolist() == [True, True, False] and labels["note"].iloc[2] == "007"
    assert labels["volunteer_id"].tolist() == ["anna", "ben", "anna"]


@pytest.mark.parametrize("ids", [[12, 12, 13, 13, 14], ["12", "12", "13", "13", "14"], ["b", "b", "a", "a", "c"]])
def test_parquet_dictionary_ids_are_decoded(tmp_path, ids):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(stracker.read_labels(_csv(tmp_path)), preserve_index=False)
    for name, values in (("building_id", ids), ("volunteer_id", ["anna", "ben", "anna", "ben", "carl"])):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values).dictionary_encode())
    path = tmp_path / "dictionary.parquet"
    pq.write_table(table, path)

    assert pq.read_schema(path).field("volunteer_id").type == pa.dictionary(pa.int32(), pa.string())
    labels = stracker.read_labels(path)
    expected = [12, 12, 13, 13, 14] if ids[0] != "b" else ids
    assert labels["building_id"].tolist() == expected
    assert labels["volunteer_id"].tolist() == ["anna", "ben", "anna", "ben", "carl"]
    consensus = stracker.aggregate(labels)
    assert consensus.buildings["n_labels"].sum() == 5


def test_in_memory_categorical_ids_encode_like_their_values(tmp_path):
    labels = stracker.read_labels(_csv(tmp_path))
    plain = stracker.encode_labels(labels)
    labels["building_id"] = pd.Categorical(labels["building_id"], categories=[99, 14, 13, 12])  # unused, unsorted
    labels["volunteer_id"] = labels["volunteer_id"].astype("category")
    enc = stracker.encode_labels(labels)
    assert enc.building_ids.tolist() == [12, 13, 14] and enc.volunteer_ids.tolist() == ["anna", "ben", "carl"]
    np.testing.assert_array_equal(enc.building, plain.building)
    np.testing.assert_array_equal(enc.volunteer, plain.volunteer)


def test_a_date_missing_from_the_catalogue_names_both_files(tmp_path):
    labels_path = _csv(tmp_path)
    images_path = tmp_path / "catalogue.csv"
    images_path.write_text("image_date\n2017-06-04\n2017-06-16\n")  # lacks 2017-06-26
    labels, images = stracker.read_labels(labels_path), read_images(images_path)
    _raises(
        LabelsError,
        lambda: stracker.aggregate(labels, images["image_date"]),
        f"^{re.escape(str(labels_path))}: 'after'",
        re.escape(f"(read from {images_path})"),
        r"2 row\(s\) \[2, 4\]",
        "2017-06-26",
    )


def test_cli_names_both_files_when_a_date_is_missing_from_images(tmp_path):
    from click.testing import CliRunner

    from stracker.cli import cli

    labels_path = _csv(tmp_path)
    images_path = tmp_path / "catalogue.csv"
    images_path.write_text("image_date\n2017-06-04\n2017-06-16\n")
    result = CliRunner().invoke(
        cli, ["aggregate", str(labels_path), "--images", str(images_path), "--out", str(tmp_path / "c.gpkg")]
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert str(labels_path) in result.output and str(images_path) in result.output
    assert not (tmp_path / "c.gpkg").exists()


# ------------------------------------------------------------------------------------------ image dates
TIMES_HEADER = "building_id,volunteer_id,before,after,destroyed,task"
TIMES_ROWS = [  # two captures on 2017-06-16: morning and afternoon are two images
    "1,anna,2017-06-04,2017-06-16 07:30,no,compare",
    "1,ben,2017-06-16 07:30,2017-06-16T15:45:00,yes,compare",
    "1,carl,2017-06-16 07:30,2017-06-16 15:45,yes,compare",
    "2,anna,,2017-06-16 15:45,no,compare",
    "2,ben,2017-06-04,2017-06-16 15:45,no,compare",
]


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_two_captures_on_one_day_are_two_images_through_files(tmp_path, suffix):
    labels = stracker.read_labels(_csv(tmp_path, rows=TIMES_ROWS, header=TIMES_HEADER))
    consensus = stracker.aggregate(labels, method="majority")  # em's prior: an 8-hour state is unlikely a priori
    assert [str(d) for d in consensus.image_dates] == [
        "2017-06-04 00:00:00",
        "2017-06-16 07:30:00",
        "2017-06-16 15:45:00",
    ]
    columns = consensus.state_probabilities().columns.tolist()
    assert columns == ["2017-06-04T00:00:00", "2017-06-16T07:30:00", "2017-06-16T15:45:00", "intact"]
    assert consensus.buildings.loc[1, "destroyed_by"] == pd.Timestamp("2017-06-16 15:45")
    out = tmp_path / f"consensus{suffix}"
    consensus.to_file(out)  # crashed before: two state columns named '2017-06-16'
    back = stracker.read_consensus(out)
    pd.testing.assert_index_equal(back.image_dates, consensus.image_dates)
    np.testing.assert_allclose(back.posterior, consensus.posterior)
    pd.testing.assert_series_equal(back.buildings["destroyed_by"], consensus.buildings["destroyed_by"])


def test_dates_without_times_stay_dates(tmp_path):
    consensus = stracker.aggregate(stracker.read_labels(_csv(tmp_path)))
    assert consensus.state_probabilities().columns.tolist() == ["2017-06-04", "2017-06-16", "2017-06-26", "intact"]


def test_a_date_given_without_its_time_of_day_is_explained(tmp_path):
    rows = [*TIMES_ROWS, "3,anna,2017-06-04,2017-06-16,yes,compare"]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows, header=TIMES_HEADER))
    catalogue = pd.to_datetime(["2017-06-04", "2017-06-16 07:30", "2017-06-16 15:45"], format="ISO8601")
    _raises(
        LabelsError,
        lambda: stracker.aggregate(labels, catalogue),
        r"\[5\]",
        r"The catalogue has \['2017-06-16T07:30:00', '2017-06-16T15:45:00'\] on 2017-06-16",
        "same time of day",
    )


def test_more_than_32767_image_timestamps_use_wider_indices(tmp_path):
    n = 40_000  # one capture a minute: beyond int16
    times = pd.date_range("2017-06-01", periods=n, freq="min")
    rng = np.random.default_rng(5)
    lo = np.concatenate([np.arange(n - 1), rng.integers(0, n - 1, 400)])  # every image is seen
    hi = np.minimum(lo + np.concatenate([np.ones(n - 1, int), rng.integers(1, 40_000, 400)]), n - 1)
    lo[-50:], hi[-50:] = 32_760, 32_770  # straddling the int16 limit
    m = lo.size
    labels = pd.DataFrame(
        {
            "building_id": np.arange(m) % 9,
            "volunteer_id": np.arange(m) % 7,
            "before": times[lo].strftime("%Y-%m-%d %H:%M"),
            "after": times[hi].strftime("%Y-%m-%dT%H:%M"),
            "destroyed": rng.random(m) < 0.5,
            "task": "compare",
        }
    )
    path = tmp_path / "minutes.csv"
    labels.to_csv(path, index=False)
    read = stracker.read_labels(path)
    enc = stracker.encode_labels(read, times)
    assert enc.lo.dtype == np.int32 and enc.hi.dtype == np.int32
    np.testing.assert_array_equal(enc.lo, lo)
    np.testing.assert_array_equal(enc.hi, hi)
    inferred = stracker.encode_labels(read)  # the catalogue of the dates seen: all 40,000 of them
    assert inferred.n_images == n and (inferred.lo < inferred.hi).all()
    np.testing.assert_array_equal(inferred.hi, hi)
    consensus = stracker.aggregate(enc, method="majority")
    assert consensus.posterior.shape == (9, n + 1)
    assert len(set(consensus.state_probabilities().columns)) == n + 1


def test_a_table_of_only_cant_tell_answers_warns(tmp_path):
    rows = [r.rsplit(",", 2)[0] + ",," + r.rsplit(",", 1)[1] for r in ROWS]
    labels = stracker.read_labels(_csv(tmp_path, rows=rows))
    assert labels["destroyed"].isna().all()
    with pytest.warns(stracker.errors.UninformativeAnswersWarning, match="every one of the 5 answers is can't tell"):
        consensus = stracker.aggregate(labels)
    assert np.ptp(consensus.buildings["p_destroyed"].to_numpy()) < 1e-9  # the prior alone, for every building
    with warnings.catch_warnings():
        warnings.simplefilter("error", stracker.errors.UninformativeAnswersWarning)
        stracker.aggregate(stracker.read_labels(_csv(tmp_path)))  # one told answer is enough: no warning


@pytest.mark.parametrize("text", ["2017-06-16 10:00:00 UTC", "2017-06-16T10:00Z", "2017-06-16T10:00:00+02:00"])
def test_zoned_date_texts_are_refused(tmp_path, text):
    path = _csv(tmp_path, rows=[ROWS[0], f"12,ben,,{text},True,timeline"])
    _raises(LabelsError, lambda: stracker.read_labels(path), "timezone-aware", r"\[1\]")


@pytest.mark.parametrize("text", ["26th June", "1497571200", "June 16, 2017", "2017-16-06"])
def test_dates_that_are_not_iso_are_refused(tmp_path, text):
    path = _csv(tmp_path, rows=[ROWS[0], f'12,ben,,"{text}",True,timeline'])
    _raises(LabelsError, lambda: stracker.read_labels(path), "could not be read as dates", r"\[1\]", "ISO")


def test_parquet_labels_keep_the_index_pandas_stored(tmp_path):
    labels = stracker.read_labels(_csv(tmp_path)).set_axis(pd.Index([0, 1, 2, 13, 15], name="row"))
    labels.to_parquet(tmp_path / "indexed.parquet")
    back = stracker.read_labels(tmp_path / "indexed.parquet")
    assert back.index.tolist() == [0, 1, 2, 13, 15] and back.index.name == "row" and "row" not in back.columns


@pytest.mark.parametrize(
    "reader,name",
    [
        ("aggregate", "answers.csv"),
        ("read_labels", "answers.parquet"),
        ("read_table", "table.gpkg"),
        ("read_footprints", "buildings.gpkg"),
        ("read_images", "images.csv"),
        ("read_truth", "truth.parquet"),
        ("read_gold", "gold.csv"),
        ("read_visibility", "visibility.npy"),
    ],
)
def test_a_missing_input_is_named_with_where_it_was_looked_for(reader, name, tmp_path, monkeypatch):
    import stracker.io

    monkeypatch.chdir(tmp_path)
    read = getattr(stracker, reader, None) or getattr(stracker.io, reader)
    with pytest.raises(InputFileNotFoundError) as caught:
        read(name)
    assert isinstance(caught.value, FileNotFoundError)  # what callers catching the builtin expect
    message = str(caught.value)
    assert message.startswith(f"{name} does not exist") and str(tmp_path) in message
    with pytest.raises(InputFileNotFoundError, match="does not exist; check the path"):
        read(tmp_path / name)  # an absolute path needs no directory named
