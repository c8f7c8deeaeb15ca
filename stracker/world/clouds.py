"""Cloud rasters over the city, one per acquisition, and the visibility of every building they give.

Every image of the catalogue has a cloud raster: a georeferenced grid of cloud opacity (0 clear, 1 opaque) in
the footprints' CRS, ``ImageryScenario.cloud_pixel_m`` metres a pixel, covering the city's footprints plus a
1 km margin (room for cloud shadows and for tiles at the city's edge).

* **The field.** White noise filtered in the Fourier domain to a power-law spectrum (amplitude falling as
  ``k**-1.5``, flattened at wavelengths beyond ``cloud_wavelength_m`` times a per-image log-normal factor):
  large spatially correlated banks with ragged edges, seeded per image.
* **Cloud cover.** Each field is thresholded so that the clouded share (opacity at least 0.5) of the city
  equals the image's ``cloud_cover``, to within one pixel. The city is its footprints: every pixel holding
  part of one counts for the share of buildings' footprint area it holds (a building's pixels count once
  together), so the cover is also, closely, the share of buildings under cloud. A logistic edge a quarter of
  the field's standard deviation wide gives thin cloud around each bank. A cover of 0 gives a clear raster,
  a cover of 1 an opaque one.
* **Visibility.** A building's visibility in an image is the cloud-free share of its footprint:
  ``1 - opacity`` averaged over the footprint. The footprints are rasterized once, at a quarter of a cloud
  pixel, into an id raster; each building then holds a few (cloud pixel, share of its area) pairs, and each
  image's visibility is one weighted ``np.bincount`` of the clear share over those pairs
  (:func:`cloud_free_share`). No loop over buildings. A footprint too small to hold a sub-pixel centre takes
  the cloud pixel under its representative point. Real cloud masks go through the same two functions
  (:func:`footprint_pixels` on the mask's :class:`RasterGrid`, then :func:`cloud_free_share`), in
  :func:`stracker.imagery.visibility`.

:func:`visibility` is the simulator's visibility source. :class:`CloudField` holds what the rasters of one
campaign are made from; :meth:`CloudField.from_simulation` rebuilds it from a simulation (the renderer draws
its clouds from it, so rendered clouds are those that hid the buildings from the volunteers).

Examples
--------
>>> import stracker
>>> from stracker.world.clouds import CloudField
>>> sim = stracker.simulate("small", seed=0)
>>> clouds = CloudField.from_simulation(sim)
>>> clouds.grid.crs, clouds.grid.pixel_m
('EPSG:32637', 10.0)
>>> opacity = clouds.opacity(3)
>>> opacity.shape == clouds.grid.shape, opacity.dtype
(True, dtype('float32'))
>>> bool((clouds.visibility() == sim.visibility).all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from numpy.typing import ArrayLike
from scipy import fft

from stracker.errors import FootprintsError
from stracker.scenario import ImageryScenario, stage_rng

if TYPE_CHECKING:
    from stracker.simulation import Simulation

__all__ = [
    "GRID_MARGIN_M",
    "CloudField",
    "CloudGrid",
    "FootprintPixels",
    "RasterGrid",
    "cloud_free_share",
    "cloud_grid",
    "footprint_pixels",
    "visibility",
]

GRID_MARGIN_M = 1000.0
"""Margin of the cloud grid around the footprints' bounds, in metres."""

_SUBPIXELS = 4  # footprints are rasterized at cloud_pixel_m / 4 (2.5 m for 10 m cloud pixels)
_SPECTRAL_SLOPE = 1.5  # amplitude spectrum ~ k**-1.5 (power ~ k**-3): fractal, cloud-like edges
_WAVELENGTH_SIGMA = 0.4  # log-normal spread of each image's cloud wavelength around the scenario's
_EDGE_SOFTNESS = 0.25  # width of the cloud edge in units of the field's standard deviation


@dataclass(frozen=True)
class RasterGrid:
    """The pixel grid of a north-up raster in any CRS: the simulator's cloud rasters, or a real cloud mask.

    Attributes
    ----------
    transform : affine.Affine
        Maps (column, row) to (x, y) of the pixel's upper-left corner, in units of ``crs``; north up (no
        rotation, ``a > 0``, ``e < 0``), pixels need not be square (a grid in degrees).
    width, height : int
        Columns and rows.
    crs : str
        The CRS, e.g. ``"EPSG:32637"``.

    Examples
    --------
    >>> from affine import Affine
    >>> grid = RasterGrid(Affine(0.5, 0.0, 39.0, 0.0, -0.25, 36.0), 4, 8, "EPSG:4326")
    >>> grid.shape, grid.bounds
    ((8, 4), (39.0, 34.0, 41.0, 36.0))
    >>> [float(v) for v in grid.index(39.75, 35.5)]
    [1.5, 2.0]
    """

    transform: Affine
    width: int
    height: int
    crs: str

    def __post_init__(self) -> None:
        t = self.transform
        if not (t.a > 0 and t.e < 0 and t.b == 0 and t.d == 0):
            raise ValueError(f"{type(self).__name__} needs a north-up transform, got {t!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"{type(self).__name__} needs at least one pixel, got {self.width} x {self.height}")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.height, self.width

    def index(self, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (column, row) of points (x, y); pixel (c, r) spans [c, c + 1) x [r, r + 1)."""
        t = self.transform
        return (np.asarray(x, dtype=np.float64) - t.c) / t.a, (np.asarray(y, dtype=np.float64) - t.f) / t.e

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in units of the CRS."""
        t = self.transform
        return t.c, t.f + self.height * t.e, t.c + self.width * t.a, t.f


@dataclass(frozen=True)
class CloudGrid(RasterGrid):
    """The pixel grid of the simulator's cloud rasters: a :class:`RasterGrid` with square pixels in metres.

    Attributes
    ----------
    transform : affine.Affine
        Maps (column, row) to (x, y) of the pixel's upper-left corner, in metres.
    width, height : int
        Columns and rows.
    crs : str
        The CRS of the footprints, e.g. ``"EPSG:32637"``.
    """

    def __post_init__(self) -> None:
        t = self.transform
        if not (t.a > 0 and t.e == -t.a and t.b == 0 and t.d == 0):
            raise ValueError(f"CloudGrid needs a north-up transform with square pixels, got {t!r}")
        super().__post_init__()

    @property
    def pixel_m(self) -> float:
        """Pixel size in metres."""
        return float(self.transform.a)


@dataclass(frozen=True, eq=False)
class FootprintPixels:
    """Which cloud pixels each footprint covers, and with what share of its area.

    Attributes
    ----------
    building : numpy.ndarray
        int64 row of the building in the footprint layer, one per (building, pixel) pair, ascending.
    pixel : numpy.ndarray
        int64 flat index (``row * width + column``) of the cloud pixel.
    weight : numpy.ndarray
        float64 share of the building's area in that pixel; the weights of a building sum to 1.
    n_buildings : int
        Number of buildings (rows of the footprint layer).
    """

    building: np.ndarray
    pixel: np.ndarray
    weight: np.ndarray
    n_buildings: int

    @cached_property
    def city(self) -> np.ndarray:
        """Flat indices of the city's pixels (those holding part of a footprint), ascending."""
        return np.unique(self.pixel)

    @cached_property
    def city_weight(self) -> np.ndarray:
        """How many buildings' worth of footprint each pixel of :attr:`city` holds; they sum to the number of
        buildings. The cloud cover of an image is the clouded share of the city by these weights."""
        return np.bincount(np.searchsorted(self.city, self.pixel), weights=self.weight, minlength=len(self.city))

    def mean(self, raster: np.ndarray) -> np.ndarray:
        """Area-weighted mean of ``raster`` (a grid-shaped array) over each footprint, as float64."""
        values = raster.ravel()[self.pixel] * self.weight
        return np.bincount(self.building, weights=values, minlength=self.n_buildings)

    def known_share(self, known: np.ndarray) -> np.ndarray:
        """Share of each footprint's area on pixels where ``known`` (a grid-shaped boolean array) is True."""
        weight = np.where(known.ravel()[self.pixel], self.weight, 0.0)
        return np.bincount(self.building, weights=weight, minlength=self.n_buildings)


def cloud_grid(buildings: gpd.GeoDataFrame, imagery: ImageryScenario) -> CloudGrid:
    """The cloud grid of a city: its footprints' bounds plus :data:`GRID_MARGIN_M`, snapped to whole pixels.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Footprints in a projected CRS in metres.
    imagery : ImageryScenario
        ``cloud_pixel_m`` sets the pixel size.

    Returns
    -------
    CloudGrid

    Raises
    ------
    FootprintsError
        If the footprints have no CRS or a geographic one, or no geometry at all.

    Examples
    --------
    >>> import numpy as np
    >>> from stracker.scenario import Scenario
    >>> from stracker.world.footprints import make_footprints
    >>> s = Scenario.preset("small")
    >>> grid = cloud_grid(make_footprints(s.city, np.random.default_rng(0)), s.imagery)
    >>> grid.pixel_m, grid.bounds[0] % 10.0
    (10.0, 0.0)
    """
    crs = buildings.crs
    if crs is None or not crs.is_projected:
        raise FootprintsError(
            f"cloud rasters need footprints in a projected CRS in metres, got {crs and crs.to_string()}; "
            "reproject first, e.g. buildings.to_crs(buildings.estimate_utm_crs())"
        )
    minx, miny, maxx, maxy = buildings.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        raise FootprintsError("cloud rasters need at least one footprint with a geometry")
    p = float(imagery.cloud_pixel_m)
    x0 = math.floor((minx - GRID_MARGIN_M) / p) * p
    y1 = math.ceil((maxy + GRID_MARGIN_M) / p) * p
    width = math.ceil((maxx + GRID_MARGIN_M - x0) / p)
    height = math.ceil((y1 - (miny - GRID_MARGIN_M)) / p)
    return CloudGrid(Affine(p, 0.0, x0, 0.0, -p, y1), width, height, crs.to_string())


def footprint_pixels(buildings: gpd.GeoDataFrame, grid: RasterGrid) -> FootprintPixels:
    """Rasterize the footprints once and list, per building, the cloud pixels it covers and their shares.

    The footprints are burnt into an id raster at a quarter of the grid's pixel (in each direction) over the
    footprints' bounds (with :func:`rasterio.features.rasterize`, one ``(geometry, row + 1)`` pair per
    building); every sub-pixel whose centre lies in a footprint counts for it. A footprint that holds no
    sub-pixel centre gets the pixel under its representative point, with weight 1. Only the grid counts: the
    part of a footprint outside it is left out, and a footprint wholly outside holds no pixel (callers that
    need the whole footprint, as :mod:`stracker.imagery` does, pass a grid that holds it).

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Non-overlapping footprints in ``grid``'s CRS.
    grid : RasterGrid
        The simulator's :class:`CloudGrid`, or the grid of a window of a real cloud mask.

    Returns
    -------
    FootprintPixels

    Examples
    --------
    >>> import numpy as np
    >>> from stracker.scenario import Scenario
    >>> from stracker.world.footprints import make_footprints
    >>> s = Scenario.preset("small")
    >>> buildings = make_footprints(s.city, np.random.default_rng(0))
    >>> pixels = footprint_pixels(buildings, cloud_grid(buildings, s.imagery))
    >>> bool(np.allclose(np.bincount(pixels.building, weights=pixels.weight), 1.0))
    True
    """
    n = len(buildings)
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        raise FootprintsError(
            f"cloud rasters need a geometry for every building; rows {bad[:10].tolist()} ({len(bad)} in all) "
            "are missing or empty. Drop them or repair their geometry."
        )
    size = grid.width * grid.height
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return FootprintPixels(empty, empty, np.empty(0, dtype=np.float64), 0)
    # the window of whole cloud pixels holding the footprints, rasterized at sub-pixel resolution
    minx, miny, maxx, maxy = buildings.total_bounds
    (col0, col1), (row1, row0) = grid.index([minx, maxx], [miny, maxy])
    col0, row0 = max(math.floor(col0), 0), max(math.floor(row0), 0)
    col1, row1 = min(math.ceil(col1), grid.width), min(math.ceil(row1), grid.height)
    t = grid.transform
    if col1 > col0 and row1 > row0:
        # square pixels (the simulator's): a / 4 and e / 4 are exactly the +-pixel_m / 4 of before the grids
        # were generalised, so the simulator's visibility keeps its bytes
        x0, y0 = t.c + col0 * t.a, t.f + row0 * t.e
        ids = rasterio.features.rasterize(
            zip(geoms, range(1, n + 1), strict=True),
            out_shape=((row1 - row0) * _SUBPIXELS, (col1 - col0) * _SUBPIXELS),
            transform=Affine(t.a / _SUBPIXELS, 0.0, x0, 0.0, t.e / _SUBPIXELS, y0),
            fill=0,
            dtype="int32",
        )
        rows, cols = np.nonzero(ids)
    else:  # the footprints lie wholly outside the grid
        ids, rows, cols = np.zeros((0, 0), dtype=np.int32), np.empty(0, np.int64), np.empty(0, np.int64)
    building = ids[rows, cols].astype(np.int64) - 1
    pixel = (rows // _SUBPIXELS + row0).astype(np.int64) * grid.width + (cols // _SUBPIXELS + col0)
    # buildings too small to hold a sub-pixel centre: the pixel under their representative point, if on the grid
    missing = np.flatnonzero(np.bincount(building, minlength=n) == 0)
    if len(missing):
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[missing]))
        c, r = (np.floor(v) for v in grid.index(xy[:, 0], xy[:, 1]))
        inside = (c >= 0) & (c < grid.width) & (r >= 0) & (r < grid.height)
        building = np.concatenate([building, missing[inside]])
        pixel = np.concatenate([pixel, r[inside].astype(np.int64) * grid.width + c[inside].astype(np.int64)])
    pair, count = np.unique(building * size + pixel, return_counts=True)
    building, pixel = pair // size, pair % size
    weight = count / np.bincount(building, weights=count, minlength=n)[building]
    return FootprintPixels(building, pixel, weight, n)


def cloud_free_share(pixels: FootprintPixels, clear: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """The cloud-free share of every footprint: the mean of ``clear`` over its pixels, weighed by its area in each.

    The one computation of a building's visibility, for the simulator's cloud rasters
    (:meth:`CloudField.visibility`) and for real cloud masks (:func:`stracker.imagery.visibility`).

    Parameters
    ----------
    pixels : FootprintPixels
        The footprints on the raster's grid, from :func:`footprint_pixels`.
    clear : numpy.ndarray
        Grid-shaped: the cloud-free share of each pixel, 0 to 1 (``1 - opacity``; 0 or 1 for a binary mask).
    known : numpy.ndarray, optional
        Grid-shaped booleans, False where the raster says nothing (nodata, outside the scene). A footprint
        partly on unknown pixels gets the cloud-free share of its known part; one with no known pixel gets NaN.
        Without it every pixel is known.

    Returns
    -------
    numpy.ndarray
        float64, one value per building, 0 (all under cloud) to 1 (clear), NaN where unknown.

    Examples
    --------
    Two buildings on a 2 x 2 grid: the first over the two top pixels (one clouded), the second on the bottom
    right pixel, which is nodata.

    >>> import numpy as np
    >>> pixels = FootprintPixels(np.array([0, 0, 1]), np.array([0, 1, 3]), np.array([0.5, 0.5, 1.0]), 2)
    >>> clear = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> cloud_free_share(pixels, clear).tolist()
    [0.5, 1.0]
    >>> cloud_free_share(pixels, clear, known=np.array([[True, True], [True, False]])).tolist()
    [0.5, nan]
    """
    if known is None:
        return pixels.mean(clear)
    on_known = known.ravel()[pixels.pixel]
    # the unknown pixels' values are left out (not multiplied by 0: a nodata value may be NaN)
    values = np.where(on_known, clear.ravel()[pixels.pixel], 0.0) * pixels.weight
    share = np.bincount(pixels.building, weights=values, minlength=pixels.n_buildings)
    known_weight = pixels.known_share(known)
    unknown_weight = np.bincount(
        pixels.building, weights=np.where(on_known, 0.0, pixels.weight), minlength=pixels.n_buildings
    )
    # wholly known footprints keep the plain weighted mean (bit for bit that of known=None); the others are
    # renormalised over their known part
    partial = (unknown_weight > 0) | (known_weight == 0)
    share[partial] = np.divide(
        share[partial], known_weight[partial], out=np.full(int(partial.sum()), np.nan), where=known_weight[partial] > 0
    )
    return share


@dataclass(frozen=True, eq=False)
class CloudField:
    """Everything the cloud rasters of one campaign are drawn from: grid, footprints, covers and seeds.

    Attributes
    ----------
    grid : CloudGrid
    footprints : FootprintPixels
        The footprints on the grid; their pixels are the city whose clouded share is the cloud cover.
    cloud_cover : numpy.ndarray
        float64 cloud cover fraction of each image, in catalogue order.
    keys : numpy.ndarray
        int64 seed of each image's field.
    imagery : ImageryScenario
        ``cloud_wavelength_m`` sets the size of the cloud banks.
    """

    grid: CloudGrid
    footprints: FootprintPixels
    cloud_cover: np.ndarray
    keys: np.ndarray
    imagery: ImageryScenario

    @classmethod
    def build(
        cls,
        buildings: gpd.GeoDataFrame,
        images: pd.DataFrame,
        imagery: ImageryScenario,
        rng: np.random.Generator,
    ) -> CloudField:
        """Grid and footprint pixels of ``buildings``, and one seed per image drawn from ``rng``."""
        grid = cloud_grid(buildings, imagery)
        cover = images["cloud_cover"].to_numpy(dtype=np.float64)
        keys = rng.integers(0, np.iinfo(np.int64).max, size=len(cover), dtype=np.int64)
        return cls(grid, footprint_pixels(buildings, grid), cover, keys, imagery)

    @classmethod
    def from_simulation(cls, simulation: Simulation) -> CloudField:
        """The cloud field a simulation's visibility was computed from (same grid, covers and seeds).

        Examples
        --------
        >>> import stracker
        >>> sim = stracker.simulate("small", seed=2)
        >>> bool((CloudField.from_simulation(sim).visibility() == sim.visibility).all())
        True
        """
        scenario = simulation.scenario
        return cls.build(simulation.buildings, simulation.images, scenario.imagery, stage_rng(scenario, "visibility"))

    @property
    def n_images(self) -> int:
        """Number of images (cloud rasters)."""
        return len(self.cloud_cover)

    def opacity(self, image: int) -> np.ndarray:
        """The cloud raster of one image: opacity, 0 clear to 1 opaque.

        Parameters
        ----------
        image : int
            Position of the image in the catalogue (its ``image_id``).

        Returns
        -------
        numpy.ndarray
            float32, ``grid.shape``; north up, as the grid's transform says. The share of the city
            (:attr:`FootprintPixels.city`, weighed by :attr:`FootprintPixels.city_weight`) with opacity at
            least 0.5 equals the image's cloud cover to within one pixel's weight.
        """
        cover = float(self.cloud_cover[image])
        if cover <= 0.0:
            return np.zeros(self.grid.shape, dtype=np.float32)
        if cover >= 1.0:
            return np.ones(self.grid.shape, dtype=np.float32)
        rng = np.random.default_rng(int(self.keys[image]))
        wavelength = self.imagery.cloud_wavelength_m * rng.lognormal(0.0, _WAVELENGTH_SIGMA)
        field = _fractal_field(self.grid.shape, self.grid.pixel_m, wavelength, rng)
        threshold = self._threshold(field, cover)
        z = (field - np.float32(threshold)) / np.float32(_EDGE_SOFTNESS)
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # the logistic function, without overflow

    def _threshold(self, field: np.ndarray, cover: float) -> float:
        """The field value above which ``cover`` of the city lies, each pixel weighed by its buildings."""
        pixels, weights = self.footprints.city, self.footprints.city_weight
        if len(pixels) == 0:
            return float(np.quantile(field, 1.0 - cover))
        values = field.ravel()[pixels]
        order = np.argsort(values, kind="stable")
        below = np.cumsum(weights[order])  # buildings' worth of city at or below each value
        k = int(np.searchsorted(below, (1.0 - cover) * below[-1], side="left"))
        return float(values[order[min(k, len(order) - 1)]])

    def visibility(self) -> np.ndarray:
        """Visibility of every building in every image: the cloud-free share of its footprint.

        Returns
        -------
        numpy.ndarray
            float32, (buildings, images); exactly 1 in an image with no cloud, 0 in a fully clouded one.
        """
        vis = np.empty((self.footprints.n_buildings, self.n_images), dtype=np.float32)
        for image in range(self.n_images):  # one raster at a time: memory stays at a single grid
            vis[:, image] = cloud_free_share(self.footprints, 1.0 - self.opacity(image))
        np.clip(vis, 0.0, 1.0, out=vis)
        vis[:, self.cloud_cover <= 0.0] = 1.0
        vis[:, self.cloud_cover >= 1.0] = 0.0
        return vis


def visibility(
    buildings: gpd.GeoDataFrame,
    images: pd.DataFrame,
    imagery: ImageryScenario,
    rng: np.random.Generator,
) -> np.ndarray:
    """Visibility of every building in every image: 1 clear, 0 fully under cloud.

    Draws one cloud raster per image (see the module's description) and averages its clear share over each
    footprint.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Non-overlapping footprints in a projected CRS (metres).
    images : pandas.DataFrame
        The catalogue from :func:`~stracker.world.imagery.make_catalogue` (``cloud_cover`` is used).
    imagery : ImageryScenario
        ``cloud_pixel_m`` sets the raster's pixel size, ``cloud_wavelength_m`` the size of cloud banks.
    rng : numpy.random.Generator
        Source of the images' seeds; the same state gives identical visibility.

    Returns
    -------
    numpy.ndarray
        float32 array of shape (buildings, images).

    Raises
    ------
    FootprintsError
        If the footprints are not in a projected CRS or some have no geometry.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from stracker.scenario import Scenario
    >>> from stracker.world.footprints import make_footprints
    >>> s = Scenario.preset("small")
    >>> buildings = make_footprints(s.city, np.random.default_rng(0))
    >>> images = pd.DataFrame({"image_id": [0, 1, 2], "cloud_cover": [0.0, 0.4, 1.0],
    ...                        "image_date": pd.to_datetime(["2017-06-01", "2017-06-05", "2017-06-09"])})
    >>> vis = visibility(buildings, images, s.imagery, np.random.default_rng(0))
    >>> vis.shape, vis.dtype, float(vis[:, 0].min()), float(vis[:, 2].max())
    ((400, 3), dtype('float32'), 1.0, 0.0)
    >>> round(float((vis[:, 1] < 0.5).mean()), 1)
    0.4
    """
    return CloudField.build(buildings, images, imagery, rng).visibility()


def _fractal_field(shape: tuple[int, int], pixel_m: float, wavelength_m: float, rng: np.random.Generator) -> np.ndarray:
    """A standardized, spatially correlated float32 field: white noise with a power-law spectrum.

    Drawn on a grid padded by one wavelength (so that the FFT's wrap-around does not tie opposite edges) and
    cropped to ``shape``.
    """
    pad = min(int(wavelength_m / pixel_m), 4 * max(shape))
    padded = (fft.next_fast_len(shape[0] + pad, real=True), fft.next_fast_len(shape[1] + pad, real=True))
    spectrum = fft.rfft2(rng.standard_normal(padded, dtype=np.float32))
    ky = fft.fftfreq(padded[0], pixel_m).astype(np.float32)[:, None]
    kx = fft.rfftfreq(padded[1], pixel_m).astype(np.float32)[None, :]
    k0 = np.float32(1.0 / wavelength_m)
    spectrum *= (kx * kx + ky * ky + k0 * k0) ** np.float32(-_SPECTRAL_SLOPE / 2.0)
    spectrum[0, 0] = 0.0
    field = fft.irfft2(spectrum, padded)[: shape[0], : shape[1]]
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)
