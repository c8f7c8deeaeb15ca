"""What a campaign knows besides its answers, made ready for the consensus model: visibility and gold.

* :func:`visibility_matrix`: each building's visible (cloud-free) share in each image, from a wide table
  (indexed by building_id, one column per image date), the long table ``stracker visibility`` writes
  (``building_id, image_date, visible``), as buildings x images;
  :func:`frame_visibility` turns it into what :class:`~stracker.consensus.model.AnswerModel` takes (hidden
  frames 0, unknown ones fully visible).
* :func:`gold_states`: buildings whose state an expert established, from a table of destruction dates
  (``building_id, destroyed_on``, as :func:`stracker.io.read_truth` reads the review page's gold CSV) or from
  expert answers (a label table: every yes/no narrows the states the building can be in), as
  :class:`~stracker.consensus.model.GoldStates` over the answered buildings and those the gold adds.

How gaps are taken (documented in ``docs/contracts.md``): a building or image date the visibility does not
cover, and a NaN share, is fully visible (as with no visibility at all), and a warning names the answered
buildings it misses; buildings the visibility names but nobody answered about are ignored (they have no
consensus row); dates that are not catalogue dates, a building given twice and shares outside [0, 1] are errors.
Gold buildings nobody answered about get a row of their own (the expert's state, ``n_labels`` 0), named in a
warning; they only inform the prior.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from stracker.consensus.model import GoldStates
from stracker.errors import InputCoverageWarning, LabelsError, UnmatchedBuildingsError
from stracker.labels import EncodedLabels, destruction_state, encode_answers, parse_image_dates

__all__ = [
    "HIDDEN_VISIBILITY",
    "check_hidden_below",
    "frame_visibility",
    "frames_of",
    "gold_states",
    "id_type_hint",
    "shares_of",
    "visibility_matrix",
]

HIDDEN_VISIBILITY = 0.35
"""Default visible share below which a frame cannot show a building (hidden): the simulator's
``ImageryScenario.hidden_visibility``; the consensus and the question-choosing code share it."""

_SHOWN = 8  # values named in a message


def id_type_hint(named: pd.Index, known: pd.Index) -> str:
    """A hint for ids that differ only in type (integers on one side, text on the other); empty otherwise.

    Examples
    --------
    >>> id_type_hint(pd.Index(["12"]), pd.Index([12]))[:30]
    ' (their ids differ in type: in'
    """
    kinds = {pd.api.types.infer_dtype(index, skipna=True) for index in (named, known)}
    if kinds == {"integer", "string"}:
        return (
            " (their ids differ in type: integers on one side, text on the other; read both with "
            "stracker.read_labels / read_footprints, which type ids alike, or convert one side with .astype)"
        )
    return ""


def shares_of(values: object, name: str) -> np.ndarray:
    """Visible shares as floats (booleans: 1 visible, 0 hidden; NaN or NA: unknown), refused outside [0, 1].

    Examples
    --------
    >>> shares_of(np.array([True, False]), "visible").tolist()
    [1.0, 0.0]
    """
    array = np.asarray(values)
    if array.dtype == bool:
        return array.astype(float)
    if array.dtype == object:  # nullable booleans or numbers read as objects
        try:
            array = pd.array(array.ravel(), dtype="Float64").to_numpy(dtype=float, na_value=np.nan).reshape(array.shape)
        except (TypeError, ValueError) as exc:
            raise LabelsError(f"{name} must hold visible shares from 0 to 1 or booleans: {exc}") from exc
    try:
        numeric = np.asarray(array, dtype=float)
    except (TypeError, ValueError) as exc:
        raise LabelsError(f"{name} must hold visible shares from 0 to 1 or booleans: {exc}") from exc
    outside = (numeric < 0) | (numeric > 1)
    if outside.any():
        raise LabelsError(
            f"{name} holds {int(outside.sum())} value(s) outside [0, 1], e.g. {numeric[outside][:3].tolist()}; "
            "give cloud-free shares (0 hidden to 1 clear) or booleans."
        )
    return numeric


def _catalogue_columns(dates: pd.DatetimeIndex, given: pd.Index, image_dates: pd.DatetimeIndex) -> np.ndarray:
    cols = image_dates.get_indexer(dates)
    if (cols < 0).any():
        bad = pd.Index(given)[cols < 0].astype(str).unique()[:_SHOWN].tolist()
        raise LabelsError(
            f"the visibility holds {int((cols < 0).sum())} image date(s) whose image_date is not a catalogue date, "
            f"e.g. {bad} "
            f"(the catalogue runs {image_dates[0]:%Y-%m-%d} to {image_dates[-1]:%Y-%m-%d}, {len(image_dates)} "
            "images); give the visibility of catalogue images only."
        )
    return cols


def _rows(ids: pd.Index, building_ids: pd.Index, unknown: str) -> np.ndarray:
    rows = building_ids.get_indexer(ids)
    missing = rows < 0
    if missing.any() and (unknown == "error" or (missing.all() and len(building_ids))):
        named = ids[missing].unique()
        raise UnmatchedBuildingsError(
            f"the visibility names {len(named)} building(s) not in the campaign (of its {len(building_ids)} "
            f"buildings), e.g. {named[:_SHOWN].tolist()}{id_type_hint(named, building_ids)}; give the visibility "
            "of the campaign's buildings.",
            named.tolist(),
        )
    return rows


def visibility_matrix(
    visibility: pd.DataFrame,
    building_ids: pd.Index,
    image_dates: pd.DatetimeIndex,
    *,
    unknown_buildings: str = "ignore",
) -> np.ndarray:
    """Each building's visible share in each image, buildings x images (rows ``building_ids``, columns
    ``image_dates``), NaN where the visibility says nothing.

    Parameters
    ----------
    visibility : pandas.DataFrame
        Wide: indexed by building_id, one column per image date (dates or ISO text), values 0..1 (1 clear) or
        booleans (True visible). Long: columns ``building_id``, ``image_date`` and ``visible`` or
        ``visibility``, one row per building and image at most.
    building_ids : pandas.Index
    image_dates : pandas.DatetimeIndex
    unknown_buildings : {"ignore", "error"}
        Buildings of the visibility missing from ``building_ids``: left out (buildings nobody answered about),
        or an error. Either way, when none of them is there it is an error (the ids do not match).

    Raises
    ------
    LabelsError
        Columns missing, dates that are not catalogue dates, a building or pair given twice, a share outside
        [0, 1].
    UnmatchedBuildingsError
        Buildings not among ``building_ids`` (see ``unknown_buildings``).

    Examples
    --------
    >>> dates = pd.DatetimeIndex(["2017-06-01", "2017-06-10"])
    >>> wide = pd.DataFrame({"2017-06-01": [1.0, 0.2], "2017-06-10": [0.5, 1.0]}, index=[7, 8])
    >>> visibility_matrix(wide, pd.Index([8, 7, 9]), dates).tolist()
    [[0.2, 1.0], [1.0, 0.5], [nan, nan]]
    >>> long = pd.DataFrame({"building_id": [7], "image_date": dates[1:], "visible": [0.5]})
    >>> visibility_matrix(long, pd.Index([7]), dates).tolist()
    [[nan, 0.5]]
    """
    if not isinstance(visibility, pd.DataFrame):
        raise LabelsError(
            f"visibility must be a DataFrame (indexed by building_id, one column per image date; or the long "
            f"table building_id, image_date, visible), got {type(visibility).__name__}; a bare array has no "
            "building ids."
        )
    B, D = len(building_ids), len(image_dates)
    out = np.full((B, D), np.nan)
    columns = [c for c in ("visible", "visibility") if c in visibility.columns]
    if "image_date" in visibility.columns or ("building_id" in visibility.columns and columns):
        missing = [c for c in ("building_id", "image_date") if c not in visibility.columns]
        if missing or not columns:
            raise LabelsError(
                "a long visibility table needs columns building_id, image_date and visible (or visibility); it "
                f"has {list(visibility.columns)}."
            )
        ids = pd.Index(visibility["building_id"])
        if ids.hasnans:
            raise LabelsError(f"the visibility table lacks a building_id in {int(ids.isna().sum())} row(s).")
        dates = parse_image_dates(visibility["image_date"], "image_date", required=True)
        cols = _catalogue_columns(pd.DatetimeIndex(dates), pd.Index(visibility["image_date"]), image_dates)
        rows = _rows(ids, building_ids, unknown_buildings)
        flat = rows.astype(np.int64) * D + cols
        repeated = pd.Index(flat[rows >= 0]).duplicated(keep=False)
        if repeated.any():
            pairs = visibility[rows >= 0][repeated][["building_id", "image_date"]].head(3).astype(str)
            raise LabelsError(
                f"the visibility table gives {int(repeated.sum())} row(s) for the same building and image, e.g. "
                f"{pairs.values.tolist()}; give each pair once."
            )
        values = shares_of(visibility[columns[0]].to_numpy(), f"visibility[{columns[0]!r}]")
        out.reshape(-1)[flat[rows >= 0]] = values[rows >= 0]
        return out
    index = pd.Index(visibility.index)
    if index.has_duplicates:
        raise LabelsError(
            f"the visibility repeats building(s) {index[index.duplicated()].unique()[:_SHOWN].tolist()}; give "
            "each building once."
        )
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(pd.Index(visibility.columns).astype(str), format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise LabelsError(
            f"the visibility's columns must be image dates (a DataFrame indexed by building_id, one column per "
            f"image date; or the long table building_id, image_date, visible); it has "
            f"{list(visibility.columns)[:_SHOWN]}: {exc}"
        ) from exc
    if dates.has_duplicates:
        raise LabelsError(f"the visibility repeats image date(s) {dates[dates.duplicated()].unique().tolist()}.")
    cols = _catalogue_columns(dates, pd.Index(visibility.columns), image_dates)
    rows = _rows(index, building_ids, unknown_buildings)
    values = shares_of(visibility.to_numpy(), "the visibility")
    keep = rows >= 0
    out[np.ix_(rows[keep], cols)] = values[keep]
    return out


def frame_visibility(
    visibility: pd.DataFrame,
    enc: EncodedLabels,
    hidden_below: float = HIDDEN_VISIBILITY,
) -> np.ndarray:
    """The visibility as :class:`~stracker.consensus.model.AnswerModel` takes it: rows ``enc.building_ids``,
    columns the catalogue; a frame's visible share, 0 where it is below ``hidden_below`` (hidden), 1 where the
    visibility says nothing.

    Answered buildings the visibility misses are fully visible and named in an
    :class:`~stracker.errors.InputCoverageWarning`.

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> labels = pd.DataFrame({"building_id": [7, 8], "volunteer_id": 1, "before": pd.NaT,
    ...     "after": pd.to_datetime(["2017-06-10"] * 2), "destroyed": True, "task": "compare"})
    >>> enc = encode_labels(labels, ["2017-06-01", "2017-06-10"])
    >>> wide = pd.DataFrame({"2017-06-01": [0.2, 1.0], "2017-06-10": [0.5, float("nan")]}, index=[7, 8])
    >>> frame_visibility(wide, enc).tolist()
    [[0.0, 0.5], [1.0, 1.0]]
    """
    check_hidden_below(hidden_below)
    shares = visibility_matrix(visibility, enc.building_ids, enc.image_dates)
    absent = np.isnan(shares).all(axis=1)
    if absent.any():
        named = enc.building_ids[absent]
        warnings.warn(
            f"the visibility says nothing of {len(named)} of the {enc.n_buildings} answered building(s), e.g. "
            f"{named[:_SHOWN].tolist()}: they are taken as fully visible.",
            InputCoverageWarning,
            stacklevel=3,
        )
    return frames_of(shares, hidden_below)


def check_hidden_below(hidden_below: float) -> None:
    """Refuse a ``hidden_below`` that is not a visible share from 0 to 1."""
    if not 0.0 <= hidden_below <= 1.0:
        raise LabelsError(f"hidden_below must be a visible share from 0 to 1, got {hidden_below!r}.")


def frames_of(shares: np.ndarray, hidden_below: float = HIDDEN_VISIBILITY) -> np.ndarray:
    """Visible shares (buildings x images, NaN unknown) as the answer model takes them: 0 where below
    ``hidden_below`` (hidden), 1 where unknown.

    Examples
    --------
    >>> frames_of(np.array([[0.2, 0.5, np.nan]])).tolist()
    [[0.0, 0.5, 1.0]]
    """
    check_hidden_below(hidden_below)
    shares = np.where(np.isnan(shares), 1.0, shares)
    return np.where(shares < hidden_below, 0.0, shares)


def _gold_table(gold: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """The gold as a table with a building_id column (from a Series or a table indexed by building_id)."""
    if isinstance(gold, pd.Series):
        gold = gold.rename("destroyed_on").to_frame()
    if not isinstance(gold, pd.DataFrame):
        raise LabelsError(
            f"gold must be a table of building_id and destroyed_on (or of expert answers), got {type(gold).__name__}."
        )
    if "building_id" not in gold.columns:
        gold = gold.rename_axis("building_id").reset_index()
    if gold["building_id"].isna().any():
        raise LabelsError(f"the gold lacks a building_id in {int(gold['building_id'].isna().sum())} row(s).")
    return gold


def _extend(enc: EncodedLabels, extra: pd.Index) -> EncodedLabels:
    """``enc`` with buildings added that have no answers (building codes renumbered to keep ids sorted)."""
    ids = enc.building_ids.append(extra).sort_values()
    recode = ids.get_indexer(enc.building_ids).astype(enc.building.dtype)
    return dataclasses.replace(
        enc, building_ids=pd.Index(ids, name=enc.building_ids.name), building=recode[enc.building]
    )


def gold_states(gold: pd.DataFrame | pd.Series, enc: EncodedLabels) -> tuple[EncodedLabels, GoldStates]:
    """The states experts established, over the answered buildings and any the gold adds.

    Parameters
    ----------
    gold : pandas.DataFrame or Series
        Destruction dates: ``destroyed_on`` (NaT: not destroyed) with a ``building_id`` column or index (as
        :func:`stracker.io.read_truth` reads the review page's gold CSV), or a Series of them. Or expert
        answers, a label table (``building_id``, ``before``, ``after``, ``destroyed``): each yes keeps the
        states of its range (``before``, ``after``], each no the others; can't tell says nothing.
    enc : EncodedLabels
        The volunteers' answers.

    Returns
    -------
    enc : EncodedLabels
        ``enc``, with the gold buildings nobody answered about added (named in an
        :class:`~stracker.errors.InputCoverageWarning`).
    gold : GoldStates

    Raises
    ------
    LabelsError
        A building given two dates, expert answers that leave a building no state, dates that are not catalogue
        dates (expert answers), ids of another type than the answers'.

    Examples
    --------
    >>> from stracker.labels import encode_labels
    >>> enc = encode_labels(pd.DataFrame({"building_id": [7, 8], "volunteer_id": 1, "before": pd.NaT,
    ...     "after": pd.Timestamp("2017-06-10"), "destroyed": True}), ["2017-06-01", "2017-06-10"], task="compare")
    >>> truth = pd.DataFrame({"building_id": [8], "destroyed_on": pd.to_datetime(["2017-06-05"])})
    >>> _, known = gold_states(truth, enc)
    >>> known.rows.tolist(), known.allowed.astype(int).tolist()
    ([1], [[0, 1, 0]])
    """
    table = _gold_table(gold)
    ids = pd.Index(table["building_id"])
    hint = id_type_hint(ids, enc.building_ids) if enc.n_buildings else ""
    if hint:
        raise UnmatchedBuildingsError(
            f"the gold's building ids do not match the answers', e.g. {ids.unique()[:_SHOWN].tolist()}{hint}.",
            ids.unique().tolist(),
        )
    extra = ids.unique().difference(enc.building_ids)
    if len(extra):
        warnings.warn(
            f"the gold names {len(extra)} building(s) nobody answered about, e.g. {extra[:_SHOWN].tolist()}: "
            "they get the expert's state (n_labels 0) and inform only the prior.",
            InputCoverageWarning,
            stacklevel=3,
        )
        enc = _extend(enc, extra)
    S = enc.n_states
    if "destroyed_on" in table.columns:
        if ids.has_duplicates:
            raise LabelsError(
                f"the gold gives building(s) {ids[ids.duplicated()].unique()[:_SHOWN].tolist()} more than one "
                "date; give each building once."
            )
        on = parse_image_dates(table["destroyed_on"], "destroyed_on", required=False)
        states = destruction_state(on, enc.image_dates)
        rows = enc.building_ids.get_indexer(ids)
        allowed = np.zeros((rows.size, S), dtype=bool)
        allowed[np.arange(rows.size), states] = True
        order = np.argsort(rows, kind="stable")
        return enc, GoldStates(rows[order], allowed[order])
    return enc, _expert_answers(table, enc)


def _expert_answers(table: pd.DataFrame, enc: EncodedLabels) -> GoldStates:
    """Gold from expert answers: per building, the states none of its yes/no answers excludes."""
    missing = [c for c in ("building_id", "after", "destroyed") if c not in table.columns]
    if missing:
        raise LabelsError(
            f"the gold lacks {missing}: give building_id and destroyed_on (dates an expert established), or "
            f"expert answers as a label table (building_id, before, after, destroyed); it has {list(table.columns)}."
        )
    dates = enc.image_dates
    before = table["before"] if "before" in table.columns else pd.Series(pd.NaT, index=table.index)
    lo = dates.get_indexer(pd.DatetimeIndex(parse_image_dates(before, "before", required=False)))
    after = pd.DatetimeIndex(parse_image_dates(table["after"], "after", required=True))
    hi = dates.get_indexer(after)
    lo_bad = before.notna().to_numpy() & (lo < 0)
    if (hi < 0).any() or lo_bad.any():
        bad = pd.concat([table["after"][hi < 0], before[lo_bad]]).astype(str).unique()[:_SHOWN].tolist()
        raise LabelsError(f"the expert answers hold dates that are not catalogue dates, e.g. {bad}.")
    answer = encode_answers(table["destroyed"])
    told = answer >= 0
    building = enc.building_ids.get_indexer(pd.Index(table["building_id"]))
    gold_ids, gold_row = np.unique(building, return_inverse=True)
    G, S = gold_ids.size, enc.n_states
    # excluded states, counted with a difference array over gold buildings x states: a yes excludes [0, lo]
    # and [hi + 1, D], a no (lo, hi]
    g, lo1, hi1 = gold_row[told], lo[told].astype(np.int64) + 1, hi[told].astype(np.int64) + 1
    yes = answer[told] == 1
    base = g.astype(np.int64) * (S + 1)
    starts = np.concatenate([base[yes], base[yes] + hi1[yes], base[~yes] + lo1[~yes]])
    ends = np.concatenate([base[yes] + lo1[yes], base[yes] + S, base[~yes] + hi1[~yes]])
    diff = np.bincount(starts, minlength=G * (S + 1)) - np.bincount(ends, minlength=G * (S + 1))
    allowed = np.cumsum(diff.reshape(G, S + 1), axis=1)[:, :S] == 0
    empty = ~allowed.any(axis=1)
    if empty.any():
        raise LabelsError(
            f"the expert answers about building(s) {enc.building_ids[gold_ids[empty]][:_SHOWN].tolist()} "
            "contradict each other (no destruction date fits them all); correct or drop them."
        )
    return GoldStates(gold_ids, allowed)
