"""Fit time of the consensus engine: the raqqa timeline campaign and 2 million compare answers.

Targets (2 cores): 2 million compare answers fitted in under 2 s. Each case is fitted ``--repeat`` times;
the best wall time is reported with the iterations used and the time per iteration. ``em`` also runs with the
simulator's visibility (``em + visibility``), on compare answers with the per-image compare reliability
(``em + image reliability``), and with the footprints (``em + spatial``: the spatial-temporal prior);
``per_iteration_vs_em`` is their time per iteration over plain ``em``'s, same run.

Run: ``python -m benchmarks.aggregate [--answers 2000000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import warnings

from benchmarks._common import best_of, peak_rss_mb, report


def compare_campaign(n_answers: int, seed: int = 0):
    """A raqqa-scale compare campaign (11,000 buildings, 50 images, ~3,000 volunteers) of about n answers."""
    from stracker.scenario import Scenario
    from stracker.simulation import simulate

    base = Scenario.preset("raqqa", seed=seed)
    per_building = base.tasks.volunteers_per_building
    questions = max(1, round(n_answers / (base.city.n_buildings * per_building)))
    return simulate(base.replace(tasks={"task": "compare", "questions_per_volunteer": questions}))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2_000_000, help="compare answers in the large case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    args = parser.parse_args(argv)

    import stracker
    from stracker.simulation import simulate

    rows = []
    cases = [("timeline", simulate(args.preset, seed=0))]
    if args.preset == "raqqa":
        cases.append(("compare", compare_campaign(args.answers)))
    for task, sim in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc = stracker.encode_labels(sim.labels, sim.image_dates)
        visibility = sim.visibility_table()
        variants = {
            "em": lambda e=enc: stracker.aggregate(e),
            "em + visibility": lambda e=enc, v=visibility: stracker.aggregate(e, visibility=v),
            "majority": lambda e=enc: stracker.aggregate(e, method="majority"),
            "dawid_skene": lambda e=enc: stracker.aggregate(e, method="dawid_skene"),
            "em + spatial": lambda e=enc, f=sim.buildings: stracker.aggregate(e, footprints=f),
        }
        if task == "compare":
            reliability = stracker.EMOptions(compare_image_reliability=True)
            variants["em + image reliability"] = lambda e=enc, o=reliability: stracker.aggregate(e, options=o)
        for method, fit in variants.items():
            seconds, consensus = best_of(fit, args.repeat)
            metrics = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "answers": enc.n_answers,
                    "buildings": enc.n_buildings,
                    "images": enc.n_images,
                    "volunteers": enc.n_volunteers,
                    "fit_s": round(seconds, 3),
                    "iterations": consensus.n_iter,
                    "s_per_iteration": round(seconds / max(consensus.n_iter, 1), 4),
                    "mae_days": round(float(metrics["mae_days"]), 3),
                    "f1": round(float(metrics["f1"]), 4),
                }
            )
    plain = {row["task"]: row["s_per_iteration"] for row in rows if row["method"] == "em"}
    for row in rows:
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if row["method"].startswith("em"):
            row["per_iteration_vs_em"] = round(row["s_per_iteration"] / max(plain[row["task"]], 1e-9), 2)
    report(f"aggregate_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    main()
