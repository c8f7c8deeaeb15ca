"""Session fixtures shared by the test files: simulated campaigns (and their consensus) built once per session.

A simulation of the raqqa preset takes seconds and one of the small preset a few tenths; several files need the
same ones. ``simulated`` and ``aggregated`` make each once per session and hand every caller its own deep copy
(milliseconds), so a test that changes what it was given changes nothing for the others, and no test file
imports another. The plain helpers stay modules: ``tests/campaigns.py`` (synthetic campaigns of the consensus
tests) and ``tests/platform_exports.py`` (platform export writers).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

import stracker
from stracker.scenario import Scenario
from stracker.simulation import Simulation

Simulated = Callable[..., Simulation]
Aggregated = Callable[..., tuple[Simulation, stracker.Consensus]]


def _scenario(scenario: str | Scenario, seed: int | None) -> Scenario:
    """The scenario ``stracker.simulate(scenario, seed)`` runs: the cache's key (scenarios are frozen)."""
    if isinstance(scenario, str):
        return Scenario.preset(scenario, seed=0 if seed is None else seed)
    return scenario if seed is None else scenario.replace(seed=seed)


@pytest.fixture(scope="session")
def simulated() -> Simulated:
    """``simulated(scenario="small", seed=None)``: what ``stracker.simulate(scenario, seed)`` returns, simulated
    once per session; each call returns a deep copy of its own."""
    made: dict[Scenario, Simulation] = {}

    def get(scenario: str | Scenario = "small", seed: int | None = None) -> Simulation:
        key = _scenario(scenario, seed)
        if key not in made:
            made[key] = stracker.simulate(key)
        return copy.deepcopy(made[key])

    return get


@pytest.fixture(scope="session")
def aggregated(simulated: Simulated) -> Aggregated:
    """``aggregated(scenario="small", seed=None)``: the simulation as ``simulated`` gives it and
    ``stracker.aggregate`` of its answers (default options), fitted once per session; copies, as above."""
    made: dict[Scenario, stracker.Consensus] = {}

    def get(scenario: str | Scenario = "small", seed: int | None = None) -> tuple[Simulation, stracker.Consensus]:
        sim = simulated(scenario, seed)
        if sim.scenario not in made:
            made[sim.scenario] = stracker.aggregate(sim.labels, sim.image_dates)
        return sim, copy.deepcopy(made[sim.scenario])

    return get


@pytest.fixture(scope="module")
def raqqa(simulated: Simulated) -> Simulation:
    """The raqqa preset, seed 0 (one copy per test module)."""
    return simulated("raqqa", seed=0)


@pytest.fixture(scope="module")
def small(simulated: Simulated) -> Simulation:
    """The small preset, seed 0 (one copy per test module)."""
    return simulated("small", seed=0)
