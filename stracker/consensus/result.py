"""The result of :func:`stracker.aggregate`: per-building consensus and per-volunteer reliability."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from stracker.consensus.inputs import id_type_hint
from stracker.consensus.kernels import building_tallies, state_summaries, volunteer_tallies
from stracker.errors import FootprintsError, RenamedColumnsWarning, UnmatchedBuildingsError
from stracker.io.consensus import read_consensus_parts, write_consensus
from stracker.io.footprints import check_footprint_ids
from stracker.labels import COMPARE, TIMELINE, EncodedLabels, image_date_labels

__all__ = [
    "Consensus",
    "answer_counts",
    "consensus_summary",
    "credible_bounds",
    "image_date_at",
    "read_consensus",
    "state_columns",
    "summarize_posterior",
    "volunteer_counts",
    "volunteer_table",
    "volunteer_table_from_counts",
]


def image_date_at(dates: np.ndarray, index: np.ndarray) -> np.ndarray:
    """dates[index] where 0 <= index < len(dates), NaT elsewhere (the open ends of the state range).

    Examples
    --------
    >>> dates = np.array(["2017-06-01", "2017-06-10"], dtype="datetime64[ns]")
    >>> image_date_at(dates, np.array([-1, 0, 1, 2])).astype("datetime64[D]").astype(str).tolist()
    ['NaT', '2017-06-01', '2017-06-10', 'NaT']
    """
    # one gather from the dates between two NaTs (every index outside them clipped onto one), no mask
    padded = np.full(len(dates) + 2, np.datetime64("NaT"), dtype="datetime64[ns]")
    padded[1:-1] = dates
    return padded[np.clip(np.asarray(index) + 1, 0, len(dates) + 1)]


def credible_bounds(posterior: np.ndarray, mass: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of the state: first and last state indices, inclusive."""
    _, _, start, end = state_summaries(posterior, *_tail_levels(mass))
    return start, end


def _tail_levels(mass: float) -> tuple[float, float]:
    """Where the running sum of a posterior enters and leaves an equal-tailed interval of ``mass``: with a hair of
    slack, so that float rounding of the sum cannot push a bound one state out."""
    tail = (1.0 - mass) / 2.0
    return tail - 1e-12, 1.0 - tail - 1e-12


def state_columns(image_dates: pd.DatetimeIndex) -> list[str]:
    """Column labels of the states: each state's upper image date (``destroyed_by``), then ``"intact"``.

    Image dates are written as ISO dates, or as ISO timestamps when any image has a time of day (two captures
    on one day are two states), so no two labels are the same.

    Examples
    --------
    >>> state_columns(pd.DatetimeIndex(["2017-06-01", "2017-06-10"]))
    ['2017-06-01', '2017-06-10', 'intact']
    """
    return [*image_date_labels(image_dates), "intact"]


def consensus_summary(
    *,
    method: str,
    n_buildings: int,
    n_volunteers: int,
    n_images: int,
    n_destroyed: int,
    mean_confidence: float,
    n_iter: int,
    converged: bool,
) -> dict[str, float | int | str | bool]:
    """The headline figures of a consensus, JSON-ready (:meth:`Consensus.summary`, in memory or on Dask)."""
    return {
        "method": method,
        "buildings": n_buildings,
        "volunteers": n_volunteers,
        "images": n_images,
        "destroyed": n_destroyed,
        "mean_confidence": mean_confidence,
        "iterations": n_iter,
        "converged": converged,
    }


def answer_counts(enc: EncodedLabels) -> tuple[np.ndarray, np.ndarray]:
    """Per building, its answers and its distinct volunteers (``n_labels``, ``n_volunteers``), from compiled passes
    over the answers (:func:`stracker.consensus.kernels.building_tallies`).

    Examples
    --------
    >>> labels = pd.DataFrame({"building_id": [2, 1, 2, 2], "volunteer_id": ["a", "a", "b", "a"],
    ...     "before": pd.NaT, "after": pd.to_datetime(["2017-06-10"] * 4), "destroyed": [True, False, True, False],
    ...     "task": "compare"})
    >>> from stracker.labels import encode_labels
    >>> [c.tolist() for c in answer_counts(encode_labels(labels))]
    [[1, 3], [1, 2]]
    """
    return building_tallies(enc.building, enc.volunteer, enc.n_buildings, max(enc.n_volunteers, 1))


def summarize_posterior(
    enc: EncodedLabels, posterior: np.ndarray, counts: tuple[np.ndarray, np.ndarray] | None = None
) -> pd.DataFrame:
    """The contract's per-building table from a posterior (buildings x states).

    ``counts`` are :func:`answer_counts` of the table, when known already.
    """
    D = enc.n_images
    dates = enc.image_dates.to_numpy(dtype="datetime64[ns]")
    # the most probable state, its mass and the 90 % interval: one compiled pass over the rows
    state, confidence, start, end = state_summaries(posterior, *_tail_levels(0.9))
    n_labels, n_volunteers = answer_counts(enc) if counts is None else counts
    table = pd.DataFrame(
        {
            "p_destroyed": 1.0 - posterior[:, D],
            "destroyed_after": image_date_at(dates, state - 1),
            "destroyed_by": image_date_at(dates, state),
            "confidence": confidence,
            "ci90_start": image_date_at(dates, start - 1),
            "ci90_end": image_date_at(dates, end),
            "n_labels": n_labels,
            "n_volunteers": n_volunteers,
        },
        index=enc.building_ids,
        copy=False,  # new arrays all: a copy of each cost a third of the table's 0.25 ms on 1,111 buildings
    )
    table.index.name = "building_id"
    return table


@dataclass(eq=False)
class Consensus:
    """Consensus destruction dates of buildings, as :func:`stracker.aggregate` returns them.

    Attributes
    ----------
    buildings : pandas.DataFrame
        Indexed by building_id: ``p_destroyed`` (posterior probability of destruction by the last image),
        ``destroyed_after`` and ``destroyed_by`` (the most probable state: T in (destroyed_after,
        destroyed_by]; NaT at an open end), ``confidence`` (posterior mass of that state), ``ci90_start`` and
        ``ci90_end`` (a 90 % equal-tailed credible interval of T; ci90_end NaT: may be undestroyed),
        ``n_labels`` and ``n_volunteers``.
    volunteers : pandas.DataFrame
        Indexed by volunteer_id: answer counts, the estimated parameters of the answer models and
        ``reliability`` (chance of an exact timeline mark on a destroyed building, or balanced accuracy on
        compare answers, weighted by how many answers of each kind the volunteer gave).
    posterior : numpy.ndarray
        Buildings x (D + 1) state probabilities, rows summing to 1, rows in the order of ``buildings``.
    image_dates : pandas.DatetimeIndex
        The image catalogue the states refer to.
    method : str
        The aggregation method.
    prior : numpy.ndarray
        The prior over states (learned from the whole campaign, or given).
    log_likelihood : list of float
        Log-likelihood after each EM iteration (empty for methods without EM).
    n_iter : int
        EM iterations used.
    converged : bool
        Whether the EM met its tolerance before ``max_iter``.
    frames : pandas.DataFrame or None
        The frame-level posteriors of ``dawid_skene``.
    compare_reliability : numpy.ndarray or None
        Per image, the learned chance that a compare answer about it read it (relative to the typical image;
        ``EMOptions.compare_image_reliability``); None when not learned. Written to the images
        layer by :meth:`to_file`.
    spatial_prior : dict or None
        With the spatial prior (``footprints=`` or ``neighbours=``): what the EM learned of it (``strength``,
        ``independent_share``, ``kernel_shares``; :meth:`stracker.consensus.spatial.SpatialPrior.summary`).
    """

    buildings: pd.DataFrame
    volunteers: pd.DataFrame
    posterior: np.ndarray
    image_dates: pd.DatetimeIndex
    method: str
    prior: np.ndarray
    log_likelihood: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = True
    frames: pd.DataFrame | None = None
    compare_reliability: np.ndarray | None = None
    spatial_prior: dict[str, object] | None = None

    @property
    def n_states(self) -> int:
        """Number of destruction states, D + 1."""
        return self.posterior.shape[1]

    def state_probabilities(self) -> pd.DataFrame:
        """The posterior as a DataFrame: one row per building, one column per state.

        Columns are labelled by the state's upper image date (``destroyed_by``; as text: the ISO date, or the
        ISO timestamp when an image date has a time of day); the last is ``"intact"``.
        """
        return pd.DataFrame(self.posterior, index=self.buildings.index, columns=state_columns(self.image_dates))

    def summary(self) -> dict[str, float | int | str | bool]:
        """A few headline figures, JSON-ready."""
        b = self.buildings
        return consensus_summary(
            method=self.method,
            n_buildings=len(b),
            n_volunteers=len(self.volunteers),
            n_images=len(self.image_dates),
            n_destroyed=int((b["p_destroyed"] >= 0.5).sum()),
            mean_confidence=float(b["confidence"].mean()),
            n_iter=self.n_iter,
            converged=self.converged,
        )

    def compute(self) -> Consensus:
        """This consensus, in memory already: the counterpart of
        :meth:`stracker.consensus.distributed.DistributedConsensus.compute`, so code can take either."""
        return self

    def to_geodataframe(
        self,
        footprints: pd.DataFrame,
        on: str = "building_id",
        on_unknown: Literal["error", "report"] = "error",
    ) -> pd.DataFrame:
        """Join the consensus onto a footprint layer.

        Footprints without answers are kept, with empty consensus columns (``n_labels`` 0). Answers about
        buildings missing from the footprints are never dropped silently: ``on_unknown="error"`` refuses them,
        naming them; ``"report"`` returns the layer and lists them in
        ``result.attrs["unmatched_building_ids"]`` (empty when every building matched). The footprints' own
        columns named like consensus columns (``confidence`` in Microsoft's building footprints, say) are kept
        as ``footprint_<name>``, with a :class:`~stracker.errors.RenamedColumnsWarning`; the renames are in
        ``result.attrs["renamed_columns"]``.

        Parameters
        ----------
        footprints : geopandas.GeoDataFrame
            Building footprints with a key column ``on`` (see :func:`stracker.read_footprints`).
        on : str
            Name of the footprints' building id column.
        on_unknown : {"error", "report"}
            What to do with buildings that have answers but no footprint.

        Returns
        -------
        geopandas.GeoDataFrame
            The footprints, in their order, with the columns of ``buildings`` added.

        Raises
        ------
        UnmatchedBuildingsError
            With ``on_unknown="error"``, if answered buildings lack a footprint (their ids are in the
            exception's ``building_ids``); the message says when ids differ only in type ('12' and 12).
        FootprintsError
            If the footprints lack the column ``on`` or repeat an id.

        Examples
        --------
        >>> import geopandas as gpd, pandas as pd, stracker
        >>> from shapely.geometry import box
        >>> labels = pd.DataFrame({"building_id": [1, 2, 9], "volunteer_id": [1, 1, 1],
        ...     "before": pd.NaT, "after": pd.to_datetime(["2017-06-10"] * 3),
        ...     "destroyed": [True, False, True], "task": "compare"})
        >>> consensus = stracker.aggregate(labels, method="majority")
        >>> footprints = gpd.GeoDataFrame({"building_id": [1, 2, 3]},
        ...     geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1), box(4, 0, 5, 1)], crs="EPSG:32637")
        >>> layer = consensus.to_geodataframe(footprints, on_unknown="report")
        >>> layer["n_labels"].tolist(), layer.attrs["unmatched_building_ids"]
        ([1, 1, 0], [9])
        """

        if on_unknown not in ("error", "report"):
            raise FootprintsError(f"on_unknown must be 'error' or 'report', got {on_unknown!r}.")
        keys = check_footprint_ids(footprints, on)
        unknown = self.buildings.index.difference(keys)
        if len(unknown) and on_unknown == "error":
            raise UnmatchedBuildingsError(
                f"{len(unknown)} building(s) with answers are not in the footprints, e.g. {unknown[:5].tolist()}"
                f"{id_type_hint(self.buildings.index, keys)}; add their footprints, fix the ids, or pass "
                "on_unknown='report' (--on-unknown report) to keep going and list their answers apart.",
                unknown.tolist(),
            )
        joined = self.buildings.reindex(keys)
        joined["n_labels"] = joined["n_labels"].fillna(0).astype(np.int64)
        joined["n_volunteers"] = joined["n_volunteers"].fillna(0).astype(np.int64)
        out, renamed = _make_room(footprints.copy(), list(joined.columns))
        for column in joined.columns:
            out[column] = joined[column].to_numpy()
        out.attrs["unmatched_building_ids"] = unknown.tolist()
        out.attrs["renamed_columns"] = renamed
        return out

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
        """Write the consensus as a GeoPackage (``.gpkg``) or GeoParquet (``.parquet``), atomically.

        A GeoPackage gets four layers: ``buildings`` (the footprints with the consensus columns, CRS kept;
        without footprints, an attribute table of the answered buildings), ``volunteers`` and ``images``
        (attribute tables: the volunteers' reliability; the image catalogue with ``n_destroyed_by``, the
        buildings whose most probable state ends at that image) and ``states`` (the posterior, one column per
        state, so that :func:`stracker.read_consensus` gives back the same consensus). A ``.parquet`` path gets
        the buildings as GeoParquet and the other three as ``NAME.volunteers.parquet`` and so on beside it.
        Dates are stored as date-time fields. Each file is written to a temporary name and renamed.

        Parameters
        ----------
        path : str or Path
            Output file; its suffix chooses the format.
        footprints : geopandas.GeoDataFrame, optional
            Joined as by :meth:`to_geodataframe`.
        images : pandas.DataFrame, optional
            The image catalogue with an ``image_date`` column; its other columns (e.g. ``cloud_cover``) are
            added to the ``images`` layer.
        on, on_unknown : str
            As in :meth:`to_geodataframe`.
        overwrite : bool
            Replace existing output files; otherwise they are an error.
        extra : mapping of path to callable, optional
            More outputs written with the consensus: path -> a function that writes that file at the (temporary)
            path it is given. They are renamed into place together with the consensus files, all or none.

        Returns
        -------
        pandas.DataFrame or geopandas.GeoDataFrame
            The ``buildings`` layer as written; ``attrs["unmatched_building_ids"]`` lists answered buildings
            without a footprint (with ``on_unknown="report"``).

        Raises
        ------
        OutputExistsError
            If an output file exists and ``overwrite`` is False.
        FileFormatError
            If the suffix is neither ``.gpkg`` nor ``.parquet``.

        Examples
        --------
        >>> import tempfile, pathlib, pandas as pd, pyogrio, stracker
        >>> labels = pd.DataFrame({"building_id": [1, 2], "volunteer_id": [1, 1], "before": pd.NaT,
        ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": [True, False], "task": "compare"})
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "consensus.gpkg"
        >>> _ = stracker.aggregate(labels, method="majority").to_file(path)
        >>> pyogrio.list_layers(path)[:, 0].tolist()
        ['buildings', 'volunteers', 'images', 'states']
        """

        return write_consensus(
            self, path, footprints, images=images, on=on, on_unknown=on_unknown, overwrite=overwrite, extra=extra
        )

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<Consensus method={s['method']!r} buildings={s['buildings']} volunteers={s['volunteers']} "
            f"images={s['images']} destroyed={s['destroyed']} iterations={s['iterations']}>"
        )


def _make_room(footprints: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the footprints' own columns that carry a consensus column's name to ``footprint_<name>`` (or
    ``footprint_<name>_2``, ... if that is taken too), with a warning: the user's data is kept."""
    taken = {str(c) for c in footprints.columns} | set(columns)
    renamed = {}
    for column in (c for c in columns if c in footprints.columns):
        new, n = f"footprint_{column}", 1
        while new in taken:
            n += 1
            new = f"footprint_{column}_{n}"
        taken.add(new)
        renamed[column] = new
    if renamed:
        footprints = footprints.rename(columns=renamed)
        said = ", ".join(f"{old!r} -> {new!r}" for old, new in renamed.items())
        warnings.warn(
            f"the footprints have their own columns named like consensus columns; they are kept, renamed: {said} "
            "(rename them in the footprints beforehand to choose the names).",
            RenamedColumnsWarning,
            stacklevel=3,
        )
    return footprints, renamed


def volunteer_counts(enc: EncodedLabels) -> np.ndarray:
    """Per volunteer (rows) and task (columns: timeline, compare), the answers given; one pass over them.

    Examples
    --------
    >>> labels = pd.DataFrame({"building_id": [1, 2, 2], "volunteer_id": ["a", "a", "b"], "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 3), "destroyed": True, "task": ["compare", "timeline", "compare"]})
    >>> from stracker.labels import encode_labels
    >>> volunteer_counts(encode_labels(labels)).tolist()
    [[1, 1], [0, 1]]
    """
    return volunteer_tallies(enc.volunteer, enc.task, enc.n_volunteers)


def volunteer_table(
    enc: EncodedLabels, params: dict[str, np.ndarray], counts: np.ndarray | None = None
) -> pd.DataFrame:
    """Per-volunteer counts, parameters and a one-number reliability (``counts``: :func:`volunteer_counts`, when
    known already)."""
    counts = volunteer_counts(enc) if counts is None else counts
    return volunteer_table_from_counts(enc.volunteer_ids, counts[:, TIMELINE], counts[:, COMPARE], params)


def volunteer_table_from_counts(
    volunteer_ids: pd.Index, n_timeline: np.ndarray, n_compare: np.ndarray, params: dict[str, np.ndarray]
) -> pd.DataFrame:
    """:func:`volunteer_table` from per-volunteer answer counts (summed over shards in the distributed engine)."""
    n_labels = n_timeline + n_compare
    exact_mark = (1 - params["p_guess"]) * (1 - params["p_miss"]) * (1 - params["p_early"]) * (1 - params["p_late"])
    balanced = (params["sensitivity"] + params["specificity"]) / 2
    reliability = (n_timeline * exact_mark + n_compare * balanced) / np.maximum(n_labels, 1)
    # one frame from one dict of columns: a column set at a time costs pandas about 0.15 ms each
    columns = {"n_labels": n_labels, "n_timeline": n_timeline, "n_compare": n_compare}
    columns.update(params)
    columns["reliability"] = reliability
    # not copied: the counts and reliability are new arrays, and the parameters the fit's own, which it hands
    # over (a copy of each column was half of the table's 0.16 ms)
    table = pd.DataFrame(columns, index=volunteer_ids, copy=False)
    table.index.name = "volunteer_id"
    return table


def read_consensus(path: str | Path) -> Consensus:
    """Read a consensus written by :meth:`stracker.Consensus.to_file` (GeoPackage or GeoParquet).

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file, or the main ``.parquet`` file with its ``.volunteers``, ``.images`` and ``.states``
        siblings beside it.

    Returns
    -------
    Consensus
        With the buildings that had answers, their posterior, the volunteers and the image catalogue (the
        per-frame table of ``method="dawid_skene"`` is not stored).

    Raises
    ------
    FileFormatError
        If a layer or sibling file is missing, or the parts do not fit together.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, stracker
    >>> labels = pd.DataFrame({"building_id": [1, 1, 2], "volunteer_id": [1, 2, 1],
    ...     "before": pd.to_datetime(["2017-06-01", "2017-06-01", None]),
    ...     "after": pd.to_datetime(["2017-06-10", "2017-06-10", "2017-06-10"]),
    ...     "destroyed": [True, True, False], "task": "compare"})
    >>> consensus = stracker.aggregate(labels, method="majority")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "consensus.gpkg"
    >>> _ = consensus.to_file(path)
    >>> again = stracker.read_consensus(path)
    >>> bool((again.posterior == consensus.posterior).all()), again.method
    (True, 'majority')
    """
    return Consensus(**read_consensus_parts(path))
