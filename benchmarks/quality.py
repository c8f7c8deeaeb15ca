"""Dating quality of the consensus on seeded simulated campaigns, against the baselines and the oracle.

For each design (timeline, compare) and crowd, aggregates with ``em``, ``majority``, ``dawid_skene``, the
oracle (the same model given the simulator's true volunteer parameters and prior) and ``spatial`` (``em`` with the
footprints: the spatial-temporal prior, :mod:`stracker.consensus.spatial`) and prints the evaluation
metrics. On compare campaigns ``bayes`` is the Bayes posterior under the simulator's own answer model, with each
frame's true partial cloud at the building, every volunteer's true parameters and the realised share of buildings
in each state as prior: the best a model of independent buildings can do for exact state, Brier and log score
(its most probable state is not built to minimise the date error, and an aggregator using the spatial
correlation of destruction and clouds could do better still).

Crowds: ``preset``; ``spam``, the same world and questions with 15% of volunteers answering at random and 5%
answering the opposite (they take a fifth of the answers from honest volunteers; as the kind shares change, some
careful volunteers also become careless ones); and ``honest``, the spam campaign's answers without the
spammers'. Two readings of "error growth with spammers" follow, printed at the end: ``spam`` against ``preset``
(the spammers replace honest answers: the information they take away is lost to every aggregator, and the Bayes
posterior's error grows as much) and ``spam`` against ``honest`` (the spammers' answers are added to the same
honest ones: what the aggregator makes of them). ``few``: the preset with 4 volunteers per building instead of 7
(the spatial prior's target: today's accuracy with 7 reached with 4). The spatial prior's targets are printed at
the end: on compare campaigns its date error against ``bayes`` (the best a model of independent buildings can
do), on timeline campaigns ``spatial`` with 4 volunteers against ``em`` with 7, and the lowest coverage.

Run: ``python -m benchmarks.quality [--preset raqqa] [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from benchmarks._common import report

SPAM = {"random_share": 0.15, "adversarial_share": 0.05}
METRICS = ("f1", "state_accuracy", "mae_days", "p90_error_days", "ci_coverage", "ci_width_days", "brier", "log_score")
FEW = 4  # volunteers per building of the "few" crowd


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
            for crowd in ("preset", "spam", "few"):
                scenario = Scenario.preset(args.preset, seed=seed).replace(tasks={"design": design})
                if crowd == "spam":
                    scenario = scenario.replace(crowd=SPAM)
                if crowd == "few":
                    scenario = scenario.replace(tasks={"volunteers_per_building": FEW})
                sim = simulate(scenario)
                tables = {crowd: sim.labels}
                if crowd == "spam":
                    spammers = sim.volunteers.index[sim.volunteers["kind"].isin(["random", "adversarial"])]
                    tables["honest"] = sim.labels[~sim.labels["volunteer_id"].isin(spammers)]
                for name, labels in tables.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        enc = stracker.encode_labels(labels, sim.image_dates)
                    fits = {
                        "em": stracker.aggregate(enc),
                        "majority": stracker.aggregate(enc, method="majority"),
                        "dawid_skene": stracker.aggregate(enc, method="dawid_skene"),
                        "oracle": stracker.aggregate(enc, volunteer_params=sim.volunteers, prior=sim.true_prior()),
                        "spatial": stracker.aggregate(enc, footprints=sim.buildings),
                    }
                    if design == "compare":
                        fits["bayes"] = bayes_compare(sim, enc, fits["oracle"])
                    for method, consensus in fits.items():
                        m = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
                        rows.append(
                            {
                                "seed": seed,
                                "design": design,
                                "crowd": name,
                                "method": method,
                                "answers": enc.n_answers,
                                **{k: round(float(m[k]), 4) for k in METRICS},
                            }
                        )
    report(f"quality_{args.preset}", rows)
    growth(rows)
    spatial_targets(rows)
    return rows


def bayes_compare(sim, enc, like):
    """The Bayes consensus of a compare campaign under the simulator's answer model: the true partial cloud of
    every frame at every building, the true volunteer parameters and the realised state shares as prior
    (``like``, a consensus of the same table, gives the tables around the posterior)."""
    import dataclasses

    import pandas as pd

    from stracker.consensus.model import posterior_and_evidence
    from stracker.consensus.result import summarize_posterior
    from stracker.crowd.answers import compare_answer_model
    from stracker.labels import COMPARE

    sc = sim.scenario
    building_row = pd.Index(sim.buildings["building_id"]).get_indexer(enc.building_ids)
    volunteer_row = sim.volunteers.index.get_indexer(enc.volunteer_ids)
    used = (enc.task == COMPARE) & (enc.answer >= 0)
    b, lo, hi, yes = enc.building[used], enc.lo[used].astype(np.int64), enc.hi[used].astype(np.int64), enc.answer[used]
    p_in, p_out, _ = compare_answer_model(
        building_row[b],
        volunteer_row[enc.volunteer[used]],
        lo,
        hi,
        sim.visibility,
        sim.volunteers,
        sc.imagery,
        sc.crowd,
    )
    p_in, p_out = (np.clip(p, 1e-12, 1 - 1e-12) for p in (p_in, p_out))  # a perfect volunteer: finite logs
    log_in = np.where(yes == 1, np.log(p_in), np.log1p(-p_in))
    log_out = np.where(yes == 1, np.log(p_out), np.log1p(-p_out))
    # log-likelihood ratio of each answer over the states in its interval: one difference array
    B, S = enc.n_buildings, enc.n_states
    diff = np.bincount(
        np.concatenate([b * (S + 1) + lo + 1, b * (S + 1) + hi + 1]),
        weights=np.concatenate([log_in - log_out, log_out - log_in]),
        minlength=B * (S + 1),
    )
    log_prior = np.log(np.maximum(sim.true_prior(), 1e-300))
    posterior, _ = posterior_and_evidence(np.cumsum(diff.reshape(B, S + 1), axis=1)[:, :S], log_prior)
    buildings = summarize_posterior(enc, posterior)
    buildings[["n_labels", "n_volunteers"]] = like.buildings[["n_labels", "n_volunteers"]]
    return dataclasses.replace(like, posterior=posterior, buildings=buildings, method="bayes")


def growth(rows: list[dict]) -> None:
    """Print the relative growth of the mean date error with spammers, in both readings."""
    mae = {(r["seed"], r["design"], r["crowd"], r["method"]): r["mae_days"] for r in rows}
    print(
        "mean date error growth with spammers: replacing honest answers (spam / preset), added to them (spam / honest)"
    )
    for (seed, design, crowd, method), value in mae.items():
        if crowd == "spam":
            replaced = value / mae[seed, design, "preset", method] - 1
            added = value / mae[seed, design, "honest", method] - 1
            print(f"  seed {seed} {design:8s} {method:11s} replacing {replaced:+.0%}  added {added:+.0%}")


def spatial_targets(rows: list[dict]) -> None:
    """Print the spatial prior's targets: its date error on compare campaigns against the Bayes posterior of
    independent buildings (target: 20% below), on timeline campaigns with 4 volunteers per building against
    ``em`` with the preset's (target: as accurate), and its lowest 90% interval coverage (target: 0.88)."""
    by = {(r["seed"], r["design"], r["crowd"], r["method"]): r for r in rows}
    print("spatial prior: targets")
    for (seed, design, crowd, method), row in by.items():
        em = by[seed, design, crowd, "em"]
        if method == "spatial" and design == "compare":
            bayes = by[seed, design, crowd, "bayes"]["mae_days"]
            print(
                f"  seed {seed} compare {crowd:6s}: date error {row['mae_days']:.3g} d, "
                f"{row['mae_days'] / bayes - 1:+.0%} against bayes ({bayes:.3g} d); em {em['mae_days']:.3g} d"
            )
        if method == "spatial" and design == "timeline" and crowd == "few":
            full = by[seed, design, "preset", "em"]
            print(
                f"  seed {seed} timeline, {FEW} volunteers: exact state {row['state_accuracy']:.4f}, date error "
                f"{row['mae_days']:.3g} d, log score {row['log_score']:.3f}; em with the preset's volunteers "
                f"{full['state_accuracy']:.4f}, {full['mae_days']:.3g} d, {full['log_score']:.3f}; em with {FEW} "
                f"{em['state_accuracy']:.4f}, {em['mae_days']:.3g} d, {em['log_score']:.3f}"
            )
    coverage = [r["ci_coverage"] for r in rows if r["method"] == "spatial"]
    print(f"  lowest 90% interval coverage of spatial: {min(coverage):.3f}")


if __name__ == "__main__":
    main()
