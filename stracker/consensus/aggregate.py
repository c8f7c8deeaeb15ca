"""``stracker.aggregate``: from a label table to a calibrated consensus destruction date per building."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from stracker.consensus.baselines import dawid_skene_frames, majority_posterior
from stracker.consensus.distributed import DistributedConsensus, aggregate_distributed, is_distributed_input
from stracker.consensus.model import PARAM_NAMES, fit_em, resolve_params
from stracker.consensus.result import Consensus, image_date_at, summarize_posterior, volunteer_table
from stracker.errors import LabelsError, UninformativeAnswersWarning
from stracker.labels import EncodedLabels, encode_labels

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
    shrinkage: float = 2.0,
    max_iter: int = 200,
    tol: float = 1e-7,
    on_duplicate: Literal["warn", "error", "ignore"] = "warn",
    client: object = None,
    n_partitions: int | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> Consensus | DistributedConsensus:
    """Aggregate volunteer answers into a consensus destruction state per building.

    Parameters
    ----------
    labels : pandas.DataFrame, EncodedLabels, dask.dataframe.DataFrame or path
        The label table of the contract: ``building_id``, ``volunteer_id``, ``before``, ``after``,
        ``destroyed`` and ``task`` (or the ``task`` keyword). Synthetic or a real export. A Dask DataFrame or
        the path of a Parquet dataset of answers is fitted on Dask (``method="em"`` only) by
        :func:`stracker.consensus.distributed.aggregate_distributed`, with the same result.
    image_dates : array-like of dates, optional
        The image catalogue; default: the distinct dates found in the table.
    method : {"em", "majority", "dawid_skene"}
        ``em``: the full model (timeline mark model and two-coin Dawid-Skene per volunteer, learned prior,
        fit by EM). ``majority``: consistency vote. ``dawid_skene``: frame-level Dawid-Skene as crowd-kit.
    task : {"timeline", "compare"}, optional
        Task kind of every row, for a table without a ``task`` column.
    volunteer_params : pandas.DataFrame, optional
        Known volunteer parameters indexed by volunteer_id (columns among ``p_late``, ``p_early``,
        ``early_decay``, ``p_miss``, ``p_false``, ``sensitivity``, ``specificity``). With them the volunteer
        parameters are not fitted (unless ``fit_volunteers=True``, which uses them as the starting point, and
        volunteers missing from them start at the defaults);
        with the simulator's true parameters and prior this is the oracle posterior.
    fit_volunteers : bool, optional
        Whether to fit volunteer parameters; default: only when ``volunteer_params`` is not given.
    prior : array of shape (D + 1,), optional
        A known prior over states; default: learned from the whole campaign.
    shrinkage : float
        Pseudo-answers pulling each volunteer's estimates towards the crowd's (empirical-Bayes shrinkage).
    max_iter, tol : int, float
        EM stops after ``max_iter`` iterations or when the log-likelihood changes by less than ``tol`` relative.
        For ``dawid_skene``, crowd-kit's ``n_iter`` and ``tol`` (defaults 100 and 1e-5 are used when these
        keep their defaults).
    on_duplicate : {"warn", "error", "ignore"}
        Exact duplicate answers are used as given; "warn" names them, "error" refuses them.
    client, n_partitions : dask.distributed.Client, int, optional
        For a Dask DataFrame or Parquet path only: where to run (default: a new ``LocalCluster``) and how many
        partitions by building.
    callback : callable, optional
        Called as ``callback(n_iter, log_likelihood)`` after every iteration of ``em`` (after its E-step; on the
        client for the distributed engine) and of ``dawid_skene`` (its loss), to report progress on long fits;
        ``majority`` does not iterate.

    Returns
    -------
    Consensus, or DistributedConsensus for a Dask DataFrame or Parquet path

    Raises
    ------
    LabelsError
        If the table breaks the label contract (the message names the rows and the fix).

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
    if is_distributed_input(labels):
        if method != "em":
            raise LabelsError(f"method {method!r} runs in memory; the distributed engine fits method='em' only. "
                              "Read the table with pandas for the baselines.")
        return aggregate_distributed(labels, image_dates, client=client, n_partitions=n_partitions, task=task,
                                     volunteer_params=volunteer_params, fit_volunteers=fit_volunteers, prior=prior,
                                     shrinkage=shrinkage, max_iter=max_iter, tol=tol, on_duplicate=on_duplicate,
                                     callback=callback)
    if isinstance(labels, EncodedLabels):
        if task is not None or image_dates is not None:
            raise LabelsError("labels are already encoded; drop the task= and image_dates= arguments.")
        enc = labels
    else:
        enc = encode_labels(labels, image_dates, task=task, on_duplicate=on_duplicate)
    if enc.n_answers and not (enc.answer >= 0).any():
        warnings.warn(
            f"every one of the {enc.n_answers} answers is can't tell (destroyed is empty or NA in every row): the "
            "consensus of every building is the prior alone, the same p_destroyed for all, not evidence. Check "
            "that the 'destroyed' column holds the answers (yes/no, True/False, 1/0).",
            UninformativeAnswersWarning, stacklevel=2,
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
        n_iter = 100 if max_iter == 200 else max_iter
        ds_tol = 1e-5 if tol == 1e-7 else tol
        posterior, frames, ds_params, history, used = dawid_skene_frames(enc, n_iter=n_iter, tol=ds_tol,
                                                                       callback=callback)
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

    if fit_volunteers is None:
        fit_volunteers = volunteer_params is None
    # fitting from given parameters is a warm start: volunteers new to the table start at the defaults
    start = resolve_params(volunteer_params, enc.volunteer_ids, allow_missing=fit_volunteers)
    fit = fit_em(enc, params=start, fit_volunteers=fit_volunteers, prior=prior, shrinkage=shrinkage,
                 max_iter=max_iter, tol=tol, callback=callback)
    return Consensus(
        buildings=summarize_posterior(enc, fit.posterior),
        volunteers=volunteer_table(enc, fit.params),
        posterior=fit.posterior,
        image_dates=enc.image_dates,
        method=method,
        prior=fit.prior,
        log_likelihood=fit.log_likelihood,
        n_iter=fit.n_iter,
        converged=fit.converged,
    )


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

