"""Volunteers' answers: timeline marks (Strike Trackers) and image comparisons (Decoders), as label tables.

Everything is generated with array operations over all answers at once: an (answers x images) matrix of
random draws and visibilities, reduced with ``argmax`` and cumulative maxima. No Python loop over answers,
frames, volunteers or buildings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stracker.crowd.volunteers import clashing
from stracker.errors import ScenarioError
from stracker.scenario import CrowdScenario, ImageryScenario, TaskScenario

__all__ = ["answer_questions", "compare_answer_model", "compare_answers", "timeline_answers"]

_RANDOM = 2  # position of 'random' in VOLUNTEER_KINDS


def _error_boost(vis: np.ndarray, imagery: ImageryScenario, crowd: CrowdScenario) -> np.ndarray:
    """Extra error share from partial clouds: 0 on a clear frame, ``low_visibility_error`` at the threshold."""
    span = max(1.0 - imagery.hidden_visibility, 1e-9)
    return crowd.low_visibility_error * np.clip((1.0 - vis) / span, 0.0, 1.0)


def _random_visible(visible: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly chosen visible frame per row, and whether the row has one."""
    score = rng.random(visible.shape) * visible
    return np.argmax(score, axis=1), np.asarray(visible.any(axis=1))


def _label_table(
    building: np.ndarray,
    volunteer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    answer: np.ndarray,
    dates: np.ndarray,
    task: str,
    frames: np.ndarray,
) -> pd.DataFrame:
    before = np.full(lo.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    before[lo >= 0] = dates[lo[lo >= 0]]
    destroyed = pd.array(answer == 1, dtype="boolean")
    destroyed[answer < 0] = pd.NA
    return pd.DataFrame(
        {
            "building_id": building.astype(np.int64),
            "volunteer_id": volunteer.astype(np.int64),
            "before": before,
            "after": dates[hi],
            "destroyed": destroyed,
            "task": pd.Categorical.from_codes(
                np.full(len(lo), ["timeline", "compare"].index(task), dtype=np.int8), categories=["timeline", "compare"]
            ),
            "frames_viewed": frames.astype(np.int32),
        }
    )


def timeline_answers(
    building: np.ndarray,
    volunteer: np.ndarray,
    true_state: np.ndarray,
    vis: np.ndarray,
    volunteers: pd.DataFrame,
    dates: np.ndarray,
    imagery: ImageryScenario,
    crowd: CrowdScenario,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Timeline scans: each volunteer goes through a building's images in date order and marks the last image
    seen intact and the first seen destroyed, or reports "no destruction" up to the last image seen.

    The volunteer's behaviour, for a building in state k (destroyed in image k; k = D: intact):

    * careful and careless volunteers miss a destruction altogether with ``p_miss``; otherwise, with
      ``p_early``, they mark it ``1 + Geometric`` visible images early (``early_decay``); otherwise they scan
      on from image k and notice each visible destroyed image with chance ``1 - p_late``, lower under partial
      cloud (late marks). An intact building is marked, at a random visible image, with ``p_false``.
    * hidden frames (visibility below ``hidden_visibility``) cannot be marked; "before" is the last visible
      image before the mark.
    * random volunteers mark a random visible image or report nothing, half and half; adversarial ones report
      "no destruction" on destroyed buildings and mark intact ones, except with ``p_miss`` / ``p_false``.

    ``frames_viewed`` counts the images looked at: up to the mark, or all of them.
    """
    n, D = building.size, dates.size
    b_vis = vis[building]  # (n, D)
    visible = b_vis >= imagery.hidden_visibility
    k = true_state[building]
    kind = volunteers["kind"].cat.codes.to_numpy()[volunteer]
    p = {name: volunteers[name].to_numpy()[volunteer] for name in ("p_late", "p_early", "early_decay")}
    # the stored rates are the behaviour (adversarial volunteers' are already inverted)
    p_miss = volunteers["p_miss"].to_numpy()[volunteer]
    p_false = volunteers["p_false"].to_numpy()[volunteer]
    frames_idx = np.arange(D)
    destroyed = k < D

    # scanning from image k: first visible destroyed image noticed
    notice = rng.random((n, D)) < (1.0 - p["p_late"][:, None]) * (1.0 - _error_boost(b_vis, imagery, crowd))
    can_mark = visible & (frames_idx >= k[:, None]) & notice
    scan_found = can_mark.any(axis=1)
    scan_mark = np.argmax(can_mark, axis=1)

    # early marks: 1 + geometric images before k, moved back to a visible image
    last_visible = np.maximum.accumulate(np.where(visible, frames_idx, -1), axis=1)
    early_by = rng.geometric(1.0 - np.clip(p["early_decay"], 1e-6, 1 - 1e-6))
    early_target = k - early_by
    early_mark = np.where(early_target >= 0, last_visible[np.arange(n), np.clip(early_target, 0, D - 1)], -1)
    early_ok = early_mark >= 0

    random_mark, has_visible = _random_visible(visible, rng)
    u_miss, u_early, u_false, u_coin = rng.random((4, n))

    mark = np.full(n, -1, dtype=np.int64)  # -1: "no destruction seen"
    follows_model = kind != _RANDOM
    sees = follows_model & destroyed & (u_miss >= p_miss)
    go_early = sees & (u_early < p["p_early"]) & early_ok
    mark[go_early] = early_mark[go_early]
    go_scan = sees & ~go_early & scan_found
    mark[go_scan] = scan_mark[go_scan]
    false_alarm = follows_model & ~destroyed & (u_false < p_false)
    false_alarm &= has_visible
    mark[false_alarm] = random_mark[false_alarm]
    coin = (kind == _RANDOM) & (u_coin < 0.5) & has_visible
    mark[coin] = random_mark[coin]

    marked = mark >= 0
    rows = np.arange(n)
    prev_visible = np.where(mark >= 1, last_visible[rows, np.maximum(mark - 1, 0)], -1)
    last_seen = last_visible[:, -1]
    lo = np.where(marked, prev_visible, -1)
    hi = np.where(marked, mark, np.maximum(last_seen, 0))
    answer = np.where(marked, 1, np.where(last_seen >= 0, 0, -1))  # saw nothing at all: can't tell
    frames = np.where(marked, mark + 1, D)
    return _label_table(building, volunteer, lo, hi, answer, dates, "timeline", frames)


def _draw_questions(
    n: int, D: int, single_image_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random questions: (lo, hi) image pairs with lo < hi, or lo = -1 for a single image hi."""
    single = (rng.random(n) < single_image_share) | (D == 1)
    first = rng.integers(0, D, size=n)
    second = (first + rng.integers(1, max(D, 2), size=n)) % max(D, 1)
    lo = np.where(single, -1, np.minimum(first, second))
    hi = np.where(single, first, np.maximum(first, second))
    return lo, hi


def compare_answers(
    building: np.ndarray,
    volunteer: np.ndarray,
    true_state: np.ndarray,
    vis: np.ndarray,
    volunteers: pd.DataFrame,
    dates: np.ndarray,
    imagery: ImageryScenario,
    crowd: CrowdScenario,
    tasks: TaskScenario,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Comparisons: each (building, volunteer) assignment answers ``questions_per_volunteer`` questions
    "was it destroyed between image a and image b?" (or "is it destroyed in image b?") with yes, no or
    can't tell (a hidden frame).

    Image pairs are drawn at random and answered by :func:`answer_questions`.
    """
    q = tasks.questions_per_volunteer
    building = np.repeat(building, q)
    volunteer = np.repeat(volunteer, q)
    n, D = building.size, dates.size
    lo, hi = _draw_questions(n, D, tasks.single_image_share, rng)
    # one volunteer never gets the same question twice about a building: redraw repeats, in rounds
    assignment = np.repeat(np.arange(n // q), q)
    for _ in range(100):
        clash = clashing((assignment * (D + 1) + lo + 1) * D + hi)
        if clash.size == 0:
            break
        lo[clash], hi[clash] = _draw_questions(clash.size, D, tasks.single_image_share, rng)
    else:
        raise ScenarioError(
            f"cannot ask {q} distinct questions about a building with {D} images; lower questions_per_volunteer"
        )
    return answer_questions(building, volunteer, lo, hi, true_state, vis, volunteers, dates, imagery, crowd, rng)


def answer_questions(
    building: np.ndarray,
    volunteer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    true_state: np.ndarray,
    vis: np.ndarray,
    volunteers: pd.DataFrame,
    dates: np.ndarray,
    imagery: ImageryScenario,
    crowd: CrowdScenario,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Volunteers answer given questions "was it destroyed after image lo and by image hi?" (lo = -1: "is it
    destroyed in image hi?"), as a compare label table.

    A volunteer answers yes to a true change with ``sensitivity`` and no to no change with ``specificity``,
    both pulled towards a coin flip under partial cloud; a hidden frame gives can't tell. Random volunteers
    flip a coin and adversarial ones answer the opposite (their stored parameters already say so).
    ``frames_viewed`` is 2 per comparison, 1 per single-image question.
    """
    n = building.size
    k = true_state[building]
    changed = (lo < k) & (k <= hi)
    yes_if_changed, yes_if_unchanged, hidden = compare_answer_model(
        building, volunteer, lo, hi, vis, volunteers, imagery, crowd
    )
    p_yes = np.where(changed, yes_if_changed, yes_if_unchanged)
    answer = (rng.random(n) < p_yes).astype(np.int64)
    answer[hidden] = -1
    frames = np.where(lo < 0, 1, 2)
    return _label_table(building, volunteer, lo, hi, answer, dates, "compare", frames)


def compare_answer_model(
    building: np.ndarray,
    volunteer: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    vis: np.ndarray,
    volunteers: pd.DataFrame,
    imagery: ImageryScenario,
    crowd: CrowdScenario,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How the simulator answers compare questions: P(yes | destroyed in (lo, hi]), P(yes | not), and whether
    the frames are hidden (a can't-tell answer), per question.

    Each volunteer's ``sensitivity`` and ``specificity`` are pulled towards a coin flip by the partial cloud of
    the cloudier of the two frames at that building (``low_visibility_error`` at the hidden threshold). Given the
    true visibility and volunteer parameters this is everything an answer depends on (``benchmarks/quality.py``
    builds the Bayes posterior of compare campaigns from it).

    Examples
    --------
    >>> import stracker
    >>> sim = stracker.simulate("small")
    >>> sc = sim.scenario
    >>> q = np.array([0]), np.array([0]), np.array([-1]), np.array([3])
    >>> yes_changed, yes_unchanged, hidden = compare_answer_model(*q, sim.visibility, sim.volunteers,
    ...                                                           sc.imagery, sc.crowd)
    >>> bool(yes_changed[0] >= yes_unchanged[0])
    True
    """
    v_after = vis[building, hi]
    v_before = np.where(lo >= 0, vis[building, np.maximum(lo, 0)], 1.0)
    v_pair = np.minimum(v_after, v_before)
    boost = _error_boost(v_pair, imagery, crowd)
    sens = volunteers["sensitivity"].to_numpy()[volunteer]
    spec = volunteers["specificity"].to_numpy()[volunteer]
    # clouds pull every answer towards a coin flip
    yes_if_changed = sens + (0.5 - sens) * boost
    yes_if_unchanged = (1.0 - spec) + (spec - 0.5) * boost
    return yes_if_changed, yes_if_unchanged, v_pair < imagery.hidden_visibility
