"""Wall time and peak memory of simulating the raqqa preset end to end (target: < 20 s, < 2 GB).

Run: ``python -m benchmarks.simulate [--preset raqqa] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmarks._common import best_of, peak_rss_mb, report


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from stracker.simulation import simulate

    seconds, sim = best_of(lambda: simulate(args.preset, seed=0), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sim.save(tmp)
        save_seconds = time.perf_counter() - start
    # the main job end to end, as `stracker simulate` runs it: simulate, save, aggregate, evaluate, write
    from click.testing import CliRunner

    from stracker.cli import cli

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["simulate", "--preset", args.preset, "--seed", "0", "--out", tmp, "--json"])
        end_to_end = time.perf_counter() - start
        if result.exit_code != 0:
            raise RuntimeError(result.output)
    s = sim.summary()
    rows = [
        {
            "preset": args.preset,
            "buildings": s["buildings"],
            "answers": s["answers"],
            "frames_viewed": s["frames_viewed"],
            "simulate_s": round(seconds, 3),
            **{f"{stage}_s": round(t, 3) for stage, t in sim.timings.items()},
            "save_s": round(save_seconds, 3),
            "end_to_end_s": round(end_to_end, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    ]
    report(f"simulate_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    main()
