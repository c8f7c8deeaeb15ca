"""``stracker.aggregate``: from a label table to a calibrated consensus destruction date per building."""

from __future__ import annotations

import functools
import numbers
import operator
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from stracker.consensus.baselines import DAWID_SKENE_MAX_ITER, DAWID_SKENE_TOL, dawid_skene_frames, majority_posterior
from stracker.consensus.blocks import BlockedAnswerModel
from stracker.consensus.distributed import is_dask_dataframe
from stracker.consensus.em import EMOptions, em_options, fit_em
from stracker.consensus.inputs import HIDDEN_VISIBILITY, frame_visibility, gold_states
from stracker.consensus.model import PARAM_NAMES
from stracker.consensus.result import (
    Consensus,
    answer_counts,
    image_date_at,
    summarize_posterior,
    volunteer_counts,
    volunteer_table,
)
from stracker.consensus.spatial import NeighbourGraph, SpatialPrior, neighbour_graph, with_graph_buildings
from stracker.errors import LabelsError, OptionsError, UninformativeAnswersWarning
from stracker.labels import EncodedLabels, encode_labels
from stracker.parallel import resolve_threads

if TYPE_CHECKING:
    import geopandas as gpd
    from scipy import sparse

__all__ = ["METHODS", "aggregate"]

METHODS = ("em", "majority", "dawid_skene")
"""Aggregation methods: the full model (``em``) and two baselines."""


def aggregate(
    labels: pd.DataFrame | EncodedLabels | str | os.PathLike,
    image_dates: object = None,
    *,
    method: Literal["em", "majority", "dawid_skene"] = "em",
    task: Literal["timeline", "compare"] | None = None,
    volunteer_params: pd.DataFrame | None = None,
    fit_volunteers: bool | None = None,
    prior: np.ndarray | None = None,
    options: EMOptions | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    shrinkage: float | None = None,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    callback: Callable[[int, float], None] | None = None,
    visibility: pd.DataFrame | str | os.PathLike | None = None,
    gold: pd.DataFrame | pd.Series | str | os.PathLike | None = None,
    hidden_below: float = HIDDEN_VISIBILITY,
    footprints: gpd.GeoDataFrame | None = None,
    neighbours: NeighbourGraph | sparse.spmatrix | sparse.sparray | None = None,
    threads: int | None = None,
) -> Consensus:
    """Aggregate volunteer answers into a consensus destruction state per building, in memory.

    For answers that do not fit in memory (a Dask DataFrame or a Parquet dataset), see
    :func:`stracker.aggregate_distributed`: the same fit (``method="em"``) on a Dask cluster.

    Parameters
    ----------
    labels : pandas.DataFrame, EncodedLabels or path
        The label table of the contract: ``building_id``, ``volunteer_id``, ``before``, ``after``,
        ``destroyed`` and ``task`` (or the ``task`` keyword). Synthetic or a real export. A path (CSV or
        Parquet) is read with :func:`stracker.read_labels`.
    image_dates : array-like of dates, optional
        The image catalogue; default: the distinct dates found in the table.
    method : {"em", "majority", "dawid_skene"}
        ``em``: the full model (timeline mark model and two-coin Dawid-Skene per volunteer, learned prior,
        fit by EM). ``majority``: consistency vote. ``dawid_skene``: frame-level Dawid-Skene as crowd-kit.
    task : {"timeline", "compare"}, optional
        Task kind of every row, for a table without a ``task`` column.
    volunteer_params : pandas.DataFrame, optional
        Known volunteer parameters indexed by volunteer_id (columns among ``p_late``, ``p_early``,
        ``early_decay``, ``p_miss``, ``p_false``, ``p_guess``, ``sensitivity``, ``specificity``). With them the
        volunteer parameters are not fitted (unless ``fit_volunteers=True``, which uses them as the starting
        point, and volunteers missing from them start at the defaults);
        with the simulator's true parameters and prior this is the oracle posterior.
    fit_volunteers : bool, optional
        Whether to fit volunteer parameters; default: only when ``volunteer_params`` is not given.
    prior : array of shape (D + 1,), optional
        A known prior over states; default: learned from the whole campaign.
    options : EMOptions, optional
        How the EM runs (``method="em"`` only); default: :class:`stracker.EMOptions`.
    max_iter, tol, shrinkage : int, float, float, optional
        Shortcuts for the fields of ``options`` of those names: the EM stops after ``max_iter`` iterations or
        when the log-likelihood changes by at most ``tol`` relative; ``shrinkage`` pseudo-answers pull each
        volunteer's estimates towards its crowd type's. For ``dawid_skene``, ``max_iter`` and ``tol`` are
        crowd-kit's ``n_iter`` and ``tol`` (default 100 and 1e-5). ``majority`` does not iterate.
    on_duplicate : {"warn", "error", "ignore"}
        Exact duplicate answers are used as given; "warn" names them, "error" refuses them.
    callback : callable, optional
        Called as ``callback(n_iter, log_likelihood)`` after every iteration of ``em`` (after its E-step) and of
        ``dawid_skene`` (its loss), to report progress on long fits; ``majority`` does not iterate.
    visibility : pandas.DataFrame or path, optional
        Each building's visible (cloud-free) share in each image (``em`` only): a DataFrame indexed by
        building_id with one column per image date (values 0 to 1, or booleans), or the long table
        ``building_id, image_date, visible`` that ``stracker visibility`` writes (a path: CSV or Parquet,
        read with :func:`stracker.io.read_visibility`); :meth:`stracker.Simulation.visibility_table` gives the
        simulator's. The timeline model then counts skipped frames by their visible share (a hidden frame
        cannot be missed), and a compare answer is read with the chance that its frames could be (otherwise it
        is a coin flip); answers about hidden frames carry no information. Answered buildings it does not
        cover, and NaN shares, are fully visible (a warning names the buildings); see
        :mod:`stracker.consensus.inputs`.
    gold : pandas.DataFrame, Series or path, optional
        Buildings whose destruction an expert established (``em`` only): ``building_id`` and ``destroyed_on``
        (NaT: not destroyed; the review page's gold CSV, read with :func:`stracker.io.read_gold`), or expert
        answers as a label table. Their state is fixed (their posterior is the expert's), and the volunteers
        who answered them are calibrated by it. Gold buildings nobody answered about get a row with the
        expert's state (``n_labels`` 0), named in a warning.
    hidden_below : float
        A visible share below which a frame is hidden (with ``visibility``).
    footprints : geopandas.GeoDataFrame, optional
        Building footprints with a ``building_id`` column in a projected CRS (:func:`stracker.read_footprints`):
        ``em`` with the spatial-temporal prior (:mod:`stracker.consensus.spatial`), each building's prior leaning
        towards what the answers of its ``options.spatial_neighbours`` nearest footprints within
        ``options.spatial_radius_m`` say, with a strength the EM learns (near 0 where dates do not cluster).
        Every footprint gets a row; those without answers get their spatial prior as posterior (``n_labels``
        0). Every building with answers needs a footprint (gold buildings outside the footprints have no
        neighbours).
    neighbours : NeighbourGraph or scipy.sparse matrix, optional
        The same with a graph of your own, in place of ``footprints``: a
        :class:`~stracker.consensus.spatial.NeighbourGraph` (which names its buildings; those without answers
        get rows), or a square matrix of weights whose rows and columns are the label table's buildings in
        sorted id order (rows are normalised).

    threads : int, optional
        Threads the ``em`` fit runs on (its E-step, on blocks of buildings, and the per-building table); default:
        the environment variable ``STRACKER_THREADS`` if set, else every CPU this process may use (one in a task
        on a Dask worker). The result is the same, bit for bit, for any number of threads. With the spatial
        prior, which ties every building to its neighbours, the prior's step runs over every building on one
        thread, between the blocks' log-likelihoods and statistics.

    Returns
    -------
    Consensus

    Raises
    ------
    LabelsError
        If the table breaks the label contract (the message names the rows and the fix), or is a Dask
        DataFrame (use :func:`stracker.aggregate_distributed`).
    OptionsError
        If an option is out of range (``threads`` or ``STRACKER_THREADS`` not a whole number >= 1 among them), or
        ``options``, ``visibility``, ``gold``, ``footprints`` or ``neighbours``
        is given for a method other than ``em``, or ``neighbours`` is not a graph of the buildings.
    UnmatchedBuildingsError
        If none of the buildings of ``visibility`` is among the answers' (the ids do not match), or the gold's
        ids are of another type than the answers', or buildings with answers have no footprint.
    FootprintsError
        If ``footprints`` cannot give a neighbour graph (no id column, repeated ids, no geometry, no CRS or a
        geographic one).

    Examples
    --------
    >>> import pandas as pd, stracker
    >>> labels = pd.DataFrame({
    ...     "building_id": [1, 1, 1, 2, 2, 2],
    ...     "volunteer_id": ["a", "b", "c", "a", "b", "c"],
    ...     "before": pd.to_datetime(["2017-06-10", "2017-06-10", "2017-06-01", None, None, None]),
    ...     "after": pd.to_datetime(["2017-06-20", "2017-06-20", "2017-06-10"] + ["2017-07-01"] * 3),
    ...     "destroyed": [True, True, True, False, False, False],
    ... })
    >>> dates = ["2017-06-01", "2017-06-10", "2017-06-20", "2017-07-01"]
    >>> c = stracker.aggregate(labels, dates, task="timeline")
    >>> c.buildings.loc[1, ["destroyed_after", "destroyed_by"]].dt.date.astype(str).tolist()
    ['2017-06-10', '2017-06-20']
    >>> bool(c.buildings.loc[2, "p_destroyed"] < 0.5)
    True
    >>> c.posterior.shape
    (2, 5)
    """
    if method not in METHODS:
        raise LabelsError(f"unknown method {method!r}; choose one of {list(METHODS)}.")
    if is_dask_dataframe(labels):
        # one function, one result type: the Dask engine has its own entry point and a result with the same
        # methods, rather than aggregate() returning something else for some inputs
        raise LabelsError(
            "aggregate() fits a table in memory and got a Dask DataFrame; fit it on Dask with "
            "stracker.aggregate_distributed(labels, ...) (same model, same result), or .compute() it first."
        )
    n_threads = resolve_threads(threads)
    if method == "em":
        options = em_options(options, max_iter=max_iter, tol=tol, shrinkage=shrinkage)
    elif options is not None:
        raise OptionsError(f"options= (EMOptions) are the EM's; method {method!r} takes max_iter= and tol= only.")
    elif visibility is not None or gold is not None:
        raise OptionsError(f"visibility= and gold= are inputs of the em model; method {method!r} takes neither.")
    if method != "em" and (footprints is not None or neighbours is not None):
        raise OptionsError(f"footprints= and neighbours= (the spatial prior) are the EM's, not method {method!r}'s.")
    if footprints is not None and neighbours is not None:
        raise OptionsError("give footprints= or neighbours= (a graph built from footprints), not both.")
    if isinstance(labels, str | os.PathLike):
        from stracker.io import read_labels

        labels = read_labels(Path(labels))
    if isinstance(labels, EncodedLabels):
        if task is not None or image_dates is not None:
            raise LabelsError("labels are already encoded; drop the task= and image_dates= arguments.")
        enc = labels
    else:
        enc = encode_labels(labels, image_dates, task=task, on_duplicate=on_duplicate, threads=n_threads)
    if enc.n_answers and not (enc.answer >= 0).any():
        warnings.warn(
            f"every one of the {enc.n_answers} answers is can't tell (destroyed is empty or NA in every row): the "
            "consensus of every building is the prior alone, the same p_destroyed for all, not evidence. Check "
            "that the 'destroyed' column holds the answers (yes/no, True/False, 1/0).",
            UninformativeAnswersWarning,
            stacklevel=2,
        )

    if method == "majority":
        posterior = majority_posterior(enc)
        params = {name: np.full(enc.n_volunteers, np.nan) for name in PARAM_NAMES}
        result = Consensus(
            buildings=summarize_posterior(enc, posterior),
            volunteers=volunteer_table(enc, params),
            posterior=posterior,
            image_dates=enc.image_dates,
            method=method,
            prior=posterior.mean(axis=0),
        )
        result.volunteers["reliability"] = _agreement(enc, posterior)
        return result

    if method == "dawid_skene":
        n_iter = DAWID_SKENE_MAX_ITER if max_iter is None else max_iter
        ds_tol = DAWID_SKENE_TOL if tol is None else tol
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 1:
            raise OptionsError(f"max_iter must be a whole number >= 1, got {max_iter!r}.")
        posterior, frames, ds_params, history, used = dawid_skene_frames(
            enc, n_iter=n_iter, tol=ds_tol, callback=callback
        )
        params = {name: np.full(enc.n_volunteers, np.nan) for name in PARAM_NAMES} | ds_params
        table = volunteer_table(enc, params)
        table["reliability"] = (params["sensitivity"] + params["specificity"]) / 2
        dates = enc.image_dates.to_numpy(dtype="datetime64[ns]")
        frames_out = pd.DataFrame(
            {
                "building_id": enc.building_ids[frames["building"].to_numpy()],
                "before": image_date_at(dates, frames["lo"].to_numpy()),
                "after": dates[frames["hi"].to_numpy()],
                "p_destroyed": frames["p_destroyed"].to_numpy(),
                "n_labels": frames["n_labels"].to_numpy(),
            }
        )
        return Consensus(
            buildings=summarize_posterior(enc, posterior),
            volunteers=table,
            posterior=posterior,
            image_dates=enc.image_dates,
            method=method,
            prior=posterior.mean(axis=0),
            log_likelihood=history,
            n_iter=used,
            converged=used < n_iter,
            frames=frames_out,
        )

    spatial = graph = None
    if footprints is not None or neighbours is not None:
        if footprints is not None:
            assert options is not None  # em_options gave them
            graph = neighbour_graph(footprints, k=options.spatial_neighbours, radius_m=options.spatial_radius_m)
        elif isinstance(neighbours, NeighbourGraph):
            graph = neighbours
        else:
            graph = NeighbourGraph.from_matrix(neighbours, enc.building_ids)
        enc, graph = with_graph_buildings(enc, graph)
    known = None
    if gold is not None:
        if isinstance(gold, str | os.PathLike):
            from stracker.io import read_gold

            gold = read_gold(Path(gold))
        enc, known = gold_states(gold, enc)
    frames = None
    if visibility is not None:
        if isinstance(visibility, str | os.PathLike):
            from stracker.io import read_visibility

            visibility = read_visibility(Path(visibility))
        frames = frame_visibility(visibility, enc, hidden_below)
    if graph is not None:
        graph = graph.reindex(enc.building_ids, extend=True)  # gold buildings outside it: no neighbours
        answered = np.bincount(enc.building, minlength=enc.n_buildings) > 0
        spatial = SpatialPrior.start(graph, enc.image_dates, answered)
    # the counts per building and per volunteer, made block by block as each block's model is built
    with BlockedAnswerModel(enc, threads=n_threads, visibility=frames, gold=known, alongside=_counts) as model:
        fit = fit_em(
            enc,
            volunteer_params=volunteer_params,
            fit_volunteers=fit_volunteers,
            prior=prior,
            options=options,
            callback=callback,
            building_prior=spatial,
            model=model,
        )
        per_block = model.block_results
        n_labels, n_volunteers = (np.concatenate([part[0][i] for part in per_block]) for i in range(2))
        by_volunteer = functools.reduce(operator.add, (part[1] for part in per_block))
    assert fit.posterior is not None  # the in-memory E-step returns it
    return Consensus(
        buildings=summarize_posterior(enc, fit.posterior, (n_labels, n_volunteers)),
        volunteers=volunteer_table(enc, fit.params, by_volunteer),
        posterior=fit.posterior,
        image_dates=enc.image_dates,
        method=method,
        prior=fit.prior,
        log_likelihood=fit.log_likelihood,
        n_iter=fit.n_iter,
        converged=fit.converged,
        compare_reliability=fit.compare_reliability,
        spatial_prior=None if not isinstance(fit.building_prior, SpatialPrior) else fit.building_prior.summary(),
    )


def _counts(table: EncodedLabels) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """A table's answers and distinct volunteers per building, and its answers per volunteer and task."""
    return answer_counts(table), volunteer_counts(table)


def _agreement(enc: EncodedLabels, posterior: np.ndarray) -> np.ndarray:
    """Share of each volunteer's told answers that agree with the building's most probable state."""
    told = enc.answer >= 0
    state = np.argmax(posterior, axis=1)[enc.building[told]]
    inside = (state > enc.lo[told]) & (state <= enc.hi[told])
    agree = inside == (enc.answer[told] == 1)
    n = np.bincount(enc.volunteer[told], minlength=enc.n_volunteers)
    hits = np.bincount(enc.volunteer[told], weights=agree, minlength=enc.n_volunteers)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, hits / np.maximum(n, 1), np.nan)
