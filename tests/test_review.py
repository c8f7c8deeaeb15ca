"""The review page: its data round-trips, and it works in a real browser (Debian's chromium, headless).

The browser is driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe``: JSON messages
ended by NUL bytes on file descriptors 3 and 4, the transport puppeteer uses. That needs nothing but the
standard library (no selenium, no chromedriver, no websocket client). Without chromium the browser tests skip,
saying so; ``.ci/run`` installs it, so CI runs them.

``.ci/run`` sets ``STRACKER_REQUIRE_CHROMIUM=1``: there a missing browser is a failure, not a skip.

Run as a script to measure a page and take its screenshot (how docs/review.png was made)::

    python tests/test_review.py results/raqqa/report/review.html docs/review.png
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import stracker
from stracker.errors import FileFormatError, FootprintsError, LabelsError, OutputExistsError
from stracker.review import QUANTUM_M, chip_files, review_data, write_review

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-pipe",
]


class DevToolsError(RuntimeError):
    """A DevTools command failed, or the browser did not answer in time."""


class Chromium:
    """Headless chromium driven through the DevTools protocol over a pipe: one page, its console collected."""

    def __init__(self, download_dir: Path | None = None, size: tuple[int, int] = (1400, 900)) -> None:
        if CHROMIUM is None:
            raise DevToolsError("no chromium on PATH")
        self.profile = tempfile.mkdtemp(prefix="stracker-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child: chromium reads commands on fd 3, writes on fd 4
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=on_fds_3_and_4,
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Condition()
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=self.session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
            session=self.session,
        )
        if download_dir is not None:
            self.send(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(download_dir), "eventsEnabled": True},
            )

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                with self._lock:
                    for raw in messages:
                        message = json.loads(raw)
                        if "id" in message:
                            self._replies[message["id"]] = message
                        else:
                            self.events.append(message)
                    self._lock.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        """Send one command; its result, or DevToolsError."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        with self._lock:
            if not self._lock.wait_for(lambda: ident in self._replies, timeout):
                raise DevToolsError(f"{method}: no answer within {timeout} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = 60, **params: Any) -> dict:
        """The first event ``method`` whose params hold ``params``, waiting for it if need be."""

        def found() -> dict | None:
            return next(
                (
                    e
                    for e in self.events
                    if e["method"] == method and all(e["params"].get(k) == v for k, v in params.items())
                ),
                None,
            )

        with self._lock:
            if not self._lock.wait_for(lambda: found() is not None, timeout):
                raise DevToolsError(f"no {method} {params} within {timeout} s")
            return found()  # type: ignore[return-value]

    def open(self, path: Path, timeout: float = 60) -> float:
        """Load a file and wait for its load event; the seconds it took."""
        with self._lock:
            self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        started = time.perf_counter()
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=self.session)
        self.wait_event("Page.loadEventFired", timeout)
        return time.perf_counter() - started

    def js(self, expression: str) -> Any:
        """Evaluate an expression in the page; its value (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A real left click (mouse down and up) at page coordinates."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 0 if kind == "mouseMoved" else 1},
                session=self.session,
            )

    def click_selector(self, selector: str) -> None:
        """Click the centre of the element the CSS selector finds."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        self.click(*box)

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and failed loads, as text."""
        out = []
        with self._lock:
            events = list(self.events)
        for e in events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description', p)}")
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p['args']]}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> None:
        """The viewport as a PNG file."""
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (DevToolsError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


NO_CHROMIUM = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
# CI sets STRACKER_REQUIRE_CHROMIUM=1: there a missing browser fails the tests instead of skipping them
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("STRACKER_REQUIRE_CHROMIUM"), reason=NO_CHROMIUM
)


@pytest.fixture(scope="module")
def campaign(aggregated):
    return aggregated("small", seed=2)


@pytest.fixture(scope="module")
def page(campaign, tmp_path_factory):
    sim, consensus = campaign
    out = tmp_path_factory.mktemp("review") / "review.html"
    written = write_review(
        out,
        consensus,
        sim.buildings,
        labels=sim.labels,
        truth=sim.truth,
        chips=sim,
        max_frame_buildings=2,
        frames_per_building=3,
    )
    return written


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("STRACKER_REQUIRE_CHROMIUM"):
            pytest.fail(NO_CHROMIUM)
        pytest.skip(NO_CHROMIUM)
    downloads = tmp_path_factory.mktemp("downloads")
    chromium = Chromium(download_dir=downloads)
    chromium.downloads = downloads  # type: ignore[attr-defined]
    yield chromium
    chromium.close()


def _decode_rings(data: dict) -> list[np.ndarray]:
    """The page's rings back in metres (as its script decodes them)."""
    coords = np.asarray(data["coords"]).reshape(-1, 2)
    ends = np.cumsum(data["ring_vertices"])
    rings = []
    for start, end in zip(np.r_[0, ends[:-1]], ends, strict=True):
        q = np.cumsum(coords[start:end], axis=0)
        x0, y0 = data["origin"]
        rings.append(np.c_[x0 + q[:, 0] * QUANTUM_M, y0 - q[:, 1] * QUANTUM_M])
    return rings


# ---- the data, without a browser ----


def _tiny():
    """Three square buildings, two answered by three volunteers; majority consensus."""
    import geopandas as gpd
    from shapely.geometry import box

    footprints = gpd.GeoDataFrame(
        {"building_id": [10, 11, 12], "district": ["north", "south", "north"]},
        geometry=[
            box(500000, 3978000, 500010, 3978012.34),
            box(500020, 3978000, 500030.07, 3978010),
            box(500040, 3978000, 500045, 3978005),
        ],
        crs="EPSG:32637",
    )
    d = pd.to_datetime(["2017-06-01", "2017-06-10", "2017-06-20"])
    labels = pd.DataFrame(
        {
            "building_id": [10, 10, 10, 11, 11],
            "volunteer_id": ["a", "b", "c", "a", "b"],
            "before": [d[0], d[0], pd.NaT, d[1], d[1]],
            "after": [d[1], d[1], d[0], d[2], d[2]],
            "destroyed": pd.array([True, True, True, False, pd.NA], dtype="boolean"),
            "task": "timeline",
        }
    )
    consensus = stracker.aggregate(labels, d, method="majority")
    return footprints, labels, consensus, d


def test_footprints_round_trip_to_a_tenth_of_a_metre():
    footprints, labels, consensus, _ = _tiny()
    data = review_data(consensus, footprints, labels, tolerance_m=0.0)
    rings = _decode_rings(data)
    assert data["ring_building"] == [0, 1, 2]
    for ring, geom in zip(rings, footprints.geometry, strict=True):
        original = np.asarray(geom.exterior.coords)[:-1]
        assert ring.shape == original.shape
        assert np.abs(ring - original).max() <= QUANTUM_M / 2 + 1e-9


def test_answers_disagreement_and_unanswered_buildings():
    footprints, labels, consensus, _ = _tiny()
    data = review_data(consensus, footprints, labels)
    assert data["building_id"] == [10, 11, 12]
    assert data["state"][2] == -1 and data["consensus_week"][2] == -2  # no answers: greyed, not intact
    assert data["answer_building"] == [0, 0, 0, 1, 1]
    assert [data["volunteer_id"][v] for v in data["answer_volunteer"]] == ["a", "b", "c", "a", "b"]
    assert data["answer"] == [1, 1, 1, 0, -1]
    # building 10: two marks in (d0, d1], one in (-inf, d0]; the majority state is 1, so one answer contradicts
    assert data["state"][0] == 1
    assert data["disagreement"][0] == round(1000 / 3)
    # building 11: a "no" over (d1, d2] and a can't-tell; the state is not in (d1, d2], so no contradiction
    assert data["disagreement"][1] == 0
    assert data["district"] == [0, 1, 0] and data["districts"] == ["north", "south"]
    row = data["posterior_row"][0]
    assert sum(data["posterior"][row * 4 : (row + 1) * 4]) == pytest.approx(1000, abs=2)


def test_truth_shares_the_consensus_week_scale():
    footprints, labels, consensus, _ = _tiny()
    truth = pd.Series(pd.to_datetime(["2017-06-05", None]), index=pd.Index([10, 11], name="building_id"))
    data = review_data(consensus, footprints, labels, truth)
    first = pd.Timestamp(data["scale_first"])
    assert first == pd.Timestamp("2017-06-05")  # the Monday of the truth's earliest week
    assert data["truth_week"] == [0, -1, -2]  # destroyed the first week, not destroyed, unknown
    assert data["consensus_week"][0] == (pd.Timestamp("2017-06-10") - first).days // 7
    assert data["truth_day"][0] == (pd.Timestamp("2017-06-05") - pd.Timestamp(0)).days


def test_footprints_in_degrees_are_drawn_in_metres():
    footprints, labels, consensus, _ = _tiny()
    metres = review_data(consensus, footprints, labels)
    degrees = review_data(consensus, footprints.to_crs("EPSG:4326"), labels)
    assert degrees["crs"] == "EPSG:32637"  # the UTM zone of the footprints
    assert abs(degrees["width"] - metres["width"]) <= 2 and abs(degrees["height"] - metres["height"]) <= 2


def test_refuses_points_for_footprints():
    footprints, labels, consensus, _ = _tiny()
    points = footprints.assign(geometry=footprints.centroid)
    with pytest.raises(FootprintsError, match=r"3 footprint\(s\) are not polygons, e.g. at rows \[0, 1, 2\]"):
        review_data(consensus, points, labels)


def test_refuses_labels_or_footprints_that_do_not_match():
    footprints, labels, consensus, _ = _tiny()
    with pytest.raises(FootprintsError, match=r"1 building\(s\) of the consensus have no footprint, e.g. \[11\]"):
        review_data(consensus, footprints[footprints["building_id"] != 11], labels)
    other = labels.assign(volunteer_id=labels["volunteer_id"].replace("c", "zed"))
    with pytest.raises(LabelsError, match=r"volunteer\(s\) in the labels are not in the consensus, e.g. \['zed'\]"):
        review_data(consensus, footprints, other)
    more = pd.concat([labels, labels.iloc[:1].assign(building_id=12)], ignore_index=True)
    with pytest.raises(LabelsError, match=r"answers but no consensus, e.g. \[12\]"):
        review_data(consensus, footprints, more)


def test_chip_names_are_checked(tmp_path):
    (tmp_path / "12_2017-06-10.png").write_bytes(b"")
    (tmp_path / "12_June.png").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"<building_id>_<YYYY-MM-DD>.png, e.g. \['12_June.png'\]"):
        chip_files(tmp_path)
    with pytest.raises(FileFormatError, match="does not exist"):
        chip_files(tmp_path / "nope")


def test_page_is_one_offline_file_and_refuses_to_clobber(page, campaign):
    sim, consensus = campaign
    text = page.path.read_text(encoding="utf-8")
    assert page.n_buildings == len(sim.buildings) and page.n_answers == len(sim.labels)
    assert page.frame_buildings == 2 and page.n_frames == 6
    assert text.count("data:image/png;base64,") == 6
    # nothing fetched from anywhere: no external script, style, image or font
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'svgNS = "http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in text and 'src="http' not in text and "@import" not in text
    with pytest.raises(OutputExistsError):
        write_review(page.path, consensus, sim.buildings)


def test_chips_directory(tmp_path, campaign):
    from PIL import Image

    sim, consensus = campaign
    data = review_data(consensus, sim.buildings)
    worst = int(np.argmin(np.where(np.asarray(data["state"]) >= 0, data["confidence"], 10**6)))
    building = sim.buildings["building_id"].iloc[worst]
    dates = sim.image_dates
    for k in (0, 1, 2):
        Image.fromarray(np.full((8, 8, 3), 40 * k, dtype=np.uint8)).save(tmp_path / f"{building}_{dates[k].date()}.png")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "999999_2017-01-01.png")
    written = write_review(tmp_path / "review.html", consensus, sim.buildings, chips=tmp_path, frames_per_building=30)
    assert written.frame_buildings == 1 and written.n_frames == 3
    text = written.path.read_text(encoding="utf-8")
    assert "1 chip(s) name a building or date not in the consensus" in text


def test_chips_cut_by_stracker_imagery_from_real_geotiffs(tmp_path, campaign):
    """The real pipeline: rendered scenes written as GeoTIFFs, chips cut by stracker.imagery, shown on the page."""
    from stracker.imagery import chips

    sim, consensus = campaign
    data = review_data(consensus, sim.buildings)
    worst = int(np.argmin(np.where(np.asarray(data["state"]) >= 0, data["confidence"], 10**6)))
    x, y = sim.buildings.geometry.iloc[worst].centroid.coords[0]
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for date in sim.image_dates[[0, -1]]:
        stracker.render_tile(
            sim, date, (x - 40, y - 40, x + 40, y + 40), resolution=0.5, path=scenes / f"scene_{date:%Y%m%d}.tif"
        )
    cut = chips(str(scenes / "*.tif"), sim.buildings.iloc[[worst]], tmp_path / "chips")
    assert len(cut.chips) == 2, cut.missing
    written = write_review(tmp_path / "review.html", consensus, sim.buildings, chips=tmp_path / "chips")
    assert written.frame_buildings == 1 and written.n_frames == 2
    text = written.path.read_text(encoding="utf-8")
    for name in cut.chips["file"]:
        assert base64.b64encode((tmp_path / "chips" / name).read_bytes()).decode() in text


# ---- the command ----


@pytest.fixture(scope="module")
def campaign_files(campaign, tmp_path_factory):
    """A simulation's files as `stracker simulate` writes them: labels, buildings (truth) and consensus."""
    sim, consensus = campaign
    out = tmp_path_factory.mktemp("files")
    sim.save(out)
    consensus.to_file(out / "consensus.gpkg", sim.buildings, images=sim.images)
    consensus.to_file(out / "bare.gpkg")  # without footprints
    return out


def test_cli_writes_the_page(campaign_files, campaign):
    from click.testing import CliRunner

    from stracker.cli.main import cli

    sim, _ = campaign
    out = campaign_files / "review.html"
    args = [
        "review",
        str(campaign_files / "consensus.gpkg"),
        "--labels",
        str(campaign_files / "labels.parquet"),
        "--truth",
        str(campaign_files / "buildings.gpkg"),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["buildings"] == len(sim.buildings) and summary["answers"] == len(sim.labels)
    assert summary["size_bytes"] == out.stat().st_size and summary["frames"] == 0
    text = out.read_text(encoding="utf-8")
    assert '"truth_week":[' in text and "consensus.gpkg" in text
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "exists; pass --overwrite" in again.output
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_cli_errors_are_one_line(campaign_files, tmp_path):
    from click.testing import CliRunner

    from stracker.cli.main import cli

    bare = CliRunner().invoke(cli, ["review", str(campaign_files / "bare.gpkg"), "--out", str(tmp_path / "r.html")])
    assert bare.exit_code == 1 and "pass --footprints FILE" in bare.output
    assert len(bare.output.strip().splitlines()) == 1 and "Traceback" not in bare.output
    with_footprints = CliRunner().invoke(
        cli,
        [
            "review",
            str(campaign_files / "bare.gpkg"),
            "--footprints",
            str(campaign_files / "buildings.gpkg"),
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert with_footprints.exit_code == 0, with_footprints.output
    chips = tmp_path / "chips"
    chips.mkdir()
    (chips / "photo.png").write_bytes(b"")
    misnamed = CliRunner().invoke(
        cli,
        ["review", str(campaign_files / "consensus.gpkg"), "--chips", str(chips), "--out", str(tmp_path / "c.html")],
    )
    assert misnamed.exit_code == 1 and "photo.png" in misnamed.output
    assert len(misnamed.output.strip().splitlines()) == 1 and not (tmp_path / "c.html").exists()


# ---- in the browser ----


@needs_chromium
def test_opens_without_console_errors_and_draws_every_footprint(browser, page, campaign):
    sim, _ = campaign
    browser.open(page.path)
    assert browser.js("window.stracker.nBuildings") == len(sim.buildings)
    assert browser.js("window.stracker.nPaths()") == len(sim.buildings)
    drawn = browser.js(
        "Array.from(document.querySelectorAll('#shapes path')).filter(p => p.getAttribute('d')"
        " && p.getAttribute('fill')).length"
    )
    assert drawn == len(sim.buildings)
    assert browser.problems() == []


@needs_chromium
def test_click_on_the_map_shows_posterior_and_answers(browser, page, campaign):
    sim, consensus = campaign
    browser.open(page.path)
    # a building whose bounding-box centre is on itself, so that a click there hits it
    i, x, y = browser.js("""(() => {
      const paths = document.querySelectorAll('#shapes path');
      for (let i = 0; i < paths.length; i++) {
        const r = paths[i].getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
        if (r.width > 4 && document.elementFromPoint(x, y) === paths[i]) return [i, x, y];
      }
      return null; })()""")
    browser.click(x, y)
    building = sim.buildings["building_id"].iloc[i]
    assert browser.js("document.querySelector('#details h2').textContent").startswith(f"Building {building}")
    assert browser.js("document.querySelectorAll('#posterior rect.bar').length") == len(sim.images) + 1
    heights = browser.js(
        "Array.from(document.querySelectorAll('#posterior rect.bar')).map(r => +r.getAttribute('height'))"
    )
    assert int(np.argmax(heights)) == int(np.argmax(consensus.posterior[consensus.buildings.index.get_loc(building)]))
    mine = sim.labels[sim.labels["building_id"] == building]
    assert browser.js("document.querySelectorAll('#answers tbody tr').length") == len(mine)
    volunteers = browser.js(
        "Array.from(document.querySelectorAll('#answers tbody tr td:first-child')).map(td => td.textContent)"
    )
    assert sorted(volunteers) == sorted(str(v) for v in mine["volunteer_id"])
    truth = sim.truth[building]
    shown = "not destroyed" if pd.isna(truth) else f"destroyed on {truth.date()}"
    assert f"Truth: {shown}" in browser.js("document.getElementById('details').textContent")
    ci = consensus.buildings.loc[building, "ci90_end"]
    if pd.notna(ci):
        assert f"by {ci.date()}" in browser.js("document.getElementById('ci').textContent")
    assert browser.problems() == []


@needs_chromium
def test_queue_frames_truth_toggle_and_filters(browser, page, campaign):
    sim, consensus = campaign
    browser.open(page.path)
    browser.click_selector("#queue tbody tr")
    # the first of the queue is the least confident building, and its frames are embedded
    least = consensus.buildings["confidence"].idxmin()
    assert browser.js("document.querySelector('#queue tbody tr td').textContent") == str(least)
    assert browser.js("document.querySelector('#details h2').textContent").startswith(f"Building {least}")
    assert browser.js("document.querySelectorAll('#frames img').length") == 3
    assert browser.js("Array.from(document.querySelectorAll('#frames img')).every(i => i.naturalWidth === 120)")
    fills = "Array.from(document.querySelectorAll('#shapes path')).map(p => p.getAttribute('fill')).join()"
    before = browser.js(fills)
    browser.click_selector("#showtruth")
    assert browser.js("document.getElementById('showtruth').checked")
    assert browser.js(fills) != before
    browser.js(
        "(() => { const s = document.getElementById('district'); s.value = s.options[1].value;"
        " s.dispatchEvent(new Event('change')); })()"
    )
    district = browser.js("document.getElementById('district').selectedOptions[0].textContent")
    expected = int((sim.buildings["district"] == district).sum())
    assert f"{expected:,} answered building(s) match" in browser.js("document.getElementById('queuecount').textContent")
    assert browser.problems() == []


@needs_chromium
def test_gold_download_holds_the_decisions(browser, page, campaign):
    sim, _ = campaign
    browser.open(page.path)
    browser.js("localStorage.clear()")
    browser.open(page.path)
    ids = sim.buildings["building_id"].iloc[[5, 17]].tolist()
    browser.js(f"window.stracker.select(window.stracker.index({json.dumps(ids[0])}))")
    browser.js("document.getElementById('decision-date').value = '2017-07-04'")
    browser.click_selector("#set-date")
    browser.js(f"window.stracker.select(window.stracker.index({json.dumps(ids[1])}))")
    browser.click_selector("#set-intact")
    assert browser.js("document.getElementById('ndecisions').textContent") == "2"
    browser.click_selector("#download")
    browser.wait_event("Browser.downloadProgress", state="completed")
    gold = browser.downloads / "gold.csv"  # type: ignore[attr-defined]
    assert gold.read_text().splitlines()[0] == "building_id,destroyed_on"
    table = stracker.io.read_truth(gold)
    assert table.index.tolist() == ids
    assert table["destroyed_on"].iloc[0] == pd.Timestamp("2017-07-04")
    assert pd.isna(table["destroyed_on"].iloc[1])
    # the decisions outlive a reload (kept in the browser's storage for this page)
    browser.open(page.path)
    assert browser.js("window.stracker.goldCsv()") == gold.read_text()
    assert browser.problems() == []


@needs_chromium
def test_pan_and_zoom(browser, page):
    browser.open(page.path)
    view = "document.getElementById('map').getAttribute('viewBox').split(' ').map(Number)"
    x0, y0, w0, h0 = browser.js(view)
    box = browser.js(
        "(() => { const r = document.getElementById('map').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseWheel", "x": box[0], "y": box[1], "deltaX": 0, "deltaY": -100},
        session=browser.session,
    )
    x1, y1, w1, h1 = browser.js(view)
    assert w1 == pytest.approx(w0 * 0.8) and h1 == pytest.approx(h0 * 0.8)
    # a drag pans by the distance dragged (in map units) and selects nothing
    selected = "document.getElementById('selected').getAttribute('d')"
    before = browser.js(selected)
    for kind, dx in (("mousePressed", 0), ("mouseMoved", 50), ("mouseMoved", 100), ("mouseReleased", 100)):
        browser.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": box[0] + dx, "y": box[1], "button": "left", "buttons": 1, "clickCount": 1},
            session=browser.session,
        )
    x2, y2, w2, _ = browser.js(view)
    per_pixel = max(
        w1 / browser.js("document.getElementById('map').clientWidth"),
        h1 / browser.js("document.getElementById('map').clientHeight"),
    )
    assert x2 == pytest.approx(x1 - 100 * per_pixel, rel=1e-6) and y2 == pytest.approx(y1) and w2 == w1
    assert browser.js(selected) == before
    browser.click_selector("#zfit")
    assert browser.js(view) == [x0, y0, w0, h0]
    assert browser.problems() == []


@pytest.mark.slow
@needs_chromium
def test_raqqa_page_is_small_and_opens_fast(tmp_path, raqqa):
    """The raqqa preset at its largest: every answer, the truth, and chips up to the frame budget (noise PNGs,
    which compress worst), under 15 MB and drawn within 3 s."""
    from PIL import Image

    sim = raqqa
    consensus = stracker.aggregate(sim.labels, sim.image_dates)
    chips = tmp_path / "chips"
    chips.mkdir()
    rng = np.random.default_rng(0)
    for building in sim.buildings["building_id"].iloc[:300:5]:  # 60 buildings x 8 dates, ~20 MB of chips
        for date in sim.image_dates[::6][:8]:
            Image.fromarray(rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)).save(
                chips / f"{building}_{date:%Y-%m-%d}.png"
            )
    written = write_review(
        tmp_path / "review.html", consensus, sim.buildings, labels=sim.labels, truth=sim.truth, chips=chips
    )
    assert 0 < written.frame_buildings < 60  # the budget, not the chips, ended the frames
    assert written.size_bytes < 15e6, written.size_bytes
    chromium = Chromium()
    try:
        _, drawn_ms = measure(chromium, written.path)
        assert chromium.js("window.stracker.nPaths()") == len(sim.buildings)
        assert chromium.problems() == []
    finally:
        chromium.close()
    assert drawn_ms < 3000, f"first draw after {drawn_ms:.0f} ms"


def measure(chromium: Chromium, path: Path) -> tuple[float, float]:
    """Open a page: seconds to its load event as the test sees it, and ms to its first draw as the page does."""
    seconds = chromium.open(path)
    for _ in range(200):
        drawn = chromium.js("window.stracker && window.stracker.drawnMs")
        if drawn:
            return seconds, float(drawn)
        time.sleep(0.05)
    raise DevToolsError("the page never drew")


if __name__ == "__main__":  # measure a page and take its screenshot with a building selected
    page_path, shot = Path(sys.argv[1]), Path(sys.argv[2])
    browser_ = Chromium(size=(1500, 1150))
    try:
        load_s, drawn_ms_ = measure(browser_, page_path)
        load_ms = browser_.js("performance.getEntriesByType('navigation')[0].loadEventEnd")
        browser_.click_selector("#queue tbody tr")
        for _ in range(3):  # from the building to its neighbourhood
            browser_.click_selector("#zout")
        time.sleep(0.5)
        browser_.screenshot(shot)
        from PIL import Image

        # 256 colours (each within 12 levels of the original): a quarter of the file size, unseen
        Image.open(shot).convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(
            shot, optimize=True
        )
        print(
            json.dumps(
                {
                    "size_mb": round(page_path.stat().st_size / 1e6, 2),
                    "load_event_ms": round(load_ms),
                    "first_draw_ms": round(drawn_ms_),
                    "open_s_from_driver": round(load_s, 2),
                    "problems": browser_.problems(),
                }
            )
        )
    finally:
        browser_.close()
