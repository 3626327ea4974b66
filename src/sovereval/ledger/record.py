"""The one way a service records a change: the row (if any) and its ledger event, in the
caller's transaction, so they commit or roll back together.

``record`` adds and flushes the row first, so the event body can name the row's new id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from sovereval.ledger.log import append

T = TypeVar("T")


def record(
    s: Session,
    row: T,
    *,
    actor: str,
    kind: str,
    body: Mapping[str, Any] | Callable[[T], Mapping[str, Any]],
    at: datetime,
) -> T:
    """Add ``row``, flush it (ids assigned) and append ``kind`` with ``body`` (or
    ``body(row)``); returns the row."""
    s.add(row)
    s.flush()
    append(s, actor=actor, kind=kind, body=body(row) if callable(body) else body, at=at)
    return row


def record_all(
    s: Session,
    rows: Sequence[T],
    *,
    actor: str,
    kind: str,
    body: Mapping[str, Any] | Callable[[Sequence[T]], Mapping[str, Any]],
    at: datetime,
) -> Sequence[T]:
    """Several rows and the one event that records them all."""
    s.add_all(rows)
    s.flush()
    append(s, actor=actor, kind=kind, body=body(rows) if callable(body) else body, at=at)
    return rows


def event(s: Session, actor: str, kind: str, body: Mapping[str, Any], now: datetime) -> None:
    """An event for a change already made to loaded rows (no new row)."""
    append(s, actor=actor, kind=kind, body=body, at=now)
