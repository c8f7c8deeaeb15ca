"""How long ``stracker plan`` takes: the adaptive campaign on its incremental fit, beside the exact planner.

The exact planner refits every answer in full after every round (``run_adaptive(refit_share=0,
refit_options=EMOptions())``: a full EM fit, warm-started, after every round, as the planner did before the
incremental fit); the incremental one updates only the buildings a round asked about and refits warm and
loosely every few rounds (:class:`stracker.consensus.incremental.IncrementalFit`). Both run in this process on
the same world, one after the other, so their ratio is taken in the same conditions; each row gives the
campaign's time, the part of it spent fitting, its rounds and frames viewed, the final evaluation and the
machine's load average when it started.

Target (issue 15): the raqqa information-gain campaign under 15 s, with the exact planner's accuracy.

Run: ``python -m benchmarks.plan [--preset raqqa] [--designs infogain bisection] [--seeds 0 1 2]
[--budget FRAMES] [--no-exact]`` (budget: a quarter of the preset's timeline campaign's frames).
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks._common import RESULTS, report

METRICS = ("mae_days", "state_accuracy", "ci_coverage", "f1")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--designs", nargs="+", default=["infogain", "bisection"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", type=int, default=None, help="frames viewed at most")
    parser.add_argument("--no-exact", dest="exact", action="store_false", help="skip the exact planner")
    args = parser.parse_args(argv)

    import stracker
    from stracker.consensus.em import EMOptions
    from stracker.tasking import run_adaptive

    planners = {"incremental": {}, "exact": {"refit_share": 0.0, "refit_options": EMOptions()}}
    if not args.exact:
        del planners["exact"]
    rows = []
    for seed in args.seeds:
        sim = stracker.simulate(args.preset, seed=seed)
        budget = args.budget or int(sim.labels["frames_viewed"].sum()) // 4
        for design in args.designs:
            seconds = {}
            for planner, options in planners.items():
                load = os.getloadavg()[0]
                start = time.perf_counter()
                campaign = run_adaptive(sim, design, budget=budget, seed=seed, record=False, **options)
                seconds[planner] = time.perf_counter() - start
                last = campaign.history.iloc[-1]
                rows.append(
                    {
                        "preset": args.preset,
                        "seed": seed,
                        "design": design,
                        "planner": planner,
                        "seconds": round(seconds[planner], 2),
                        "fit_s": round(float(campaign.history["aggregate_s"].sum()), 2),
                        "rounds": int(last["round"]),
                        "frames_viewed": campaign.frames_viewed,
                        **{key: round(float(last[key]), 4) for key in METRICS},
                        "load": round(load, 2),
                    }
                )
            if "exact" in seconds:
                rows[-2]["exact_over_incremental"] = round(seconds["exact"] / seconds["incremental"], 2)
    report(f"plan_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    main()
