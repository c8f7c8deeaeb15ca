"""The consensus engine: label table in, calibrated destruction dates out.

It never imports the simulator: it takes any label table of the contract, synthetic or a real export.
"""

from stracker.consensus.aggregate import METHODS, aggregate
from stracker.consensus.model import DEFAULT_PARAMS, PARAM_NAMES
from stracker.consensus.result import Consensus, read_consensus

__all__ = ["DEFAULT_PARAMS", "METHODS", "PARAM_NAMES", "Consensus", "aggregate", "read_consensus"]
