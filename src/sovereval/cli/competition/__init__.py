"""CLI groups for the competition core, one module per group: programme, team, round, rules,
submission, score, appeal and wildcard. Each command parses, calls one service function, and prints."""

from __future__ import annotations

import typer

from sovereval.cli.competition import (
    appeal,
    programme,
    round_,
    rules,
    schema,
    score,
    submission,
    team,
    wildcard,
)
from sovereval.cli.competition.score import print_leaderboard

__all__ = ["print_leaderboard", "register"]


def register(app: typer.Typer) -> None:
    for name, mod in (
        ("programme", programme),
        ("team", team),
        ("round", round_),
        ("rules", rules),
        ("submission", submission),
        ("score", score),
        ("appeal", appeal),
        ("wildcard", wildcard),
    ):
        app.add_typer(mod.app, name=name)
    app.command("schema")(schema.schema)
