"""``arena.votes.cast_votes`` decides exactly as ``arena.service.cast_vote`` applied one by one.

For random batches (own and foreign battles, a battle voted earlier, one still generating,
bad outcomes and ratings, a small daily cap, votes on two local days) both are run in a
transaction that is rolled back afterwards, on the same stored state. They must accept the
same votes, refuse the others with the same error and message, and append the same ledger
events: same actor, kind, payload and, since the chain starts from the same head, the same
hashes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.arena import service as arena
from sovereval.arena.votes import BatchVote, cast_votes
from sovereval.errors import SovereValError
from sovereval.store import evaluation_models as em
from sovereval.store import models as m
from sovereval.store.models import LedgerEvent
from sovereval.web.panel_runtime import close_runtime
from tests.web.conftest import WebEnv
from tests.web.test_panel import arena_round

CAP = 3


@dataclass
class World:
    env: WebEnv
    battles: list[int]
    """panel1's ready battles, panel2's ready battle, a voted one, a pending one."""
    panelists: dict[str, int]
    t0: datetime


@pytest.fixture
def world(web: WebEnv) -> Iterator[World]:
    a = arena_round(web, daily_cap=CAP)
    now = web.clock()
    rng = np.random.default_rng(3)
    with web.store.session() as s:
        rnd = s.get(m.Round, a.round_id)
        assert rnd is not None
        panel = {
            p.code: p
            for p in s.execute(select(em.Panelist).where(em.Panelist.round_id == rnd.id)).scalars()
        }
        ids = []
        for who in ["panel1"] * 5 + ["panel2", "panel1", "panel1"]:
            b = arena.start_battle(s, rnd, panel[who], "q", rng=rng, now=now)
            ids.append(b.id)
        for b_id in ids[:-1]:
            b = s.get(em.Battle, b_id)
            assert b is not None
            arena.record_answers(s, b, "answer one", "answer two", now=now)
        voted = s.get(em.Battle, ids[-2])
        assert voted is not None
        arena.cast_vote(
            s, voted, panel["panel1"], arena.VoteInput("a", 3, 3, 3, 3), daily_cap=CAP, now=now
        )
        out = World(web, ids, {k: p.id for k, p in panel.items()}, now)
    yield out
    close_runtime(web.app)


vote_inputs = st.builds(
    arena.VoteInput,
    st.sampled_from(["a", "b", "tie", "both_bad", "maybe"]),
    st.integers(0, 6),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 5),
)
requests = st.lists(
    st.tuples(
        st.integers(0, 7),  # which battle
        st.sampled_from(["panel1", "panel2"]),  # who votes
        vote_inputs,
        st.sampled_from([0, 1]),  # day (+ 24 h: the cap resets)
    ),
    min_size=1,
    max_size=10,
)


def _items(
    s: Session, w: World, reqs: list[tuple[int, str, arena.VoteInput, int]]
) -> list[BatchVote]:
    out = []
    for k, who, v, day in reqs:
        battle = s.get(em.Battle, w.battles[k])
        panelist = s.get(em.Panelist, w.panelists[who])
        assert battle is not None and panelist is not None
        out.append(BatchVote(battle, panelist, v, w.t0 + timedelta(days=day), CAP))
    return out


def _events(s: Session, after: int) -> list[tuple[str, str, object, str]]:
    q = select(LedgerEvent).where(LedgerEvent.seq > after).order_by(LedgerEvent.seq)
    return [(e.actor, e.kind, e.payload, e.hash) for e in s.execute(q).scalars()]


def _outcome(x: object) -> tuple[str, str]:
    if isinstance(x, SovereValError):
        return type(x).__name__, str(x)
    assert isinstance(x, em.Vote)
    return "accepted", f"{x.battle_id}:{x.outcome}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reqs=requests)
def test_batch_decides_like_cast_vote_one_by_one(
    world: World, reqs: list[tuple[int, str, arena.VoteInput, int]]
) -> None:
    reqs = sorted(reqs, key=lambda r: r[3])  # ledger times only move forward
    store = world.env.store
    with store.session() as s:
        head = (
            s.execute(select(LedgerEvent.seq).order_by(LedgerEvent.seq.desc())).scalars().first()
            or 0
        )
    s1 = Session(store.engine)
    try:
        batch = [_outcome(x) for x in cast_votes(s1, _items(s1, world, reqs))]
        batch_events = _events(s1, head)
    finally:
        s1.rollback()
        s1.close()
    s2 = Session(store.engine)
    try:
        one_by_one = []
        for it in _items(s2, world, reqs):
            try:
                row = arena.cast_vote(
                    s2, it.battle, it.panelist, it.vote, daily_cap=CAP, now=it.now
                )
                one_by_one.append(_outcome(row))
            except SovereValError as exc:
                one_by_one.append(_outcome(exc))
        s2.flush()
        single_events = _events(s2, head)
    finally:
        s2.rollback()
        s2.close()
    assert batch == one_by_one
    assert batch_events == single_events
    # One ledger event per accepted vote, nothing for a refusal.
    assert len(batch_events) == sum(1 for kind, _m in batch if kind == "accepted")
