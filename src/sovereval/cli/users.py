"""``sovereval user``: web accounts and API tokens (each change lands in the ledger)."""

from __future__ import annotations

import os
import sys

import typer
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.competition import service as svc
from sovereval.errors import InputError
from sovereval.store.web_models import ROLES, User
from sovereval.web import users_service as users

app = typer.Typer(no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("SOVEREVAL_PASSWORD")
    if env:
        return env
    pw: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return pw


@app.command("add")
def add(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Login name (no spaces)."),
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    programme: str | None = typer.Option(
        None, "--programme", "-p", help="Programme of the consortium (team users)."
    ),
    consortium: str | None = typer.Option(
        None, "--consortium", help="Team users: their consortium."
    ),
    expert_name: str | None = typer.Option(None, "--expert-name", help="Experts: panel name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Add a user. The password comes from stdin, SOVEREVAL_PASSWORD or a prompt."""
    c = ctx_of(ctx)
    team = None
    with c.store.session() as s:
        if role == "team":
            if not programme or not consortium:
                raise InputError("a team user needs --programme and --consortium")
            team = svc.get_consortium(s, svc.get_programme(s, programme), consortium)
        u = users.create_user(
            s,
            username,
            _password(password_stdin),
            role,
            consortium=team,
            expert_name=expert_name,
            actor=c.actor,
            now=c.now(),
        )
        console.print(f"user '{u.username}' ({u.role}) created", highlight=False)


@app.command("token")
def token(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    name: str = typer.Option(..., "--name", help="What the token is for (shown in listings)."),
) -> None:
    """Issue an API token; it is printed once and only its hash is stored."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        _row, plain = users.issue_token(
            s, users.get_user(s, username), name, actor=c.actor, now=c.now()
        )
    sys.stdout.write(plain + "\n")


@app.command("list")
def list_users(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List users with their roles."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "active": u.active,
                "consortium_id": u.consortium_id,
                "expert_name": u.expert_name,
            }
            for u in s.execute(select(User).order_by(User.id)).scalars()
        ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['username']:<24} {r['role']:<10} {'active' if r['active'] else 'inactive'}"
        )
