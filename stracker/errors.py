"""Exceptions and warnings raised by stracker.

Every exception derives from :class:`StrackerError` and also from the builtin that matches the kind of
failure, so ``except ValueError`` keeps working for callers that do not know stracker. Every warning about the
data derives from :class:`StrackerWarning`; a renamed spelling that still works for one release warns with
:class:`RenamedWarning`, a :class:`FutureWarning` (Python's category for deprecations meant for end users,
shown by default).
"""

from __future__ import annotations

import warnings

__all__ = [
    "DuplicateAnswersWarning",
    "FileFormatError",
    "FootprintsError",
    "ImageryError",
    "InputCoverageWarning",
    "InputFileNotFoundError",
    "LabelsError",
    "OptionsError",
    "OutputExistsError",
    "OutputIsInputError",
    "OutputWriteError",
    "PlatformExportError",
    "RenamedColumnsWarning",
    "RenamedWarning",
    "RenderError",
    "ScenarioError",
    "SchedulerError",
    "StrackerError",
    "StrackerWarning",
    "UninformativeAnswersWarning",
    "UnmatchedBuildingsError",
    "warn_renamed",
]


class StrackerError(Exception):
    """Root of every error raised by stracker."""


class LabelsError(StrackerError, ValueError):
    """A label table does not meet the label contract (columns, ids, dates, answers)."""


class InputFileNotFoundError(StrackerError, FileNotFoundError):
    """An input file (answers, footprints, images, visibility, a consensus) does not exist."""


class OptionsError(StrackerError, ValueError):
    """An option of a fit is outside its valid range (a negative tolerance, no iterations) or does not apply."""


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


class OutputIsInputError(StrackerError, ValueError):
    """An output path is one of the inputs of the same run; writing it would destroy them."""


class OutputWriteError(StrackerError, OSError):
    """An output could not be written (a read-only directory, a path under a file, a full disk); the message
    names the output and the cause, ``errno`` holds the system's code where known. The old output is kept."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RenderError(StrackerError, ValueError):
    """A frame cannot be rendered as asked: a date without an image, a box outside the city, a bad resolution."""


class StrackerWarning(UserWarning):
    """Root of every warning issued by stracker."""


class DuplicateAnswersWarning(StrackerWarning):
    """The label table holds exact duplicate answers; they are used as given, not merged."""


class RenamedColumnsWarning(StrackerWarning):
    """A user's columns were kept under new names, to make room for stracker's own (e.g. a footprint layer's
    ``confidence`` column beside the consensus ``confidence``)."""


class UninformativeAnswersWarning(StrackerWarning):
    """No answer in the table says yes or no (every one is can't tell): the consensus is the prior alone."""


class RenamedWarning(FutureWarning):
    """An old spelling (a field, a mapping key, an option) was used; it works as the new one for one more release.

    A :class:`FutureWarning`, not a :class:`StrackerWarning`: it is about the caller's code, not the data.
    """


def warn_renamed(old: str, new: str, stacklevel: int = 1) -> None:
    """Warn that ``old`` is spelled ``new`` now and that the old spelling goes in the next release.

    ``stacklevel`` counts from the caller, as for :func:`warnings.warn`.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_renamed("TaskScenario.design", "TaskScenario.task")
    >>> print(caught[0].message)
    TaskScenario.design is renamed TaskScenario.task; the old spelling works until the next release
    """
    message = f"{old} is renamed {new}; the old spelling works until the next release"
    warnings.warn(message, RenamedWarning, stacklevel=stacklevel + 1)


class InputCoverageWarning(StrackerWarning):
    """An optional input of the consensus (visibility, gold) covers other buildings than the answers: answered
    buildings the visibility says nothing of (taken as fully visible), or gold buildings nobody answered about
    (given a row of their own). The message names them."""
