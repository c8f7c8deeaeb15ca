"""The review page: one offline HTML file for the people who check the crowd's work, building by building.

The page holds everything it shows: the footprints (simplified, quantized to 0.1 m and delta-encoded), the
consensus and its posterior, every answer with its volunteer's reliability, the truth where known, and the
frames of a bounded number of buildings as PNG data URIs. It needs no server and no network: its script and
styles are inline, its map is SVG drawn by that script. An expert can set buildings' dates there and download
them as a gold table (``building_id,destroyed_on``; an empty date: not destroyed), which
:func:`stracker.io.read_truth` reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from stracker.consensus.result import Consensus, credible_bounds
from stracker.errors import FileFormatError, FootprintsError, LabelsError, OutputExistsError
from stracker.io.files import atomic_path
from stracker.io.footprints import check_footprint_ids
from stracker.labels import destruction_state, encode_labels
from stracker.plot import INTACT_COLOUR, week_scale

if TYPE_CHECKING:
    import geopandas as gpd

    from stracker.simulation import Simulation

__all__ = [
    "CHIP_NAME",
    "QUANTUM_M",
    "ReviewPage",
    "chip_files",
    "review_data",
    "write_review",
]

QUANTUM_M = 0.1
"""Footprint coordinates are rounded to this many metres on the page."""
CHIP_NAME = re.compile(r"^(?P<building_id>.+)_(?P<date>\d{4}-\d{2}-\d{2})\.png$")
"""How a chip in a chips directory is named: ``<building_id>_<YYYY-MM-DD>.png``."""
_NO_ANSWERS_COLOUR = "#f7f7f7"
_UNKNOWN = -2  # colour code: no answers (consensus) or not known (truth)
_INTACT = -1  # colour code: not destroyed


class ReviewPage(NamedTuple):
    """What :func:`write_review` wrote."""

    path: Path
    """The HTML file."""
    n_buildings: int
    """Footprints drawn."""
    n_answered: int
    """Buildings with answers (in the queue)."""
    n_answers: int
    """Answers embedded (0 without labels)."""
    frame_buildings: int
    """Buildings whose frames are embedded."""
    n_frames: int
    """Frames embedded."""
    size_bytes: int
    """Size of the file."""


def chip_files(directory: str | Path) -> pd.DataFrame:
    """The chips of a directory, named ``<building_id>_<YYYY-MM-DD>.png``: one row per file.

    Returns
    -------
    pandas.DataFrame
        ``building_id`` (the name's text), ``image_date`` and ``path``, sorted by building and date.

    Raises
    ------
    FileFormatError
        If the directory does not exist, or a PNG there does not follow the naming (they are named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("12_2017-06-04.png", "b_7_2017-06-16.png", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> chip_files(folder)[["building_id", "image_date"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'building_id': '12', 'image_date': Timestamp('2017-06-04 00:00:00')},
     {'building_id': 'b_7', 'image_date': Timestamp('2017-06-16 00:00:00')}]
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileFormatError(f"{folder}: the chips directory does not exist (or is not a directory).")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".png")
    parts = pd.Series(names, dtype=object).str.extract(CHIP_NAME)
    dates = pd.to_datetime(parts["date"], format="%Y-%m-%d", errors="coerce")
    bad = parts["building_id"].isna().to_numpy() | dates.isna().to_numpy()
    if bad.any():
        shown = [names[i] for i in np.flatnonzero(bad)[:5]]
        raise FileFormatError(
            f"{folder}: {int(bad.sum())} PNG file(s) do not follow the chip naming <building_id>_<YYYY-MM-DD>.png, "
            f"e.g. {shown}; rename or move them."
        )
    table = pd.DataFrame(
        {"building_id": parts["building_id"].astype(object), "image_date": dates, "path": [folder / n for n in names]}
    )
    return table.sort_values(["building_id", "image_date"], kind="stable").reset_index(drop=True)


def _encode_rings(geometry: gpd.GeoSeries, tolerance: float) -> tuple[dict[str, Any], tuple[float, float]]:
    """Footprints as integer rings: per building its rings, per ring its vertices, first absolute, then deltas.

    Units are :data:`QUANTUM_M` metres from the top-left corner, y growing downwards (SVG's axes), so that
    a ring is an SVG path ``M x y l dx dy ... z``. Interior rings (courtyards) are left out: the page shows
    where a building is, not its holes.
    """
    import shapely

    geoms = shapely.simplify(geometry.to_numpy(), tolerance, preserve_topology=True)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kinds = shapely.get_type_id(parts)
    if (kinds != 3).any():  # 3: Polygon
        bad = np.unique(owner[kinds != 3])
        raise FootprintsError(
            f"{len(bad)} footprint(s) are not polygons, e.g. at rows {bad[:5].tolist()} "
            f"({sorted(set(shapely.get_type_id(parts[kinds != 3]).tolist()))} in shapely's type ids; 0 point, "
            "1 line); the review page draws polygon footprints: buffer points and lines first."
        )
    rings = shapely.get_exterior_ring(parts)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    # drop each ring's closing vertex (the path's z closes it)
    last = np.r_[ring[1:] != ring[:-1], True]
    coords, ring = coords[~last], ring[~last]
    q = np.empty(coords.shape, dtype=np.int64)
    q[:, 0] = np.rint((coords[:, 0] - minx) / QUANTUM_M)
    q[:, 1] = np.rint((maxy - coords[:, 1]) / QUANTUM_M)
    delta = q.copy()
    delta[1:] -= q[:-1]
    first = np.r_[True, ring[1:] != ring[:-1]]
    delta[first] = q[first]
    n_rings = len(rings)
    return {
        "ring_building": owner.tolist(),
        "ring_vertices": np.bincount(ring, minlength=n_rings).tolist(),
        "coords": delta.ravel().tolist(),
        "width": int(np.ceil((maxx - minx) / QUANTUM_M)),
        "height": int(np.ceil((maxy - miny) / QUANTUM_M)),
        "quantum_m": QUANTUM_M,
    }, (float(minx), float(maxy))


def _per_mille(x: np.ndarray) -> list[int]:
    return np.rint(np.asarray(x, dtype=float) * 1000).astype(np.int64).tolist()


def review_data(
    consensus: Consensus,
    footprints: gpd.GeoDataFrame,
    labels: pd.DataFrame | None = None,
    truth: pd.Series | pd.DataFrame | None = None,
    *,
    on: str = "building_id",
    tolerance_m: float = 0.2,
    title: str = "stracker review",
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready arrays in the footprints' order (see :func:`write_review`).

    Examples
    --------
    >>> import stracker
    >>> sim = stracker.simulate("small")
    >>> data = review_data(stracker.aggregate(sim.labels, sim.image_dates), sim.buildings, sim.labels, sim.truth)
    >>> len(data["building_id"]), len(data["answer_building"]) == len(sim.labels), data["queue_default"]
    (400, True, 'confidence')
    """
    if footprints.crs is None:
        raise FootprintsError("the footprints have no CRS; the review page needs one to draw them in metres.")
    if footprints.crs.is_geographic:
        footprints = footprints.to_crs(footprints.estimate_utm_crs())
    keys = check_footprint_ids(footprints, on)
    unknown = consensus.buildings.index.difference(keys)
    if len(unknown):
        raise FootprintsError(
            f"{len(unknown)} building(s) of the consensus have no footprint, e.g. {unknown[:5].tolist()}; "
            "give the footprints the consensus was aggregated with."
        )
    n = len(keys)
    D = len(consensus.image_dates)
    dates = consensus.image_dates
    geometry, origin = _encode_rings(footprints.geometry, tolerance_m)
    row = consensus.buildings.index.get_indexer(keys)  # consensus row of each footprint, -1: no answers
    answered = row >= 0
    posterior = consensus.posterior[row[answered]]
    state = np.full(n, -1, dtype=np.int64)
    state[answered] = np.argmax(posterior, axis=1)
    start, end = credible_bounds(posterior)
    ci_start = np.full(n, -1, dtype=np.int64)
    ci_end = np.full(n, -1, dtype=np.int64)
    ci_start[answered], ci_end[answered] = start, end
    confidence = np.zeros(n)
    confidence[answered] = posterior[np.arange(len(posterior)), state[answered]]
    p_destroyed = np.zeros(n)
    p_destroyed[answered] = 1.0 - posterior[:, D]
    # the consensus's destroyed_by (its most probable state's image) and the truth on one week scale
    by = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    on_image = answered & (state < D)
    by[on_image] = dates.to_numpy()[state[on_image]]
    truth_on = None
    truth_known = np.zeros(n, dtype=bool)
    if truth is not None:
        series = truth["destroyed_on"] if isinstance(truth, pd.DataFrame) else truth
        truth_known = keys.isin(series.index)
        truth_on = pd.to_datetime(series).reindex(keys).to_numpy(dtype="datetime64[ns]")
    scale = week_scale(by, truth_on)
    consensus_week = np.full(n, _UNKNOWN, dtype=np.int64)
    consensus_week[answered] = scale.index(by[answered]) if scale is not None else _INTACT
    truth_week = np.full(n, _UNKNOWN, dtype=np.int64)
    truth_state = np.full(n, -1, dtype=np.int64)
    truth_day: list[int] = []  # days since 1970 where destroyed (truth_week >= 0), 0 elsewhere: for the page to show
    if truth_on is not None:
        truth_week[truth_known] = scale.index(truth_on[truth_known]) if scale is not None else _INTACT
        truth_state[truth_known] = destruction_state(pd.Series(truth_on[truth_known]), dates)
        days = truth_on.astype("datetime64[D]").astype(np.int64)
        destroyed = truth_known & ~np.isnat(truth_on)
        truth_day = np.where(destroyed, days, 0).tolist()
    data: dict[str, Any] = {
        "title": title,
        "method": consensus.method,
        "image_dates": [str(d.date()) for d in dates],
        "building_id": [v.item() if hasattr(v, "item") else v for v in keys],
        "origin": origin,
        "crs": footprints.crs.to_string(),
        **geometry,
        "state": state.tolist(),
        "ci_start": ci_start.tolist(),
        "ci_end": ci_end.tolist(),
        "confidence": _per_mille(confidence),
        "p_destroyed": _per_mille(p_destroyed),
        "posterior_row": np.where(answered, np.cumsum(answered) - 1, -1).tolist(),
        # per-mille, rows in footprint order of the answered buildings: most cells are 0, two characters each
        "posterior": _per_mille(posterior.ravel()),
        "n_labels": np.where(answered, consensus.buildings["n_labels"].to_numpy()[np.maximum(row, 0)], 0).tolist(),
        "consensus_week": consensus_week.tolist(),
        "truth_week": truth_week.tolist() if truth_on is not None else None,
        "truth_state": truth_state.tolist() if truth_on is not None else None,
        "truth_day": truth_day if truth_on is not None else None,
        "colours": scale.colours() if scale is not None else [],
        "scale_first": str(scale.first.date()) if scale is not None else None,
        "ticks": scale.ticks() if scale is not None else [],
        "intact_colour": INTACT_COLOUR,
        "no_answers_colour": _NO_ANSWERS_COLOUR,
        "queue_default": "confidence",
    }
    if "district" in footprints.columns:
        codes, names = pd.factorize(footprints["district"].astype("string"), use_na_sentinel=True)
        data["district"] = codes.tolist()
        data["districts"] = [str(x) for x in names]
    data.update(
        _answers(consensus, labels, keys, state)
        if labels is not None
        else {"answer_building": None, "disagreement": None}
    )
    return data


def _answers(consensus: Consensus, labels: pd.DataFrame, keys: pd.Index, state: np.ndarray) -> dict[str, Any]:
    """Every answer, sorted by building, and each building's share of answers contradicting its consensus state."""
    enc = encode_labels(labels, consensus.image_dates, on_duplicate="ignore")
    building = keys.get_indexer(enc.building_ids)[enc.building]
    if (building < 0).any():
        missing = enc.building_ids[np.unique(enc.building[building < 0])]
        raise LabelsError(
            f"{len(missing)} building(s) in the labels are not in the footprints, e.g. {missing[:5].tolist()}; "
            "give the labels the consensus was aggregated from."
        )
    not_aggregated = np.flatnonzero(state[np.unique(building)] < 0)
    if len(not_aggregated):
        ids = keys[np.unique(building)[not_aggregated]]
        raise LabelsError(
            f"{len(ids)} building(s) have answers but no consensus, e.g. {ids[:5].tolist()}; the labels are not "
            "those the consensus was aggregated from."
        )
    vol_row = consensus.volunteers.index.get_indexer(enc.volunteer_ids)
    if (vol_row < 0).any():
        missing = enc.volunteer_ids[vol_row < 0]
        raise LabelsError(
            f"{len(missing)} volunteer(s) in the labels are not in the consensus, e.g. {missing[:5].tolist()}; give "
            "the labels the consensus was aggregated from."
        )
    order = np.argsort(building, kind="stable")
    s = state[building]
    # an answer claims T in (before, after] (yes) or not (no); it contradicts the consensus when the most probable
    # state disagrees with the claim
    inside = (enc.lo + 1 <= s) & (s <= enc.hi)
    decided = enc.answer >= 0
    contradicts = decided & (inside != (enc.answer == 1))
    n = len(keys)
    n_decided = np.bincount(building, weights=decided, minlength=n)
    n_contra = np.bincount(building, weights=contradicts, minlength=n)
    disagreement = np.where(n_decided > 0, n_contra / np.maximum(n_decided, 1), -0.001)
    reliability = consensus.volunteers["reliability"].to_numpy(dtype=float)
    volunteer_ids = consensus.volunteers.index
    return {
        "answer_building": building[order].tolist(),
        "answer_volunteer": vol_row[enc.volunteer][order].tolist(),
        "answer_before": enc.lo[order].astype(np.int64).tolist(),
        "answer_after": enc.hi[order].astype(np.int64).tolist(),
        "answer": enc.answer[order].astype(np.int64).tolist(),
        "volunteer_id": [v.item() if hasattr(v, "item") else v for v in volunteer_ids],
        "reliability": _per_mille(np.nan_to_num(reliability, nan=-0.001)),
        "disagreement": _per_mille(disagreement),
    }


def _queue_order(data: dict[str, Any]) -> np.ndarray:
    """Answered buildings, lowest confidence first (the page's default queue): whose frames to embed."""
    confidence = np.asarray(data["confidence"])
    width = np.asarray(data["ci_end"]) - np.asarray(data["ci_start"]) + 1
    answered = np.flatnonzero(np.asarray(data["state"]) >= 0)
    # as the page sorts it: confidence, then the wider interval, then the footprint order
    return answered[np.lexsort((answered, -width[answered], confidence[answered]))]


def _frame_dates(state: int, start: int, end: int, available: list[int], per_building: int) -> list[int]:
    """Which of the available image indices to show: those around the consensus state and the interval's ends
    first, then others spread over the catalogue; all of them if they are few.

    Examples
    --------
    >>> _frame_dates(5, 4, 6, list(range(20)), 6)
    [0, 3, 4, 5, 6, 7]
    >>> _frame_dates(5, 4, 6, [0, 19], 6)
    [0, 19]
    """
    if len(available) <= per_building:
        return sorted(available)
    chosen: list[int] = []
    for i in (state - 1, state, start - 1, end, start, end + 1):
        if i in available and i not in chosen and len(chosen) < per_building:
            chosen.append(i)
    spread = np.asarray(available)[np.linspace(0, len(available) - 1, per_building).round().astype(int)]
    for i in [*spread.tolist(), *available]:
        if len(chosen) >= per_building:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def _png_uri(content: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(content).decode("ascii")


def _frames(
    data: dict[str, Any], chips: str | Path | Simulation, max_buildings: int, per_building: int, max_bytes: int
) -> dict[str, list[list[Any]]]:
    """Frames of the first buildings of the queue, as {footprint index: [[image index, data URI], ...]}."""
    from stracker.simulation import Simulation

    order = _queue_order(data)
    ids = data["building_id"]
    n_images = len(data["image_dates"])
    frames: dict[str, list[list[Any]]] = {}
    spent = 0
    if isinstance(chips, Simulation):
        from matplotlib.image import imsave

        from stracker.render import frame

        dates = pd.DatetimeIndex(data["image_dates"])
        for i in order[:max_buildings].tolist():  # a bounded number of renders: no array form of a frame
            picks = _frame_dates(
                data["state"][i], data["ci_start"][i], data["ci_end"][i], list(range(n_images)), per_building
            )
            strip: list[list[Any]] = []
            for k in picks:
                buffer = io.BytesIO()
                imsave(buffer, frame(chips, ids[i], dates[k]).rgb, format="png", pil_kwargs={"optimize": True})
                strip.append([k, _png_uri(buffer.getvalue())])
                spent += len(str(strip[-1][1]))
            frames[str(i)] = strip
            if spent > max_bytes:
                break
        return frames
    table = chip_files(chips)
    text_ids = pd.Index([str(v) for v in ids])
    where = text_ids.get_indexer(table["building_id"])
    image = pd.DatetimeIndex(data["image_dates"]).get_indexer(table["image_date"])
    ok = (where >= 0) & (image >= 0)
    keep = np.lexsort((image[ok], where[ok]))
    building, image = where[ok][keep], image[ok][keep]
    paths = table["path"].to_numpy()[ok][keep]
    with_chips = np.unique(building)
    candidates = order[np.isin(order, with_chips)][:max_buildings]
    # one file read per embedded chip: a bounded loop over the first buildings of the queue
    for i in candidates.tolist():
        if spent > max_bytes:
            break
        lo, hi = np.searchsorted(building, [i, i + 1])
        files = dict(zip(image[lo:hi].tolist(), paths[lo:hi], strict=True))
        picks = _frame_dates(data["state"][i], data["ci_start"][i], data["ci_end"][i], sorted(files), per_building)
        strip = [[k, _png_uri(Path(files[k]).read_bytes())] for k in picks]
        spent += sum(len(str(uri)) for _, uri in strip)
        frames[str(i)] = strip
    frames_meta = {"unmatched_chips": int((~ok).sum()), "buildings_with_chips": len(with_chips)}
    frames["_meta"] = [[k, v] for k, v in frames_meta.items()]
    return frames


def write_review(
    path: str | Path,
    consensus: Consensus,
    footprints: gpd.GeoDataFrame,
    labels: pd.DataFrame | None = None,
    chips: str | Path | Simulation | None = None,
    truth: pd.Series | pd.DataFrame | None = None,
    *,
    on: str = "building_id",
    title: str | None = None,
    max_frame_buildings: int = 40,
    frames_per_building: int = 8,
    max_frame_mb: float = 8.0,
    overwrite: bool = False,
) -> ReviewPage:
    """Write the review page: one self-contained, offline HTML file.

    The page shows a map of the footprints coloured by the week of the consensus's most probable destruction
    date (on the report's colour scale; grey: not destroyed; pale: no answers), the truth as a toggle where it
    is known, a queue of the buildings most worth a look (lowest confidence, widest credible interval, most
    answers contradicting the consensus) filtered by district and date, and for a clicked building its
    posterior over states, its 90 % credible interval, every answer about it with the volunteer's reliability,
    and its frames across dates. An expert sets a building's date (or "not destroyed") and downloads the
    decisions as ``gold.csv`` (``building_id,destroyed_on``; empty: not destroyed).

    Parameters
    ----------
    path : str or Path
        The HTML file to write (atomically).
    consensus : Consensus
    footprints : geopandas.GeoDataFrame
        The footprints, with ``on`` and optionally ``district``; every consensus building must have one.
    labels : pandas.DataFrame, optional
        The label table the consensus was aggregated from; its answers are listed per building.
    chips : path or Simulation, optional
        A directory of PNG chips named ``<building_id>_<YYYY-MM-DD>.png`` (see :func:`chip_files`), or a
        simulation whose frames are rendered (:func:`stracker.frame`). Frames are embedded for the first
        ``max_frame_buildings`` buildings of the queue (lowest confidence first) that have them, up to
        ``frames_per_building`` dates each and about ``max_frame_mb`` in all; the page says for how many.
    truth : pandas.Series or DataFrame, optional
        ``destroyed_on`` indexed by building_id (as :func:`stracker.io.read_truth` returns it); buildings
        absent from it are shown as unknown.
    on : str
        The footprints' building id column.
    title : str, optional
    max_frame_buildings, frames_per_building : int
    max_frame_mb : float
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    ReviewPage

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    FootprintsError
        If a consensus building has no footprint, the footprints lack a CRS, or are not polygons.
    LabelsError
        If the labels are not those of the consensus (other buildings, volunteers or image dates).
    FileFormatError
        If a chip in the directory is misnamed.

    Examples
    --------
    >>> import tempfile, pathlib, stracker
    >>> from stracker.review import write_review
    >>> sim = stracker.simulate("small")
    >>> consensus = stracker.aggregate(sim.labels, sim.image_dates)
    >>> page = write_review(pathlib.Path(tempfile.mkdtemp()) / "review.html", consensus, sim.buildings,
    ...                     labels=sim.labels, truth=sim.truth)
    >>> page.n_buildings, page.n_answers == len(sim.labels), page.size_bytes < 2_000_000
    (400, True, True)
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another path.")
    data = review_data(
        consensus, footprints, labels, truth, on=on, title=title or f"stracker review: {len(footprints):,} buildings"
    )
    frames: dict[str, list[list[Any]]] = {}
    if chips is not None and max_frame_buildings > 0:
        frames = _frames(data, chips, max_frame_buildings, frames_per_building, int(max_frame_mb * 1e6))
    meta = dict(frames.pop("_meta", []))
    data["frames_note"] = _frames_note(chips, frames, meta)
    page = _page(data, frames)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    answers = data["answer_building"]
    return ReviewPage(
        path,
        len(data["building_id"]),
        int(np.sum(np.asarray(data["state"]) >= 0)),
        0 if answers is None else len(answers),
        len(frames),
        sum(len(v) for v in frames.values()),
        path.stat().st_size,
    )


def _frames_note(chips: object, frames: dict[str, Any], meta: dict[str, int]) -> str:
    if chips is None:
        return "No frames on this page: write it with chips (stracker review --chips DIR) to see them."
    text = f"Frames are embedded for {len(frames):,} building(s), the first of the queue by lowest confidence"
    if "buildings_with_chips" in meta:
        text += f", of {meta['buildings_with_chips']:,} with chips"
        if meta["unmatched_chips"]:
            text += (
                f"; {meta['unmatched_chips']:,} chip(s) name a building or date not in the consensus and are not shown"
            )
    return text + "."


def _json(value: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _page(data: dict[str, Any], frames: dict[str, Any]) -> str:
    title = html.escape(data["title"])
    return (
        _TEMPLATE.replace("__TITLE__", title)
        .replace("__STYLE__", _STYLE)
        .replace("__DATA__", _json(data))
        .replace("__FRAMES__", _json(frames))
        .replace("__SCRIPT__", _SCRIPT)
    )


_STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.35 sans-serif; color: #222; height: 100vh; display: flex; flex-direction: column; }
header { padding: 6px 10px; border-bottom: 1px solid #ddd; display: flex; gap: 16px; align-items: center;
  flex-wrap: wrap; }
header h1 { font-size: 15px; margin: 0; }
main { flex: 1; display: flex; min-height: 0; }
#mapbox { flex: 1.4; position: relative; min-width: 0; background: #fff; }
#map { width: 100%; height: 100%; display: block; cursor: grab; user-select: none; }
#map.dragging { cursor: grabbing; }
#zoom { position: absolute; top: 8px; left: 8px; display: flex; flex-direction: column; gap: 2px; }
#zoom button { width: 28px; height: 28px; font-size: 16px; }
#legend { position: absolute; bottom: 8px; left: 8px; background: rgba(255,255,255,.9); padding: 4px 6px;
  border: 1px solid #ddd; font-size: 11px; }
#legend .bar { display: flex; height: 10px; width: 340px; margin: 2px 18px 0; }
#legend .bar span { flex: 1; }
#legend .ticks { position: relative; height: 14px; width: 340px; margin: 0 18px; }
#legend .ticks span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.sw { display: inline-block; width: 10px; height: 10px; border: 1px solid #bbb; vertical-align: middle; }
aside { flex: 1; overflow-y: auto; border-left: 1px solid #ddd; padding: 8px 10px; min-width: 360px; }
h2 { font-size: 13px; margin: 10px 0 4px; text-transform: uppercase; letter-spacing: .04em; color: #555; }
table { border-collapse: collapse; width: 100%; }
td, th { padding: 2px 4px; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
#queuebox { max-height: 26vh; overflow-y: auto; border: 1px solid #eee; }
#queue thead th { position: sticky; top: 0; background: #fafafa; }
#queue tbody tr { cursor: pointer; } #queue tbody tr:hover { background: #f3f3f3; }
#queue tbody tr.sel { background: #fde6d6; }
.filters { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.muted { color: #777; }
#frames { display: flex; flex-wrap: wrap; gap: 4px; }
#frames figure { margin: 0; text-align: center; font-size: 10px; }
#frames img { width: 96px; height: 96px; image-rendering: pixelated; border: 2px solid transparent; display: block; }
#frames img.by { border-color: #d95f02; }
#decide { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 4px 0; }
.yes { color: #b2182b; } .no { color: #2166ac; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>__STYLE__</style></head>
<body>
<header><h1>__TITLE__</h1>
<span id="stats" class="muted"></span>
<label id="truthtoggle" hidden><input type="checkbox" id="showtruth"> show the truth instead of the consensus</label>
<span><span id="ndecisions">0</span> decision(s) <button id="download">Download gold CSV</button></span>
</header>
<main>
<div id="mapbox"><svg id="map" xmlns="http://www.w3.org/2000/svg"><g id="shapes"></g><path id="selected"
 fill="none" stroke="#e7298a" stroke-width="3" vector-effect="non-scaling-stroke"></path></svg>
<div id="zoom"><button id="zin" title="zoom in">+</button><button id="zout" title="zoom out">&minus;</button>
<button id="zfit" title="whole map">&#9633;</button></div>
<div id="legend"></div></div>
<aside>
<section><h2>Queue: buildings most worth a look</h2>
<div class="filters">
<label>sort <select id="sort"><option value="confidence">lowest confidence</option>
<option value="width">widest interval</option><option value="disagreement">most disagreement</option></select></label>
<label id="districtbox" hidden>district <select id="district"><option value="">all</option></select></label>
<label>destroyed by <input type="date" id="from"></label><label>to <input type="date" id="to"></label>
</div>
<p id="queuecount" class="muted"></p>
<div id="queuebox"><table id="queue"><thead><tr><th>building</th><th>district</th><th>destroyed by</th>
<th class="num" title="posterior mass of the most probable state">conf.</th>
<th class="num" title="states in the 90% credible interval">interval</th>
<th class="num" title="share of answers disagreeing with the most probable state">disagr.</th></tr></thead>
<tbody></tbody></table></div>
</section>
<section id="details"><h2>Building</h2><p class="muted">Click a building on the map or in the queue.</p></section>
</aside>
</main>
<script type="application/json" id="data">__DATA__</script>
<script type="application/json" id="frames-data">__FRAMES__</script>
<script>__SCRIPT__</script>
</body></html>
"""

_SCRIPT = r"""
"use strict";
(function () {
const D = JSON.parse(document.getElementById("data").textContent);
let FRAMES = null;  // parsed at the first building shown: the page opens without decoding them
const N = D.building_id.length, NI = D.image_dates.length;
const $ = (id) => document.getElementById(id);
const svgNS = "http://www.w3.org/2000/svg";
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
const hasTruth = D.truth_week !== null, hasAnswers = D.answer_building !== null;
const stateDate = (s) => s < 0 ? "" : s < NI ? D.image_dates[s] : "not destroyed";
const dayIso = (d) => new Date(d * 86400000).toISOString().slice(0, 10);

// footprints: one path per building from its delta-encoded rings
const paths = new Array(N).fill("");
let c = 0;
for (let r = 0; r < D.ring_building.length; r++) {
  const n = D.ring_vertices[r];
  let d = "M" + D.coords[c] + " " + D.coords[c + 1];
  if (n > 1) d += "l";
  for (let v = 1; v < n; v++) d += (v > 1 ? " " : "") + D.coords[c + 2 * v] + " " + D.coords[c + 2 * v + 1];
  c += 2 * n;
  paths[D.ring_building[r]] += d + "z";
}
const shapes = $("shapes");
shapes.innerHTML = paths.map((d, i) => '<path data-i="' + i + '" d="' + d + '"/>').join("");
const elements = shapes.children;

function colour(week) {
  return week >= 0 ? D.colours[week] : week === -1 ? D.intact_colour : D.no_answers_colour;
}
function paint() {
  const weeks = hasTruth && $("showtruth").checked ? D.truth_week : D.consensus_week;
  for (let i = 0; i < N; i++) {
    const w = weeks[i];
    elements[i].setAttribute("fill", colour(w));
    if (w === -2) elements[i].setAttribute("stroke", "#c8c8c8"); else elements[i].removeAttribute("stroke");
  }
  legend();
}
function legend() {
  const truth = hasTruth && $("showtruth").checked;
  let h = "<b>" + (truth ? "Truth: week destroyed" : "Consensus: week destroyed by") + "</b>";
  if (D.colours.length) {
    h += '<div class="bar">' + D.colours.map((c) => '<span style="background:' + c + '"></span>').join("") + "</div>";
    h += '<div class="ticks">' + D.ticks.map(([t, label]) =>
      '<span style="left:' + (100 * t / D.colours.length) + '%">' + esc(label) + "</span>").join("") + "</div>";
  }
  h += '<span class="sw" style="background:' + D.intact_colour + '"></span> not destroyed &nbsp; ';
  h += '<span class="sw" style="background:' + D.no_answers_colour + '"></span> ' +
    (truth ? "truth unknown" : "no answers");
  h += ' &nbsp; <span class="muted">' + esc(D.crs) + "</span>";
  $("legend").innerHTML = h;
}

// pan and zoom: the SVG's viewBox, in 0.1 m units
const svg = $("map");
const full = {x: -20, y: -20, w: D.width + 40, h: D.height + 40};
let view = Object.assign({}, full);
function setView() { svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h); }
function toUser(ev) {
  const p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
  return p.matrixTransform(svg.getScreenCTM().inverse());
}
function zoom(f, cx, cy) {
  const w = Math.min(Math.max(view.w * f, 50), full.w * 4), k = w / view.w;
  view = {x: cx - (cx - view.x) * k, y: cy - (cy - view.y) * k, w: w, h: view.h * k};
  setView();
}
svg.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const p = toUser(ev);
  zoom(ev.deltaY > 0 ? 1.25 : 0.8, p.x, p.y);
}, {passive: false});
let drag = null;
svg.addEventListener("pointerdown", (ev) => {
  drag = {x: ev.clientX, y: ev.clientY, view: Object.assign({}, view), moved: false};
});
svg.addEventListener("pointermove", (ev) => {
  if (!drag) return;
  const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
  if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
  if (!drag.moved) { drag.moved = true; svg.setPointerCapture(ev.pointerId); svg.classList.add("dragging"); }
  // user units per screen pixel: the viewBox is fitted whole ("meet") into the element
  const scale = Math.max(view.w / svg.clientWidth, view.h / svg.clientHeight);
  view.x = drag.view.x - dx * scale;
  view.y = drag.view.y - dy * scale;
  setView();
});
svg.addEventListener("pointerup", (ev) => {
  const wasDrag = drag && drag.moved;
  drag = null; svg.classList.remove("dragging");
  if (wasDrag) return;
  const t = ev.target.closest ? ev.target.closest("path[data-i]") : null;
  if (t) select(+t.dataset.i, false);
});
$("zin").onclick = () => zoom(0.6, view.x + view.w / 2, view.y + view.h / 2);
$("zout").onclick = () => zoom(1 / 0.6, view.x + view.w / 2, view.y + view.h / 2);
$("zfit").onclick = () => { view = Object.assign({}, full); setView(); };

// answers of a building: a slice of the arrays, sorted by building
const answerStart = new Int32Array(N + 1);
if (hasAnswers) {
  for (const b of D.answer_building) answerStart[b + 1]++;
  for (let i = 0; i < N; i++) answerStart[i + 1] += answerStart[i];
}

// decisions of the expert: building index -> "YYYY-MM-DD" or "" (not destroyed); kept in the browser too
const storeKey = "stracker-review:" + D.title + ":" + N + ":" + D.image_dates.join(",");
let decisions = {};
try { decisions = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { decisions = {}; }
function saveDecisions() {
  try { localStorage.setItem(storeKey, JSON.stringify(decisions)); } catch (e) { /* storage off: keep in memory */ }
  $("ndecisions").textContent = Object.keys(decisions).length;
}
function goldCsv() {
  const rows = Object.keys(decisions).map(Number).sort((a, b) => a - b)
    .map((i) => '"' + String(D.building_id[i]).replace(/"/g, '""') + '",' + decisions[i]);
  return "building_id,destroyed_on\n" + rows.join("\n") + (rows.length ? "\n" : "");
}
$("download").onclick = () => {
  const url = URL.createObjectURL(new Blob([goldCsv()], {type: "text/csv"}));
  const a = document.createElement("a"); a.href = url; a.download = "gold.csv";
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};

function interval(i) {
  const s = D.ci_start[i], e = D.ci_end[i];
  const lo = s > 0 ? "after " + D.image_dates[s - 1] : "before " + D.image_dates[0];
  const hi = e < NI ? "by " + D.image_dates[e] : "or not destroyed";
  return lo + ", " + hi;
}
function widthDays(i) {
  const s = D.ci_start[i], e = D.ci_end[i];
  const lo = Date.parse(D.image_dates[Math.max(s - 1, 0)]), hi = Date.parse(D.image_dates[Math.min(e, NI - 1)]);
  return Math.round((hi - lo) / 86400000);
}
function posteriorChart(i) {
  const row = D.posterior_row[i], S = NI + 1, W = 420, H = 90, bw = W / S;
  const p = D.posterior.slice(row * S, row * S + S);
  const ts = hasTruth ? D.truth_state[i] : -1;
  // 20 px either side, so that the first and last date labels are not cut
  let h = '<svg id="posterior" width="' + (W + 40) + '" height="' + (H + 40) + '" viewBox="-20 0 ' + (W + 40) + " " +
    (H + 40) + '">';
  for (let s = 0; s < S; s++) {
    const v = p[s] / 1000, inCi = s >= D.ci_start[i] && s <= D.ci_end[i];
    const fill = s === D.state[i] ? "#d95f02" : inCi ? "#fdb863" : "#bdbdbd";
    h += '<rect class="bar" data-state="' + s + '" x="' + (s * bw + 1) + '" y="' + (H - v * H) +
      '" width="' + (bw - 2) + '" height="' + Math.max(v * H, 0.5) + '" fill="' + fill + '"><title>' +
      esc(stateDate(s)) + ": " + v.toFixed(3) + "</title></rect>";
    if (s === ts) {
      h += '<text x="' + (s * bw + bw / 2) + '" y="' + (H + 12) +
        '" text-anchor="middle" font-size="11">&#9650;</text>';
    }
  }
  for (let s = 0; s < S; s += Math.max(1, Math.ceil(S / 6))) {
    h += '<text x="' + (s * bw + bw / 2) + '" y="' + (H + 26) + '" text-anchor="middle" font-size="10" fill="#555">' +
      esc(s < NI ? D.image_dates[s].slice(5) : "intact") + "</text>";
  }
  h += '<text x="' + (W - 2) + '" y="' + (H + 38) + '" text-anchor="end" font-size="10" fill="#555">' +
    "dark: most probable, light: 90% interval" + (ts >= 0 ? ", &#9650; truth" : "") + "</text></svg>";
  return h;
}
function answersTable(i) {
  if (!hasAnswers) return '<p class="muted">No answers on this page (write it with the labels: --labels).</p>';
  const a0 = answerStart[i], a1 = answerStart[i + 1];
  if (a1 === a0) return '<p class="muted">No answers about this building.</p>';
  let h = '<table id="answers"><thead><tr><th>volunteer</th><th>before (intact)</th><th>after</th><th>answer</th>' +
    '<th class="num">reliability</th></tr></thead><tbody>';
  for (let k = a0; k < a1; k++) {
    const v = D.answer_volunteer[k], ans = D.answer[k], rel = D.reliability[v];
    const text = ans === 1 ? '<span class="yes">destroyed</span>'
      : ans === 0 ? '<span class="no">not destroyed</span>' : "can't tell";
    const before = D.answer_before[k] >= 0 ? D.image_dates[D.answer_before[k]] : "&mdash;";
    h += "<tr><td>" + esc(D.volunteer_id[v]) + "</td><td>" + before +
      "</td><td>" + D.image_dates[D.answer_after[k]] + "</td><td>" + text + '</td><td class="num">' +
      (rel >= 0 ? (rel / 1000).toFixed(2) : "?") + "</td></tr>";
  }
  return h + "</tbody></table>";
}
function framesStrip(i) {
  if (FRAMES === null) FRAMES = JSON.parse(document.getElementById("frames-data").textContent);
  const strip = FRAMES[String(i)];
  if (!strip) return '<p class="muted">No frames embedded for this building. ' + esc(D.frames_note) + "</p>";
  return '<div id="frames">' + strip.map(([k, uri]) => '<figure><img src="' + uri + '" alt="' + D.image_dates[k] + '"' +
    (k === D.state[i] ? ' class="by" title="the consensus: first image destroyed"' : "") + "><figcaption>" +
    D.image_dates[k] + "</figcaption></figure>").join("") + "</div>";
}

let current = -1;
function select(i, centre) {
  current = i;
  $("selected").setAttribute("d", paths[i]);
  if (centre) {
    const b = elements[i].getBBox(), w = Math.min(view.w, 3000), h = view.h * w / view.w;
    view = {x: b.x + b.width / 2 - w / 2, y: b.y + b.height / 2 - h / 2, w: w, h: h}; setView();
  }
  for (const tr of document.querySelectorAll("#queue tbody tr")) tr.classList.toggle("sel", +tr.dataset.i === i);
  const id = D.building_id[i], answered = D.state[i] >= 0;
  const district = D.district ? ' <span class="muted">' + esc(D.districts[D.district[i]] || "") + "</span>" : "";
  let h = "<h2>Building " + esc(id) + district + "</h2>";
  if (answered) {
    const s = D.state[i];
    const when = s < NI ? (s > 0 ? "after " + D.image_dates[s - 1] + ", " : "") + "by " + D.image_dates[s]
      : "not destroyed";
    h += "<p>Consensus: <b>" + when + "</b> (confidence " + (D.confidence[i] / 1000).toFixed(2) +
      ", P(destroyed) " + (D.p_destroyed[i] / 1000).toFixed(2) + ")<br>90% credible interval: <b id='ci'>" +
      interval(i) + "</b> (" + widthDays(i) + " days)<br>" + D.n_labels[i] + " answer(s)" +
      (hasAnswers && D.disagreement[i] >= 0
        ? ", " + Math.round(D.disagreement[i] / 10) + "% disagree with its most probable state" : "") + "</p>";
  } else {
    h += '<p class="muted">No answers: no consensus for this building.</p>';
  }
  if (hasTruth) {
    const t = D.truth_week[i] === -2 ? "unknown"
      : D.truth_week[i] === -1 ? "not destroyed" : "destroyed on " + dayIso(D.truth_day[i]);
    h += "<p>Truth: <b>" + t + "</b></p>";
  }
  if (answered) h += "<h2>Posterior over states</h2>" + posteriorChart(i);
  h += "<h2>Answers</h2>" + answersTable(i);
  h += "<h2>Frames</h2>" + framesStrip(i);
  const set = Object.prototype.hasOwnProperty.call(decisions, i) ? decisions[i] : null;
  const guess = answered && D.state[i] < NI ? D.image_dates[D.state[i]] : "";
  h += '<h2>Expert decision</h2><div id="decide"><input type="date" id="decision-date" value="' +
    (set || guess) + '">' + '<button id="set-date">Set destroyed on</button>' +
    '<button id="set-intact">Not destroyed</button><button id="clear-decision">Clear</button></div>' +
    '<p id="decision" class="muted">' + (set === null ? "No decision yet."
      : set === "" ? "Decided: not destroyed." : "Decided: destroyed on " + set + ".") + "</p>";
  $("details").innerHTML = h;
  $("set-date").onclick = () => {
    const v = $("decision-date").value;
    if (v) { decisions[i] = v; saveDecisions(); select(i, false); }
  };
  $("set-intact").onclick = () => { decisions[i] = ""; saveDecisions(); select(i, false); };
  $("clear-decision").onclick = () => { delete decisions[i]; saveDecisions(); select(i, false); };
}

// the queue
if (!hasAnswers) $("sort").querySelector('option[value="disagreement"]').disabled = true;
if (D.district) {
  $("districtbox").hidden = false;
  const order = D.districts.map((d, k) => [d, k]).sort((a, b) => a[0].localeCompare(b[0]));
  $("district").innerHTML += order.map(([d, k]) => '<option value="' + k + '">' + esc(d) + "</option>").join("");
}
const answered = [];
for (let i = 0; i < N; i++) if (D.state[i] >= 0) answered.push(i);
const width = new Int32Array(N);
for (const i of answered) width[i] = D.ci_end[i] - D.ci_start[i] + 1;
function queue() {
  const by = $("sort").value, dist = $("district").value, from = $("from").value, to = $("to").value;
  let rows = answered;
  if (dist !== "") rows = rows.filter((i) => D.district[i] === +dist);
  if (from || to) rows = rows.filter((i) => {
    const s = D.state[i]; if (s >= NI) return false;
    const d = D.image_dates[s]; return (!from || d >= from) && (!to || d <= to);
  });
  const key = by === "width" ? (i) => -width[i] * 1000 + D.confidence[i]
    : by === "disagreement" ? (i) => -D.disagreement[i] * 1000 + D.confidence[i]
    : (i) => D.confidence[i] * 1000 - width[i];
  rows = rows.slice().sort((a, b) => key(a) - key(b) || a - b);
  $("queuecount").textContent = rows.length.toLocaleString() + " answered building(s) match; the first " +
    Math.min(rows.length, 100) + " are listed. " + D.frames_note;
  $("queue").tBodies[0].innerHTML = rows.slice(0, 100).map((i) =>
    '<tr data-i="' + i + '"' + (i === current ? ' class="sel"' : "") + "><td>" + esc(D.building_id[i]) +
    "</td><td>" + (D.district ? esc(D.districts[D.district[i]] || "") : "") + "</td><td>" + stateDate(D.state[i]) +
    '</td><td class="num">' + (D.confidence[i] / 1000).toFixed(2) + '</td><td class="num">' + width[i] +
    '</td><td class="num">' + (hasAnswers && D.disagreement[i] >= 0 ? (D.disagreement[i] / 1000).toFixed(2) : "") +
    "</td></tr>").join("");
  return rows;
}
$("queue").tBodies[0].addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr");
  if (tr) select(+tr.dataset.i, true);
});
for (const id of ["sort", "district", "from", "to"]) $(id).addEventListener("change", queue);
$("from").min = $("to").min = D.image_dates[0]; $("from").max = $("to").max = D.image_dates[NI - 1];

if (hasTruth) { $("truthtoggle").hidden = false; $("showtruth").addEventListener("change", paint); }
$("stats").textContent = N.toLocaleString() + " buildings, " + answered.length.toLocaleString() + " with answers" +
  (hasAnswers ? ", " + D.answer_building.length.toLocaleString() + " answers" : "") + ", " + NI + " images, " +
  D.method;
setView(); paint(); queue(); saveDecisions();
window.stracker = {
  nBuildings: N, nPaths: () => shapes.querySelectorAll("path").length, select: (i) => select(i, true),
  queue: queue, decisions: () => Object.assign({}, decisions), goldCsv: goldCsv,
  index: (id) => D.building_id.indexOf(id), drawnMs: null,
};
requestAnimationFrame(() => requestAnimationFrame(() => { window.stracker.drawnMs = performance.now(); }));
})();
"""
