"""``sovereval appeal``: appeals inside the window counted from publication."""

from __future__ import annotations

import typer

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.cli.competition._shared import ProgOpt, RoundOpt
from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import DeadlinePassedError, InputError
from sovereval.store import models as m

app = typer.Typer(help="Appeals inside the window counted from publication.", no_args_is_help=True)


@app.command("file")
def appeal_file(
    ctx: typer.Context,
    team_name: str = typer.Option(..., "--team"),
    text: str = typer.Option(..., help="The appeal statement."),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
) -> None:
    """File an appeal; a late one is recorded as rejected and the command exits 2 with the reason."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        a = rs.file_appeal(
            s,
            svc.get_round(s, p, rnd),
            svc.get_consortium(s, p, team_name),
            text,
            actor=c.actor,
            now=c.now(),
        )
        status, reason, aid = a.status, a.reason, a.id
    if status == "rejected_late":
        raise DeadlinePassedError(f"appeal {aid} rejected: {reason}")
    console.print(f"appeal {aid} filed: {reason}")


@app.command("decide")
def appeal_decide(
    ctx: typer.Context,
    appeal_id: int,
    upheld: bool = typer.Option(..., "--upheld/--dismissed"),
    resolution: str = typer.Option(..., help="Written resolution."),
    change: list[str] = typer.Option([], help="Score change SUBMISSION:PART:VALUE:LO:HI (repeat)."),
    other_teams: bool = typer.Option(
        False, "--other-teams", help="The decision also changes other teams' results (flagged)."
    ),
) -> None:
    """Decide an appeal; score changes are recorded as edits and the results are reissued."""
    c = ctx_of(ctx)
    changes = []
    for ch in change:
        try:
            sid, part, v, lo, hi = ch.split(":")
            changes.append((int(sid), part, Measurement(float(v), float(lo), float(hi))))
        except ValueError as exc:
            raise InputError(f"--change '{ch}': expected SUBMISSION:PART:VALUE:LO:HI") from exc
    with c.store.session() as s:
        a = s.get(m.Appeal, appeal_id)
        if a is None:
            raise InputError(f"no appeal with id {appeal_id}")
        card = rs.decide_appeal(
            s,
            a,
            upheld=upheld,
            resolution=resolution,
            score_changes=changes,
            other_teams=other_teams,
            actor=c.actor,
            now=c.now(),
        )
        console.print(
            f"appeal {appeal_id} {a.status}"
            + (f"; results reissued as issue {card.issue}" if card else "")
        )


@app.command("list")
def appeal_list(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """List appeals of a round."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        rows = rs.appeal_rows(s, r, with_text=True)
    if as_json:
        emit_json(rows)
    else:
        for x in rows:
            console.print(f"#{x['id']} {x['team']} {x['status']}: {x['reason']} {x['resolution']}")
