"""``sovereval round``: rounds: create, open, close, allocate resources."""

from __future__ import annotations

import typer

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json, parse_time
from sovereval.cli.competition._shared import ProgOpt
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.errors import InputError
from sovereval.store import models as m

app = typer.Typer(help="Rounds: create, open, close, allocate resources.", no_args_is_help=True)


@app.command("create")
def round_create(
    ctx: typer.Context,
    number: int,
    opens: str = typer.Option(..., help="ISO time."),
    closes: str = typer.Option(..., help="ISO time."),
    slots: int = typer.Option(
        0,
        help="Planned number of advancing teams, for the record; the rule set's advancement "
        "rule decides, and the results say which rule did.",
    ),
    ruleset_id: int = typer.Option(..., "--ruleset", help="Rule set id."),
    prog: str = ProgOpt,
) -> None:
    """Create a round under a rule set."""
    c = ctx_of(ctx)
    o, cl = parse_time(opens), parse_time(closes)
    assert o is not None and cl is not None
    with c.store.session() as s:
        row = s.get(m.RuleSetRow, ruleset_id)
        if row is None:
            raise InputError(f"no rule set with id {ruleset_id}")
        svc.create_round(
            s,
            svc.get_programme(s, prog),
            number,
            opens_at=o,
            closes_at=cl,
            advance_slots=slots,
            ruleset=row,
            actor=c.actor,
            now=c.now(),
        )
    console.print(f"created round {number}")


@app.command("open")
def round_open(ctx: typer.Context, number: int, prog: str = ProgOpt) -> None:
    """Open a round: its published rule set is frozen."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.open_round(
            s, svc.get_round(s, svc.get_programme(s, prog), number), actor=c.actor, now=c.now()
        )
    console.print(f"round {number} is open; its rules are frozen")


@app.command("close")
def round_close(ctx: typer.Context, number: int, prog: str = ProgOpt) -> None:
    """Close a round to submissions."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.close_round(
            s, svc.get_round(s, svc.get_programme(s, prog), number), actor=c.actor, now=c.now()
        )
    console.print(f"round {number} is closed")


@app.command("reopen")
def round_reopen(
    ctx: typer.Context,
    number: int,
    rationale: str = typer.Option(..., help="Why the closed round reopens (shown publicly)."),
    closes: str = typer.Option(..., help="New close time (ISO 8601 with offset)."),
    prog: str = ProgOpt,
) -> None:
    """Reopen a closed, unpublished round: a flagged amendment shown with its results."""
    c = ctx_of(ctx)
    cl = parse_time(closes)
    assert cl is not None
    with c.store.session() as s:
        svc.reopen_round(
            s,
            svc.get_round(s, svc.get_programme(s, prog), number),
            rationale=rationale,
            closes_at=cl,
            actor=c.actor,
            now=c.now(),
        )
    console.print(f"round {number} reopened until {cl.isoformat()} (flagged amendment)")


@app.command("allocate")
def round_allocate(
    ctx: typer.Context,
    number: int,
    team_name: str = typer.Option(..., "--team"),
    resource: str = typer.Option(..., help="E.g. gpu_b200."),
    amount: float = typer.Option(...),
    unit: str = typer.Option(""),
    prog: str = ProgOpt,
) -> None:
    """Allocate a resource to a team for a round."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        sup.allocate(
            s,
            svc.get_round(s, p, number),
            svc.get_consortium(s, p, team_name),
            resource,
            amount,
            unit,
            actor=c.actor,
            now=c.now(),
        )
    console.print("allocated")


@app.command("resources")
def round_resources(
    ctx: typer.Context, number: int, prog: str = ProgOpt, as_json: bool = JsonOpt
) -> None:
    """Check that every active team receives equal support (exit 2 if not)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        rep = sup.check_resources(s, svc.get_round(s, svc.get_programme(s, prog), number))
    if as_json:
        emit_json({"equal": rep.equal, "issues": list(rep.issues)})
    elif rep.equal:
        console.print("[green]equal support[/] for every active team")
    else:
        for i in rep.issues:
            console.print(f"[red]unequal:[/] {i}")
    if not rep.equal:
        raise typer.Exit(2)
