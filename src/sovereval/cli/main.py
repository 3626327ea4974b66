"""Entry point of the ``sovereval`` command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="sovereval",
    help="Run a sovereign-AI foundation-model competition: rules, provenance, benchmarks, review, user evaluation and a verifiable ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()
