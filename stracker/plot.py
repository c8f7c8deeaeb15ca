"""Figures of a campaign: maps, timelines, calibration and volunteers, as matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so it works on a machine
without a display and never touches global plotting state; show it in a notebook by leaving it as the cell's
value, or save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "calibration",
    "destruction_map",
    "destruction_timeline",
    "frame_strip",
    "volunteer_reliability",
]

_INTACT = "#d9d9d9"
_TRUTH = "#404040"
_CONSENSUS = "#d95f02"


def _week_start(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("W-SUN").dt.start_time


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

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import destruction_map
    >>> sim = stracker.simulate("small")
    >>> fig = destruction_map(sim.buildings)
    >>> fig.axes[0].get_title()
    'Buildings by week of destruction (destroyed_on)'
    """
    dates = pd.to_datetime(buildings[column])
    weeks = _week_start(dates)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    intact = weeks.isna().to_numpy()
    if intact.any():
        buildings[intact].plot(ax=ax, color=_INTACT, linewidth=0)
    destroyed = buildings[~intact]
    if len(destroyed):
        week_values = weeks[~intact]
        first, last = week_values.min(), week_values.max()
        n_weeks = max(int((last - first).days // 7) + 1, 1)
        cmap = mpl.colormaps["viridis"].resampled(n_weeks)
        index = ((week_values - first).dt.days // 7).to_numpy()
        destroyed.plot(ax=ax, color=cmap(index / max(n_weeks - 1, 1)), linewidth=0)
        norm = mpl.colors.Normalize(vmin=0, vmax=n_weeks)
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7,
                           label="week of destruction")
        ticks = np.linspace(0, n_weeks, min(n_weeks + 1, 7)).round()
        bar.set_ticks(list(ticks + 0.5 * (ticks < n_weeks)))
        bar.set_ticklabels([(first + pd.Timedelta(weeks=int(t))).strftime("%d %b") for t in ticks])
    ax.set_aspect("equal")
    ax.set_axis_off()
    crs = buildings.crs.to_string() if buildings.crs is not None else "no CRS"
    ax.set_title(title or f"Buildings by week of destruction ({column})")
    ax.text(0.99, 0.01, f"grey: not destroyed   {crs}", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=8, color="#555555")
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
        series = {"truth (first image after)": pd.Series(shown, index=truth.index),
                  "consensus (destroyed by)": pd.to_datetime(consensus.buildings["destroyed_by"])}
    counts = {name: _week_start(values.dropna()).value_counts() for name, values in series.items()}
    weeks = pd.DatetimeIndex(sorted(set().union(*[c.index for c in counts.values()])))
    width = pd.Timedelta(days=3)
    for i, (name, count) in enumerate(counts.items()):
        offset = pd.Timedelta(days=3.5 * i - (1.75 if len(counts) > 1 else 0))
        ax.bar(weeks + offset, count.reindex(weeks, fill_value=0).to_numpy(), width=width, align="center",
               color=_TRUTH if i == 0 else _CONSENSUS, label=name)
    ax.set_ylabel("buildings per week")
    ax.set_title("Destruction over time")
    ax.legend()
    fig.autofmt_xdate()
    return fig


def calibration(consensus: Consensus, truth: pd.Series, n_bins: int = 10,
                figsize: tuple[float, float] = (10.0, 4.5)) -> Figure:
    """Calibration: predicted against observed destruction, and credible-interval coverage.

    Left: buildings binned by ``p_destroyed``, the share truly destroyed by the last image in each bin against
    the bin's mean prediction. Right: the share of buildings whose true state lies in the equal-tailed
    credible interval, against the interval's nominal mass.

    Examples
    --------
    >>> import stracker
    >>> from stracker.plot import calibration
    >>> sim = stracker.simulate("small")
    >>> fig = calibration(stracker.aggregate(sim.labels, sim.image_dates), sim.truth)
    >>> len(fig.axes)
    2
    """
    aligned = pd.to_datetime(truth).reindex(consensus.buildings.index)
    true_state = destruction_state(aligned, consensus.image_dates)
    destroyed = (true_state < len(consensus.image_dates)).astype(float)
    p = consensus.buildings["p_destroyed"].to_numpy()
    fig = Figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    used = count > 0
    mean_p = np.bincount(bins, weights=p, minlength=n_bins)[used] / count[used]
    observed = np.bincount(bins, weights=destroyed, minlength=n_bins)[used] / count[used]
    left.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="perfect calibration")
    left.scatter(mean_p, observed, s=20 + 200 * count[used] / count.max(), color=_CONSENSUS, zorder=3,
                 label="bins (size: buildings)")
    left.set(xlabel="predicted P(destroyed)", ylabel="observed share destroyed", xlim=(0, 1), ylim=(0, 1),
             title="Destruction probability")
    left.legend(loc="upper left")
    masses = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    coverage = []
    for mass in masses:  # seven nominal masses, each a vectorized pass over all buildings
        start, end = credible_bounds(consensus.posterior, mass)
        coverage.append(float(((true_state >= start) & (true_state <= end)).mean()))
    right.plot([0.5, 1], [0.5, 1], color="#999999", linestyle="--", label="nominal")
    right.plot(masses, coverage, marker="o", color=_CONSENSUS, label="observed")
    right.set(xlabel="credible interval mass", ylabel="share of buildings covered", xlim=(0.45, 1.0),
              ylim=(0.45, 1.0), title="Destruction date intervals")
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
    ax.set(xlabel="answers given", ylabel="estimated reliability", ylim=(0, 1.02),
           title=f"{len(table):,} volunteers")
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
        ax.set_title(date.strftime("%d %b") + ("\ndestroyed" if destroyed else "\nintact"), fontsize=8,
                     color="#b2182b" if destroyed else "#222222")
        if consensus_by is not None and pd.notna(consensus_by) and date == consensus_by:
            for spine in ax.spines.values():
                spine.set(color=_CONSENSUS, linewidth=3)
    label = "consensus: first image destroyed framed" if consensus is not None else ""
    fig.suptitle(f"building {building_id}" + (f" ({label})" if label else ""), fontsize=9)
    return fig
