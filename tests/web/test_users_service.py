"""Users, tokens and sessions on SQLite and PostgreSQL: secrets never stored, every change in
the ledger, and the policy's role mapping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from sovereval.competition import service as svc
from sovereval.errors import AuthenticationError, ConflictError, InputError
from sovereval.ledger.log import verify_store
from sovereval.store.db import Store
from sovereval.store.models import LedgerEvent
from sovereval.store.web_models import ApiToken, LoginSession, User
from sovereval.web import policy
from sovereval.web import users_service as users

PW = "a long enough password"


def test_migration_creates_the_web_tables(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"web_users", "web_api_tokens", "web_sessions"} <= names


def test_user_lifecycle_keeps_secrets_out_of_the_store(store: Store, now: datetime) -> None:
    with store.session() as s:
        prog = svc.create_programme(s, "P", "", actor="a", now=now)
        team = svc.add_consortium(s, prog, "T", "T", [], actor="a", now=now)
        u = users.create_user(s, "alice", PW, "team", consortium=team, actor="admin", now=now)
        assert u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
        row, token = users.issue_token(s, u, "ci", actor="admin", now=now)
        assert token.startswith("sov_") and len(token) > 40
        assert row.token_hash == users.digest(token) and token not in row.token_hash
        sess, cookie = users.login(s, "alice", PW, now=now)
        assert sess.id == users.digest(cookie)
    with store.session() as s:
        assert users.user_for_token(s, token, now).username == "alice"  # type: ignore[union-attr]
        assert users.user_for_session(s, cookie, now).username == "alice"  # type: ignore[union-attr]
        # 12 h sessions: valid just before, gone at expiry.
        assert users.user_for_session(s, cookie, now + timedelta(hours=11, minutes=59)) is not None
        assert users.user_for_session(s, cookie, now + timedelta(hours=12)) is None
        events = s.execute(select(LedgerEvent).order_by(LedgerEvent.seq)).scalars().all()
        kinds = [e.kind for e in events]
        assert kinds[-3:] == ["user.created", "token.issued", "user.login"]
        text = json.dumps([e.payload for e in events])
        assert PW not in text and token not in text and cookie not in text
        assert json.loads(events[-3].payload) == {
            "user": "alice",
            "role": "team",
            "consortium": "T",
            "expert": None,
        }
        assert verify_store(s).ok


def test_logout_revocation_and_password_change(store: Store, now: datetime) -> None:
    with store.session() as s:
        u = users.create_user(s, "bob", PW, "evaluator", actor="admin", now=now)
        tok_row, token = users.issue_token(s, u, "ci", actor="admin", now=now)
        _sess, cookie = users.login(s, "bob", PW, now=now)
        _sess2, cookie2 = users.login(s, "bob", PW, now=now)
        users.logout(s, cookie, now=now)
        users.revoke_token(s, tok_row.id, actor="admin", now=now)
    with store.session() as s:
        assert users.user_for_session(s, cookie, now) is None
        assert users.user_for_session(s, cookie2, now) is not None
        assert users.user_for_token(s, token, now) is None
        users.set_password(
            s, users.get_user(s, "bob"), "another long password", actor="bob", now=now
        )
    with store.session() as s:
        assert users.user_for_session(s, cookie2, now) is None  # password change ends sessions
        with pytest.raises(AuthenticationError):
            users.login(s, "bob", PW, now=now)
        users.login(s, "bob", "another long password", now=now)
        assert s.execute(select(LoginSession)).scalars().all()


def test_login_failures_look_the_same(sqlite_store: Store, now: datetime) -> None:
    with sqlite_store.session() as s:
        users.create_user(s, "carol", PW, "panelist", actor="admin", now=now)
        for name, pw in (("carol", "wrong password!"), ("nobody", PW)):
            with pytest.raises(AuthenticationError, match=r"^wrong username or password$"):
                users.login(s, name, pw, now=now)
        users.set_active(s, users.get_user(s, "carol"), False, actor="admin", now=now)
        with pytest.raises(AuthenticationError):
            users.login(s, "carol", PW, now=now)


def test_expired_token_is_refused(sqlite_store: Store, now: datetime) -> None:
    with sqlite_store.session() as s:
        u = users.create_user(s, "dave", PW, "admin", actor="x", now=now)
        _r, token = users.issue_token(
            s, u, "short", expires_at=now + timedelta(hours=1), actor="x", now=now
        )
        assert users.user_for_token(s, token, now + timedelta(minutes=59)) is not None
        assert users.user_for_token(s, token, now + timedelta(hours=1)) is None
        assert s.execute(select(ApiToken)).scalar_one().prefix == token[:10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "wizard"}, "unknown role"),
        ({"role": "team"}, "team user needs a consortium"),
        ({"role": "admin", "password": "short"}, "at least 12"),
        ({"role": "admin", "username": "has space"}, "no spaces"),
    ],
)
def test_create_user_validation(
    sqlite_store: Store, now: datetime, kwargs: dict[str, str], message: str
) -> None:
    args = {"username": "erin", "password": PW, **kwargs}
    with sqlite_store.session() as s, pytest.raises(InputError, match=message):
        users.create_user(s, args["username"], args["password"], args["role"], actor="x", now=now)


def test_duplicate_user_conflicts(sqlite_store: Store, now: datetime) -> None:
    with sqlite_store.session() as s:
        users.create_user(s, "frank", PW, "expert", actor="x", now=now)
        assert users.get_user(s, "frank").expert_name == "frank"  # defaults to the name
        with pytest.raises(ConflictError):
            users.create_user(s, "frank", PW, "admin", actor="x", now=now)


def test_role_mapping() -> None:
    assert policy.role_of(None) == "public"
    assert policy.role_of(User(role="team")) == "team"
    assert policy.role_of(User(role="something-else")) == "public"  # unknown roles get nothing
