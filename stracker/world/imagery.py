"""The satellite image catalogue: irregular acquisition dates, each with a cloud cover fraction.

:func:`make_catalogue` draws the catalogue. The clouds themselves, one raster per image, and the visibility of
every building they give are in :mod:`stracker.world.clouds`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stracker.scenario import ImageryScenario

__all__ = ["make_catalogue"]


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
        ``cloud_cover`` (fraction of the city under cloud: of its footprints, each building counting once;
        see :mod:`stracker.world.clouds`).

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
    cover = (
        rng.beta(2 * mean, 2 * (1 - mean), size=imagery.n_images) if 0 < mean < 1 else np.full(imagery.n_images, mean)
    )
    return pd.DataFrame(
        {
            "image_id": np.arange(imagery.n_images, dtype=np.int64),
            "image_date": dates.astype("datetime64[ns]"),
            "cloud_cover": cover,
        }
    )
