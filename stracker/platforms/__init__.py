"""Platform exports in: Zooniverse, PyBossa and MapSwipe answers as stracker's label table.

Each reader returns :class:`ImportedAnswers`: the label table (``docs/contracts.md``), the rejected rows with a
reason each (:data:`REASONS`) and a JSON-ready summary. Every input row is used or rejected, never dropped.

* :func:`read_zooniverse`: a Zooniverse classification export, question workflows (one subject per
  question) and timeline workflows (one subject per building, marks on its frames);
* :func:`read_pybossa`: a PyBossa task_run export, CSV or JSON, with a field map;
* :func:`read_mapswipe`: MapSwipe results, ``results_<project>.csv.gz``.
"""

from stracker.platforms.common import REASONS, AnswerLabels, ImportedAnswers
from stracker.platforms.mapswipe import read_mapswipe
from stracker.platforms.pybossa import read_pybossa
from stracker.platforms.zooniverse import read_zooniverse

__all__ = ["REASONS", "AnswerLabels", "ImportedAnswers", "read_mapswipe", "read_pybossa", "read_zooniverse"]
