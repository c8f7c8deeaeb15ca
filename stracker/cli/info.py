"""``stracker info``: say what a file or simulation folder is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stracker.cli.options import json_option

__all__ = ["info_command"]


@click.command("info")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option("Print the description as a JSON object on stdout.")
@click.pass_obj
def info_command(obj: dict[str, Any], path: Path, as_json: bool) -> None:
    """Say what a file or simulation folder is.

    Prints the kind of PATH with its layers, CRS, counts and date range (-v: the fields of every layer too).

    \b
    Examples:
      stracker info answers.csv
      stracker info results/raqqa
      stracker info results/raqqa/consensus.gpkg --json
    """
    from stracker.describe import describe

    info = describe(path)
    if as_json:
        click.echo(json.dumps(info, default=str))
        return
    click.echo(_info_text(info, detail=obj["verbosity"] > 0))


def _info_text(info: dict[str, Any], detail: bool, indent: str = "") -> str:
    """key: value lines; layers one per line (their fields with -v)."""
    lines = []
    for key, value in info.items():
        if key == "layers":
            for layer in value:
                line = (
                    f"{indent}layer {layer['name']}: {layer['geometry'] or 'no geometry'}, "
                    f"{layer['features']:,} features, CRS {layer['crs'] or 'none'}"
                )
                if layer.get("date_range"):
                    line += f", dates {layer['date_range'][0]} .. {layer['date_range'][1]}"
                lines.append(line)
                if detail:
                    lines.extend(f"{indent}    {name}: {kind}" for name, kind in layer["fields"].items())
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_info_text(value, detail, indent + "  "))
        elif key == "columns" and not detail:
            lines.append(f"{indent}columns: {len(value)} ({', '.join(value[:8])}{', ...' if len(value) > 8 else ''})")
        elif key == "date_range" and value:
            lines.append(f"{indent}date range: {value[0]} .. {value[1]}")
        elif key in ("files", "fields") and not detail:
            continue
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
