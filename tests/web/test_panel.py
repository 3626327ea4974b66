"""Panelist battles on the web: background answers, blind display, votes, caps and failures.

``arena_round`` builds an open round 3 in the sample programme with three models behind
``mock:`` endpoints (or any endpoints a test chooses), a published rule set with an ``arena``
section, and panelists enrolled by web username. The answer runner's work is awaited with
``wait_idle`` so no test sleeps or asserts a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from sovereval.arena import service as arena
from sovereval.arena.panel import CATEGORIES
from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.store import evaluation_models as em
from sovereval.store.models import LedgerEvent
from sovereval.store.web_models import User
from sovereval.web import users_service as users
from sovereval.web.panel_runtime import close_runtime, runtime_of_app
from sovereval.web.ratelimit import BucketSpec, RateLimits, TokenBuckets
from tests.web.conftest import PASSWORD, WebEnv, make_env
from tests.web.sample import PROGRAMME

ARENA_TEAMS = {
    "Hanbit AI": "Hanbit-32B-chat",
    "Gyeol Consortium": "Gyeol-22B-chat",
    "Daedong Labs": "Daedong-Omni-14B-chat",
}
CURATED = ["What is the capital of Jeju province?", "Explain compound interest to a child."]


@dataclass
class Arena:
    env: WebEnv
    round_id: int
    names: dict[str, str]
    """team -> model name"""
    endpoints: list[str]
    aliases: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, who: str = "panel1") -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def arena_round(
    env: WebEnv,
    *,
    endpoints: Sequence[str] | None = None,
    daily_cap: int = 50,
    panelists: Sequence[str] = ("panel1", "panel2"),
) -> Arena:
    """Open round 3 with three arena models and the given panelists enrolled."""
    eps = list(endpoints or [f"mock:{m.lower()}" for m in ARENA_TEAMS.values()])
    now = env.clock()
    with env.store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        base = default_ruleset("arena-rules").to_dict()
        base["arena"] = {"daily_cap": daily_cap, "prompts": CURATED, "answer_timeout_s": 20}
        row = svc.create_ruleset(s, prog, RuleSet.from_dict(base), actor="t", now=now)
        svc.publish_ruleset(s, row, actor="t", now=now)
        rnd = svc.create_round(
            s,
            prog,
            3,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=60),
            advance_slots=2,
            ruleset=row,
            name="Phase 3",
            actor="t",
            now=now,
        )
        svc.open_round(s, rnd, actor="t", now=now)
        for (team, model), ep in zip(ARENA_TEAMS.items(), eps, strict=True):
            c = svc.get_consortium(s, prog, team)
            svc.register_submission(
                s,
                rnd,
                c,
                model,
                artefact="x",
                components=[],
                endpoint=ep,
                files=[],
                actor=team,
                now=now,
            )
        for code in panelists:
            if code != "panel1":
                users.create_user(s, code, PASSWORD, "panelist", actor="t", now=now)
            account = s.execute(select(User).where(User.username == code)).scalar_one()
            arena.enrol_panelist(
                s,
                rnd,
                code,
                gender="female",
                region="capital",
                age_band=CATEGORIES["age_band"][0],
                proficiency="novice",
                actor="t",
                now=now,
                user_id=account.id,
            )
        roster = arena.freeze_roster(s, rnd, rng=np.random.default_rng(7), actor="t", now=now)
        out = Arena(env, rnd.id, dict(ARENA_TEAMS), eps, [r.alias for r in roster])
    for code in panelists:
        out.tokens[code] = env.bearer(code)
    return out


@pytest.fixture
def ar(web: WebEnv) -> Iterator[Arena]:
    a = arena_round(web)
    yield a
    close_runtime(web.app)


def start(a: Arena, prompt: str = "Hello there", who: str = "panel1", **kw: Any) -> dict[str, Any]:
    r = a.env.client.post(
        f"/api/v1/arena/rounds/{a.round_id}/battles",
        json={"prompt": prompt, **kw},
        headers=a.api(who),
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def ready(a: Arena, battle_id: int, who: str = "panel1") -> dict[str, Any]:
    runtime_of_app(a.env.app).answers.wait_idle()
    r = a.env.client.get(f"/api/v1/arena/battles/{battle_id}", headers=a.api(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


VOTE = {
    "outcome": "a",
    "reliability_a": 4,
    "practicality_a": 5,
    "reliability_b": 2,
    "practicality_b": 3,
}


def vote(a: Arena, battle_id: int, who: str = "panel1", **kw: Any) -> Any:
    return a.env.client.post(
        f"/api/v1/arena/battles/{battle_id}/vote", json={**VOTE, **kw}, headers=a.api(who)
    )


def _votes(env: WebEnv) -> int:
    with env.store.session() as s:
        return int(s.execute(select(func.count(em.Vote.id))).scalar_one())


def test_battle_answers_in_background_then_vote_reveals(ar: Arena) -> None:
    b = start(ar, "Recommend a book about the history of Hangul.")
    # The start answers before any model has been asked: no answers yet.
    assert b["status"] in ("pending", "ready") and b["revealed"] is None
    b = ready(ar, b["id"])
    assert b["status"] == "ready" and set(b["answers"]) == {"A", "B"}
    assert b["revealed"] is None and b["vote"] is None
    before = _votes(ar.env)
    r = vote(ar, b["id"])
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "voted" and out["vote"]["outcome"] == "a"
    fought = {out["revealed"]["A"]["model"], out["revealed"]["B"]["model"]}
    assert len(fought) == 2 and fought <= set(ARENA_TEAMS.values())
    assert _votes(ar.env) == before + 1
    with ar.env.store.session() as s:
        last = s.execute(select(LedgerEvent).order_by(LedgerEvent.seq.desc()).limit(1)).scalar_one()
        assert last.kind == "arena.vote" and last.actor == "panelist:panel1"


def test_duplicate_vote_is_409_with_a_clear_message(ar: Arena) -> None:
    b = ready(ar, start(ar)["id"])
    assert vote(ar, b["id"]).status_code == 201
    again = vote(ar, b["id"], outcome="b")
    assert again.status_code == 409
    assert "already has a vote" in again.json()["error"]["message"]
    assert _votes(ar.env) == 1  # the first vote stands, unchanged
    assert ready(ar, b["id"])["vote"]["outcome"] == "a"


def test_curated_prompt_is_drawn_from_the_rounds_set(ar: Arena) -> None:
    b = start(ar, "", source="curated")
    assert b["prompt"] in CURATED and b["prompt_source"] == "curated"
    empty = ar.env.client.post(
        f"/api/v1/arena/rounds/{ar.round_id}/battles", json={"prompt": "  "}, headers=ar.api()
    )
    assert empty.status_code == 400 and "write a prompt" in empty.json()["error"]["message"]


def test_a_panelist_cannot_reach_another_panelists_battle(ar: Arena) -> None:
    b = ready(ar, start(ar)["id"])
    for r in (
        ar.env.client.get(f"/api/v1/arena/battles/{b['id']}", headers=ar.api("panel2")),
        vote(ar, b["id"], who="panel2"),
        ar.env.client.get(f"/arena/battles/{b['id']}", headers=ar.api("panel2")),
    ):
        assert r.status_code == 404
        assert b["prompt"] not in r.text
    # The same answer as for a battle that does not exist.
    missing = ar.env.client.get("/api/v1/arena/battles/99999", headers=ar.api("panel2"))
    assert missing.status_code == 404
    assert _votes(ar.env) == 0


def test_not_enrolled_or_closed_round_is_refused(ar: Arena) -> None:
    other = ar.env.bearer("panel1")
    r = ar.env.client.post(
        f"/api/v1/arena/rounds/{ar.env.ids['round1']}/battles",
        json={"prompt": "hi"},
        headers={"authorization": f"Bearer {other}"},
    )
    assert r.status_code == 404  # not on round 1's panel
    rounds = ar.env.client.get("/api/v1/arena/rounds", headers=ar.api()).json()
    assert [x["round"] for x in rounds] == [3]
    assert rounds[0]["daily_cap"] == 50 and rounds[0]["curated"] == len(CURATED)


def test_daily_cap_refuses_start_and_vote(web: WebEnv) -> None:
    a = arena_round(web, daily_cap=2)
    try:
        ids = [start(a, f"prompt {k}")["id"] for k in range(3)]  # 0 votes yet: all may start
        for i in ids:
            ready(a, i)
        assert vote(a, ids[0]).status_code == 201
        assert vote(a, ids[1]).status_code == 201
        third = vote(a, ids[2])
        assert third.status_code == 422
        assert "daily cap of 2 votes" in third.json()["error"]["message"]
        refused = a.env.client.post(
            f"/api/v1/arena/rounds/{a.round_id}/battles", json={"prompt": "x"}, headers=a.api()
        )
        assert refused.status_code == 422 and "limit of 2 votes" in refused.text
        # The cap resets at the next local midnight (KST): 24 h later the vote is accepted.
        web.clock.t += timedelta(days=1)
        assert vote(a, ids[2]).status_code == 201
        assert _votes(web) == 3
    finally:
        close_runtime(web.app)


def test_vote_posts_are_rate_limited(demo_db: Any, tmp_path: Any) -> None:
    env = make_env(demo_db, tmp_path, limits=RateLimits())
    try:
        a = arena_round(env)
        rt = runtime_of_app(env.app)
        rt.vote_buckets = TokenBuckets(BucketSpec(rate_per_minute=1, burst=2))
        ids = [start(a, f"p{k}")["id"] for k in range(3)]
        for i in ids:
            ready(a, i)
        assert [vote(a, i).status_code for i in ids[:2]] == [201, 201]
        third = vote(a, ids[2])
        assert third.status_code == 429 and int(third.headers["retry-after"]) >= 1
        assert "too fast" in third.json()["error"]["message"]
        assert _votes(env) == 2  # the refused vote was never written
    finally:
        close_runtime(env.app)
        env.client.close()
        env.store.dispose()


def test_backend_failure_is_a_clear_state_and_the_prompt_survives(web: WebEnv) -> None:
    a = arena_round(web, endpoints=["mock:down?fail_after=0"] * 3)
    try:
        b = ready(a, start(a, "Will this fail?")["id"])
        assert b["status"] == "failed" and b["answers"] is None
        page = web.client.get(f"/arena/battles/{b['id']}", headers=a.api())
        assert page.status_code == 200 and "could not be generated" in page.text
        assert "Will this fail?" in page.text and 'id="retry"' in page.text
        assert "fail_after" not in page.text and "mock:" not in page.text  # no backend detail
        r = web.client.post(f"/api/v1/arena/battles/{b['id']}/retry", headers=a.api())
        assert r.status_code == 202
        new = r.json()
        assert new["id"] != b["id"] and new["prompt"] == "Will this fail?"
        assert ready(a, b["id"])["status"] == "retried"
        again = web.client.post(f"/api/v1/arena/battles/{b['id']}/retry", headers=a.api())
        assert again.status_code == 422  # a retried battle is not retried twice
        assert vote(a, new["id"]).status_code == 422  # no answers: nothing to vote on
    finally:
        close_runtime(web.app)
