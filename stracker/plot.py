"""Figures of a campaign: maps, timelines, calibration and volunteers, as matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so it works on a machine
without a display and never touches global plotting state; show it in a notebook by leaving it as the cell's
value, or save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from stracker.consensus.result import Consensus, credible_bounds
from stracker.labels import destruction_state

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

    from stracker.simulation import Simulation

__all__ = [
    "INTACT_COLOUR",
    "WeekScale",
    "calibration",
    "destruction_map",
    "destruction_timeline",
    "frame_strip",
    "volunteer_reliability",
    "week_scale",
]

INTACT_COLOUR = "#d9d9d9"
"""Colour of buildings not destroyed, on every map (the report's and the review page's)."""
_INTACT = INTACT_COLOUR
_TRUTH = "#404040"
_CONSENSUS = "#d95f02"


def _week_start(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("W-SUN").dt.start_time


class WeekScale(NamedTuple):
    """A colour scale of destruction weeks: ``n_weeks`` weeks from the week starting ``first`` (a Monday).

    One scale shared by every map of a campaign makes the same colour mean the same week on each.
    """

    first: pd.Timestamp
    n_weeks: int

    def index(self, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Week number of each date on the scale (-1 for NaT).

        Raises
        ------
        ValueError
            If a date falls outside the scale's weeks.
        """
        weeks = _week_start(pd.Series(pd.to_datetime(np.asarray(dates))))
        known = weeks.notna().to_numpy()
        out = np.full(len(weeks), -1, dtype=np.int64)
        out[known] = ((weeks[known] - self.first).dt.days // 7).to_numpy()
        outside = known & ((out < 0) | (out >= self.n_weeks))
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} date(s), e.g. {pd.Series(np.asarray(dates))[outside].iloc[0]}, fall outside "
                f"the colour scale's weeks {self.first.date()} to {self.last.date()}; widen the scale to them."
            )
        return out

    @property
    def last(self) -> pd.Timestamp:
        """Start of the scale's last week."""
        return self.first + pd.Timedelta(weeks=self.n_weeks - 1)

    def cmap(self) -> mpl.colors.Colormap:
        """viridis in one colour per week."""
        return mpl.colormaps["viridis"].resampled(self.n_weeks)

    def colours(self) -> list[str]:
        """The colour of each week as ``#rrggbb``, the first week first."""
        rgba = self.cmap()(np.arange(self.n_weeks) / max(self.n_weeks - 1, 1))
        return [mpl.colors.to_hex(c) for c in rgba]

    def ticks(self, n_max: int = 7) -> list[tuple[int, str]]:
        """At most ``n_max`` week numbers to label on a legend, with their labels ("27 Feb")."""
        ticks = np.linspace(0, self.n_weeks, min(self.n_weeks + 1, n_max)).round().astype(int)
        return [(int(t), (self.first + pd.Timedelta(weeks=int(t))).strftime("%d %b")) for t in ticks]


def week_scale(*dates: pd.Series | pd.DatetimeIndex | np.ndarray | None) -> WeekScale | None:
    """The week colour scale covering every date given (several columns: one shared scale); None if all NaT.

    Examples
    --------
    >>> import pandas as pd
    >>> scale = week_scale(pd.Series(pd.to_datetime(["2017-06-07", None])), pd.to_datetime(["2017-07-01"]))
    >>> str(scale.first.date()), scale.n_weeks, scale.index(pd.to_datetime(["2017-06-30"])).tolist()
    ('2017-06-05', 4, [3])
    """
    values = [pd.Series(pd.to_datetime(np.asarray(d))).dropna() for d in dates if d is not None]
    values = [v for v in values if len(v)]
    if not values:
        return None
    weeks = _week_start(pd.concat(values, ignore_index=True))
    first, last = weeks.min(), weeks.max()
    return WeekScale(first, max(int((last - first).days // 7) + 1, 1))


def _scale_bar(ax: Axes, length_m: float | None = None) -> None:
    """A scale bar in the lower left corner, for axes in projected metres."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    span = x1 - x0
    if length_m is None:
        raw = span / 5
        length_m = float(10 ** np.floor(np.log10(raw)))
        length_m *= 5 if raw / length_m >= 5 else 2 if raw / length_m >= 2 else 1
    x, y = x0 + 0.05 * span, y0 + 0.05 * (y1 - y0)
    ax.plot([x, x + length_m], [y, y], color="black", linewidth=3, solid_capstyle="butt")
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.text(x + length_m / 2, y + 0.015 * (y1 - y0), label, ha="center", va="bottom", fontsize=9)


def destruction_map(
    buildings: gpd.GeoDataFrame,
    column: str = "destroyed_on",
    title: str | None = None,
    figsize: tuple[float, float] = (8.0, 8.0),
    scale: WeekScale | None = None,
) -> Figure:
    """Map of buildings coloured by the week of their destruction.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Footprints in a projected CRS (metres) with a date column.
    column : str
        The date column: ``destroyed_on`` (truth) or ``destroyed_by`` (a consensus layer from
        :meth:`Consensus.to_geodataframe`). NaT is drawn grey as not destroyed.
    title : str, optional
    figsize : tuple
    scale : WeekScale, optional
        The colour scale of weeks; default: the weeks of this column. Give maps that are to be compared (the
        truth and the consensus) one scale from :func:`week_scale` of both columns, so that a colour is one week.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a date falls outside ``scale``.

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import destruction_map, week_scale
    >>> sim = stracker.simulate("small")
    >>> fig = destruction_map(sim.buildings)
    >>> fig.axes[0].get_title()
    'Buildings by week of destruction (destroyed_on)'
    >>> shared = week_scale(sim.buildings["destroyed_on"], sim.images["image_date"])
    >>> bar = destruction_map(sim.buildings, scale=shared).axes[1]
    >>> bar.get_yticklabels()[0].get_text() == shared.ticks()[0][1]
    True
    """
    dates = pd.to_datetime(buildings[column])
    if scale is None:
        scale = week_scale(dates)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    index = scale.index(dates) if scale is not None else np.full(len(dates), -1)
    intact = index < 0
    if intact.any():
        buildings[intact].plot(ax=ax, color=_INTACT, linewidth=0)
    if scale is not None:
        cmap = scale.cmap()
        if (~intact).any():
            buildings[~intact].plot(ax=ax, color=cmap(index[~intact] / max(scale.n_weeks - 1, 1)), linewidth=0)
        norm = mpl.colors.Normalize(vmin=0, vmax=scale.n_weeks)
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7, label="week of destruction")
        ticks = scale.ticks()
        bar.set_ticks([t + 0.5 * (t < scale.n_weeks) for t, _ in ticks])
        bar.set_ticklabels([label for _, label in ticks])
    ax.set_aspect("equal")
    ax.set_axis_off()
    crs = buildings.crs.to_string() if buildings.crs is not None else "no CRS"
    ax.set_title(title or f"Buildings by week of destruction ({column})")
    ax.text(
        0.99,
        0.01,
        f"grey: not destroyed   {crs}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        color="#555555",
    )
    _scale_bar(ax)
    return fig


def destruction_timeline(
    truth: pd.Series,
    consensus: Consensus | None = None,
    figsize: tuple[float, float] = (9.0, 4.0),
) -> Figure:
    """Buildings destroyed per week: the truth against the consensus (most probable state's date).

    With a consensus, both are counted at image resolution: the truth by the first image after the
    destruction, the consensus by ``destroyed_by``.

    Parameters
    ----------
    truth : pandas.Series
        ``destroyed_on`` dates indexed by building_id (NaT: not destroyed).
    consensus : Consensus, optional
        Its ``destroyed_by`` dates are counted per week beside the truth.
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import destruction_timeline
    >>> sim = stracker.simulate("small")
    >>> fig = destruction_timeline(sim.truth, stracker.aggregate(sim.labels, sim.image_dates))
    >>> len(fig.axes[0].get_legend().get_texts())
    2
    """
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    truth = pd.to_datetime(truth)
    series = {"truth (destroyed on)": truth}
    if consensus is not None:
        # compare like with like: the truth too as the first image showing the destruction
        dates = consensus.image_dates
        state = destruction_state(truth, dates)
        shown = np.full(len(truth), np.datetime64("NaT"), dtype="datetime64[ns]")
        shown[state < len(dates)] = dates.to_numpy()[state[state < len(dates)]]
        series = {
            "truth (first image after)": pd.Series(shown, index=truth.index),
            "consensus (destroyed by)": pd.to_datetime(consensus.buildings["destroyed_by"]),
        }
    counts = {name: _week_start(values.dropna()).value_counts() for name, values in series.items()}
    weeks = pd.DatetimeIndex(sorted(set().union(*[c.index for c in counts.values()])))
    width = pd.Timedelta(days=3)
    for i, (name, count) in enumerate(counts.items()):
        offset = pd.Timedelta(days=3.5 * i - (1.75 if len(counts) > 1 else 0))
        ax.bar(
            weeks + offset,
            count.reindex(weeks, fill_value=0).to_numpy(),
            width=width,
            align="center",
            color=_TRUTH if i == 0 else _CONSENSUS,
            label=name,
        )
    ax.set_ylabel("buildings per week")
    ax.set_title("Destruction over time")
    ax.legend()
    fig.autofmt_xdate()
    return fig


def calibration(
    consensus: Consensus, truth: pd.Series, n_bins: int = 10, figsize: tuple[float, float] = (10.0, 4.5)
) -> Figure:
    """Calibration: a reliability diagram of ``confidence``, and credible-interval coverage.

    Left: buildings binned by ``confidence`` (the posterior mass of the most probable state), the share whose
    true state is exactly that state against the bin's mean confidence, each bin labelled with its number of
    buildings; a calibrated consensus lies on the diagonal. (P(destroyed) would say little: on a timeline
    campaign it is 0 or 1 on nearly every building, while the date is what is uncertain.) Right: the share of
    buildings whose true state lies in the equal-tailed credible interval, against the interval's nominal mass.

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import calibration
    >>> sim = stracker.simulate("small")
    >>> fig = calibration(stracker.aggregate(sim.labels, sim.image_dates), sim.truth)
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (2, 'confidence (posterior mass of the most probable state)')
    """
    aligned = pd.to_datetime(truth).reindex(consensus.buildings.index)
    true_state = destruction_state(aligned, consensus.image_dates)
    exact = (np.argmax(consensus.posterior, axis=1) == true_state).astype(float)
    confidence = consensus.buildings["confidence"].to_numpy(dtype=float)
    fig = Figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    bins = np.clip((confidence * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    used = count > 0
    mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins)[used] / count[used]
    accuracy = np.bincount(bins, weights=exact, minlength=n_bins)[used] / count[used]
    left.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="perfect calibration")
    left.plot(mean_confidence, accuracy, marker="o", color=_CONSENSUS, label="bins of buildings")
    for x, y, n in zip(mean_confidence, accuracy, count[used], strict=True):
        left.annotate(
            f"{n:,}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7, color="#555555"
        )
    left.set(
        xlabel="confidence (posterior mass of the most probable state)",
        ylabel="share with exactly that state",
        xlim=(0, 1),
        ylim=(0, 1.1),
        title="Date confidence (labels: buildings per bin)",
    )
    left.legend(loc="upper left")
    masses = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    coverage = []
    for mass in masses:  # seven nominal masses, each a vectorized pass over all buildings
        start, end = credible_bounds(consensus.posterior, mass)
        coverage.append(float(((true_state >= start) & (true_state <= end)).mean()))
    right.plot([0.5, 1], [0.5, 1], color="#999999", linestyle="--", label="nominal")
    right.plot(masses, coverage, marker="o", color=_CONSENSUS, label="observed")
    right.set(
        xlabel="credible interval mass",
        ylabel="share of buildings covered",
        xlim=(0.45, 1.0),
        ylim=(0.45, 1.0),
        title="Destruction date intervals",
    )
    right.legend(loc="upper left")
    return fig


def volunteer_reliability(consensus: Consensus, figsize: tuple[float, float] = (7.0, 4.5)) -> Figure:
    """Volunteers' estimated reliability against their activity (answers given, log scale).

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import volunteer_reliability
    >>> sim = stracker.simulate("small")
    >>> fig = volunteer_reliability(stracker.aggregate(sim.labels, sim.image_dates))
    >>> fig.axes[0].get_xscale()
    'log'
    """
    table = consensus.volunteers
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(table["n_labels"], table["reliability"], s=10, alpha=0.5, color=_CONSENSUS, linewidths=0)
    ax.set_xscale("log")
    ax.set(xlabel="answers given", ylabel="estimated reliability", ylim=(0, 1.02), title=f"{len(table):,} volunteers")
    median = float(np.nanmedian(table["reliability"]))
    ax.axhline(median, color="#999999", linestyle="--", linewidth=1)
    ax.text(ax.get_xlim()[1], median, f" median {median:.2f}", va="center", ha="left", fontsize=8)
    return fig


def frame_strip(
    simulation: Simulation,
    building_id: int | str,
    dates: list | None = None,
    size_m: float = 60.0,
    max_frames: int = 8,
    consensus: Consensus | None = None,
    panel_inches: float = 1.8,
) -> Figure:
    """A building's frames across dates: the chips a volunteer would scroll through.

    Parameters
    ----------
    simulation : Simulation
    building_id : int or str
    dates : list of dates, optional
        Catalogue dates to show; default: ``max_frames`` dates spread over the catalogue, always including the
        first image showing the destruction.
    size_m : float
        Side of each chip in metres.
    max_frames : int
    consensus : Consensus, optional
        Marks the consensus's interval (destroyed after / by) on the strip.
    panel_inches : float
        Size of one chip in the figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import frame_strip
    >>> sim = stracker.simulate("small")
    >>> len(frame_strip(sim, 3, max_frames=4).axes)
    4
    """
    from stracker.render import frame

    catalogue = pd.DatetimeIndex(simulation.images["image_date"])
    row = simulation.buildings.loc[simulation.buildings["building_id"] == building_id]
    destroyed_on = row["destroyed_on"].iloc[0] if len(row) else pd.NaT
    if dates is None:
        picks = set(np.linspace(0, len(catalogue) - 1, max_frames).round().astype(int).tolist())
        if pd.notna(destroyed_on):
            first_after = int(np.searchsorted(catalogue, destroyed_on))
            if first_after < len(catalogue):
                picks |= {first_after, max(first_after - 1, 0)}
        chosen = catalogue[sorted(picks)][-max_frames:] if len(picks) > max_frames else catalogue[sorted(picks)]
    else:
        chosen = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    consensus_by = None  # the image the consensus names as the first showing the destruction
    if consensus is not None and building_id in consensus.buildings.index:
        consensus_by = consensus.buildings.loc[building_id, "destroyed_by"]
    fig = Figure(figsize=(panel_inches * len(chosen), panel_inches + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(chosen)))
    for ax, date in zip(axes, chosen, strict=True):
        chip = frame(simulation, building_id, date, size_m=size_m)
        ax.imshow(chip.rgb, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        destroyed = pd.notna(destroyed_on) and destroyed_on <= date
        ax.set_title(
            date.strftime("%d %b") + ("\ndestroyed" if destroyed else "\nintact"),
            fontsize=8,
            color="#b2182b" if destroyed else "#222222",
        )
        if consensus_by is not None and pd.notna(consensus_by) and date == consensus_by:
            for spine in ax.spines.values():
                spine.set(color=_CONSENSUS, linewidth=3)
    label = "consensus: first image destroyed framed" if consensus is not None else ""
    fig.suptitle(f"building {building_id}" + (f" ({label})" if label else ""), fontsize=9)
    return fig
