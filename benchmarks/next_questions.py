"""How long ``stracker next`` takes: the next batch of a partial campaign, per design, library and command line.

``next`` re-aggregates every answer so far each time (it is stateless: answers in, questions out), so its time
is one fit of the whole table plus choosing. Partial campaigns on the preset's world:

* ``timeline, half``: one volunteer's timeline answer about half the buildings (the others have none yet);
* ``timeline, all``: the whole simulated timeline campaign (every building, ``volunteers_per_building`` each);
* ``after plan``: the compare answers of an information-gain campaign (:func:`stracker.tasking.run_adaptive`)
  up to ``--plan-frames`` frames viewed.

For each, the library call (:func:`stracker.tasking.next_questions`, split into its aggregation and the rest),
given the world's visibility as the command line is (so both fit with it), and ``stracker next`` end to end on
files (Parquet answers, GeoPackage footprints, Parquet catalogue, the
``visibility.npy`` array; reading, choosing and writing a Zooniverse manifest), best of ``--repeat``.

Run: ``python -m benchmarks.next_questions [--preset raqqa] [--repeat 3] [--plan-frames 200000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks._common import RESULTS, best_of, report


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plan-frames", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from click.testing import CliRunner

    import stracker
    from stracker.cli import cli
    from stracker.tasking import campaign_state, next_questions, run_adaptive

    sim = stracker.simulate(args.preset, seed=args.seed)
    ids = sim.buildings["building_id"]
    half = np.random.default_rng(args.seed).choice(ids, len(ids) // 2, replace=False)
    first = sim.labels.drop_duplicates("building_id")
    plan = run_adaptive(sim, "infogain", budget=args.plan_frames, seed=args.seed, record=False)
    campaigns = {
        "timeline, half": first[first["building_id"].isin(half)],
        "timeline, all": sim.labels,
        "after plan": plan.labels,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sim.save(directory)
        for name, labels in campaigns.items():
            answers = directory / "answers.parquet"
            labels.drop(columns=[c for c in ("frames_viewed", "round") if c in labels]).to_parquet(answers)
            for design in ("infogain", "bisection", "random"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    aggregate_s, _ = best_of(
                        lambda labels=labels: campaign_state(
                            labels, sim.image_dates, buildings=ids, visibility=sim.visibility, on_duplicate="ignore"
                        ),
                        args.repeat,
                    )
                    next_s, batch = best_of(
                        lambda labels=labels, design=design: next_questions(
                            labels,
                            sim.image_dates,
                            buildings=ids,
                            visibility=sim.visibility,
                            design=design,
                            on_duplicate="ignore",
                        ),
                        args.repeat,
                    )
                command = [
                    "next",
                    str(answers),
                    "--images",
                    str(directory / "images.parquet"),
                    "--footprints",
                    str(directory / "buildings.gpkg"),
                    "--visibility",
                    str(directory / "visibility.npy"),
                    "--design",
                    design,
                    "--format",
                    "zooniverse",
                    "--out",
                    str(directory / "manifest.csv"),
                    "--overwrite",
                    "--json",
                ]
                cli_s = float("inf")
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    result = CliRunner().invoke(cli, command)
                    cli_s = min(cli_s, time.perf_counter() - start)
                    assert result.exit_code == 0, result.output
                summary = batch.summary()
                rows.append(
                    {
                        "campaign": name,
                        "answers": len(labels),
                        "design": design,
                        "questions": summary["questions"],
                        "retired": summary["retired"],
                        "aggregate_s": round(aggregate_s, 3),
                        "next_s": round(next_s, 3),
                        "choose_s": round(max(next_s - aggregate_s, 0.0), 3),
                        "cli_s": round(cli_s, 3),
                    }
                )
    report(f"next_{args.preset}", rows)
    return rows


if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    main()
