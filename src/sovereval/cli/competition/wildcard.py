"""``sovereval wildcard``: wild-card calls, applications and panel votes."""

from __future__ import annotations

from pathlib import Path

import typer

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json, parse_time
from sovereval.cli.competition._shared import ProgOpt, read_json
from sovereval.competition import formats
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.errors import InputError, SovereValError
from sovereval.store import models as m

app = typer.Typer(help="Wild-card calls, applications and panel votes.", no_args_is_help=True)


@app.command("open")
def wildcard_open(
    ctx: typer.Context,
    next_round: int = typer.Option(..., "--next-round"),
    eligible: list[str] = typer.Option(
        ["eliminated", "earlier_applicant", "new"], help="Eligible kinds (repeat)."
    ),
    panel: list[str] = typer.Option(..., help="Panel expert (repeat)."),
    closes: str = typer.Option(...),
    slots: int = typer.Option(1),
    prog: str = ProgOpt,
) -> None:
    """Open a wild-card call for the next round."""
    c = ctx_of(ctx)
    cl = parse_time(closes)
    assert cl
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        call = sup.open_wildcard_call(
            s,
            p,
            svc.get_round(s, p, next_round),
            eligible_kinds=eligible,
            panel=panel,
            opens_at=c.now(),
            closes_at=cl,
            slots=slots,
            actor=c.actor,
            now=c.now(),
        )
        console.print(f"wild-card call {call.id} open until {cl.isoformat()}")


@app.command("apply")
def wildcard_apply(
    ctx: typer.Context,
    call_id: int,
    team_name: str = typer.Option(..., "--team"),
    kind: str | None = typer.Option(None, help="new | earlier_applicant (eliminated is detected)."),
    prog: str = ProgOpt,
) -> None:
    """Apply to a wild-card call."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        call = s.get(m.WildcardCall, call_id)
        if call is None:
            raise InputError(f"no wild-card call {call_id}")
        app_ = sup.apply_wildcard(
            s,
            call,
            svc.get_consortium(s, svc.get_programme(s, prog), team_name),
            actor=c.actor,
            now=c.now(),
            kind=kind,
        )
        console.print(f"application {app_.id} ({app_.kind})")


@app.command("vote")
def wildcard_vote(
    ctx: typer.Context, application_id: int, approve: bool = typer.Option(..., "--approve/--reject")
) -> None:
    """Cast a panel vote (the actor is the expert)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        a = s.get(m.WildcardApplication, application_id)
        if a is None:
            raise InputError(f"no application {application_id}")
        sup.vote_wildcard(s, a, c.actor, approve, now=c.now())
    console.print("vote recorded")


@app.command("ballots")
def wildcard_ballots(ctx: typer.Context, file: Path) -> None:
    """Cast several panel votes at once from a JSON list of {application, approve} (the actor
    is the expert; see: sovereval schema ballots). All or nothing."""
    c = ctx_of(ctx)
    ballots = formats.parse("ballots", read_json(file), label=file.name)
    with c.store.session() as s:
        for i, b in enumerate(ballots):
            a = s.get(m.WildcardApplication, b.application)
            if a is None:
                raise InputError(f"{file.name}: entry {i}: no application {b.application}")
            try:
                sup.vote_wildcard(s, a, c.actor, b.approve, now=c.now())
            except SovereValError as exc:
                raise type(exc)(f"{file.name}: entry {i}: {exc}") from exc
    console.print(f"{len(ballots)} vote(s) recorded")


@app.command("decide")
def wildcard_decide(ctx: typer.Context, call_id: int, as_json: bool = JsonOpt) -> None:
    """Close the call: a strict majority of the panel selects; nobody may be selected."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        call = s.get(m.WildcardCall, call_id)
        if call is None:
            raise InputError(f"no wild-card call {call_id}")
        out = sup.decide_wildcard(s, call, actor=c.actor, now=c.now())
    res = {
        "selected": list(out.selected),
        "approvals": dict(out.approvals),
        "majority": out.majority,
        "reason": out.reason,
    }
    if as_json:
        emit_json(res)
    else:
        console.print(f"selected: {', '.join(out.selected) or 'nobody'} — {out.reason}")
