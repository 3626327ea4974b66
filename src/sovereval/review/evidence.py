"""Expert review, the material: teams' evidence uploads and the blind packet an expert reads."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import service as svc
from sovereval.errors import (
    InputError,
)
from sovereval.ledger.record import record as record_change
from sovereval.review import blinding
from sovereval.review.common import DEFAULT_POLICY, _rules, rubric_of
from sovereval.review.registry import assignment_for
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

# -- evidence packets ----------------------------------------------------------------

EVIDENCE_KINDS = ("technical_report", "training_log", "checkpoint_list", "other")


def upload_evidence(
    s: Session,
    sub: m.Submission,
    kind: str,
    filename: str,
    data: bytes,
    *,
    actor: str,
    now: datetime,
    max_bytes: int = DEFAULT_POLICY["max_evidence_bytes"],
) -> em.EvidenceFile:
    """Attach a technical report or training log (UTF-8 text) to a submission."""
    if kind not in EVIDENCE_KINDS:
        raise InputError(f"evidence kind must be one of {', '.join(EVIDENCE_KINDS)}")
    if len(data) > max_bytes:
        raise InputError(f"{filename}: {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{filename}: evidence must be UTF-8 text (reports as Markdown/text, logs as text/JSONL)"
        ) from exc
    row = em.EvidenceFile(
        submission_id=sub.id,
        kind=kind,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content=text,
        uploaded_by=actor,
        uploaded_at=now,
    )
    record_change(
        s,
        row,
        actor=actor,
        kind="review.evidence_uploaded",
        body={"submission": sub.id, "kind": kind, "filename": filename, "sha256": row.sha256},
        at=now,
    )
    return row


def evidence_keys(s: Session, submission_id: int) -> list[str]:
    """Identifiers a justification may cite: provenance runs and uploaded evidence."""
    runs = s.execute(
        select(m.ProvenanceRun.id).where(m.ProvenanceRun.submission_id == submission_id)
    ).scalars()
    files = s.execute(
        select(em.EvidenceFile.id).where(em.EvidenceFile.submission_id == submission_id)
    ).scalars()
    return [f"provenance-{r}" for r in runs] + [f"evidence-{f}" for f in files]


def evidence_packet(s: Session, expert: str, submission_id: int) -> dict[str, Any]:
    """What an assigned expert sees. Team identity is hidden when the rubric is blind."""
    a = assignment_for(s, expert, submission_id)
    sub = svc.get_submission(s, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    rubric = rubric_of(_rules(s, rnd))
    team = s.get(m.Consortium, sub.consortium_id)
    results = s.execute(select(m.Result).where(m.Result.submission_id == sub.id)).scalars().all()
    runs = (
        s.execute(select(m.ProvenanceRun).where(m.ProvenanceRun.submission_id == sub.id))
        .scalars()
        .all()
    )
    files = (
        s.execute(select(em.EvidenceFile).where(em.EvidenceFile.submission_id == sub.id))
        .scalars()
        .all()
    )
    names = blinding.identifying_names(
        team.name if team else None, sub.model_name, team.members if team else ()
    )
    return {
        "submission": sub.id,
        "team": None if rubric.blind else (team.name if team else None),
        "model": None if rubric.blind else sub.model_name,
        "components": sub.components,
        "rubric": rubric.to_dict(),
        "benchmarks": [
            {"part": r.part, "subject": r.subject, "value": r.value, "lo": r.lo, "hi": r.hi}
            for r in results
            if r.part in ("government", "common", "team")
        ],
        "provenance": [
            {
                "key": f"provenance-{r.id}",
                "reference": r.reference,
                "verdict": r.verdict,
                "gate_failed": r.gate_failed,
                "reason": r.reason,
                "report": r.report,
            }
            for r in runs
        ],
        "files": [
            {
                "key": f"evidence-{f.id}",
                "kind": f.kind,
                "filename": blinding.redact(f.filename, names) if rubric.blind else f.filename,
                "sha256": f.sha256,
                # blind: the experts read a copy with the team's and model's names redacted
                "content": blinding.redact(f.content, names) if rubric.blind else f.content,
            }
            for f in files
        ],
        "evidence_keys": evidence_keys(s, sub.id),
    }
