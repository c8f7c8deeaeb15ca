"""Volunteers: where they come from, how active and how skilled they are, and which buildings they see."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stracker.scenario import COUNTRY_CODES, CrowdScenario

__all__ = ["VOLUNTEER_KINDS", "assign_volunteers", "clashing", "make_volunteers"]

VOLUNTEER_KINDS = ("careful", "careless", "random", "adversarial")
"""Kinds of volunteer: careful and careless ones differ in error rates; random ones answer at random;
adversarial ones answer the opposite of what they see."""

# A volunteer who marks at random, in the consensus model's terms: half the answers are guesses (a mark on any
# image); the other half, "no destruction" whatever the state.
_RANDOM_PARAMS = {
    "p_late": 0.5,
    "p_early": 0.5,
    "early_decay": 0.5,
    "p_miss": 0.999,
    "p_false": 0.001,
    "p_guess": 0.5,
    "sensitivity": 0.5,
    "specificity": 0.5,
}


def _beta(rng: np.random.Generator, mean: float, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=size)


def make_volunteers(crowd: CrowdScenario, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the volunteers.

    Parameters
    ----------
    crowd : CrowdScenario
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Indexed by ``volunteer_id`` (0..V-1): ``country`` (ISO alpha-2 code; every one of ``n_countries``
        countries has at least one volunteer), ``kind`` (see :data:`VOLUNTEER_KINDS`), ``activity`` (relative
        rate of taking tasks, log-normal), and the answer-model parameters in the consensus model's terms:
        ``p_late``, ``p_early``, ``early_decay``, ``p_miss``, ``p_false``, ``p_guess``, ``sensitivity``,
        ``specificity``.
        For adversarial volunteers these are the parameters of their (inverted) behaviour, for random ones
        the closest description of a coin flip, so the table is also the oracle's parameter table.

    Examples
    --------
    >>> import numpy as np
    >>> from stracker.scenario import CrowdScenario
    >>> v = make_volunteers(CrowdScenario(n_volunteers=200, n_countries=20), np.random.default_rng(1))
    >>> len(v), v["country"].nunique()
    (200, 20)
    """
    V, C = crowd.n_volunteers, crowd.n_countries
    # Countries: Zipf-like popularity, but every country present at least once.
    popularity = 1.0 / np.arange(1, C + 1) ** 1.1
    country = np.concatenate([np.arange(C), rng.choice(C, size=V - C, p=popularity / popularity.sum())])
    country = country[rng.permutation(V)]
    kind = rng.choice(
        len(VOLUNTEER_KINDS),
        size=V,
        p=[
            1 - crowd.careless_share - crowd.random_share - crowd.adversarial_share,
            crowd.careless_share,
            crowd.random_share,
            crowd.adversarial_share,
        ],
    )
    conc = crowd.skill_concentration
    params = {
        "p_late": _beta(rng, crowd.p_late_mean, conc, V),
        "p_early": _beta(rng, crowd.p_early_mean, conc, V),
        "early_decay": _beta(rng, crowd.early_decay_mean, conc, V),
        "p_miss": _beta(rng, crowd.p_miss_mean, conc, V),
        "p_false": _beta(rng, crowd.p_false_mean, conc, V),
        "p_guess": np.zeros(V),
        "sensitivity": _beta(rng, crowd.sensitivity_mean, conc, V),
        "specificity": _beta(rng, crowd.specificity_mean, conc, V),
    }
    careless = kind == 1
    factor = crowd.careless_error_factor
    for name in ("p_late", "p_early", "p_miss", "p_false"):
        params[name][careless] = np.minimum(params[name][careless] * factor, 0.9)
    for name in ("sensitivity", "specificity"):
        params[name][careless] = np.maximum(1 - (1 - params[name][careless]) * factor, 0.5)
    random = kind == 2
    for name, value in _RANDOM_PARAMS.items():
        params[name][random] = value
    adversarial = kind == 3
    for name in ("p_miss", "p_false", "sensitivity", "specificity"):
        params[name][adversarial] = 1 - params[name][adversarial]
    table = pd.DataFrame(
        {
            "country": np.asarray(COUNTRY_CODES[:C])[country],
            "kind": pd.Categorical.from_codes(kind, categories=list(VOLUNTEER_KINDS)),
            "activity": rng.lognormal(0.0, crowd.activity_sigma, size=V),
            **params,
        },
        index=pd.RangeIndex(V, name="volunteer_id"),
    )
    return table


def clashing(key: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Positions of repeated keys: all but one element of every group of equal keys.

    Where ``keep`` is given, the element kept in a group is one with ``keep`` True if the group has one.
    """
    order = np.lexsort((~keep, key)) if keep is not None else np.argsort(key, kind="stable")
    repeat = np.zeros(key.size, dtype=bool)
    repeat[1:] = key[order][1:] == key[order][:-1]
    return order[repeat]


def assign_volunteers(
    n_buildings: int, per_building: int, activity: np.ndarray, rng: np.random.Generator, max_rounds: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Put each building to ``per_building`` distinct volunteers, in proportion to their activity.

    Every volunteer gets at least one building (each is given one slot first, at random); the other slots
    go by activity. A volunteer never sees the same building twice: clashing slots are redrawn, in rounds,
    until none is left.

    Returns
    -------
    building : ndarray of int
        The building of each (building, volunteer) assignment, ordered by building.
    volunteer : ndarray of int
        The volunteer of each assignment.
    """
    V = activity.size
    n_slots = n_buildings * per_building
    if V > n_slots:
        raise ValueError(f"{V} volunteers but only {n_slots} assignments; each volunteer must answer once")
    building = np.repeat(np.arange(n_buildings, dtype=np.int64), per_building)
    cdf = np.cumsum(activity / activity.sum())
    volunteer = np.minimum(np.searchsorted(cdf, rng.random(n_slots), side="right"), V - 1)
    guaranteed = np.zeros(n_slots, dtype=bool)
    first = rng.choice(n_slots, size=V, replace=False)
    volunteer[first] = rng.permutation(V)
    guaranteed[first] = True
    for _ in range(max_rounds):
        # within a clash, keep a guaranteed slot if there is one, redraw the rest
        clash = clashing(building * V + volunteer, keep=guaranteed)
        if clash.size == 0:
            break
        volunteer[clash] = np.minimum(np.searchsorted(cdf, rng.random(clash.size), side="right"), V - 1)
    else:
        raise RuntimeError("could not assign distinct volunteers; lower activity_sigma or per_building")
    return building.astype(np.int32), volunteer.astype(np.int32)
