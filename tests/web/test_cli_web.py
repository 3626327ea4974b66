"""`sovereval serve` refuses unsafe settings; `sovereval user` creates users and tokens."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sovereval.cli import serve as serve_mod
from sovereval.cli import users as users_cli
from sovereval.cli.common import Context
from sovereval.errors import InputError
from sovereval.settings import Settings
from sovereval.store.db import Store
from sovereval.web import users_service as users

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _root(db: Path) -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def cb(ctx: typer.Context) -> None:
        ctx.obj = Context(Settings(db_url=f"sqlite:///{db}"), "cli-admin", AT)

    root.add_typer(users_cli.app, name="user")
    root.command("serve")(serve_mod.serve)
    return root


def test_serve_refuses_the_default_secret_beyond_loopback(tmp_path: Path) -> None:
    r = CliRunner().invoke(_root(tmp_path / "x.db"), ["serve", "--host", "0.0.0.0"])
    assert isinstance(r.exception, InputError)
    assert "SOVEREVAL_SECRET_KEY" in str(r.exception)


@pytest.mark.parametrize(
    ("host", "loop"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("example.org", False),
    ],
)
def test_loopback_detection(host: str, loop: bool) -> None:
    assert serve_mod._loopback(host) is loop


def test_multi_worker_socket_keeps_nodelay() -> None:
    from sovereval.web.server import NoDelayConfig

    cfg = NoDelayConfig("x:y", host="127.0.0.1", port=0)
    sock = cfg.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_user_add_and_token(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    Store(f"sqlite:///{db}").dispose()
    runner = CliRunner()
    app = _root(db)
    r = runner.invoke(
        app,
        ["user", "add", "alice", "--role", "admin"],
        env={"SOVEREVAL_PASSWORD": "a sufficiently long one"},
    )
    assert r.exit_code == 0, r.output
    assert "user 'alice' (admin) created" in r.output
    r = runner.invoke(app, ["user", "token", "alice", "--name", "ci"])
    token = r.output.strip()
    assert token.startswith("sov_")
    st = Store(f"sqlite:///{db}")
    with st.session() as s:
        u = users.user_for_token(s, token, AT)
        assert u is not None and u.username == "alice"
    st.dispose()
    r = runner.invoke(
        app, ["user", "add", "bob", "--role", "team"], env={"SOVEREVAL_PASSWORD": "x" * 12}
    )
    assert isinstance(r.exception, InputError) and "--consortium" in str(r.exception)
    listing = runner.invoke(app, ["user", "list", "--json"])
    assert '"username": "alice"' in listing.output


def test_user_tokens_revoke_deactivate_and_reset_from_the_cli(tmp_path: Path) -> None:
    from datetime import timedelta

    db = tmp_path / "u.db"
    Store(f"sqlite:///{db}").dispose()
    runner, app = CliRunner(), _root(db)
    env = {"SOVEREVAL_PASSWORD": "a sufficiently long one"}
    assert runner.invoke(app, ["user", "add", "alice", "--role", "admin"], env=env).exit_code == 0
    token = runner.invoke(app, ["user", "token", "alice", "--name", "ci", "--days", "7"]).output
    token = token.strip()
    listing = runner.invoke(app, ["user", "tokens", "alice", "--json"])
    assert listing.exit_code == 0, listing.output
    assert (
        '"state": "active"' in listing.output
        and '"expires_at": "2026-01-22T09:00' in listing.output
    )
    st = Store(f"sqlite:///{db}")
    with st.session() as s:
        assert users.user_for_token(s, token, AT + timedelta(days=6)) is not None
        assert users.user_for_token(s, token, AT + timedelta(days=7)) is None  # expired
    r = runner.invoke(app, ["user", "revoke-token", "1"])
    assert r.exit_code == 0 and "revoked" in r.output
    with st.session() as s:
        assert users.user_for_token(s, token, AT) is None
    assert runner.invoke(app, ["user", "revoke-token", "99"]).exit_code != 0
    assert runner.invoke(app, ["user", "deactivate", "alice"]).exit_code == 0
    with st.session() as s:
        assert users.get_user(s, "alice").active is False
    assert runner.invoke(app, ["user", "activate", "alice"]).exit_code == 0
    r = runner.invoke(
        app,
        ["user", "reset-password", "alice"],
        env={"SOVEREVAL_PASSWORD": "another long passphrase"},
    )
    assert r.exit_code == 0, r.output
    with st.session() as s:
        users.login(s, "alice", "another long passphrase", now=AT)
    st.dispose()


def test_review_evidence_upload_from_the_cli(demo_db: Path, tmp_path: Path) -> None:
    import hashlib
    import shutil

    from sovereval.cli import review as review_cli

    db = tmp_path / "d.db"
    shutil.copy(demo_db, db)
    root = typer.Typer()

    @root.callback()
    def cb(ctx: typer.Context) -> None:
        # No --at: the sample holds live events, so the CLI acts now (see claim_replay).
        ctx.obj = Context(Settings(db_url=f"sqlite:///{db}"), "cli-admin", None)

    root.add_typer(review_cli.app, name="review")
    log = tmp_path / "train.jsonl"
    log.write_text('{"step": 1, "loss": 9.1}\n', encoding="utf-8")
    r = CliRunner().invoke(
        root, ["review", "evidence", "1", str(log), "--kind", "training_log", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(log.read_bytes()).hexdigest() in r.output
    binary = tmp_path / "w.bin"
    binary.write_bytes(b"\xff\x00\x81")
    bad = CliRunner().invoke(root, ["review", "evidence", "1", str(binary), "--kind", "other"])
    assert isinstance(bad.exception, InputError) and "UTF-8" in str(bad.exception)
