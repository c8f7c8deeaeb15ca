"""Adaptive tasking: date every building with far fewer frames viewed than a full timeline scan.

* :mod:`stracker.tasking.designs`: the question designs (random, probabilistic bisection, information gain)
  and retirement, on arrays;
* :mod:`stracker.tasking.core`: the question-choosing core, independent of the simulator: from the answers so
  far, the image catalogue and optionally the buildings and their visibility, the next question about every
  unsettled building, in order of value, and the retired buildings with their reasons
  (:func:`next_questions`, ``stracker next``);
* :mod:`stracker.tasking.campaign`: the simulated campaign, rounds of that core answered by the simulator's
  volunteers (:func:`run_adaptive`, ``stracker plan``);
* :mod:`stracker.tasking.formats`: the batch written for a platform: a CSV, a Zooniverse subject manifest
  for panoptes-cli, a PyBossa tasks CSV (:func:`write_questions`, :func:`read_questions`).
"""

from typing import TYPE_CHECKING, Any

from stracker.tasking.core import (
    HIDDEN_VISIBILITY,
    CampaignState,
    QuestionBatch,
    campaign_state,
    choose_questions,
    hidden_images,
    next_questions,
)
from stracker.tasking.designs import (
    ACTIVE,
    DESIGNS,
    RETIREMENT_REASONS,
    bisection_questions,
    expected_information_gain,
    infogain_questions,
    mark_cant_tell,
    most_reliable_first,
    question_gain,
    random_questions,
    retired,
    retirement_reasons,
    state_entropy,
)
from stracker.tasking.formats import (
    PYBOSSA_NO_IMAGE,
    QUESTION_FORMATS,
    UPLOAD_COMMAND,
    read_questions,
    read_visibility,
    write_questions,
)

if TYPE_CHECKING:
    from stracker.tasking.campaign import AdaptiveCampaign, run_adaptive

__all__ = [
    "ACTIVE",
    "DESIGNS",
    "HIDDEN_VISIBILITY",
    "PYBOSSA_NO_IMAGE",
    "QUESTION_FORMATS",
    "RETIREMENT_REASONS",
    "UPLOAD_COMMAND",
    "AdaptiveCampaign",
    "CampaignState",
    "QuestionBatch",
    "bisection_questions",
    "campaign_state",
    "choose_questions",
    "expected_information_gain",
    "hidden_images",
    "infogain_questions",
    "mark_cant_tell",
    "most_reliable_first",
    "next_questions",
    "question_gain",
    "random_questions",
    "read_questions",
    "read_visibility",
    "retired",
    "retirement_reasons",
    "run_adaptive",
    "state_entropy",
    "write_questions",
]


def __getattr__(name: str) -> Any:
    # the simulated campaign imports the simulator: on first use, so that the next questions of a real campaign
    # (and every command line, whose options name the designs) do not pay for it
    if name in ("AdaptiveCampaign", "run_adaptive"):
        from stracker.tasking import campaign

        return getattr(campaign, name)
    raise AttributeError(f"module 'stracker.tasking' has no attribute {name!r}")
