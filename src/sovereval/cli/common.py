"""Shared CLI plumbing: settings from the context, the store, the clock, output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
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

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.db_url)

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)


def ctx_of(ctx: typer.Context) -> Context:
    """The root command's context; a sub-app run on its own gets settings from the environment."""
    root = ctx.find_root()
    if not isinstance(root.obj, Context):
        root.obj = Context(Settings.from_env(), "cli", None)
    return root.obj


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"'{value}' is not an ISO 8601 time (e.g. 2026-01-15T09:00:00+09:00)"
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
