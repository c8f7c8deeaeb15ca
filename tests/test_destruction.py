"""Tests of stracker.world.destruction: calibrated share, date range, clustering, the front, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from stracker.errors import FootprintsError, ScenarioError
from stracker.scenario import OffensiveScenario, Scenario
from stracker.world.destruction import front_progress, make_destruction
from stracker.world.footprints import make_footprints


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.preset("small", seed=0)


@pytest.fixture(scope="module")
def buildings(scenario):
    return make_footprints(scenario.city, np.random.default_rng(0))


@pytest.fixture(scope="module")
def destroyed_on(buildings, scenario):
    return make_destruction(buildings, scenario.offensive, np.random.default_rng(1))


def _centroids(buildings) -> np.ndarray:
    return shapely.get_coordinates(shapely.centroid(buildings.geometry.values))


def _days(dates: np.ndarray, since: str) -> np.ndarray:
    """Days from ``since`` as floats, NaN for NaT."""
    out = (dates - np.datetime64(since, "D")) / np.timedelta64(1, "D")
    return np.where(np.isnat(dates), np.nan, out)


def _gaps(xy: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Median date gap to the nearest destroyed neighbour, and between random pairs of destroyed buildings."""
    _, nearest = cKDTree(xy).query(xy, k=2)
    neighbour_gap = np.median(np.abs(day - day[nearest[:, 1]]))
    i, j = rng.integers(0, len(day), (2, 50_000))
    keep = i != j
    random_gap = np.median(np.abs(day[i[keep]] - day[j[keep]]))
    return float(neighbour_gap), float(random_gap)


def test_dtype_and_length(destroyed_on, buildings):
    assert isinstance(destroyed_on, np.ndarray)
    assert destroyed_on.dtype == np.dtype("datetime64[ns]")
    assert destroyed_on.shape == (len(buildings),)


def test_whole_days(destroyed_on):
    hit = destroyed_on[~np.isnat(destroyed_on)]
    assert (hit == hit.astype("datetime64[D]").astype("datetime64[ns]")).all()


def test_destroyed_fraction_calibrated(destroyed_on, scenario):
    fraction = float((~np.isnat(destroyed_on)).mean())
    assert abs(fraction - scenario.offensive.destroyed_fraction) <= 0.01


@pytest.mark.parametrize("target", [0.0, 0.05, 0.3, 0.8, 0.95, 1.0])
def test_any_fraction_hit_exactly(buildings, target):
    offensive = OffensiveScenario(destroyed_fraction=target)
    out = make_destruction(buildings, offensive, np.random.default_rng(2))
    assert int((~np.isnat(out)).sum()) == round(target * len(buildings))


def test_dates_within_the_campaign(destroyed_on, scenario):
    hit = destroyed_on[~np.isnat(destroyed_on)]
    assert hit.min() >= np.datetime64(scenario.offensive.air_campaign_start)
    assert hit.max() <= np.datetime64(scenario.offensive.end)


def test_some_destruction_predates_the_first_image(destroyed_on, scenario):
    first_image = np.datetime64(scenario.imagery.first_image)
    early = int((destroyed_on[~np.isnat(destroyed_on)] < first_image).sum())
    # Some, but not most: the bulk of the destruction happens during the ground offensive.
    assert 0 < early < 0.25 * (~np.isnat(destroyed_on)).sum()


def test_most_destruction_during_the_ground_offensive(destroyed_on, scenario):
    hit = destroyed_on[~np.isnat(destroyed_on)]
    assert (hit >= np.datetime64(scenario.offensive.start)).mean() > 0.75


def test_same_seed_identical(buildings, scenario, destroyed_on):
    again = make_destruction(buildings, scenario.offensive, np.random.default_rng(1))
    np.testing.assert_array_equal(again.view("i8"), destroyed_on.view("i8"))
    from_int = make_destruction(buildings, scenario.offensive, 1)
    np.testing.assert_array_equal(from_int.view("i8"), destroyed_on.view("i8"))


def test_different_seed_differs(buildings, scenario, destroyed_on):
    other = make_destruction(buildings, scenario.offensive, np.random.default_rng(2))
    assert not np.array_equal(other.view("i8"), destroyed_on.view("i8"))


def test_whole_pipeline_deterministic(scenario):
    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        gdf = make_footprints(scenario.city, rng)
        return shapely.to_wkb(gdf.geometry.values), make_destruction(gdf, scenario.offensive, rng)

    (wkb_a, dates_a), (wkb_b, dates_b) = run(5), run(5)
    assert (wkb_a == wkb_b).all()
    np.testing.assert_array_equal(dates_a.view("i8"), dates_b.view("i8"))


def test_destruction_clusters_in_space_and_time(buildings, destroyed_on):
    hit = ~np.isnat(destroyed_on)
    xy = _centroids(buildings)[hit]
    day = _days(destroyed_on[hit], "2017-01-01")
    neighbour_gap, random_gap = _gaps(xy, day, np.random.default_rng(0))
    assert neighbour_gap < 0.5 * random_gap


def test_front_reaches_the_centre_last(buildings, destroyed_on, scenario):
    offensive = scenario.offensive
    xy = _centroids(buildings)
    centre = xy.mean(axis=0)
    # The front sets the dates of ground-offensive strikes; the pre-offensive air strikes fall anywhere, so
    # their dates are left out of the district means.
    day = _days(destroyed_on, offensive.start)
    day[day < 0] = np.nan
    frame = pd.DataFrame(
        {
            "district": buildings["district_id"].to_numpy(),
            "x": xy[:, 0] - centre[0],
            "y": xy[:, 1] - centre[1],
            "day": day,
        }
    )
    per = frame.groupby("district").agg(x=("x", "mean"), y=("y", "mean"), day=("day", "mean"), n=("day", "count"))
    per = per[per["n"] >= 10]
    central_day = per["day"].iloc[np.argmin(np.hypot(per["x"], per["y"]))]
    for bearing in np.radians(offensive.entry_bearings_deg):
        outward = per["x"] * np.sin(bearing) + per["y"] * np.cos(bearing)
        outer_day = per["day"].iloc[np.argmax(outward)]
        assert central_day > outer_day + 7.0


def test_front_progress_edges_and_centre():
    xy = np.array([[-1000.0, 0.0], [-500.0, 0.0], [0.0, 0.0], [500.0, 0.0], [1000.0, 0.0]])
    progress = front_progress(xy, (90.0, 270.0))
    assert progress[0] == pytest.approx(0.0) and progress[-1] == pytest.approx(0.0)
    assert progress[2] == pytest.approx(1.0)
    assert progress[0] < progress[1] < progress[2] > progress[3] > progress[4]
    # From the east only: the east edge first, then inwards to the centre.
    east = front_progress(xy, (90.0,))
    assert east[4] == pytest.approx(0.0)
    assert east[4] < east[3] < east[2]


def test_geographic_crs_refused(buildings, scenario):
    with pytest.raises(FootprintsError, match="projected CRS"):
        make_destruction(buildings.to_crs("EPSG:4326"), scenario.offensive, np.random.default_rng(0))


def test_empty_geometry_refused(buildings, scenario):
    broken = buildings.copy()
    broken.loc[3, "geometry"] = shapely.Polygon()
    with pytest.raises(FootprintsError, match="rows \\[3\\]"):
        make_destruction(broken, scenario.offensive, np.random.default_rng(0))


def test_impossible_destruction_raises(buildings):
    offensive = OffensiveScenario(strike_hit_probability=0.0)
    with pytest.raises(ScenarioError, match="strike_hit_probability"):
        make_destruction(buildings, offensive, np.random.default_rng(0))


def test_without_district_column(buildings, scenario):
    anonymous = buildings.drop(columns="district_id")
    out = make_destruction(anonymous, scenario.offensive, np.random.default_rng(0))
    assert int((~np.isnat(out)).sum()) == round(scenario.offensive.destroyed_fraction * len(buildings))


def test_no_buildings(buildings, scenario):
    out = make_destruction(buildings.iloc[:0], scenario.offensive, np.random.default_rng(0))
    assert out.shape == (0,) and out.dtype == np.dtype("datetime64[ns]")


@pytest.mark.slow
def test_raqqa_scale():
    scenario = Scenario.preset("raqqa")
    rng = np.random.default_rng(0)
    buildings = make_footprints(scenario.city, rng)
    out = make_destruction(buildings, scenario.offensive, rng)
    hit = ~np.isnat(out)
    assert abs(hit.mean() - scenario.offensive.destroyed_fraction) <= 0.01
    assert out[hit].min() >= np.datetime64(scenario.offensive.air_campaign_start)
    assert out[hit].max() <= np.datetime64(scenario.offensive.end)
    assert (out[hit] < np.datetime64(scenario.imagery.first_image)).any()
    neighbour_gap, random_gap = _gaps(
        _centroids(buildings)[hit], _days(out[hit], "2017-01-01"), np.random.default_rng(0)
    )
    assert neighbour_gap < 0.5 * random_gap
