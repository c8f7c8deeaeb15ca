"""A batch of questions written for the platform that asks them, and read back.

Formats (``format=``):

* ``csv``: ``building_id, before, after`` (ISO dates; ``before`` empty for a single-image question), then
  ``frames``, ``n_answers``, ``entropy_bits`` and ``gain_bits`` (see :class:`stracker.tasking.QuestionBatch`).
* ``zooniverse``: a subject manifest for panoptes-cli (``panoptes subject-set upload-subjects SET
  manifest.csv``), one subject per question. Columns ``#frame_before`` and ``#frame_after`` name the frames
  (chips named ``<building_id>_<YYYY-MM-DD>.png`` as ``stracker chips`` writes them, see
  :func:`stracker.imagery.chip_file_names`), relative to the manifest's
  directory as panoptes-cli resolves them; ``#building_id``, ``#before`` and ``#after`` carry the question in
  the subject's metadata, where ``stracker import zooniverse`` finds it again. The ``#`` prefix hides a
  metadata key from volunteers (the dates would bias them). A single-image question has empty ``#before`` and
  ``#frame_before`` cells.
* ``pybossa``: a tasks CSV for a PyBossa project's CSV importer (or ``pbs add_tasks``), whose columns become
  ``task.info``: ``building_id``, ``before``, ``after``, ``frame_before``, ``frame_after`` (URLs or paths),
  ``answers_so_far`` and ``priority_0`` (PyBossa's own task priority: its scheduler serves the highest first,
  so the questions go out in order of value). No cell is empty: PyBossa reads the file with pandas, which makes
  an empty cell NaN, which ``task.info`` (PostgreSQL JSONB) refuses; a single-image question's ``before`` and
  ``frame_before`` are ``none``. ``answers_so_far`` keeps a question asked again in a later batch distinct:
  PyBossa's importer skips a task whose ``info`` equals an existing task's.

What panoptes-cli does with a manifest (``panoptes_cli/commands/subject_set.py``, v1.2): it reads it with
Python's ``csv.reader`` (comma, ``"`` quoting, leading blanks stripped, no byte-order mark), makes every column
the subject's metadata, and takes as image files the columns of the first row whose cell is an existing path
relative to the manifest's directory, unless ``--file-column N`` names them. An empty cell joins to the
manifest's directory itself, which exists; so for a manifest outside the current directory whose first row
is a single-image question, or whenever single-image questions follow pairs, upload with the file columns
named and missing files allowed: ``panoptes subject-set upload-subjects --file-column 1 --file-column 2
--allow-missing SET manifest.csv`` (each empty frame cell then prints a "could not be found" line and is
skipped).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from stracker.errors import FileFormatError, LabelsError
from stracker.io.files import about, atomic_path
from stracker.io.tables import parse_blank_dates, read_table, read_visibility, typed_ids
from stracker.labels import rows_text

__all__ = [
    "PYBOSSA_NO_IMAGE",
    "QUESTION_FORMATS",
    "UPLOAD_COMMAND",
    "read_questions",
    "read_visibility",
    "write_questions",
]

QUESTION_FORMATS = ("csv", "zooniverse", "pybossa")
"""Formats :func:`write_questions` writes."""

PYBOSSA_NO_IMAGE = "none"
"""The ``before`` and ``frame_before`` of a single-image question in a PyBossa tasks CSV."""

UPLOAD_COMMAND = "panoptes subject-set upload-subjects --file-column 1 --file-column 2 --allow-missing SET {path}"
"""How to upload a Zooniverse manifest written by :func:`write_questions` (``SET``: the subject set id)."""

_ZOONIVERSE_COLUMNS = ("#frame_before", "#frame_after", "#building_id", "#before", "#after")
_PYBOSSA_COLUMNS = ("building_id", "before", "after", "frame_before", "frame_after", "answers_so_far", "priority_0")
_QUESTION_COLUMNS = ("building_id", "before", "after")
_NUMBERS = {
    "frames": "int64",
    "n_answers": "int64",
    "answers_so_far": "int64",
    "entropy_bits": "float64",
    "gain_bits": "float64",
    "priority_0": "float64",
}
"""Columns written by :func:`write_questions` that read back as numbers."""
_UNSAFE_IN_NAME = re.compile(r"[/\\\x00-\x1f]")


def _date_texts(*columns: pd.Series) -> list[pd.Series]:
    """ISO dates, with the time of day in all of them where an image date has one; NaT becomes missing."""
    dates = [pd.Series(pd.to_datetime(values)) for values in columns]
    timed = any((d.dropna() != d.dropna().dt.normalize()).any() for d in dates)
    return [d.dt.strftime("%Y-%m-%dT%H:%M:%S" if timed else "%Y-%m-%d") for d in dates]


def _frame_names(building_ids: np.ndarray, dates: pd.Series) -> np.ndarray:
    """The chip file names of :func:`stracker.imagery.chip_file_names`; empty where the date is NaT."""
    from stracker.imagery import chip_file_names  # here: rasterio's import costs every command about 0.5 s

    names = np.full(len(building_ids), "", dtype=object)
    shown = dates.notna().to_numpy()
    names[shown] = chip_file_names(pd.Series(building_ids[shown]), dates[shown]).to_numpy(dtype=object)
    return names


def _check_questions(questions: pd.DataFrame) -> None:
    missing = [c for c in _QUESTION_COLUMNS if c not in questions.columns]
    if missing:
        raise LabelsError(
            f"the questions lack the columns {missing}; they need building_id, before and after "
            "(as next_questions returns them)."
        )
    after = pd.to_datetime(questions["after"])
    if after.isna().any():
        rows = questions.index[after.isna().to_numpy()][:8].tolist()
        raise LabelsError(f"the questions lack an 'after' image date in rows {rows}; every question needs one.")


def _check_frame_names(questions: pd.DataFrame) -> None:
    """Frames are named by building id and day: ids must make file names and days must tell images apart."""
    ids = questions["building_id"].astype(str)
    unsafe = ids.str.contains(_UNSAFE_IN_NAME) | (ids.str.strip() != ids) | (ids == "")
    if unsafe.any():
        raise LabelsError(
            f"building ids {ids[unsafe].unique()[:5].tolist()} cannot name frame files "
            "(<building_id>_<YYYY-MM-DD>.png): a slash, a control character, blanks at an end or "
            "an empty id; renumber those buildings."
        )
    dates = pd.DatetimeIndex(pd.concat([questions["before"], questions["after"]]).dropna().unique())
    days = dates.strftime("%Y-%m-%d")
    clash = pd.Index(days).duplicated(keep=False)
    if clash.any():
        raise LabelsError(
            f"images {sorted(dates[clash].astype(str))[:6]} fall on the same day, so their frames "
            "(<building_id>_<YYYY-MM-DD>.png) would share a name; use the csv format."
        )


def _located(names: np.ndarray, frame_location: str) -> np.ndarray:
    prefix = frame_location if frame_location in ("", None) or frame_location.endswith("/") else frame_location + "/"
    return np.where(names == "", "", (prefix or "") + names.astype(str)).astype(object)


def write_questions(
    questions: pd.DataFrame, path: str | Path, format: str = "csv", *, frame_location: str = ""
) -> Path:
    """Write a batch of questions, atomically, for a platform (see :mod:`stracker.tasking.formats`).

    Parameters
    ----------
    questions : pandas.DataFrame
        ``building_id``, ``before`` (NaT: a single-image question), ``after``, in the order to ask them (as
        ``QuestionBatch.questions``); other columns are written by ``csv`` only.
    path : str or Path
    format : {"csv", "zooniverse", "pybossa"}
    frame_location : str
        Where the frames are, prefixed to their file names: for ``zooniverse`` a directory relative to the
        manifest's (panoptes-cli resolves file names from there), for ``pybossa`` a URL or path; default: beside
        the file.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> questions = pd.DataFrame({"building_id": [12, 7], "before": pd.to_datetime(["2017-06-04", None]),
    ...                           "after": pd.to_datetime(["2017-06-16", "2017-07-01"])})
    >>> path = write_questions(questions, pathlib.Path(tempfile.mkdtemp()) / "manifest.csv", "zooniverse",
    ...                        frame_location="chips")
    >>> print(path.read_text(), end="")
    #frame_before,#frame_after,#building_id,#before,#after
    chips/12_2017-06-04.png,chips/12_2017-06-16.png,12,2017-06-04,2017-06-16
    ,chips/7_2017-07-01.png,7,,2017-07-01
    >>> back = read_questions(path, "zooniverse")
    >>> back["building_id"].tolist(), back["before"].isna().tolist()
    ([12, 7], [False, True])
    """
    if format not in QUESTION_FORMATS:
        raise FileFormatError(f"unknown question format {format!r}; choose one of {list(QUESTION_FORMATS)}.")
    _check_questions(questions)
    path = Path(path)
    before, after = _date_texts(questions["before"], questions["after"])
    if format == "csv":
        table = questions.copy()
        table["before"], table["after"] = before.fillna("").to_numpy(), after.to_numpy()
        for name in ("entropy_bits", "gain_bits"):
            if name in table.columns:
                table[name] = table[name].round(6)
    else:
        _check_frame_names(questions)
        ids = questions["building_id"].to_numpy()
        frame_before = _located(_frame_names(ids, questions["before"]), frame_location)
        frame_after = _located(_frame_names(ids, questions["after"]), frame_location)
        if format == "zooniverse":
            table = pd.DataFrame(
                dict(
                    zip(
                        _ZOONIVERSE_COLUMNS,
                        (frame_before, frame_after, ids, before.fillna("").to_numpy(), after.to_numpy()),
                        strict=True,
                    )
                )
            )
        else:
            n = len(questions)
            answered = questions["n_answers"].to_numpy() if "n_answers" in questions.columns else np.zeros(n, int)
            table = pd.DataFrame(
                dict(
                    zip(
                        _PYBOSSA_COLUMNS,
                        (
                            ids,
                            before.fillna(PYBOSSA_NO_IMAGE).to_numpy(),
                            after.to_numpy(),
                            np.where(frame_before == "", PYBOSSA_NO_IMAGE, frame_before),
                            frame_after,
                            answered,
                            np.round(1.0 - np.arange(n) / max(n, 1), 6),
                        ),
                        strict=True,
                    )
                )
            )
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return path


def _column(table: pd.DataFrame, key: str, prefixes: tuple[str, ...], path: Path) -> str:
    for prefix in prefixes:
        if prefix + key in table.columns:
            return prefix + key
    raise LabelsError(f"{path}: no {' or '.join(p + key for p in prefixes)} column; it has {list(table.columns)}.")


def _parse(values: pd.Series, name: str, path: Path, required: bool) -> pd.Series:
    with about(path):
        return parse_blank_dates(values, name, required=required)


def read_questions(path: str | Path, format: str = "csv") -> pd.DataFrame:
    """Read a batch of questions written by :func:`write_questions` (or by hand in the same shape).

    Returns ``building_id`` (typed as :func:`stracker.io.typed_ids` types ids), ``before`` (NaT: a single
    image), ``after``, then the file's other columns: those :func:`write_questions` writes as numbers
    (``frames``, ``n_answers``, ``entropy_bits``, ``gain_bits``, ``answers_so_far``, ``priority_0``) as
    numbers, the rest as text. For ``zooniverse`` the metadata keys may carry
    ``#``, ``!`` or no prefix; for ``pybossa`` a ``before`` of ``none`` is a single-image question.

    Raises
    ------
    LabelsError
        On a missing column, id or ``after``, a date that is not ISO, or ``before`` not earlier than ``after``.
    """
    if format not in QUESTION_FORMATS:
        raise FileFormatError(f"unknown question format {format!r}; choose one of {list(QUESTION_FORMATS)}.")
    path = Path(path)
    table = read_table(path, sep=",")
    prefixes = ("#", "!", "") if format == "zooniverse" else ("",)
    names = {key: _column(table, key, prefixes, path) for key in _QUESTION_COLUMNS}
    before = table[names["before"]]
    if format == "pybossa":
        before = before.mask(before.str.strip().str.lower() == PYBOSSA_NO_IMAGE)
    ids = typed_ids(table[names["building_id"]])
    if ids.isna().any():
        raise LabelsError(f"{path}: building_id is missing in {rows_text(table.index, ids.isna().to_numpy())}.")
    out = pd.DataFrame(
        {
            "building_id": ids,
            "before": _parse(before, "before", path, required=False),
            "after": _parse(table[names["after"]], "after", path, required=True),
        },
        index=table.index,
    )
    order = out["before"].notna() & (out["before"] >= out["after"])
    if order.any():
        raise LabelsError(f"{path}: 'before' is not earlier than 'after' in {rows_text(out.index, order.to_numpy())}.")
    rest = table.drop(columns=list(names.values()))
    for name in set(_NUMBERS) & set(rest.columns):
        numeric = pd.to_numeric(rest[name], errors="coerce")
        bad = (numeric.isna() & rest[name].notna()).to_numpy()
        if bad.any():
            raise LabelsError(f"{path}: {name!r} is not a number in {rows_text(rest.index, bad)}.")
        rest[name] = numeric.astype(_NUMBERS[name]) if not numeric.isna().any() else numeric
    return pd.concat([out, rest], axis=1)
