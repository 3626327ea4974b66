"""The application factory: ``create_app(settings)`` builds a fresh app; nothing is global.

Order of the layers, outermost first: security headers, body-size limit, Starlette's error
middleware, routing. Every API route and page depends on ``auth.enforce`` (the policy table)
and ``auth.csrf_protect``; ``/static`` and ``/openapi.json`` are the only other routes and are
public by rule.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from sovereval.settings import Settings
from sovereval.store.db import Store
from sovereval.web import api, auth, errors, routes_admin, routes_public, routes_roles, routes_team
from sovereval.web.context import Clock, WebContext
from sovereval.web.ratelimit import BucketSpec, RateLimits
from sovereval.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware

STATIC = Path(__file__).parent / "static"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    limits: RateLimits | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the web application.

    ``store`` lets a caller share an open store (tests); otherwise one is opened on
    ``settings.db_url`` (migrating it unless ``migrate`` is false, which ``sovereval serve``
    uses after migrating once before starting its workers). ``clock`` replaces the wall
    clock (replays, tests of deadlines).
    """
    from sovereval.store import web_models  # noqa: F401  (registers the tables' metadata)

    owns = store is None
    st = store if store is not None else Store(settings.db_url, migrate=migrate)
    ctx = WebContext(
        settings=settings,
        store=st,
        clock=clock or _utcnow,
        limits=limits or RateLimits(),
        owns_store=owns,
    )

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        yield
        from sovereval.web.panel_runtime import close_runtime

        close_runtime(app_)  # drain the vote writer, close model backends
        if ctx.owns_store:
            ctx.store.dispose()

    app = FastAPI(
        title="sovereval",
        version="1",
        summary="Results, rules, appeals and the ledger of a sovereign-AI model competition.",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI would load from a CDN; the schema is served instead.
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(auth.enforce), Depends(auth.csrf_protect)],
    )
    app.state.ctx = ctx
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    errors.install(app)
    app.include_router(routes_public.router)
    app.include_router(routes_team.router)
    app.include_router(routes_roles.router)
    app.include_router(routes_admin.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(SecurityHeadersMiddleware, secure=settings.secure_cookies)
    return app


def _openapi(app: FastAPI) -> dict[str, object]:
    """The OpenAPI schema with the bearer-token scheme, and each operation's security taken
    from the policy table: public operations accept an optional token, others require one."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from sovereval.web import policy

    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (sov_...) issued by an administrator on /admin/users "
        "or with `sovereval user token`. Tokens expire.",
    }
    names = {(path, m.lower()): name for name, path, methods in iter_routes(app) for m in methods}
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            rule = policy.POLICY.get(names.get((path, method), ""))
            if rule is None:
                continue
            op["security"] = [{}, {"bearer": []}] if "public" in rule.roles else [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: settings from ``SOVEREVAL_*`` variables.

    ``SOVEREVAL_WEB_MIGRATE=0`` skips migrations (the parent migrated once already);
    ``SOVEREVAL_WEB_WRITE_RATE`` / ``SOVEREVAL_WEB_LOGIN_RATE`` set the per-minute limits and
    ``SOVEREVAL_WEB_RATE_LIMIT=0`` turns limiting off (load tests only).
    """
    env = os.environ
    base = RateLimits()
    write = float(env.get("SOVEREVAL_WEB_WRITE_RATE", base.write.rate_per_minute))
    login = float(env.get("SOVEREVAL_WEB_LOGIN_RATE", base.login.rate_per_minute))
    limits = RateLimits(
        login=BucketSpec(login, base.login.burst),
        write=BucketSpec(write, max(base.write.burst, int(write // 10))),
        enabled=env.get("SOVEREVAL_WEB_RATE_LIMIT", "1") not in ("0", "false", "no"),
    )
    return create_app(
        Settings.from_env(),
        limits=limits,
        migrate=env.get("SOVEREVAL_WEB_MIGRATE", "1") not in ("0", "false", "no"),
    )


def iter_routes(app: FastAPI) -> list[tuple[str, str, frozenset[str]]]:
    """Every route of the app as ``(name, path, methods)``, included routers expanded.

    Newer FastAPI keeps an included router as one lazy entry in ``app.routes``; this walks
    into it so the policy matrix test sees every page and endpoint.
    """
    out: list[tuple[str, str, frozenset[str]]] = []

    def walk(routes: list[object], prefix: str) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                ctx = getattr(r, "include_context", None)
                walk(list(inner.routes), prefix + str(getattr(ctx, "prefix", "") or ""))
                continue
            name = str(getattr(r, "name", "") or "")
            path = prefix + str(getattr(r, "path", ""))
            methods = frozenset(getattr(r, "methods", None) or ())
            out.append((name, path, methods))

    walk(list(app.routes), "")
    return out
