"""The consensus EM on Dask: answers partitioned by building, one pass over the partitions per iteration.

The label table (a Dask DataFrame, a Parquet dataset or a pandas DataFrame) is checked and encoded partition by
partition on the workers (:func:`stracker.encode_labels`, every bad row named), each partition with its own
codes; the client gathers only the partitions' sorted id tables and catalogues and merges them into the global
ones (the sorted unique building and volunteer ids, the image catalogue), which are small. Partitions that
already hold disjoint ranges of buildings (files of an export partitioned by building, or an input indexed by
building with known divisions) are shards as they are; otherwise the answers' codes (14 bytes an answer, not the
table's columns) are shuffled so that each partition holds every answer about a contiguous range of building
codes. Each partition becomes a *shard* on a worker: the same index arrays as the in-memory engine (an
:class:`~stracker.consensus.model.AnswerModel`), over the shard's buildings and all volunteers. The shards are
computed from the graph (never scattered), so a lost worker's shards are recomputed from lineage, and held for
the whole fit.

The shards are placed in contiguous blocks, one block per worker thread. Each EM iteration submits one task per
block, on its worker: the E-step on each of its shards under the current
:class:`~stracker.consensus.model.ModelState`, their :class:`~stracker.consensus.model.SufficientStatistics`
(their part of the log-likelihood, per-volunteer numerators and denominators, per-image skips and notices, the
posterior's column sums) summed there in shard order. The blocks' sums are added by a tree reduction and the
client drives the very loop and M-step of the in-memory engine (:func:`stracker.consensus.em.run_em`,
:class:`stracker.consensus.em.MStep`), so the result equals the in-memory engine's up to the order of
floating-point sums, whatever the partitioning (and the same from run to run: the blocks, not where Dask put
the shards, fix that order). Only arrays the size of the volunteers or the images travel, once per block;
posteriors stay on the workers.

The result's per-building table is a Dask DataFrame built shard by shard; :meth:`DistributedConsensus.to_parquet`
writes it partition by partition, and :class:`DistributedConsensus` has the methods of
:class:`~stracker.consensus.result.Consensus` (``summary``, ``state_probabilities``, ``to_file``, ...).
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stracker.consensus.em import EMOptions, MStep, em_options, run_em
from stracker.consensus.model import AnswerModel, EStep, ModelState, SufficientStatistics, sum_statistics
from stracker.consensus.result import (
    Consensus,
    consensus_summary,
    state_columns,
    summarize_posterior,
    volunteer_table_from_counts,
)
from stracker.errors import FileFormatError, LabelsError, OptionsError
from stracker.labels import (
    COMPARE,
    LABEL_COLUMNS,
    ON_DUPLICATE,
    TIMELINE,
    EncodedLabels,
    check_label_columns,
    duplicate_answers,
    encode_ids,
    encode_labels,
    encode_task,
    image_catalogue,
    image_index_dtype,
    report_duplicates,
    take_rows,
)

__all__ = [
    "ClusterLease",
    "DistributedConsensus",
    "aggregate_distributed",
    "close_all",
    "current_client",
    "is_dask_dataframe",
    "local_client",
]

_FAN_IN = 8  # parts summed per task of the tree reduction


def is_dask_dataframe(labels: object) -> bool:
    """Whether ``labels`` is a Dask collection (a Dask DataFrame), without importing Dask.

    Examples
    --------
    >>> is_dask_dataframe(pd.DataFrame())
    False
    """
    return type(labels).__module__.split(".")[0] in ("dask", "dask_expr")


_MAX_EXAMPLES = 5  # duplicated buildings named in the message


@dataclass
class _Shard:
    """The answers about one contiguous range of buildings, encoded with global volunteer codes."""

    enc: EncodedLabels
    model: AnswerModel
    duplicates: np.ndarray  # which answers repeat another exactly (all False with on_duplicate="ignore")


@dataclass(frozen=True)
class _ShardCounts:
    """Answer counts of shards, summed with ``+`` by the tree reduction."""

    n_timeline: np.ndarray
    n_compare: np.ndarray
    n_duplicates: int
    duplicated_buildings: tuple[Any, ...]

    def __add__(self, other: _ShardCounts) -> _ShardCounts:
        return _ShardCounts(
            self.n_timeline + other.n_timeline,
            self.n_compare + other.n_compare,
            self.n_duplicates + other.n_duplicates,
            (self.duplicated_buildings + other.duplicated_buildings)[:_MAX_EXAMPLES],
        )


@dataclass(frozen=True)
class _PartitionIds:
    """What the client needs of one encoded partition: its sorted distinct ids and its image catalogue."""

    building_ids: pd.Index
    volunteer_ids: pd.Index
    image_dates: pd.DatetimeIndex


@dataclass(frozen=True)
class _Tables:
    """The global id tables and catalogue, as every shard needs them (one copy per worker)."""

    building_ids: pd.Index
    volunteer_ids: pd.Index
    image_dates: pd.DatetimeIndex


def _encode_partition(
    part: pd.DataFrame, number: int, image_dates: object, task: Literal["timeline", "compare"] | None
) -> EncodedLabels | None:
    """Check and encode one input partition on its worker, with its own codes (None for an empty partition).

    Every row is checked here, once; duplicates are found later, per shard, on the global codes."""
    if "building_id" not in part.columns and part.index.name == "building_id":
        part = part.reset_index()
    if len(part) == 0:
        return None
    try:
        return encode_labels(part, image_dates, task=task, on_duplicate="ignore")
    except LabelsError as exc:
        raise type(exc)(f"partition {number} of the answers: {exc}") from None


def _partition_ids(enc: EncodedLabels | None) -> _PartitionIds | None:
    if enc is None:
        return None
    return _PartitionIds(enc.building_ids, enc.volunteer_ids, enc.image_dates)


_CODES = ("building", "volunteer", "lo", "hi", "answer", "task")


def _global_codes(
    enc: EncodedLabels, building_ids: pd.Index, volunteer_ids: pd.Index, image_dates: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """A partition's answers as codes (14 bytes an answer) in the global id tables and catalogue."""
    b_map = building_ids.get_indexer(enc.building_ids)
    v_map = volunteer_ids.get_indexer(enc.volunteer_ids)
    if (b_map < 0).any() or (v_map < 0).any():  # the partitioning and the id tables disagree: a bug, not bad data
        raise RuntimeError("a partition holds ids missing from the global id tables")
    codes = {"building": b_map.astype(np.int32)[enc.building], "volunteer": v_map.astype(np.int32)[enc.volunteer]}
    if enc.image_dates.equals(image_dates):
        codes |= {"lo": enc.lo, "hi": enc.hi}
    else:
        d_map = image_dates.get_indexer(enc.image_dates).astype(image_index_dtype(len(image_dates)))
        codes |= {"lo": take_rows(d_map, enc.lo, -1), "hi": d_map[enc.hi]}
    return codes | {"answer": enc.answer, "task": enc.task}


def _make_shard(codes: Mapping[str, np.ndarray], tables: _Tables, first: int, stop: int, on_duplicate: str) -> _Shard:
    """The shard of the buildings ``first`` to ``stop`` (global codes) from the codes of all their answers."""
    building = codes["building"].astype(np.int32)  # counted from the shard's first building
    building -= first
    enc = EncodedLabels(
        building_ids=tables.building_ids[first:stop],
        volunteer_ids=tables.volunteer_ids,
        image_dates=tables.image_dates,
        building=building,
        volunteer=codes["volunteer"],
        lo=codes["lo"],
        hi=codes["hi"],
        answer=codes["answer"],
        task=codes["task"],
        row_index=pd.RangeIndex(building.size),
    )
    # duplicates are found here and reported on the client (a warning on a worker thread would not reach it);
    # a building's answers are all in one shard, so these are all the table's duplicates
    duplicates = duplicate_answers(enc) if on_duplicate != "ignore" else np.zeros(enc.n_answers, dtype=bool)
    return _Shard(enc, AnswerModel(enc), duplicates)


def _shard_of_partition(enc: EncodedLabels, tables: _Tables, first: int, stop: int, on_duplicate: str) -> _Shard:
    """The shard of a partition that alone holds the buildings ``first`` to ``stop`` (no shuffle)."""
    codes = _global_codes(enc, tables.building_ids, tables.volunteer_ids, tables.image_dates)
    return _make_shard(codes, tables, first, stop, on_duplicate)


def _codes_frame(enc: EncodedLabels | None, tables: _Tables) -> pd.DataFrame:
    """A partition's answers as global codes, what the shuffle by building moves."""
    if enc is None:
        return _codes_meta(tables.image_dates)
    return pd.DataFrame(_global_codes(enc, tables.building_ids, tables.volunteer_ids, tables.image_dates), copy=False)


def _codes_meta(image_dates: pd.DatetimeIndex) -> pd.DataFrame:
    index = image_index_dtype(len(image_dates))
    dtypes = dict(zip(_CODES, (np.int32, np.int32, index, index, np.int8, np.int8), strict=True))
    return pd.DataFrame({name: np.zeros(0, dtype=dtype) for name, dtype in dtypes.items()})


def _shard_of_codes(part: pd.DataFrame, tables: _Tables, first: int, stop: int, on_duplicate: str) -> _Shard:
    """The shard of a partition of the shuffled codes (indexed by building code, ``first`` to ``stop``)."""
    codes = {"building": part.index.to_numpy()} | {name: part[name].to_numpy() for name in _CODES[1:]}
    return _make_shard(codes, tables, first, stop, on_duplicate)


def _split_codes(enc: EncodedLabels, tables: _Tables, starts: np.ndarray) -> tuple[dict[str, np.ndarray], ...]:
    """A partition's global codes split by the shards' ranges of building codes (``starts``): one piece per shard,
    each the rows of that shard in their order (one linear, stable radix sort by shard). The pieces are arrays of
    their own, not views of one, so that each is freed as soon as its shard is built."""
    codes = _global_codes(enc, tables.building_ids, tables.volunteer_ids, tables.image_dates)
    n_shards = len(starts) - 1
    shard_of = np.repeat(np.arange(n_shards, dtype=np.uint16 if n_shards <= 2**16 else np.int64), np.diff(starts))
    shard = shard_of[codes["building"]]
    order = np.argsort(shard, kind="stable")
    bounds = np.zeros(n_shards + 1, dtype=np.int64)
    np.cumsum(np.bincount(shard, minlength=n_shards), out=bounds[1:])
    return tuple({name: values[order[a:b]] for name, values in codes.items()} for a, b in itertools.pairwise(bounds))


def _shard_of_pieces(
    pieces: list[Mapping[str, np.ndarray]], tables: _Tables, first: int, stop: int, on_duplicate: str
) -> _Shard:
    """The shard of the buildings ``first`` to ``stop`` from its pieces of every partition's codes."""
    codes = {name: np.concatenate([piece[name] for piece in pieces]) for name in _CODES}
    return _make_shard(codes, tables, first, stop, on_duplicate)


def _shard_counts(shard: _Shard) -> _ShardCounts:
    enc, V = shard.enc, shard.enc.n_volunteers
    duplicated = enc.building_ids[np.unique(enc.building[shard.duplicates])[:_MAX_EXAMPLES]]
    return _ShardCounts(
        n_timeline=np.bincount(enc.volunteer[enc.task == TIMELINE], minlength=V),
        n_compare=np.bincount(enc.volunteer[enc.task == COMPARE], minlength=V),
        n_duplicates=int(shard.duplicates.sum()),
        duplicated_buildings=tuple(duplicated.tolist()),
    )


def _identity(x: Any) -> Any:
    return x


def _shards_step(state: ModelState, volunteer_statistics: bool, *shards: _Shard) -> SufficientStatistics:
    """One E-step on each of a worker's shards, in order: their summed statistics for the M-step (the posteriors
    stay here). Summed on the worker, only one set of per-volunteer sums per group travels, not one per shard."""
    # summed in place (sum_statistics): the sums of ``+`` without a new set of per-volunteer arrays per shard (at
    # 150,000 volunteers, 20 MB each time)
    return sum_statistics(shard.model.e_step(state, volunteer_statistics).statistics for shard in shards)


def _add(*parts: Any) -> Any:
    """Sum statistics (or shard counts), left to right."""
    return functools.reduce(operator.add, parts)


def _tree_sum(client: Any, futures: list[Any]) -> Any:
    """Sum the results of ``futures`` on the workers by a tree of :func:`_add` tasks, in a fixed order."""
    while len(futures) > 1:
        futures = [client.submit(_add, *futures[i : i + _FAN_IN], pure=False) for i in range(0, len(futures), _FAN_IN)]
    return futures[0].result()


def _shard_posterior(shard: _Shard, state: ModelState) -> np.ndarray:
    posterior = shard.model.e_step(state, volunteer_statistics=False).posterior
    assert posterior is not None  # an AnswerModel's E-step always has it
    return posterior


def _shard_buildings(shard: _Shard, state: ModelState) -> pd.DataFrame:
    return summarize_posterior(shard.enc, _shard_posterior(shard, state))


def _shard_states(shard: _Shard, state: ModelState) -> pd.DataFrame:
    columns = state_columns(shard.enc.image_dates)
    return pd.DataFrame(_shard_posterior(shard, state), index=shard.enc.building_ids, columns=columns)


@dataclass(eq=False)
class DistributedConsensus:
    """What :func:`aggregate_distributed` returns: the consensus with its per-building parts left on the workers.

    It has the methods of :class:`Consensus` (``summary``, ``state_probabilities``, ``to_geodataframe``,
    ``to_file``, ``compute``), computed on the workers where they can be and gathered onto the client where a
    whole table is needed (``to_file``, ``to_geodataframe``); and :meth:`to_parquet`, which is not gathered.

    Attributes
    ----------
    buildings : dask.dataframe.DataFrame
        The contract's per-building table (as ``Consensus.buildings``), one partition per shard, indexed by
        building_id with known divisions. Computing it runs one E-step per shard under the final parameters.
    states : dask.dataframe.DataFrame
        The posterior, one row per building, one column per state (as :meth:`Consensus.state_probabilities`).
    volunteers : pandas.DataFrame
        Indexed by volunteer_id, as ``Consensus.volunteers``.
    image_dates, prior, log_likelihood, n_iter, converged, method, frames, compare_reliability, spatial_prior
        As in :class:`Consensus` (``frames`` is None: the EM has no frame table; ``spatial_prior`` is None: the
        spatial prior runs in memory only).
    client : dask.distributed.Client
        The client the shards live on; :meth:`close` releases them (and closes a cluster made for the fit).
        The methods run on it; the lazy attributes (``buildings``, ``states``) are ordinary Dask
        collections and compute on Dask's current client, which is this one unless another client was made
        current since (then ``result.client.compute(result.buildings)``).
    shuffled : bool
        Whether the answers were shuffled by building; False when the input was already partitioned by building
        (its partitions held disjoint ranges of buildings, see :func:`aggregate_distributed`) and each of its
        partitions became a shard.
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
    frames: None = None  # as in Consensus: only dawid_skene, which runs in memory, has a frame table
    compare_reliability: np.ndarray | None = None
    spatial_prior: None = None  # as in Consensus: the spatial prior (footprints=) runs in memory only
    _shards: list[Any] = field(default_factory=list, repr=False)
    _own: tuple[ClusterLease, ...] = field(default=(), repr=False)
    _n_buildings: int = field(default=0, repr=False)

    @property
    def n_states(self) -> int:
        """Number of destruction states, D + 1."""
        return len(self.image_dates) + 1

    def state_probabilities(self) -> Any:
        """The posterior as a Dask DataFrame: one row per building, one column per state (``states``)."""
        return self.states

    def summary(self) -> dict[str, float | int | str | bool]:
        """The headline figures of :meth:`Consensus.summary`, computed on the workers."""
        b = self.buildings
        destroyed, confidence = self.client.compute(
            [(b["p_destroyed"] >= 0.5).sum(), b["confidence"].mean()], sync=True
        )
        return consensus_summary(
            method=self.method,
            n_buildings=self.n_buildings,
            n_volunteers=len(self.volunteers),
            n_images=len(self.image_dates),
            n_destroyed=int(destroyed),
            mean_confidence=float(confidence),
            n_iter=self.n_iter,
            converged=self.converged,
        )

    @property
    def n_buildings(self) -> int:
        """Number of buildings with answers."""
        return self._n_buildings

    def to_parquet(self, path: str | Path, **kwargs: Any) -> None:
        """Write ``buildings`` as a Parquet dataset, partition by partition on the workers of ``client``."""
        self.client.compute(self.buildings.to_parquet(path, compute=False, **kwargs), sync=True)

    def to_geodataframe(
        self, footprints: pd.DataFrame, on: str = "building_id", on_unknown: Literal["error", "report"] = "error"
    ) -> pd.DataFrame:
        """:meth:`Consensus.to_geodataframe`, on the consensus gathered onto the client."""
        return self.compute().to_geodataframe(footprints, on=on, on_unknown=on_unknown)

    def to_file(
        self,
        path: str | Path,
        footprints: pd.DataFrame | None = None,
        *,
        images: pd.DataFrame | None = None,
        on: str = "building_id",
        on_unknown: Literal["error", "report"] = "error",
        overwrite: bool = False,
        extra: Mapping[str | Path, Callable[[Path], object]] | None = None,
    ) -> pd.DataFrame:
        """:meth:`Consensus.to_file` (a GeoPackage or GeoParquet file, atomically), on the consensus gathered
        onto the client; for a per-building table too large for the client, :meth:`to_parquet`."""
        return self.compute().to_file(
            path, footprints, images=images, on=on, on_unknown=on_unknown, overwrite=overwrite, extra=extra
        )

    def compute(self) -> Consensus:
        """Gather everything into an in-memory :class:`Consensus` (for tables that fit on the client)."""
        buildings, states = self.client.compute([self.buildings, self.states], sync=True)
        return Consensus(
            buildings=buildings,
            volunteers=self.volunteers,
            posterior=states.to_numpy(),
            image_dates=self.image_dates,
            method=self.method,
            prior=self.prior,
            log_likelihood=self.log_likelihood,
            n_iter=self.n_iter,
            converged=self.converged,
            compare_reliability=self.compare_reliability,
        )

    def close(self) -> None:
        """Release the shards; close the client and cluster if :func:`aggregate_distributed` made them (and no
        other result made later without a client shares them)."""
        self._shards.clear()
        close_all(self._own)
        self._own = ()

    def __enter__(self) -> DistributedConsensus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<DistributedConsensus method={self.method!r} partitions={self.buildings.npartitions} "
            f"volunteers={len(self.volunteers)} images={len(self.image_dates)} iterations={self.n_iter} "
            f"shuffled={self.shuffled}>"
        )


def _as_dask(labels: Any, n_partitions: int | None, n_threads: int) -> Any:
    import dask.dataframe as dd

    if isinstance(labels, str | os.PathLike):
        path = Path(labels)
        local = "://" not in str(labels)
        if local and not path.exists():
            raise FileFormatError(f"{path} does not exist; give the path of a Parquet dataset of answers.")
        if local and path.is_file() and path.suffix.lower() not in (".parquet", ".pq"):
            raise FileFormatError(
                f"{path} is not a Parquet dataset; aggregate_distributed reads Parquet (one file or a directory "
                "of them). Read other files with stracker.read_labels and pass the table to stracker.aggregate, "
                "or to aggregate_distributed."
            )
        return dd.read_parquet(labels)
    if isinstance(labels, pd.DataFrame):
        if len(labels) == 0:
            raise LabelsError("the label table is empty; there is nothing to aggregate.")
        return dd.from_pandas(labels, npartitions=max(1, min(n_partitions or n_threads, len(labels))))
    if is_dask_dataframe(labels):
        return labels
    raise LabelsError(
        f"labels must be a pandas or Dask DataFrame or a path to a Parquet dataset, got {type(labels).__name__}."
    )


def _sorted_by_building(ddf: Any) -> bool:
    """Whether the answers are already partitioned by building: indexed by ``building_id`` with known, strictly
    increasing divisions (``set_index("building_id")``, or Parquet read with ``index="building_id",
    calculate_divisions=True``), so that no partition shares a building with another."""
    if ddf.index.name != "building_id" or not ddf.known_divisions:
        return False
    divisions = list(ddf.divisions)
    return all(a < b for a, b in itertools.pairwise(divisions))


def _global_tables(found: list[_PartitionIds], image_dates: object) -> tuple[pd.Index, pd.Index, pd.DatetimeIndex]:
    """Sorted unique building and volunteer ids and the image catalogue, from the partitions' own tables."""

    def union(name: str, tables: list[pd.Index]) -> pd.Index:
        _, ids = encode_ids(pd.concat([pd.Series(ids) for ids in tables], ignore_index=True), name)
        # text ids as pandas' default string dtype, however Dask read them (it reads Parquet text as NA-backed
        # strings)
        return ids.astype("str") if pd.api.types.infer_dtype(ids) == "string" else ids

    building_ids = union("building_id", [ids.building_ids for ids in found])
    volunteer_ids = union("volunteer_id", [ids.volunteer_ids for ids in found])
    seen = pd.Series(np.concatenate([ids.image_dates.to_numpy(dtype="datetime64[ns]") for ids in found]))
    no_dates = pd.Series(dtype="datetime64[ns]")
    dates = image_catalogue(image_dates, seen, no_dates) if image_dates is None else found[0].image_dates
    return building_ids, volunteer_ids, dates


def _slot(k: int, n: int, n_slots: int) -> int:
    """The slot of shard ``k`` of ``n``: contiguous blocks of shards, one block per slot."""
    return k * n_slots // n


def _slots(client: Any) -> list[str]:
    """One entry per worker thread, workers in address order: where the groups of shards live and run."""
    nthreads = client.nthreads()
    return [worker for worker in sorted(nthreads) for _ in range(max(1, nthreads[worker]))]


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
    options: EMOptions | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    shrinkage: float | None = None,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    shuffle_method: str = "tasks",
    callback: Callable[[int, float], None] | None = None,
    visibility: object = None,
    gold: object = None,
) -> DistributedConsensus:
    """Fit the consensus model (``method="em"``) on Dask; same result as :func:`stracker.aggregate`.

    For answers that do not fit on one machine: a Dask DataFrame or a Parquet dataset (a pandas table works too).

    Parameters
    ----------
    labels : dask.dataframe.DataFrame, str, PathLike or pandas.DataFrame
        The label table of the contract, or a path to a Parquet dataset of it.
    image_dates : array-like of dates, optional
        The image catalogue; default: the distinct dates found in the table.
    client : dask.distributed.Client, optional
        Where to run; default, as Dask's convention: the current client (of a ``with Client(...)`` block, or
        the default client, see ``distributed.get_client``); when there is none, a new ``LocalCluster``, which
        :meth:`DistributedConsensus.close` (or leaving ``with aggregate_distributed(...) as result:``) closes.
    n_partitions : int, optional
        Shards (partitions by building); default: the input's partitions (a pandas table: the worker threads).
        Answers already partitioned by building are not shuffled: each partition is a shard. They are so when
        the input's partitions (files of a Parquet dataset, say) hold disjoint ranges of building ids, in any
        order, and ``n_partitions`` is not given (or is their number); or when the input is a Dask DataFrame
        indexed by ``building_id`` with known divisions, each a building of its partition (e.g. from
        ``set_index("building_id")`` or a sorted Parquet dataset read with ``index="building_id",
        calculate_divisions=True``; ``n_partitions`` is then not used).
    task, volunteer_params, fit_volunteers, prior, options, max_iter, tol, shrinkage, on_duplicate
        As in :func:`stracker.aggregate` (the same :class:`stracker.EMOptions`, the same defaults).
        Duplicates are found within a building's answers, which one shard holds, so the same duplicates are
        found; "warn" gives one warning with their total count and the first few buildings.
    shuffle_method : str
        How Dask shuffles the answers' codes by building, when they must be ("tasks" or "p2p").
    callback : callable, optional
        Called on the client after each iteration's E-step as ``callback(n_iter, log_likelihood)``.
    visibility, gold : None
        Not on Dask (yet): :func:`stracker.aggregate` takes them, in memory; given here, an
        :class:`~stracker.errors.OptionsError`. (``options.compare_image_reliability`` works on Dask.)

    Returns
    -------
    DistributedConsensus

    Examples
    --------
    >>> import pandas as pd
    >>> from dask.distributed import Client, LocalCluster
    >>> from stracker import aggregate_distributed
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2, 2], "volunteer_id": ["a", "b", "a", "b"],
    ...     "before": pd.NaT, "after": pd.to_datetime(["2017-06-10"] * 4),
    ...     "destroyed": [True, True, False, False], "task": "compare"})

    Inside a ``with Client(...)`` block the fit runs on that client (no ``client=`` needed), and so does
    computing the result's lazy tables:

    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as c:
    ...     result = aggregate_distributed(labels, n_partitions=2)
    ...     table = result.buildings.compute()
    ...     on_it = result.client is c
    >>> on_it, (table["p_destroyed"] > 0.5).tolist()
    (True, [True, False])
    """
    if visibility is not None or gold is not None:
        given = " and ".join(
            name for name, value in (("visibility=", visibility), ("gold=", gold)) if value is not None
        )
        raise OptionsError(
            f"the Dask engine does not take {given}; fit in memory with stracker.aggregate(labels, ..., "
            "visibility=, gold=) (a label table of a few million answers fits)."
        )
    import dask

    options = em_options(options, max_iter=max_iter, tol=tol, shrinkage=shrinkage)
    if on_duplicate not in ON_DUPLICATE:
        raise LabelsError(f"on_duplicate must be 'warn', 'error' or 'ignore', got {on_duplicate!r}.")
    client, own = local_client(client)
    try:
        with dask.config.set({"dataframe.shuffle.method": shuffle_method}):
            return _fit(
                labels,
                image_dates,
                client,
                own,
                n_partitions=n_partitions,
                task=task,
                volunteer_params=volunteer_params,
                fit_volunteers=fit_volunteers,
                prior=prior,
                options=options,
                on_duplicate=on_duplicate,
                shuffle_method=shuffle_method,
                callback=callback,
            )
    except BaseException:
        close_all(own)
        raise


@dataclass(eq=False)
class ClusterLease:
    """A ``LocalCluster`` and its client made by :func:`local_client`, shared by the results that use it.

    Its client is Dask's default client while it is open, so that ``result.buildings.compute()`` runs where the
    shards are; a later call without a client finds it as the current client and shares it. The last
    :meth:`release` closes the client, then the cluster.
    """

    client: Any
    cluster: Any
    users: int = 1

    def release(self) -> None:
        """One user fewer; the last one closes the client and its cluster."""
        self.users -= 1
        if self.users == 0:
            _LEASES.pop(id(self.client), None)
            self.client.close()
            self.cluster.close()


_LEASES: dict[int, ClusterLease] = {}  # open leases by id of their client


def current_client() -> Any:
    """Dask's current client (``distributed.get_client()``: the client of a ``with Client(...)`` block, the task's
    worker client, or the default client), or None when there is none."""
    from distributed import get_client

    try:
        return get_client()
    except ValueError:  # no client anywhere
        return None


def local_client(client: Any) -> tuple[Any, tuple[ClusterLease, ...]]:
    """The client to run on and what the caller must release with :func:`close_all`.

    Dask's convention (as xgboost.dask: ``distributed.get_client()``): ``client`` if given, else the current client
    (:func:`current_client`), else a new ``LocalCluster`` and its client (the only case with something to
    release; a current client that a lease made is shared, one user more).
    """
    if client is None:
        client = current_client()
        lease = _LEASES.get(id(client)) if client is not None else None
        if lease is None:
            return (client, ()) if client is not None else _new_lease()
        lease.users += 1
        return client, (lease,)
    return client, ()


def _new_lease() -> tuple[Any, tuple[ClusterLease, ...]]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster()
    try:
        client = Client(cluster)  # the default client from now on (set_as_default): lazy results compute here
    except BaseException:
        cluster.close()
        raise
    lease = ClusterLease(client, cluster)
    _LEASES[id(client)] = lease
    return client, (lease,)


def close_all(leases: tuple[ClusterLease, ...]) -> None:
    """Release what :func:`local_client` leased (the last user of a cluster closes it)."""
    for lease in leases:
        lease.release()


def _fit(
    labels: Any,
    image_dates: object,
    client: Any,
    own: tuple[Any, ...],
    *,
    n_partitions: int | None,
    task: Literal["timeline", "compare"] | None,
    volunteer_params: pd.DataFrame | None,
    fit_volunteers: bool | None,
    prior: np.ndarray | None,
    options: EMOptions,
    on_duplicate: str,
    shuffle_method: str,
    callback: Callable[[int, float], None] | None,
) -> DistributedConsensus:
    import dask
    import dask.dataframe as dd

    n_threads = max(1, sum(client.nthreads().values()))
    ddf = _as_dask(labels, n_partitions, n_threads)
    declared = _sorted_by_building(ddf)
    meta = ddf._meta.reset_index() if declared else ddf._meta
    check_label_columns(meta)
    encode_task(meta, task)  # a task column or the task= keyword, not both nor neither
    ddf = ddf[[c for c in LABEL_COLUMNS if c in ddf.columns]]
    # each partition is checked and encoded on its worker, once, with its own codes; the client gathers only
    # the partitions' id tables and catalogues (small) and makes the global ones
    encode = dask.delayed(_encode_partition, pure=True)
    encoded = client.compute([encode(part, i, image_dates, task) for i, part in enumerate(ddf.to_delayed())])
    found = client.gather([client.submit(_partition_ids, f, pure=False) for f in encoded])
    held = [i for i, ids in enumerate(found) if ids is not None]
    if not held:
        raise LabelsError("the label table is empty; there is nothing to aggregate.")
    building_ids, volunteer_ids, dates = _global_tables([found[i] for i in held], image_dates)
    B = len(building_ids)
    tables_f = client.submit(_identity, _Tables(building_ids, volunteer_ids, dates), pure=False)
    # partitions that hold disjoint ranges of buildings are shards as they are: no shuffle
    first = building_ids.get_indexer([found[i].building_ids[0] for i in held])
    last = building_ids.get_indexer([found[i].building_ids[-1] for i in held])
    order = np.argsort(first, kind="stable")
    disjoint = bool((first[order][1:] > last[order][:-1]).all())
    if declared:  # indexed by building with divisions: kept when every division is its partition's first building
        unshuffled = len(held) == ddf.npartitions and list(ddf.divisions[:-1]) == building_ids[first].tolist()
    else:
        unshuffled = disjoint and n_partitions in (None, len(held))
    build: Callable[..., _Shard]
    if unshuffled:
        starts = np.append(first[order], B).astype(np.int64)
        divisions = list(ddf.divisions) if declared else [building_ids[s] for s in starts[:-1]] + [building_ids[-1]]
        build, sources = _shard_of_partition, [encoded[i] for i in np.asarray(held)[order]]
    else:
        # the codes (14 bytes an answer), not the table, are shuffled into contiguous ranges of building codes
        n_shards = max(1, min(n_partitions or ddf.npartitions, B))
        starts = np.unique(np.linspace(0, B, n_shards + 1).astype(np.int64))
        divisions = [building_ids[s] for s in starts[:-1]] + [building_ids[B - 1]]
        if shuffle_method == "tasks":
            # each partition's codes split into one piece per shard, each shard made of its pieces (a task each)
            split = dask.delayed(_split_codes, pure=True)
            splits = [split(encoded[i], tables_f, starts) for i in held]
            take = dask.delayed(operator.getitem, pure=True)
            build, sources = _shard_of_pieces, [[take(s, k) for s in splits] for k in range(len(starts) - 1)]
        else:  # Dask's own shuffle of the codes as a table (p2p: for very many partitions)
            frame = dask.delayed(_codes_frame, pure=True)
            codes = dd.from_delayed(
                [frame(encoded[i], tables_f) for i in held], meta=_codes_meta(dates), verify_meta=False
            )
            by_building = codes.set_index(
                "building", divisions=[int(s) for s in starts[:-1]] + [B - 1], shuffle_method=shuffle_method
            )
            build, sources = _shard_of_codes, by_building.to_delayed()
    # each shard lives on the worker of its slot (a contiguous block of shards per worker thread); each iteration
    # sums a slot's shards there, in shard order, so that the sums do not depend on where Dask put things
    slots = _slots(client)
    graphs = []
    for k, source in enumerate(sources):
        with dask.annotate(workers=[slots[_slot(k, len(sources), len(slots))]], allow_other_workers=True):
            graphs.append(
                dask.delayed(build, pure=True)(source, tables_f, int(starts[k]), int(starts[k + 1]), on_duplicate)
            )
    shards = client.compute(graphs)
    groups = [
        (worker, [s for k, s in enumerate(shards) if _slot(k, len(shards), len(slots)) == g])
        for g, worker in enumerate(slots)
    ]
    del encoded  # the shards hold what they need; lineage recomputes the rest if a worker is lost
    counts = _tree_sum(client, [client.submit(_shard_counts, s, pure=False) for s in shards])
    if counts.n_duplicates:
        examples = list(counts.duplicated_buildings)
        report_duplicates(
            f"{counts.n_duplicates} row(s) (about buildings {examples}"
            f"{', ...' if counts.n_duplicates > len(examples) else ''})",
            on_duplicate,
            stacklevel=3,
        )

    m_step = MStep.start(
        volunteer_ids,
        dates,
        volunteer_params=volunteer_params,
        fit_volunteers=fit_volunteers,
        prior=prior,
        options=options,
    )

    def e_step(state: ModelState) -> EStep:
        state_f = client.submit(_identity, state, pure=False)
        parts = [
            client.submit(
                _shards_step,
                state_f,
                m_step.fit_volunteers,
                *group,
                workers=[worker],
                allow_other_workers=True,
                pure=False,
            )
            for worker, group in groups
            if group
        ]
        return EStep.of(_tree_sum(client, parts))

    fit = run_em(e_step, m_step, options, callback)

    state_f = client.submit(_identity, fit.state, pure=False)  # the state of the last E-step, as in memory
    meta_buildings = summarize_posterior(
        _empty_enc(dates, volunteer_ids, building_ids[:0]), np.zeros((0, len(dates) + 1))
    )
    buildings = dd.from_delayed(
        [dask.delayed(_shard_buildings)(s, state_f) for s in shards],
        meta=meta_buildings,
        divisions=tuple(divisions),
        verify_meta=False,
    )
    meta_states = pd.DataFrame(np.zeros((0, len(dates) + 1)), index=building_ids[:0], columns=state_columns(dates))
    states = dd.from_delayed(
        [dask.delayed(_shard_states)(s, state_f) for s in shards],
        meta=meta_states,
        divisions=tuple(divisions),
        verify_meta=False,
    )
    volunteers = volunteer_table_from_counts(volunteer_ids, counts.n_timeline, counts.n_compare, fit.params)
    return DistributedConsensus(
        buildings=buildings,
        states=states,
        volunteers=volunteers,
        image_dates=dates,
        prior=fit.prior,
        log_likelihood=fit.log_likelihood,
        n_iter=fit.n_iter,
        converged=fit.converged,
        compare_reliability=fit.compare_reliability,
        client=client,
        shuffled=not unshuffled,
        _shards=[*shards, state_f],
        _own=own,
        _n_buildings=B,
    )


def _empty_enc(dates: pd.DatetimeIndex, volunteer_ids: pd.Index, building_ids: pd.Index) -> EncodedLabels:
    empty = np.zeros(0, np.int32)
    return EncodedLabels(
        building_ids=building_ids,
        volunteer_ids=volunteer_ids,
        image_dates=dates,
        building=empty,
        volunteer=empty,
        lo=empty.astype(np.int16),
        hi=empty.astype(np.int16),
        answer=empty.astype(np.int8),
        task=empty.astype(np.int8),
        row_index=pd.RangeIndex(0),
    )
