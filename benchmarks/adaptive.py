"""Frames viewed against dating accuracy: the timeline task and the random, bisection and information-gain designs.

The timeline campaign is Strike Trackers' (each building scanned by k volunteers, k = 1..7); the adaptive
designs run in rounds on the same simulated world (:func:`stracker.tasking.run_adaptive`) and their accuracy
is recorded after every round, so one campaign per design traces its whole curve. Writes a figure
(``results/adaptive_<preset>.png``) beside the JSON.

Target: the accuracy of the timeline campaign with at most a quarter of its frames viewed.

``--spatial`` adds the same campaigns aggregated with the spatial-temporal prior over the footprints
(``stracker.aggregate(..., footprints=)``; campaigns ``timeline+spatial`` and ``<design>+spatial``: every round's
questions and retirement use the spatial posterior); ``--visibility`` adds campaigns that know the world's
clouds (``+vis``: ``stracker.aggregate(..., visibility=)`` and ``run_adaptive(..., visibility=True)``, with the
spatial prior too when ``--spatial`` is given); ``--designs`` picks the adaptive designs to run.

Run: ``python -m benchmarks.adaptive [--preset raqqa] [--budget FRAMES] [--retire-mass 0.9]
[--max-retire-mass 0.9999] [--designs infogain ...] [--spatial] [--visibility]`` (budget: a quarter of the full timeline
campaign's frames; a campaign stops early when every building is settled at ``--max-retire-mass``).
"""

from __future__ import annotations

import argparse
import warnings

from benchmarks._common import RESULTS, report

METRICS = ("mae_days", "state_accuracy", "ci_coverage", "f1")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="raqqa", choices=["raqqa", "small"])
    parser.add_argument("--budget", type=float, default=None, help="frames for the adaptive designs")
    parser.add_argument("--retire-mass", type=float, default=0.9)
    parser.add_argument("--max-retire-mass", type=float, default=0.9999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", nargs="+", default=None, help="adaptive designs (default: all)")
    parser.add_argument("--spatial", action="store_true", help="also with the spatial prior")
    parser.add_argument("--visibility", action="store_true", help="also knowing the world's clouds")
    parser.add_argument("--skip-plain", action="store_true", help="leave out the campaigns that know neither")
    args = parser.parse_args(argv)

    import stracker
    from stracker.scenario import Scenario
    from stracker.tasking import DESIGNS, run_adaptive

    base = Scenario.preset(args.preset, seed=args.seed)
    rows = []
    knows = [(False, False)] if not args.skip_plain else []
    knows += [(True, False)] if args.spatial else []
    knows += [(args.spatial, True)] if args.visibility else []
    for spatial, visibility in knows:
        for k in range(1, base.tasks.volunteers_per_building + 1):
            sim = stracker.simulate(base.replace(tasks={"volunteers_per_building": k}))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                consensus = stracker.aggregate(
                    sim.labels,
                    sim.image_dates,
                    footprints=sim.buildings if spatial else None,
                    visibility=sim.visibility_table() if visibility else None,
                )
            m = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
            rows.append(
                {
                    "campaign": "timeline" + _suffix(spatial, visibility),
                    "step": k,
                    "frames_viewed": int(sim.labels["frames_viewed"].sum()),
                    **{key: round(float(m[key]), 4) for key in METRICS},
                }
            )
    timeline_frames = max(r["frames_viewed"] for r in rows)
    budget = int(args.budget or timeline_frames // 4)
    for design in args.designs or DESIGNS:
        for spatial, visibility in knows:
            campaign = run_adaptive(
                sim,
                design,
                budget=budget,
                seed=args.seed,
                retire_mass=args.retire_mass,
                max_retire_mass=args.max_retire_mass,
                spatial=spatial,
                visibility=visibility,
            )
            for entry in campaign.history.to_dict("records"):
                rows.append(
                    {
                        "campaign": design + _suffix(spatial, visibility),
                        "step": int(entry["round"]),
                        "frames_viewed": int(entry["frames_viewed"]),
                        **{key: round(float(entry[key]), 4) for key in METRICS},
                    }
                )
    path = report(f"adaptive_{args.preset}", rows)
    _figure(rows, timeline_frames, path.with_suffix(".png"))
    return rows


def _suffix(spatial: bool, visibility: bool) -> str:
    return ("+spatial" if spatial else "") + ("+vis" if visibility else "")


def _figure(rows: list[dict], timeline_frames: int, path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric, label in zip(
        axes,
        ("mae_days", "state_accuracy", "ci_coverage"),
        ("mean date error (days)", "exact state", "90% interval coverage"),
        strict=True,
    ):
        for campaign in dict.fromkeys(r["campaign"] for r in rows):
            points = [(r["frames_viewed"], r[metric]) for r in rows if r["campaign"] == campaign]
            marker = "o" if campaign.startswith("timeline") else None
            ax.plot(*zip(*points, strict=True), marker=marker, label=campaign)
        ax.axvline(timeline_frames / 4, color="#999999", linestyle=":", label="a quarter of the timeline's")
        ax.set(xscale="log", xlabel="frames viewed", ylabel=label)
        if metric == "mae_days":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=100)
    print(f"-> {path}")


if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    main()
