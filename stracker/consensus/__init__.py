"""The consensus engine: label table in, calibrated destruction dates out.

It never imports the simulator: it takes any label table of the contract, synthetic or a real export.

Layers, each using only those before it:

* :mod:`~stracker.consensus.model`: the answer models and the E-step (posterior and sufficient statistics);
* :mod:`~stracker.consensus.em`: :class:`EMOptions`, the M-step and the one EM loop both engines drive;
* :mod:`~stracker.consensus.baselines`: majority vote and frame-level Dawid-Skene;
* :mod:`~stracker.consensus.result`: :class:`Consensus`, the per-building and per-volunteer tables, and
  :func:`read_consensus`;
* :mod:`~stracker.consensus.distributed`: the EM on Dask, :func:`aggregate_distributed`;
* :mod:`~stracker.consensus.aggregate`: :func:`aggregate`, the in-memory entry point.
"""

from stracker.consensus.aggregate import METHODS, aggregate
from stracker.consensus.distributed import DistributedConsensus, aggregate_distributed
from stracker.consensus.em import EMOptions
from stracker.consensus.model import DEFAULT_PARAMS, PARAM_NAMES
from stracker.consensus.result import Consensus, read_consensus

__all__ = [
    "DEFAULT_PARAMS",
    "METHODS",
    "PARAM_NAMES",
    "Consensus",
    "DistributedConsensus",
    "EMOptions",
    "aggregate",
    "aggregate_distributed",
    "read_consensus",
]
