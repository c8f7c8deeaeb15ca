"""The ``stracker`` command group: global options, the commands, and how errors reach the user.

Progress and tables go to stderr/stdout for people; ``--json`` prints one machine-readable JSON object on
stdout instead. Anything a user can cause ends with exit code 1 and one line naming the file and the fix, never
a traceback: the package's own errors and the operating system's (a read-only directory, a full disk) are
printed as such, and anything else, a bug, is written to a log file that the one line names.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from typing import Any, NoReturn

import click

from stracker.cli.aggregate import aggregate_command
from stracker.cli.chips import chips_command
from stracker.cli.evaluate import evaluate_command
from stracker.cli.import_ import import_group
from stracker.cli.info import info_command
from stracker.cli.next import next_command
from stracker.cli.plan import plan_command
from stracker.cli.render import render_command
from stracker.cli.report import report_command
from stracker.cli.review import review_command
from stracker.cli.simulate import simulate
from stracker.cli.sweep import sweep_command
from stracker.cli.visibility import visibility_command
from stracker.errors import StrackerError

__all__ = ["StrackerGroup", "cli", "fail", "main"]


def fail(message: str) -> NoReturn:
    """Print ``stracker: error: message`` on stderr and exit with code 1."""
    click.echo(f"stracker: error: {message}", err=True)
    sys.exit(1)


def os_error_text(exc: OSError) -> str:
    """An operating-system error as one line: the file(s) and the cause.

    Examples
    --------
    >>> os_error_text(PermissionError(13, "Permission denied", "/ro/consensus.gpkg"))
    '/ro/consensus.gpkg: Permission denied (errno 13)'
    """
    files = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    cause = exc.strerror or str(exc) or type(exc).__name__
    code = f" (errno {exc.errno})" if exc.errno is not None else ""
    return f"{files}: {cause}{code}" if files else f"{cause}{code}"


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a log file; return its path."""
    fd, path = tempfile.mkstemp(prefix="stracker-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as log:
        log.write(f"stracker {' '.join(sys.argv[1:])}\n\n")
        log.write("".join(traceback.format_exception(exc)))
    return path


class StrackerGroup(click.Group):
    """A click group that turns every error into one line on stderr and exit code 1.

    The package's own errors (:class:`~stracker.errors.StrackerError`) and the operating system's
    (:class:`OSError`: permissions, a full disk, a path under a file) are what a user can cause: their message
    is printed as it is. Anything else is a bug: its traceback goes to a log file, and the line says where.
    click's own usage errors and exits pass through unchanged.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except StrackerError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(os_error_text(exc))
        except Exception as exc:  # a bug: say so in one line, keep the traceback for the report
            fail(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in stracker; the traceback is in "
                f"{_crash_log(exc)}; please report it with that file."
            )


@click.group(cls=StrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.version_option(package_name="stracker")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Simulate crowdsourced satellite damage dating and aggregate volunteer answers.

    \b
    Examples:
      stracker simulate --preset raqqa --seed 0 --out results/raqqa
      stracker simulate --preset small --task compare --out /tmp/small --json
      stracker import zooniverse classifications.csv --workflow-id 123 --out answers.parquet
      stracker aggregate answers.csv --footprints buildings.gpkg --out consensus.gpkg
      stracker evaluate consensus.gpkg truth.csv
      stracker info consensus.gpkg
      stracker render --preset raqqa --date 2017-08-01 --out tile.tif
      stracker chips --imagery 'scenes/*.tif' --footprints buildings.gpkg --out chips/
      stracker visibility --masks 'masks/*.tif' --footprints buildings.gpkg --out visibility.parquet
      stracker review results/raqqa/consensus.gpkg --labels results/raqqa/labels.parquet --out review.html
      stracker next answers.parquet --images images.csv --footprints buildings.gpkg --batch 500 --out q.csv
    """
    ctx.obj = {"verbosity": -1 if quiet else verbose}


for _command in (
    simulate,
    aggregate_command,
    evaluate_command,
    info_command,
    render_command,
    plan_command,
    report_command,
    sweep_command,
    chips_command,
    visibility_command,
    import_group,
    review_command,
    next_command,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="stracker")
