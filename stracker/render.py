"""Rendered image frames: what the satellite saw of the simulated city on an acquisition date.

:func:`render_tile` paints a north-up RGB tile of any box of the city at 0.5-1 m a pixel, as it looked in one
image of the catalogue; :func:`frame` paints the chip a volunteer saw of one building. On request either
writes a 3-band uint8 Cloud-Optimized GeoTIFF (tiled, internal overviews, CRS and transform set).

What a tile shows, layer by layer (all of it array operations over the tile's pixels; the footprints are
rasterized once per call into an id raster and coloured by fancy indexing of per-building arrays):

* **ground**: sandy beige with large, medium and fine texture; **roads** are the open ground between 3.5 m
  and 14 m from the nearest footprint (the streets between blocks and the lots along them), greyer; open
  land further out stays ground;
* **intact buildings**: flat roofs of a light, uniform colour per building with a darker parapet line, each
  casting a shadow away from the sun as long as its height (storeys x 3.2 m) allows;
* **destroyed buildings** (``destroyed_on <= date``): rubble inside the footprint, darker and grey-brown with
  a strong pixel-scale texture and dark voids; debris scattered around it, thinning out over 10 m; and a few
  craters (dark bowls with a pale rim of ejecta), 0.7 per destroyed building on average;
* **clouds**: white, with the opacity of the date's cloud raster (:mod:`stracker.world.clouds`, the raster
  that set the volunteers' visibility), and their shadows, the same raster shifted away from the sun by a
  900 m cloud base;
* **illumination**: the sun's position at a 10:30 overpass on the date (which sets shadow lengths and
  brightness), with a little per-date gain, colour balance and haze.

Everything is a function of the scenario's seed, the date and world coordinates: a building looks the same in
every tile that shows it and stays in place across dates; ground texture does not change between dates; two
calls with the same arguments give identical arrays (and files).

Examples
--------
>>> import stracker
>>> sim = stracker.simulate("small", seed=0)
>>> date = sim.images["image_date"].iloc[10]
>>> tile = stracker.render_tile(sim, date, resolution=1.0)
>>> tile.rgb.shape, tile.rgb.dtype, tile.crs
((500, 500, 3), dtype('uint8'), 'EPSG:32637')
>>> chip = stracker.frame(sim, building_id=7, date=date)
>>> chip.rgb.shape
(120, 120, 3)
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.enums import ColorInterp
from scipy import ndimage

from stracker.errors import OutputExistsError, RenderError
from stracker.io.files import atomic_path
from stracker.simulation import Simulation
from stracker.world.clouds import CloudField

__all__ = [
    "COG_BLOCK_PX",
    "DEFAULT_TILE_M",
    "MAX_TILE_PX",
    "Tile",
    "TileExistsError",
    "default_bounds",
    "frame",
    "render_tile",
]

DEFAULT_TILE_M = 500.0
"""Side of the default tile (around the city centre), in metres."""
COG_BLOCK_PX = 256
"""Side of the internal tiles (blocks) of a written Cloud-Optimized GeoTIFF, in pixels."""
MAX_TILE_PX = 64_000_000
"""Most pixels one tile may hold (8,000 x 8,000); render a larger area as several tiles."""

# --- the look, in metres, degrees and sRGB levels -----------------------------------------------------------
_PAD_M = 40.0  # the tile is painted with this margin, so debris, craters and shadows cross its edges
_ROAD_FROM_M, _ROAD_TO_M = 3.5, 14.0  # open ground this far from the nearest footprint reads as road
_DEBRIS_REACH_M, _DEBRIS_SCALE_M = 10.0, 3.0  # debris reaches 10 m, thinning out over about 3 m
_CRATERS_PER_BUILDING = 0.7  # mean craters per destroyed building (Poisson, at most 3)
_CRATER_RADIUS_M = (1.2, 3.5)
_CRATER_RIM = 1.4  # the ejecta rim reaches this many crater radii
_STOREY_M = 3.2
_LARGE_BUILDING_M2 = 600.0  # footprints larger than this are apartment or industrial blocks (3-8 storeys)
_CLOUD_BASE_M = 900.0  # height of the cloud base: sets how far cloud shadows fall from their clouds
_OVERPASS_HOUR = 10.5  # local solar time of the acquisitions
_GROUND = np.array([196.0, 178.0, 148.0], dtype=np.float32)
_ROAD = np.array([158.0, 152.0, 142.0], dtype=np.float32)
_RUBBLE = np.array([118.0, 108.0, 95.0], dtype=np.float32)
_CRATER = np.array([74.0, 67.0, 60.0], dtype=np.float32)
_EJECTA = np.array([178.0, 168.0, 150.0], dtype=np.float32)
_CLOUD = np.array([243.0, 244.0, 247.0], dtype=np.float32)
_SHADOW = np.array([0.60, 0.63, 0.72], dtype=np.float32)  # building shadows: darker, and bluish from the sky
_CLOUD_SHADOW_DEPTH = 0.45  # a cloud shadow removes up to this share of the light
_ROOFS = np.array(  # light concrete, plaster and stone; a few greyer or warmer
    [[220, 216, 206], [208, 202, 190], [226, 212, 184], [200, 200, 198], [212, 192, 162], [188, 192, 194]],
    dtype=np.float32,
)

# purposes of the noise and random streams: each gets its own key from the scenario's seed
_KEYS = (
    "buildings",
    "ground",
    "ground-mid",
    "grain",
    "rubble",
    "rubble-grain",
    "voids",
    "debris",
    "debris-grain",
    "date",
    "cloud-texture",
)


class TileExistsError(OutputExistsError):
    """A tile would overwrite an existing file (a FileExistsError too)."""


class Tile(NamedTuple):
    """A rendered tile: pixels and where they are.

    Attributes
    ----------
    rgb : numpy.ndarray
        uint8, (rows, columns, 3): **bands last**, red, green, blue; row 0 is the northern edge.
    transform : affine.Affine
        Maps (column, row) to (x, y) of a pixel's upper-left corner, in metres of ``crs``.
    crs : str
        The footprints' CRS, e.g. ``"EPSG:32637"``.
    date : pandas.Timestamp
        The acquisition date shown.
    """

    rgb: np.ndarray
    transform: Affine
    crs: str
    date: pd.Timestamp

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in metres."""
        t, (rows, cols) = self.transform, self.rgb.shape[:2]
        return t.c, t.f + rows * t.e, t.c + cols * t.a, t.f

    def write(self, path: str | Path, overwrite: bool = False, tags: dict[str, str] | None = None) -> Path:
        """Write the tile as a 3-band uint8 Cloud-Optimized GeoTIFF, atomically.

        Blocks of :data:`COG_BLOCK_PX` pixels, DEFLATE with horizontal differencing, internal overviews
        (average) down to one block, RGB colour interpretation, the CRS and transform; ``tags`` and the date
        go into the GDAL metadata. No timestamp is written: the same tile gives the same bytes.

        Raises
        ------
        TileExistsError
            If ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise TileExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another path.")
        rows, cols = self.rgb.shape[:2]
        profile = {
            "driver": "COG",
            "width": cols,
            "height": rows,
            "count": 3,
            "dtype": "uint8",
            "crs": self.crs,
            "transform": self.transform,
            "BLOCKSIZE": COG_BLOCK_PX,
            "COMPRESS": "DEFLATE",
            "PREDICTOR": "YES",
            "OVERVIEW_RESAMPLING": "AVERAGE",
            "BIGTIFF": "NO",
        }
        meta = {
            "IMAGE_DATE": self.date.strftime("%Y-%m-%d"),
            "TIFFTAG_SOFTWARE": "stracker",
            "TIFFTAG_DATETIME": self.date.strftime("%Y:%m:%d %H:%M:%S"),
            **(tags or {}),
        }
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(np.moveaxis(self.rgb, -1, 0))
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
                dst.descriptions = ("red", "green", "blue")
                dst.update_tags(**meta)
        return path


def default_bounds(simulation: Simulation, size_m: float = DEFAULT_TILE_M) -> tuple[float, float, float, float]:
    """A ``size_m`` square around the city centre (the centre of its footprints' bounds), on whole metres."""
    minx, miny, maxx, maxy = simulation.buildings.total_bounds
    cx, cy = round((minx + maxx) / 2.0), round((miny + maxy) / 2.0)
    half = size_m / 2.0
    return cx - half, cy - half, cx + half, cy + half


def render_tile(
    simulation: Simulation,
    date: str | pd.Timestamp | np.datetime64,
    bounds: tuple[float, float, float, float] | None = None,
    resolution: float = 1.0,
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
) -> Tile:
    """Paint the city as one image of the catalogue saw it.

    Parameters
    ----------
    simulation : Simulation
        The campaign (its scenario, footprints with ``destroyed_on``, and image catalogue are used).
    date : str, pandas.Timestamp or numpy.datetime64
        An acquisition date of the catalogue (``simulation.images["image_date"]``).
    bounds : tuple of float, optional
        ``(minx, miny, maxx, maxy)`` in metres of the footprints' CRS (EPSG:32637 for Raqqa); by default a
        500 m square around the city centre (:func:`default_bounds`). The tile starts at ``(minx, maxy)`` and
        spans ``ceil(width / resolution)`` columns and ``ceil(height / resolution)`` rows. It must lie within
        the cloud grid (the footprints' bounds plus 1 km).
    resolution : float
        Pixel size in metres (satellite frames: 0.5 to 1).
    path : str or pathlib.Path, optional
        Also write the tile there as a Cloud-Optimized GeoTIFF (see :meth:`Tile.write`).
    overwrite : bool
        Replace an existing file at ``path``.

    Returns
    -------
    Tile
        ``rgb`` (uint8, rows x columns x 3, bands last), ``transform``, ``crs`` and ``date``.

    Raises
    ------
    RenderError
        If the date is not an acquisition date, or the bounds or resolution cannot be rendered.
    TileExistsError
        If ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import stracker
    >>> sim = stracker.simulate("small", seed=0)
    >>> last = sim.images["image_date"].iloc[-1]
    >>> x, y = sim.buildings.geometry.iloc[0].centroid.coords[0]
    >>> tile = stracker.render_tile(sim, last, bounds=(x - 50, y - 50, x + 50, y + 50), resolution=0.5)
    >>> tile.rgb.shape, tile.transform.a
    ((200, 200, 3), 0.5)
    >>> bool((stracker.render_tile(sim, last, tile.bounds, 0.5).rgb == tile.rgb).all())
    True
    """
    image = _image_index(simulation, date)
    clouds = _cloud_field(simulation)
    bounds = _check_bounds(default_bounds(simulation) if bounds is None else bounds, clouds)
    if not (
        isinstance(resolution, int | float | np.integer | np.floating) and math.isfinite(resolution) and resolution > 0
    ):
        raise RenderError(f"resolution must be a positive number of metres, such as 1.0 or 0.5; got {resolution!r}")
    resolution = float(resolution)
    minx, miny, maxx, maxy = bounds
    cols = max(1, math.ceil((maxx - minx) / resolution - 1e-9))
    rows = max(1, math.ceil((maxy - miny) / resolution - 1e-9))
    if rows * cols > MAX_TILE_PX:
        raise RenderError(
            f"a {maxx - minx:g} x {maxy - miny:g} m tile at {resolution:g} m is {cols} x {rows} pixels, more than "
            f"{MAX_TILE_PX:,}; use a coarser resolution or a smaller bbox"
        )
    transform = Affine(resolution, 0.0, minx, 0.0, -resolution, maxy)
    when = pd.Timestamp(simulation.images["image_date"].iloc[image])
    rgb = _paint(simulation, clouds, image, when, transform, rows, cols)
    tile = Tile(rgb, transform, clouds.grid.crs, when)
    if path is not None:
        scenario = simulation.scenario
        tile.write(
            path,
            overwrite=overwrite,
            tags={
                "STRACKER_SCENARIO": scenario.name,
                "STRACKER_SEED": str(scenario.seed),
                "IMAGE_ID": str(image),
                "CLOUD_COVER": f"{float(simulation.images['cloud_cover'].iloc[image]):.6f}",
                "RESOLUTION_M": f"{resolution:g}",
            },
        )
    return tile


def frame(
    simulation: Simulation,
    building_id: int | str,
    date: str | pd.Timestamp | np.datetime64,
    size_m: float = 60.0,
    resolution: float = 0.5,
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
) -> Tile:
    """The image chip a volunteer saw of one building on one date: ``size_m`` square, centred on it.

    Parameters
    ----------
    simulation : Simulation
    building_id : int or str
        The building's ``building_id``.
    date : str, pandas.Timestamp or numpy.datetime64
        An acquisition date of the catalogue.
    size_m : float
        Side of the chip in metres.
    resolution : float
        Pixel size in metres.
    path, overwrite
        As for :func:`render_tile`.

    Returns
    -------
    Tile

    Raises
    ------
    RenderError
        If no building has that id, or as :func:`render_tile`.

    Examples
    --------
    >>> import stracker
    >>> sim = stracker.simulate("small", seed=0)
    >>> chip = stracker.frame(sim, 3, sim.images["image_date"].iloc[0], size_m=40, resolution=1.0)
    >>> chip.rgb.shape
    (40, 40, 3)
    """
    ids = simulation.buildings["building_id"]
    match = np.flatnonzero((ids == building_id).to_numpy())
    if len(match) == 0:
        raise RenderError(f"no building has building_id {building_id!r}; ids run from {ids.min()!r} to {ids.max()!r}")
    if not (isinstance(size_m, int | float | np.integer | np.floating) and size_m > 0):
        raise RenderError(f"size_m must be a positive number of metres, got {size_m!r}")
    x, y = shapely.get_coordinates(shapely.centroid(simulation.buildings.geometry.values[match[0]]))[0]
    half = float(size_m) / 2.0
    return render_tile(
        simulation, date, (x - half, y - half, x + half, y + half), resolution, path=path, overwrite=overwrite
    )


def _cloud_field(simulation: Simulation) -> CloudField:
    """The simulation's cloud field, kept while the simulation lives and holds the same footprints, images and
    scenario (rasterizing every footprint is most of the cost of a small frame)."""
    parts = (simulation.buildings, simulation.images, simulation.scenario)
    cached = _CLOUD_FIELDS.get(simulation)
    if cached is None or any(a is not b for a, b in zip(cached[0], parts, strict=True)):
        cached = (parts, CloudField.from_simulation(simulation))
        _CLOUD_FIELDS[simulation] = cached
    return cached[1]


_CLOUD_FIELDS: weakref.WeakKeyDictionary[Simulation, tuple[tuple, CloudField]] = weakref.WeakKeyDictionary()


# --- checks -------------------------------------------------------------------------------------------------


def _image_index(simulation: Simulation, date: object) -> int:
    """Position of ``date`` in the catalogue, or a RenderError naming the nearest acquisitions."""
    try:
        when = pd.Timestamp(date)
    except (ValueError, TypeError) as exc:
        raise RenderError(f"date must be an ISO date such as '2017-08-01', got {date!r}") from exc
    if pd.isna(when) or when.tz is not None:
        raise RenderError(f"date must be a calendar date without time zone, such as '2017-08-01', got {date!r}")
    dates = pd.DatetimeIndex(simulation.images["image_date"])
    hit = np.flatnonzero(dates == when)
    if len(hit):
        return int(hit[0])
    span = f"{len(dates)} images from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"
    if when < dates[0] or when > dates[-1]:
        raise RenderError(f"no image on {when:%Y-%m-%d}: it lies outside the catalogue ({span})")
    after = int(np.searchsorted(dates, when))
    raise RenderError(
        f"no image on {when:%Y-%m-%d}; the nearest are {dates[after - 1]:%Y-%m-%d} and {dates[after]:%Y-%m-%d} ({span})"
    )


def _check_bounds(bounds: object, clouds: CloudField) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise RenderError(f"bounds must be four numbers (minx, miny, maxx, maxy) in metres, got {bounds!r}") from exc
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx >= maxx or miny >= maxy:
        raise RenderError(f"bounds must be finite with minx < maxx and miny < maxy, got {bounds!r}")
    gx0, gy0, gx1, gy1 = clouds.grid.bounds
    if minx < gx0 or miny < gy0 or maxx > gx1 or maxy > gy1:
        raise RenderError(
            f"bounds ({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) reach outside the simulated area "
            f"({gx0:.0f}, {gy0:.0f}, {gx1:.0f}, {gy1:.0f}) in {clouds.grid.crs} metres; choose a box within it"
        )
    return minx, miny, maxx, maxy


# --- painting -----------------------------------------------------------------------------------------------


class _Canvas(NamedTuple):
    """The padded pixel grid being painted: pixel-centre coordinates and the tile's place in it."""

    xs: np.ndarray  # (columns,) x of pixel centres
    ys: np.ndarray  # (rows,) y of pixel centres
    res: float
    pad: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys), len(self.xs)

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.xs[0] - self.res / 2, 0.0, -self.res, self.ys[0] + self.res / 2)


def _paint(
    simulation: Simulation, clouds: CloudField, image: int, when: pd.Timestamp, transform: Affine, rows: int, cols: int
) -> np.ndarray:
    res = transform.a
    pad = math.ceil(_PAD_M / res)
    xs = transform.c + (np.arange(-pad, cols + pad) + 0.5) * res
    ys = transform.f - (np.arange(-pad, rows + pad) + 0.5) * res
    canvas = _Canvas(xs, ys, res, pad)
    seed = simulation.scenario.seed
    keys = {name: _key(seed, i) for i, name in enumerate(_KEYS)}
    looks = _building_looks(simulation, keys["buildings"])

    # the footprints in the canvas, burnt once into an id raster (0: no building, k: the k-th selected)
    buildings = simulation.buildings
    x0, x1 = xs[0] - res / 2, xs[-1] + res / 2
    y0, y1 = ys[-1] - res / 2, ys[0] + res / 2
    chosen = np.sort(buildings.sindex.query(shapely.box(x0, y0, x1, y1), predicate="intersects"))
    ids = np.zeros(canvas.shape, dtype=np.int32)
    if len(chosen):
        ids = rasterio.features.rasterize(
            zip(buildings.geometry.values[chosen], range(1, len(chosen) + 1), strict=True),
            out_shape=canvas.shape,
            transform=canvas.transform,
            fill=0,
            dtype="int32",
        )
    destroyed_on = buildings["destroyed_on"].to_numpy(dtype="datetime64[ns]")[chosen]
    wrecked_b = np.concatenate([[False], destroyed_on <= when.to_datetime64()])  # NaT compares False
    inside = ids > 0
    wrecked = wrecked_b[ids]
    intact = inside & ~wrecked
    row = chosen[np.maximum(ids - 1, 0)]  # footprint row of each pixel (meaningful inside)

    sun_az, sun_el, light = _illumination(simulation, when, keys["date"])

    # ground and roads
    big = _value_noise(xs, ys, 60.0, keys["ground"])
    mid = _value_noise(xs, ys, 6.0, keys["ground-mid"])
    grain = _white_noise(xs, ys, res, keys["grain"]) * 2.0 - 1.0
    near = ndimage.distance_transform_edt(~inside) * res if inside.any() else np.full(canvas.shape, np.inf)
    road = (
        _smoothstep(_ROAD_FROM_M - 0.5, _ROAD_FROM_M + 0.5, near)
        * (1.0 - _smoothstep(_ROAD_TO_M - 1.0, _ROAD_TO_M + 1.0, near))
    )[..., None]
    ground = _GROUND * (1.0 + 0.05 * big + 0.035 * mid + 0.025 * grain)[..., None]
    street = _ROAD * (1.0 + 0.02 * big + 0.03 * mid + 0.02 * grain)[..., None]
    img = (ground * (1.0 - road) + street * road).astype(np.float32)

    # rubble, debris and craters of the buildings destroyed by this date
    if wrecked.any():
        texture = (
            0.35 * (_white_noise(xs, ys, res, keys["rubble-grain"]) * 2.0 - 1.0)
            + 0.45 * _value_noise(xs, ys, 1.0, keys["rubble"])
            + 0.25 * _value_noise(xs, ys, 3.0, keys["rubble"] + 1)
        )
        voids = _white_noise(xs, ys, res, keys["voids"]) < 0.07
        shade = (1.0 + 0.35 * texture) * np.where(voids, 0.55, 1.0)
        spread, (near_r, near_c) = ndimage.distance_transform_edt(~wrecked, return_indices=True)
        spread *= res
        scatter = 0.55 * (_value_noise(xs, ys, 1.5, keys["debris"]) * 0.5 + 0.5) + 0.45 * _white_noise(
            xs, ys, res, keys["debris-grain"]
        )
        debris = ~inside & (spread <= _DEBRIS_REACH_M) & (scatter < np.exp(-spread / _DEBRIS_SCALE_M))
        source = row[near_r, near_c]  # the destroyed building each pixel's debris came from
        rubble = wrecked | debris
        img[rubble] = looks.rubble[source[rubble]] * shade[rubble, None]
        _craters(img, canvas, looks, chosen[wrecked_b[1:]], intact)

    # shadows of the standing buildings, then their roofs
    if intact.any():
        height = np.where(intact, looks.height_m[row], 0.0).astype(np.float32)
        img[_cast_shadow(height, sun_az, sun_el, res) & ~intact] *= _SHADOW
        parapet = intact & ~ndimage.binary_erosion(inside)
        roof = looks.roof[row[intact]] * (1.0 + 0.012 * grain[intact, None])
        img[intact] = roof
        img[parapet] *= 0.86

    # the date's light, then clouds and their shadows from the cloud raster the volunteers saw
    img = img * light["gain"] + light["haze"]
    opacity = clouds.opacity(image)
    drop = _CLOUD_BASE_M / math.tan(math.radians(sun_el))
    dx, dy = -drop * math.sin(math.radians(sun_az)), -drop * math.cos(math.radians(sun_az))
    shadow = _sample(opacity, clouds, xs - dx, ys - dy)
    img *= (1.0 - _CLOUD_SHADOW_DEPTH * shadow)[..., None]
    cover = _sample(opacity, clouds, xs, ys)[..., None]
    white = _CLOUD * (0.95 + 0.05 * _value_noise(xs, ys, 45.0, keys["cloud-texture"] + image))[..., None]
    img = img * (1.0 - cover) + white * cover
    out = np.clip(np.rint(img[pad : pad + rows, pad : pad + cols]), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


class _Looks(NamedTuple):
    roof: np.ndarray  # (B, 3) roof colour
    rubble: np.ndarray  # (B, 3) rubble colour
    height_m: np.ndarray  # (B,)
    crater_x: np.ndarray  # (B, 3) offsets from the centroid, metres; NaN: no crater
    crater_y: np.ndarray
    crater_r: np.ndarray


def _building_looks(simulation: Simulation, key: int) -> _Looks:
    """Per-building colours, heights and craters, drawn for every building at once (so they do not depend on
    which tile shows the building)."""
    buildings = simulation.buildings
    n = len(buildings)
    rng = np.random.default_rng(key)
    area = shapely.area(buildings.geometry.values)
    roof = _ROOFS[rng.integers(0, len(_ROOFS), n)] + rng.normal(0.0, 2.5, (n, 3)) + rng.normal(0.0, 6.0, (n, 1))
    rubble = 0.3 * roof + 0.7 * (_RUBBLE + rng.normal(0.0, 6.0, (n, 1)))
    large = area > _LARGE_BUILDING_M2
    storeys = np.where(large, rng.integers(3, 9, n), rng.integers(1, 4, n))
    count = np.minimum(rng.poisson(_CRATERS_PER_BUILDING, n), 3)
    reach = np.sqrt(area)[:, None] / 2.0 + 5.0
    angle = rng.uniform(0.0, 2.0 * np.pi, (n, 3))
    dist = np.sqrt(rng.random((n, 3))) * reach
    radius = rng.uniform(*_CRATER_RADIUS_M, (n, 3))
    centre = shapely.get_coordinates(shapely.centroid(buildings.geometry.values))
    exists = np.arange(3)[None, :] < count[:, None]
    cx = np.where(exists, centre[:, :1] + dist * np.cos(angle), np.nan)
    cy = np.where(exists, centre[:, 1:] + dist * np.sin(angle), np.nan)
    return _Looks(
        roof.astype(np.float32), rubble.astype(np.float32), (storeys * _STOREY_M).astype(np.float32), cx, cy, radius
    )


def _craters(img: np.ndarray, canvas: _Canvas, looks: _Looks, wrecked_rows: np.ndarray, intact: np.ndarray) -> None:
    """Paint the craters of the destroyed buildings (dark bowls, pale rims), not on standing roofs."""
    cx, cy, r = (a[wrecked_rows].ravel() for a in (looks.crater_x, looks.crater_y, looks.crater_r))
    ok = np.isfinite(cx)
    cx, cy, r = cx[ok], cy[ok], r[ok]
    res = canvas.res
    col = np.floor((cx - (canvas.xs[0] - res / 2)) / res).astype(np.int64)
    row = np.floor(((canvas.ys[0] + res / 2) - cy) / res).astype(np.int64)
    rows, cols = canvas.shape
    ok = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    if not ok.any():
        return
    cx, cy, r, row, col = cx[ok], cy[ok], r[ok], row[ok], col[ok]
    centres = np.zeros(canvas.shape, dtype=np.int64)
    centres[row, col] = np.arange(1, len(cx) + 1)
    near_r, near_c = ndimage.distance_transform_edt(centres == 0, return_distances=False, return_indices=True)
    k = centres[near_r, near_c] - 1  # the nearest crater of every pixel
    d = np.hypot(canvas.xs[None, :] - cx[k], canvas.ys[:, None] - cy[k]) / r[k]
    bowl = (d < 1.0) & ~intact
    rim = (d >= 1.0) & (d < _CRATER_RIM) & ~intact
    depth = (0.8 + 0.35 * d[bowl])[:, None]
    img[bowl] = _CRATER * depth
    fade = ((_CRATER_RIM - d[rim]) / (_CRATER_RIM - 1.0))[:, None] * 0.7
    img[rim] = img[rim] * (1.0 - fade) + _EJECTA * fade


def _cast_shadow(height: np.ndarray, sun_az: float, sun_el: float, res: float) -> np.ndarray:
    """Pixels shaded by the heights (metres) when the sun is at (azimuth, elevation) degrees.

    A pixel is shaded if some point t metres towards the sun is taller than t * tan(elevation). One step per
    pixel of shadow length: a loop over distances, not over buildings.
    """
    rise = math.tan(math.radians(sun_el))
    longest = float(height.max()) / rise
    away = math.radians(sun_az)
    step_c, step_r = -math.sin(away), math.cos(away)  # a shadow runs away from the sun; rows grow southwards
    shade = np.zeros(height.shape, dtype=bool)
    done = set()
    for step in range(1, math.ceil(longest / res) + 1):
        dr, dc = round(step * step_r), round(step * step_c)
        if (dr, dc) in done:
            continue
        done.add((dr, dc))
        shade |= _shift(height, dr, dc) > step * res * rise
    return shade


def _shift(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """out[r, c] = a[r - dr, c - dc], zero where that falls outside."""
    out = np.zeros_like(a)
    rows, cols = a.shape
    if abs(dr) >= rows or abs(dc) >= cols:
        return out
    out[max(dr, 0) : rows + min(dr, 0), max(dc, 0) : cols + min(dc, 0)] = a[
        max(-dr, 0) : rows + min(-dr, 0), max(-dc, 0) : cols + min(-dc, 0)
    ]
    return out


def _sample(raster: np.ndarray, clouds: CloudField, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of a cloud-grid raster at the pixel centres (xs x ys), edges extended."""
    cols, rows = clouds.grid.index(xs, ys)
    rr, cc = np.meshgrid(rows - 0.5, cols - 0.5, indexing="ij")
    return ndimage.map_coordinates(raster, [rr, cc], order=1, mode="nearest").astype(np.float32)


def _illumination(simulation: Simulation, when: pd.Timestamp, key: int) -> tuple[float, float, dict]:
    """The sun's azimuth and elevation (degrees) at the overpass, and the date's gain and haze."""
    rng = np.random.default_rng([key, when.year, when.day_of_year])
    hour = _OVERPASS_HOUR + rng.normal(0.0, 0.25)
    az, el = _sun_position(simulation.scenario.city.center_lat_deg, when.day_of_year, hour)
    gain = (0.88 + 0.12 * math.sin(math.radians(el))) * (1.0 + rng.normal(0.0, 0.025))
    tint = 1.0 + rng.normal(0.0, 0.012, 3)
    haze = rng.uniform(0.0, 12.0) * np.array([0.95, 0.98, 1.05])
    return az, el, {"gain": (gain * tint).astype(np.float32), "haze": haze.astype(np.float32)}


def _sun_position(lat_deg: float, day_of_year: int, hour: float) -> tuple[float, float]:
    """Solar azimuth (clockwise from north) and elevation, degrees, at a local solar time."""
    decl = math.radians(23.44) * math.sin(2.0 * math.pi * (284 + day_of_year) / 365.0)
    lat, ha = math.radians(lat_deg), math.radians(15.0 * (hour - 12.0))
    sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(ha)
    el = math.asin(max(-1.0, min(1.0, sin_el)))
    cos_az = (math.sin(decl) - sin_el * math.sin(lat)) / max(math.cos(el) * math.cos(lat), 1e-9)
    az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    if ha > 0:
        az = 360.0 - az
    return az, max(math.degrees(el), 5.0)


# --- noise anchored to world coordinates ---------------------------------------------------------------------

_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
_M3, _M4 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _key(seed: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, 0x5EED, purpose]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _hash01(ix: np.ndarray, iy: np.ndarray, key: int) -> np.ndarray:
    """Uniform [0, 1) float32 from integer lattice coordinates (broadcast) and a key: a splitmix64 hash."""
    with np.errstate(over="ignore"):
        z = (ix.astype(np.int64).astype(np.uint64) * _M1) ^ (iy.astype(np.int64).astype(np.uint64) * _M2)
        z = z + np.uint64(key)
        z = (z ^ (z >> np.uint64(30))) * _M3
        z = (z ^ (z >> np.uint64(27))) * _M4
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)


def _white_noise(xs: np.ndarray, ys: np.ndarray, cell_m: float, key: int) -> np.ndarray:
    """Independent uniform [0, 1) values per ``cell_m`` cell of the world, at the pixel centres."""
    return _hash01(np.floor(xs / cell_m)[None, :], np.floor(ys / cell_m)[:, None], key)


def _value_noise(xs: np.ndarray, ys: np.ndarray, scale_m: float, key: int) -> np.ndarray:
    """Smooth noise in [-1, 1] with features about ``scale_m`` across: a hashed lattice, interpolated."""
    gx, gy = xs / scale_m, ys / scale_m
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    fx, fy = gx - ix, gy - iy
    sx = (fx * fx * (3.0 - 2.0 * fx)).astype(np.float32)[None, :]
    sy = (fy * fy * (3.0 - 2.0 * fy)).astype(np.float32)[:, None]
    lx = np.arange(ix.min(), ix.max() + 2)
    ly = np.arange(iy.min(), iy.max() + 2)
    lattice = _hash01(lx[None, :], ly[:, None], key)
    jx, jy = (ix - lx[0])[None, :], (iy - ly[0])[:, None]
    top = lattice[jy, jx] + (lattice[jy, jx + 1] - lattice[jy, jx]) * sx
    bottom = lattice[jy + 1, jx] + (lattice[jy + 1, jx + 1] - lattice[jy + 1, jx]) * sx
    return (top + (bottom - top) * sy) * 2.0 - 1.0


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)
