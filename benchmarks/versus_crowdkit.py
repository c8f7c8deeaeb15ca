"""Side by side on the same compare answers and the same number of EM iterations: stracker against crowd-kit.

stracker's frame-level ``dawid_skene`` (which reproduces crowd-kit's ``DawidSkene``) and its full model
(``em``) against crowd-kit's ``DawidSkene`` and ``MajorityVote``, as time ratios. crowd-kit gets integer task
codes (crowd-kit 1.4.2 fails under pandas 3 with string task ids). Also one EM iteration of the full model
against the memory-bandwidth floor: a single ``np.bincount`` with weights over the same answers.

Targets (2 cores): 2 million answers, full fit, at least 20 times faster than crowd-kit's DawidSkene at the
same iteration count; one EM iteration within 5 times the bincount floor.

Run: ``python -m benchmarks.versus_crowdkit [--answers 2000000] [--iterations 10]`` (needs the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import best_of, peak_rss_mb, report


def crowdkit_frame(enc) -> pd.DataFrame:
    """The answers as crowd-kit's long format: one task per (building, before, after) frame."""
    told = enc.answer >= 0
    S = enc.n_states
    key = (enc.building[told].astype(np.int64) * (S + 1) + enc.lo[told] + 1) * (S + 1) + enc.hi[told] + 1
    _, task = np.unique(key, return_inverse=True)
    return pd.DataFrame(
        {"task": task, "worker": enc.volunteer[told].astype(np.int64), "label": enc.answer[told].astype(np.int64)}
    )


def em_iteration_vs_floor(enc, repeat: int = 5) -> dict:
    """Seconds of one E-step + M-step of the full model, and of one weighted bincount over the answers."""
    from stracker.consensus.model import AnswerModel, ModelState, resolve_params

    model = AnswerModel(enc)
    state = ModelState(
        resolve_params(None, enc.volunteer_ids),
        np.ones(enc.n_images),
        np.log(np.full(enc.n_states, 1.0 / enc.n_states)),
    )

    def iteration():
        return model.e_step(state)  # log-likelihood, posterior and the M-step's sufficient statistics

    weights = np.random.default_rng(0).random(enc.n_answers)
    codes = enc.building.astype(np.intp)
    em_s, _ = best_of(iteration, repeat)
    floor_s, _ = best_of(lambda: np.bincount(codes, weights=weights, minlength=enc.n_buildings), repeat)
    return {"em_iteration_s": em_s, "bincount_floor_s": floor_s}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2_000_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-crowdkit", action="store_true", help="only stracker (no bench extra needed)")
    args = parser.parse_args(argv)

    import stracker
    from benchmarks._data import compare_table

    enc, _ = compare_table(args.answers)
    k = args.iterations
    timings = {}
    timings["stracker em"], em = best_of(lambda: stracker.aggregate(enc, max_iter=k, tol=0.0), args.repeat)
    timings["stracker dawid_skene"], ds = best_of(
        lambda: stracker.aggregate(enc, method="dawid_skene", max_iter=k, tol=-np.inf), args.repeat
    )
    timings["stracker majority"], _ = best_of(lambda: stracker.aggregate(enc, method="majority"), args.repeat)
    assert em.n_iter == k and ds.n_iter == k
    if not args.skip_crowdkit:
        from crowdkit.aggregation import DawidSkene, MajorityVote

        frame = crowdkit_frame(enc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            ck = DawidSkene(n_iter=k, tol=-np.inf).fit(frame)
            timings["crowd-kit DawidSkene"] = time.perf_counter() - start
            start = time.perf_counter()
            MajorityVote().fit(frame)
            timings["crowd-kit MajorityVote"] = time.perf_counter() - start
        assert len(ck.loss_history_) == k
        # same answers, same iterations: the frame posteriors agree
        ours = ds.frames["p_destroyed"].to_numpy()
        theirs = ck.probas_.sort_index()[1].to_numpy()
        agreement = float(np.abs(ours - theirs).max())
    floor = em_iteration_vs_floor(enc)
    rows = []
    for name, seconds in timings.items():
        row = {
            "method": name,
            "answers": enc.n_answers,
            "iterations": k if "Majority" not in name and "majority" not in name else 0,
            "seconds": round(seconds, 3),
        }
        if "crowd-kit DawidSkene" in timings:
            row["crowdkit_ds_over_this"] = round(timings["crowd-kit DawidSkene"] / seconds, 1)
        rows.append(row)
    rows.append(
        {
            "method": "one em iteration",
            "answers": enc.n_answers,
            "seconds": round(floor["em_iteration_s"], 4),
            "vs_bincount_floor": round(floor["em_iteration_s"] / floor["bincount_floor_s"], 2),
        }
    )
    rows.append(
        {"method": "np.bincount floor", "answers": enc.n_answers, "seconds": round(floor["bincount_floor_s"], 4)}
    )
    if not args.skip_crowdkit:
        rows.append({"method": "max |stracker - crowd-kit| frame posterior", "seconds": None, "agreement": agreement})
    for row in rows:
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report("versus_crowdkit", rows)
    return rows


if __name__ == "__main__":
    main()
