"""Shared CLI plumbing: settings from the context, the store, the clock, output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from sovereval.errors import InputError
from sovereval.settings import Settings
from sovereval.store.db import Store

console = Console()
err_console = Console(stderr=True)


@dataclass
class Context:
    settings: Settings
    actor: str
    at: datetime | None
    may_create: bool = False
    """Only ``db upgrade`` / ``db init`` / ``programme create`` may create a new database."""

    @cached_property
    def store(self) -> Store:
        url = self.settings.db_url
        path = sqlite_path(url)
        if path is not None and not self.may_create and not Path(path).exists():
            raise InputError(
                f"no database at {path}; create it with: sovereval --db {path} db init "
                "(or programme create), or check --db / SOVEREVAL_DB"
            )
        store = Store(url)
        if self.at is not None:
            from sovereval.ledger.log import claim_replay

            with store.session() as s:
                claim_replay(s)
        return store

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)


def ctx_of(ctx: typer.Context) -> Context:
    """The root command's context; a sub-app run on its own gets settings from the environment."""
    root = ctx.find_root()
    if not isinstance(root.obj, Context):
        root.obj = Context(Settings.from_env(), "cli", None)
    return root.obj


def sqlite_path(url: str) -> str | None:
    """The file of an SQLite URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return None if not path or path == ":memory:" else path


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time with an explicit offset (``Z`` or ``+09:00``), normalised to UTC."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"'{value}' is not an ISO 8601 time (e.g. 2026-01-15T09:00:00+09:00)"
        ) from exc
    if t.tzinfo is None:
        raise InputError(
            f"'{value}' has no UTC offset; write it with one, e.g. {value}+09:00 or {value}Z"
        )
    return t.astimezone(UTC)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
