"""stracker: simulate crowdsourced satellite damage dating and aggregate volunteer answers.

The public API:

* :func:`simulate` and :class:`Simulation`: a seeded Strike Trackers campaign (footprints, destruction,
  imagery, volunteers, answers);
* :func:`aggregate` and :class:`Consensus`: calibrated consensus destruction dates from any label table in
  memory, with the EM's :class:`EMOptions`; :func:`aggregate_distributed` and :class:`DistributedConsensus`: the
  same fit on Dask, for Dask DataFrames and Parquet datasets;
* :func:`evaluate`: metrics of a consensus against ground truth;
* :func:`read_labels`, :func:`read_footprints`, :func:`read_consensus` and :meth:`Consensus.to_file`: real files
  in and out (CSV, Parquet, GeoPackage, GeoParquet and whatever else GDAL reads), see :mod:`stracker.io`;
* :mod:`stracker.platforms`: Zooniverse, PyBossa and MapSwipe exports read into the label table;
* :func:`render_tile` and :func:`frame`: the simulated city as a satellite saw it on an image date, as RGB
  arrays and Cloud-Optimized GeoTIFFs, see :mod:`stracker.render`.
"""

import importlib
from typing import TYPE_CHECKING, Any

from stracker.consensus import (
    Consensus,
    DistributedConsensus,
    EMOptions,
    aggregate,
    aggregate_distributed,
    read_consensus,
)
from stracker.errors import (
    FileFormatError,
    FootprintsError,
    ImageryError,
    LabelsError,
    OptionsError,
    OutputExistsError,
    OutputWriteError,
    PlatformExportError,
    RenderError,
    ScenarioError,
    StrackerError,
    UnmatchedBuildingsError,
)
from stracker.evaluation import evaluate
from stracker.io import read_footprints, read_labels
from stracker.labels import encode_labels
from stracker.scenario import Scenario

if TYPE_CHECKING:
    from stracker.render import frame, render_tile
    from stracker.simulation import Simulation, simulate

# imported on first use: the simulator and the renderer (rasterio, scipy.ndimage, scipy.spatial) cost every command
# and script about half a second to import, and fitting a campaign's answers needs neither
_LAZY = {
    "frame": "stracker.render",
    "render_tile": "stracker.render",
    "Simulation": "stracker.simulation",
    "simulate": "stracker.simulation",
}

__all__ = [
    "Consensus",
    "DistributedConsensus",
    "EMOptions",
    "FileFormatError",
    "FootprintsError",
    "ImageryError",
    "LabelsError",
    "OptionsError",
    "OutputExistsError",
    "OutputWriteError",
    "PlatformExportError",
    "RenderError",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "StrackerError",
    "UnmatchedBuildingsError",
    "aggregate",
    "aggregate_distributed",
    "encode_labels",
    "evaluate",
    "frame",
    "read_consensus",
    "read_footprints",
    "read_labels",
    "render_tile",
    "simulate",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'stracker' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
