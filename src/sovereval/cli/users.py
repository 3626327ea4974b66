"""``sovereval user``: web accounts and API tokens (each change lands in the ledger)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, timedelta

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
    days: int = typer.Option(
        90,
        "--days",
        min=1,
        max=366,
        help="Days until the token expires.",
        envvar="SOVEREVAL_TOKEN_DAYS",
    ),
) -> None:
    """Issue an API token; it is printed once and only its hash is stored. Tokens expire."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        _row, plain = users.issue_token(
            s,
            users.get_user(s, username),
            name,
            ttl=timedelta(days=days),
            actor=c.actor,
            now=c.now(),
        )
    sys.stdout.write(plain + "\n")


@app.command("tokens")
def tokens(
    ctx: typer.Context, username: str = typer.Argument(...), as_json: bool = JsonOpt
) -> None:
    """List a user's API tokens (id, name, prefix, expiry, state); never the tokens themselves."""
    c = ctx_of(ctx)
    now = c.now()
    with c.store.session() as s:
        rows = []
        for t in users.tokens_of(s, users.get_user(s, username)):
            exp = t.expires_at.replace(tzinfo=t.expires_at.tzinfo or UTC) if t.expires_at else None
            state = "revoked" if t.revoked_at else "expired" if exp and exp <= now else "active"
            rows.append(
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "expires_at": exp.isoformat() if exp else None,
                    "state": state,
                }
            )
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['id']:>5} {r['name']:<20} {r['prefix']}… {r['state']:<8} until {r['expires_at']}",
            highlight=False,
        )


@app.command("revoke-token")
def revoke_token(ctx: typer.Context, token_id: int = typer.Argument(..., help="Token id.")) -> None:
    """Revoke an API token (see ``sovereval user tokens``); it stops working at once."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        row = users.revoke_token(s, token_id, actor=c.actor, now=c.now())
        console.print(f"token {row.id} ({row.name}) revoked", highlight=False)


@app.command("deactivate")
def deactivate(ctx: typer.Context, username: str = typer.Argument(...)) -> None:
    """Deactivate a user: their sessions end and their API tokens stop working."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        users.set_active(s, users.get_user(s, username), False, actor=c.actor, now=c.now())
    console.print(f"user '{username}' deactivated", highlight=False)


@app.command("activate")
def activate(ctx: typer.Context, username: str = typer.Argument(...)) -> None:
    """Reactivate a deactivated user."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        users.set_active(s, users.get_user(s, username), True, actor=c.actor, now=c.now())
    console.print(f"user '{username}' activated", highlight=False)


@app.command("reset-password")
def reset_password(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Set a new password (stdin, SOVEREVAL_PASSWORD or a prompt); open sessions end."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        users.set_password(
            s, users.get_user(s, username), _password(password_stdin), actor=c.actor, now=c.now()
        )
    console.print(f"password of '{username}' reset; their sessions ended", highlight=False)


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
