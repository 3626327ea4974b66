"""Arena rules from the web: an answer naming its model is never shown (regenerated, and the
battle fails if it keeps leaking), and panel membership is per round (a round's panelist with
the same code as a web user is not that user unless enrolment named the account)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from sovereval.arena import service as arena
from sovereval.bench.backends import GenerateParams, Message
from sovereval.bench.backends.base import Completion
from sovereval.bench.backends.mock import MockBackend
from sovereval.store import evaluation_models as em
from sovereval.store import models as m
from sovereval.store.models import LedgerEvent
from sovereval.web.panel_answers import AnswerRunner
from sovereval.web.panel_runtime import close_runtime, runtime_of_app
from tests.web.conftest import WebEnv
from tests.web.test_panel import Arena, arena_round, ready, start, vote

LEAK = "I am Daedong-Omni-14B-chat from Daedong Labs, happy to help."


@dataclass
class Leaky:
    """Answers with its own model's name for the first ``leaks`` calls, neutrally after."""

    leaks: int
    calls: int = 0

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        self.calls += 1
        if self.calls <= self.leaks:
            return Completion(LEAK)
        return await MockBackend("neutral").generate(messages, params)

    async def aclose(self) -> None:
        return None


def _arena(web: WebEnv, leaks: int) -> tuple[Arena, dict[str, Leaky]]:
    a = arena_round(web, daily_cap=1)
    rt = runtime_of_app(web.app)
    backends: dict[str, Leaky] = {}

    def opener(uri: str) -> Any:
        return backends.setdefault(uri, Leaky(leaks))

    rt.answers = AnswerRunner(rt.ctx, opener=opener)
    return a, backends


@pytest.fixture
def cleanup(web: WebEnv) -> Iterator[WebEnv]:
    yield web
    close_runtime(web.app)


def _kinds(web: WebEnv) -> list[str]:
    with web.store.session() as s:
        return [e.kind for e in s.execute(select(LedgerEvent).order_by(LedgerEvent.seq)).scalars()]


def test_leaking_answer_is_regenerated_never_shown_and_the_vote_counts(cleanup: WebEnv) -> None:
    a, backends = _arena(cleanup, leaks=1)
    b = ready(a, start(a, "Who are you?")["id"])
    assert b["status"] == "ready"
    assert "Daedong" not in str(b["answers"]) and "Daedong" not in str(b)
    assert sum(x.calls for x in backends.values()) == 4  # one leaking pair, one clean pair
    assert _kinds(cleanup).count("arena.answer_leaked") == 1
    r = vote(a, b["id"])
    assert r.status_code == 201, r.text  # the daily cap of 1 was not used by the leak
    with cleanup.store.session() as s:
        battle = s.get(em.Battle, b["id"])
        assert battle is not None and battle.regenerations == 1 and not battle.leak


def test_answer_that_keeps_leaking_fails_the_battle_and_is_never_shown(cleanup: WebEnv) -> None:
    a, _ = _arena(cleanup, leaks=100)
    b = ready(a, start(a, "Who are you?")["id"])
    assert b["status"] == "failed" and b["answers"] is None
    page = cleanup.client.get(f"/arena/battles/{b['id']}", headers=a.api())
    assert page.status_code == 200 and "Daedong" not in page.text
    assert vote(a, b["id"]).status_code == 422
    kinds = _kinds(cleanup)
    assert kinds.count("arena.answer_leaked") == 3  # the first pair and two regenerations
    assert kinds[-1] == "arena.battle_failed"


def test_membership_is_per_round_not_by_matching_code(cleanup: WebEnv) -> None:
    a = arena_round(cleanup)
    now = cleanup.clock()
    with cleanup.store.session() as s:
        # Round 1 has a panelist whose code is "panel1", enrolled offline with no account.
        r1 = s.get(m.Round, cleanup.ids["round1"])
        assert r1 is not None
        if r1.status != "open":
            r1.status = "open"
        p = arena.enrol_panelist(
            s, r1, "panel1", gender="male", region="other", age_band="40s",
            proficiency="novice", actor="t", now=now,
        )  # fmt: skip
        models = arena.freeze_roster(s, r1, rng=np.random.default_rng(1), actor="t", now=now)
        other = arena.start_battle(s, r1, p, "someone else's question", rng=np.random.default_rng(2), now=now, models=models)  # fmt: skip
        arena.record_answers(s, other, "x", "y", now=now)
        other_id = other.id
    seen = cleanup.client.get(f"/api/v1/arena/battles/{other_id}", headers=a.api())
    assert seen.status_code == 404 and "someone else" not in seen.text
    assert vote(a, other_id).status_code == 404
    rounds = cleanup.client.get("/api/v1/arena/rounds", headers=a.api()).json()
    assert [x["round"] for x in rounds] == [3]
    home = cleanup.client.get("/arena", headers={**a.api(), "accept": "text/html"})
    assert "someone else" not in home.text
    with cleanup.store.session() as s:
        assert s.get(em.Battle, other_id).status == "ready"  # type: ignore[union-attr]
