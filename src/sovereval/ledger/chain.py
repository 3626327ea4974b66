"""A hash-chained, append-only event log and its verifier (pure).

Format version 2 (``docs/ledger.md`` is the specification): an event's ``payload`` is the
RFC 8785 JSON Canonicalization Scheme (JCS) text of its body, stored and hashed verbatim, and
its hash is ``SHA-256`` of the JCS text of ``{v, seq, at, actor, kind, payload, prev_hash}``,
as lowercase hex. JCS is a published standard (sorted keys by UTF-16 code units, ECMAScript
number form, no insignificant white space), so a verifier in any language can recompute it;
NaN, infinities and integers beyond 2^53 have no JCS form and are refused when the event is
written. Version 1 (hash over ``prev || 0x00 || header || 0x00 || payload`` with Python's
``json.dumps``) is still verified, for exports made before the re-chain migration.

Changing any byte of a payload, deleting an event (a gap in ``seq`` or a broken link) or
reordering events breaks the chain at the first affected event. Truncating the tail is only
detectable against a published head hash, which is why transparency reports print it and
``verify`` accepts ``expected_head``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785

from sovereval.errors import InputError

GENESIS = "0" * 64
VERSION = 2
"""The format version of every event written now."""


def _plain(obj: Any, path: str = "$") -> Any:
    """JSON data model only: datetimes as ISO 8601 text, tuples as lists; non-finite numbers
    refused with the path to them."""
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise InputError(f"ledger event body: key {k!r} at {path} is not text")
            out[k] = _plain(v, f"{path}.{k}")
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        raise InputError(
            f"ledger event body: {obj} at {path} has no canonical JSON form; record a finite "
            "number or null"
        )
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    raise InputError(f"ledger event body: {type(obj).__name__} at {path} is not JSON data")


def canonical(obj: Any) -> str:
    """The one JSON encoding used for hashing: RFC 8785 (JCS), as text."""
    try:
        return rfc8785.dumps(_plain(obj)).decode("utf-8")
    except rfc8785.CanonicalizationError as exc:
        raise InputError(f"ledger event body has no canonical JSON form: {exc}") from exc


def canonical_v1(obj: Any) -> str:
    """Version 1's encoding (Python's ``json.dumps``, sorted keys); verification only."""
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
    v: int = VERSION
    """Format version (1: before the JCS re-chain)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def event_hash(
    prev_hash: str, seq: int, at: str, actor: str, kind: str, payload: str, v: int = VERSION
) -> str:
    if v == 2:
        record: dict[str, Any] = {
            "v": 2,
            "seq": seq,
            "at": at,
            "actor": actor,
            "kind": kind,
            "payload": payload,
            "prev_hash": prev_hash,
        }
        return hashlib.sha256(rfc8785.dumps(record)).hexdigest()
    if v != 1:
        raise InputError(f"ledger format version {v} is unknown (this verifier knows 1 and 2)")
    header = canonical_v1({"seq": seq, "at": at, "actor": actor, "kind": kind})
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
    prev_hash, expect_seq, n, version = GENESIS, 1, 0, 1
    for ev in events:
        if ev.v < version:
            return VerifyResult(
                False, n, prev_hash, ev.seq, f"event {ev.seq}: format v{ev.v} after v{version}"
            )
        version = ev.v
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
        if ev.v == 2 and not _is_canonical(ev.payload):
            return VerifyResult(
                False,
                n,
                prev_hash,
                ev.seq,
                f"event {ev.seq}: payload is not canonical JSON (RFC 8785)",
            )
        try:
            recomputed = event_hash(prev_hash, ev.seq, ev.at, ev.actor, ev.kind, ev.payload, ev.v)
        except InputError as exc:
            return VerifyResult(False, n, prev_hash, ev.seq, f"event {ev.seq}: {exc}")
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


def _is_canonical(payload: str) -> bool:
    try:
        return canonical(json.loads(payload)) == payload
    except (ValueError, InputError):
        return False


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
                int(d.get("v", 1)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {i}: not a ledger event ({exc})") from exc
