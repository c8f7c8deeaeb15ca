"""The spatial-temporal prior: a building's prior over states leans towards what its neighbours' answers say.

Destruction clusters in space and time: one strike destroys the buildings around it on one day, and a front
sweeps a district within days. The independent model gives every building the campaign's prior ``pi``; with
footprints (or a neighbour graph) each building ``i`` gets its own

    log pi_i(k) = log pi(k) + beta * sum_j a_ij log r_j(k) - log Z_i,

a log-linear (product-of-experts) pooling of the campaign prior with one message per neighbour ``j``:

    r_j(k) = P(answers of j | T_i = k) / P(answers of j)
           = sum_l K(k, l) q_j(l) / pi(l),

where ``q_j`` is j's posterior from **its own answers and the campaign prior only** (not its spatial prior), so
i's answers never come back to i through j: nothing is counted twice. ``K(k, l) = P(T_j in l | T_i in k)`` is the
pairwise kernel of dates, a learned mixture

    K = c_0 * (T_j independent of T_i: pi(l)) + sum_s c_s * Laplace(T_j - T_i; scale s), s in
    KERNEL_SCALES times the catalogue's median image gap,

the Laplace parts integrated over the image gaps of both states (so the neighbour evidence is a date range
"within days of the neighbours", wider where images are sparse). The independent share keeps every message
``r_j >= c_0``: a neighbour destroyed on another day by another strike costs at most ``beta * a_ij log c_0``.
``a_ij`` are the graph's row-normalised weights (``k`` nearest footprints within ``radius_m`` of the centroid,
weight ``exp(-d / radius_m)``), so ``beta`` is the effective number of independent neighbours.

Why a product and not a mixture ``(1 - w) pi + w sum_j a_ij q_j``: a mixture of the neighbours' posteriors is as
wide as each of them, so eight neighbours who agree on a date say no more than one; the product lets agreeing
neighbours add up, the independent share of the kernel bounds what a disagreeing one costs, and ``beta`` learns
how much the neighbours, who share strikes with each other, are worth together.

Learned by the EM with everything else, from sums over buildings (:meth:`SpatialPrior.update`):

* ``beta`` by one Newton step per iteration on the log-likelihood of every building's answers given its
  neighbours' (the EM's objective with the spatial prior): gradient ``sum_i E_post[f_i] - E_prior[f_i]``,
  curvature ``sum_i Var_prior[f_i]`` (the EM's), ``f_i = sum_j a_ij log r_j``, the step within a trust region
  that halves when the gradient turns against the last step (the curvature grows with ``beta``, so a step
  from the curvature at a smaller ``beta`` overshoots); ``beta >= 0``, starting at 0
  (the first E-step is the independent model's), and leaving 0 only when the gradient there exceeds three
  standard errors (the square root of the curvature bounds them): a city whose dates do not cluster keeps
  ``beta = 0`` and today's posteriors exactly, or learns ``c_0`` near 1, which comes to the same.
* the kernel shares ``c`` by fitting, at every iteration, the likelihood ratio of the answers of each pair of
  neighbours under the kernel: ``sum_kl q_i(k) K(k, l) q_j(l) / pi(l)`` for each part (1 for the independent
  one), every pair weighted by ``a_ij``, over the buildings with answered neighbours (a pairwise composite
  likelihood, maximised by a few projected Newton steps on these fixed values, :func:`fit_shares`; EM steps
  crawled between parts that look alike: with them, and without the trust region below, the fit of the raqqa
  timeline campaign took 73 iterations, against 11). Each pair is taken under the kernel as one message uses
  it, ``P(T_j | T_i)`` of one neighbour, so the kernel is that of the city's pairs. (Fitted before to
  ``log sum_j a_ij (...)``, a mixture over the neighbours, it learned the kernel of each building's best
  matching neighbour: on the raqqa timeline campaign with 4 volunteers, 6% independent and 91% at the
  narrowest scale, where 29% of neighbour pairs were destroyed on the same day and about a third in the same
  image gap; fitted to the buildings' true states the pairwise fit gives 46% independent and 16%, 27%, 12% and 0%
  at the four scales, and from the answers 49% and 14%, 29%, 9% and 0%. The messages are then right about how
  many neighbours share a strike, ``beta`` learns 2.6 instead of 1.25, and the date error, log score and exact
  state improve a little on every raqqa campaign measured.)
* the campaign prior ``pi`` and the volunteers' parameters (and image weights) as the independent model learns
  them, from the independent posteriors ``q_i`` (:attr:`~stracker.consensus.model.PriorStep.independent`): so the
  messages ``q_j / pi`` average to 1 where dates do not cluster, and the spatial prior cannot feed back into what
  the answers are taken to be worth. (Learned from the spatial posteriors instead, the volunteers looked more
  reliable the more the neighbours agreed, and on thin campaigns the two ran away together: three single-image
  answers per building, as an information-gain campaign's first rounds ask, gave ``beta`` 11 and 90% intervals
  covering 58% of buildings, against ``beta`` 0.7 and 90% now. On the raqqa campaigns it was a little better:
  4.54 against 4.67 days on the compare campaign, exact state 0.896 against 0.893 with four timeline volunteers.)

Per iteration: a sparse product of the graph with a buildings x states array (the log messages) and, for the
kernel's fit, a pairs x states product per part (O(buildings x neighbours x states)); and dense products of
buildings x states arrays with the states x states kernel parts (a handful, the states being a few dozen): no
Python loop over buildings.

Buildings of the footprints without answers get a row in the consensus: their posterior is their spatial prior
(their neighbours' date range, as wide as the kernel makes it), or the campaign prior without answered
neighbours. The spatial prior is in-memory only (:func:`stracker.aggregate`); the Dask engine does not take it.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> footprints = gpd.GeoDataFrame({"building_id": [3, 1, 2]},
...     geometry=[box(40, 0, 50, 10), box(0, 0, 10, 10), box(20, 0, 30, 10)], crs="EPSG:32637")
>>> graph = neighbour_graph(footprints, k=1)
>>> graph.building_ids.tolist(), graph.weights.toarray().tolist()
([1, 2, 3], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from stracker.consensus.inputs import id_type_hint
from stracker.consensus.model import PriorStep, posterior_and_evidence
from stracker.errors import FootprintsError, OptionsError, UnmatchedBuildingsError
from stracker.labels import EncodedLabels

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "DEFAULT_NEIGHBOURS",
    "DEFAULT_RADIUS_M",
    "KERNEL_SCALES",
    "NeighbourGraph",
    "SpatialPrior",
    "fit_shares",
    "neighbour_graph",
    "state_kernels",
    "with_graph_buildings",
]

DEFAULT_NEIGHBOURS = 8
"""Neighbours per building in the graph built from footprints."""
DEFAULT_RADIUS_M = 100.0
"""Neighbours lie within this distance (metres, between centroids); it also sets the weight decay."""
KERNEL_SCALES = (0.25, 1.0, 4.0, 16.0)
"""Scales of the Laplace parts of the pairwise kernel of destruction dates, in median image gaps (parts on the
scale of the gaps, so that no two of them look alike to answers that tell images apart)."""

_MAX_STRENGTH = 50.0  # beta is kept below this (a neighbour's message can never be worth more)
_START_MIXTURE_INDEPENDENT = 0.5  # share of the independent part of the kernel at the start of a fit
_SUBPOINTS = 16  # points per state where the Laplace parts are integrated
_SHARE_STEPS = 10  # Newton steps on the kernel's shares per iteration of the fit, at most
_PAIR_CHUNK = 512  # pairs of neighbours whose rows the kernel's fit gathers at a time (about 1 MB)
_START_STEP = 1.0  # the largest change of beta in one iteration, at first (it grows and shrinks as it goes)
_SIGNIFICANCE = 3.0  # standard errors by which the neighbours must improve the fit before beta leaves 0
_MIN_SHARE = 1e-4  # every part of the kernel keeps at least this share (so every message stays positive)


@dataclass(frozen=True, eq=False)
class NeighbourGraph:
    """A sparse graph of buildings: row i holds the weights of i's neighbours.

    Attributes
    ----------
    building_ids : pandas.Index
        Sorted unique building ids; row and column i of ``weights`` are building ``building_ids[i]``.
    weights : scipy.sparse.csr_matrix
        Non-negative weights, no diagonal, each row summing to 1 (a building without neighbours: an empty row).
    """

    building_ids: pd.Index
    weights: sparse.csr_matrix

    @classmethod
    def from_matrix(cls, matrix: object, building_ids: pd.Index) -> NeighbourGraph:
        """A graph from a square sparse (or dense) matrix of weights whose rows and columns are ``building_ids``.

        Rows are normalised to sum to 1; negative or non-finite weights, weights on the diagonal (a building
        its own neighbour: its answers would count twice) and a shape that is not ``len(building_ids)`` square
        are refused.

        Examples
        --------
        >>> g = NeighbourGraph.from_matrix(np.array([[0, 2.0, 2.0], [1, 0, 0], [0, 0, 0]]), pd.Index([5, 6, 7]))
        >>> g.weights.toarray().tolist()
        [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
        """
        n = len(building_ids)
        if not (sparse.issparse(matrix) or isinstance(matrix, np.ndarray)):
            raise OptionsError(
                f"neighbours must be a NeighbourGraph or a square scipy.sparse matrix, got {type(matrix).__name__}."
            )
        m = sparse.csr_matrix(matrix, dtype=float)
        if m.shape != (n, n):
            raise OptionsError(
                f"neighbours is a {m.shape[0]} x {m.shape[1]} matrix but there are {n} buildings; give one row and "
                "one column per building, in the order of the sorted building ids of the labels "
                "(or a NeighbourGraph, which names its buildings)."
            )
        m.sum_duplicates()
        m.eliminate_zeros()
        if m.nnz and (not np.isfinite(m.data).all() or (m.data < 0).any()):
            raise OptionsError("neighbours holds negative or non-finite weights; weights must be finite and >= 0.")
        diagonal = np.flatnonzero(m.diagonal())
        if diagonal.size:
            raise OptionsError(
                f"neighbours has weights on its diagonal (a building its own neighbour) for buildings "
                f"{building_ids[diagonal[:5]].tolist()}: their own answers would count twice. Remove them "
                "(matrix.setdiag(0); matrix.eliminate_zeros())."
            )
        total = np.asarray(m.sum(axis=1)).ravel()
        m = sparse.diags(np.divide(1.0, total, out=np.zeros(n), where=total > 0)) @ m
        return cls(pd.Index(building_ids), sparse.csr_matrix(m))

    def reindex(self, building_ids: pd.Index, extend: bool = False) -> NeighbourGraph:
        """The graph of ``building_ids``, rows renormalised; with ``extend``, ids it lacks get no neighbours.

        Raises
        ------
        UnmatchedBuildingsError
            Without ``extend``, if some of ``building_ids`` are not buildings of the graph.

        Examples
        --------
        >>> g = NeighbourGraph.from_matrix(np.array([[0, 1.0], [1.0, 0]]), pd.Index([1, 2]))
        >>> g.reindex(pd.Index([0, 1, 2]), extend=True).weights.toarray().tolist()
        [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
        """
        building_ids = pd.Index(building_ids)
        position = self.building_ids.get_indexer(building_ids)
        missing = position < 0
        if missing.any() and not extend:
            unknown = building_ids[missing]
            raise UnmatchedBuildingsError(
                f"{int(missing.sum())} building(s) with answers are not in the footprints (or neighbour graph), "
                f"e.g. {unknown[:5].tolist()}{id_type_hint(building_ids, self.building_ids)}; add their footprints, "
                "fix the ids, or drop their answers before a spatial fit.",
                unknown.tolist(),
            )
        if np.array_equal(position, np.arange(len(self.building_ids))):
            return self
        # a selection matrix: row i picks the graph's building position[i] (none where it is missing)
        kept = np.flatnonzero(~missing)
        pick = sparse.csr_matrix(
            (np.ones(kept.size), (kept, position[kept])), shape=(len(building_ids), len(self.building_ids))
        )
        return NeighbourGraph.from_matrix(pick @ self.weights @ pick.T, building_ids)


def with_graph_buildings(enc: EncodedLabels, graph: NeighbourGraph) -> tuple[EncodedLabels, NeighbourGraph]:
    """The answers over every building of the graph (those without answers added), and the graph in their order.

    Raises
    ------
    UnmatchedBuildingsError
        If buildings with answers are not in the graph (their ids are in the exception's ``building_ids``).

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [2, 2], "volunteer_id": ["a", "b"], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
    >>> graph = NeighbourGraph.from_matrix(np.array([[0, 1.0, 0], [1, 0, 1], [0, 1, 0]]), pd.Index([1, 2, 3]))
    >>> enc, graph = with_graph_buildings(encode_labels(labels), graph)
    >>> enc.building_ids.tolist(), enc.building.tolist()
    ([1, 2, 3], [1, 1])
    """
    unknown = enc.building_ids.difference(graph.building_ids)
    if len(unknown):
        graph.reindex(enc.building_ids)  # raises, naming them
    ids = graph.building_ids.sort_values() if not graph.building_ids.is_monotonic_increasing else graph.building_ids
    codes = ids.get_indexer(enc.building_ids).astype(enc.building.dtype)
    return replace(enc, building_ids=ids, building=codes[enc.building]), graph.reindex(ids)


def _check_count(value: object, name: str, minimum: float, whole: bool) -> None:
    kind = numbers.Integral if whole else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not float(value) >= minimum:
        what = "a whole number" if whole else "a number"
        raise OptionsError(f"{name} must be {what} >= {minimum:g}, got {value!r}.")


def neighbour_graph(
    footprints: gpd.GeoDataFrame,
    *,
    id_column: str = "building_id",
    k: int = DEFAULT_NEIGHBOURS,
    radius_m: float = DEFAULT_RADIUS_M,
) -> NeighbourGraph:
    """The graph of each footprint's ``k`` nearest footprints within ``radius_m`` (between centroids).

    One k-d tree query on the centroids (:class:`scipy.spatial.cKDTree`), no loop over buildings. Weights fall
    as ``exp(-d / radius_m)`` and each row is normalised. The footprints are ordered by building id before the
    query, so the graph does not depend on their row order.

    Parameters
    ----------
    footprints : geopandas.GeoDataFrame
        One footprint per building, with a unique id column, in a projected CRS (metres), as
        :func:`stracker.read_footprints` returns them.
    id_column : str
        The building id column.
    k : int
        Neighbours per building, at most.
    radius_m : float
        Largest distance between a building's centroid and its neighbours', in the CRS's units (metres).

    Returns
    -------
    NeighbourGraph

    Raises
    ------
    FootprintsError
        If the footprints lack the id column, repeat ids, have missing or empty geometries, no CRS, or a
        geographic CRS (degrees: reproject, e.g. ``footprints.to_crs(footprints.estimate_utm_crs())``).
    OptionsError
        If ``k`` or ``radius_m`` is not positive.
    """
    import shapely
    from scipy.spatial import cKDTree

    from stracker.io.footprints import check_footprint_ids

    _check_count(k, "neighbours (k)", 1, whole=True)
    _check_count(radius_m, "radius_m", 1e-9, whole=False)
    if not hasattr(footprints, "geometry") or not hasattr(footprints, "crs"):
        raise FootprintsError(
            f"footprints must be a GeoDataFrame (stracker.read_footprints), got {type(footprints).__name__}."
        )
    crs = footprints.crs
    if crs is None:
        raise FootprintsError(
            "the footprints have no CRS, so distances between them have no unit; set it, e.g. "
            "footprints.set_crs('EPSG:32637'), and make it a projected CRS in metres."
        )
    if not crs.is_projected:
        raise FootprintsError(
            f"the footprints are in a geographic CRS ({crs.to_string()}, degrees); the neighbour graph needs "
            "distances in metres: reproject them first, e.g. footprints.to_crs(footprints.estimate_utm_crs())."
        )
    ids = check_footprint_ids(footprints, id_column)
    geometry = np.asarray(footprints.geometry.values, dtype=object)
    bad = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if bad.any():
        raise FootprintsError(
            f"{int(bad.sum())} footprint(s) have no geometry (building ids {ids[bad][:5].tolist()}); give them a "
            "footprint or drop them."
        )
    order = np.argsort(ids.to_numpy(), kind="stable")
    building_ids = ids[order]
    xy = shapely.get_coordinates(shapely.centroid(geometry[order]))
    n = len(xy)
    n_query = min(k + 1, n)
    distance, neighbour = cKDTree(xy).query(xy, k=n_query, distance_upper_bound=radius_m)
    distance, neighbour = distance.reshape(n, n_query), neighbour.reshape(n, n_query)
    row = np.repeat(np.arange(n), n_query).reshape(n, n_query)
    keep = np.isfinite(distance) & (neighbour != row)
    keep &= np.cumsum(keep, axis=1) <= k  # a building's own centroid may tie with another's
    weights = sparse.csr_matrix(
        (np.exp(-distance[keep] / radius_m), (row[keep], neighbour[keep])), shape=(n, n), dtype=float
    )
    return NeighbourGraph.from_matrix(weights, building_ids)


def median_gap_days(image_dates: pd.DatetimeIndex) -> float:
    """The catalogue's median gap between images, in days (1 for a single image)."""
    days = image_dates.to_numpy(dtype="datetime64[s]").astype(np.int64) / 86400.0
    return float(np.median(np.diff(days))) if days.size > 1 else 1.0


def state_kernels(image_dates: pd.DatetimeIndex, scales_days: tuple[float, ...]) -> np.ndarray:
    """``K_s(k, l) = P(T_j in state l | T_i in state k)`` for ``T_j - T_i`` Laplace with each scale (days).

    ``T_i`` is uniform over state k (the open first and last states span the catalogue's median gap before the
    first and after the last image), and the mass beyond the catalogue goes to the open states. Shape
    (scales, D + 1, D + 1), rows summing to 1.

    Examples
    --------
    >>> K = state_kernels(pd.DatetimeIndex(["2017-06-01", "2017-06-11", "2017-06-21"]), (0.01, 1000.0))
    >>> K.shape, np.allclose(K.sum(axis=2), 1.0), bool(K[0, 1, 1] > 0.99), bool(K[1, 1, 1] < 0.01)
    ((2, 4, 4), True, True, True)
    """
    days = image_dates.to_numpy(dtype="datetime64[s]").astype(np.int64) / 86400.0
    gap = median_gap_days(image_dates)
    lower = np.concatenate([[days[0] - gap], days])
    upper = np.concatenate([days, [days[-1] + gap]])
    frac = (np.arange(_SUBPOINTS) + 0.5) / _SUBPOINTS
    t = lower[:, None] + (upper - lower)[:, None] * frac  # states x subpoints
    inner = days[None, None, :] - t[:, :, None]  # state boundaries (the image dates) relative to each point
    out = []
    for scale in scales_days:  # a handful of scales
        x = inner / scale
        cdf = np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(x, 0.0)))
        cdf = np.pad(cdf, ((0, 0), (0, 0), (1, 0)))
        cdf = np.pad(cdf, ((0, 0), (0, 0), (0, 1)), constant_values=1.0)
        out.append(np.diff(cdf, axis=2).mean(axis=1))
    return np.stack(out)


def fit_shares(
    values: np.ndarray, shares: np.ndarray, steps: int = _SHARE_STEPS, weights: np.ndarray | None = None
) -> np.ndarray:
    """The mixture shares maximising ``sum_b w_b log(shares @ values[:, b])``, each at least ``_MIN_SHARE``.

    ``values`` is parts x observations (each part's likelihood of an observation, a pair of buildings in
    :class:`SpatialPrior`, up to a constant per observation), ``weights`` their weights ``w`` (default: all
    alike; they are normalised to sum to 1). Projected Newton steps from ``shares`` (the gradient and Hessian
    are sums over observations: one parts x parts product each), on the parts off their bound, in the plane
    where the shares sum to 1, each step halved until the objective rises: a few steps where EM's would crawl
    between parts that look alike.

    Examples
    --------
    >>> values = np.array([[1.0, 1.0, 1.0, 1.0], [3.0, 0.2, 3.0, 3.0]])  # 3 of 4 buildings favour part 1
    >>> fit_shares(values, np.array([0.5, 0.5])).round(3).tolist()
    [0.188, 0.812]
    >>> fit_shares(values, np.array([0.5, 0.5]), weights=np.array([1.0, 3.0, 1.0, 1.0])).round(3).tolist()  # 3 to 3
    [0.625, 0.375]
    """
    floor = _MIN_SHARE
    values = np.maximum(values, 0.0)
    shares = np.maximum(shares, floor)
    shares = shares / shares.sum()
    w = np.full(values.shape[1], 1.0 / values.shape[1]) if weights is None else weights / weights.sum()

    def objective(c: np.ndarray) -> float:
        return float(np.log(np.maximum(c @ values, 1e-300)) @ w)

    current = objective(shares)
    for _ in range(steps):  # a handful of steps over the parts, not a loop over buildings
        ratio = values / np.maximum(shares @ values, 1e-300)
        gradient = ratio @ w
        hessian = -((ratio * w) @ ratio.T)
        free = (shares > floor * (1 + 1e-9)) | (gradient > 1.0)  # at the optimum: gradient 1 where free
        n = int(free.sum())
        if n < 2:
            break
        # maximise g.d + d'Hd/2 on the free parts with sum(d) = 0 (a Lagrange system, ridged for parts alike)
        system = np.zeros((n + 1, n + 1))
        system[:n, :n] = hessian[np.ix_(free, free)] - 1e-9 * np.eye(n)
        system[:n, n] = system[n, :n] = 1.0
        direction = np.zeros_like(shares)
        direction[free] = np.linalg.solve(system, np.concatenate([-gradient[free], [0.0]]))[:n]
        step = 1.0
        while step > 1e-4:
            trial = np.maximum(shares + step * direction, floor)
            trial /= trial.sum()
            value = objective(trial)
            if value >= current:
                break
            step /= 2
        else:
            break
        done = np.abs(trial - shares).max() < 1e-7
        shares, current = trial, value
        if done:
            break
    return shares


def _pair_weights(weights: sparse.csr_matrix, answered: np.ndarray) -> sparse.csr_matrix:
    """The graph between buildings with answers only, rows renormalised: the pairs the kernel is fitted on."""
    flag = sparse.diags(np.asarray(answered, dtype=float))
    pairs = flag @ weights @ flag
    total = np.asarray(pairs.sum(axis=1)).ravel()
    return sparse.csr_matrix(sparse.diags(np.divide(1.0, total, out=np.zeros(total.size), where=total > 0)) @ pairs)


@dataclass(frozen=True, eq=False)
class SpatialPrior:
    """The spatial-temporal prior of a fit: the graph, the kernel parts and their learned weights.

    A :class:`~stracker.consensus.model.ModelState` holds one (``building_prior``); the E-step calls
    :meth:`step`, the M-step :meth:`update` with the sums :meth:`step`'s statistics returned. Immutable: an
    update returns a new one.

    Attributes
    ----------
    weights : scipy.sparse.csr_matrix
        The neighbour graph over the fit's buildings (rows normalised), in building-code order.
    pair_weights : scipy.sparse.csr_matrix
        The same between buildings with answers only (rows normalised): the pairs the kernel is learned from.
    kernels : ndarray
        The Laplace parts of the kernel (:func:`state_kernels`), shape (parts, S, S).
    scales_days : tuple of float
        Their scales in days.
    mixture : ndarray
        Shares of the independent part and then of each Laplace part, summing to 1.
    strength : float
        ``beta``, the weight of the neighbours' messages (0: the independent model).
    step_limit, last_step : float
        The trust region of ``beta``'s Newton steps and the last step taken.
    """

    weights: sparse.csr_matrix
    pair_weights: sparse.csr_matrix
    kernels: np.ndarray
    scales_days: tuple[float, ...]
    mixture: np.ndarray
    strength: float = 0.0
    step_limit: float = _START_STEP
    last_step: float = 0.0

    @classmethod
    def start(cls, graph: NeighbourGraph, image_dates: pd.DatetimeIndex, answered: np.ndarray) -> SpatialPrior:
        """The prior at the start of a fit: ``beta`` 0, half the kernel independent, the rest shared evenly.

        ``graph`` is over the fit's buildings in code order; ``answered`` flags those with answers.
        """
        scales = tuple(scale * median_gap_days(image_dates) for scale in KERNEL_SCALES)
        kernels = state_kernels(image_dates, scales)
        parts = len(kernels)
        mixture = np.concatenate(
            [[_START_MIXTURE_INDEPENDENT], np.full(parts, (1.0 - _START_MIXTURE_INDEPENDENT) / parts)]
        )
        return cls(graph.weights, _pair_weights(graph.weights, answered), kernels, scales, mixture, 0.0)

    def answered_by(self, answered: np.ndarray) -> SpatialPrior:
        """The same prior (learned parameters kept) with ``answered`` as the buildings that have answers: a
        warm start for a fit of more answers (:class:`stracker.consensus.incremental.IncrementalFit`)."""
        return replace(self, pair_weights=_pair_weights(self.weights, answered))

    def step(self, log_likelihood: np.ndarray, log_prior: np.ndarray) -> PriorStep:
        """Every building's log prior (buildings x states) under the campaign's ``log_prior``, and the
        statistics function the M-step's sums come from."""
        independent, _ = posterior_and_evidence(log_likelihood, log_prior)
        ratio, log_message = self._messages(independent, log_prior)
        f = np.asarray(self.weights @ log_message)
        z, prior = self._log_prior(log_prior, f)

        def statistics(posterior: np.ndarray) -> np.ndarray:
            return self._statistics(posterior, prior, f, independent, ratio)

        return PriorStep(z, statistics, independent)

    def log_prior_of(self, rows: np.ndarray, log_likelihood: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of :meth:`step`'s log prior (the same numbers, to rounding), from the log-likelihoods of
        those buildings' neighbours alone: what an answer about a few buildings changes, without a pass over
        every building (:class:`stracker.consensus.incremental.IncrementalFit` between refits).

        ``log_likelihood`` is every building's (buildings x states); ``rows`` are positions in it.
        """
        rows = np.asarray(rows, dtype=np.intp)
        graph = self.weights[rows]
        neighbours, column = np.unique(graph.indices, return_inverse=True)
        independent, _ = posterior_and_evidence(log_likelihood[neighbours], log_prior)
        log_message = self._messages(independent, log_prior)[1]
        local = sparse.csr_matrix((graph.data, column, graph.indptr), shape=(rows.size, neighbours.size))
        return self._log_prior(log_prior, np.asarray(local @ log_message))[0]

    def incoming(self) -> sparse.csr_matrix:
        """The graph transposed: row ``j`` holds the buildings that have ``j`` as a neighbour (whose priors
        ``j``'s answers move)."""
        return sparse.csr_matrix(self.weights.T)

    def _messages(self, independent: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``q_j / pi`` of each building (rows of ``independent``) and the log of its message."""
        ratio = independent * np.exp(-log_prior)  # q_j / pi: j's likelihood over its evidence
        # the Laplace parts as one S x S matrix, transposed into a C-ordered array (numpy's product with a
        # transposed view of a small matrix takes a slow path: 300 times slower, measured)
        kernel = np.ascontiguousarray(np.tensordot(self.mixture[1:], self.kernels, axes=1).T)
        message = ratio @ kernel  # sum_l K(k, l) q_j(l) / pi(l) ...
        message += self.mixture[0]  # ... and the independent part: sum_l pi(l) q_j(l) / pi(l) = 1
        return ratio, np.log(message)

    def _log_prior(self, log_prior: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalised log prior and the prior of buildings whose neighbours' mean log message is ``f``."""
        z = log_prior + self.strength * f
        z -= z.max(axis=1, keepdims=True)
        prior = np.exp(z)
        norm = prior.sum(axis=1, keepdims=True)
        prior /= norm
        z -= np.log(norm)
        return z, prior

    def _statistics(
        self, posterior: np.ndarray, prior: np.ndarray, f: np.ndarray, independent: np.ndarray, ratio: np.ndarray
    ) -> np.ndarray:
        """[gradient, curvature, buildings fitting the kernel, kernel shares x those buildings] (:meth:`update`)."""
        mean_prior = np.einsum("bs,bs->b", prior, f)
        var_prior = np.einsum("bs,bs,bs->b", prior, f, f) - mean_prior**2
        gradient = float(np.einsum("bs,bs->", posterior, f) - mean_prior.sum())
        # the kernel: how building i's answers go with those of each neighbour j, for each part:
        # sum_kl q_i(k) K(k, l) q_j(l) / pi(l), the likelihood ratio of the pair's answers (a mixture over the
        # parts, 1 for the independent one) whose shares are fitted to these values, pair by pair with the
        # weights a_ij: a pairwise composite likelihood, each pair under the kernel as the messages use it
        use = np.diff(self.pair_weights.indptr) > 0
        n_used = int(use.sum())
        mixture = self.mixture
        if n_used:
            pairs = self.pair_weights.tocoo()
            P, S = self.kernels.shape[:2]
            # spread[i, p, l] = sum_k q_i(k) K_p(k, l), one 2-D product with the parts side by side
            side_by_side = np.ascontiguousarray(self.kernels.transpose(1, 0, 2).reshape(S, P * S))
            spread = (independent @ side_by_side).reshape(-1, P, S)
            pair = np.ones((mixture.size, pairs.nnz))  # the independent part: 1
            # the pairs' rows gathered a slice at a time, so that each slice's rows stay in the cache through
            # its product (three times faster than gathering every pair's rows at once, measured on raqqa)
            for start in range(0, pairs.nnz, _PAIR_CHUNK):
                cut = slice(start, start + _PAIR_CHUNK)
                pair[1:, cut] = np.einsum("eps,es->pe", spread[pairs.row[cut]], ratio[pairs.col[cut]])
            np.maximum(pair, 0.0, out=pair)
            mixture = fit_shares(pair, mixture, weights=pairs.data)
        return np.concatenate([[gradient, float(var_prior.sum()), n_used], mixture * n_used])

    def update(self, statistics: np.ndarray) -> SpatialPrior:
        """The next prior: a Newton step on ``beta`` and the kernel's shares (:meth:`step`'s statistics)."""
        gradient, curvature, n_used = statistics[:3]
        strength, limit = self.strength, self.step_limit
        # beta leaves 0 only when the neighbours improve the fit by more than z standard errors of the score
        # (the curvature bounds its variance): a city whose dates do not cluster keeps the independent model
        significant = strength > 0 or gradient > _SIGNIFICANCE * np.sqrt(max(curvature, 0.0))
        if curvature > 0 and significant:
            # a Newton step within a trust region that halves when the gradient turns against the last step (it
            # overshot: the curvature grows with beta) and grows by half when it keeps the same sign
            if self.last_step * gradient < 0:
                limit /= 2
            elif self.last_step != 0:
                limit *= 1.5
            step = float(np.clip(gradient / curvature, -limit, limit))
            new = float(np.clip(strength + step, 0.0, _MAX_STRENGTH))
            strength, last_step = new, new - strength
        else:
            last_step = 0.0
        mixture = self.mixture
        if n_used > 0:
            mixture = statistics[3 : 3 + self.mixture.size] / n_used
            mixture = mixture / mixture.sum()
        return replace(self, strength=strength, mixture=mixture, step_limit=limit, last_step=last_step)

    def summary(self) -> dict[str, object]:
        """The learned parameters, JSON-ready.

        ``weight``: ``beta (1 - c_0)``, how much the neighbours count (0: the independent model; to first order
        in ``1 - c_0`` the log prior moves by ``weight`` times the neighbours' mean log message);
        ``strength``: ``beta``; ``independent_share``: ``c_0``; ``kernel_shares``: ``c_s`` by scale.
        """
        return {
            "weight": self.strength * (1.0 - float(self.mixture[0])),
            "strength": self.strength,
            "independent_share": float(self.mixture[0]),
            "kernel_shares": {
                f"{scale:.3g} days": float(c) for scale, c in zip(self.scales_days, self.mixture[1:], strict=True)
            },
        }
