"""Who is calling, and may they: the one enforcement point of ``policy.POLICY``.

Three app-wide dependencies run before every API route and page:

- :func:`principal` reads the session cookie or the ``Authorization: Bearer`` header and finds
  the user (no credentials: the anonymous ``public`` role; a bad bearer token: 401).
- :func:`enforce` looks up the route's :class:`~sovereval.web.policy.Rule` by route name,
  refuses roles it does not list (401 when signed out, 403 otherwise), applies the rate limit
  and runs the subject check (404 for a submission the caller may not see).
- :func:`csrf_protect` requires a valid CSRF token on unsafe methods unless the request is
  authenticated by a bearer token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from sovereval.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from sovereval.store.web_models import User
from sovereval.web import csrf, policy
from sovereval.web.context import WebContext
from sovereval.web.errors import CsrfError, RateLimitedError
from sovereval.web.users_service import user_for_session, user_for_token


@dataclass(frozen=True)
class Principal:
    user: User | None
    via: Literal["anonymous", "session", "token"]
    binding: str | None = None
    """What the CSRF token is bound to: the session cookie, or the anonymous CSRF cookie."""

    @property
    def role(self) -> policy.Role:
        return policy.role_of(self.user)

    @property
    def actor(self) -> str:
        """The name recorded in the ledger for this caller's actions."""
        return self.user.username if self.user else "public"


def ctx_of(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


async def principal(request: Request) -> Principal:
    ctx = ctx_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("use 'Authorization: Bearer <API token>'")
        user = await run_in_threadpool(_lookup, ctx, "token", token.strip())
        if user is None:
            raise AuthenticationError("the API token is unknown, expired or revoked")
        p = Principal(user, "token")
    else:
        cookie = request.cookies.get(ctx.session_cookie)
        user = await run_in_threadpool(_lookup, ctx, "session", cookie) if cookie else None
        if user is not None:
            p = Principal(user, "session", cookie)
        else:
            p = Principal(None, "anonymous", request.cookies.get(csrf.ANON_COOKIE))
    request.state.principal = p
    return p


def _lookup(ctx: WebContext, kind: str, token: str) -> User | None:
    with ctx.store.session() as s:
        now = ctx.now()
        return user_for_token(s, token, now) if kind == "token" else user_for_session(s, token, now)


def route_name(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "name", "") or "")


async def enforce(request: Request, who: Principal = Depends(principal)) -> Principal:
    ctx = ctx_of(request)
    name = route_name(request)
    rule = policy.POLICY.get(name)
    if rule is None:  # fail closed; the matrix test keeps this from ever happening
        raise PermissionDeniedError(f"route '{name}' has no access rule")
    if not policy.allows(rule, who.role):
        if who.user is None:
            if request.url.path.startswith("/api/"):
                raise AuthenticationError(
                    "this API call needs an API token: send 'Authorization: Bearer <token>' "
                    "(an administrator issues tokens)"
                )
            raise AuthenticationError("sign in to see this page")
        raise PermissionDeniedError(f"the {who.role} role may not use '{name}'")
    if rule.limit is not None and ctx.limits.enabled:
        if rule.limit == "login":
            key = request.client.host if request.client else "unknown"
            wait = ctx.login_buckets.take(key, time.monotonic())
        else:
            key = f"user:{who.user.id}" if who.user else f"ip:{request.client}"
            wait = ctx.write_buckets.take(key, time.monotonic())
        if wait > 0:
            raise RateLimitedError(
                f"too many {rule.limit} requests; try again in {int(wait) + 1} s", wait
            )
    if rule.subject == "submission":
        raw = request.path_params.get("submission_id")
        try:
            sid = int(str(raw))
        except (TypeError, ValueError):
            raise NotFoundError(f"no submission with id {raw}") from None
        visible = await run_in_threadpool(_can_see_submission, ctx, who.user, sid)
        if not visible:
            raise NotFoundError(f"no submission with id {sid}")
    return who


def _can_see_submission(ctx: WebContext, user: User | None, sid: int) -> bool:
    with ctx.store.session() as s:
        return policy.can_see_submission(s, user, sid)


async def csrf_protect(request: Request, who: Principal = Depends(principal)) -> None:
    if request.method not in csrf.UNSAFE_METHODS or who.via == "token":
        return
    presented = request.headers.get(csrf.HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(csrf.FIELD)
        presented = value if isinstance(value, str) else None
        for v in form.values():  # form hygiene, in the one place that reads every form
            if isinstance(v, str) and "\x00" in v:
                raise InputError("form fields may not contain NUL characters")
    if not csrf.check(ctx_of(request).settings.secret_key, who.binding, presented):
        raise CsrfError("the form's security token is missing or stale; reload the page and retry")
