"""What every ``stracker`` command shares: its options, the refusal to clobber, progress and message helpers.

One registry of options (as rasterio's ``rio/options.py``), so that ``--json``, ``--overwrite``, ``--preset``
and ``--seed`` read the same in every command, and choices come from the package's own lists (``PRESETS``,
``DESIGNS``, ``METHODS``, ``TASKS``) rather than copies of them.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from stracker.consensus.aggregate import METHODS
from stracker.consensus.inputs import HIDDEN_VISIBILITY
from stracker.errors import OutputExistsError, OutputIsInputError, SchedulerError
from stracker.io.files import same_files
from stracker.labels import TASKS
from stracker.scenario import PRESETS
from stracker.tasking import DESIGNS

__all__ = [
    "DESIGNS",
    "FOOTPRINT_HELP",
    "METHODS",
    "PRESETS",
    "TASKS",
    "comma_numbers",
    "connect_scheduler",
    "echo_warnings",
    "evaluation_text",
    "footprint_options",
    "json_id",
    "json_option",
    "outputs_free",
    "outputs_not_inputs",
    "overwrite_option",
    "preset_option",
    "retire_mass_option",
    "scheduler_option",
    "seed_option",
    "stages",
    "threads_option",
    "visibility_options",
]

F = TypeVar("F", bound=Callable[..., Any])

FOOTPRINT_HELP = "GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet or anything else GDAL reads"
"""What a footprint file may be, for the help of every option that takes one."""


def json_option(help: str = "Print a JSON summary on stdout.") -> Callable[[F], F]:
    """``--json``: one machine-readable JSON object on stdout (the parameter is ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def overwrite_option(help: str = "Replace existing output files.") -> Callable[[F], F]:
    """``--overwrite``: without it, an existing output is an error and is kept."""
    return click.option("--overwrite", is_flag=True, help=help)


def preset_option(default: str = "raqqa", help: str = "Scenario preset.") -> Callable[[F], F]:
    """``--preset``: one of the scenario presets."""
    return click.option("--preset", type=click.Choice(sorted(PRESETS)), default=default, show_default=True, help=help)


def seed_option() -> Callable[[F], F]:
    """``--seed``: the random seed of a simulation."""
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")


def outputs_free(paths: list[Path], overwrite: bool) -> None:
    """Refuse to clobber: every output that exists needs ``--overwrite``.

    Examples
    --------
    >>> outputs_free([Path("surely/not/here.gpkg")], overwrite=False)
    """
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} exists; pass --overwrite or choose another --out.")


def outputs_not_inputs(outputs: list[Path], inputs: dict[str, Path | None]) -> None:
    """Refuse an output that is one of the command's inputs (the same file, by inode or resolved path): with
    ``--overwrite`` the write would replace the data it is computed from.

    Examples
    --------
    >>> outputs_not_inputs([Path("out.gpkg")], {"LABELS": Path("answers.csv")})
    """
    clash = same_files(outputs, list(inputs.values()))
    if clash:
        out, source = clash[0]
        role = next(name for name, given in inputs.items() if given is not None and Path(given) == source)
        raise OutputIsInputError(
            f"{out} is also the {role} input ({source}); writing it would destroy the data it is computed from. "
            "Choose another --out."
        )


def stages(label: str, steps: list[str], hidden: bool) -> Any:
    """A progress bar over named steps, on stderr; hidden with -q or --json, and when stderr is not a terminal
    (a log or a pipe gets the result lines, not a bar's remains)."""
    return click.progressbar(
        length=len(steps),
        label=label,
        file=sys.stderr,
        hidden=hidden or not sys.stderr.isatty(),
        item_show_func=lambda step: step,
    )


def echo_warnings(caught: list[warnings.WarningMessage], quiet: bool) -> list[str]:
    """The package's warnings as one line each on stderr (not Python's two-line format); returned for --json."""
    messages = [str(w.message) for w in caught]
    if not quiet:
        for message in messages:
            click.echo(f"stracker: warning: {message}", err=True)
    return messages


def evaluation_text(table: pd.DataFrame) -> str:
    """The evaluation table (metric, value, unit) as aligned lines for people.

    Examples
    --------
    >>> print(evaluation_text(pd.DataFrame({"metric": ["f1"], "value": [0.5], "unit": ["ratio"]})))
      metric                           value  unit
      f1                              0.5000  ratio
    """
    lines = [f"  {'metric':<26}{'value':>12}  unit"]
    for metric, value, unit in table.itertuples(index=False):
        shown = f"{value:>12.0f}" if unit == "count" else f"{value:>12.4f}"
        lines.append(f"  {metric:<26}{shown}  {unit}")
    return "\n".join(lines)


def json_id(value: Any) -> Any:
    """A building or volunteer id as JSON can hold it (numpy scalars become Python ones).

    Examples
    --------
    >>> import numpy as np
    >>> json_id(np.int64(7)), json_id("b-7")
    (7, 'b-7')
    """
    return value.item() if hasattr(value, "item") else value


SCHEDULER_TIMEOUT_S = 10.0
"""How long a command waits for a Dask scheduler to answer before it says it cannot reach it."""


def scheduler_option(help: str) -> Callable[[F], F]:
    """``--scheduler ADDRESS``: run on this Dask cluster (the parameter is ``scheduler``)."""
    return click.option("--scheduler", default=None, metavar="ADDRESS", help=help)


def connect_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT_S) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``, or one line saying why there is none.

    Raises
    ------
    click.UsageError
        If Dask is not installed (the ``distributed`` extra).
    SchedulerError
        If nothing answers at ``address`` within ``timeout`` seconds, or the address is malformed.

    Examples
    --------
    >>> connect_scheduler("tcp://127.0.0.1:9", timeout=0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stracker.errors.SchedulerError: no Dask scheduler answered at tcp://127.0.0.1:9 within 0.5 s ...
    """
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise click.UsageError("--scheduler needs Dask: pip install 'stracker[distributed]'.") from exc
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({type(exc).__name__}: {exc}); check the "
            "address (tcp://HOST:8786) and that `dask scheduler` runs there, or leave out --scheduler."
        ) from exc
    except ValueError as exc:
        raise SchedulerError(f"--scheduler {address!r} is not a Dask address ({exc}); write tcp://HOST:PORT.") from exc


def footprint_options(purpose: str, required: bool = False) -> Callable[[F], F]:
    """``--footprints FILE``, ``--layer`` and ``--id-column``: a footprint layer, read by
    :func:`stracker.read_footprints` (parameters ``footprints_path``, ``layer``, ``id_column``).

    ``purpose`` says in the help what the command does with them, e.g. "to join the consensus onto".
    """
    footprints = click.option(
        "--footprints",
        "footprints_path",
        required=required,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"Building footprints {purpose} ({FOOTPRINT_HELP}).",
    )
    layer = click.option(
        "--layer", default=None, help="Layer of a multi-layer footprint file (default: 'buildings' or the only one)."
    )
    id_column = click.option(
        "--id-column",
        default="building_id",
        show_default=True,
        help="The footprints' building id column (matched to the answers' building_id).",
    )

    def decorate(command: F) -> F:
        return footprints(layer(id_column(command)))

    return decorate


def threads_option() -> Callable[[F], F]:
    """``--threads``: the threads of the in-memory EM (the parameter is ``threads``; default: ``STRACKER_THREADS``,
    else every CPU the process may use)."""
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="Threads the in-memory EM runs on (default: $STRACKER_THREADS, else every CPU this process may use); "
        "the result is the same for any number.",
    )


def visibility_options(purpose: str) -> Callable[[F], F]:
    """``--visibility FILE`` and ``--hidden-below``: each building's visible share per image, read by
    :func:`stracker.io.read_visibility` (parameters ``visibility_path``, ``hidden_below``).

    ``purpose`` says in the help what the command does with it.
    """
    visibility = click.option(
        "--visibility",
        "visibility_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Each building's visibility per image: CSV or Parquet with building_id, image_date and visible "
        "(a cloud-free share, as `stracker visibility` writes it, or yes/no) or visibility, or a .npy array in "
        f"the footprints' order. {purpose}",
    )
    hidden_below = click.option(
        "--hidden-below",
        type=click.FloatRange(0.0, 1.0),
        default=HIDDEN_VISIBILITY,
        show_default=True,
        help="A visible share below this hides the image.",
    )

    def decorate(command: F) -> F:
        return visibility(hidden_below(command))

    return decorate


def retire_mass_option() -> Callable[[F], F]:
    """``--retire-mass``: the credible mass at which a building's interval of one image gap retires it."""
    return click.option(
        "--retire-mass",
        type=click.FloatRange(0.5, 0.99999),
        default=0.9,
        show_default=True,
        help="A building retires when its credible interval of this mass is one image gap.",
    )


def comma_numbers(text: str | None, kind: type[int] | type[float], option: str, example: str) -> list[Any] | None:
    """An option's comma-separated numbers (``None`` when the option was not given), or a usage error naming it.

    Examples
    --------
    >>> comma_numbers("4,3,2", int, "--bands", "4,3,2"), comma_numbers(None, float, "--cloud-values", "3,8")
    ([4, 3, 2], None)
    >>> comma_numbers("3,8,9,10", float, "--cloud-values", "3,8,9,10")
    [3.0, 8.0, 9.0, 10.0]
    """
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError as exc:
        raise click.BadParameter(
            f"give numbers separated by commas, e.g. {example}; got {text!r}", param_hint=option
        ) from exc
