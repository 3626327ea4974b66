"""Users, API tokens and login sessions (service layer; every change lands in the ledger).

Passwords are hashed with argon2id (RFC 9106) through argon2-cffi; tokens are 256-bit random
values from :mod:`secrets`, and only their SHA-256 digests are stored, so a copy of the database
grants nobody a session or API access. Ledger events name the user and what happened, never a
password or a token.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.errors import AuthenticationError, ConflictError, InputError, NotFoundError
from sovereval.ledger.log import append
from sovereval.ledger.record import record
from sovereval.store import models as m
from sovereval.store.web_models import ROLES, ApiToken, LoginSession, User

MIN_PASSWORD = 12
TOKEN_PREFIX = "sov_"
SESSION_TTL = timedelta(hours=12)
TOKEN_TTL = timedelta(days=90)
"""Default lifetime of an API token; a longer-lived one must be asked for explicitly."""

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both failures take the same time.
    Computed on first use: an argon2 hash costs tens of milliseconds, too much for every CLI start."""
    return _hasher.hash("sovereval-timing-equaliser")


def digest(token: str) -> str:
    """SHA-256 hex of a session or API token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def get_user(s: Session, username: str) -> User:
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None:
        raise NotFoundError(f"no user named '{username}'; add one with: sovereval user add")
    return u


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    *,
    consortium: m.Consortium | None = None,
    expert_name: str | None = None,
    display_name: str = "",
    actor: str,
    now: datetime,
) -> User:
    """Create a user. A ``team`` user belongs to exactly one consortium; nobody else does."""
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise InputError("a username needs 1-100 characters and no spaces")
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'; expected one of {', '.join(ROLES)}")
    if (role == "team") != (consortium is not None):
        raise InputError("a team user needs a consortium, and only a team user may have one")
    if role == "expert" and not (expert_name or "").strip():
        expert_name = display_name or username
    if s.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"user '{username}' already exists")
    u = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        consortium_id=consortium.id if consortium else None,
        expert_name=expert_name if role == "expert" else None,
        active=True,
        created_at=now,
    )
    record(
        s,
        u,
        actor=actor,
        kind="user.created",
        body={
            "user": username,
            "role": role,
            "consortium": consortium.name if consortium else None,
            "expert": u.expert_name,
        },
        at=now,
    )
    return u


def set_password(s: Session, user: User, password: str, *, actor: str, now: datetime) -> User:
    user.password_hash = hash_password(password)
    _revoke_sessions(s, user, now)
    append(s, actor=actor, kind="user.password_set", body={"user": user.username}, at=now)
    return user


def set_active(s: Session, user: User, active: bool, *, actor: str, now: datetime) -> User:
    user.active = active
    if not active:
        _revoke_sessions(s, user, now)
    append(
        s,
        actor=actor,
        kind="user.activated" if active else "user.deactivated",
        body={"user": user.username},
        at=now,
    )
    return user


def tokens_of(s: Session, user: User) -> list[ApiToken]:
    """A user's API tokens, newest first, revoked and expired ones included."""
    return list(
        s.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).scalars()
    )


def _revoke_sessions(s: Session, user: User, now: datetime) -> None:
    for row in s.execute(
        select(LoginSession).where(
            LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None)
        )
    ).scalars():
        row.revoked_at = now


def issue_token(
    s: Session,
    user: User,
    name: str,
    *,
    expires_at: datetime | None = None,
    ttl: timedelta = TOKEN_TTL,
    actor: str,
    now: datetime,
) -> tuple[ApiToken, str]:
    """Issue an API token; returns the row and the plaintext token (shown once, never stored).

    Every token expires: at ``expires_at`` when given, else ``ttl`` (90 days) after ``now``.
    """
    if not name.strip():
        raise InputError("an API token needs a name saying what it is for")
    if not user.active:
        raise ConflictError(f"user '{user.username}' is deactivated; activate it first")
    if expires_at is None:
        expires_at = now + ttl
    if expires_at <= now:
        raise InputError("an API token must expire after the time it is issued")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name.strip()[:100],
        token_hash=digest(plain),
        prefix=plain[:10],
        created_at=now,
        expires_at=expires_at,
    )
    record(
        s,
        row,
        actor=actor,
        kind="token.issued",
        body=lambda r: {
            "user": user.username,
            "token": r.id,
            "name": r.name,
            "prefix": r.prefix,
            "expires_at": expires_at.isoformat(),
        },
        at=now,
    )
    return row, plain


def revoke_token(s: Session, token_id: int, *, actor: str, now: datetime) -> ApiToken:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        user = s.get(User, row.user_id)
        append(
            s,
            actor=actor,
            kind="token.revoked",
            body={"user": user.username if user else None, "token": row.id},
            at=now,
        )
    return row


def login(
    s: Session, username: str, password: str, *, now: datetime, ttl: timedelta = SESSION_TTL
) -> tuple[LoginSession, str]:
    """Check a password and open a session; returns the row and the cookie value.

    Unknown users and wrong passwords fail with the same message after the same work.
    """
    user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or not user.active:
        raise AuthenticationError("wrong username or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    plain = secrets.token_urlsafe(32)
    row = LoginSession(id=digest(plain), user_id=user.id, created_at=now, expires_at=now + ttl)
    record(s, row, actor=user.username, kind="user.login", body={"user": user.username}, at=now)
    return row, plain


def logout(s: Session, session_token: str, *, now: datetime) -> None:
    row = s.get(LoginSession, digest(session_token))
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = now
    user = s.get(User, row.user_id)
    name = user.username if user else "?"
    append(s, actor=name, kind="user.logout", body={"user": name}, at=now)


def user_for_session(s: Session, session_token: str, now: datetime) -> User | None:
    """The active user behind a session cookie, or ``None`` (read-only)."""
    row = s.execute(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.id == digest(session_token),
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
            User.active.is_(True),
        )
    ).scalar_one_or_none()
    return row


def user_for_token(s: Session, token: str, now: datetime) -> User | None:
    """The active user behind a bearer token, or ``None`` (read-only)."""
    row = s.execute(
        select(User, ApiToken.expires_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == digest(token),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    user, expires = row
    if expires is not None and expires <= now:
        return None
    return user  # type: ignore[no-any-return]
