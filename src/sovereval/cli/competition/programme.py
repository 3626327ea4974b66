"""``sovereval programme``: programmes: create and list."""

from __future__ import annotations

import typer
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.competition import service as svc
from sovereval.store import models as m

app = typer.Typer(help="Create and list programmes.", no_args_is_help=True)


@app.command("create")
def programme_create(
    ctx: typer.Context, name: str, description: str = typer.Option("", help="Free text.")
) -> None:
    """Create a programme (and the database, when it does not exist yet)."""
    c = ctx_of(ctx)
    c.may_create = True
    with c.store.session() as s:
        svc.create_programme(s, name, description, actor=c.actor, now=c.now())
    console.print(f"created programme [bold]{name}[/]")


@app.command("list")
def programme_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List programmes."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        rows = [
            {"name": p.name, "description": p.description}
            for p in s.execute(select(m.Programme)).scalars()
        ]
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            console.print(f"{r['name']}: {r['description']}")
