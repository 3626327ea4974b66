"""The ledger on both databases: appends in the service transaction, tamper detection in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from sovereval.ledger.log import append, head_hash, verify_store
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
        append(s, actor="admin", kind="t", body={"i": 99}, at=now)
        raise RuntimeError("the state change failed")
    with store.session() as s:
        r = verify_store(s)
        assert r.ok and r.count == 2
