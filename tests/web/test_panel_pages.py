"""The panelist's pages without a browser: start by form, htmx progress panel, vote, refusals,
and the vote writer's group commit (one transaction, each vote refused or accepted alone)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sovereval.arena.service import VoteInput
from sovereval.errors import ConflictError, InputError, NotFoundError
from sovereval.store import evaluation_models as em
from sovereval.web import users_service as users
from sovereval.web.panel_runtime import close_runtime, runtime_of_app
from sovereval.web.vote_writer import VoteRequest, VoteWriter, count_votes
from tests.web.conftest import WebEnv
from tests.web.test_panel import Arena, arena_round, ready, start

FORM_VOTE = {
    "outcome": "tie",
    "reliability_a": "3",
    "practicality_a": "4",
    "reliability_b": "3",
    "practicality_b": "2",
    "comment": "Both fine.",
}


@pytest.fixture
def ar(web: WebEnv) -> Iterator[Arena]:
    a = arena_round(web)
    yield a
    close_runtime(web.app)


def _session(env: WebEnv, who: str = "panel1") -> tuple[dict[str, str], str]:
    token = env.session_for(who)
    return env.cookie(token), env.form_token(token)


def test_panelist_battle_through_the_pages(ar: Arena) -> None:
    env = ar.env
    headers, csrf = _session(env)
    home = env.client.get("/arena", headers=headers)
    assert home.status_code == 200 and "Phase 3" in home.text and 'id="start-own"' in home.text
    r = env.client.post(
        f"/arena/rounds/{ar.round_id}/battles",
        data={"csrf_token": csrf, "prompt": "부산 여행 코스를 추천해 주세요.", "source": "own"},
        headers=headers,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    battle_id = int(url.rsplit("/", 1)[1])
    runtime_of_app(env.app).answers.wait_idle()
    panel = env.client.get(f"{url}/panel", headers=headers)
    assert panel.status_code == 200 and 'id="vote-form"' in panel.text
    assert 'data-status="ready"' in panel.text and "hx-get" not in panel.text  # polling stops
    voted = env.client.post(f"{url}/vote", data={"csrf_token": csrf, **FORM_VOTE}, headers=headers)
    assert voted.status_code == 303 and voted.headers["location"].endswith("?done=voted")
    page = env.client.get(voted.headers["location"], headers=headers)
    assert "Vote recorded" in page.text and 'id="reveal-A"' in page.text
    assert "Both fine." in page.text
    again = env.client.post(f"{url}/vote", data={"csrf_token": csrf, **FORM_VOTE}, headers=headers)
    assert again.status_code == 409
    assert "already has a vote; duplicate votes are rejected" in again.text
    with env.store.session() as s:
        assert count_votes(s, ar.round_id) == 1
        v = s.execute(select(em.Vote).where(em.Vote.battle_id == battle_id)).scalar_one()
        assert (v.outcome, v.practicality_b, v.comment) == ("tie", 2, "Both fine.")


def test_pending_panel_polls_and_incomplete_vote_is_refused_in_place(ar: Arena) -> None:
    env = ar.env
    headers, csrf = _session(env)
    b = start(ar, "Slow one")
    runtime_of_app(env.app).answers.wait_idle()
    with env.store.session() as s:  # put the battle back in its generating state
        row = s.get(em.Battle, b["id"])
        assert row is not None
        row.status = "pending"
    panel = env.client.get(f"/arena/battles/{b['id']}/panel", headers=headers)
    assert 'hx-get="/arena/battles/' in panel.text and 'data-status="pending"' in panel.text
    # Long after the generation timeout (20 s + margin) a pending battle shows as failed.
    env.clock.t += timedelta(minutes=5)
    late = env.client.get(f"/arena/battles/{b['id']}/panel", headers=headers)
    assert 'data-status="failed"' in late.text and 'id="retry"' in late.text
    b2 = ready(ar, start(ar, "Rate me")["id"])
    bad = dict(FORM_VOTE, reliability_b="")
    r = env.client.post(
        f"/arena/battles/{b2['id']}/vote", data={"csrf_token": csrf, **bad}, headers=headers
    )
    assert r.status_code == 400 and "rate both answers" in r.text
    assert 'id="vote-form"' in r.text  # the form is still there to complete


def test_cap_refusal_is_shown_on_the_arena_page(web: WebEnv) -> None:
    a = arena_round(web, daily_cap=0)
    try:
        headers, csrf = _session(web)
        r = web.client.post(
            f"/arena/rounds/{a.round_id}/battles",
            data={"csrf_token": csrf, "prompt": "My draft prompt", "source": "own"},
            headers=headers,
        )
        assert r.status_code == 422
        assert "limit of 0 votes" in r.text and "My draft prompt" in r.text  # typed text kept
    finally:
        close_runtime(web.app)


def test_group_commit_refuses_each_bad_vote_alone(ar: Arena) -> None:
    env = ar.env
    ids = [ready(ar, start(ar, f"q{k}")["id"])["id"] for k in range(3)]
    with env.store.session() as s:
        p1, p2 = users.get_user(s, "panel1"), users.get_user(s, "panel2")
        s.expunge_all()
    now = env.clock()
    good = VoteInput("a", 4, 4, 3, 3)
    writer = VoteWriter(env.app.state.ctx)
    batch = [
        VoteRequest(p1, ids[0], good, now),
        VoteRequest(p1, ids[0], good, now),  # duplicate inside the same batch
        VoteRequest(p2, ids[1], good, now),  # somebody else's battle
        VoteRequest(p1, ids[1], VoteInput("maybe", 4, 4, 3, 3), now),  # not an outcome
        VoteRequest(p1, ids[2], good, now),
    ]
    futures: list[Future[dict[str, object]]] = [Future() for _ in batch]
    writer._write(list(zip(batch, futures, strict=True)))
    assert writer.batches == 1  # one transaction for all five
    assert futures[0].result()["status"] == "voted" and futures[4].result()["status"] == "voted"
    for f, kind in (
        (futures[1], ConflictError),
        (futures[2], NotFoundError),
        (futures[3], InputError),
    ):
        assert isinstance(f.exception(), kind)
    with env.store.session() as s:
        assert s.execute(select(func.count(em.Vote.id))).scalar_one() == 2
        assert {b for (b,) in s.execute(select(em.Vote.battle_id))} == {ids[0], ids[2]}
