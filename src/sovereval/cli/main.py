"""Entry point of the ``sovereval`` command.

Every option that mirrors a setting also reads a ``SOVEREVAL_*`` environment variable. Errors
the user can fix print one line and exit with code 2; nothing prints a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import typer
from rich.markup import escape

from sovereval.cli.common import Context, err_console, parse_time
from sovereval.errors import SovereValError
from sovereval.settings import Settings

app = typer.Typer(
    name="sovereval",
    help=(
        "Run a sovereign-AI foundation-model competition end to end: versioned rules, originality "
        "forensics, benchmarks, expert review, blind user evaluation, appeals, wild cards and a "
        "tamper-evident ledger anyone can re-check."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if not value:
        return
    from sovereval import __version__
    from sovereval.store.db import schema_head

    typer.echo(f"sovereval {__version__} (database schema {schema_head()})")
    raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the package version and the database schema head, then exit.",
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        envvar="SOVEREVAL_DB",
        help="Database: an SQLite file path or a postgresql:// URL (default: sovereval.db in the user data directory).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", envvar="SOVEREVAL_DATA_DIR", help="Where reports and caches go."
    ),
    actor: str = typer.Option(
        "cli", "--actor", envvar="SOVEREVAL_ACTOR", help="Who is acting; recorded in the ledger."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        envvar="SOVEREVAL_NOW",
        help="Act as of this ISO 8601 time instead of now (replays, tests).",
    ),
) -> None:
    ctx.obj = Context(Settings.from_env(db_url=db, data_dir=data_dir), actor, parse_time(at))


def _mount() -> None:
    from sovereval.cli import audit, competition, demo

    competition.register(app)
    app.add_typer(audit.app, name="audit", help="Verify and export the tamper-evident ledger.")
    app.command("demo", help=demo.demo.__doc__)(demo.demo)
    app.command("report", help="Write the HTML transparency report of a programme.")(demo.report)
    for name, module, helptext in (
        (
            "provenance",
            "sovereval.cli.provenance",
            "Weight-provenance forensics: was this model trained from scratch?",
        ),
        (
            "bench",
            "sovereval.cli.bench",
            "Run benchmark suites against model servers and score them.",
        ),
        ("arena", "sovereval.cli.arena", "Blind pairwise user evaluation: fit ratings, report."),
        (
            "panel",
            "sovereval.cli.panel",
            "The user-evaluation panel: quotas, recruitment, deviation.",
        ),
        (
            "review",
            "sovereval.cli.review",
            "Expert review: conflict-free assignment, status, aggregation.",
        ),
        ("db", "sovereval.cli.db", "Database maintenance: migrations."),
        ("user", "sovereval.cli.users", "Web users, roles and API tokens."),
        (
            "jobs",
            "sovereval.cli.jobs",
            "Run benchmark suites and provenance scans on the local pool or a Ray cluster; job status.",
        ),
        ("serve", "sovereval.cli.serve", None),
    ):
        if importlib.util.find_spec(module) is None:
            continue
        mod = importlib.import_module(module)
        if name == "serve":
            app.command("serve", help=mod.serve.__doc__)(mod.serve)
        else:
            app.add_typer(mod.app, name=name, help=helptext)


_mount()


def main() -> None:
    try:
        app(standalone_mode=True)
    except SovereValError as exc:
        # escape: messages carry brackets (pip install 'sovereval[onnx]') that are not markup
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished work is kept and the command can be resumed")
        sys.exit(130)
