"""Side by side on the same compare answers: stracker against crowd-kit, the whole call, and one EM iteration on
one thread and on more.

The answers are ~2 million seeded compare answers written as a platform export (``benchmarks.read_labels``: CSV,
text volunteer ids, 3% can't tell) and read back with ``stracker.read_labels``, as a user would have them; in the
same run:

* the whole call: ``stracker.aggregate(DataFrame)`` with default options (encoding, the fit to convergence and
  the result tables), on every thread and on one, against crowd-kit's ``DawidSkene`` with ``--iterations`` (20)
  iterations on the same answers;
* like for like at the same iteration count: stracker's frame-level ``dawid_skene`` (which reproduces crowd-kit's
  ``DawidSkene``) and its full model (``em``, on the encoded table) against crowd-kit's ``DawidSkene`` and
  ``MajorityVote``, as time ratios. crowd-kit gets integer task codes (crowd-kit 1.4.2 fails under pandas 3 with
  string task ids);
* one EM iteration of the full model (the E-step on blocks of buildings, the M-step's statistics and the M-step)
  on one thread and on ``--threads`` (default 2), against the memory-bandwidth floor: one weighted
  ``np.bincount`` over the same answers, and the same floor split in ``--threads`` equal parts run side by side
  (what the machine's memory gives a pass over the answers on that many threads: the anchor of the iteration's
  thread ratio);
* the command line end to end: ``stracker aggregate answers.csv --footprints footprints.gpkg --out
  consensus.gpkg`` in a fresh process (reading the CSV and 11,000 footprints, the fit, writing the GeoPackage).

Targets (issue 15, 2 cores): the whole call at least 40 times faster than crowd-kit's DawidSkene with 20
iterations, and under 0.6 s; the command line under 5 s; one EM iteration on 2 threads at most 0.6 times its
time on one, and within 5 times the bincount floor.

Run: ``python -m benchmarks.versus_crowdkit [--answers 2000000] [--iterations 20] [--repeat 3] [--threads 2]``
(crowd-kit is in the ``bench`` extra; ``--skip-crowdkit`` and ``--skip-cli`` leave those parts out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import alternate_best, best_of, load_average, peak_rss_mb, report


def crowdkit_frame(enc) -> pd.DataFrame:
    """The answers as crowd-kit's long format: one task per (building, before, after) frame."""
    told = enc.answer >= 0
    S = enc.n_states
    key = (enc.building[told].astype(np.int64) * (S + 1) + enc.lo[told] + 1) * (S + 1) + enc.hi[told] + 1
    _, task = np.unique(key, return_inverse=True)
    return pd.DataFrame(
        {"task": task, "worker": enc.volunteer[told].astype(np.int64), "label": enc.answer[told].astype(np.int64)}
    )


def em_iteration(enc, threads: int, repeat: int = 5) -> dict[str, float]:
    """Seconds of one EM iteration (the E-step, the M-step's statistics and the M-step) on 1 and on ``threads``
    threads, and of one weighted bincount over the answers."""
    from stracker.consensus.blocks import BlockedAnswerModel
    from stracker.consensus.em import MStep

    def m_step() -> MStep:
        return MStep.start(enc.volunteer_ids, enc.image_dates)

    weights = np.random.default_rng(0).random(enc.n_answers)
    codes = enc.building.astype(np.intp)
    parts = list(zip(np.array_split(codes, threads), np.array_split(weights, threads), strict=True))
    pool = ThreadPoolExecutor(threads)

    def floor_threads() -> None:
        list(pool.map(lambda part: np.bincount(part[0], weights=part[1], minlength=enc.n_buildings), parts))

    with BlockedAnswerModel(enc, threads=1) as one, BlockedAnswerModel(enc, threads=threads) as many:
        steps = {"one": (one, m_step()), "many": (many, m_step())}

        def iteration(key: str) -> None:
            model, learn = steps[key]
            learn.update(model.e_step(learn.state(), eager=True).statistics)  # as fit_em runs it

        best = alternate_best(
            {
                "one": lambda: iteration("one"),
                "many": lambda: iteration("many"),
                "floor": lambda: np.bincount(codes, weights=weights, minlength=enc.n_buildings),
                "floor_threads": floor_threads,
            },
            repeat,
        )
        pool.shutdown()
        best["blocks"] = len(one.blocks)
    return best


def write_footprints(n_buildings: int, path: Path) -> Path:
    """Squares of 10 m, one per building id 0..n-1, on a grid in a metric CRS, as a GeoPackage."""
    import geopandas as gpd
    import shapely

    ids = np.arange(n_buildings)
    x, y = (ids % 100) * 20.0, (ids // 100) * 20.0
    frame = gpd.GeoDataFrame({"building_id": ids}, geometry=shapely.box(x, y, x + 10, y + 10), crs="EPSG:32637")
    frame.to_file(path, layer="buildings", engine="pyogrio")
    return path


def cli_seconds(csv_path: Path, footprints: Path, out: Path, repeat: int) -> float:
    """Best wall time of ``stracker aggregate`` end to end, in a fresh process each time."""
    command = [sys.executable, "-m", "stracker.cli", "-q", "aggregate", str(csv_path), "--footprints", str(footprints)]
    command += ["--out", str(out), "--overwrite"]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2_000_000)
    parser.add_argument("--buildings", type=int, default=11_000)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="threads set beside one")
    parser.add_argument("--skip-crowdkit", action="store_true", help="only stracker (no bench extra needed)")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the command line end to end")
    args = parser.parse_args(argv)

    import stracker
    from benchmarks.read_labels import export_table, write_files

    load_before = load_average()
    k = args.iterations
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path, _ = write_files(export_table(args.answers, n_buildings=args.buildings), folder)
        labels = stracker.read_labels(csv_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random answers repeat by chance: the warning is part of the work timed
            enc = stracker.encode_labels(labels)
            whole = alternate_best(
                {
                    "all": lambda: stracker.aggregate(labels, threads=args.threads),
                    "one": lambda: stracker.aggregate(labels, threads=1),
                },
                args.repeat,
            )
            used = stracker.aggregate(labels, threads=args.threads).n_iter
        timings = {}
        timings["stracker em"], em = best_of(lambda: stracker.aggregate(enc, max_iter=k, tol=0.0), args.repeat)
        timings["stracker dawid_skene"], ds = best_of(
            lambda: stracker.aggregate(enc, method="dawid_skene", max_iter=k, tol=-np.inf), args.repeat
        )
        timings["stracker majority"], _ = best_of(lambda: stracker.aggregate(enc, method="majority"), args.repeat)
        assert em.n_iter == k and ds.n_iter == k
        if not args.skip_crowdkit:
            from crowdkit.aggregation import DawidSkene, MajorityVote

            frame = crowdkit_frame(enc)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                ck = DawidSkene(n_iter=k, tol=-np.inf).fit(frame)
                timings["crowd-kit DawidSkene"] = time.perf_counter() - start
                start = time.perf_counter()
                MajorityVote().fit(frame)
                timings["crowd-kit MajorityVote"] = time.perf_counter() - start
            assert len(ck.loss_history_) == k
            # same answers, same iterations: the frame posteriors agree
            ours = ds.frames["p_destroyed"].to_numpy()
            theirs = ck.probas_.sort_index()[1].to_numpy()
            agreement = float(np.abs(ours - theirs).max())
        cli_s = None
        if not args.skip_cli:
            footprints = write_footprints(int(enc.building_ids.max()) + 1, folder / "footprints.gpkg")
            cli_s = cli_seconds(csv_path, footprints, folder / "consensus.gpkg", args.repeat)
    iteration = em_iteration(enc, args.threads, repeat=max(5, args.repeat))
    anchor = timings.get("crowd-kit DawidSkene")

    def versus(seconds: float) -> dict:
        return {"crowdkit_ds_over_this": round(anchor / seconds, 1)} if anchor else {}

    for name, key in (
        (f"stracker aggregate(DataFrame), whole call, {args.threads} threads", "all"),
        ("stracker aggregate(DataFrame), whole call, 1 thread", "one"),
    ):
        rows.append(
            {"method": name, "answers": enc.n_answers, "iterations": used, "seconds": round(whole[key], 3)}
            | versus(whole[key])
        )
    rows[-2]["one_thread_over_this"] = round(whole["one"] / whole["all"], 2)
    for name, seconds in timings.items():
        row = {
            "method": name,
            "answers": enc.n_answers,
            "iterations": k if "Majority" not in name and "majority" not in name else 0,
            "seconds": round(seconds, 3),
        }
        rows.append(row | versus(seconds))
    if cli_s is not None:
        rows.append(
            {
                "method": "stracker aggregate CLI, CSV + footprints -> GeoPackage",
                "answers": enc.n_answers,
                "iterations": used,
                "seconds": round(cli_s, 3),
            }
        )
    for name, key in ((f"one em iteration, {args.threads} threads", "many"), ("one em iteration, 1 thread", "one")):
        rows.append(
            {
                "method": name,
                "answers": enc.n_answers,
                "blocks": iteration["blocks"],
                "seconds": round(iteration[key], 4),
                "vs_bincount_floor": round(iteration[key] / iteration["floor"], 2),
            }
        )
    rows[-2]["this_over_one_thread"] = round(iteration["many"] / iteration["one"], 2)
    rows.append({"method": "np.bincount floor", "answers": enc.n_answers, "seconds": round(iteration["floor"], 4)})
    rows.append(
        {
            "method": f"np.bincount floor in {args.threads} parts on {args.threads} threads",
            "answers": enc.n_answers,
            "seconds": round(iteration["floor_threads"], 4),
            "this_over_one_thread": round(iteration["floor_threads"] / iteration["floor"], 2),
        }
    )
    if not args.skip_crowdkit:
        rows.append({"method": "max |stracker - crowd-kit| frame posterior", "seconds": None, "agreement": agreement})
    print(f"load average at the start: {load_before}")
    for row in rows:
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report("versus_crowdkit", rows)
    return rows


if __name__ == "__main__":
    main()
