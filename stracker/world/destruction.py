"""Ground truth: the date each building was destroyed during the offensive, or never.

Destruction follows a front and comes in strikes. The front enters the city along the scenario's entry
bearings (from east and west for Raqqa) and reaches the centre near the end of the offensive; every district
adds its own delay (``front_jitter_days``). A strike is one day's bombardment of a spot: it falls where the
front is, a few days either side of its arrival (``strike_spread_days``), or, for a share of strikes, anywhere
during the air campaign that preceded the ground offensive. It destroys each building within
``strike_radius_m`` with a chance that falls from ``strike_hit_probability`` at its centre to zero at the
radius.
A building's destruction date is the date of the earliest strike that destroyed it.

The destroyed share is calibrated exactly: strikes are drawn as a long random sequence and the sequence is cut
where the buildings it destroyed reach ``destroyed_fraction`` of the city.

Examples
--------
>>> import numpy as np
>>> from stracker.scenario import Scenario
>>> from stracker.world.footprints import make_footprints
>>> from stracker.world.destruction import make_destruction
>>> s = Scenario.preset("small")
>>> rng = np.random.default_rng(0)
>>> destroyed_on = make_destruction(make_footprints(s.city, rng), s.offensive, rng)
>>> destroyed_on.dtype, round(float((~np.isnat(destroyed_on)).mean()), 2)
(dtype('<M8[ns]'), 0.8)
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from stracker.errors import FootprintsError, ScenarioError
from stracker.scenario import OffensiveScenario

__all__ = ["front_progress", "make_destruction"]

# Strikes are drawn in batches of this many per building until they cover the target share; at most
# _MAX_BATCHES batches, after which the request is deemed impossible.
_STRIKES_PER_BUILDING = 1.0
_MAX_BATCHES = 32
# Weight of the distance to the centre in the front's progress (the rest is the distance travelled from the
# city edge along the entry bearings); it makes the very centre fall last rather than the whole meeting line.
_RADIAL_WEIGHT = 0.25
# Without a district column, the front's jitter applies to square cells of this size.
_JITTER_CELL_M = 500.0


def make_destruction(
    buildings: gpd.GeoDataFrame, offensive: OffensiveScenario, rng: np.random.Generator | int
) -> np.ndarray:
    """Draw the destruction date of every building.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Footprints in a projected CRS in metres, such as the output of
        :func:`~stracker.world.footprints.make_footprints`. A ``district_id`` column, if present, sets the
        units that share a front delay; otherwise 500 m grid cells do.
    offensive : OffensiveScenario
        Dates, destroyed share, entry bearings and strike parameters.
    rng : numpy.random.Generator or int
        Source of all randomness (an int is used as a seed). The same seed gives identical dates.

    Returns
    -------
    numpy.ndarray
        ``destroyed_on``, ``datetime64[ns]`` at day precision, one per row of ``buildings`` in row order;
        NaT for a building never destroyed. Dates lie in [``air_campaign_start``, ``end``] and exactly
        ``round(destroyed_fraction * len(buildings))`` buildings are destroyed.

    Raises
    ------
    FootprintsError
        If the footprints are in a geographic CRS (degrees) or have empty geometries.
    ScenarioError
        If the strikes cannot destroy the requested share (for instance ``strike_hit_probability`` is 0).

    Examples
    --------
    >>> import numpy as np
    >>> from stracker.scenario import Scenario
    >>> from stracker.world.footprints import make_footprints
    >>> s = Scenario.preset("small")
    >>> buildings = make_footprints(s.city, np.random.default_rng(0))
    >>> destroyed_on = make_destruction(buildings, s.offensive, np.random.default_rng(1))
    >>> int((~np.isnat(destroyed_on)).sum())
    320
    >>> bool(destroyed_on[~np.isnat(destroyed_on)].min() >= np.datetime64(s.offensive.air_campaign_start))
    True
    """
    rng = np.random.default_rng(rng)
    n = len(buildings)
    target = round(offensive.destroyed_fraction * n)
    if n == 0 or target == 0:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    xy = _centroids(buildings)

    air = np.datetime64(offensive.air_campaign_start, "D")
    start = np.datetime64(offensive.start, "D")
    end = np.datetime64(offensive.end, "D")
    lead = float((start - air).astype(np.int64))  # days of air campaign before the ground offensive
    last = float((end - air).astype(np.int64))  # last possible strike day, counted from `air`
    span = last - lead

    # Front arrival (days after `start`): progress from edge (0) to centre (1) over the offensive, ending a
    # strike spread before `end` so that the centre's strikes still fall within the offensive, plus a delay
    # shared by each district.
    units = _jitter_units(buildings, xy)
    delay = rng.normal(0.0, offensive.front_jitter_days, units.max() + 1)[units]
    arrival = front_progress(xy, offensive.entry_bearings_deg) * max(span - offensive.strike_spread_days, 0.0)
    arrival += delay

    tree = cKDTree(xy)
    batch = max(64, math.ceil(_STRIKES_PER_BUILDING * n))
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # order index of the first strike to hit
    hit_strike, hit_building, strike_day = [], [], []
    for b in range(_MAX_BATCHES):
        days, s_idx, b_idx = _strike_batch(xy, tree, arrival, lead, last, offensive, batch, rng)
        s_idx += b * batch  # global order index of the strike in the sequence
        np.minimum.at(first, b_idx, s_idx)
        hit_strike.append(s_idx)
        hit_building.append(b_idx)
        strike_day.append(days)
        if (first < np.iinfo(np.int64).max).sum() >= target:
            break
    else:
        covered = int((first < np.iinfo(np.int64).max).sum())
        raise ScenarioError(
            f"OffensiveScenario cannot destroy {target} of {n} buildings: {_MAX_BATCHES * batch} strikes "
            f"reached only {covered} (strike_hit_probability={offensive.strike_hit_probability}, "
            f"strike_radius_m={offensive.strike_radius_m}). Raise strike_hit_probability or strike_radius_m, "
            "or lower destroyed_fraction."
        )
    s_idx = np.concatenate(hit_strike)
    b_idx = np.concatenate(hit_building)
    days = np.concatenate(strike_day)

    # Cut the strike sequence where exactly `target` buildings have been hit. Buildings first hit by the
    # boundary strike are taken in random order, as if that strike were only partly effective.
    order = np.lexsort((rng.random(n), first))
    destroyed = np.zeros(n, dtype=bool)
    destroyed[order[:target]] = True
    cut = first[order[target - 1]]
    used = (s_idx < cut) | ((s_idx == cut) & destroyed[b_idx])

    # The destruction date is that of the earliest strike (in time, not in sequence order) among those used.
    day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(day, b_idx[used], days[s_idx[used]])
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    out[destroyed] = (air + day[destroyed].astype("timedelta64[D]")).astype("datetime64[ns]")
    return out


def front_progress(xy: np.ndarray, entry_bearings_deg: tuple[float, ...] | list[float]) -> np.ndarray:
    """How far the front has to travel to reach each point: 0 at the city edge, 1 at its centre.

    The progress is mostly the distance travelled from the city edge along the nearest entry direction
    (relative to the distance from that edge to the centre), partly the closeness of the point to the centre.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) projected coordinates in metres (x east, y north).
    entry_bearings_deg : sequence of float
        Bearings (clockwise from north) of the directions from which the front enters.

    Returns
    -------
    numpy.ndarray
        (n,) floats in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.array([[-1000.0, 0.0], [0.0, 0.0], [1000.0, 0.0]])
    >>> front_progress(xy, (90.0, 270.0)).round(2).tolist()
    [0.0, 1.0, 0.0]
    """
    xy = np.asarray(xy, dtype=np.float64)
    rel = xy - xy.mean(axis=0)
    bearings = np.radians(np.asarray(entry_bearings_deg, dtype=np.float64))
    toward = np.stack([np.sin(bearings), np.cos(bearings)], axis=1)  # unit vectors pointing to the entries
    proj = rel @ toward.T  # (n, bearings): how far out towards each entry a point lies
    edge = np.maximum(proj.max(axis=0), 1e-9)
    along = np.clip((edge - proj) / edge, 0.0, 1.0).min(axis=1)
    r = np.hypot(rel[:, 0], rel[:, 1])
    radial = 1.0 - r / max(r.max(), 1e-9)
    return np.clip((1.0 - _RADIAL_WEIGHT) * along + _RADIAL_WEIGHT * radial, 0.0, 1.0)


def _centroids(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Centroids in metres, refusing coordinates in degrees."""
    crs = buildings.crs
    if crs is not None and not crs.is_projected:
        raise FootprintsError(
            f"make_destruction needs footprints in a projected CRS in metres, got {crs.to_string()}; "
            "reproject first, e.g. buildings.to_crs(buildings.estimate_utm_crs())"
        )
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        raise FootprintsError(
            f"make_destruction needs a geometry for every building; rows {bad[:10].tolist()} "
            f"({len(bad)} in all) are missing or empty. Drop them or repair their geometry."
        )
    return shapely.get_coordinates(shapely.centroid(geoms))


def _jitter_units(buildings: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """Codes 0..k-1 of the units that share one front delay: districts, or grid cells without them."""
    if "district_id" in buildings.columns:
        return np.unique(np.asarray(buildings["district_id"]), return_inverse=True)[1].ravel()
    cells = np.floor((xy - xy.min(axis=0)) / _JITTER_CELL_M).astype(np.int64)
    return np.unique(cells, axis=0, return_inverse=True)[1].ravel()


def _strike_batch(
    xy: np.ndarray,
    tree: cKDTree,
    arrival: np.ndarray,
    lead: float,
    last: float,
    offensive: OffensiveScenario,
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``size`` strikes: their days (counted from the air campaign start) and (strike, building) hits."""
    n = len(xy)
    radius = offensive.strike_radius_m
    # Where: around a random building (aim is not exact); when: near the front's arrival there, or, for
    # pre-offensive strikes, any day of the air campaign before the ground offensive.
    target = rng.integers(0, n, size)
    where = xy[target] + rng.normal(0.0, radius / 4.0, (size, 2))
    when = lead + arrival[target] + rng.normal(0.0, offensive.strike_spread_days, size)
    early = rng.random(size) < offensive.pre_offensive_strike_share
    when[early] = rng.uniform(0.0, lead, int(early.sum())) if lead > 0 else 0.0
    days = np.floor(np.clip(when, 0.0, last)).astype(np.int64)

    # Every building within the radius of a strike, as arrays; sorted so the hit draws do not depend on the
    # order in which the tree returns pairs.
    pairs = cKDTree(where).sparse_distance_matrix(tree, radius, output_type="ndarray")
    s_idx = pairs["i"].astype(np.int64)
    b_idx = pairs["j"].astype(np.int64)
    dist = pairs["v"]
    order = np.lexsort((b_idx, s_idx))
    s_idx, b_idx, dist = s_idx[order], b_idx[order], dist[order]
    # Blast damage falls with distance, from the full hit chance at the centre to none at the radius.
    p_hit = offensive.strike_hit_probability * (1.0 - (dist / radius) ** 2)
    hit = rng.random(len(dist)) < p_hit
    return days, s_idx[hit], b_idx[hit]
