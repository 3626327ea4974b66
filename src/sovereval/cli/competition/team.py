"""``sovereval team``: consortia: a lead and member organisations."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.cli.competition._shared import ProgOpt
from sovereval.competition import service as svc
from sovereval.store import models as m

app = typer.Typer(help="Consortia: a lead and member organisations.", no_args_is_help=True)


@app.command("add")
def team_add(
    ctx: typer.Context,
    name: str,
    lead: str = typer.Option(..., help="Lead organisation."),
    member: list[str] = typer.Option([], "--member", "-m", help="Member organisation (repeat)."),
    status: str = typer.Option("selected", help="selected | applicant | wildcard"),
    prog: str = ProgOpt,
) -> None:
    """Register a consortium."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.add_consortium(
            s,
            svc.get_programme(s, prog),
            name,
            lead,
            member,
            status=status,
            actor=c.actor,
            now=c.now(),
        )
    console.print(f"added consortium [bold]{name}[/]")


@app.command("list")
def team_list(ctx: typer.Context, prog: str = ProgOpt, as_json: bool = JsonOpt) -> None:
    """List consortia and their status."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        rows: list[dict[str, Any]] = [
            {"name": x.name, "lead": x.lead, "members": x.members, "status": x.status}
            for x in s.execute(
                select(m.Consortium).where(m.Consortium.programme_id == p.id)
            ).scalars()
        ]
    if as_json:
        emit_json(rows)
        return
    t = Table("Consortium", "Lead", "Members", "Status")
    for r in rows:
        t.add_row(r["name"], r["lead"], ", ".join(r["members"]), r["status"])
    console.print(t)
