"""Public pages: programmes, leaderboard, round results, rule versions, report, ledger, login.

Everything here reads published data only. Published scorecards are immutable per issue, so
their read models and the anonymous rendering of their pages are cached by scorecard id; the
transparency report and ledger verification are cached by the ledger head.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from sovereval.competition import service as svc
from sovereval.errors import AuthenticationError, NotFoundError
from sovereval.ledger.chain import to_jsonl
from sovereval.ledger.log import head_hash, iter_events, verify_store
from sovereval.report.transparency import render_report, report_data
from sovereval.store import models as m
from sovereval.store.web_models import User
from sovereval.web import csrf, i18n, views
from sovereval.web import users_service as users
from sovereval.web.auth import ctx_of
from sovereval.web.context import WebContext
from sovereval.web.pages import HOME_OF_ROLE, Id, page, safe_next, who
from sovereval.web.policy import ACCOUNT_EVENT_PREFIXES, STAFF

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"


@router.api_route("/", methods=["GET", "HEAD"], name="home", response_class=HTMLResponse)
def home(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        progs = views.programmes(s)
    return page(request, "home.html", programmes=progs)


@router.get("/healthz", name="healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})


@router.get("/readyz", name="readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from sovereval.store.db import MIGRATIONS

    ctx = ctx_of(request)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    try:
        with ctx.store.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # the database is down or unreachable: not ready, say why
        return JSONResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    if current != head:
        return JSONResponse(
            {"status": "migrating", "schema": current, "expected": head}, status_code=503
        )
    return JSONResponse({"status": "ready", "schema": current})


@router.get("/programmes/{programme_id}", name="programme", response_class=HTMLResponse)
def programme(request: Request, programme_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        prog = views.programme(s, programme_id)
        rounds = views.rounds_public(s, prog)
        info = {"id": prog.id, "name": prog.name, "description": prog.description}
    return page(request, "programme.html", programme=info, rounds=rounds)


REF_TTL = 2.0
"""Seconds a worker may keep answering with the scorecard it last saw as the newest one.

Publication happens in any worker (or the CLI), so each worker re-asks the database at most
this often; a newly published issue shows up at most this much later. Everything else about a
published scorecard is immutable and cached without expiry.
"""


def cached_ref(ctx: WebContext, programme_id: int) -> int | None:
    """The newest published scorecard id if this worker looked it up less than REF_TTL ago."""
    hit = ctx.cache.get(("ref", programme_id))
    if hit is not None and time.monotonic() - hit[1] < REF_TTL:
        return int(hit[0])
    return None


def leaderboard_data(ctx: WebContext, programme_id: int) -> tuple[int | None, dict[str, Any]]:
    """``(scorecard id or None, data)`` of a programme's newest published results (cached)."""
    with ctx.store.session() as s:
        ref = views.latest_published_ref(s, programme_id)
        if ref is not None:
            ctx.cache.put(("ref", programme_id), (ref[0], time.monotonic()))
        if ref is None:
            prog = views.programme(s, programme_id)
            return None, {"programme": {"id": prog.id, "name": prog.name}, "results": None}
        key = ("leaderboard", ref[0])
        cached = ctx.cache.get(key)
        if cached is not None:
            return ref[0], cached
        card = s.get(m.Scorecard, ref[0])
        assert card is not None
        rnd = s.get(m.Round, card.round_id)
        owner = s.get(m.Programme, programme_id)
        assert rnd is not None and owner is not None
        data = {
            "programme": {"id": owner.id, "name": owner.name},
            "results": views.published_results(s, card, rnd),
        }
    return ref[0], ctx.cache.put(key, data)


@router.get(
    "/programmes/{programme_id}/leaderboard", name="leaderboard", response_class=HTMLResponse
)
async def leaderboard(request: Request, programme_id: Id) -> Response:
    """The hot public page: for a signed-out visitor it is served from memory, without a
    database round trip or a thread hop, while the worker's view of "newest" is fresh."""
    ctx = ctx_of(request)
    anonymous = who(request).user is None and not request.query_params
    lang = i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", "")
    )
    headers = {"Cache-Control": "public, max-age=30", "Vary": "Accept-Language, Cookie"}
    if anonymous:
        ref = cached_ref(ctx, programme_id)
        html = ctx.cache.get(("leaderboard.html", ref, lang)) if ref is not None else None
        if html is not None:
            return HTMLResponse(html, headers=headers)
    card_id, data = await run_in_threadpool(leaderboard_data, ctx, programme_id)
    if anonymous and card_id is not None:
        key = ("leaderboard.html", card_id, lang)
        html = ctx.cache.get(key)
        if html is None:
            html = ctx.cache.put(key, bytes(page(request, "leaderboard.html", **data).body))
        return HTMLResponse(html, headers=headers)
    return page(request, "leaderboard.html", **data)


@router.get(
    "/programmes/{programme_id}/rounds/{number}",
    name="round_results",
    response_class=HTMLResponse,
)
def round_results(request: Request, programme_id: Id, number: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        prog = views.programme(s, programme_id)
        results = views.round_results_public(s, prog, number)
        rnd = svc.get_round(s, prog, number)
        info = {"number": rnd.number, "name": rnd.name, "status": rnd.status}
    return page(
        request,
        "round.html",
        programme={"id": prog.id, "name": prog.name},
        round=info,
        results=results,
    )


@router.get(
    "/programmes/{programme_id}/rounds/{number}/rules",
    name="round_rules",
    response_class=HTMLResponse,
)
def round_rules(request: Request, programme_id: Id, number: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        prog = views.programme(s, programme_id)
        rnd = svc.get_round(s, prog, number)
        versions = views.rule_versions(s, rnd, public=True)
        info = {"number": rnd.number, "name": rnd.name, "status": rnd.status}
    return page(
        request,
        "rules.html",
        programme={"id": prog.id, "name": prog.name},
        round=info,
        versions=versions,
    )


@router.get("/programmes/{programme_id}/report", name="report", response_class=HTMLResponse)
def report(request: Request, programme_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        prog = views.programme(s, programme_id)
        key = ("report", prog.id, head_hash(s))
        html = ctx.cache.get(key)
        if html is None:
            data = report_data(s, prog)
            for r in data["rounds"]:  # the public never sees a draft
                r["rules"] = [v for v in r["rules"] if v["status"] != "draft"]
            html = ctx.cache.put(key, render_report(data))
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=30"})


@router.get("/favicon.ico", name="favicon")
def favicon() -> Response:
    """The site icon browsers ask for at the root (a 32 px ICO bundled with the package)."""
    return FileResponse(
        STATIC / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/language/{code}", name="language")
def language(request: Request, code: str, next: str = Query("/", max_length=500)) -> Response:
    """The language switch: remember the choice in a cookie and go back to the page."""
    if code not in i18n.LOCALES:
        raise NotFoundError(
            f"no interface language '{code}'; choose one of {', '.join(i18n.LOCALES)}"
        )
    resp = RedirectResponse(safe_next(next, "/"), status_code=303)
    resp.set_cookie(
        i18n.COOKIE,
        code,
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=ctx_of(request).settings.secure_cookies,
        path="/",
    )
    return resp


LEDGER_PAGE = 25


@router.get("/ledger", name="ledger", response_class=HTMLResponse)
def ledger(request: Request, before: int | None = Query(None, ge=1, le=2**62)) -> Response:
    """Head hash, chain check and the events, newest first, one page at a time.

    The public sees competition events only; organisers also see account events (sign-ins,
    users, tokens), which every hash covers all the same.
    """
    ctx = ctx_of(request)
    staff = who(request).role in STAFF
    with ctx.store.session() as s:
        seq, head = head_hash(s)
        key = ("verify", seq, head)
        check = ctx.cache.get(key)
        if check is None:
            r = verify_store(s)
            check = ctx.cache.put(key, {"ok": r.ok, "problem": r.problem})
        q = select(m.LedgerEvent).order_by(m.LedgerEvent.seq.desc())
        if not staff:
            for prefix in ACCOUNT_EVENT_PREFIXES:
                q = q.where(~m.LedgerEvent.kind.startswith(prefix))
        if before is not None:
            q = q.where(m.LedgerEvent.seq < before)
        rows = list(s.execute(q.limit(LEDGER_PAGE + 1)).scalars())
        recent = [
            {"seq": e.seq, "at": e.at, "kind": e.kind, "hash": e.hash} for e in rows[:LEDGER_PAGE]
        ]
    older = recent[-1]["seq"] if len(rows) > LEDGER_PAGE else None
    return page(
        request,
        "ledger.html",
        seq=seq,
        head=head,
        check=check,
        recent=recent,
        older=older,
        first_page=before is None,
        staff=staff,
    )


@router.get("/ledger/export.jsonl", name="ledger_export")
def ledger_export(request: Request) -> Response:
    """The whole chain as JSONL (the ``sovereval audit export`` format), as a download.

    Payloads carry confidential inputs until results are published, so only organisers
    download it; they publish the file, and anyone checks it against the head hash above with
    ``sovereval audit verify-file``.
    """
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        seq, head = head_hash(s)
        body = "".join(to_jsonl(iter_events(s)))
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="ledger-{seq}-{head[:12]}.jsonl"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/login", name="login_form", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, next, "", 200)


def _login_page(request: Request, nxt: str, error: str, status: int) -> Response:
    ctx = ctx_of(request)
    p = who(request)
    # Signed in already (switching accounts): the form's token binds to the current session.
    binding = (p.binding if p.via == "session" else None) or (
        request.cookies.get(csrf.ANON_COOKIE) or csrf.new_anon_binding()
    )
    token = csrf.token_for(ctx.settings.secret_key, binding)
    resp = page(request, "login.html", status, next=nxt, error=error, csrf_token=token)
    resp.headers["Cache-Control"] = "no-store"
    if p.via == "session":
        return resp
    resp.set_cookie(
        csrf.ANON_COOKIE,
        binding,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        path="/",
    )
    return resp


@router.post("/login", name="login", response_class=HTMLResponse)
def login(
    request: Request,
    username: str = Form(max_length=100),
    password: str = Form(max_length=1024),
    next: str = Form("", max_length=500),
) -> Response:
    ctx = ctx_of(request)
    try:
        with ctx.write_session() as s:
            row, token = users.login(s, username, password, now=ctx.now())
            user = s.get(User, row.user_id)
            assert user is not None
            role = user.role
    except AuthenticationError as exc:
        return _login_page(request, next, str(exc), 401)
    resp = RedirectResponse(safe_next(next, HOME_OF_ROLE.get(role, "/")), status_code=303)
    resp.set_cookie(
        ctx.session_cookie,
        token,
        max_age=int(users.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        path="/",
    )
    return resp


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    ctx = ctx_of(request)
    p = who(request)
    if p.via == "session" and p.binding:
        with ctx.write_session() as s:
            users.logout(s, p.binding, now=ctx.now())
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(ctx.session_cookie, path="/", secure=ctx.settings.secure_cookies)
    return resp
