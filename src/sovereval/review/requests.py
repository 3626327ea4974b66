"""Requests for a provenance run of a submission, from its expert reviewers or the organisers.

An expert cannot judge originality without provenance evidence; when none is recorded, the
expert (or an organiser) asks for a run. A request is a ledger event (who, when, why), and it
is open until a provenance run of the submission is recorded after it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.errors import InputError
from sovereval.ledger.log import append
from sovereval.store import models as m

KIND = "provenance.run_requested"


def request_run(s: Session, sub: m.Submission, *, reason: str, actor: str, now: datetime) -> None:
    reason = reason.strip()
    if len(reason) > 2000:
        raise InputError("a provenance-run request's reason has at most 2000 characters")
    append(
        s,
        actor=actor,
        kind=KIND,
        body={"submission": sub.id, "round": sub.round_id, "reason": reason},
        at=now,
    )


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def open_requests(s: Session, round_id: int) -> list[dict[str, Any]]:
    """Requests of the round's submissions with no provenance run recorded since."""
    out = []
    for e in s.execute(
        select(m.LedgerEvent).where(m.LedgerEvent.kind == KIND).order_by(m.LedgerEvent.seq)
    ).scalars():
        body = json.loads(e.payload)
        if int(body.get("round", -1)) != round_id:
            continue
        sid = int(body["submission"])
        at = _aware(datetime.fromisoformat(e.at))
        runs = s.execute(
            select(m.ProvenanceRun.created_at).where(m.ProvenanceRun.submission_id == sid)
        ).scalars()
        if any(_aware(r) >= at for r in runs):
            continue
        out.append({"submission": sid, "by": e.actor, "at": at, "reason": body.get("reason", "")})
    return out
