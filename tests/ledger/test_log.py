"""The ledger on both databases: appends in the service transaction, tamper detection in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from sovereval.errors import InputError, RuleViolation
from sovereval.ledger import log
from sovereval.ledger.log import append, head_hash, iter_events, verify_store
from sovereval.store.db import Store


def _fill(store: Store, now, n: int = 5) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        with store.session() as s:
            append(s, actor="admin", kind="t", body={"i": i}, at=now + timedelta(seconds=i))


def test_verify_ok_then_byte_edit_named(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    _fill(store, now)
    with store.session() as s:
        r = verify_store(s)
        assert r.ok and r.count == 5 and head_hash(s) == (5, r.head)
        s.execute(
            text("UPDATE ledger_events SET payload = replace(payload, :a, :b) WHERE seq = 3"),
            {"a": '"i":2', "b": '"i":9'},
        )
    with store.session() as s:
        r = verify_store(s)
        assert not r.ok and r.first_bad_seq == 3


def test_delete_middle_and_tail(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    _fill(store, now)
    with store.session() as s:
        s.execute(text("DELETE FROM ledger_events WHERE seq = 5"))
    with store.session() as s:
        r = verify_store(s)
        assert not r.ok and r.first_bad_seq == 5 and "tail" in r.problem
    with store.session() as s:
        s.execute(text("DELETE FROM ledger_events WHERE seq = 2"))
    with store.session() as s:
        assert verify_store(s).first_bad_seq == 3


def test_rolled_back_transaction_leaves_no_event(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    _fill(store, now, 2)
    with pytest.raises(RuntimeError), store.session() as s:
        append(s, actor="admin", kind="t", body={"i": 99}, at=now + timedelta(seconds=5))
        raise RuntimeError("the state change failed")
    with store.session() as s:
        r = verify_store(s)
        assert r.ok and r.count == 2


def test_event_timed_before_the_previous_is_refused(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    """Regression: the ledger accepted events whose times run backwards (via --at)."""
    _fill(store, now, 2)  # events at now, now + 1 s
    with (
        pytest.raises(RuleViolation, match="before the previous ledger event"),
        store.session() as s,
    ):
        append(s, actor="admin", kind="t", body={}, at=now)
    # Equal times are fine (several events of one command share its clock).
    with store.session() as s:
        append(s, actor="admin", kind="t", body={}, at=now + timedelta(seconds=1))
        # Within one transaction too, the cached head carries the last time.
        with pytest.raises(RuleViolation):
            append(s, actor="admin", kind="t", body={}, at=now)
        s.rollback()


def test_times_stored_in_utc(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    from datetime import timezone

    kst = timezone(timedelta(hours=9))
    with store.session() as s:
        append(s, actor="a", kind="t", body={}, at=now.astimezone(kst))
    with store.session() as s:
        (ev,) = list(iter_events(s))
        assert ev.at == "2026-01-15T09:00:00+00:00"  # 18:00 KST is 09:00 UTC


def test_backwards_runs_in_older_data_are_named(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    _fill(store, now, 3)
    with store.session() as s:  # older data, written before times were checked
        s.execute(
            text("UPDATE ledger_events SET at = :a WHERE seq = 2"),
            {"a": "2020-01-01T00:00:00+00:00"},
        )
    with store.session() as s:
        # seq 3 (now + 2 s) after seq 2 (2020) is forward; seq 2 after seq 1 runs backwards
        assert [b[0] for b in log.backwards_runs(iter_events(s))] == [2]


def test_explicit_clock_only_on_empty_or_replay_database(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        log.claim_replay(s)  # empty: becomes a replay database
    _fill(store, now, 2)
    with store.session() as s:
        log.claim_replay(s)  # a replay database stays one


def test_explicit_clock_refused_on_live_database(store: Store, now) -> None:  # type: ignore[no-untyped-def]
    _fill(store, now, 2)  # written by the real clock
    with pytest.raises(InputError, match="empty or replay database"), store.session() as s:
        log.claim_replay(s)
