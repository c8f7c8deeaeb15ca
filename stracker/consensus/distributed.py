"""The consensus EM on Dask: answers partitioned by building, one pass over the partitions per iteration.

The label table (a Dask DataFrame, a Parquet dataset or a pandas DataFrame) is encoded globally first: the sorted
unique building and volunteer ids and the image catalogue are computed with Dask and are small. The answers are
then shuffled so that each partition holds every answer about a contiguous range of building codes (skipped
when the input is already indexed by building with known divisions), and each partition becomes a *shard* on a
worker: the same index arrays as the in-memory engine (``_Problem``), over the
shard's buildings and all volunteers. The shards are computed from the graph (never scattered), so a lost
worker's shards are recomputed from lineage, and held for the whole fit.

Each EM iteration submits one task per shard: its buildings' posterior under the current parameters, its part
of the log-likelihood and its additive sufficient statistics (per-volunteer numerators and denominators,
per-image skips and notices, the posterior's column sums). The parts are summed by a tree reduction and the
client does the M-step on the sums with the very code of :func:`stracker.consensus.model.fit_em`
(``_Updater``), so the result equals the in-memory engine's up to the order of floating-point sums, whatever the
partitioning. Only arrays the size of the volunteers or the images travel; posteriors stay on the workers.

The result's per-building table is a Dask DataFrame built shard by shard; :meth:`DistributedConsensus.to_parquet`
writes it partition by partition.
"""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stracker.consensus.model import (
    STAT_NAMES,
    _posterior,
    _Problem,
    _Updater,
    converged_at,
    resolve_params,
)
from stracker.consensus.result import Consensus, summarize_posterior, volunteer_table_from_counts
from stracker.errors import DuplicateAnswersWarning, LabelsError
from stracker.labels import (
    COMPARE,
    LABEL_COLUMNS,
    TIMELINE,
    EncodedLabels,
    _catalogue,
    _encode_ids,
    _encode_task,
    check_label_columns,
    encode_labels,
    parse_image_dates,
)

__all__ = ["DistributedConsensus", "aggregate_distributed", "is_distributed_input"]

_FAN_IN = 8  # parts summed per task of the tree reduction


def is_distributed_input(labels: object) -> bool:
    """Whether :func:`stracker.aggregate` should hand ``labels`` to the distributed engine.

    A Dask DataFrame, or a path (str or PathLike) to a Parquet dataset of answers.
    """
    if isinstance(labels, str | os.PathLike):
        return True
    return type(labels).__module__.split(".")[0] in ("dask", "dask_expr")


@dataclass
class _Shard:
    """The answers about one contiguous range of buildings, encoded with global volunteer codes."""

    enc: EncodedLabels
    problem: _Problem
    n_duplicates: int


def _build_shard(part: pd.DataFrame, building_ids: pd.Index, volunteer_ids: pd.Index,
                 image_dates: pd.DatetimeIndex, task: str | None, on_duplicate: str) -> _Shard:
    """Encode one partition (all answers of the buildings ``building_ids``) and index it for the EM."""
    part = part.reset_index()
    # duplicates are counted here, not warned about: warnings on a worker thread would not reach the client
    local = encode_labels(part, image_dates, task=task, on_duplicate="ignore")
    n_duplicates = 0
    if on_duplicate != "ignore":
        key = pd.DataFrame({"b": local.building, "v": local.volunteer, "lo": local.lo, "hi": local.hi,
                            "a": local.answer, "t": local.task})
        dup = key.duplicated(keep=False).to_numpy()
        n_duplicates = int(dup.sum())
        if n_duplicates and on_duplicate == "error":
            examples = local.building_ids[np.unique(local.building[dup])[:5]].tolist()
            raise LabelsError(
                f"exact duplicate answers in {n_duplicates} row(s) about buildings {examples}...: the same "
                "volunteer gave the same answer about the same building and images more than once; deduplicate "
                "with labels.drop_duplicates() if they are export artefacts."
            )
    b_map = building_ids.get_indexer(local.building_ids)
    v_map = volunteer_ids.get_indexer(local.volunteer_ids)
    if (b_map < 0).any() or (v_map < 0).any():  # the partitioning and the id tables disagree: a bug, not bad data
        raise RuntimeError("a shard holds ids missing from the global id tables")
    enc = EncodedLabels(
        building_ids=building_ids,
        volunteer_ids=volunteer_ids,
        image_dates=image_dates,
        building=b_map.astype(np.int32)[local.building],
        volunteer=v_map.astype(np.int32)[local.volunteer],
        lo=local.lo,
        hi=local.hi,
        answer=local.answer,
        task=local.task,
        row_index=pd.RangeIndex(local.n_answers),
    )
    return _Shard(enc, _Problem(enc), n_duplicates)


def _shard_info(shard: _Shard) -> dict[str, Any]:
    enc, V = shard.enc, shard.enc.n_volunteers
    return {
        "n_timeline": np.bincount(enc.volunteer[enc.task == TIMELINE], minlength=V),
        "n_compare": np.bincount(enc.volunteer[enc.task == COMPARE], minlength=V),
        "n_answers": enc.n_answers,
        "n_marks": int(shard.problem.m_b.size),
        "n_duplicates": shard.n_duplicates,
    }


def _identity(x: Any) -> Any:
    return x


def _e_step(shard: _Shard, state: dict[str, Any]) -> tuple[_Problem, np.ndarray, float]:
    problem = copy.copy(shard.problem)  # E-step leaves breaks and image statistics on it: keep the shard intact
    problem.image_weight = state["image_weight"]
    L, base = problem.log_likelihood(state["params"])
    posterior, ll = _posterior(L, state["log_prior"])
    return problem, posterior, ll + base


def _shard_step(shard: _Shard, state: dict[str, Any]) -> dict[str, Any]:
    """One E-step on a shard and its additive statistics for the M-step."""
    problem, posterior, ll = _e_step(shard, state)
    out: dict[str, Any] = {"ll": ll, "posterior_sum": posterior.sum(axis=0), "stats": {}}
    if state["want_stats"]:
        out["stats"] = problem.sufficient_statistics(posterior, state["params"])
        if hasattr(problem, "image_skips"):
            out["image_skips"], out["image_notices"] = problem.image_skips, problem.image_notices
    return out


def _add(*parts: dict[str, Any]) -> dict[str, Any]:
    """Sum step outputs (or shard infos): numbers and arrays add; statistics add per name, absent ones count 0."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "stats":
                stats = out.setdefault("stats", {})
                for name, (num, den) in value.items():
                    stats[name] = (stats[name][0] + num, stats[name][1] + den) if name in stats else (num, den)
            elif key in out:
                out[key] = out[key] + value
            else:
                out[key] = value
    return out


def _tree_sum(client: Any, futures: list[Any]) -> dict[str, Any]:
    """Sum the results of ``futures`` on the workers by a tree of :func:`_add` tasks, in a fixed order."""
    while len(futures) > 1:
        futures = [client.submit(_add, *futures[i : i + _FAN_IN], pure=False)
                   for i in range(0, len(futures), _FAN_IN)]
    return futures[0].result()


def _shard_posterior(shard: _Shard, state: dict[str, Any]) -> np.ndarray:
    return _e_step(shard, state)[1]


def _shard_buildings(shard: _Shard, state: dict[str, Any]) -> pd.DataFrame:
    return summarize_posterior(shard.enc, _shard_posterior(shard, state))


def _state_columns(image_dates: pd.DatetimeIndex) -> list[str]:
    return [*(str(d.date()) for d in image_dates), "intact"]


def _shard_states(shard: _Shard, state: dict[str, Any]) -> pd.DataFrame:
    columns = _state_columns(shard.enc.image_dates)
    return pd.DataFrame(_shard_posterior(shard, state), index=shard.enc.building_ids, columns=columns)


@dataclass(eq=False)
class DistributedConsensus:
    """What :func:`aggregate_distributed` returns: the consensus with its per-building parts left on the workers.

    Attributes
    ----------
    buildings : dask.dataframe.DataFrame
        The contract's per-building table (as :attr:`Consensus.buildings`), one partition per shard, indexed by
        building_id with known divisions. Computing it runs one E-step per shard under the final parameters.
    states : dask.dataframe.DataFrame
        The posterior, one row per building, one column per state (as :meth:`Consensus.state_probabilities`).
    volunteers : pandas.DataFrame
        Indexed by volunteer_id, as :attr:`Consensus.volunteers`.
    image_dates, prior, log_likelihood, n_iter, converged, method
        As in :class:`Consensus`.
    client : dask.distributed.Client
        The client the shards live on; :meth:`close` releases them (and closes a cluster made for the fit).
    shuffled : bool
        Whether the answers were shuffled by building; False when the input was already partitioned by building
        (see :func:`aggregate_distributed`) and each of its partitions became a shard.
    """

    buildings: Any
    states: Any
    volunteers: pd.DataFrame
    image_dates: pd.DatetimeIndex
    prior: np.ndarray
    log_likelihood: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    method: str = "em"
    client: Any = None
    shuffled: bool = True
    _shards: list[Any] = field(default_factory=list, repr=False)
    _own: tuple[Any, ...] = field(default=(), repr=False)

    def to_parquet(self, path: str | Path, **kwargs: Any) -> None:
        """Write :attr:`buildings` as a Parquet dataset, partition by partition on the workers."""
        self.buildings.to_parquet(path, **kwargs)

    def compute(self) -> Consensus:
        """Gather everything into an in-memory :class:`Consensus` (for tables that fit on the client)."""
        buildings, states = self.client.compute([self.buildings, self.states], sync=True)
        return Consensus(buildings=buildings, volunteers=self.volunteers, posterior=states.to_numpy(),
                         image_dates=self.image_dates, method=self.method, prior=self.prior,
                         log_likelihood=self.log_likelihood, n_iter=self.n_iter, converged=self.converged)

    def close(self) -> None:
        """Release the shards; close the client and cluster if :func:`aggregate_distributed` made them."""
        self._shards.clear()
        close_all(self._own)
        self._own = ()

    def __enter__(self) -> DistributedConsensus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<DistributedConsensus method={self.method!r} partitions={self.buildings.npartitions} "
                f"volunteers={len(self.volunteers)} images={len(self.image_dates)} iterations={self.n_iter} "
                f"shuffled={self.shuffled}>")


def _as_dask(labels: Any, n_partitions: int | None, n_threads: int) -> Any:
    import dask.dataframe as dd

    if isinstance(labels, str | os.PathLike):
        return dd.read_parquet(labels)
    if isinstance(labels, pd.DataFrame):
        if len(labels) == 0:
            raise LabelsError("the label table is empty; there is nothing to aggregate.")
        return dd.from_pandas(labels, npartitions=max(1, min(n_partitions or n_threads, len(labels))))
    if is_distributed_input(labels):
        return labels
    raise LabelsError(f"labels must be a pandas or Dask DataFrame or a path to a Parquet dataset, got "
                      f"{type(labels).__name__}.")


def _sorted_by_building(ddf: Any) -> bool:
    """Whether the answers are already partitioned by building: indexed by ``building_id`` with known, strictly
    increasing divisions (``set_index("building_id")``, or Parquet read with ``index="building_id",
    calculate_divisions=True``), so that no partition shares a building with another."""
    if ddf.index.name != "building_id" or not ddf.known_divisions:
        return False
    divisions = list(ddf.divisions)
    return all(a < b for a, b in itertools.pairwise(divisions))


def _global_tables(ddf: Any, image_dates: object, client: Any) -> tuple[pd.Index, pd.Index, pd.DatetimeIndex]:
    """Sorted unique building and volunteer ids and the image catalogue, computed with Dask."""
    import dask

    buildings = ddf.index if "building_id" not in ddf.columns else ddf["building_id"]
    wanted = [buildings.unique(), ddf["volunteer_id"].unique()]
    if image_dates is None:
        wanted += [ddf["before"].dropna().unique(), ddf["after"].dropna().unique()]
    found = client.compute(wanted, sync=True) if client is not None else dask.compute(*wanted)
    if len(found[0]) == 0:
        raise LabelsError("the label table is empty; there is nothing to aggregate.")
    _, building_ids = _encode_ids(pd.Series(found[0]).reset_index(drop=True), "building_id")
    _, volunteer_ids = _encode_ids(pd.Series(found[1]).reset_index(drop=True), "volunteer_id")
    # text ids as pandas' default string dtype, however Dask read them (it reads Parquet text as NA-backed strings)
    building_ids, volunteer_ids = (ids.astype("str") if pd.api.types.infer_dtype(ids) == "string" else ids
                                   for ids in (building_ids, volunteer_ids))
    if image_dates is None:
        before = parse_image_dates(pd.Series(np.asarray(found[2])), "before", required=False)
        after = parse_image_dates(pd.Series(np.asarray(found[3])), "after", required=False)
        dates = _catalogue(None, before, after)
    else:
        dates = _catalogue(image_dates, pd.Series(dtype="datetime64[ns]"), pd.Series(dtype="datetime64[ns]"))
    return building_ids, volunteer_ids, dates


def aggregate_distributed(
    labels: Any,
    image_dates: object = None,
    *,
    client: Any = None,
    n_partitions: int | None = None,
    task: Literal["timeline", "compare"] | None = None,
    volunteer_params: pd.DataFrame | None = None,
    fit_volunteers: bool | None = None,
    prior: np.ndarray | None = None,
    shrinkage: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-7,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    shuffle_method: str = "tasks",
    callback: Callable[[int, float], None] | None = None,
) -> DistributedConsensus:
    """Fit the consensus model (``method="em"``) on Dask; same result as :func:`stracker.aggregate`.

    Parameters
    ----------
    labels : dask.dataframe.DataFrame, str, PathLike or pandas.DataFrame
        The label table of the contract, or a path to a Parquet dataset of it.
    image_dates : array-like of dates, optional
        The image catalogue; default: the distinct dates found in the table.
    client : dask.distributed.Client, optional
        Where to run; default: a new ``LocalCluster`` (closed by :meth:`DistributedConsensus.close`).
    n_partitions : int, optional
        Shards (partitions by building); default: the input's partitions (a pandas table: the worker threads).
        Answers already partitioned by building (a Dask DataFrame indexed by ``building_id`` with known
        divisions, e.g. from ``set_index("building_id")`` or a sorted Parquet dataset read with
        ``index="building_id", calculate_divisions=True``) are not shuffled: each partition is a shard.
    task, volunteer_params, fit_volunteers, prior, shrinkage, max_iter, tol, on_duplicate
        As in :func:`stracker.aggregate`. Duplicates are found within a building's answers, which one shard
        holds, so the same duplicates are found; "warn" gives one warning with their total count.
    shuffle_method : str
        How Dask partitions the answers by building ("tasks" or "p2p").
    callback : callable, optional
        Called on the client after each iteration's E-step as ``callback(n_iter, log_likelihood)``.

    Returns
    -------
    DistributedConsensus

    Examples
    --------
    >>> import pandas as pd
    >>> from dask.distributed import Client, LocalCluster
    >>> from stracker.consensus.distributed import aggregate_distributed
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2, 2], "volunteer_id": ["a", "b", "a", "b"],
    ...     "before": pd.NaT, "after": pd.to_datetime(["2017-06-10"] * 4),
    ...     "destroyed": [True, True, False, False], "task": "compare"})
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as c:
    ...     result = aggregate_distributed(labels, client=c, n_partitions=2)
    ...     table = result.buildings.compute()
    >>> (table["p_destroyed"] > 0.5).tolist()
    [True, False]
    """
    import dask

    client, own = local_client(client)
    try:
        with dask.config.set({"dataframe.shuffle.method": shuffle_method}):
            return _fit(labels, image_dates, client, own, n_partitions=n_partitions, task=task,
                        volunteer_params=volunteer_params, fit_volunteers=fit_volunteers, prior=prior,
                        shrinkage=shrinkage, max_iter=max_iter, tol=tol, on_duplicate=on_duplicate,
                        shuffle_method=shuffle_method, callback=callback)
    except BaseException:
        close_all(own)
        raise


def local_client(client: Any) -> tuple[Any, tuple[Any, ...]]:
    """``client``, or a new client of a new ``LocalCluster``; the second item lists what was made here."""
    if client is not None:
        return client, ()
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster()
    client = Client(cluster)
    return client, (client, cluster)


def close_all(things: tuple[Any, ...]) -> None:
    """Close what :func:`local_client` made (client first, then its cluster)."""
    for thing in things:
        thing.close()


def _fit(labels: Any, image_dates: object, client: Any, own: tuple[Any, ...], *, n_partitions: int | None,
         task: str | None, volunteer_params: pd.DataFrame | None, fit_volunteers: bool | None,
         prior: np.ndarray | None, shrinkage: float, max_iter: int, tol: float, on_duplicate: str,
         shuffle_method: str, callback: Callable[[int, float], None] | None) -> DistributedConsensus:
    import dask
    import dask.dataframe as dd

    n_threads = max(1, sum(client.nthreads().values()))
    ddf = _as_dask(labels, n_partitions, n_threads)
    presorted = _sorted_by_building(ddf)
    meta = ddf._meta.reset_index() if presorted else ddf._meta
    check_label_columns(meta)
    _encode_task(meta, task)  # a task column or the task= keyword, not both nor neither
    ddf = ddf[[c for c in LABEL_COLUMNS if c in ddf.columns]]
    building_ids, volunteer_ids, dates = _global_tables(ddf, image_dates, client)
    B = len(building_ids)
    if presorted:
        # already partitioned by building: each partition is a shard, no shuffle (the input's partitioning holds)
        divisions = list(ddf.divisions)
        starts = np.append(building_ids.searchsorted(divisions[:-1], side="left"), B).astype(np.int64)
        # every partition starts at a building it holds (divisions taken from the data): none is empty
        presorted = bool((starts[:-1] < B).all()) and (
            building_ids[np.minimum(starts[:-1], B - 1)].tolist() == list(divisions[:-1]))
        if presorted:
            by_building = ddf
        else:
            ddf = ddf.reset_index()
    if not presorted:
        n_shards = max(1, min(n_partitions or ddf.npartitions, B))
        starts = np.unique(np.linspace(0, B, n_shards + 1).astype(np.int64))
        divisions = [building_ids[s] for s in starts[:-1]] + [building_ids[B - 1]]
        by_building = ddf.set_index("building_id", divisions=divisions, shuffle_method=shuffle_method)
    parts = by_building.to_delayed()
    volunteer_ids_f = client.submit(_identity, volunteer_ids, pure=False)  # small tables, held as tasks
    dates_f = client.submit(_identity, dates, pure=False)
    build = dask.delayed(_build_shard, pure=True)
    graphs = [build(part, building_ids[lo:hi], volunteer_ids_f, dates_f, task, on_duplicate)
              for part, lo, hi in zip(parts, starts[:-1], starts[1:], strict=True)]
    shards = client.compute(graphs)
    info = _tree_sum(client, [client.submit(_shard_info, s, pure=False) for s in shards])
    if info["n_duplicates"] and on_duplicate == "warn":
        warnings.warn(
            f"exact duplicate answers in {info['n_duplicates']} row(s): the same volunteer gave the same answer "
            "about the same building and images more than once. They are used as given (each counts); "
            "deduplicate with labels.drop_duplicates() if they are export artefacts.",
            DuplicateAnswersWarning, stacklevel=3,
        )

    if fit_volunteers is None:
        fit_volunteers = volunteer_params is None
    start = resolve_params(volunteer_params, volunteer_ids, allow_missing=fit_volunteers)
    updater = _Updater(start, dates, fit_volunteers=fit_volunteers, prior=prior, shrinkage=shrinkage,
                       prior_pseudocount=0.5, image_difficulty=True, volunteer_types=4)
    history: list[float] = []
    converged = False
    n_iter = 0
    used: dict[str, Any] = {}
    for n_iter in range(1, max_iter + 1):
        used = {"params": dict(updater.params), "image_weight": updater.image_weight,
                "log_prior": updater.log_prior(), "want_stats": bool(fit_volunteers)}
        state_f = client.submit(_identity, used, pure=False)
        total = _tree_sum(client, [client.submit(_shard_step, s, state_f, pure=False) for s in shards])
        history.append(float(total["ll"]))
        if callback is not None:
            callback(n_iter, history[-1])
        if converged_at(history, tol) or not updater.learns:
            converged = True
            break
        stats = {name: total["stats"][name] for name in STAT_NAMES if name in total["stats"]}
        updater.update(stats if fit_volunteers else None, total.get("image_skips"), total.get("image_notices"),
                       bool(info["n_marks"]), total["posterior_sum"], B)

    final = dict(used, want_stats=False)
    state_f = client.submit(_identity, final, pure=False)
    meta_buildings = summarize_posterior(_empty_enc(dates, volunteer_ids, building_ids[:0]),
                                         np.zeros((0, len(dates) + 1)))
    buildings = dd.from_delayed(
        [dask.delayed(_shard_buildings)(s, state_f) for s in shards], meta=meta_buildings,
        divisions=divisions, verify_meta=False,
    )
    meta_states = pd.DataFrame(np.zeros((0, len(dates) + 1)), index=building_ids[:0], columns=_state_columns(dates))
    states = dd.from_delayed(
        [dask.delayed(_shard_states)(s, state_f) for s in shards], meta=meta_states, divisions=divisions,
        verify_meta=False,
    )
    volunteers = volunteer_table_from_counts(volunteer_ids, info["n_timeline"], info["n_compare"],
                                             updater.params)
    return DistributedConsensus(
        buildings=buildings, states=states, volunteers=volunteers, image_dates=dates, prior=updater.pi,
        log_likelihood=history, n_iter=n_iter, converged=converged, client=client, shuffled=not presorted,
        _shards=[*shards, state_f], _own=own,
    )


def _empty_enc(dates: pd.DatetimeIndex, volunteer_ids: pd.Index, building_ids: pd.Index) -> EncodedLabels:
    empty = np.zeros(0, np.int32)
    return EncodedLabels(building_ids=building_ids, volunteer_ids=volunteer_ids, image_dates=dates, building=empty,
                         volunteer=empty, lo=empty.astype(np.int16), hi=empty.astype(np.int16),
                         answer=empty.astype(np.int8), task=empty.astype(np.int8), row_index=pd.RangeIndex(0))
