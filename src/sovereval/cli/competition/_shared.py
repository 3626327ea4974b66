"""Options and helpers shared by the competition command groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from sovereval.errors import InputError

ProgOpt = typer.Option(
    ..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME", help="Programme name."
)
RoundOpt = typer.Option(..., "--round", "-r", help="Round number.")


def read_json(path: Path) -> Any:
    """Parse a JSON input file; a missing file, a folder or bad JSON is one clear error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a folder; give the path of a JSON file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
