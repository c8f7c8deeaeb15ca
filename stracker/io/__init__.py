"""Files in and out, by concern: tables (labels, image catalogues, truth), footprint layers, consensus files,
and the file mechanics they share (atomic writes, GeoPackage layers).

* :mod:`stracker.io.tables`: :func:`read_labels`, :func:`read_images`, :func:`read_truth`, :func:`read_table`,
  what a campaign knows besides its answers (:func:`read_visibility`, :func:`read_gold`) and the id rule every
  reader shares (:func:`typed_ids`);
* :mod:`stracker.io.footprints`: :func:`read_footprints`, :func:`check_footprints`;
* :mod:`stracker.io.consensus`: :func:`write_consensus` and :func:`read_consensus_parts` (the consensus as a
  :class:`~stracker.Consensus` comes back through :func:`stracker.read_consensus`);
* :mod:`stracker.io.files`: atomic writes (:func:`atomic_path`, :func:`~stracker.io.files.atomic_paths` for
  several files renamed together, :func:`~stracker.io.files.atomic_directory`; recognisable temporary names swept
  when stale, removed on SIGTERM), folder manifests, :func:`write_layers`, suffixes and layer choice.

This package sits below the consensus code: it imports nothing from :mod:`stracker.consensus`.
"""

from stracker.io.consensus import (
    CONSENSUS_COLUMNS,
    CONSENSUS_LAYERS,
    consensus_outputs,
    read_consensus_parts,
    write_consensus,
)
from stracker.io.files import CSV_SUFFIXES, PARQUET_SUFFIXES, atomic_path, write_geopackage, write_layers
from stracker.io.footprints import check_footprint_ids, check_footprints, read_footprints
from stracker.io.tables import (
    read_gold,
    read_images,
    read_labels,
    read_table,
    read_truth,
    read_visibility,
    typed_ids,
)

__all__ = [
    "CONSENSUS_COLUMNS",
    "CONSENSUS_LAYERS",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "atomic_path",
    "check_footprint_ids",
    "check_footprints",
    "consensus_outputs",
    "read_consensus_parts",
    "read_footprints",
    "read_gold",
    "read_images",
    "read_labels",
    "read_table",
    "read_truth",
    "read_visibility",
    "typed_ids",
    "write_consensus",
    "write_geopackage",
    "write_layers",
]
