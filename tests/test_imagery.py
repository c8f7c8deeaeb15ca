"""Tests of the image catalogue (stracker.world.imagery) and per-building visibility under clouds
(stracker.world.clouds; the cloud rasters themselves are tested in test_frames.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from stracker.scenario import ImageryScenario, Scenario
from stracker.world.clouds import CloudField, visibility
from stracker.world.footprints import make_footprints
from stracker.world.imagery import make_catalogue

CATALOGUES = [
    ImageryScenario(),
    ImageryScenario(n_images=20),
    ImageryScenario(n_images=2),
    ImageryScenario(n_images=12, min_gap_days=5.0),
    ImageryScenario(n_images=30, min_gap_days=2.5, first_image="2016-12-30", last_image="2017-04-02"),
    ImageryScenario(n_images=100, mean_cloud_cover=0.5),
]


@pytest.fixture(scope="module")
def buildings():
    return make_footprints(Scenario.preset("small").city, np.random.default_rng(0))


def _images(cloud_cover) -> pd.DataFrame:
    cover = np.asarray(cloud_cover, dtype=float)
    return pd.DataFrame(
        {
            "image_id": np.arange(cover.size, dtype=np.int64),
            "image_date": pd.date_range("2017-06-01", periods=cover.size, freq="3D"),
            "cloud_cover": cover,
        }
    )


# --- catalogue --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("imagery", CATALOGUES, ids=lambda s: f"n{s.n_images}-gap{s.min_gap_days}")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_catalogue_dates(imagery, seed):
    cat = make_catalogue(imagery, np.random.default_rng(seed))
    assert list(cat.columns) == ["image_id", "image_date", "cloud_cover"]
    assert len(cat) == imagery.n_images
    assert cat["image_id"].tolist() == list(range(imagery.n_images))
    assert cat["image_date"].dtype == np.dtype("datetime64[ns]")
    dates = pd.DatetimeIndex(cat["image_date"])
    # strictly increasing, whole days
    assert (np.diff(dates.asi8) > 0).all()
    assert (dates == dates.normalize()).all()
    # first and last exactly at the ends, all within
    first, last = pd.Timestamp(imagery.first_image), pd.Timestamp(imagery.last_image)
    assert dates[0] == first
    assert dates[-1] == last
    assert ((dates >= first) & (dates <= last)).all()
    # gaps respect the minimum
    gaps = np.diff(dates.asi8) / (86_400 * 10**9)
    assert gaps.min() >= imagery.min_gap_days


@pytest.mark.parametrize("imagery", [s for s in CATALOGUES if s.n_images > 2], ids=lambda s: f"n{s.n_images}")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_catalogue_irregular(imagery, seed):
    dates = pd.DatetimeIndex(make_catalogue(imagery, np.random.default_rng(seed))["image_date"])
    gaps = np.diff(dates.asi8) // (86_400 * 10**9)
    assert len(np.unique(gaps)) > 1
    span = (pd.Timestamp(imagery.last_image) - pd.Timestamp(imagery.first_image)).days
    if span >= 2 * np.ceil(imagery.min_gap_days) * len(gaps):  # room to spare: bursts and long waits
        assert gaps.max() >= 3 * gaps.min()


def test_catalogue_exactly_full_is_daily():
    imagery = ImageryScenario(n_images=152, min_gap_days=1.0)  # 151 days, one image a day
    dates = pd.DatetimeIndex(make_catalogue(imagery, np.random.default_rng(0))["image_date"])
    assert (np.diff(dates.asi8) == 86_400 * 10**9).all()


@pytest.mark.parametrize("mean", [0.0, 0.12, 0.5, 1.0])
def test_cloud_cover_in_unit_interval(mean):
    cat = make_catalogue(ImageryScenario(n_images=80, mean_cloud_cover=mean), np.random.default_rng(4))
    cover = cat["cloud_cover"].to_numpy()
    assert cover.dtype == np.float64
    assert ((cover >= 0) & (cover <= 1)).all()
    if mean in (0.0, 1.0):
        assert (cover == mean).all()
    else:
        assert cover.mean() == pytest.approx(mean, abs=0.1)
        assert cover.std() > 0.05  # some images clear, some clouded


def test_catalogue_deterministic():
    a = make_catalogue(ImageryScenario(), np.random.default_rng(5))
    b = make_catalogue(ImageryScenario(), np.random.default_rng(5))
    c = make_catalogue(ImageryScenario(), np.random.default_rng(6))
    pd.testing.assert_frame_equal(a, b)
    assert not a["image_date"].equals(c["image_date"])


# --- visibility -------------------------------------------------------------------------------------------


def test_visibility_shape_dtype_range(buildings):
    cat = make_catalogue(ImageryScenario(n_images=20, mean_cloud_cover=0.3), np.random.default_rng(1))
    vis = visibility(buildings, cat, ImageryScenario(), np.random.default_rng(2))
    assert vis.shape == (len(buildings), len(cat))
    assert vis.dtype == np.float32
    assert np.isfinite(vis).all()
    assert ((vis >= 0) & (vis <= 1)).all()


def test_fully_clouded_and_clear_images(buildings):
    vis = visibility(buildings, _images([1.0, 0.0, 0.5, 1.0, 0.0]), ImageryScenario(), np.random.default_rng(0))
    assert (vis[:, [0, 3]] == 0.0).all()
    assert (vis[:, [1, 4]] == 1.0).all()
    half = vis[:, 2]
    assert 0.0 < half.mean() < 1.0
    assert (half < 0.5).any() and (half > 0.5).any()


def test_visibility_spatially_correlated(buildings):
    cover = np.full(30, 0.5)
    vis = visibility(buildings, _images(cover), ImageryScenario(cloud_wavelength_m=300.0), np.random.default_rng(1))
    xy = shapely.get_coordinates(shapely.centroid(buildings.geometry.values))
    _, nearest = cKDTree(xy).query(xy, k=2)
    neighbour_diff = np.abs(vis - vis[nearest[:, 1]]).mean()
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(xy), (2, 20_000))
    keep = i != j
    random_diff = np.abs(vis[i[keep]] - vis[j[keep]]).mean()
    assert neighbour_diff < 0.5 * random_diff, (neighbour_diff, random_diff)


def test_clouded_share_tracks_cloud_cover(buildings):
    cat = make_catalogue(ImageryScenario(n_images=40, mean_cloud_cover=0.3), np.random.default_rng(3))
    vis = visibility(buildings, cat, ImageryScenario(), np.random.default_rng(3))
    cover = cat["cloud_cover"].to_numpy()
    clouded = (vis < 0.5).mean(axis=0)
    assert np.corrcoef(clouded, cover)[0, 1] > 0.9
    assert np.corrcoef(1.0 - vis.mean(axis=0), cover)[0, 1] > 0.9
    assert np.abs(clouded - cover).max() < 0.05


def test_clouded_share_exact_for_given_covers(buildings):
    """The cover is exact on the cloud rasters (the city's pixels, each building counting once); the share of
    buildings more than half clouded follows it to within the few that straddle a cloud edge."""
    cover = np.array([0.05, 0.2, 0.4, 0.6, 0.8, 0.95])
    clouds = CloudField.build(buildings, _images(cover), ImageryScenario(), np.random.default_rng(9))
    city, weight, n = clouds.footprints.city, clouds.footprints.city_weight, len(buildings)
    for image, share in enumerate(cover):
        clouded = clouds.opacity(image).ravel()[city] >= 0.5
        assert weight[clouded].sum() / n == pytest.approx(share, abs=weight.max() / n)
    vis = visibility(buildings, _images(cover), ImageryScenario(), np.random.default_rng(9))
    assert np.array_equal(vis, clouds.visibility())
    np.testing.assert_allclose((vis < 0.5).mean(axis=0), cover, atol=0.03)


def test_visibility_deterministic(buildings):
    cat = _images([0.1, 0.3, 0.6])
    a = visibility(buildings, cat, ImageryScenario(), np.random.default_rng(4))
    b = visibility(buildings, cat, ImageryScenario(), np.random.default_rng(4))
    c = visibility(buildings, cat, ImageryScenario(), np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
