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
GARBAGE_TEXT = ["", " ", "nan", "NaT", "None", "2017-02-30", "2017-06-04T00:00:00+02:00", "x;y", "é", "1e5", "-1",
                "007", "12", "True", "[]", "0x1F", "2017/06/04", "04/06/2017", "inf", "  2017-06-04  ", "26th June"]
GARBAGE_VALUES = [1.5, 3, True, -7, 2**70, pd.Timestamp("2017-06-04", tz="UTC"), b"x", {"a": 1}, [1, 2],
                  float("inf"), np.datetime64("2017-06-04"), complex(1, 2), pd.Timestamp("1500-01-01").to_pydatetime()]


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    labels = stracker.simulate("small", seed=0).labels.drop(columns="frames_viewed")
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
