"""Fit time of the consensus engine: the raqqa timeline campaign and 2 million compare answers.

Targets (2 cores): 2 million compare answers fitted in under 2 s. Each case is fitted ``--repeat`` times;
the best wall time is reported with the iterations used and the time per iteration. ``em`` also runs with the
simulator's visibility (``em + visibility``), on compare answers with the per-image compare reliability
(``em + image reliability``), and with the footprints (``em + spatial``: the spatial-temporal prior);
``per_iteration_vs_em`` is their time per iteration over plain ``em``'s, same run. Every fit runs on
``--threads`` threads; plain ``em`` also on one (``fit_1_thread_s``, the two taken in turn).

Run: ``python -m benchmarks.aggregate [--answers 2000000] [--repeat 3] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import warnings

from benchmarks._common import alternate_best, peak_rss_mb, report


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
    parser.add_argument("--threads", type=int, default=2, help="threads of the fits (em also on one)")
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
            "em": lambda n, e=enc: stracker.aggregate(e, threads=n),
            "em + visibility": lambda n, e=enc, v=visibility: stracker.aggregate(e, visibility=v, threads=n),
            "majority": lambda n, e=enc: stracker.aggregate(e, method="majority", threads=n),
            "dawid_skene": lambda n, e=enc: stracker.aggregate(e, method="dawid_skene", threads=n),
            "em + spatial": lambda n, e=enc, f=sim.buildings: stracker.aggregate(e, footprints=f, threads=n),
        }
        if task == "compare":
            reliability = stracker.EMOptions(compare_image_reliability=True)
            variants["em + image reliability"] = lambda n, e=enc, o=reliability: stracker.aggregate(
                e, options=o, threads=n
            )
        for method, fit in variants.items():
            last = {}

            def run(n: int, fit=fit, last=last) -> None:
                last["consensus"] = fit(n)

            runs = {"many": lambda run=run: run(args.threads)}
            if method == "em":
                runs["one"] = lambda run=run: run(1)
            best = alternate_best(runs, args.repeat)  # the consensus of any of them: the same numbers
            seconds, consensus = best["many"], last["consensus"]
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
                    "fit_1_thread_s": round(best["one"], 3) if "one" in best else None,
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
