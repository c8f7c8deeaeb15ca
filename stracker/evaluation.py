"""``stracker.evaluate``: how well a consensus dates the buildings, against ground truth.

Ground truth is a ``destroyed_on`` date per building (NaT: never destroyed), mapped onto the consensus's
states: state 0 if destroyed by the first image, state k if in (d_{k-1}, d_k], state D if not destroyed by the
last image. Dates of states are their midpoints; the two open-ended states are given the catalogue's median gap
(state 0 ends at d_0, state D starts at d_{D-1}).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stracker.consensus.result import Consensus, credible_bounds
from stracker.errors import StrackerError
from stracker.labels import destruction_state

__all__ = ["METRICS", "EvaluationError", "evaluate", "state_edges"]

METRICS = (
    "buildings",
    "buildings_without_answers",
    "destroyed_in_truth",
    "precision",
    "recall",
    "f1",
    "state_accuracy",
    "mae_days",
    "median_error_days",
    "p90_error_days",
    "ci_coverage",
    "ci_width_days",
    "brier",
    "log_score",
)
"""The metrics :func:`evaluate` returns, in its order."""


class EvaluationError(StrackerError, ValueError):
    """Truth and consensus cannot be compared (missing buildings, wrong columns)."""


def state_edges(image_dates: pd.DatetimeIndex) -> np.ndarray:
    """Start and end of every state in days since the epoch, shape (D + 1, 2); open ends get the median gap."""
    days = image_dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64) / 86400.0
    gap = float(np.median(np.diff(days))) if days.size > 1 else 1.0
    lower = np.concatenate([[days[0] - gap], days])
    upper = np.concatenate([days, [days[-1] + gap]])
    return np.stack([lower, upper], axis=1)


def _truth_series(truth: pd.Series | pd.DataFrame) -> pd.Series:
    if isinstance(truth, pd.DataFrame):
        if "destroyed_on" not in truth.columns:
            raise EvaluationError(
                f"truth has no 'destroyed_on' column (it has {list(truth.columns)}); give the truth dates as a "
                "column destroyed_on indexed by building_id."
            )
        if "building_id" in truth.columns:
            truth = truth.set_index("building_id")
        truth = truth["destroyed_on"]
    if not isinstance(truth, pd.Series):
        raise EvaluationError("truth must be a Series or DataFrame of destroyed_on dates indexed by building_id.")
    if truth.index.has_duplicates:
        dup = truth.index[truth.index.duplicated()].unique()[:5].tolist()
        raise EvaluationError(f"truth has duplicate building ids, e.g. {dup}; give one date per building.")
    return truth


def evaluate(consensus: Consensus, truth: pd.Series | pd.DataFrame, mass: float = 0.9) -> pd.DataFrame:
    """Compare a consensus with ground truth.

    Parameters
    ----------
    consensus : Consensus
        From :func:`stracker.aggregate`.
    truth : pandas.Series or DataFrame
        ``destroyed_on`` (datetime64, NaT = never destroyed) indexed by building_id, or a DataFrame with that
        column (and a ``building_id`` column or index). Buildings without answers are counted, not scored;
        buildings of the consensus missing from the truth are an error.
    mass : float
        Credible mass of the intervals whose coverage is measured.

    Returns
    -------
    pandas.DataFrame
        A tidy table, one row per metric: ``metric``, ``value``, ``unit``. Metrics: detection ``precision``,
        ``recall``, ``f1`` (p_destroyed >= 0.5 against destroyed by the last image); ``state_accuracy`` (most
        probable state is the true one); ``mae_days``, ``median_error_days``, ``p90_error_days`` (distance
        between midpoints of true and most probable states, over buildings destroyed by the last image);
        ``ci_coverage`` and ``ci_width_days`` (of the equal-tailed credible intervals); ``brier``
        (of p_destroyed); ``log_score`` (mean -log posterior of the true state); counts.

    Examples
    --------
    >>> import pandas as pd, stracker
    >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": [1, 1],
    ...     "before": pd.to_datetime(["2017-06-01", None]), "after": pd.to_datetime(["2017-06-10"] * 2),
    ...     "destroyed": [True, False], "task": "compare"})
    >>> c = stracker.aggregate(labels, ["2017-06-01", "2017-06-10"], method="majority")
    >>> truth = pd.Series(pd.to_datetime(["2017-06-05", None]), index=[1, 2], name="destroyed_on")
    >>> m = stracker.evaluate(c, truth).set_index("metric")["value"]
    >>> float(m["f1"]), float(m["state_accuracy"])
    (1.0, 1.0)
    """
    truth = _truth_series(truth)
    ids = consensus.buildings.index
    missing = ids.difference(truth.index)
    if len(missing):
        raise EvaluationError(
            f"{len(missing)} building(s) of the consensus have no truth, e.g. {missing[:5].tolist()}; "
            "the truth must cover every building that has answers."
        )
    aligned = truth.reindex(ids)
    dates = consensus.image_dates
    D = len(dates)
    true_state = destruction_state(aligned, dates)
    post = consensus.posterior
    est_state = np.argmax(post, axis=1)
    destroyed = true_state < D
    predicted = consensus.buildings["p_destroyed"].to_numpy() >= 0.5
    tp = int((predicted & destroyed).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(destroyed.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0

    edges = state_edges(dates)
    mid = edges.mean(axis=1)
    err = np.abs(mid[est_state] - mid[true_state])[destroyed]
    start, end = credible_bounds(post, mass)
    covered = (true_state >= start) & (true_state <= end)
    width = edges[end, 1] - edges[start, 0]
    p_true = post[np.arange(len(ids)), true_state]
    p_destroyed = 1.0 - post[:, D]
    rows = [
        ("buildings", len(ids), "count"),
        ("buildings_without_answers", len(truth.index.difference(ids)), "count"),
        ("destroyed_in_truth", int(destroyed.sum()), "count"),
        ("precision", precision, "fraction"),
        ("recall", recall, "fraction"),
        ("f1", f1, "fraction"),
        ("state_accuracy", float((est_state == true_state).mean()), "fraction"),
        ("mae_days", float(err.mean()) if err.size else np.nan, "days"),
        ("median_error_days", float(np.median(err)) if err.size else np.nan, "days"),
        ("p90_error_days", float(np.percentile(err, 90)) if err.size else np.nan, "days"),
        ("ci_coverage", float(covered.mean()), "fraction"),
        ("ci_width_days", float(width.mean()), "days"),
        ("brier", float(np.mean((p_destroyed - destroyed) ** 2)), "score"),
        ("log_score", float(-np.mean(np.log(np.maximum(p_true, 1e-300)))), "nats"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])
