"""Benchmark items land in the store (both databases), idempotently, and feed the part score."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sovereval.bench.catalogue import load_suite
from sovereval.bench.runner import run_suite
from sovereval.bench.store_sink import StoreSink, record_part
from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.errors import NotFoundError
from sovereval.ledger.log import iter_events, verify_store
from sovereval.store import models as m
from sovereval.store.db import Store


def _submission(store: Store, now: datetime) -> int:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        c = svc.add_consortium(s, p, "T", "T", [], actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now + timedelta(days=3),
            advance_slots=1,
            ruleset=row,
            actor="a",
            now=now,
        )
        svc.open_round(s, r, actor="a", now=now)
        return svc.register_submission(
            s, r, c, "T-1", artefact="x", files=[], components=[], actor="a", now=now
        ).id


def test_items_stored_once_and_part_recorded(store: Store, now: datetime, tmp_path: Path) -> None:
    sid = _submission(store, now)
    suite = load_suite("example")
    sink = StoreSink(store, sid, suite, "mock:", actor="evaluator")
    run = run_suite(suite, "mock:", journal_dir=tmp_path, sinks=[sink])
    assert run.outcome.error is None and len(run.outcome.results) == run.total_items
    sink.write(list(run.outcome.results))  # writing the same results again adds nothing
    with store.session() as s:
        n = s.execute(select(func.count(m.BenchItem.id))).scalar_one()
        scored = [r.score for r in run.outcome.results if r.score is not None]
        assert n == run.total_items
        assert sum(1 for e in iter_events(s) if e.kind == "bench.items") >= 1
    meas = record_part(store, sid, suite, "mock:", seed=0, actor="evaluator")
    # The part score is the plain mean of the scored items, inside its bootstrap interval.
    assert meas.value == pytest.approx(sum(scored) / len(scored))
    assert meas.lo <= meas.value <= meas.hi
    with store.session() as s:
        res = s.execute(select(m.Result).where(m.Result.submission_id == sid)).scalar_one()
        assert (res.part, res.subject) == (suite.part, "model")
        assert verify_store(s).ok


def test_unknown_submission_refused(sqlite_store: Store) -> None:
    with pytest.raises(NotFoundError):
        StoreSink(sqlite_store, 99, load_suite("example"), "mock:", actor="e")
