"""Read models for a team's own workspace; every query is keyed by the caller's consortium."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.errors import NotFoundError, PermissionDeniedError
from sovereval.review import history
from sovereval.store import models as m
from sovereval.store.web_models import User
from sovereval.web import views


def consortium_of(s: Session, user: User) -> m.Consortium:
    if user.role != "team" or user.consortium_id is None:
        raise PermissionDeniedError("only a team member has a team workspace")
    c = s.get(m.Consortium, user.consortium_id)
    if c is None:
        raise NotFoundError("your consortium no longer exists; ask the organisers")
    return c


def round_of_team(s: Session, c: m.Consortium, number: int) -> m.Round:
    r = s.execute(
        select(m.Round).where(m.Round.programme_id == c.programme_id, m.Round.number == number)
    ).scalar_one_or_none()
    if r is None:
        raise NotFoundError(f"no round {number} in your programme")
    return r


def dashboard(s: Session, user: User, now: datetime) -> dict[str, Any]:
    c = consortium_of(s, user)
    subs: list[dict[str, Any]] = []
    for sub, rnd in s.execute(
        select(m.Submission, m.Round)
        .join(m.Round, m.Round.id == m.Submission.round_id)
        .where(m.Submission.consortium_id == c.id)
        .order_by(m.Round.number, m.Submission.id)
    ).all():
        subs.append(
            {
                "id": sub.id,
                "model": sub.model_name,
                "status": sub.status,
                "round": rnd.number,
                "round_name": rnd.name,
                "round_status": rnd.status,
                "created_at": sub.created_at.isoformat(),
            }
        )
    appeals = [
        _appeal(a, rnd)
        for a, rnd in s.execute(
            select(m.Appeal, m.Round)
            .join(m.Round, m.Round.id == m.Appeal.round_id)
            .where(m.Appeal.consortium_id == c.id)
            .order_by(m.Appeal.id)
        ).all()
    ]
    allocations = [
        {"round": rnd.number, "resource": a.resource, "amount": a.amount, "unit": a.unit}
        for a, rnd in s.execute(
            select(m.Allocation, m.Round)
            .join(m.Round, m.Round.id == m.Allocation.round_id)
            .where(m.Allocation.consortium_id == c.id)
            .order_by(m.Round.number, m.Allocation.resource)
        ).all()
    ]
    windows = []
    for number in sorted({int(x["round"]) for x in subs}):
        rnd = round_of_team(s, c, number)
        w = views.appeal_window(s, rnd, now)
        windows.append({"round": number, **w})
    return {
        "consortium": {"id": c.id, "name": c.name, "status": c.status, "members": c.members},
        "submissions": subs,
        "appeals": appeals,
        "allocations": allocations,
        "windows": windows,
        "open_rounds": open_rounds(s, c),
    }


def _appeal(a: m.Appeal, rnd: m.Round) -> dict[str, Any]:
    return {
        "id": a.id,
        "round": rnd.number,
        "filed_at": a.filed_at.isoformat(),
        "status": a.status,
        "reason": a.reason,
        "resolution": a.resolution,
        "text": a.text,
    }


def submission_detail(s: Session, sub: m.Submission) -> dict[str, Any]:
    """Everything about one submission, confidential parts included (raw results before
    publication, provenance findings). Callers have checked the caller may see it."""
    rnd = s.get(m.Round, sub.round_id)
    c = s.get(m.Consortium, sub.consortium_id)
    assert rnd is not None and c is not None
    results = [
        {
            "part": r.part,
            "subject": r.subject,
            "value": r.value,
            "lo": r.lo,
            "hi": r.hi,
            "source": r.source,
        }
        for r in s.execute(
            select(m.Result)
            .where(m.Result.submission_id == sub.id)
            .order_by(m.Result.part, m.Result.subject)
        ).scalars()
    ]
    provenance = [
        {
            "reference": p.reference,
            "verdict": p.verdict,
            "gate_failed": p.gate_failed,
            "reason": p.reason,
            "component": str(p.report.get("component", "")),
            "report": p.report,
        }
        for p in s.execute(
            select(m.ProvenanceRun)
            .where(m.ProvenanceRun.submission_id == sub.id)
            .order_by(m.ProvenanceRun.id)
        ).scalars()
    ]
    card = rs.latest_scorecard(s, rnd, published_only=True)
    published = None
    if card is not None:
        published = next((t for t in card.content["teams"] if t["submission"] == sub.id), None)
    return {
        "id": sub.id,
        "model": sub.model_name,
        "consortium": c.name,
        "status": sub.status,
        "round": {"number": rnd.number, "name": rnd.name, "status": rnd.status},
        "artefact": sub.artefact_uri,
        "files": sub.files,
        "components": sub.components,
        "target_model": sub.target_model,
        "results": results,
        "provenance": provenance,
        "published": published,
        "reviews": reviews_of(s, sub.id),
        "endpoint": sub.endpoint,
        "evidence": evidence_of(s, sub),
        "created_at": views.when(sub.created_at),
    }


def reviews_of(s: Session, submission_id: int) -> list[dict[str, Any]]:
    """Submitted expert reviews of a submission, without the reviewers' names (blind review).

    Reads the review slice's tables when they are present; before that there is nothing to show.
    """
    try:
        from sovereval.store import evaluation_models as em
    except ImportError:  # pragma: no cover - before the review slice exists
        return []
    rows = s.execute(
        select(em.Review)
        .join(em.ReviewAssignment, em.ReviewAssignment.id == em.Review.assignment_id)
        .where(em.ReviewAssignment.submission_id == submission_id, em.Review.status == "submitted")
        .order_by(em.Review.id)
    ).scalars()
    out = []
    for i, r in enumerate(rows, 1):
        # The row holds the whole review form (expert id, edit history with editors' names);
        # a team sees only the scores and justifications, under a numbered pseudonym.
        form = history.ReviewForm.from_dict(r.scores)
        criteria = [
            {"criterion": c.criterion, "score": c.score, "justification": c.justification}
            for c in sorted(form.scores, key=lambda c: c.criterion)
        ]
        at = views.when(r.submitted_at) if r.submitted_at else ""
        out.append({"reviewer": f"Reviewer {i}", "submitted_at": at, "criteria": criteria})
    return out


def appeals_in_round(s: Session, c: m.Consortium, rnd: m.Round) -> list[dict[str, Any]]:
    return [
        _appeal(a, rnd)
        for a in s.execute(
            select(m.Appeal)
            .where(m.Appeal.round_id == rnd.id, m.Appeal.consortium_id == c.id)
            .order_by(m.Appeal.id)
        ).scalars()
    ]


def evidence_of(s: Session, sub: m.Submission) -> list[dict[str, Any]]:
    """The evidence files of a submission with their digests, and where each names the team
    or the model (blind review hides those names from the experts)."""
    from sovereval.review import blinding
    from sovereval.store import evaluation_models as em

    c = s.get(m.Consortium, sub.consortium_id)
    names = blinding.identifying_names(
        c.name if c else None, sub.model_name, c.members if c else ()
    )
    out = []
    for f in s.execute(
        select(em.EvidenceFile)
        .where(em.EvidenceFile.submission_id == sub.id)
        .order_by(em.EvidenceFile.id)
    ).scalars():
        found = blinding.mentions(f.content, names)
        in_name = [x.name for x in blinding.mentions(f.filename, names)]
        out.append(
            {
                "id": f.id,
                "key": f"evidence-{f.id}",
                "kind": f.kind,
                "filename": f.filename,
                "sha256": f.sha256,
                "bytes": f.size,
                "uploaded_at": views.when(f.uploaded_at),
                "uploaded_by": f.uploaded_by,
                "mentions": [
                    {"name": x.name, "count": x.count, "line": x.first_line} for x in found
                ],
                "named_in_filename": in_name,
                "redacted": blinding.redact(f.content, names) if found else None,
            }
        )
    return out


def open_rounds(s: Session, c: m.Consortium) -> list[dict[str, Any]]:
    """Rounds of the team's programme that take submissions (planned or open)."""
    return [
        {"id": r.id, "number": r.number, "name": r.name or f"Round {r.number}", "status": r.status}
        for r in s.execute(
            select(m.Round)
            .where(m.Round.programme_id == c.programme_id, m.Round.status.in_(("planned", "open")))
            .order_by(m.Round.number)
        ).scalars()
    ]
