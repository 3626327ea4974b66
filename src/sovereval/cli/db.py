"""``sovereval db``: schema migrations (Alembic, shipped in the package)."""

from __future__ import annotations

import typer

from sovereval.cli.common import console, ctx_of
from sovereval.store.db import make_engine, upgrade

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context, revision: str = typer.Option("head", help="Target revision.")
) -> None:
    """Apply migrations to the database given by --db / SOVEREVAL_DB."""
    c = ctx_of(ctx)
    engine = make_engine(c.settings.db_url)
    upgrade(engine, revision)
    engine.dispose()
    console.print(f"database at revision {revision}")


@app.command("init")
def init_cmd(ctx: typer.Context) -> None:
    """Create the database given by --db / SOVEREVAL_DB (if needed) and migrate it to the latest
    revision; the only commands that create a database are this, db upgrade and programme create."""
    upgrade_cmd(ctx, "head")


@app.command("url")
def url_cmd(ctx: typer.Context) -> None:
    """Print the database URL in use (the embedded default unless --db is given)."""
    console.print(ctx_of(ctx).settings.db_url, highlight=False)
