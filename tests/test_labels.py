"""Tests of stracker.labels: the label contract, what it accepts, and how it refuses bad tables.

Every refusal is a :class:`stracker.LabelsError` (also a ValueError) whose message names the offending rows by
their index labels and says how to fix them. The tables use string row labels ("r0", "r1", ...) so a message
that named positions instead of labels would fail.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import stracker
from stracker.errors import DuplicateAnswersWarning, LabelsError, StrackerError
from stracker.labels import EncodedLabels, destruction_state, encode_labels

DATES = pd.DatetimeIndex(["2017-06-06", "2017-06-16", "2017-06-26", "2017-07-06"])


def _labels(n: int = 6) -> pd.DataFrame:
    """A valid mixed table of n answers (n >= 6), rows labelled r0, r1, ..."""
    d = DATES
    rows = [
        # building, volunteer, before, after, destroyed, task
        (1, 10, d[0], d[1], True, "timeline"),
        (1, 11, d[0], d[1], True, "timeline"),
        (2, 10, pd.NaT, d[3], False, "timeline"),
        (2, 12, d[1], d[2], False, "compare"),
        (3, 11, pd.NaT, d[0], True, "compare"),
        (3, 12, d[2], d[3], None, "compare"),
    ]
    rows = (rows * (n // len(rows) + 1))[:n]
    out = pd.DataFrame(rows, columns=["building_id", "volunteer_id", "before", "after", "destroyed", "task"])
    if n > 6:  # keep the extra rows distinct answers, not exact duplicates
        out["volunteer_id"] = out["volunteer_id"] + 100 * (np.arange(n) // 6)
    out["destroyed"] = out["destroyed"].astype("boolean")
    out["before"] = pd.to_datetime(out["before"])
    out["after"] = pd.to_datetime(out["after"])
    out.index = [f"r{i}" for i in range(n)]
    return out


def _raises(labels: pd.DataFrame, *patterns: str, **kwargs) -> str:
    """encode_labels refuses the table; every regex pattern is found in the message. Returns the message."""
    with pytest.raises(LabelsError) as info:
        encode_labels(labels, **kwargs)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in message: {message}"
    return message


def test_valid_table_encodes():
    enc = encode_labels(_labels())
    assert isinstance(enc, EncodedLabels)
    assert enc.n_answers == 6
    assert enc.n_buildings == 3 and enc.n_volunteers == 3 and enc.n_images == 4 and enc.n_states == 5
    assert enc.building_ids.tolist() == [1, 2, 3]
    assert enc.volunteer_ids.tolist() == [10, 11, 12]
    assert enc.building.tolist() == [0, 0, 1, 1, 2, 2]
    assert enc.volunteer.tolist() == [0, 1, 0, 2, 1, 2]
    assert enc.lo.tolist() == [0, 0, -1, 1, -1, 2]
    assert enc.hi.tolist() == [1, 1, 3, 2, 0, 3]
    assert enc.answer.tolist() == [1, 1, 0, 0, 1, -1]
    assert enc.task.tolist() == [0, 0, 0, 1, 1, 1]
    assert enc.row_index.tolist() == [f"r{i}" for i in range(6)]
    assert enc.image_dates.equals(DATES)
    for name, dtype in [
        ("building", np.int32),
        ("volunteer", np.int32),
        ("lo", np.int16),
        ("hi", np.int16),
        ("answer", np.int8),
        ("task", np.int8),
    ]:
        assert getattr(enc, name).dtype == dtype, name


def test_labels_error_is_a_value_error():
    assert issubclass(LabelsError, ValueError)
    assert issubclass(LabelsError, StrackerError)
    assert stracker.LabelsError is LabelsError


# ------------------------------------------------------------------------------------------------- columns
def test_missing_column():
    _raises(_labels().drop(columns="destroyed"), "'destroyed'", r"rename")


def test_misspelled_column_suggests_the_contract_name():
    renamed = _labels().rename(columns={"building_id": "buildng_id"})
    message = _raises(renamed, "'building_id'", "a misspelling of 'building_id'")
    assert "the table has 'buildng_id'" in message


def test_no_task_column_and_no_keyword():
    _raises(_labels().drop(columns="task"), "no 'task' column", "task='timeline'", "task='compare'")


def test_task_keyword_fills_a_missing_column():
    enc = encode_labels(_labels().drop(columns="task"), task="compare")
    assert (enc.task == 1).all()


def test_task_column_and_keyword_together():
    _raises(_labels(), "'task' column", "task=", "drop one", task="timeline")


def test_bad_task_keyword():
    _raises(_labels().drop(columns="task"), "'timelin'", "'timeline' or 'compare'", task="timelin")


def test_unknown_task_kind_names_rows():
    labels = _labels()
    labels.loc["r2", "task"] = "timelin"
    message = _raises(labels, "'timelin'", r"1 row\(s\) \['r2'\]", "'timeline' or 'compare'")
    assert "'r1'" not in message


def test_task_kind_is_case_and_space_insensitive():
    labels = _labels()
    labels["task"] = [" Timeline", "TIMELINE", "timeline", "Compare ", "compare", "COMPARE"]
    assert encode_labels(labels).task.tolist() == [0, 0, 0, 1, 1, 1]


# ------------------------------------------------------------------------------------------------- ids
@pytest.mark.parametrize("column", ["building_id", "volunteer_id"])
def test_null_id_names_rows(column):
    labels = _labels()
    labels[column] = labels[column].astype(object)
    labels.loc["r4", column] = None
    _raises(labels, f"{column} is missing", r"\['r4'\]", f"every answer needs a {column}")


@pytest.mark.parametrize("column", ["building_id", "volunteer_id"])
def test_ids_mixing_int_and_str(column):
    labels = _labels()
    labels[column] = labels[column].astype(object)
    labels.loc["r0", column] = "12"
    labels.loc["r1", column] = 12
    _raises(labels, "mixes integers and strings", r"astype\(str\)")


def test_float_ids_refused():
    labels = _labels()
    labels["building_id"] = labels["building_id"].astype(float) + 0.5
    _raises(labels, "integers or strings")


def test_int_and_str_ids_accepted_and_sorted():
    labels = _labels()
    labels["building_id"] = labels["building_id"].map({1: "z", 2: "a", 3: "m"})
    labels["volunteer_id"] = labels["volunteer_id"].astype(str)
    enc = encode_labels(labels)
    assert enc.building_ids.tolist() == ["a", "m", "z"]
    assert enc.building_ids[enc.building].tolist() == labels["building_id"].tolist()
    assert enc.volunteer_ids[enc.volunteer].tolist() == labels["volunteer_id"].tolist()
    ints = encode_labels(_labels())
    assert ints.building_ids.tolist() == [1, 2, 3]


# ------------------------------------------------------------------------------------------------- dates
def test_unparsable_dates_name_rows():
    labels = _labels()
    labels["after"] = labels["after"].dt.strftime("%Y-%m-%d").astype(object)
    labels.loc["r3", "after"] = "not a date"
    _raises(labels, "'after' could not be read as dates", r"\['r3'\]", "not a date", "ISO dates")


def test_unparsable_before():
    labels = _labels()
    labels["before"] = labels["before"].dt.strftime("%Y-%m-%d").astype(object)
    labels.loc["r1", "before"] = "2017-13-45"
    _raises(labels, "'before' could not be read", r"\['r1'\]")


def test_timezone_aware_dates_refused():
    labels = _labels()
    labels["after"] = labels["after"].dt.tz_localize("UTC")
    _raises(labels, "'after' is timezone-aware", r"tz_localize\(None\)")


def test_timezone_aware_date_strings_refused():
    labels = _labels()
    labels["before"] = labels["before"].dt.strftime("%Y-%m-%dT00:00:00+02:00").astype(object)
    _raises(labels, "'before' holds timezone-aware dates", "naive")


def test_after_missing_names_rows():
    labels = _labels()
    labels.loc["r5", "after"] = pd.NaT
    _raises(labels, "'after' is missing", r"\['r5'\]")


def test_dates_not_in_catalogue_name_rows():
    labels = _labels()
    message = _raises(
        labels,
        "'after' holds dates not in the image catalogue",
        r"\['r2', 'r5'\]",
        "2017-07-06",
        "image_dates=",
        image_dates=DATES[:3],
    )
    assert "'r0'" not in message


def test_before_not_in_catalogue():
    labels = _labels()
    labels.loc["r0", "before"] = pd.Timestamp("2017-06-07")
    _raises(labels, "'before' holds dates not in the image catalogue", r"\['r0'\]", image_dates=DATES)


@pytest.mark.parametrize("before", [DATES[1], DATES[2]], ids=["equal", "later"])
def test_before_not_earlier_than_after(before):
    labels = _labels()
    labels.loc["r1", "before"] = before  # after is DATES[1]
    message = _raises(labels, "'before' is not earlier than 'after'", r"1 row\(s\) \['r1'\]", "NaT")
    assert "'r0'" not in message


@pytest.mark.parametrize("bad", ["maybe", 2, 0.5])
def test_destroyed_not_a_boolean(bad):
    labels = _labels()
    labels["destroyed"] = labels["destroyed"].astype(object)
    labels.loc["r3", "destroyed"] = bad
    _raises(labels, "'destroyed' must be True, False or NA", re.escape(repr(bad)), r"\['r3'\]")


def test_many_bad_rows_are_counted_not_all_listed():
    labels = _labels(30)
    labels["destroyed"] = "maybe"
    message = _raises(labels, r"30 row\(s\)", "and 22 more")
    assert "'r0'" in message and "'r29'" not in message


def test_empty_table():
    _raises(_labels().iloc[:0], "empty")


def test_not_a_dataframe():
    with pytest.raises(LabelsError, match="DataFrame"):
        encode_labels(_labels().to_dict("records"))


@pytest.mark.parametrize(
    "catalogue",
    [DATES[[1, 0, 2, 3]], DATES[[0, 1, 1, 2, 3]]],
    ids=["unsorted", "duplicated"],
)
def test_bad_catalogue(catalogue):
    _raises(_labels(), "strictly increasing", "sort and deduplicate", image_dates=catalogue)


def test_catalogue_with_missing_date():
    _raises(_labels(), "missing date", image_dates=[*DATES.tolist(), pd.NaT])


def test_bad_on_duplicate_option():
    _raises(_labels(), "on_duplicate", on_duplicate="drop")


# ------------------------------------------------------------------------------------------------- duplicates
def _with_duplicate() -> pd.DataFrame:
    labels = _labels()
    extra = labels.loc[["r0"]].set_axis(["r_dup"])
    return pd.concat([labels, extra])


def test_duplicates_warn_by_default_and_keep_rows():
    labels = _with_duplicate()
    with pytest.warns(DuplicateAnswersWarning, match=r"2 row\(s\) \['r0', 'r_dup'\]") as record:
        enc = encode_labels(labels)
    assert len(record) == 1
    assert "drop_duplicates" in str(record[0].message)
    assert enc.n_answers == len(labels) == 7
    assert enc.row_index.tolist() == labels.index.tolist()


def test_duplicates_error():
    _raises(_with_duplicate(), "exact duplicate answers", r"\['r0', 'r_dup'\]", on_duplicate="error")


def test_duplicates_ignore_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = encode_labels(_with_duplicate(), on_duplicate="ignore")
    assert enc.n_answers == 7


def test_same_volunteer_different_answer_is_not_a_duplicate():
    labels = _with_duplicate()
    labels.loc["r_dup", "destroyed"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert encode_labels(labels).n_answers == 7


def test_aggregate_passes_on_duplicate():
    with pytest.raises(LabelsError, match="exact duplicate"):
        stracker.aggregate(_with_duplicate(), on_duplicate="error")
    with pytest.warns(DuplicateAnswersWarning):
        consensus = stracker.aggregate(_with_duplicate())
    assert consensus.buildings.loc[1, "n_labels"] == 3


# ------------------------------------------------------------------------------------------------- accepted inputs
@pytest.mark.parametrize(
    "values, expected",
    [
        ([True, False, True, False, True, False], [1, 0, 1, 0, 1, 0]),
        (pd.array([True, None, False, True, None, False], dtype="boolean"), [1, -1, 0, 1, -1, 0]),
        ([1, 0, 1, 0, 0, 1], [1, 0, 1, 0, 0, 1]),
        ([1.0, 0.0, np.nan, 1.0, 0.0, np.nan], [1, 0, -1, 1, 0, -1]),
        (["yes", "no", "Yes", "NO", None, " yes "], [1, 0, 1, 0, -1, 1]),
        (["True", "false", "1", "0", None, "TRUE"], [1, 0, 1, 0, -1, 1]),
        ([True, None, False, np.True_, np.False_, pd.NA], [1, -1, 0, 1, 0, -1]),
    ],
    ids=["bool", "boolean-na", "int01", "float-nan", "yes-no", "str-bool", "object-mixed"],
)
def test_destroyed_accepted_forms(values, expected):
    labels = _labels()
    labels["destroyed"] = values
    assert encode_labels(labels).answer.tolist() == expected


def test_iso_string_dates_and_inferred_catalogue():
    labels = _labels()
    labels["before"] = labels["before"].dt.strftime("%Y-%m-%d").where(labels["before"].notna(), None)
    labels["after"] = labels["after"].dt.strftime("%Y-%m-%d")
    enc = encode_labels(labels)
    reference = encode_labels(_labels())
    assert enc.image_dates.equals(DATES)
    for name in ("lo", "hi", "answer", "building", "volunteer", "task"):
        assert np.array_equal(getattr(enc, name), getattr(reference, name)), name


def test_inferred_catalogue_holds_only_dates_seen():
    labels = _labels().drop(index=["r2", "r5"])  # the only rows mentioning DATES[3]
    enc = encode_labels(labels)
    assert enc.image_dates.equals(DATES[:3])
    assert enc.image_dates.name == "image_date"


def test_given_catalogue_may_hold_unused_dates():
    catalogue = DATES.append(pd.DatetimeIndex(["2017-07-16"]))
    enc = encode_labels(_labels(), image_dates=[str(d.date()) for d in catalogue])
    assert enc.n_images == 5 and enc.n_states == 6
    assert enc.hi.max() == 3


def test_other_columns_ignored():
    labels = _labels()
    labels["comment"] = ["x"] * 6
    assert encode_labels(labels).n_answers == 6


# ------------------------------------------------------------------------------------------------- states
def test_destruction_state_known_answers():
    dates = pd.DatetimeIndex(["2017-06-01", "2017-06-10", "2017-06-20"])
    on = pd.to_datetime(
        ["2017-01-01", "2017-06-01", "2017-06-02", "2017-06-10", "2017-06-11", "2017-06-20", "2017-06-21", None]
    )
    assert destruction_state(on, dates).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_destruction_state_accepts_series_and_strings():
    dates = pd.DatetimeIndex(["2017-06-01", "2017-06-10"])
    series = pd.Series(["2017-06-05", None, "2017-06-10"], index=["a", "b", "c"])
    assert destruction_state(series, dates).tolist() == [1, 2, 1]


# ------------------------------------------------------------------------------- distinct-value rules
def test_image_date_labels_are_dates_or_timestamps_and_always_distinct():
    from stracker.labels import image_date_labels

    assert image_date_labels(pd.DatetimeIndex(["2017-06-16", "2017-06-20"])) == ["2017-06-16", "2017-06-20"]
    assert image_date_labels(pd.DatetimeIndex(["2017-06-16", "2017-06-16 10:30"])) == [
        "2017-06-16T00:00:00",
        "2017-06-16T10:30:00",
    ]
    fine = image_date_labels(pd.DatetimeIndex(["2017-06-16 10:30:00.25", "2017-06-16 10:30:00.5"]))
    assert len(set(fine)) == 2


@pytest.mark.parametrize("bad", [3, 1.5, True, "1497571200", "26th June"])
def test_numbers_and_other_text_in_a_date_column_are_refused(bad):
    labels = _labels()
    labels["after"] = labels["after"].astype(object)
    labels.loc["r2", "after"] = bad
    _raises(labels, "'after' could not be read as dates", r"\['r2'\]", "ISO")


def test_missing_value_texts_in_dates_are_missing():
    labels = _labels()
    labels["before"] = labels["before"].astype(object)
    labels.loc[["r0", "r1"], "before"] = ["", "NaT"]
    enc = encode_labels(labels)
    assert enc.lo[:2].tolist() == [-1, -1]


@pytest.mark.parametrize("spread", [1, 10**15])
def test_integer_ids_dense_or_sparse_encode_alike(spread):
    labels = _labels()
    labels["building_id"] = labels["building_id"] * spread - 7
    enc = encode_labels(labels)
    assert enc.building_ids.tolist() == sorted(set(labels["building_id"]))
    assert enc.building_ids[enc.building].tolist() == labels["building_id"].tolist()


def test_unhashable_cells_are_named_not_a_type_error():
    labels = _labels()
    labels["destroyed"] = labels["destroyed"].astype(object)
    labels.at["r3", "destroyed"] = [1, 2]
    _raises(labels, r"'destroyed' must be True, False or NA", r"\['r3'\]")
    labels = _labels()
    labels["before"] = labels["before"].astype(object)
    labels.at["r3", "before"] = {"a": 1}
    _raises(labels, "'before' could not be read as dates", r"\['r3'\]")


# ---------------------------------------------------------------------------- fast paths encode alike
def _text_column(values: list, kind: str) -> pd.Series:
    """The same text ids held the ways a table may hold them: Python objects, pandas' str dtype (Arrow),
    string[pyarrow], a categorical with an unused category, an Arrow dictionary column split into chunks."""
    import pyarrow as pa

    if kind == "object":
        return pd.Series(values, dtype=object)
    if kind == "categorical":
        return pd.Series(pd.Categorical(values, categories=[*sorted(set(values), reverse=True), "unused"]))
    if kind == "arrow-dictionary":
        half = len(values) // 2
        chunked = pa.chunked_array(
            [pa.array(values[:half]).dictionary_encode(), pa.array([*values[half:], "unused"]).dictionary_encode()]
        ).slice(0, len(values))
        return pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    return pd.Series(values, dtype=kind)


@pytest.mark.parametrize("kind", ["str", "string[pyarrow]", "categorical", "arrow-dictionary"])
def test_text_ids_held_by_arrow_or_as_categories_encode_as_python_strings(kind):
    labels = _labels(12)
    names = ["zoë", "Anna", "ben", "anna", "b", "ben2"]
    labels["volunteer_id"] = [names[i % 6] for i in range(12)]
    labels["building_id"] = [f"b{i % 5}" for i in range(12)]
    expected = encode_labels(labels.astype({"volunteer_id": object, "building_id": object}))
    for column in ("volunteer_id", "building_id"):
        labels[column] = _text_column(labels[column].tolist(), kind).set_axis(labels.index)
    enc = encode_labels(labels)
    assert enc.volunteer_ids.tolist() == sorted(names)  # Python's order of str: code points
    for name in ("building_ids", "volunteer_ids"):
        assert getattr(enc, name).tolist() == getattr(expected, name).tolist(), name
    for name in ("building", "volunteer", "lo", "hi", "answer", "task"):
        np.testing.assert_array_equal(getattr(enc, name), getattr(expected, name), err_msg=name)
        assert getattr(enc, name).dtype == getattr(expected, name).dtype, name


@pytest.mark.parametrize("kind", ["str", "string[pyarrow]", "arrow-dictionary"])
def test_missing_arrow_text_ids_are_named(kind):
    labels = _labels()
    values = [f"v{i}" for i in range(6)]
    values[4] = None
    labels["volunteer_id"] = _text_column(values, kind).set_axis(labels.index)
    _raises(labels, "volunteer_id is missing", r"\['r4'\]")


@pytest.mark.parametrize(
    ("dtype", "ids"),
    [
        ("int8", [-3, 0, 5, 5, 2, -3]),  # a range with gaps, below zero
        ("uint16", [7, 8, 9, 7, 8, 9]),  # every id of the range: the offsets are the codes
        ("int32", [0, 2**30, 5, 0, 5, 2**30]),  # sparse: hashed
        ("uint64", [2**63 + 4, 2**63 + 1, 2**63 + 1, 2**63 + 9, 2**63 + 4, 2**63 + 1]),  # beyond int64
        ("int64", [0, 2**40, 5, 0, 5, 2**40]),
        ("Int64", [-3, 0, 5, 5, 2, -3]),  # nullable, no missing value
    ],
)
def test_integer_ids_of_any_width_encode_alike(dtype, ids):
    labels = _labels()
    labels["building_id"] = pd.Series(ids, index=labels.index, dtype=dtype)
    enc = encode_labels(labels)
    assert enc.building.dtype == np.int32
    assert enc.building_ids.tolist() == sorted(set(ids))
    assert enc.building_ids[enc.building].tolist() == ids
    assert enc.building_ids.dtype == labels["building_id"].to_numpy().dtype  # Int64: int64


def test_int8_ids_spanning_more_than_the_type_are_offset_without_overflow():
    labels = _labels()
    labels["building_id"] = pd.Series([-128, 127, 0, 127, -128, 1], index=labels.index, dtype="int8")
    enc = encode_labels(labels)
    assert enc.building_ids.tolist() == [-128, 0, 1, 127]
    assert enc.building.tolist() == [0, 3, 1, 3, 0, 2]


@pytest.mark.parametrize("storage", ["str", "string[pyarrow]"])
def test_task_column_of_one_kind_in_arrow_chunks(storage):
    import pyarrow as pa

    labels = _labels()

    def chunked(*chunks: list[str]) -> pd.Series:
        array = pa.chunked_array([pa.array(c, type=pa.large_string()) for c in chunks])
        column = pa.table({"task": array}).to_pandas()["task"].astype(storage).set_axis(labels.index)
        assert column.array.__arrow_array__().num_chunks == len(chunks)  # the chunks survive
        return column

    labels["task"] = chunked(["compare"] * 3, ["compare"] * 3)
    assert encode_labels(labels).task.tolist() == [1] * 6
    labels["task"] = chunked(["timeline"] * 6)
    assert encode_labels(labels).task.tolist() == [0] * 6
    # the bytes of 'compare' six times, cut elsewhere: not six 'compare'
    labels["task"] = chunked(["compare"] * 4, ["comparecompare", ""])
    _raises(labels, r"unknown task kind\(s\) \['', 'comparecompare'\]", r"\['r4', 'r5'\]")


def test_arrow_dictionary_repeating_a_value_is_one_id():
    import pyarrow as pa

    labels = _labels()
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0, 3, 2], pa.int32()), ["a", "b", "a", "c", "z"])
    column = pd.arrays.ArrowExtensionArray(pa.chunked_array([dictionary]))
    labels["volunteer_id"] = pd.Series(column, index=labels.index)
    enc = encode_labels(labels)
    assert enc.volunteer_ids.tolist() == ["a", "b", "c"]  # 'z' is not used: no id
    assert enc.volunteer.tolist() == [0, 1, 0, 0, 2, 0]


def _large_labels(n: int = 250_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2017-06-01", periods=20, freq="5D")
    after = rng.integers(1, 20, n)
    before = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 19, n) % np.maximum(after, 1))
    return pd.DataFrame(
        {
            "building_id": rng.integers(0, 5_000, n),
            "volunteer_id": pd.Series(rng.integers(0, 900, n)).map("v{}".format).astype("str"),
            "before": pd.Series(dates[np.maximum(before, 0)]).where(before >= 0),
            "after": dates[after],
            "destroyed": pd.array(np.where(rng.random(n) < 0.03, None, rng.random(n) < 0.4), dtype="boolean"),
            "task": "compare",
        }
    )


def test_a_large_table_encodes_the_same_on_one_thread_and_on_two():
    from stracker.labels import SIDE_BY_SIDE_ROWS

    labels = _large_labels()
    assert len(labels) >= SIDE_BY_SIDE_ROWS  # the ids are encoded on a thread of their own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateAnswersWarning)
        one, two = encode_labels(labels, threads=1), encode_labels(labels, threads=2)
    for name in ("building", "volunteer", "lo", "hi", "answer", "task"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes(), name
    assert one.volunteer_ids.equals(two.volunteer_ids) and one.image_dates.equals(two.image_dates)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_table_with_faults_in_both_halves_names_the_same_one_first_on_any_threads(threads):
    """The ids are checked on one thread and the dates on another: the volunteer id's fault is still the one
    named, as when they ran one after the other."""
    labels = _large_labels()
    labels.loc[7, "volunteer_id"] = None
    labels.loc[11, "after"] = pd.NaT
    with pytest.raises(LabelsError, match="volunteer_id is missing"):
        encode_labels(labels, threads=threads)
    labels.loc[7, "volunteer_id"] = "v1"
    with pytest.raises(LabelsError, match="after"):
        encode_labels(labels, threads=threads)


def test_threads_are_checked_on_a_small_table_too():
    from stracker.errors import OptionsError

    with pytest.raises(OptionsError, match="threads must be a whole number"):
        encode_labels(_labels(), threads=0)
