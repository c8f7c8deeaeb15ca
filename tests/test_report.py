"""The campaign report: figures and a self-contained HTML page referencing only files that exist."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

import stracker
from stracker.report import REPORT_FIGURES, REVIEW_PAGE, write_report


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    sim = stracker.simulate("small", seed=5)
    consensus = stracker.aggregate(sim.labels, sim.image_dates)
    page = write_report(tmp_path_factory.mktemp("report"), sim, consensus, review_frame_buildings=2)
    return page, sim


def test_page_references_only_files_that_exist(report):
    page, _ = report
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    assert sorted(parser.refs) == sorted([*REPORT_FIGURES, REVIEW_PAGE])
    for ref in parser.refs:
        assert (page.parent / ref).is_file(), ref
        if ref == REVIEW_PAGE:
            continue
        assert (page.parent / ref).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_is_self_contained(report):
    page, _ = report
    text = page.read_text(encoding="utf-8")
    assert "script" not in parser_tags(text)
    assert "link" not in parser_tags(text)
    assert not re.search(r"https?://|@import|url\(", text)


def parser_tags(text: str) -> list[str]:
    parser = _References()
    parser.feed(text)
    return parser.tags


def test_page_has_scale_and_evaluation(report):
    page, sim = report
    text = page.read_text(encoding="utf-8")
    assert f"{sim.summary()['frames_viewed']:,}" in text
    for metric in ("f1", "mae_days", "ci_coverage"):
        assert metric in text


def test_report_rewrites_in_place(report):
    page, sim = report
    before = sorted(p.name for p in page.parent.iterdir())
    write_report(page.parent, sim, stracker.aggregate(sim.labels, sim.image_dates), review_frame_buildings=2)
    assert sorted(p.name for p in page.parent.iterdir()) == before  # no temp files left


def test_review_page_beside_the_report(report):
    page, _ = report
    review = (page.parent / REVIEW_PAGE).read_text(encoding="utf-8")
    assert review.startswith("<!DOCTYPE html>")
    assert "small preset, seed 5" in review
    assert review.count("data:image/png;base64,") == 2 * 5  # two buildings' frames, five dates each


def test_maps_share_one_colour_scale(report, tmp_path):
    """The two maps' colour bars are labelled alike: the consensus's scale starts where the truth's does."""
    from PIL import Image

    page, _ = report
    bars = []
    for name in ("map_truth.png", "map_consensus.png"):
        pixels = np.asarray(Image.open(page.parent / name).convert("RGB")).astype(int)
        # the colour bar: the rightmost columns of strongly coloured (viridis) pixels
        colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
        column = np.flatnonzero(colourful.sum(axis=0) > pixels.shape[0] // 3)[-1]
        rows = np.flatnonzero(colourful[:, column])
        bars.append(pixels[rows[0] : rows[-1] + 1, column])
    assert len(bars[0]) == len(bars[1])
    assert np.abs(bars[0] - bars[1]).max() <= 2
