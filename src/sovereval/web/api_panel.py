"""The arena's JSON API for panelists (``/api/v1/arena/...``), over the same read model as the
pages (``views_panel.battle_out``): answers under "A" and "B", identities only after the vote.

Starting a battle answers 202 with the battle pending; poll ``GET /arena/battles/{id}`` until
``status`` is ``ready`` (or ``failed``: retry it). A vote answers 201 with the revealed battle,
409 for a second vote on a battle, 422 past the daily cap and 429 beyond the vote rate.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from sovereval.arena import service as arena
from sovereval.store.web_models import User
from sovereval.web import views_panel
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, who
from sovereval.web.panel_runtime import runtime_of
from sovereval.web.schemas import SafeText, Strict
from sovereval.web.vote_writer import VoteRequest

router = APIRouter(prefix="/arena", tags=["arena"])


class ArenaRoundOut(BaseModel):
    round_id: int
    round: int
    name: str
    programme: str
    status: str
    votes_today: int
    daily_cap: int
    curated: int
    """How many prompts the round's curated set holds."""


class BattleIn(Strict):
    prompt: SafeText = Field(default="", max_length=20_000)
    """Your prompt; ignored when ``source`` is ``curated`` (one is drawn from the round's set)."""
    source: Literal["own", "curated"] = "own"


class VoteIn(Strict):
    outcome: Literal["a", "b", "tie", "both_bad"]
    reliability_a: int = Field(ge=1, le=5)
    practicality_a: int = Field(ge=1, le=5)
    reliability_b: int = Field(ge=1, le=5)
    practicality_b: int = Field(ge=1, le=5)
    comment: SafeText = Field(default="", max_length=2000)

    @field_validator("outcome", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v


class Identity(BaseModel):
    alias: str
    model: str
    team: str


class VoteOut(BaseModel):
    outcome: str
    reliability_a: int
    practicality_a: int
    reliability_b: int
    practicality_b: int
    comment: str
    at: str


class BattleOut(BaseModel):
    id: int
    round_id: int
    prompt: str
    prompt_source: str
    status: Literal["pending", "ready", "voted", "failed", "retried"]
    answers: dict[Literal["A", "B"], str] | None = None
    """Present once both answers are in."""
    revealed: dict[Literal["A", "B"], Identity] | None = None
    """Who wrote each answer: only after your vote."""
    vote: VoteOut | None = None


def _user(request: Request) -> User:
    u = who(request).user
    assert u is not None
    return u


@router.get("/rounds", name="api_arena_rounds", response_model=list[ArenaRoundOut])
def api_arena_rounds(request: Request) -> Any:
    """The open rounds whose panel you are on, with today's votes against the cap."""
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        return views_panel.panelist_rounds(s, _user(request), ctx.now())


@router.post(
    "/rounds/{round_id}/battles",
    name="api_arena_battle_start",
    response_model=BattleOut,
    status_code=202,
)
async def api_arena_battle_start(request: Request, round_id: Id, body: BattleIn) -> Any:
    """Open a blind battle; the answers are generated in the background (poll the battle)."""
    ctx = ctx_of(request)
    user = _user(request)

    def begin() -> dict[str, Any]:
        with ctx.write_session() as s:
            b = views_panel.start(
                s,
                user,
                round_id,
                body.prompt,
                source=body.source,
                rng=np.random.default_rng(),
                now=ctx.now(),
            )
            return views_panel.battle_out(s, b, user, now=ctx.now())

    out = await run_in_threadpool(begin)
    runtime_of(request).answers.schedule(int(out["id"]))
    return out


@router.get("/battles/{battle_id}", name="api_arena_battle", response_model=BattleOut)
def api_arena_battle(request: Request, battle_id: Id) -> Any:
    """One of your battles: its status, the answers once ready, identities after your vote."""
    ctx = ctx_of(request)
    user = _user(request)
    with ctx.store.session() as s:
        battle, _p = views_panel.own_battle(s, user, battle_id)
        return views_panel.battle_out(s, battle, user, now=ctx.now())


@router.post(
    "/battles/{battle_id}/vote", name="api_arena_vote", response_model=BattleOut, status_code=201
)
async def api_arena_vote(request: Request, battle_id: Id, body: VoteIn) -> Any:
    """Vote once on a ready battle; the answer reveals which models fought it."""
    ctx = ctx_of(request)
    user = _user(request)
    rt = runtime_of(request)
    rt.take_vote_token(user.username)
    vote = arena.VoteInput(
        body.outcome,
        body.reliability_a,
        body.practicality_a,
        body.reliability_b,
        body.practicality_b,
        comment=body.comment,
    )
    out = await asyncio.wrap_future(rt.votes.submit(VoteRequest(user, battle_id, vote, ctx.now())))
    # The hot path of the load test: the read model already has the schema's shape, so it is
    # encoded directly instead of being validated again against ``BattleOut``.
    body_json = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    return Response(
        body_json,
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "private, no-store"},
    )


@router.post(
    "/battles/{battle_id}/retry",
    name="api_arena_battle_retry",
    response_model=BattleOut,
    status_code=202,
)
async def api_arena_battle_retry(request: Request, battle_id: Id) -> Any:
    """Start a new battle on the prompt of a failed one (the failed one stays on record)."""
    ctx = ctx_of(request)
    user = _user(request)

    def again() -> dict[str, Any]:
        with ctx.write_session() as s:
            b = views_panel.retry(s, user, battle_id, rng=np.random.default_rng(), now=ctx.now())
            return views_panel.battle_out(s, b, user, now=ctx.now())

    out = await run_in_threadpool(again)
    runtime_of(request).answers.schedule(int(out["id"]))
    return out
