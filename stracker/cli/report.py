"""``stracker report``: the campaign report of a simulation directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import json_option

__all__ = ["report_command"]


@click.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the report (default: DIRECTORY/report).",
)
@json_option()
@click.pass_obj
def report_command(obj: dict[str, Any], directory: Path, out_dir: Path | None, as_json: bool) -> None:
    """Write the campaign report of a simulation directory: PNG figures and one HTML page.

    DIRECTORY is one written by `stracker simulate`; its answers are aggregated again (seconds) so that the
    report shows the full posterior.

    \b
    Examples:
      stracker report results/raqqa
      stracker report results/raqqa --out /tmp/raqqa-report
    """
    import stracker
    from stracker.report import write_report
    from stracker.simulation import Simulation

    sim = Simulation.load(directory)
    consensus = stracker.aggregate(sim.labels, sim.image_dates)
    page = write_report(out_dir or directory / "report", sim, consensus)
    if as_json:
        click.echo(json.dumps({"report": str(page)}))
    elif obj["verbosity"] >= 0:
        click.echo(f"report in {page}")
