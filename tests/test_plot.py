"""Every figure function returns a non-blank figure of the expected size."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from stracker import plot


@pytest.fixture(scope="module")
def campaign(aggregated):
    return aggregated("small", seed=4)


def _pixels(fig, dpi=50):
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3]


def _check(fig, figsize, dpi=50):
    pixels = _pixels(fig, dpi)
    assert pixels.shape[:2] == (round(figsize[1] * dpi), round(figsize[0] * dpi))
    # non-blank: many distinct colours, and not one colour covering nearly everything
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 20
    assert counts.max() / counts.sum() < 0.95


def test_truth_map(campaign):
    sim, _ = campaign
    fig = plot.destruction_map(sim.buildings, figsize=(6, 6))
    _check(fig, (6, 6))
    assert any("week" in (ax.get_ylabel() or "") for ax in fig.axes)  # the colour bar legend


def test_consensus_map(campaign):
    sim, consensus = campaign
    layer = consensus.to_geodataframe(sim.buildings)
    _check(plot.destruction_map(layer, column="destroyed_by", figsize=(5, 5)), (5, 5))


def test_map_of_nothing_destroyed_is_grey_not_an_error(campaign):
    sim, _ = campaign
    intact = sim.buildings.assign(destroyed_on=np.datetime64("NaT"))
    _check(plot.destruction_map(intact, figsize=(4, 4)), (4, 4))


def test_timeline(campaign):
    sim, consensus = campaign
    fig = plot.destruction_timeline(sim.truth, consensus, figsize=(8, 3))
    _check(fig, (8, 3))
    bars = [p for p in fig.axes[0].patches]
    heights = sum(b.get_height() for b in bars)
    # every destroyed building counted once per series
    assert heights == sim.truth.notna().sum() + consensus.buildings["destroyed_by"].notna().sum()


def test_calibration(campaign):
    sim, consensus = campaign
    fig = plot.calibration(consensus, sim.truth, figsize=(8, 4))
    _check(fig, (8, 4))
    coverage = fig.axes[1].lines[1].get_ydata()
    assert np.all(np.diff(coverage) >= 0)  # a larger interval covers at least as much


def test_calibration_is_a_reliability_diagram_of_confidence(campaign):
    sim, consensus = campaign
    fig = plot.calibration(consensus, sim.truth, n_bins=5)
    left = fig.axes[0]
    x, y = left.lines[1].get_xdata(), left.lines[1].get_ydata()
    # known answer, recomputed apart: bins of confidence, share whose most probable state is the true one
    confidence = consensus.buildings["confidence"].to_numpy()
    exact = (
        consensus.posterior.argmax(axis=1)
        == sim.true_states()[sim.buildings.set_index("building_id").index.get_indexer(consensus.buildings.index)]
    )
    bins = np.minimum((confidence * 5).astype(int), 4)
    used = np.unique(bins)
    assert np.allclose(x, [confidence[bins == b].mean() for b in used])
    assert np.allclose(y, [exact[bins == b].mean() for b in used])
    counts = [int(t.get_text().replace(",", "")) for t in left.texts]
    assert counts == [int((bins == b).sum()) for b in used] and sum(counts) == len(consensus.buildings)


def test_truth_and_consensus_maps_share_one_scale(campaign):
    sim, consensus = campaign
    layer = consensus.to_geodataframe(sim.buildings)
    scale = plot.week_scale(sim.buildings["destroyed_on"], layer["destroyed_by"])
    truth = plot.destruction_map(sim.buildings, scale=scale)
    mine = plot.destruction_map(layer, "destroyed_by", scale=scale)
    labels = [[t.get_text() for t in fig.axes[1].get_yticklabels()] for fig in (truth, mine)]
    assert labels[0] == labels[1] == [label for _, label in scale.ticks()]
    # on their own scales the two maps would disagree: the consensus starts at an image date, not the truth's first
    alone = plot.destruction_map(layer, "destroyed_by")
    assert [t.get_text() for t in alone.axes[1].get_yticklabels()] != labels[0]
    # one colour per week, the colour bar's own
    assert scale.colours() == [mpl.colors.to_hex(c) for c in scale.cmap()(np.linspace(0, 1, scale.n_weeks))]
    with pytest.raises(ValueError, match="outside the colour scale"):
        plot.destruction_map(sim.buildings, scale=plot.WeekScale(scale.first, 1))


def test_volunteers(campaign):
    _, consensus = campaign
    fig = plot.volunteer_reliability(consensus, figsize=(6, 4))
    _check(fig, (6, 4))
    assert len(fig.axes[0].collections[0].get_offsets()) == len(consensus.volunteers)


def test_frame_strip(campaign):
    sim, consensus = campaign
    building = int(sim.buildings.loc[sim.buildings["destroyed_on"].notna(), "building_id"].iloc[0])
    fig = plot.frame_strip(sim, building, max_frames=5, consensus=consensus, panel_inches=1.5)
    assert len(fig.axes) == 5
    pixels = _pixels(fig)
    assert pixels.shape[1] == round(5 * 1.5 * 50)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # real imagery, not a blank strip
    titles = [ax.get_title() for ax in fig.axes]
    assert any("destroyed" in t for t in titles) and any("intact" in t for t in titles)
