"""Seeded synthetic answer tables built directly as encoded arrays, for benchmarks at any size.

The simulator builds realistic campaigns but holds an answers x images matrix for timeline scans; for
tens of millions of compare answers the benchmarks draw them straight from the two-coin model instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stracker.labels import COMPARE, EncodedLabels


def compare_table(
    n_answers: int,
    n_buildings: int = 11_000,
    n_images: int = 50,
    n_volunteers: int = 3_000,
    seed: int = 0,
) -> tuple[EncodedLabels, np.ndarray]:
    """Random compare answers ``(lo, hi]`` with two-coin volunteers; returns the table and the true states.

    Answers are ordered by building, as an export grouped by task would be.
    """
    rng = np.random.default_rng(seed)
    D, S = n_images, n_images + 1
    state = rng.integers(0, S, size=n_buildings)
    building = np.sort(rng.integers(0, n_buildings, size=n_answers)).astype(np.int32)
    activity = rng.lognormal(0.0, 1.3, size=n_volunteers)
    volunteer = rng.choice(n_volunteers, size=n_answers, p=activity / activity.sum()).astype(np.int32)
    first = rng.integers(0, D, size=n_answers)
    second = rng.integers(0, D, size=n_answers)
    single = rng.random(n_answers) < 0.2
    lo = np.where(single, -1, np.minimum(first, second))
    hi = np.where(single, first, np.maximum(first, second))
    hi = np.where(lo == hi, np.minimum(hi + 1, D - 1), hi)
    lo = np.where(lo >= hi, -1, lo)
    sens = rng.beta(17, 3, size=n_volunteers)
    spec = rng.beta(18, 2, size=n_volunteers)
    k = state[building]
    inside = (lo < k) & (k <= hi)
    p_yes = np.where(inside, sens[volunteer], 1 - spec[volunteer])
    answer = (rng.random(n_answers) < p_yes).astype(np.int8)
    dates = pd.date_range("2017-05-30", periods=D, freq="3D", name="image_date")
    enc = EncodedLabels(
        building_ids=pd.RangeIndex(n_buildings, name="building_id"),
        volunteer_ids=pd.RangeIndex(n_volunteers, name="volunteer_id"),
        image_dates=dates,
        building=building,
        volunteer=volunteer,
        lo=lo.astype(np.int16),
        hi=hi.astype(np.int16),
        answer=answer,
        task=np.full(n_answers, COMPARE, dtype=np.int8),
        row_index=pd.RangeIndex(n_answers),
    )
    return enc, state
