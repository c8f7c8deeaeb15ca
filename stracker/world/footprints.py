"""Synthetic building footprints: a city of districts, street grids, parcels and buildings.

The city is a disc of Voronoi districts around the scenario's centre. Every district has its own street grid
(orientation, block and parcel sizes) and is either residential (rows of courtyard houses, 8-15 m a side) or
made of large apartment or industrial blocks (25-60 m a side). Buildings sit one per parcel with random
setbacks, some parcels are left vacant, and streets separate blocks and districts.

Footprints never overlap, by construction rather than by checking: a building lies strictly inside its parcel,
the parcels of one district are disjoint, and only buildings strictly inside their district shrunk by half a
street width are kept, so buildings of two districts are at least a street apart.

Examples
--------
>>> import numpy as np
>>> from stracker.scenario import Scenario
>>> from stracker.world.footprints import make_footprints
>>> city = Scenario.preset("small").city
>>> gdf = make_footprints(city, np.random.default_rng(0))
>>> len(gdf), gdf.crs.to_epsg()
(400, 32637)
>>> list(gdf.columns)
['building_id', 'district', 'district_id', 'area_m2', 'geometry']
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from stracker.errors import ScenarioError
from stracker.scenario import CityScenario

__all__ = ["DISTRICT_NAMES", "make_footprints"]

# Generic Arabic neighbourhood names (transliterated); common to many Syrian cities, so they do not claim any
# real place in Raqqa. The central district is always the old city; large-block districts take names from the
# second list. Districts beyond the lists are called "D07" and so on.
_OLD_CITY = "al-Madina al-Qadima"
_RESIDENTIAL_NAMES: tuple[str, ...] = (
    "al-Nahda",
    "al-Andalus",
    "al-Firdaws",
    "al-Qadisiya",
    "al-Hurriya",
    "al-Salam",
    "al-Wahda",
    "al-Zahra",
    "al-Jamia",
    "al-Mahatta",
    "al-Nour",
    "al-Rawda",
    "al-Rashid",
    "al-Mansour",
    "al-Yarmouk",
    "al-Karama",
    "al-Bustan",
    "al-Jisr",
    "al-Hamra",
    "al-Muntazah",
    "al-Basatin",
    "al-Mashtal",
    "al-Tadamun",
    "al-Furat",
    "al-Jazira",
    "al-Qasr",
    "al-Badia",
    "al-Amin",
)
_LARGE_BLOCK_NAMES: tuple[str, ...] = (
    "al-Sinaa",
    "al-Iskan",
    "al-Masakin",
    "al-Mustawdaat",
    "al-Tijariya",
    "al-Matahin",
)
DISTRICT_NAMES: tuple[str, ...] = (_OLD_CITY, *_RESIDENTIAL_NAMES, *_LARGE_BLOCK_NAMES)
"""Every district name :func:`make_footprints` may use, besides the fallback codes ``"D07"`` etc."""

# At least this share of parcels must be built on, or the city would need a vast number of empty parcels.
_MIN_BUILT_SHARE = 0.05
# Generation gives up after this many attempts, each on a disc 1.25-4 times wider than the last.
_MAX_ATTEMPTS = 6
# Share of districts whose grid follows the city-wide orientation (plus a few degrees); the rest are rotated
# freely, like the newer quarters of a city that grew in stages.
_ALIGNED_SHARE = 0.5
# Share of buildings that are L-shaped rather than rectangular (courtyard houses, wings of blocks).
_L_SHARE = 0.3

# Unit footprints in parcel-local coordinates: a rectangle and an L (a rectangle minus its top-right corner,
# whose size is filled in per building).
_RECT = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])


def make_footprints(city: CityScenario, rng: np.random.Generator | int) -> gpd.GeoDataFrame:
    """Generate ``city.n_buildings`` non-overlapping building footprints around the city centre.

    Parameters
    ----------
    city : CityScenario
        Size, place and layout of the city (districts, blocks, parcels, streets).
    rng : numpy.random.Generator or int
        Source of all randomness (an int is used as a seed). The same seed gives identical footprints.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per building, in ``city.crs``, with a plain RangeIndex and columns ``building_id`` (int64,
        0..n-1, numbered district by district and along each district's street grid), ``district`` (name),
        ``district_id`` (int64; 0 is the central old city, larger ids lie further out), ``area_m2`` (float64)
        and ``geometry`` (valid, non-overlapping polygons).

    Raises
    ------
    ScenarioError
        If the city layout cannot hold ``n_buildings`` buildings (for instance nearly every parcel vacant).

    Examples
    --------
    >>> import numpy as np
    >>> import shapely
    >>> from stracker.scenario import Scenario
    >>> city = Scenario.preset("small").city
    >>> gdf = make_footprints(city, np.random.default_rng(1))
    >>> len(gdf), bool(shapely.is_valid(gdf.geometry.values).all())
    (400, True)
    >>> bool(gdf.building_id.is_unique), int(gdf.district_id.min())
    (True, 0)
    """
    rng = np.random.default_rng(rng)
    n = city.n_buildings
    if city.vacant_parcel_share > 1.0 - _MIN_BUILT_SHARE:
        # Nearly every parcel empty would need a city of millions of parcels for a few buildings.
        raise ScenarioError(
            f"CityScenario.vacant_parcel_share={city.vacant_parcel_share} leaves too few parcels built to "
            f"lay out {n} buildings; make_footprints needs it at most {1.0 - _MIN_BUILT_SHARE:.2f} "
            "(Raqqa: 0.12)"
        )
    centre = _project_centre(city)
    radius = _city_radius(city)
    found = 0
    for _ in range(_MAX_ATTEMPTS):
        gen_radius = 1.3 * radius + 2.0 * (city.block_length_m + city.street_width_m)
        geoms, district_ids, names = _generate(city, rng, centre, radius, gen_radius)
        found = len(geoms)
        if found >= n:
            xy = shapely.get_coordinates(shapely.centroid(geoms))
            dist = np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1])
            # The n buildings nearest the centre; ties go to the earlier generated building.
            nearest = np.lexsort((np.arange(found), dist))[:n]
            # Accept only if the kept city does not reach the generation disc, so it stays round.
            if dist[nearest[-1]] <= gen_radius - (city.block_length_m + city.street_width_m):
                break
            radius *= 1.25
        else:
            radius *= min(4.0, max(1.25, 1.1 * math.sqrt(n / max(found, 1))))
    else:
        raise ScenarioError(
            f"CityScenario cannot fit {n} buildings: the layout held only {found} after {_MAX_ATTEMPTS} "
            f"attempts (street_width_m={city.street_width_m}, block_length_m={city.block_length_m}, "
            f"block_depth_m={city.block_depth_m}, n_districts={city.n_districts}). Make streets narrower "
            "than the blocks, use fewer districts than there are blocks, or ask for fewer buildings."
        )

    # Renumber in generation order: district by district, block by block along each street grid.
    keep = np.sort(nearest)
    geoms = geoms[keep]
    district_ids = district_ids[keep]
    return gpd.GeoDataFrame(
        {
            "building_id": np.arange(n, dtype=np.int64),
            "district": pd.array(np.asarray(names, dtype=object)[district_ids], dtype=object),
            "district_id": district_ids.astype(np.int64),
            "area_m2": shapely.area(geoms).astype(np.float64),
        },
        geometry=gpd.GeoSeries(geoms, crs=city.crs),
        crs=city.crs,
    )


def _project_centre(city: CityScenario) -> tuple[float, float]:
    """The city centre in the projected CRS."""
    to_city = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    x, y = to_city.transform(city.center_lon_deg, city.center_lat_deg)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ScenarioError(
            f"CityScenario: the centre ({city.center_lat_deg} N, {city.center_lon_deg} E) cannot be "
            f"projected to {city.crs}; use a projected CRS (in metres) that covers the city, such as its "
            "UTM zone"
        )
    return float(x), float(y)


def _city_radius(city: CityScenario) -> float:
    """Radius of a disc expected to hold ``n_buildings``, from the mean building density of the layout."""
    w, v = city.street_width_m, city.vacant_parcel_share
    length, depth, parcel = city.block_length_m, city.block_depth_m, city.parcel_width_m
    # Residential: two back-to-back rows of parcels per block. Large blocks: one row of wide, deep parcels.
    res = 2.0 * max(1.0, length / parcel) * (1.0 - v) / ((length + w) * (depth + w))
    large = max(1.0, 1.3 * length / (3.0 * parcel)) * (1.0 - v) / ((1.3 * length + w) * (1.4 * depth + w))
    density = (1.0 - city.large_block_share) * res + city.large_block_share * large
    # About a fifth of the area is lost to district borders and cut blocks.
    area = city.n_buildings / max(density, 1e-12) / 0.8
    return math.sqrt(area / math.pi)


def _district_seeds(
    n_districts: int, radius: float, centre: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """District seed points: the old city at the centre, the rest on a jittered sunflower spiral around it.

    Sorted by distance from the centre, so district 0 is the old city and ids grow outwards.
    """
    i = np.arange(n_districts)
    r = 0.9 * radius * np.sqrt((i + 0.5) / n_districts)
    r[0] = 0.0
    angle = i * math.pi * (3.0 - math.sqrt(5.0)) + rng.uniform(0.0, 2.0 * math.pi)
    spacing = 0.9 * radius * math.sqrt(math.pi / n_districts)
    xy = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    xy += rng.normal(0.0, 0.15 * spacing, xy.shape) * np.where(i == 0, 0.3, 1.0)[:, None]
    order = np.lexsort((i, np.hypot(xy[:, 0], xy[:, 1])))
    return xy[order] + np.asarray(centre)


def _district_cells(seeds: np.ndarray, disc: shapely.Polygon) -> np.ndarray:
    """Voronoi cells of the seeds clipped to the disc, in seed order."""
    if len(seeds) == 1:
        return np.array([disc], dtype=object)
    points = shapely.points(seeds)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=disc))
    # Match cells to seeds through a spatial query (ordered=True needs GEOS >= 3.12).
    seed_idx, cell_idx = shapely.STRtree(cells).query(points, predicate="intersects")
    first = np.unique(seed_idx, return_index=True)[1]
    ordered = np.empty(len(seeds), dtype=object)
    ordered[seed_idx[first]] = cells[cell_idx[first]]
    return shapely.intersection(ordered, disc)


def _district_names(is_large: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One unique name per district: the old city in the centre, then shuffled names by district kind."""
    pools = {
        False: list(rng.permutation(_RESIDENTIAL_NAMES)),
        True: list(rng.permutation(_LARGE_BLOCK_NAMES)),
    }
    names = []
    for d, large in enumerate(is_large):
        pool = pools[bool(large)]
        if d == 0:
            names.append(_OLD_CITY)
        elif pool:
            names.append(str(pool.pop(0)))
        else:
            names.append(f"D{d:02d}")
    return names


def _generate(
    city: CityScenario,
    rng: np.random.Generator,
    centre: tuple[float, float],
    radius: float,
    gen_radius: float,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All buildings of a city whose districts are seeded within ``radius``, over a ``gen_radius`` disc."""
    nd = city.n_districts
    seeds = _district_seeds(nd, radius, centre, rng)
    disc = shapely.Point(centre).buffer(gen_radius, quad_segs=32)
    cells = _district_cells(seeds, disc)

    # District kinds: the old city (district 0) is residential; large-block districts are drawn from the rest.
    n_large = min(nd - 1, round(city.large_block_share * nd))
    is_large = np.zeros(nd, dtype=bool)
    if n_large > 0:
        is_large[1 + rng.choice(nd - 1, size=n_large, replace=False)] = True
    base = rng.uniform(0.0, 0.5 * math.pi)
    aligned = rng.random(nd) < _ALIGNED_SHARE
    theta = np.where(aligned, base + rng.normal(0.0, math.radians(3.0), nd), rng.uniform(0.0, math.pi, nd))
    # Per-district scale of blocks and parcels; the old city has shorter blocks and narrower parcels.
    length = city.block_length_m * rng.uniform(0.8, 1.25, nd)
    depth = city.block_depth_m * rng.uniform(0.85, 1.2, nd)
    parcel = city.parcel_width_m * rng.uniform(0.85, 1.2, nd)
    length[0] *= 0.8
    parcel[0] *= 0.8
    length = np.where(is_large, length * rng.uniform(1.1, 1.5, nd), length)
    depth = np.where(is_large, depth * rng.uniform(1.2, 1.6, nd), depth)
    parcel = np.where(is_large, 3.0 * parcel, parcel)
    names = _district_names(is_large, rng)

    geoms, ids = [], []
    for d in range(nd):
        inner = shapely.buffer(cells[d], -0.5 * city.street_width_m)
        if shapely.is_empty(inner) or shapely.area(inner) <= 0.0:
            continue
        polys = _district_buildings(
            inner,
            seeds[d],
            float(theta[d]),
            float(length[d]),
            float(depth[d]),
            float(parcel[d]),
            bool(is_large[d]),
            city,
            rng,
        )
        geoms.append(polys)
        ids.append(np.full(len(polys), d, dtype=np.int64))
    if not geoms:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64), names
    return np.concatenate(geoms), np.concatenate(ids), names


def _district_buildings(
    inner: shapely.Geometry,
    seed: np.ndarray,
    theta: float,
    length: float,
    depth: float,
    parcel: float,
    large: bool,
    city: CityScenario,
    rng: np.random.Generator,
) -> np.ndarray:
    """Buildings of one district: grid -> blocks -> rows -> parcels -> one building per parcel, vectorized.

    Works in district-local coordinates (u along the blocks, v across them) and rotates to the CRS at the end.
    """
    street = city.street_width_m
    cos, sin = math.cos(theta), math.sin(theta)

    def to_world(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.stack([seed[0] + cos * u - sin * v, seed[1] + sin * u + cos * v], axis=-1)

    # Bounds of the district in the local frame, then a block grid with a random phase covering them.
    rel = shapely.get_coordinates(inner) - seed
    u_all = cos * rel[:, 0] + sin * rel[:, 1]
    v_all = -sin * rel[:, 0] + cos * rel[:, 1]
    pitch_u, pitch_v = length + street, depth + street
    off_u, off_v = rng.uniform(0.0, pitch_u), rng.uniform(0.0, pitch_v)
    iu = np.arange(math.floor((u_all.min() - off_u) / pitch_u), math.ceil((u_all.max() - off_u) / pitch_u))
    jv = np.arange(math.floor((v_all.min() - off_v) / pitch_v), math.ceil((v_all.max() - off_v) / pitch_v))
    grid_u, grid_v = np.meshgrid(off_u + iu * pitch_u, off_v + jv * pitch_v, indexing="ij")
    block_u, block_v = grid_u.ravel(), grid_v.ravel()

    # Drop blocks that miss the district entirely (cheap, and keeps the parcel arrays small).
    shapely.prepare(inner)
    block_coords = to_world(block_u[:, None] + _RECT[:, 0] * length, block_v[:, None] + _RECT[:, 1] * depth)
    touching = shapely.intersects(inner, shapely.polygons(block_coords))
    block_u, block_v = block_u[touching], block_v[touching]

    # Rows: two back-to-back rows of houses per residential block, one row of large parcels otherwise.
    n_rows = 1 if large else 2
    row_depth = depth / n_rows
    row_u = np.repeat(block_u, n_rows)
    row_v = np.repeat(block_v, n_rows) + np.tile(np.arange(n_rows), len(block_u)) * row_depth
    # Parcels: each row is cut into equal parcels whose number varies a little from row to row.
    per_row = np.maximum(1, np.rint(length / (parcel * rng.uniform(0.8, 1.25, len(row_u))))).astype(np.int64)
    row_of = np.repeat(np.arange(len(row_u)), per_row)
    pos = np.arange(len(row_of)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    p_width = length / per_row[row_of]
    p_u = row_u[row_of] + pos * p_width
    p_v = row_v[row_of]
    occupied = rng.random(len(p_u)) >= city.vacant_parcel_share
    p_u, p_v, p_width = p_u[occupied], p_v[occupied], p_width[occupied]
    m = len(p_u)

    # One building per parcel, strictly inside it: a gap of at least `gap` on every side keeps neighbouring
    # buildings apart (real terraces share walls, but touching footprints would be ambiguous to tasks).
    gap = min(0.3, 0.05 * min(length / max(per_row.max(initial=1), 1), row_depth))
    if large:
        # Apartment and industrial blocks are 25-60 m a side at the default parcel width of 16 m.
        cap = 3.75 * city.parcel_width_m
        width = np.minimum(p_width * rng.uniform(0.6, 0.9, m), cap * rng.uniform(0.75, 1.0, m))
        deep = np.minimum(row_depth * rng.uniform(0.5, 0.85, m), cap * rng.uniform(0.75, 1.0, m))
    else:
        width = p_width * rng.uniform(0.6, 0.92, m)
        deep = row_depth * rng.uniform(0.4, 0.75, m)
    width = np.minimum(width, p_width - 2.0 * gap)
    deep = np.minimum(deep, row_depth - 2.0 * gap)
    b_u = p_u + gap + rng.random(m) * (p_width - 2.0 * gap - width)
    b_v = p_v + gap + rng.random(m) * (row_depth - 2.0 * gap - deep)

    # Shapes: rectangles, and L-shapes cut from a random corner (a reflection of the unit L).
    is_l = rng.random(m) < _L_SHARE
    cut_u = rng.uniform(0.3, 0.6, m)
    cut_v = rng.uniform(0.3, 0.6, m)
    flip_u = rng.random(m) < 0.5
    flip_v = rng.random(m) < 0.5
    out = np.empty(m, dtype=object)
    rect = ~is_l
    out[rect] = shapely.polygons(
        to_world(
            b_u[rect, None] + _RECT[:, 0] * width[rect, None],
            b_v[rect, None] + _RECT[:, 1] * deep[rect, None],
        )
    )
    if is_l.any():
        a, b = cut_u[is_l], cut_v[is_l]
        zero, one = np.zeros_like(a), np.ones_like(a)
        unit_u = np.stack([zero, one, one, 1.0 - a, 1.0 - a, zero, zero], axis=1)
        unit_v = np.stack([zero, zero, 1.0 - b, 1.0 - b, one, one, zero], axis=1)
        unit_u = np.where(flip_u[is_l, None], 1.0 - unit_u, unit_u)
        unit_v = np.where(flip_v[is_l, None], 1.0 - unit_v, unit_v)
        out[is_l] = shapely.polygons(
            to_world(
                b_u[is_l, None] + unit_u * width[is_l, None],
                b_v[is_l, None] + unit_v * deep[is_l, None],
            )
        )

    # Keep buildings strictly inside the shrunk district: nothing can touch a street or another district.
    return out[shapely.contains_properly(inner, out)]
