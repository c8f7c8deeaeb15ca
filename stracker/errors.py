"""Exceptions and warnings raised by stracker.

Every exception derives from :class:`StrackerError` and also from the builtin that matches the kind of
failure, so ``except ValueError`` keeps working for callers that do not know stracker.
"""

from __future__ import annotations

__all__ = [
    "DuplicateAnswersWarning",
    "FootprintsError",
    "LabelsError",
    "ScenarioError",
    "StrackerError",
    "StrackerWarning",
]


class StrackerError(Exception):
    """Root of every error raised by stracker."""


class LabelsError(StrackerError, ValueError):
    """A label table does not meet the label contract (columns, ids, dates, answers)."""


class ScenarioError(StrackerError, ValueError):
    """A scenario holds a value outside its valid range."""


class FootprintsError(StrackerError, ValueError):
    """A footprint layer cannot be used (ids, geometry, CRS)."""


class StrackerWarning(UserWarning):
    """Root of every warning issued by stracker."""


class DuplicateAnswersWarning(StrackerWarning):
    """The label table holds exact duplicate answers; they are used as given, not merged."""
