"""ledger: re-chain every event under format version 2 (RFC 8785 canonical JSON)

Each stored event's payload is re-encoded with the JSON Canonicalization Scheme and every hash
recomputed under version 2 (``docs/ledger.md``), in sequence order; then one event
``ledger.rechained`` is appended that records the version-1 head (its seq and hash), so a head
published before the migration can still be checked against the old export. Version 1 allowed
NaN and infinities; any found are re-encoded as null and counted in that event. The format is
written out here, not imported, so that this migration keeps doing what it did when later code
changes.

Revision ID: 0006_ledger_jcs
Revises: 0005_arena
Create Date: 2026-12-04
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import rfc8785
import sqlalchemy as sa
from alembic import op

revision = "0006_ledger_jcs"
down_revision = "0005_arena"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _finite(obj: Any, fixed: list[int]) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v, fixed) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v, fixed) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        fixed.append(1)
        return None
    return obj


def _hash(prev: str, seq: int, at: str, actor: str, kind: str, payload: str) -> str:
    record: dict[str, Any] = {
        "v": 2,
        "seq": seq,
        "at": at,
        "actor": actor,
        "kind": kind,
        "payload": payload,
        "prev_hash": prev,
    }
    return hashlib.sha256(rfc8785.dumps(record)).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    events = sa.table(
        "ledger_events",
        sa.column("seq", sa.Integer),
        sa.column("at", sa.String),
        sa.column("actor", sa.String),
        sa.column("kind", sa.String),
        sa.column("payload", sa.Text),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    head = sa.table(
        "ledger_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
        sa.column("hash", sa.String),
    )  # fmt: skip
    rows = conn.execute(
        sa.select(events.c.seq, events.c.at, events.c.actor, events.c.kind, events.c.payload,
                  events.c.hash).order_by(events.c.seq)
    ).all()  # fmt: skip
    if not rows:
        return
    old_seq, old_head = int(rows[-1][0]), str(rows[-1][5])
    prev, fixed = GENESIS, list[int]()
    # Hashes are unique: clear them first so no intermediate state collides.
    seq_text = sa.cast(events.c.seq, sa.String)
    conn.execute(
        events.update().values(
            prev_hash=sa.literal("v1p:").concat(seq_text), hash=sa.literal("v1h:").concat(seq_text)
        )
    )
    last_at = ""
    for seq, at, actor, kind, payload, _old in rows:
        body = _finite(json.loads(payload), fixed)
        text = rfc8785.dumps(body).decode("utf-8")
        h = _hash(prev, int(seq), at, actor, kind, text)
        conn.execute(
            events.update().where(events.c.seq == seq).values(payload=text, prev_hash=prev, hash=h)
        )
        prev, last_at = h, at
    now = max(datetime.now(UTC).isoformat(), last_at)
    note: dict[str, Any] = {
        "from_version": 1,
        "to_version": 2,
        "v1_head": {"seq": old_seq, "hash": old_head},
    }
    if fixed:
        note["non_finite_as_null"] = len(fixed)
    text = rfc8785.dumps(note).decode("utf-8")
    seq = old_seq + 1
    h = _hash(prev, seq, now, "system:migration", "ledger.rechained", text)
    conn.execute(
        events.insert().values(seq=seq, at=now, actor="system:migration", kind="ledger.rechained",
                               payload=text, prev_hash=prev, hash=h)
    )  # fmt: skip
    conn.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=h))


def downgrade() -> None:
    raise NotImplementedError(
        "the version-1 chain cannot be rebuilt from version 2; restore the backup taken before "
        "upgrading, or keep the version-2 ledger (its first re-chained event names the v1 head)"
    )
