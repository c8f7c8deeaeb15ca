"""Exceptions and warnings raised by stracker.

Every exception derives from :class:`StrackerError` and also from the builtin that matches the kind of
failure, so ``except ValueError`` keeps working for callers that do not know stracker.
"""

from __future__ import annotations

__all__ = [
    "DuplicateAnswersWarning",
    "FileFormatError",
    "FootprintsError",
    "ImageryError",
    "LabelsError",
    "OutputExistsError",
    "PlatformExportError",
    "RenderError",
    "ScenarioError",
    "SchedulerError",
    "StrackerError",
    "StrackerWarning",
    "UninformativeAnswersWarning",
    "UnmatchedBuildingsError",
]


class StrackerError(Exception):
    """Root of every error raised by stracker."""


class LabelsError(StrackerError, ValueError):
    """A label table does not meet the label contract (columns, ids, dates, answers)."""


class ScenarioError(StrackerError, ValueError):
    """A scenario holds a value outside its valid range."""


class FootprintsError(StrackerError, ValueError):
    """A footprint layer cannot be used (ids, geometry, CRS)."""


class ImageryError(StrackerError, ValueError):
    """A raster cannot be used as a scene or a cloud mask: no image date, no CRS, rotated, or bands it lacks."""


class UnmatchedBuildingsError(FootprintsError):
    """Answers refer to buildings that the footprint layer lacks.

    Attributes
    ----------
    building_ids : list
        Every building id with answers but no footprint.
    """

    def __init__(self, message: str, building_ids: list | None = None) -> None:
        super().__init__(message)
        self.building_ids = list(building_ids or [])


class FileFormatError(StrackerError, ValueError):
    """A file cannot be read as what it should be: unknown format, unreadable, empty, or missing a part."""


class PlatformExportError(StrackerError, ValueError):
    """A platform export cannot be imported as asked: a missing column, no rows of the workflow or version asked
    for, an ambiguous task, or options that contradict each other. Bad rows are rejected, not raised."""


class OutputExistsError(StrackerError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class SchedulerError(StrackerError, ConnectionError):
    """A Dask scheduler cannot be reached at the address given."""


class RenderError(StrackerError, ValueError):
    """A frame cannot be rendered as asked: a date without an image, a box outside the city, a bad resolution."""


class StrackerWarning(UserWarning):
    """Root of every warning issued by stracker."""


class DuplicateAnswersWarning(StrackerWarning):
    """The label table holds exact duplicate answers; they are used as given, not merged."""


class UninformativeAnswersWarning(StrackerWarning):
    """No answer in the table says yes or no (every one is can't tell): the consensus is the prior alone."""
