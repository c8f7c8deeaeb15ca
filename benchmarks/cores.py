"""What a second thread gives on this machine, by kind of work: the anchor for every two-thread ratio.

The in-memory engine's thread ratio (one EM iteration on 2 threads over its time on one) depends on the machine as
much as on the code: two virtual CPUs may be two cores, or two hyperthreads of one core sharing its execution
units and caches. Three compiled loops, each run on one thread and then the same loop on two threads at once (each
thread its own copy of the data), tell them apart:

* ``latency-bound``: one running sum (each addition waits for the last), in the core's L1 cache. Two
  hyperthreads of one core run two such chains at full speed, as two cores do.
* ``throughput-bound``: four independent running sums over the same data. Two cores run two at full speed; two
  hyperthreads share one core's adders, at about half speed each.
* ``memory stream``: one pass over 64 MB. Two threads share the memory's bandwidth on any machine.

Printed per loop: the time of one thread's work, the time of two threads' work side by side, and their ratio over
the time one thread takes to do both threads' work alone (0.5: the second thread doubles the work done; 1.0: it
adds nothing). The E-step's compiled passes are bound by their scattered additions (latency), its passes over
buildings x states and numpy's exponentials by throughput, the set-up's sorts by memory.

Then what a round of work on two threads costs beside the work, which is what a small table's iteration pays
(a 200,000-answer E-step is two blocks of about 0.3 ms each):

* ``hand-off``: the median time from handing a pool thread a task to its running it (the other virtual CPU woken
  from idle), and of one :func:`stracker.parallel.thread_map` round of two empty items (a wake to start, a wake
  to join).
* ``GIL convoy``: a run of small numpy calls (20 exponentials of 5,000 numbers, each releasing and taking the
  GIL), on one thread and on two at once, as the ratio above: where each call's hand-over of the GIL wakes the
  other thread, two threads do less than one.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from benchmarks._common import load_average, report


@numba.njit(nogil=True, cache=True)
def _one_chain(values: np.ndarray, repeat: int) -> float:  # pragma: no cover - compiled
    total = 0.0
    for _ in range(repeat):
        for i in range(values.size):
            total += values[i]
    return total


@numba.njit(nogil=True, cache=True)
def _four_chains(values: np.ndarray, repeat: int) -> float:  # pragma: no cover - compiled
    a = b = c = d = 0.0
    for _ in range(repeat):
        for i in range(0, values.size - 3, 4):
            a += values[i]
            b += values[i + 1]
            c += values[i + 2]
            d += values[i + 3]
    return a + b + c + d


def side_by_side_ratio(fn, size: int, repeat: int, runs: int) -> dict[str, float]:
    """Best seconds of ``fn`` on one thread, of two copies at once on two threads, and the ratio over one thread
    doing both (2 x the first)."""
    copies = [np.ones(size), np.ones(size)]
    fn(copies[0], 1)  # compiled (or loaded from the cache) before timing
    with ThreadPoolExecutor(2) as pool:
        one = two = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            fn(copies[0], repeat)
            one = min(one, time.perf_counter() - start)
            start = time.perf_counter()
            list(pool.map(lambda values: fn(values, repeat), copies))
            two = min(two, time.perf_counter() - start)
    return {"one_thread_s": one, "two_threads_s": two, "ratio": two / (2 * one)}


def _small_numpy_calls(values: np.ndarray, repeat: int) -> None:
    """20 exponentials of ``values`` per repeat: numpy calls short enough that handing the GIL over is most of them."""
    for _ in range(20 * repeat):
        np.exp(values)


def handoff_figures(runs: int = 2000) -> list[dict]:
    """The hand-off latency of the shared pool and one empty round of :func:`stracker.parallel.thread_map`
    (medians, in seconds), and the GIL convoy of small numpy calls on two threads (:func:`side_by_side_ratio`)."""
    from stracker.parallel import shared_pool, thread_map

    pool = shared_pool()
    pool.submit(lambda: None).result()
    latency, rounds = [], []
    for _ in range(runs):
        start = time.perf_counter()
        latency.append(pool.submit(time.perf_counter).result() - start)
        start = time.perf_counter()
        thread_map(lambda item: item, [0, 1], threads=2)
        rounds.append(time.perf_counter() - start)
    return [
        {"loop": "hand-off: submit to a pool thread running", "median_s": float(np.median(latency))},
        {"loop": "hand-off: one thread_map round of two empty items", "median_s": float(np.median(rounds))},
        {
            "loop": "GIL convoy: 20 numpy calls on 5,000 numbers",
            **side_by_side_ratio(_small_numpy_calls, 5_000, 1, max(1, runs // 4)),
        },
    ]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=float, default=2e7, help="additions per thread and loop")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--handoffs", type=int, default=2000, help="rounds of the hand-off figures (medians)")
    args = parser.parse_args(argv)
    print(f"load average at the start: {load_average()}")
    work = int(args.work)
    rows = []
    for name, fn, size in [
        ("latency-bound: one running sum, 16 KB", _one_chain, 2_000),
        ("throughput-bound: four running sums, 16 KB", _four_chains, 2_000),
        ("throughput-bound: four running sums, 800 KB", _four_chains, 100_000),
        ("memory stream: four running sums, 64 MB", _four_chains, 8_000_000),
    ]:
        repeat = max(1, work // size)
        rows.append({"loop": name, **side_by_side_ratio(fn, size, repeat, args.runs)})
    rows += handoff_figures(args.handoffs)
    report("cores", rows)
    return rows


if __name__ == "__main__":
    main()
