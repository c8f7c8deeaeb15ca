"""Dating quality of the consensus on seeded simulated campaigns, against the baselines and the oracle.

For each task (timeline, compare) and crowd, aggregates with ``em``, ``majority``, ``dawid_skene``, the
oracle (the same model given the simulator's true volunteer parameters and prior) and ``spatial`` (``em`` with the
footprints: the spatial-temporal prior, :mod:`stracker.consensus.spatial`; ``spatial_vis`` with the visibility
too) and prints the evaluation
metrics (``log_score``: mean -log posterior of the true state, lower is better). ``em_vis`` and ``oracle_vis``
are the same two given each building's visibility in each image (``Simulation.visibility_table()``, as
``stracker.aggregate(visibility=)`` takes it). ``bayes`` is the Bayes posterior under the simulator's own
answer model (:func:`bayes_timeline`, :func:`bayes_compare`), with each frame's true visibility at the building,
every volunteer's true parameters and kind and the realised share of buildings in each state as prior: the best a
model of independent buildings can do for exact state, Brier and log score (its most probable state is not built
to minimise the date error, and an aggregator using the spatial correlation of destruction and clouds could do
better still).

Compare campaigns also run ``em_rel`` (``EMOptions(compare_image_reliability=True)``), and a ``hard`` crowd: the
preset's compare answers with those about five images (a seeded choice) replaced by coin flips, images hard to
read for everyone, aggregated by ``em``, ``em_rel`` and the oracle (which does not know the hard images).

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
N_HARD = 5  # images of the "hard" compare crowd whose answers are coin flips


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
        for task in ("timeline", "compare"):
            for crowd in ("preset", "spam", "few"):
                scenario = Scenario.preset(args.preset, seed=seed).replace(tasks={"task": task})
                if crowd == "spam":
                    scenario = scenario.replace(crowd=SPAM)
                if crowd == "few":
                    scenario = scenario.replace(tasks={"volunteers_per_building": FEW})
                sim = simulate(scenario)
                tables = {crowd: sim.labels}
                if crowd == "spam":
                    spammers = sim.volunteers.index[sim.volunteers["kind"].isin(["random", "adversarial"])]
                    tables["honest"] = sim.labels[~sim.labels["volunteer_id"].isin(spammers)]
                elif crowd == "preset" and task == "compare":
                    tables["hard"] = hard_images(sim, seed)
                for name, labels in tables.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        enc = stracker.encode_labels(labels, sim.image_dates)
                    fits = _fits(stracker, sim, enc, task, name)
                    for method, consensus in fits.items():
                        m = stracker.evaluate(consensus, sim.truth).set_index("metric")["value"]
                        rows.append(
                            {
                                "seed": seed,
                                "task": task,
                                "crowd": name,
                                "method": method,
                                "answers": enc.n_answers,
                                **{k: round(float(m[k]), 4) for k in METRICS},
                            }
                        )
    report(f"quality_{args.preset}", rows)
    growth(rows)
    gaps(rows)
    spatial_targets(rows)
    return rows


def _fits(stracker, sim, enc, task: str, crowd: str) -> dict:
    """Every method's consensus of one table (the ``hard`` crowd: em with and without per-image reliability)."""
    truth_params = {"volunteer_params": sim.volunteers, "prior": sim.true_prior()}
    reliability = stracker.EMOptions(compare_image_reliability=True)
    if crowd == "hard":
        return {
            "em": stracker.aggregate(enc),
            "em_rel": stracker.aggregate(enc, options=reliability),
            "oracle": stracker.aggregate(enc, **truth_params),
        }
    visibility = sim.visibility_table()
    fits = {
        "em": stracker.aggregate(enc),
        "majority": stracker.aggregate(enc, method="majority"),
        "dawid_skene": stracker.aggregate(enc, method="dawid_skene"),
        "oracle": stracker.aggregate(enc, **truth_params),
        "em_vis": stracker.aggregate(enc, visibility=visibility),
        "oracle_vis": stracker.aggregate(enc, visibility=visibility, **truth_params),
    }
    fits["spatial"] = stracker.aggregate(enc, footprints=sim.buildings)
    fits["spatial_vis"] = stracker.aggregate(enc, footprints=sim.buildings, visibility=visibility)
    if task == "compare":
        fits["em_rel"] = stracker.aggregate(enc, options=reliability)
        fits["bayes"] = bayes_compare(sim, enc, fits["oracle"])
    else:
        fits["bayes"] = bayes_timeline(sim, enc, fits["oracle"])
    return fits


def hard_images(sim, seed: int):
    """The campaign's compare answers with those about :data:`N_HARD` images (drawn from ``seed``) replaced by
    coin flips: images hard to read for everyone (haze, a bad angle), as the answers show and no visibility does."""
    import pandas as pd

    rng = np.random.default_rng(1000 + seed)
    hard = sim.image_dates[np.sort(rng.choice(len(sim.image_dates), N_HARD, replace=False))]
    labels = sim.labels.copy()
    about = (labels["after"].isin(hard) | labels["before"].isin(hard)) & labels["destroyed"].notna()
    labels.loc[about, "destroyed"] = pd.array(rng.random(int(about.sum())) < 0.5, dtype="boolean")
    return labels


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


def bayes_timeline(sim, enc, like):
    """The Bayes consensus of a timeline campaign under the simulator's own answer model
    (:func:`timeline_answer_probabilities`), with the realised state shares as prior (``like``, a consensus of
    the same table, gives the tables around the posterior). Random volunteers' answers do not depend on the
    state and are left out."""
    import dataclasses

    import pandas as pd

    from stracker.consensus.model import posterior_and_evidence
    from stracker.consensus.result import summarize_posterior
    from stracker.crowd.volunteers import VOLUNTEER_KINDS
    from stracker.labels import TIMELINE

    S = enc.n_states
    building_row = pd.Index(sim.buildings["building_id"]).get_indexer(enc.building_ids)
    volunteer_row = sim.volunteers.index.get_indexer(enc.volunteer_ids)
    kind = sim.volunteers["kind"].cat.codes.to_numpy()[volunteer_row[enc.volunteer]]
    used = (enc.task == TIMELINE) & (enc.answer >= 0) & (kind != VOLUNTEER_KINDS.index("random"))
    b = enc.building[used]
    like_k = timeline_answer_probabilities(
        sim, building_row[b], volunteer_row[enc.volunteer[used]], enc.hi[used].astype(np.int64), enc.answer[used] == 1
    )
    L = np.bincount(
        (b[:, None].astype(np.int64) * S + np.arange(S)).ravel(),
        weights=np.log(np.maximum(like_k, 1e-300)).ravel(),
        minlength=enc.n_buildings * S,
    ).reshape(enc.n_buildings, S)
    posterior, _ = posterior_and_evidence(L, np.log(np.maximum(sim.true_prior(), 1e-300)))
    buildings = summarize_posterior(enc, posterior)
    buildings[["n_labels", "n_volunteers"]] = like.buildings[["n_labels", "n_volunteers"]]
    return dataclasses.replace(like, posterior=posterior, buildings=buildings, method="bayes")


def timeline_answer_probabilities(sim, building_row, volunteer_row, hi, marked):
    """Each timeline answer's probability in each state (answers x D + 1) under the simulator's own answer
    model (:func:`stracker.crowd.answers.timeline_answers`) for a volunteer who follows it (careful, careless
    or adversarial): with every frame's true visibility at the building (hidden frames cannot be marked, partial
    cloud lowers the chance of noticing a frame), the volunteer's true parameters. A mark on frame ``hi``
    (``marked``) or "no destruction" (its ``hi`` is the last visible frame). Exact: a scan from state k notices
    the first visible frame it does not skip; an early mark, 1 + Geometric(early_decay) images before k, lands
    on the last visible frame at or before its target (a scan when there is none); an intact building is marked
    on a uniformly chosen visible frame with p_false. All answers x states at once."""
    sc = sim.scenario
    D = sim.visibility.shape[1]
    n = hi.size
    p = {
        name: sim.volunteers[name].to_numpy()[volunteer_row][:, None]
        for name in ("p_late", "p_early", "early_decay", "p_miss", "p_false")
    }
    vis = sim.visibility[building_row].astype(float)  # answers x images
    h = sc.imagery.hidden_visibility
    visible = vis >= h
    boost = sc.crowd.low_visibility_error * np.clip((1.0 - vis) / max(1.0 - h, 1e-9), 0.0, 1.0)
    notice = np.where(visible, (1.0 - p["p_late"]) * (1.0 - boost), 0.0)  # chance a scan notices each frame
    log_pass = np.zeros((n, D + 1))  # log chance a scan passes frames 0..k-1 without noticing
    np.cumsum(np.log1p(-np.minimum(notice, 1 - 1e-12)), axis=1, out=log_pass[:, 1:])
    k = np.arange(D)[None, :]  # destroyed states 0..D-1
    rows = np.arange(n)
    # a scan from state k: first noticed frame hi (k <= hi), or none
    scan_at_hi = np.where(
        k <= hi[:, None], notice[rows, hi][:, None] * np.exp(log_pass[rows, hi][:, None] - log_pass[:, :D]), 0.0
    )
    scan_none = np.exp(log_pass[:, D : D + 1] - log_pass[:, :D])
    # early marks: 1 + Geometric(decay) images before k, moved back to the last visible frame at or before it
    decay = p["early_decay"]
    first_visible = np.where(visible.any(axis=1), np.argmax(visible, axis=1), D)[:, None]
    early_fails = decay ** np.maximum(k - first_visible, 0)  # no visible frame at or before the target
    later = np.where(visible, np.arange(D), D)
    next_visible = np.minimum.accumulate(later[:, ::-1], axis=1)[:, ::-1]  # first visible frame >= j
    after_hi = np.where(hi + 1 < D, next_visible[rows, np.minimum(hi + 1, D - 1)], D)[:, None]
    # the mark lands on hi for targets t in [hi, after_hi - 1], i.e. n in [k - after_hi + 1, k - hi]
    n_lo = np.maximum(1, k - after_hi + 1)
    n_hi = k - hi[:, None]
    early_at_hi = np.where(n_hi >= n_lo, decay ** (n_lo - 1) - decay**n_hi, 0.0)
    sees = 1.0 - p["p_miss"]
    early = p["p_early"]
    scan_share = early * early_fails + 1.0 - early
    shown = visible[rows, hi][:, None]  # a hidden frame is never marked
    mark_destroyed = shown * sees * (early * early_at_hi + scan_share * scan_at_hi)
    none_destroyed = p["p_miss"] + sees * scan_share * scan_none
    mark_intact = shown * p["p_false"] / np.maximum(visible.sum(axis=1), 1)[:, None]
    none_intact = 1.0 - p["p_false"]
    return np.where(
        marked[:, None],
        np.concatenate([mark_destroyed, mark_intact], axis=1),
        np.concatenate([none_destroyed, np.broadcast_to(none_intact, (n, 1))], axis=1),
    )


def growth(rows: list[dict]) -> None:
    """Print the relative growth of the mean date error with spammers, in both readings."""
    mae = {(r["seed"], r["task"], r["crowd"], r["method"]): r["mae_days"] for r in rows}
    print(
        "mean date error growth with spammers: replacing honest answers (spam / preset), added to them (spam / honest)"
    )
    for (seed, task, crowd, method), value in mae.items():
        if crowd == "spam":
            replaced = value / mae[seed, task, "preset", method] - 1
            added = value / mae[seed, task, "honest", method] - 1
            print(f"  seed {seed} {task:8s} {method:11s} replacing {replaced:+.0%}  added {added:+.0%}")


def gaps(rows: list[dict]) -> None:
    """Print how far em is from the Bayes posterior (exact state, log score), with and without the visibility."""
    by = {(r["seed"], r["task"], r["crowd"], r["method"]): r for r in rows}
    print("exact state and log score against bayes (positive: behind it)")
    for (seed, task, crowd, method), row in by.items():
        if method != "bayes":
            continue
        for fitted in ("em", "em_vis", "oracle_vis"):
            other = by[seed, task, crowd, fitted]
            behind = row["state_accuracy"] - other["state_accuracy"]
            worse = other["log_score"] - row["log_score"]
            print(f"  seed {seed} {task:8s} {crowd:7s} {fitted:10s} exact state {behind:+.4f}  log score {worse:+.4f}")


def spatial_targets(rows: list[dict]) -> None:
    """Print the spatial prior's targets: its date error on compare campaigns against the Bayes posterior of
    independent buildings (target: 20% below), on timeline campaigns with 4 volunteers per building against
    ``em`` with the preset's (target: as accurate), and its lowest 90% interval coverage (target: 0.88)."""
    by = {(r["seed"], r["task"], r["crowd"], r["method"]): r for r in rows}
    print("spatial prior: targets")
    for (seed, task, crowd, method), row in by.items():
        em = by[seed, task, crowd, "em"]
        if method == "spatial" and task == "compare":
            bayes = by[seed, task, crowd, "bayes"]["mae_days"]
            print(
                f"  seed {seed} compare {crowd:6s}: date error {row['mae_days']:.3g} d, "
                f"{row['mae_days'] / bayes - 1:+.0%} against bayes ({bayes:.3g} d); em {em['mae_days']:.3g} d"
            )
        if method == "spatial" and task == "timeline":
            bayes = by[seed, task, crowd, "bayes"]
            print(
                f"  seed {seed} timeline {crowd:6s}: exact state {row['state_accuracy']:.4f} against bayes "
                f"{bayes['state_accuracy']:.4f}, date error {row['mae_days']:.3g} d against {bayes['mae_days']:.3g} d"
            )
        if method in ("spatial", "spatial_vis") and task == "timeline" and crowd == "few":
            full = by[seed, task, "preset", "em"]
            print(
                f"  seed {seed} timeline, {FEW} volunteers, {method}: exact state {row['state_accuracy']:.4f}, "
                f"date error {row['mae_days']:.3g} d, log score {row['log_score']:.3f}; em with the preset's "
                f"volunteers {full['state_accuracy']:.4f}, {full['mae_days']:.3g} d, {full['log_score']:.3f}; "
                f"em with {FEW} {em['state_accuracy']:.4f}, {em['mae_days']:.3g} d, {em['log_score']:.3f}"
            )
    coverage = [r["ci_coverage"] for r in rows if r["method"] in ("spatial", "spatial_vis")]
    print(f"  lowest 90% interval coverage of spatial and spatial_vis: {min(coverage):.3f}")


if __name__ == "__main__":
    main()
