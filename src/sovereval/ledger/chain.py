"""A hash-chained, append-only event log and its verifier (pure).

Each event's hash is ``SHA-256(prev_hash || 0x00 || canonical header || 0x00 || payload)``
where the header is the canonical JSON of ``{seq, at, actor, kind}`` and ``payload`` is the
stored canonical JSON text of the event body, byte for byte. Changing any byte of a payload,
deleting an event (a gap in ``seq`` or a broken link) or reordering events breaks the chain at
the first affected event. Truncating the tail is only detectable against a published head hash,
which is why transparency reports print it and ``verify`` accepts ``expected_head``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    """The one JSON encoding used for hashing: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    """ISO 8601 time with timezone."""
    actor: str
    kind: str
    payload: str
    """Canonical JSON text, stored and hashed verbatim."""
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def event_hash(prev_hash: str, seq: int, at: str, actor: str, kind: str, payload: str) -> str:
    header = canonical({"seq": seq, "at": at, "actor": actor, "kind": kind})
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(b"\x00")
    h.update(header.encode("utf-8"))
    h.update(b"\x00")
    h.update(payload.encode("utf-8"))
    return h.hexdigest()


def make_event(
    prev: Event | None, at: datetime, actor: str, kind: str, body: Mapping[str, Any]
) -> Event:
    if at.tzinfo is None:
        raise ValueError("event time must carry a timezone")
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    payload = canonical(dict(body))
    at_s = at.isoformat()
    return Event(
        seq,
        at_s,
        actor,
        kind,
        payload,
        prev_hash,
        event_hash(prev_hash, seq, at_s, actor, kind, payload),
    )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head: str
    first_bad_seq: int | None = None
    problem: str = ""


def verify(events: Iterable[Event], expected_head: str | None = None) -> VerifyResult:
    """Recompute the chain; name the first event where it breaks."""
    prev_hash, expect_seq, n = GENESIS, 1, 0
    for ev in events:
        if ev.seq != expect_seq:
            what = (
                "missing or deleted event(s) before it"
                if ev.seq > expect_seq
                else "out of order or duplicated"
            )
            return VerifyResult(
                False, n, prev_hash, ev.seq, f"event {ev.seq}: expected seq {expect_seq} ({what})"
            )
        if ev.prev_hash != prev_hash:
            return VerifyResult(
                False, n, prev_hash, ev.seq, f"event {ev.seq}: link to the previous event is broken"
            )
        recomputed = event_hash(prev_hash, ev.seq, ev.at, ev.actor, ev.kind, ev.payload)
        if recomputed != ev.hash:
            return VerifyResult(
                False,
                n,
                prev_hash,
                ev.seq,
                f"event {ev.seq}: content does not match its hash (altered)",
            )
        prev_hash, expect_seq, n = ev.hash, expect_seq + 1, n + 1
    if expected_head is not None and prev_hash != expected_head:
        return VerifyResult(
            False,
            n,
            prev_hash,
            n,
            f"head {prev_hash[:16]}… differs from the published head {expected_head[:16]}… (truncated or extended)",
        )
    return VerifyResult(True, n, prev_hash)


def to_jsonl(events: Iterable[Event]) -> Iterator[str]:
    for ev in events:
        yield json.dumps(ev.to_json(), ensure_ascii=False, sort_keys=True) + "\n"


def from_jsonl(lines: Iterable[str]) -> Iterator[Event]:
    """Parse an exported ledger; a malformed line raises ValueError naming the line."""
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            yield Event(
                int(d["seq"]),
                str(d["at"]),
                str(d["actor"]),
                str(d["kind"]),
                str(d["payload"]),
                str(d["prev_hash"]),
                str(d["hash"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {i}: not a ledger event ({exc})") from exc
