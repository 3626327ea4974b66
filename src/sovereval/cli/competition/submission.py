"""``sovereval submission``: model submissions with artefact digests and declared components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.cli.competition._shared import ProgOpt, RoundOpt, read_json
from sovereval.competition import service as svc
from sovereval.store import models as m

app = typer.Typer(
    help="Model submissions with artefact digests and declared components.", no_args_is_help=True
)


@app.command("register")
def submission_register(
    ctx: typer.Context,
    team_name: str = typer.Option(..., "--team"),
    model: str = typer.Option(...),
    artefact: str = typer.Option(
        ..., help="Path (digested file by file) or URI of the model artefact."
    ),
    components: Path = typer.Option(
        ..., help="JSON list of {name, kind, declared_origin, licence}."
    ),
    endpoint: str = typer.Option("", help="Serving endpoint (model URI)."),
    target: str = typer.Option("", help="Declared global target model."),
    supersedes: int | None = typer.Option(
        None, help="Id of the team's current submission, withdrawn in the same step."
    ),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
) -> None:
    """Register the team's one active submission of a round (while the round is open); local
    artefact files are recorded with their SHA-256. Components: see sovereval schema components."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        sub = svc.register_submission(
            s,
            svc.get_round(s, p, rnd),
            svc.get_consortium(s, p, team_name),
            model,
            artefact=artefact,
            components=read_json(components),
            endpoint=endpoint,
            target_model=target,
            supersedes=supersedes,
            actor=c.actor,
            now=c.now(),
        )
        console.print(f"submission {sub.id} registered with {len(sub.files)} file digest(s)")


@app.command("withdraw")
def submission_withdraw(
    ctx: typer.Context,
    submission_id: int,
    reason: str = typer.Option(..., help="Why the team withdraws it."),
) -> None:
    """Withdraw a submission before its round closes; the team may then register another."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.withdraw_submission(
            s, svc.get_submission(s, submission_id), reason=reason, actor=c.actor, now=c.now()
        )
    console.print(f"submission {submission_id} withdrawn")


@app.command("list")
def submission_list(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """List a round's submissions."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        rows: list[dict[str, Any]] = []
        for x in s.execute(select(m.Submission).where(m.Submission.round_id == r.id)).scalars():
            cons = s.get(m.Consortium, x.consortium_id)
            rows.append(
                {
                    "id": x.id,
                    "team": cons.name if cons else "?",
                    "model": x.model_name,
                    "status": x.status,
                    "components": x.components,
                    "files": x.files,
                    "target_model": x.target_model,
                }
            )
    if as_json:
        emit_json(rows)
        return
    t = Table("Id", "Team", "Model", "Status", "Components", "Files")
    for r_ in rows:
        t.add_row(
            str(r_["id"]),
            r_["team"],
            r_["model"],
            r_["status"],
            ", ".join(f"{x['name']}({x['declared_origin']})" for x in r_["components"]),
            str(len(r_["files"])),
        )
    console.print(t)
