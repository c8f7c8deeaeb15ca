"""Fit time of the consensus engine: the raqqa timeline campaign and 2 million compare answers.

Targets (2 cores): 2 million compare answers fitted in under 2 s. Each case is fitted ``--repeat`` times;
the best wall time is reported with the iterations used and the time per iteration. ``em + spatial`` is ``em``
with the footprints (the spatial-temporal prior); ``vs_em_per_iteration`` is its time per iteration over
``em``'s, measured in the same run.

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
    return simulate(base.replace(tasks={"design": "compare", "questions_per_volunteer": questions}))


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
    for design, sim in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc = stracker.encode_labels(sim.labels, sim.image_dates)
        for method in ("em", "majority", "dawid_skene", "em + spatial"):
            if method == "em + spatial":
                seconds, consensus = best_of(
                    lambda e=enc, s=sim: stracker.aggregate(e, footprints=s.buildings), args.repeat
                )
            else:
                seconds, consensus = best_of(lambda m=method, e=enc: stracker.aggregate(e, method=m), args.repeat)
            metrics = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
            rows.append(
                {
                    "design": design,
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
    per_iteration = {(r["design"], r["method"]): r["s_per_iteration"] for r in rows}
    for row in rows:
        if row["method"] == "em + spatial":
            row["vs_em_per_iteration"] = round(row["s_per_iteration"] / per_iteration[row["design"], "em"], 2)
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report(f"aggregate_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    main()
