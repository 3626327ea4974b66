"""``sovereval schema NAME``: the JSON Schema (or a worked example) of an input format."""

from __future__ import annotations

import sys

import typer

from sovereval.cli.common import emit_json
from sovereval.competition import formats


def schema(
    name: str = typer.Argument(..., help=f"One of: {', '.join(formats.FORMATS)}."),
    example: bool = typer.Option(
        False, "--example", help="Print the worked example instead (a file you can edit)."
    ),
) -> None:
    """Print the JSON Schema of an input file format: components, results, ruleset, ballots."""
    if example:
        sys.stdout.write(formats.example_text(name))
    else:
        emit_json(formats.json_schema(name))
