"""Ledger format v2: RFC 8785 canonical form, non-finite numbers refused at write time, v1
exports still verified, and the re-chain migration from v1 with the old head recorded."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from sovereval.errors import InputError
from sovereval.ledger.chain import GENESIS, Event, canonical, event_hash, make_event, verify
from sovereval.ledger.log import append, iter_events, verify_store
from sovereval.store.db import Store, make_engine, upgrade
from sovereval.store.models import LedgerEvent

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_canonical_is_rfc8785() -> None:
    # RFC 8785 sec. 3.2.2/3.2.3: keys sorted by UTF-16 code units, ECMAScript numbers, no blanks.
    assert canonical({"b": 1.0, "a": [1e-7, 1e21, "é"], "\uff01": None, "\U0001f600": 0}) == (
        '{"a":[1e-7,1e+21,"é"],"b":1,"\U0001f600":0,"\uff01":null}'
    )  # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF01 (code points do not)


def test_hash_is_sha256_of_the_canonical_record() -> None:
    ev = make_event(None, T, "admin", "t", {"x": 1})
    record = (
        '{"actor":"admin","at":"2026-01-01T00:00:00+00:00","kind":"t","payload":"{\\"x\\":1}",'
        f'"prev_hash":"{GENESIS}","seq":1,"v":2}}'
    )
    assert ev.payload == '{"x":1}' and ev.v == 2
    assert ev.hash == hashlib.sha256(record.encode()).hexdigest()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 2**60])
def test_non_finite_and_unsafe_numbers_are_refused_at_write_time(
    sqlite_store: Store, bad: float
) -> None:
    with pytest.raises(InputError, match="canonical JSON"):
        make_event(None, T, "a", "t", {"score": {"value": bad}})
    with pytest.raises(InputError), sqlite_store.session() as s:
        append(s, actor="a", kind="t", body={"score": bad}, at=T)
    with sqlite_store.session() as s:
        assert s.execute(select(func.count(LedgerEvent.seq))).scalar_one() == 0


def test_non_canonical_payload_is_caught_even_with_a_matching_hash() -> None:
    ev = make_event(None, T, "a", "t", {"a": 1, "b": 2})
    loose = '{"b":2,"a":1}'
    forged = dataclasses.replace(
        ev, payload=loose, hash=event_hash(GENESIS, 1, ev.at, "a", "t", loose)
    )
    r = verify([forged])
    assert not r.ok and "not canonical" in r.problem


def _v1_chain(n: int) -> list[Event]:
    out, prev = [], GENESIS
    for i in range(n):
        at = (T + timedelta(minutes=i)).isoformat()
        payload = json.dumps({"i": i, "w": 1.0}, sort_keys=True, separators=(",", ":"))
        h = event_hash(prev, i + 1, at, "admin", "t", payload, v=1)
        out.append(Event(i + 1, at, "admin", "t", payload, prev, h, v=1))
        prev = h
    return out


def test_v1_exports_still_verify_and_a_downgrade_is_refused() -> None:
    old = _v1_chain(3)
    assert verify(old).ok
    v2 = make_event(old[-1], T + timedelta(hours=1), "a", "t", {})
    assert verify([*old, v2]).ok  # v1 then v2: the re-chain's shape
    back = dataclasses.replace(old[0], seq=2, prev_hash=v2.hash)
    assert not verify([v2.__class__(**{**dataclasses.asdict(v2), "seq": 1}), back]).ok


def test_rechain_migration_records_the_old_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0005_arena")
    old = _v1_chain(4)
    # A v1 ledger with a NaN, which v1 allowed.
    at = (T + timedelta(hours=2)).isoformat()
    nan_payload = '{"score":NaN}'
    nan_ev = Event(5, at, "admin", "t", nan_payload, old[-1].hash, "", v=1)
    nan_ev = dataclasses.replace(
        nan_ev, hash=event_hash(old[-1].hash, 5, at, "admin", "t", nan_payload, v=1)
    )
    old.append(nan_ev)
    assert verify(old).ok
    with engine.begin() as c:
        for ev in old:
            c.execute(
                text(
                    "INSERT INTO ledger_events (seq, at, actor, kind, payload, prev_hash, hash) "
                    "VALUES (:seq, :at, :actor, :kind, :payload, :prev_hash, :hash)"
                ),
                {k: v for k, v in dataclasses.asdict(ev).items() if k != "v"},
            )
        c.execute(
            text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 5, :h)"), {"h": old[-1].hash}
        )
    upgrade(engine)
    engine.dispose()
    st = Store(url)
    try:
        with st.session() as s:
            r = verify_store(s)
            assert r.ok and r.count == 6, r.problem
            evs = list(iter_events(s))
        assert [e.payload for e in evs[:2]] == ['{"i":0,"w":1}', '{"i":1,"w":1}']
        assert evs[4].payload == '{"score":null}'
        last = evs[-1]
        assert last.kind == "ledger.rechained"
        assert json.loads(last.payload) == {
            "from_version": 1,
            "to_version": 2,
            "v1_head": {"seq": 5, "hash": old[-1].hash},
            "non_finite_as_null": 1,
        }
        # New events chain on.
        with st.session() as s:
            append(s, actor="a", kind="t", body={"after": True}, at=datetime.now(UTC))
        with st.session() as s:
            assert verify_store(s).ok
    finally:
        st.dispose()
