"""The satellite image catalogue and the visibility of every building in every image.

:func:`make_catalogue` draws irregular acquisition dates with a cloud cover fraction each.
:func:`visibility` is the single source of per-building visibility (the cloud-free share of a footprint in an
image); the simulator's volunteers see buildings through it. It draws a spatially correlated cloud field per
image from random Fourier features evaluated at the building centroids and thresholds it at the image's cloud
cover, so neighbouring buildings share their clouds.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from stracker.scenario import ImageryScenario

__all__ = ["make_catalogue", "visibility"]

_N_WAVES = 24  # Fourier features per image; enough for a smooth, isotropic-looking field
_EDGE_SOFTNESS = 0.25  # width of the cloud edge in units of the field's standard deviation


def make_catalogue(imagery: ImageryScenario, rng: np.random.Generator) -> pd.DataFrame:
    """Irregular acquisition dates, each with a cloud cover fraction.

    Parameters
    ----------
    imagery : ImageryScenario
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``image_id`` (0..D-1), ``image_date`` (datetime64, strictly increasing, whole days) and
        ``cloud_cover`` (fraction of the city under cloud).

    Examples
    --------
    >>> import numpy as np
    >>> from stracker.scenario import ImageryScenario
    >>> cat = make_catalogue(ImageryScenario(n_images=12), np.random.default_rng(0))
    >>> len(cat), bool(cat["image_date"].is_monotonic_increasing)
    (12, True)
    """
    first, last = pd.Timestamp(imagery.first_image), pd.Timestamp(imagery.last_image)
    span = (last - first).days
    n_gaps = imagery.n_images - 1
    min_gap = int(np.ceil(imagery.min_gap_days))
    spare = span - n_gaps * min_gap
    # Dirichlet shares with alpha < 1 make gaps irregular: bursts of images and long waits, as in practice.
    shares = rng.dirichlet(np.full(n_gaps, 0.8))
    extra = np.floor(shares * spare).astype(np.int64)
    extra[np.argsort(-(shares * spare - extra))[: spare - extra.sum()]] += 1  # hand out the rounding remainder
    offsets = np.concatenate([[0], np.cumsum(min_gap + extra)])
    dates = first.to_datetime64().astype("datetime64[D]") + offsets.astype("timedelta64[D]")
    mean = imagery.mean_cloud_cover
    # Beta with concentration 2: most images nearly clear, a few heavily clouded
    cover = rng.beta(2 * mean, 2 * (1 - mean), size=imagery.n_images) if 0 < mean < 1 else np.full(
        imagery.n_images, mean
    )
    return pd.DataFrame(
        {
            "image_id": np.arange(imagery.n_images, dtype=np.int64),
            "image_date": dates.astype("datetime64[ns]"),
            "cloud_cover": cover,
        }
    )


def visibility(
    buildings: gpd.GeoDataFrame,
    images: pd.DataFrame,
    imagery: ImageryScenario,
    rng: np.random.Generator,
) -> np.ndarray:
    """Visibility of every building in every image: 1 clear, 0 fully under cloud.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Footprints in a projected CRS (metres).
    images : pandas.DataFrame
        The catalogue from :func:`make_catalogue` (``cloud_cover`` is used).
    imagery : ImageryScenario
        ``cloud_wavelength_m`` sets the size of cloud patterns.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float32 array of shape (buildings, images).
    """
    xy = shapely.get_coordinates(shapely.centroid(buildings.geometry.to_numpy()))
    xy = xy - xy.mean(axis=0)
    D = len(images)
    # random Fourier features: wave vectors with isotropic directions and lengths around the cloud wavelength
    length = imagery.cloud_wavelength_m * rng.lognormal(0.0, 0.4, size=(D, _N_WAVES))
    angle = rng.uniform(0, 2 * np.pi, size=(D, _N_WAVES))
    waves = (2 * np.pi / length)[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    phase = rng.uniform(0, 2 * np.pi, size=(D, _N_WAVES))
    # float32: the field needs no more precision, and cos runs about twice as fast
    arg = (xy @ waves.reshape(-1, 2).T + phase.ravel()).astype(np.float32)  # (B, D * waves)
    field = np.cos(arg).reshape(len(xy), D, _N_WAVES).sum(axis=2) * np.sqrt(2.0 / _N_WAVES)
    cover = images["cloud_cover"].to_numpy(dtype=float)
    # threshold each image's field so that the clouded share of the city equals its cloud cover
    ranked = np.sort(field, axis=0)
    position = np.clip(1.0 - cover, 0.0, 1.0) * (len(xy) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(xy) - 1)
    columns = np.arange(D)
    frac = position - below
    threshold = ranked[below, columns] * (1 - frac) + ranked[above, columns] * frac  # linear-interpolated quantile
    opacity = 1.0 / (1.0 + np.exp(-(field - threshold) / _EDGE_SOFTNESS))
    vis = 1.0 - opacity
    vis[:, cover <= 0.0] = 1.0
    vis[:, cover >= 1.0] = 0.0
    return vis.astype(np.float32)
