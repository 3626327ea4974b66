"""The ledger on the store: append inside the caller's transaction, read, verify, export.

``append`` locks the single ``ledger_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
serialises writers) so two processes appending at once never fork the chain; the unique
``prev_hash`` column is a second guard.

Times are monotonic: an event timed before the previous one is refused, and every time is
stored in UTC. ``--at`` (an explicit clock) is for replays: it may only act on an empty database,
which then becomes a replay database, or on one that already is (:func:`claim_replay`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.errors import InputError, RuleViolation
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
    if at.tzinfo is None:
        raise InputError("ledger times must carry a timezone")
    at = at.astimezone(UTC)
    last = _last_time(session, head)
    if last is not None and at < last:
        raise RuleViolation(
            f"event '{kind}' is timed {at.isoformat()}, before the previous ledger event "
            f"({last.isoformat()}); ledger times only move forward"
        )
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
    session.info["ledger_last_at"] = (session.get_transaction(), ev.seq, at)
    return ev


def _last_time(session: Session, head: LedgerHead) -> datetime | None:
    if not head.seq:
        return None
    cached = session.info.get("ledger_last_at")
    if cached is not None and cached[0] is session.get_transaction() and cached[1] == head.seq:
        return cached[2]  # type: ignore[no-any-return]
    at = session.execute(select(LedgerEvent.at).where(LedgerEvent.seq == head.seq)).scalar()
    return None if at is None else _parse(at)


def _parse(at: str) -> datetime:
    t = datetime.fromisoformat(at)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def claim_replay(session: Session) -> None:
    """Allow an explicit clock (``--at``): on an empty database, mark it a replay database;
    on a live one (events timed by the real clock), refuse."""
    head = session.get(LedgerHead, 1)
    if head is None:
        session.add(LedgerHead(id=1, seq=0, hash=GENESIS, replay=True))
        return
    if head.replay:
        return
    if head.seq == 0:
        head.replay = True
        return
    raise InputError(
        "--at / SOVEREVAL_NOW sets the clock only on an empty or replay database; this one "
        f"holds {head.seq} live events. Drop --at to act now"
    )


def backwards_runs(events: Iterable[Event]) -> list[tuple[int, str, str]]:
    """Events timed before their predecessor, as ``(seq, at, previous at)``: older data written
    before times were checked may hold them; the chain still verifies, the report names them."""
    out: list[tuple[int, str, str]] = []
    prev: tuple[datetime, str] | None = None
    for ev in events:
        t = _parse(ev.at)
        if prev is not None and t < prev[0]:
            out.append((ev.seq, ev.at, prev[1]))
        prev = (t, ev.at)
    return out


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
