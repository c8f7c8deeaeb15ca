"""Tests of stracker.world.footprints: counts, validity, no overlaps, layout, determinism, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from stracker.errors import ScenarioError
from stracker.scenario import CityScenario, Scenario
from stracker.world.footprints import DISTRICT_NAMES, make_footprints


@pytest.fixture(scope="module")
def city() -> CityScenario:
    return Scenario.preset("small", seed=0).city


@pytest.fixture(scope="module")
def buildings(city):
    return make_footprints(city, np.random.default_rng(0))


def _no_overlaps(geoms: np.ndarray) -> bool:
    """True if no two geometries intersect (not even touch): only self-pairs come back from the tree."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    return len(left) == len(geoms) and bool((left == right).all())


def _orientation_deg(geoms: np.ndarray) -> np.ndarray:
    """Direction of each footprint's first edge, modulo 90 degrees (its street grid's orientation)."""
    ring = shapely.get_exterior_ring(geoms)
    p0 = shapely.get_coordinates(shapely.get_point(ring, 0))
    p1 = shapely.get_coordinates(shapely.get_point(ring, 1))
    return np.degrees(np.arctan2(p1[:, 1] - p0[:, 1], p1[:, 0] - p0[:, 0])) % 90.0


def test_count_ids_and_columns(buildings, city):
    assert len(buildings) == city.n_buildings
    assert list(buildings.columns) == ["building_id", "district", "district_id", "area_m2", "geometry"]
    assert isinstance(buildings.index, pd.RangeIndex)
    assert buildings.index.start == 0 and buildings.index.step == 1
    assert buildings["building_id"].dtype == np.int64
    np.testing.assert_array_equal(buildings["building_id"].to_numpy(), np.arange(city.n_buildings))
    assert buildings["area_m2"].dtype == np.float64
    assert pd.api.types.is_integer_dtype(buildings["district_id"])
    assert pd.api.types.is_string_dtype(buildings["district"]) or buildings["district"].dtype == object


def test_crs_is_utm_37n(buildings):
    assert buildings.crs.to_epsg() == 32637


def test_geometries_valid_polygons(buildings):
    geoms = buildings.geometry.values
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all()
    np.testing.assert_allclose(buildings["area_m2"], shapely.area(geoms))


def test_no_two_footprints_overlap_or_touch(buildings):
    assert _no_overlaps(buildings.geometry.values)


def test_districts_are_a_street_apart(buildings, city):
    # Buildings closer than a street width to each other must belong to the same district.
    geoms = buildings.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=0.999 * city.street_width_m)
    district = buildings["district_id"].to_numpy()
    assert (district[left] == district[right]).all()


def test_city_centred_on_the_projected_centre(buildings, city):
    to_utm = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    cx, cy = to_utm.transform(city.center_lon_deg, city.center_lat_deg)
    xy = shapely.get_coordinates(shapely.centroid(buildings.geometry.values))
    assert np.hypot(*(xy.mean(axis=0) - (cx, cy))) < 3000.0
    # The small preset is a town of a few hundred metres, not a scatter over kilometres.
    assert np.hypot(xy[:, 0] - cx, xy[:, 1] - cy).max() < 1500.0


def test_area_spans_houses_and_large_blocks(buildings):
    area = buildings["area_m2"]
    assert (area < 150.0).any()
    assert (area > 600.0).any()
    # Mostly houses: the median building is house-sized.
    assert 60.0 < area.median() < 400.0


def test_district_names_one_per_district(buildings, city):
    by_id = buildings.groupby("district_id")["district"].nunique()
    by_name = buildings.groupby("district")["district_id"].nunique()
    assert (by_id == 1).all() and (by_name == 1).all()
    assert buildings["district_id"].nunique() >= 3
    assert set(buildings["district"]) <= set(DISTRICT_NAMES) | {f"D{d:02d}" for d in range(city.n_districts)}
    # District 0 is the old city at the centre.
    assert buildings.loc[buildings["district_id"] == 0, "district"].iloc[0] == "al-Madina al-Qadima"


def test_several_grid_orientations_each_district_one(buildings):
    angle = _orientation_deg(buildings.geometry.values)
    assert len(np.unique(np.round(angle))) >= 3
    # Within a district, every footprint follows the same grid (circular spread on the 90-degree circle).
    phase = np.exp(1j * np.radians(angle) * 4.0)
    resultant = pd.Series(phase).groupby(buildings["district_id"].to_numpy()).mean().abs()
    assert (resultant > 0.999).all()


def test_same_seed_identical(city, buildings):
    again = make_footprints(city, np.random.default_rng(0))
    assert (shapely.to_wkb(again.geometry.values) == shapely.to_wkb(buildings.geometry.values)).all()
    pd.testing.assert_frame_equal(again.drop(columns="geometry"), buildings.drop(columns="geometry"))


def test_int_seed_same_as_generator(city, buildings):
    again = make_footprints(city, 0)
    assert (shapely.to_wkb(again.geometry.values) == shapely.to_wkb(buildings.geometry.values)).all()


def test_different_seed_differs(city, buildings):
    other = make_footprints(city, np.random.default_rng(1))
    assert len(other) == len(buildings)
    assert not (shapely.to_wkb(other.geometry.values) == shapely.to_wkb(buildings.geometry.values)).all()


@pytest.mark.parametrize(
    "changes",
    [
        {"n_buildings": 1, "n_districts": 1},
        {"n_buildings": 250, "n_districts": 2},
        {"n_buildings": 300, "n_districts": 200},
        {"n_buildings": 300, "large_block_share": 1.0},
        {"n_buildings": 300, "large_block_share": 0.0, "vacant_parcel_share": 0.0},
        {"n_buildings": 300, "street_width_m": 150.0},
        {"n_buildings": 300, "parcel_width_m": 200.0},
    ],
)
def test_unusual_layouts_still_exact_and_disjoint(changes):
    city = CityScenario(**changes)
    gdf = make_footprints(city, np.random.default_rng(3))
    assert len(gdf) == city.n_buildings
    assert shapely.is_valid(gdf.geometry.values).all()
    assert _no_overlaps(gdf.geometry.values)


def test_impossible_layout_raises_scenario_error():
    with pytest.raises(ScenarioError, match="vacant_parcel_share"):
        make_footprints(CityScenario(n_buildings=100, vacant_parcel_share=0.99), np.random.default_rng(0))


def test_scenario_error_is_a_value_error():
    with pytest.raises(ValueError):
        make_footprints(CityScenario(n_buildings=100, vacant_parcel_share=1.0), np.random.default_rng(0))


@pytest.mark.slow
def test_raqqa_scale():
    city = Scenario.preset("raqqa").city
    gdf = make_footprints(city, np.random.default_rng(0))
    geoms = gdf.geometry.values
    assert len(gdf) == city.n_buildings == 11_000
    assert gdf["building_id"].is_unique
    assert shapely.is_valid(geoms).all()
    assert _no_overlaps(geoms)
    assert gdf["district_id"].nunique() == city.n_districts
    assert (gdf["area_m2"] < 150.0).any() and (gdf["area_m2"] > 600.0).any()
    assert len(np.unique(np.round(_orientation_deg(geoms)))) >= 5
