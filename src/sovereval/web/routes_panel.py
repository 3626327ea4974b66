"""The panelist's pages: start a blind battle, watch its answers arrive, vote, see who it was.

Starting a battle answers at once with a redirect to the battle's page; the answers are
generated in the background (``panel_answers``) and the page's panel polls with htmx until they
are in (a plain reload does the same without JavaScript). The vote is an ordinary form post;
a refusal (duplicate vote, daily cap, rate) re-renders the battle page with the reason and the
refusal's status code. Identities appear only on a voted battle (``views_panel.battle_out``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sovereval.errors import AuthenticationError, NotFoundError, SovereValError
from sovereval.store.web_models import User
from sovereval.web import views_panel
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, page, who
from sovereval.web.panel_runtime import runtime_of
from sovereval.web.vote_writer import VoteRequest

router = APIRouter(include_in_schema=False)

NOTICE = {
    "voted": "Vote recorded. Here is who wrote each answer.",
    "retried": "A new comparison on the same prompt has started.",
}
"""Fixed confirmations selected by code (a crafted link cannot put words on the page)."""


def _user(request: Request) -> User:
    user = who(request).user
    assert user is not None
    return user


def _refusal(exc: SovereValError) -> bool:
    """Refusals the page shows in place; authentication and missing records keep their pages."""
    return not isinstance(exc, AuthenticationError | NotFoundError)


def _home_data(request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    user = _user(request)
    with ctx.store.session() as s:
        return {
            "rounds": views_panel.panelist_rounds(s, user, ctx.now()),
            "battles": views_panel.recent_battles(s, user),
        }


def _battle_data(request: Request, battle_id: int) -> dict[str, Any]:
    ctx = ctx_of(request)
    user = _user(request)
    with ctx.store.session() as s:
        battle, _p = views_panel.own_battle(s, user, battle_id)
        return {"b": views_panel.battle_out(s, battle, user, now=ctx.now())}


@router.get("/arena", name="arena_home", response_class=HTMLResponse)
def arena_home(request: Request) -> Response:
    return page(request, "arena.html", problem="", **_home_data(request))


@router.post(
    "/arena/rounds/{round_id}/battles", name="arena_battle_start", response_class=HTMLResponse
)
async def arena_battle_start(request: Request, round_id: Id) -> Response:
    form = await request.form()
    prompt = str(form.get("prompt", "") or "")
    source = "curated" if form.get("source") == "curated" else "own"
    ctx = ctx_of(request)
    user = _user(request)

    def begin() -> int:
        with ctx.write_session() as s:
            b = views_panel.start(
                s, user, round_id, prompt, source=source, rng=np.random.default_rng(), now=ctx.now()
            )
            return b.id

    try:
        battle_id = await run_in_threadpool(begin)
    except SovereValError as exc:
        if not _refusal(exc):
            raise
        data = await run_in_threadpool(_home_data, request)
        return page(request, "arena.html", exc.http_status, problem=str(exc), draft=prompt, **data)
    runtime_of(request).answers.schedule(battle_id)
    return RedirectResponse(f"/arena/battles/{battle_id}", status_code=303)


@router.get("/arena/battles/{battle_id}", name="arena_battle", response_class=HTMLResponse)
def arena_battle(request: Request, battle_id: Id) -> Response:
    notice = NOTICE.get(request.query_params.get("done", ""), "")
    data = _battle_data(request, battle_id)
    return page(request, "battle.html", problem="", notice=notice, **data)


@router.get(
    "/arena/battles/{battle_id}/panel", name="arena_battle_panel", response_class=HTMLResponse
)
def arena_battle_panel(request: Request, battle_id: Id) -> Response:
    """The battle's panel alone, for htmx to poll while the answers are generated."""
    return page(request, "_battle_panel.html", problem="", **_battle_data(request, battle_id))


@router.post("/arena/battles/{battle_id}/vote", name="arena_vote", response_class=HTMLResponse)
async def arena_vote(request: Request, battle_id: Id) -> Response:
    ctx = ctx_of(request)
    user = _user(request)
    rt = runtime_of(request)
    form = await request.form()
    try:
        rt.take_vote_token(user.username)
        vote = views_panel.parse_vote_form(form)
        fut = rt.votes.submit(VoteRequest(user, battle_id, vote, ctx.now()))
        await asyncio.wrap_future(fut)
    except SovereValError as exc:
        if not _refusal(exc):
            raise
        data = await run_in_threadpool(_battle_data, request, battle_id)
        headers = {"Retry-After": str(exc.retry_after)} if hasattr(exc, "retry_after") else {}
        resp = page(request, "battle.html", exc.http_status, problem=str(exc), notice="", **data)
        resp.headers.update(headers)
        return resp
    return RedirectResponse(f"/arena/battles/{battle_id}?done=voted", status_code=303)


@router.post(
    "/arena/battles/{battle_id}/retry", name="arena_battle_retry", response_class=HTMLResponse
)
async def arena_battle_retry(request: Request, battle_id: Id) -> Response:
    ctx = ctx_of(request)
    user = _user(request)

    def again() -> int:
        with ctx.write_session() as s:
            b = views_panel.retry(s, user, battle_id, rng=np.random.default_rng(), now=ctx.now())
            return b.id

    try:
        new_id = await run_in_threadpool(again)
    except SovereValError as exc:
        if not _refusal(exc):
            raise
        data = await run_in_threadpool(_battle_data, request, battle_id)
        return page(request, "battle.html", exc.http_status, problem=str(exc), notice="", **data)
    runtime_of(request).answers.schedule(new_id)
    return RedirectResponse(f"/arena/battles/{new_id}?done=retried", status_code=303)
