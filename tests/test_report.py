"""The campaign report: figures and a self-contained HTML page referencing only files that exist."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import stracker
from stracker.report import REPORT_FIGURES, write_report


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
    page = write_report(tmp_path_factory.mktemp("report"), sim, consensus)
    return page, sim


def test_page_references_only_files_that_exist(report):
    page, _ = report
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    assert sorted(parser.refs) == sorted(REPORT_FIGURES)
    for ref in parser.refs:
        assert (page.parent / ref).is_file(), ref
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
    write_report(page.parent, sim, stracker.aggregate(sim.labels, sim.image_dates))
    assert sorted(p.name for p in page.parent.iterdir()) == before  # no temp files left
