"""The campaign report: PNG figures and one self-contained HTML page summarising a simulated campaign.

The page uses no external scripts, styles or fonts; it references only the PNG files written beside it and the
review page (``review.html``, see :mod:`stracker.review`), the interactive map to check buildings one by one.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from stracker.consensus.result import Consensus
from stracker.evaluation import evaluate
from stracker.io.files import atomic_path
from stracker.simulation import Simulation

__all__ = ["REPORT_FIGURES", "REVIEW_PAGE", "summary_title", "write_report"]

REPORT_FIGURES = {
    "map_truth.png": "True destruction, by week (one colour scale with the consensus map)",
    "map_consensus.png": "Consensus destruction (most probable interval's end), by week",
    "timeline.png": "Buildings destroyed per week: truth and consensus",
    "calibration.png": "Calibration: confidence against exact-state accuracy (buildings per bin) and coverage of "
    "the credible intervals",
    "volunteers.png": "Volunteers: estimated reliability against activity",
    "frames.png": "One building's frames across dates, as volunteers saw them (framed: the consensus's image)",
}
"""PNG files of the report and their captions."""
REVIEW_PAGE = "review.html"
"""The review page written beside the report."""

_STYLE = """
body { font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #eee; } figcaption { color: #555; }
"""


def _table(rows: list[tuple[str, str]], header: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td class='num'>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>{body}</table>"


def _example_building(simulation: Simulation) -> int | str:
    """A building destroyed mid-campaign, large enough to see: the median-dated of the larger half."""
    b = simulation.buildings
    dates = simulation.images["image_date"]
    inside = b[(b["destroyed_on"] > dates.iloc[0]) & (b["destroyed_on"] <= dates.iloc[-1])]
    if inside.empty:
        return b["building_id"].iloc[0]
    large = inside[inside["area_m2"] >= inside["area_m2"].median()].sort_values("destroyed_on")
    return large["building_id"].iloc[len(large) // 2]


def summary_title(simulation: Simulation) -> str:
    """The campaign in a few words: ``raqqa preset, seed 0``."""
    return f"{simulation.scenario.name} preset, seed {simulation.scenario.seed}"


def write_report(
    directory: str | Path,
    simulation: Simulation,
    consensus: Consensus,
    evaluation: pd.DataFrame | None = None,
    dpi: int = 110,
    review_frame_buildings: int = 6,
) -> Path:
    """Write the figures, ``report.html`` and the review page ``review.html`` into ``directory``.

    Returns the report page's path; it links to the review page.

    Parameters
    ----------
    directory : path
        Where to write (created if needed); files are replaced atomically.
    simulation : Simulation
    consensus : Consensus
        The aggregate of ``simulation.labels``.
    evaluation : pandas.DataFrame, optional
        From :func:`stracker.evaluate`; computed if not given.
    dpi : int
        Resolution of the PNGs.
    review_frame_buildings : int
        Buildings whose frames the review page embeds (the least confident; five dates each, rendered at
        about half a second a frame).

    Examples
    --------
    >>> import tempfile, stracker
    >>> from stracker.report import write_report
    >>> sim = stracker.simulate("small")
    >>> page = write_report(tempfile.mkdtemp(), sim, stracker.aggregate(sim.labels, sim.image_dates))
    >>> page.name, (page.parent / "timeline.png").exists(), (page.parent / "review.html").exists()
    ('report.html', True, True)
    """
    from stracker import plot
    from stracker.review import write_review

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if evaluation is None:
        evaluation = evaluate(consensus, simulation.truth)
    layer = consensus.to_geodataframe(simulation.buildings)
    # one colour scale for both maps, so that a colour is the same week on each
    scale = plot.week_scale(simulation.buildings["destroyed_on"], layer["destroyed_by"])
    figures = {
        "map_truth.png": plot.destruction_map(simulation.buildings, "destroyed_on", title="Truth", scale=scale),
        "map_consensus.png": plot.destruction_map(layer, "destroyed_by", title="Consensus", scale=scale),
        "timeline.png": plot.destruction_timeline(simulation.truth, consensus),
        "calibration.png": plot.calibration(consensus, simulation.truth),
        "volunteers.png": plot.volunteer_reliability(consensus),
        "frames.png": plot.frame_strip(simulation, _example_building(simulation), consensus=consensus),
    }
    for name, fig in figures.items():
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    review = write_review(
        out / REVIEW_PAGE,
        consensus,
        simulation.buildings,
        labels=simulation.labels,
        truth=simulation.truth,
        chips=simulation,
        max_frame_buildings=review_frame_buildings,
        frames_per_building=5,
        overwrite=True,
        title=f"stracker review: {summary_title(simulation)}",
    )
    summary = simulation.summary()
    sizes = [
        ("buildings", f"{summary['buildings']:,}"),
        ("destroyed (truth)", f"{summary['destroyed']:,}"),
        ("satellite images", f"{summary['images']:,}"),
        ("volunteers", f"{summary['volunteers']:,}"),
        ("countries", f"{summary['countries']:,}"),
        ("answers", f"{summary['answers']:,}"),
        ("frames viewed", f"{summary['frames_viewed']:,}"),
        ("task", str(summary["task"])),
    ]
    metrics = [
        (f"{metric} ({unit})", f"{value:,.0f}" if unit == "count" else f"{value:.4f}")
        for metric, value, unit in evaluation.itertuples(index=False)
    ]
    figure_html = "".join(
        f"<figure><img src='{name}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in REPORT_FIGURES.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>stracker campaign report: {html.escape(str(summary["preset"]))}, seed {summary["seed"]}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Campaign report: {html.escape(str(summary["preset"]))} preset, seed {summary["seed"]}</h1>
<p>A simulated Strike Trackers campaign: volunteers dated the destruction of buildings from satellite images;
stracker aggregated their answers ({html.escape(consensus.method)}, {consensus.n_iter} iterations) into a
destruction date per building, compared here with the simulated truth.</p>
<p><a href="{REVIEW_PAGE}">The review page</a> ({review.size_bytes / 1e6:.1f} MB, one offline file): the
map of every building by consensus week, the truth as a toggle, a queue of the buildings most worth a look, and
for each its posterior, answers and frames; an expert's dates download as a gold table.</p>
<h2>Scale</h2>{_table(sizes, ("", "count"))}
<h2>Evaluation</h2>{_table(metrics, ("metric", "value"))}
<h2>Figures</h2>{figure_html}
</body></html>
"""
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "report.html"
