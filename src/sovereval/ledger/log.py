"""The ledger on the store: append inside the caller's transaction, read, verify, export.

``append`` locks the single ``ledger_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
serialises writers) so two processes appending at once never fork the chain; the unique
``prev_hash`` column is a second guard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.ledger.chain import GENESIS, Event, VerifyResult, make_event, verify
from sovereval.store.models import LedgerEvent, LedgerHead


def _head(session: Session) -> LedgerHead:
    """The head row, locked once per transaction and then reused (batched appends stay cheap)."""
    cached = session.info.get("ledger_head")
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]  # type: ignore[no-any-return]
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = LedgerHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    session.info["ledger_head"] = (session.get_transaction(), head)
    return head


def append(
    session: Session, *, actor: str, kind: str, body: Mapping[str, Any], at: datetime
) -> Event:
    """Append one event in the caller's transaction (commit together with the state change)."""
    head = _head(session)
    prev = None
    if head.seq:
        prev = Event(head.seq, "", "", "", "", "", head.hash)
    ev = make_event(prev, at, actor, kind, body)
    session.add(
        LedgerEvent(
            seq=ev.seq,
            at=ev.at,
            actor=ev.actor,
            kind=ev.kind,
            payload=ev.payload,
            prev_hash=ev.prev_hash,
            hash=ev.hash,
        )
    )
    head.seq, head.hash = ev.seq, ev.hash
    return ev


def iter_events(session: Session, batch: int = 5000) -> Iterator[Event]:
    """Stream events in sequence order without loading the whole table (plain rows, no ORM)."""
    cols = (
        LedgerEvent.seq,
        LedgerEvent.at,
        LedgerEvent.actor,
        LedgerEvent.kind,
        LedgerEvent.payload,
        LedgerEvent.prev_hash,
        LedgerEvent.hash,
    )
    last = 0
    while True:
        rows = session.execute(
            select(*cols).where(LedgerEvent.seq > last).order_by(LedgerEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        for r in rows:
            yield Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6])
        last = rows[-1][0]


def verify_store(session: Session, expected_head: str | None = None) -> VerifyResult:
    """Verify the stored chain, and that the head row agrees with the last event."""
    result = verify(iter_events(session), expected_head)
    if not result.ok:
        return result
    head = session.get(LedgerHead, 1)
    if head is not None and (head.seq != result.count or head.hash != result.head):
        return VerifyResult(
            False,
            result.count,
            result.head,
            result.count + 1 if head.seq > result.count else head.seq,
            f"head record says seq {head.seq} but the chain ends at {result.count} (events deleted from the tail?)",
        )
    return result


def head_hash(session: Session) -> tuple[int, str]:
    head = session.get(LedgerHead, 1)
    return (0, GENESIS) if head is None else (head.seq, head.hash)
