"""The consensus EM on Dask (two single-threaded worker processes) beside the in-memory engine.

Compare answers (the two-coin model of ``benchmarks._data``, 180 answers per building, 650 per volunteer) are
written as a Parquet dataset in chunks; the distributed fit reads that dataset, partitions it by building,
builds the shards on the workers and runs a fixed number of EM iterations. Reported: the setup (read, shuffle
by building, encode, index: up to the first E-step), the time per iteration, the whole fit, writing the
per-building table as Parquet, and the peak resident memory of each worker process. The in-memory engine runs on
the same dataset (read with pandas, then ``stracker.aggregate``) in a fresh process, at sizes up to
``--in-memory-max``, and the largest difference of ``p_destroyed`` between the two is reported.

Each file holds its own range of buildings (``--layout by-building``, as an export partitioned by building
would), so the fit finds its partitions disjoint by building and uses them as shards, unshuffled; with
``--layout mixed`` every file spans all buildings and the fit shuffles the answers' codes by building (``--shuffle
tasks`` or ``p2p``); ``--partitions`` asks for another number of shards (a shuffle too). With ``--shuffle none``
the dataset is read indexed by building with its divisions (``calculate_divisions=True``), which declares it
partitioned by building.

Run: ``python -m benchmarks.distributed [--sizes 1e6 5e6] [--iterations 10] [--partitions 8] [--layout mixed]
[--shuffle tasks|p2p|none]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import peak_rss_mb, report

ANSWERS_PER_BUILDING = 180
ANSWERS_PER_VOLUNTEER = 650
CHUNK = 2_000_000  # answers per Parquet file


def write_dataset(n_answers: int, folder: Path, seed: int = 0, layout: str = "by-building") -> dict:
    """Write ``n_answers`` compare answers as Parquet files of CHUNK answers, each about its own buildings.

    ``layout="by-building"``: each file holds a range of building ids (as an export partitioned by building);
    ``"mixed"``: the ids of the files' buildings interleave (file i has ids i, i + n_files, ...), so that every
    file spans the whole range and the fit must shuffle the answers by building."""
    from benchmarks._data import compare_table

    folder.mkdir(parents=True, exist_ok=True)
    n_volunteers = max(n_answers // ANSWERS_PER_VOLUNTEER, 50)
    n_files = -(-n_answers // CHUNK)
    first_building, n_buildings = 0, 0
    for i, start in enumerate(range(0, n_answers, CHUNK)):
        size = min(CHUNK, n_answers - start)
        buildings = max(size // ANSWERS_PER_BUILDING, 10)
        enc, _ = compare_table(size, n_buildings=buildings, n_volunteers=n_volunteers, seed=seed + i)
        dates = enc.image_dates.to_numpy(dtype="datetime64[ns]")
        before = np.where(enc.lo >= 0, dates[np.maximum(enc.lo, 0)], np.datetime64("NaT", "ns"))
        code = enc.building.astype(np.int64)
        table = pd.DataFrame(
            {
                "building_id": code + first_building if layout == "by-building" else code * n_files + i,
                "volunteer_id": enc.volunteer.astype(np.int64),
                "before": before,
                "after": dates[enc.hi],
                "destroyed": enc.answer.astype(bool),
                "task": pd.Categorical(np.full(size, "compare"), categories=["timeline", "compare"]),
            }
        )
        # sorted by building within the file, as an export partitioned by building would be (the fit does not care)
        table.sort_values("building_id", kind="stable").to_parquet(folder / f"part.{i:05d}.parquet", index=False)
        first_building += buildings
        n_buildings += int(np.unique(enc.building).size)
    return {"buildings": n_buildings, "volunteers": n_volunteers}


def run_in_memory(folder: Path, iterations: int, out: Path) -> dict:
    """Read the dataset with pandas, encode and fit in this process; saves p_destroyed to ``out``."""
    import stracker
    from stracker.labels import encode_labels

    start = time.perf_counter()
    labels = pd.read_parquet(folder)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    enc = encode_labels(labels, on_duplicate="ignore")
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    consensus = stracker.aggregate(enc, max_iter=iterations, tol=0.0)
    fit_s = time.perf_counter() - start
    np.save(out, consensus.buildings["p_destroyed"].to_numpy())
    return {
        "read_s": round(read_s, 2),
        "encode_s": round(encode_s, 2),
        "fit_s": round(fit_s, 2),
        "per_iteration_s": round(fit_s / consensus.n_iter, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_distributed(folder: Path, iterations: int, n_partitions: int | None, out: Path, shuffle: str = "tasks") -> dict:
    """Fit the dataset on a two-process LocalCluster; writes the buildings to ``out`` as Parquet."""
    from dask.distributed import Client, LocalCluster

    from stracker import aggregate_distributed

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit="8GB"
        ) as cluster,
        Client(cluster) as client,
    ):
        ticks: list[float] = []
        start = began = time.perf_counter()
        if shuffle == "none":  # each file holds its own buildings: read them as partitions by building
            import dask.dataframe as dd

            labels = dd.read_parquet(str(folder), index="building_id", calculate_divisions=True)
        else:
            labels = str(folder)
        result = aggregate_distributed(
            labels,
            client=client,
            n_partitions=n_partitions,
            max_iter=iterations,
            tol=0.0,
            on_duplicate="ignore",
            shuffle_method="tasks" if shuffle == "none" else shuffle,
            callback=lambda n, ll: ticks.append(time.perf_counter()),
        )
        shuffled = result.shuffled
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        result.to_parquet(out)
        write_s = time.perf_counter() - start
        peaks = client.run(_worker_peak_mb)
        result.close()
    steps = np.diff(ticks)
    return {
        "fit_s": round(fit_s, 2),
        "shuffled": shuffled,
        "to_first_e_step_s": round(ticks[0] - began, 2),  # read, encode, shuffle by building, index, one E-step
        "shards": result.buildings.npartitions,
        "per_iteration_s": round(float(steps.mean()) if steps.size else float("nan"), 3),
        "iterations": len(ticks),
        "write_parquet_s": round(write_s, 2),
        "worker_peak_rss_mb": [round(v, 1) for v in sorted(peaks.values())],
        "client_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 5e6, 2e7])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument(
        "--partitions", type=int, default=None, help="shards (partitions by building); default: the files"
    )
    parser.add_argument(
        "--layout",
        choices=["by-building", "mixed"],
        default="by-building",
        help="by-building: each file holds its own range of buildings (no shuffle needed); mixed: every file "
        "spans all buildings (the fit shuffles)",
    )
    parser.add_argument(
        "--shuffle",
        choices=["tasks", "p2p", "none"],
        default="tasks",
        help="Dask shuffle by building; none: read the dataset indexed by building with its "
        "divisions (each file holds its own buildings), so nothing is shuffled",
    )
    parser.add_argument("--in-memory-max", type=float, default=2e7)
    parser.add_argument("--work", type=Path, default=None, help="folder for the datasets (default: a temp dir)")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        kind, folder, out, partitions = args.one
        if kind == "memory":
            print(json.dumps(run_in_memory(Path(folder), args.iterations, Path(out))))
        else:
            shards = None if partitions == "input" else int(partitions)
            print(json.dumps(run_distributed(Path(folder), args.iterations, shards, Path(out), args.shuffle)))
        return []
    work = args.work or Path(tempfile.mkdtemp(prefix="stracker-distributed-"))
    rows = []
    try:
        for size in args.sizes:
            n = int(size)
            folder = work / f"answers-{n}"
            start = time.perf_counter()
            facts = write_dataset(n, folder, layout=args.layout)
            row: dict = {
                "answers": n,
                **facts,
                "write_dataset_s": round(time.perf_counter() - start, 1),
                "layout": args.layout,
                "partitions": args.partitions,
                "shuffle": args.shuffle,
            }
            dist = _child("distributed", folder, work / f"buildings-{n}", args)
            row |= {f"dask_{k}": v for k, v in dist.items()}
            if n <= args.in_memory_max:
                mem = _child("memory", folder, work / f"p-{n}.npy", args)
                row |= {f"memory_{k}": v for k, v in mem.items()}
                written = pd.read_parquet(work / f"buildings-{n}").sort_index()
                row["max_abs_diff_p_destroyed"] = float(
                    np.abs(written["p_destroyed"].to_numpy() - np.load(work / f"p-{n}.npy")).max()
                )
            rows.append(row)
            print(f"  {n:>12,} answers: dask fit {row['dask_fit_s']} s", file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report("distributed", rows)
    return rows


def _child(kind: str, folder: Path, out: Path, args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.distributed",
            "--iterations",
            str(args.iterations),
            "--shuffle",
            args.shuffle,
            "--one",
            kind,
            str(folder),
            str(out),
            "input" if args.partitions is None else str(args.partitions),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
