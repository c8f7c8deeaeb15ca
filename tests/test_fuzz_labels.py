"""Fuzz: randomly corrupted label tables, in memory and as CSV and Parquet files, through read_labels and aggregate.

Only the package's own exceptions (StrackerError subclasses) may come out; any other exception is a bug to fix
where it starts. A table that is accepted is used whole: every row counts in the consensus.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import stracker
from stracker.errors import StrackerError

N_TABLES = 150
GARBAGE_TEXT = [
    "",
    " ",
    "nan",
    "NaT",
    "None",
    "2017-02-30",
    "2017-06-04T00:00:00+02:00",
    "x;y",
    "é",
    "1e5",
    "-1",
    "007",
    "12",
    "True",
    "[]",
    "0x1F",
    "2017/06/04",
    "04/06/2017",
    "inf",
    "  2017-06-04  ",
    "26th June",
]
GARBAGE_VALUES = [
    1.5,
    3,
    True,
    -7,
    2**70,
    pd.Timestamp("2017-06-04", tz="UTC"),
    b"x",
    {"a": 1},
    [1, 2],
    float("inf"),
    np.datetime64("2017-06-04"),
    complex(1, 2),
    pd.Timestamp("1500-01-01").to_pydatetime(),
]


@pytest.fixture(scope="module")
def base(small) -> pd.DataFrame:
    labels = small.labels.drop(columns="frames_viewed")
    return labels.sample(60, random_state=0).reset_index(drop=True)


def _corrupt(rng: np.random.Generator, table: pd.DataFrame) -> pd.DataFrame:
    """One to six random corruptions: drop or misspell a column, nulls, garbage text, wrong types, duplicate
    rows, swapped or shuffled dates, truncation."""
    t = table.copy()
    columns = list(table.columns)
    for _ in range(rng.integers(1, 7)):
        op = int(rng.integers(0, 10))
        col = columns[rng.integers(len(columns))]
        if col not in t.columns or len(t) == 0:
            continue
        rows = rng.choice(len(t), size=rng.integers(1, 5))
        if op == 0:
            t = t.drop(columns=col)
        elif op == 1:
            t = t.rename(columns={col: col[:-1] + "x"})
        elif op in (2, 3):
            t[col] = t[col].astype(object)
            t.loc[rows, col] = None if op == 2 else np.nan
        elif op in (4, 5):
            t[col] = t[col].astype(object)
            pool = GARBAGE_TEXT if op == 4 else GARBAGE_VALUES
            for r in rows:
                t.at[r, col] = pool[rng.integers(len(pool))]
        elif op == 6:
            t = pd.concat([t, t.iloc[rows]], ignore_index=True)
        elif op == 7 and {"before", "after"} <= set(t.columns):
            t[["before", "after"]] = t[["before", "after"]].astype(object)
            t.loc[rows, ["before", "after"]] = t.loc[rows, ["after", "before"]].to_numpy()
        elif op == 8:
            t[col] = rng.permutation(t[col].to_numpy())
        elif op == 9:
            t = t.iloc[: rng.integers(0, 3)]
    return t


def _write(table: pd.DataFrame, path, route: str, i: int) -> None:
    if route == "csv":
        table.to_csv(path, index=False, sep=",;"[i % 2], encoding="utf-8-sig" if i % 3 == 0 else "utf-8")
        return
    try:
        table.to_parquet(path, index=False)
    except Exception:  # pyarrow cannot store a column of mixed objects: store its text, as an export would
        table.astype(str).to_parquet(path, index=False)


@pytest.mark.parametrize("route", ["memory", "csv", "parquet"])
def test_corrupted_tables_raise_only_stracker_errors(tmp_path, base, route):
    rng = np.random.default_rng(20170606)
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(N_TABLES):
        table = _corrupt(rng, base)
        method = ("em", "majority", "dawid_skene")[i % 3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate answers warn; that is not what this test is about
            try:
                if route == "memory":
                    labels = table
                else:
                    path = tmp_path / f"t{i}.{route}"
                    _write(table, path, route, i)
                    labels = stracker.read_labels(path)
                    assert len(labels) == len(table)
                consensus = stracker.aggregate(labels, method=method)
            except StrackerError:
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"table {i} ({route}, {method}) raised {type(exc).__name__}: {exc}\n{table!r}")
        outcomes["accepted"] += 1
        assert consensus.buildings["n_labels"].sum() == len(labels)
        assert np.allclose(consensus.posterior.sum(axis=1), 1.0)
    assert outcomes["refused"] > N_TABLES // 3 and outcomes["accepted"] > 5, outcomes


# ------------------------------------------------------------------------ properties of any valid table
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from stracker.labels import duplicate_answers, duplicate_mask, encode_labels  # noqa: E402

# text ids that stay text by the id rule (not plain whole numbers, no blanks around, not a missing-value spelling),
# with the characters that need quoting in a CSV: separators, quotes, a newline
_TEXT_ID = st.text(alphabet="ab_é,;|\t\"'\n 0123456789", min_size=1, max_size=6).map(lambda s: f"v{s}x")
_INT_ID = st.integers(-(10**12), 10**12)


@st.composite
def valid_tables(draw) -> pd.DataFrame:
    n_images = draw(st.integers(2, 6))
    with_times = draw(st.booleans())
    offsets = sorted(
        draw(st.sets(st.integers(0, 400 * 24 * (60 if with_times else 1)), min_size=n_images, max_size=n_images))
    )
    unit = "min" if with_times else "D"
    catalogue = pd.Timestamp("2017-05-30") + pd.to_timedelta(offsets, unit=unit)
    n = draw(st.integers(1, 25))
    id_kind = draw(st.sampled_from(["int", "text"]))
    ids = _INT_ID if id_kind == "int" else _TEXT_ID
    buildings = draw(st.lists(ids, min_size=1, max_size=5, unique=True))
    volunteers = draw(
        st.lists(_TEXT_ID | _INT_ID if id_kind == "text" else _INT_ID, min_size=1, max_size=4, unique_by=str)
    )
    if id_kind == "text":  # one type per column: text volunteers if any is text
        volunteers = [str(v) if not isinstance(v, str) else v for v in volunteers]
        volunteers = [v if not v.lstrip("-").isdigit() else f"u{v}" for v in volunteers]
    rows = []
    for _ in range(n):
        hi = draw(st.integers(0, n_images - 1))
        lo = draw(st.integers(-1, hi - 1))
        rows.append(
            {
                "building_id": draw(st.sampled_from(buildings)),
                "volunteer_id": draw(st.sampled_from(volunteers)),
                "before": catalogue[lo] if lo >= 0 else pd.NaT,
                "after": catalogue[hi],
                "destroyed": draw(st.sampled_from([True, False, None])),
                "task": draw(st.sampled_from(["timeline", "compare"])),
            }
        )
    table = pd.DataFrame(rows)
    table["before"] = table["before"].astype("datetime64[ns]")
    table["after"] = table["after"].astype("datetime64[ns]")
    table["destroyed"] = table["destroyed"].astype("boolean")
    return table


def _same_labels(read: pd.DataFrame, table: pd.DataFrame) -> None:
    assert read.index.tolist() == list(range(len(table)))
    for name in ("building_id", "volunteer_id", "task"):
        assert read[name].tolist() == table[name].tolist(), name
    for name in ("before", "after"):
        np.testing.assert_array_equal(
            read[name].to_numpy(dtype="datetime64[ns]"), table[name].to_numpy(dtype="datetime64[ns]")
        )
    assert read["destroyed"].dtype == "boolean"
    assert read["destroyed"].isna().tolist() == table["destroyed"].isna().tolist()
    assert read["destroyed"].fillna(False).tolist() == table["destroyed"].fillna(False).tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=valid_tables(), sep=st.sampled_from([",", ";", "\t", "|"]), bom=st.booleans())
def test_read_labels_of_a_written_csv_round_trips_any_valid_table(tmp_path, table, sep, bom):
    path = tmp_path / "answers.csv"
    table.to_csv(path, index=False, sep=sep, encoding="utf-8-sig" if bom else "utf-8")
    _same_labels(stracker.read_labels(path), table)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=valid_tables())
def test_read_labels_of_a_written_parquet_round_trips_any_valid_table(tmp_path, table):
    path = tmp_path / "answers.parquet"
    table.to_parquet(path, index=False)
    _same_labels(stracker.read_labels(path), table)


@settings(max_examples=40, deadline=None)
@given(table=valid_tables(), seed=st.integers(0, 2**32 - 1))
def test_encode_labels_does_not_depend_on_row_order(table, seed):
    order = np.random.default_rng(seed).permutation(len(table))
    shuffled = table.iloc[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = encode_labels(table), encode_labels(shuffled)
    pd.testing.assert_index_equal(a.building_ids, b.building_ids)
    pd.testing.assert_index_equal(a.volunteer_ids, b.volunteer_ids)
    pd.testing.assert_index_equal(a.image_dates, b.image_dates)
    assert b.row_index.tolist() == order.tolist()
    for name in ("building", "volunteer", "lo", "hi", "answer", "task"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name)[order], err_msg=name)
    np.testing.assert_array_equal(duplicate_answers(b), duplicate_answers(a)[order])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    n_buildings=st.integers(1, 5),
    n_volunteers=st.sampled_from([1, 3, 10**6, 10**9]),
    n_images=st.sampled_from([2, 4, 40_000]),
    seed=st.integers(0, 2**32 - 1),
)
def test_duplicate_answers_are_the_rows_pandas_finds_duplicated(n, n_buildings, n_volunteers, n_images, seed):
    # 10**9 volunteers and 40,000 images force the renumbered keys (the packed key would not fit 63 bits);
    # 10**6 volunteers and 40,000 images leave no room for the row numbers below the key (one sort, then a sieve)
    rng = np.random.default_rng(seed)
    hi = rng.integers(1, min(n_images, 4), n).astype(np.int32)  # codes as encode_labels makes them: lo < hi < D
    codes = {
        "building": rng.integers(0, n_buildings, n).astype(np.int32),
        "volunteer": rng.integers(0, min(n_volunteers, 3), n).astype(np.int32) * (n_volunteers // 3 or 1),
        "lo": np.maximum(hi - rng.integers(1, 3, n), -1).astype(np.int32),
        "hi": hi,
        "answer": rng.integers(-1, 2, n).astype(np.int8),
        "task": rng.integers(0, 2, n).astype(np.int8),
    }
    expected = pd.DataFrame(codes).duplicated(keep=False).to_numpy()
    found = duplicate_mask(*codes.values(), n_volunteers=n_volunteers, n_images=n_images)
    np.testing.assert_array_equal(found, expected)


def _held_as(values: pd.Series, kind: str) -> pd.Series:
    """The same column held another way: Python objects, pandas' str (Arrow), string[pyarrow], categorical, an
    Arrow dictionary in two chunks, or (integers) another integer type."""
    import pyarrow as pa

    if kind == "categorical":
        return values.astype("category")
    if kind == "arrow-dictionary":
        half = len(values) // 2
        chunks = [
            pa.array(part.tolist(), pa.string()).dictionary_encode()
            for part in (values.iloc[:half], values.iloc[half:])
        ]
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks)), index=values.index)
    return values.astype(kind)


_TEXT_KINDS = ["object", "str", "string[pyarrow]", "categorical", "arrow-dictionary"]
_INT_KINDS = ["int64", "int32", "uint32", "Int64", "object", "categorical"]


@settings(max_examples=60, deadline=None)
@given(
    table=valid_tables(),
    kinds=st.tuples(st.sampled_from(_TEXT_KINDS), st.sampled_from(_TEXT_KINDS), st.sampled_from(_TEXT_KINDS)),
    small_ids=st.booleans(),
    duplicated=st.integers(0, 3),
)
def test_encode_labels_does_not_depend_on_how_columns_are_held(table, kinds, small_ids, duplicated):
    # every way pandas may hold the id and task columns (the fast paths: Arrow's hash pass or a dictionary's
    # codes for text, the lookup table of a dense range of integers) encodes as Python objects do, duplicates too
    table = pd.concat([table, table.iloc[:duplicated]], ignore_index=True)
    if small_ids:  # a dense range of small integers (a lookup table) instead of the drawn ids
        for name in ("building_id", "volunteer_id"):
            table[name] = pd.factorize(table[name])[0] * 2 + 3
    reference = table.astype({"building_id": object, "volunteer_id": object, "task": object})
    held = table.copy()
    for name, kind in zip(("building_id", "volunteer_id", "task"), kinds, strict=True):
        if pd.api.types.is_integer_dtype(table[name].dtype):
            kind = _INT_KINDS[_TEXT_KINDS.index(kind)]
            if not small_ids and kind in ("int32", "uint32"):  # the drawn ids span +-10**12
                kind = "int64"
        held[name] = _held_as(table[name], kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = encode_labels(reference), encode_labels(held)
    for name in ("building_ids", "volunteer_ids"):
        assert getattr(b, name).tolist() == getattr(a, name).tolist(), name
    for name in ("building", "volunteer", "lo", "hi", "answer", "task"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    np.testing.assert_array_equal(duplicate_answers(b), duplicate_answers(a))
    expected = table.duplicated(keep=False).to_numpy()
    np.testing.assert_array_equal(duplicate_answers(b), expected)
