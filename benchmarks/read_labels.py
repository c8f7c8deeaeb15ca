"""Reading answers: ``stracker.read_labels`` of CSV and Parquet beside pyarrow's own reader of the same file,
and ``encode_labels`` beside the ``np.bincount`` floor.

The answers are ~2 million seeded compare answers (``benchmarks._data.compare_table``) written as an export
would hold them: integer building ids, text volunteer ids (``volunteer_0042``), ISO dates (``before`` blank for
a one-image question), ``destroyed`` as yes/no with 3% blank (can't tell), ``task`` compare. They are written
once to a temporary directory as CSV (pyarrow's writer, no quotes: these values need none, as pandas writes
them) and as Parquet (typed columns: int64, string, timestamp, nullable boolean). In the same run, each reader
is timed on the same file (best of ``--repeat``): ``read_labels`` does all its checks (every bad row would be
named), pyarrow only parses.
``encode_labels`` of the table read from the CSV (duplicate check included; ids, dates and answers checked) is
set beside one weighted ``np.bincount`` over the same number of answers, the memory-bandwidth floor used in
``versus_crowdkit.py``; its CPU time (``cpu_s``, best of ``--repeat``) is given too, being less sensitive than
wall time to other jobs on a shared machine. It runs with the text volunteer ids as read (pandas' ``str``, held
by Arrow), with them as a categorical (their codes are used as they are) and with them replaced by integers.

Targets (issue 15; 2 cores): ``read_labels`` within 3x of pyarrow on both formats; ``encode_labels`` of 2
million rows under 0.25 s.

Run: ``python -m benchmarks.read_labels [--answers 2000000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import best_of, peak_rss_mb, report
from benchmarks._data import compare_table


def export_table(n_answers: int, seed: int = 0, n_buildings: int = 11_000) -> pd.DataFrame:
    """Compare answers as a platform export holds them (text dates and answers), seeded."""
    enc, _ = compare_table(n_answers, n_buildings=n_buildings, seed=seed)
    dates = enc.image_dates.strftime("%Y-%m-%d").to_numpy(dtype=object)
    before = np.where(enc.lo >= 0, dates[np.maximum(enc.lo, 0)], "")
    answers = np.array(["no", "yes"], dtype=object)[enc.answer]
    answers[np.random.default_rng(seed + 1).random(enc.n_answers) < 0.03] = ""
    volunteers = np.array([f"volunteer_{i:04d}" for i in range(enc.n_volunteers)], dtype=object)
    return pd.DataFrame(
        {
            "building_id": enc.building.astype(np.int64),
            "volunteer_id": volunteers[enc.volunteer],
            "before": before,
            "after": dates[enc.hi],
            "destroyed": answers,
            "task": "compare",
        }
    )


def write_files(table: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """The table as CSV (text, as exported) and as Parquet (typed, as a pipeline would store it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv_path, parquet_path = folder / "answers.csv", folder / "answers.parquet"
    pacsv.write_csv(
        pa.Table.from_pandas(table, preserve_index=False),
        csv_path,
        write_options=pacsv.WriteOptions(quoting_style="none"),
    )  # as pandas writes these values
    typed = table.assign(
        before=pd.to_datetime(table["before"].replace("", None), format="ISO8601"),
        after=pd.to_datetime(table["after"], format="ISO8601"),
        destroyed=pd.array(table["destroyed"].map({"yes": True, "no": False, "": None}), dtype="boolean"),
    )
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), parquet_path)
    return csv_path, parquet_path


def _cpu_seconds(fn) -> float:
    """CPU time of one call of a single-threaded step: less sensitive than wall time to other jobs' load."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import stracker

    table = export_table(args.answers, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, parquet_path = write_files(table, Path(tmp))
        for kind, path, anchor_name, anchor in (
            ("csv", csv_path, "pyarrow.csv.read_csv", pacsv.read_csv),
            ("parquet", parquet_path, "pyarrow.parquet.read_table", pq.read_table),
        ):
            anchor_s, _ = best_of(lambda a=anchor, p=path: a(p), args.repeat)
            seconds, labels = best_of(lambda p=path: stracker.read_labels(p), args.repeat)
            assert len(labels) == len(table)
            rows.append(
                {
                    "step": f"read_labels ({kind})",
                    "answers": len(labels),
                    "seconds": round(seconds, 4),
                    "anchor": anchor_name,
                    "anchor_s": round(anchor_s, 4),
                    "ratio_to_anchor": round(seconds / anchor_s, 2),
                    "mb_on_disk": round(path.stat().st_size / 2**20, 1),
                }
            )
        labels = stracker.read_labels(csv_path)
    integer_ids = labels.assign(volunteer_id=pd.factorize(labels["volunteer_id"])[0])
    categorical_ids = labels.assign(volunteer_id=labels["volunteer_id"].astype("category"))
    for case, table_in in (
        ("text volunteer ids", labels),
        ("categorical volunteer ids", categorical_ids),
        ("integer volunteer ids", integer_ids),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random answers repeat by chance: the warning is part of the work timed
            seconds, enc = best_of(lambda t=table_in: stracker.encode_labels(t), args.repeat)
            cpu_s = min(_cpu_seconds(lambda t=table_in: stracker.encode_labels(t)) for _ in range(args.repeat))
        weights = np.random.default_rng(0).random(enc.n_answers)
        codes = enc.building.astype(np.intp)
        floor_s, _ = best_of(
            lambda c=codes, w=weights, e=enc: np.bincount(c, weights=w, minlength=e.n_buildings), args.repeat
        )
        rows.append(
            {
                "step": f"encode_labels ({case})",
                "answers": enc.n_answers,
                "seconds": round(seconds, 4),
                "cpu_s": round(cpu_s, 4),
                "anchor": "np.bincount floor",
                "anchor_s": round(floor_s, 4),
                "ratio_to_anchor": round(seconds / floor_s, 1),
            }
        )
    for row in rows:
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report("read_labels", rows)
    return rows


if __name__ == "__main__":
    main()
