"""Web identity tables: users with a role, API tokens and login sessions.

Secrets are never stored: passwords as argon2id hashes, API tokens and session tokens as
SHA-256 digests of the random value handed to the client. The tables are created by the
explicit migration ``0002_web_auth``; importing this module only adds them to ``Base.metadata``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from sovereval.store.models import Base

ROLES = ("admin", "evaluator", "expert", "team", "panelist")
"""Roles a stored user can hold; ``public`` is the anonymous visitor and has no row."""


class User(Base):
    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id hash in PHC string format (parameters included, so they can be raised later)."""
    role: Mapped[str] = mapped_column(String(16))
    """admin | evaluator | expert | team | panelist"""
    consortium_id: Mapped[int | None] = mapped_column(ForeignKey("consortia.id"), nullable=True)
    """The one consortium a ``team`` user belongs to; ``None`` for every other role."""
    expert_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The name an ``expert`` carries on panels and review assignments."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "web_api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 hex of the bearer token; the token itself is shown once and never stored."""
    prefix: Mapped[str] = mapped_column(String(16))
    """First characters of the token, so a user can tell tokens apart in listings."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LoginSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 hex of the session cookie's value."""
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
