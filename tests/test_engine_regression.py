"""The consensus engine gives the same numbers as it did when the reference was made (the redesign of issue 16).

``tests/data/engine_regression.npz`` holds four frozen label tables of the ``small`` preset (timeline and compare,
seeds 0 and 1: the answers themselves, so that a change to the simulator does not move the reference), the
simulator's true volunteer parameters and prior for each, and the posteriors, priors, log-likelihoods and fitted
volunteer parameters that the engine gave on them: ``em`` with default options, ``em`` with the true parameters and
prior (the oracle), ``dawid_skene`` and ``majority``; and the same methods on the real RTE answers in
``tests/data/rte/``. The in-memory engine must reproduce them to 1e-12, the Dask engine to the order of its sums.

Regenerate (only on purpose, when the model is meant to change): ``python tests/test_engine_regression.py --write``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stracker

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "engine_regression.npz"
RTE = DATA / "rte" / "answers.csv"
CAMPAIGNS = ("timeline_0", "compare_0", "timeline_1", "compare_1")
METHOD_CASES = ("em", "oracle", "dawid_skene", "majority")
PARAMS = ("p_late", "p_early", "early_decay", "p_miss", "p_false", "p_guess", "sensitivity", "specificity")
ATOL = 1e-12


def _campaign_arrays(name: str) -> dict[str, np.ndarray]:
    """Simulate one campaign and freeze its answers, truth and true parameters as arrays (``--write`` only)."""
    from stracker.scenario import Scenario

    task, seed = name.split("_")
    sim = stracker.simulate(Scenario.preset("small", seed=int(seed)).replace(tasks={"task": task}))
    labels = sim.labels
    destroyed = labels["destroyed"]
    return {
        "building_id": labels["building_id"].to_numpy(np.int64),
        "volunteer_id": labels["volunteer_id"].to_numpy(np.int64),
        "before": labels["before"].to_numpy("datetime64[ns]"),
        "after": labels["after"].to_numpy("datetime64[ns]"),
        "destroyed": np.where(destroyed.isna(), -1, destroyed.fillna(False).astype(int)).astype(np.int8),
        "image_dates": sim.image_dates.to_numpy("datetime64[ns]"),
        "volunteer_index": sim.volunteers.index.to_numpy(np.int64),
        "volunteer_params": sim.volunteers[list(PARAMS)].to_numpy(float),
        "true_prior": sim.true_prior(),
    }


def _labels(arrays: dict[str, np.ndarray], task: str) -> pd.DataFrame:
    destroyed = pd.array(np.where(arrays["destroyed"] < 0, None, arrays["destroyed"] == 1), dtype="boolean")
    return pd.DataFrame(
        {
            "building_id": arrays["building_id"],
            "volunteer_id": arrays["volunteer_id"],
            "before": arrays["before"],
            "after": arrays["after"],
            "destroyed": destroyed,
            "task": task,
        }
    )


def _rte_labels() -> pd.DataFrame:
    raw = pd.read_csv(RTE)
    return pd.DataFrame(
        {
            "building_id": raw["item"],
            "volunteer_id": raw["worker"],
            "before": pd.NaT,
            "after": pd.Timestamp("2017-06-06"),
            "destroyed": raw["response"].astype(bool),
            "task": "compare",
        }
    )


def _frozen(reference: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    prefix = f"{name}/"
    return {key[len(prefix) :]: value for key, value in reference.items() if key.startswith(prefix)}


def _fit(labels: pd.DataFrame, dates: object, case: str, arrays: dict[str, np.ndarray] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the simulator's tables may hold exact duplicates; they are used
        if case == "oracle":
            assert arrays is not None
            params = pd.DataFrame(
                arrays["volunteer_params"], index=pd.Index(arrays["volunteer_index"]), columns=list(PARAMS)
            )
            return stracker.aggregate(labels, dates, volunteer_params=params, prior=arrays["true_prior"])
        return stracker.aggregate(labels, dates, method=case)


def _outputs(consensus) -> dict[str, np.ndarray]:
    return {
        "posterior": consensus.posterior,
        "prior": np.asarray(consensus.prior, dtype=float),
        "log_likelihood": np.asarray(consensus.log_likelihood, dtype=float),
        "n_iter": np.asarray(consensus.n_iter),
        "volunteers": consensus.volunteers[list(PARAMS)].to_numpy(float),
    }


def write_reference() -> None:
    """Make the reference file from the code as it is now."""
    out: dict[str, np.ndarray] = {}
    for name in CAMPAIGNS:
        arrays = _campaign_arrays(name)
        out |= {f"{name}/{key}": value for key, value in arrays.items()}
        labels = _labels(arrays, name.split("_")[0])
        for case in METHOD_CASES:
            consensus = _fit(labels, arrays["image_dates"], case, arrays)
            out |= {f"{name}/{case}/{key}": value for key, value in _outputs(consensus).items()}
    labels = _rte_labels()
    for case in ("em", "dawid_skene", "majority"):
        out |= {f"rte/{case}/{key}": value for key, value in _outputs(_fit(labels, None, case)).items()}
    np.savez_compressed(REFERENCE, **out)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def _assert_same(consensus, expected: dict[str, np.ndarray], atol: float = ATOL) -> None:
    got = _outputs(consensus)
    np.testing.assert_allclose(got["posterior"], expected["posterior"], rtol=0, atol=atol)
    np.testing.assert_allclose(got["prior"], expected["prior"], rtol=0, atol=atol)
    assert int(got["n_iter"]) == int(expected["n_iter"])
    np.testing.assert_allclose(got["log_likelihood"], expected["log_likelihood"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["volunteers"], expected["volunteers"], rtol=0, atol=atol, equal_nan=True)


def test_reference_file_is_small():
    assert REFERENCE.stat().st_size < 1_000_000


@pytest.mark.parametrize("case", METHOD_CASES)
@pytest.mark.parametrize("name", CAMPAIGNS)
def test_in_memory_engine_reproduces_the_reference(reference, name, case):
    arrays = _frozen(reference, name)
    labels = _labels(arrays, name.split("_")[0])
    _assert_same(_fit(labels, arrays["image_dates"], case, arrays), _frozen(reference, f"{name}/{case}"))


@pytest.mark.parametrize("case", ["em", "dawid_skene", "majority"])
def test_rte_reproduces_the_reference(reference, case):
    _assert_same(_fit(_rte_labels(), None, case), _frozen(reference, f"rte/{case}"))


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.mark.parametrize("name, case", [("timeline_0", "em"), ("compare_1", "em"), ("timeline_1", "oracle")])
def test_dask_engine_reproduces_the_reference(reference, client, name, case):
    """The Dask engine on three shards: the reference up to the order of floating-point sums."""
    from stracker.consensus.distributed import aggregate_distributed

    arrays = _frozen(reference, name)
    labels = _labels(arrays, name.split("_")[0])
    kwargs = {}
    if case == "oracle":
        kwargs = {
            "volunteer_params": pd.DataFrame(
                arrays["volunteer_params"], columns=list(PARAMS), index=pd.Index(arrays["volunteer_index"])
            ),
            "prior": arrays["true_prior"],
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = aggregate_distributed(labels, arrays["image_dates"], client=client, n_partitions=3, **kwargs)
    _assert_same(result.compute(), _frozen(reference, f"{name}/{case}"), atol=1e-10)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_reference()
        print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
    else:
        sys.exit("usage: python tests/test_engine_regression.py --write")
