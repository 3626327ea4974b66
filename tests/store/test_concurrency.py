"""Real OS processes writing at once: the ledger never forks, no vote is lost or doubled.

Each worker is a separate Python process (``spawn``: no connection is inherited) with its own
engine and pool, released together by an event so their transactions overlap. Run against
SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from sovereval.arena import service as arena
from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.errors import ConflictError
from sovereval.ledger.log import append, iter_events, verify_store
from sovereval.store import evaluation_models as em
from sovereval.store.db import Store
from tests.conftest import T0

PROCS = 3
APPENDS = 40
"""Each of 3 processes appends 40 events: 120 in all, seq 1..120 (plus the seed event)."""

_CTX = mp.get_context("spawn")


RETRYABLE = ("OperationalError", "IntegrityError")


def _retrying(fn: Any, errors: list[str]) -> Any:
    """Retry a transaction the database refused for lock contention (never a fork)."""
    for attempt in range(200):
        try:
            return fn()
        except (OperationalError, IntegrityError) as exc:
            errors.append(type(exc).__name__)
            time.sleep(0.002 * (attempt + 1))
    raise AssertionError("transaction kept failing after 200 attempts")


def _append_worker(url: str, proc: int, n: int, start: Any, out: Any) -> None:
    store = Store(url, migrate=False)
    errors: list[str] = []
    start.wait()
    for k in range(n):

        def one(k: int = k) -> None:
            with store.session() as s:
                append(
                    s, actor=f"proc{proc}", kind="test.append", body={"proc": proc, "k": k}, at=T0
                )

        _retrying(one, errors)
    store.dispose()
    out.put((proc, errors))


def _run(target: Any, args_for: Any, procs: int) -> list[Any]:
    start = _CTX.Event()
    out = _CTX.Queue()
    ps = [_CTX.Process(target=target, args=(*args_for(i), start, out)) for i in range(procs)]
    for p in ps:
        p.start()
    time.sleep(0.5)  # let every process import and connect before releasing them together
    start.set()
    results = [out.get(timeout=120) for _ in ps]
    for p in ps:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


@pytest.mark.slow
def test_concurrent_appends_never_fork_the_chain(store: Store) -> None:
    with store.session() as s:  # the head row exists, as after any first state change
        append(s, actor="setup", kind="test.seed", body={}, at=T0)
    results = _run(_append_worker, lambda i: (store.url, i, APPENDS), PROCS)
    total = 1 + PROCS * APPENDS  # 1 + 3 * 40 = 121
    with store.session() as s:
        result = verify_store(s)
        events = list(iter_events(s))
    assert result.ok, result.reason
    assert result.count == total
    assert [e.seq for e in events] == list(range(1, total + 1))  # contiguous, no gap, no fork
    assert len({e.prev_hash for e in events}) == total  # every event has its own parent
    import json

    seen = sorted(
        (json.loads(e.payload)["proc"], json.loads(e.payload)["k"])
        for e in events
        if e.kind == "test.append"
    )
    assert seen == [(p, k) for p in range(PROCS) for k in range(APPENDS)]  # none lost, none twice
    if store.url.startswith("postgresql"):
        # FOR UPDATE on the head row serialises writers: nobody even has to retry
        assert all(errors == [] for _, errors in results), results


SHARED_BATTLES = 24
"""Battles of one panelist that every process tries to vote on (a double-submitted form)."""
OWN_BATTLES = 8
"""Battles of each process's own panelist (no contention: every vote must be accepted)."""


def _vote_worker(
    url: str, proc: int, shared: list[int], own: list[int], start: Any, out: Any
) -> None:
    try:
        out.put(_votes(url, proc, shared, own, start))
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put((proc, [], [], [f"{type(exc).__name__}: {str(exc).splitlines()[0]}"]))
        start.wait()


def _votes(url: str, proc: int, shared: list[int], own: list[int], start: Any) -> Any:
    store = Store(url, migrate=False)
    order = list(shared) + list(own)
    np.random.default_rng(proc).shuffle(order)
    accepted: list[int] = []
    refused: list[int] = []
    errors: list[str] = []
    start.wait()
    for bid in order:

        def one(bid: int = bid) -> None:
            with store.session() as s:
                battle = s.get(em.Battle, bid)
                assert battle is not None
                panelist = s.get(em.Panelist, battle.panelist_id)
                assert panelist is not None
                vote = arena.VoteInput("a", 4, 3, 2, 5, comment=f"proc {proc}")
                arena.cast_vote(s, battle, panelist, vote, daily_cap=10_000, now=T0)

        try:
            _retrying(one, errors)
            accepted.append(bid)
        except ConflictError:
            refused.append(bid)
    store.dispose()
    return proc, accepted, refused, [e for e in errors if e not in RETRYABLE]


def _arena_round(store: Store, now: datetime) -> tuple[list[int], list[list[int]]]:
    """A round with 3 models, one panelist shared by all processes and one per process."""
    rng = np.random.default_rng(7)
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s, p, 1, opens_at=now, closes_at=now + timedelta(days=9), advance_slots=2,
            ruleset=row, actor="a", now=now,
        )  # fmt: skip
        svc.open_round(s, r, actor="a", now=now)
        for name in ("Alpha", "Beta", "Gamma"):
            c = svc.add_consortium(s, p, name, name, [], actor="a", now=now)
            svc.register_submission(
                s, r, c, f"{name}-LM", artefact="x", files=[], components=[],
                endpoint=f"openai-compat:http://{name.lower()}/v1", actor="a", now=now,
            )  # fmt: skip
        arena.freeze_roster(s, r, rng=rng, actor="a", now=now)

        def battles(code: str, n: int) -> list[int]:
            pan = arena.enrol_panelist(
                s, r, code, gender="female", region="capital", age_band="30s",
                proficiency="novice", actor="a", now=now,
            )  # fmt: skip
            ids = []
            for i in range(n):
                b = arena.start_battle(s, r, pan, f"질문 {code} {i}", rng=rng, now=now)
                arena.record_answers(s, b, "답 A", "답 B", now=now)
                ids.append(b.id)
            return ids

        shared = battles("shared", SHARED_BATTLES)
        own = [battles(f"own{i}", OWN_BATTLES) for i in range(PROCS)]
    return shared, own


@pytest.mark.slow
def test_concurrent_votes_none_lost_duplicates_rejected(store: Store) -> None:
    shared, own = _arena_round(store, T0)
    results = _run(_vote_worker, lambda i: (store.url, i, shared, own[i]), PROCS)
    assert [e for _, _, _, errs in results for e in errs] == []  # only ConflictError refusals
    accepted = [b for _, acc, _, _ in results for b in acc]
    refused = [b for _, _, ref, _ in results for b in ref]
    # every shared battle accepted exactly once; the other 2 attempts each refused:
    # 24 + 3 * 8 = 48 accepted, 2 * 24 = 48 refused
    assert sorted(accepted) == sorted(shared + [b for ids in own for b in ids])
    assert sorted(refused) == sorted(shared * (PROCS - 1))
    with store.session() as s:
        votes = s.execute(select(em.Vote.battle_id)).scalars().all()
        voted = s.execute(
            select(func.count(em.Battle.id)).where(em.Battle.status == "voted")
        ).scalar_one()
        chain = verify_store(s)
        ledger_votes = [e for e in iter_events(s) if e.kind == "arena.vote"]
    assert sorted(votes) == sorted(accepted)  # none lost, none doubled
    assert voted == len(accepted)
    assert chain.ok, chain.reason
    import json

    assert sorted(json.loads(e.payload)["battle"] for e in ledger_votes) == sorted(accepted)
