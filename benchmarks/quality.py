"""Dating quality of the consensus on seeded simulated campaigns, against the baselines and the oracle.

For each design (timeline, compare) and crowd (as in the preset; with 15% of volunteers answering at random
and 5% answering the opposite), aggregates with ``em``, ``majority``, ``dawid_skene`` and the oracle (the same
model given the simulator's true volunteer parameters and prior) and prints the evaluation metrics.

Run: ``python -m benchmarks.quality [--preset raqqa] [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import warnings

from benchmarks._common import report

SPAM = {"random_share": 0.15, "adversarial_share": 0.05}
METRICS = ("f1", "state_accuracy", "mae_days", "p90_error_days", "ci_coverage", "ci_width_days", "brier")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)

    import stracker
    from stracker.scenario import Scenario
    from stracker.simulation import simulate

    rows = []
    for seed in args.seeds:
        for design in ("timeline", "compare"):
            for crowd in ("preset", "spam"):
                scenario = Scenario.preset(args.preset, seed=seed).replace(tasks={"design": design})
                if crowd == "spam":
                    scenario = scenario.replace(crowd=SPAM)
                sim = simulate(scenario)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    enc = stracker.encode_labels(sim.labels, sim.image_dates)
                fits = {
                    "em": stracker.aggregate(enc),
                    "majority": stracker.aggregate(enc, method="majority"),
                    "dawid_skene": stracker.aggregate(enc, method="dawid_skene"),
                    "oracle": stracker.aggregate(enc, volunteer_params=sim.volunteers, prior=sim.true_prior()),
                }
                for method, consensus in fits.items():
                    m = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
                    rows.append({"seed": seed, "design": design, "crowd": crowd, "method": method,
                                 "answers": enc.n_answers, **{k: round(float(m[k]), 4) for k in METRICS}})
    report(f"quality_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    main()
