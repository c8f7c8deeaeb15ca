"""stracker: simulate crowdsourced satellite damage dating and aggregate volunteer answers.

The public API:

* :func:`simulate` and :class:`Simulation`: a seeded Strike Trackers campaign (footprints, destruction,
  imagery, volunteers, answers);
* :func:`aggregate` and :class:`Consensus`: calibrated consensus destruction dates from any label table;
* :func:`evaluate`: metrics of a consensus against ground truth.
"""

from stracker.consensus import Consensus, aggregate
from stracker.errors import LabelsError, ScenarioError, StrackerError
from stracker.evaluation import evaluate
from stracker.labels import encode_labels
from stracker.scenario import Scenario
from stracker.simulation import Simulation, simulate

__all__ = [
    "Consensus",
    "LabelsError",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "StrackerError",
    "aggregate",
    "encode_labels",
    "evaluate",
    "simulate",
]
__version__ = "0.1.0"
