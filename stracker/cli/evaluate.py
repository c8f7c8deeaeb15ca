"""``stracker evaluate``: score a consensus file against ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import evaluation_text, json_option, outputs_free, outputs_not_inputs, overwrite_option
from stracker.io.consensus import consensus_outputs
from stracker.io.files import PARQUET_SUFFIXES, atomic_path, check_listed, output_directory

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("consensus_path", metavar="CONSENSUS", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("truth_path", metavar="TRUTH", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Layer of a multi-layer TRUTH file (default: 'buildings' or the only one).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the metrics as CSV (metric, value, unit).",
)
@overwrite_option("Replace an existing --out.")
@json_option("Print the metrics as a JSON object on stdout.")
@click.pass_obj
def evaluate_command(
    obj: dict[str, Any],
    consensus_path: Path,
    truth_path: Path,
    layer: str | None,
    out: Path | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Score a consensus file against ground truth.

    CONSENSUS is a file written by `stracker aggregate` or `stracker simulate` (.gpkg or .parquet). TRUTH is a
    footprint file or a table (CSV, Parquet) with building_id and destroyed_on (empty: never destroyed).

    \b
    Examples:
      stracker evaluate results/raqqa/consensus.gpkg results/raqqa/buildings.gpkg
      stracker evaluate consensus.parquet truth.csv --out metrics.csv --json
    """
    import stracker
    from stracker.io import read_truth

    if out is not None:
        parts = (
            consensus_outputs(consensus_path)
            if consensus_path.suffix.lower() in (".gpkg", *PARQUET_SUFFIXES)
            else [consensus_path]
        )
        outputs_not_inputs(
            [out],
            {"TRUTH": truth_path, "CONSENSUS": consensus_path, **{f"CONSENSUS part {p.name}": p for p in parts[1:]}},
        )
        outputs_free([out], overwrite)
    check_listed(truth_path)  # in a simulation folder: the truth written with it (the consensus checks itself)
    consensus = stracker.read_consensus(consensus_path)
    table = stracker.evaluate(consensus, read_truth(truth_path, layer=layer))
    if out is not None:
        output_directory(out)
        with atomic_path(out, overwrite=overwrite) as tmp:
            table.to_csv(tmp, index=False)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "consensus": str(consensus_path),
                    "truth": str(truth_path),
                    "metrics": dict(zip(table["metric"], table["value"].astype(float), strict=True)),
                }
            )
        )
        return
    click.echo(evaluation_text(table))
