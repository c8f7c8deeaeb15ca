"""Scaling of the consensus fit from 200,000 to 20 million compare answers: time and peak memory per answer, on one
thread and on more.

The campaign grows as a country-scale one would: answers per building (about 180) and per volunteer (about
650) stay fixed, so buildings and volunteers grow with the answers. Each size runs in a fresh process so its
peak memory is its own; the answers are generated as arrays in that process (not timed) and fitted
(``stracker.aggregate`` of the encoded table: setting up the blocks, the EM, the result tables) with a fixed
number of EM iterations, so the time per answer compares like with like. The peak is that of the first fit
(on ``--threads`` threads); the times are the best of ``--repeat`` fits on ``--threads`` threads and on one,
taken in turn; ``--repeat`` defaults to about 10 million answers' worth of fits per size (50 at 200,000, 3 at 20
million), as a single fit of the smallest sizes, a few hundredths of a second, varies by half from minute to minute
on a shared machine.

Targets (issue 15, 2 cores): 20 million answers in under 15 s and 4 GB; time per answer flat within 20% from
200,000 up; 2 threads at most 0.6 times the time on one.

The sizes are swept ``--rounds`` times (default 2: ascending, then descending; each size in a fresh process every
round) and each size keeps its best: this host's speed drifts from minute to minute, which one sweep would turn into
differences between the sizes.

Run: ``python -m benchmarks.scaling [--sizes 2e5 1e6 2e7] [--iterations 10] [--repeat N] [--threads 2] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks._common import peak_rss_mb, report

ANSWERS_PER_BUILDING = 180
ANSWERS_PER_VOLUNTEER = 650
DEFAULT_SIZES = (2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7)


def run_one(n_answers: int, iterations: int, repeat: int = 1, threads: int = 2) -> dict:
    """Generate and fit one size in this process; returns its figures (peak of the first fit, best times)."""
    import stracker
    from benchmarks._data import compare_table

    enc, _ = compare_table(
        n_answers,
        n_buildings=max(n_answers // ANSWERS_PER_BUILDING, 100),
        n_volunteers=max(n_answers // ANSWERS_PER_VOLUNTEER, 50),
    )
    baseline = peak_rss_mb()
    start = time.perf_counter()
    n_iter = stracker.aggregate(enc, max_iter=iterations, tol=0.0, threads=threads).n_iter
    first = time.perf_counter() - start
    peak = peak_rss_mb()  # of the first fit: the repeats hold one result while the next fit runs
    best = {"many": first, "one": float("inf")}
    for _ in range(repeat):
        for key, n in (("one", 1), ("many", threads)):
            start = time.perf_counter()
            stracker.aggregate(enc, max_iter=iterations, tol=0.0, threads=n)
            best[key] = min(best[key], time.perf_counter() - start)
    return {
        "answers": n_answers,
        "buildings": enc.n_buildings,
        "volunteers": enc.n_volunteers,
        "iterations": n_iter,
        "threads": threads,
        "fit_s": round(best["many"], 5),
        "ns_per_answer_iteration": round(best["many"] / n_iter / n_answers * 1e9, 2),
        "fit_1_thread_s": round(best["one"], 5),
        "ns_per_answer_iteration_1_thread": round(best["one"] / n_iter / n_answers * 1e9, 2),
        "threads_over_1_thread": round(best["many"] / best["one"], 2),
        "peak_rss_mb": round(peak, 1),
        "fit_bytes_per_answer": round((peak - baseline) * 2**20 / n_answers, 1),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=float, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument(
        "--repeat",
        type=int,
        help="fits per size and thread count, the best reported (default: 10 million answers' worth, from 3 to 50)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads set beside one")
    parser.add_argument(
        "--rounds", type=int, default=2, help="sweeps over the sizes (ascending, then descending), the best kept"
    )
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        repeat = args.repeat or min(max(3, round(1e7 / args.one)), 50)
        print(json.dumps(run_one(int(args.one), args.iterations, repeat, args.threads)))
        return []
    # every size once per round, ascending then descending, each size's best over the rounds: this host's speed
    # drifts from minute to minute, and a sweep in one direction would put the drift into the sizes' ratios
    best: dict[float, dict] = {}
    for round_ in range(args.rounds):
        for size in args.sizes if round_ % 2 == 0 else list(reversed(args.sizes)):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.scaling",
                    "--one",
                    str(size),
                    "--iterations",
                    str(args.iterations),
                    *(["--repeat", str(args.repeat)] if args.repeat else []),
                    "--threads",
                    str(args.threads),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  round {round_ + 1}: {int(size):>12,} answers: {row['fit_s']} s, 1 thread {row['fit_1_thread_s']} s",
                file=sys.stderr,
            )
            if size in best:
                for key in ("fit_s", "fit_1_thread_s"):  # the best of the rounds, each key on its own
                    row[key] = min(row[key], best[size][key])
                row["peak_rss_mb"] = max(row["peak_rss_mb"], best[size]["peak_rss_mb"])
            best[size] = row
    rows = [best[size] for size in args.sizes]
    for row in rows:
        n, n_iter = row["answers"], row["iterations"]
        row["ns_per_answer_iteration"] = round(row["fit_s"] / n_iter / n * 1e9, 2)
        row["ns_per_answer_iteration_1_thread"] = round(row["fit_1_thread_s"] / n_iter / n * 1e9, 2)
        row["threads_over_1_thread"] = round(row["fit_s"] / row["fit_1_thread_s"], 2)
    first, first_one = rows[0]["ns_per_answer_iteration"], rows[0]["ns_per_answer_iteration_1_thread"]
    for row in rows:
        row["time_per_answer_vs_smallest"] = round(row["ns_per_answer_iteration"] / first, 3)
        row["time_per_answer_vs_smallest_1_thread"] = round(row["ns_per_answer_iteration_1_thread"] / first_one, 3)
    for key, label in (
        ("ns_per_answer_iteration", f"{args.threads} threads"),
        ("ns_per_answer_iteration_1_thread", "1 thread"),
    ):
        values = [row[key] for row in rows]
        spread = max(values) / min(values)
        print(
            f"time per answer, {label}: {min(values)}-{max(values)} ns, largest / smallest {spread:.2f} (at most 1.2)"
        )
    report("scaling", rows)
    return rows


if __name__ == "__main__":
    main()
