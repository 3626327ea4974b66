"""Expert review, reviewing: drafts, submission before the deadline, and score edits with
their history. The ledger records review content only as a SHA-256 commitment until results
are published."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.ledger.log import append
from sovereval.review import history
from sovereval.review.common import _digest, _rules, policy, rubric_of
from sovereval.review.evidence import evidence_keys
from sovereval.review.registry import assignment_for
from sovereval.review.rubric import CriterionScore
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

# -- forms ---------------------------------------------------------------------------


def _deadline(s: Session, rnd: m.Round) -> datetime:
    return rnd.closes_at + timedelta(days=int(policy(_rules(s, rnd))["deadline_days"]))


def _form(s: Session, a: em.ReviewAssignment) -> tuple[em.Review | None, history.ReviewForm]:
    row = s.execute(select(em.Review).where(em.Review.assignment_id == a.id)).scalar_one_or_none()
    if row is None:
        return None, history.open_form(a.expert, str(a.submission_id))
    return row, history.ReviewForm.from_dict(row.scores)


def _store(
    s: Session,
    a: em.ReviewAssignment,
    row: em.Review | None,
    form: history.ReviewForm,
    before: history.ReviewForm,
    now: datetime,
    *,
    actor: str,
    kind: str,
    extra: Mapping[str, Any] | None = None,
) -> em.Review:
    """Write the form's state and new history, and the event that commits to its content."""
    if row is None:
        row = em.Review(
            assignment_id=a.id, status=form.status, scores=form.to_dict(), updated_at=now
        )
        s.add(row)
        s.flush()
    row.status, row.scores, row.updated_at, row.submitted_at = (
        form.status,
        form.to_dict(),
        now,
        form.submitted_at,
    )
    for e in form.history[len(before.history) :]:
        s.add(
            em.ReviewEdit(
                review_id=row.id,
                actor=e.editor,
                at=e.at,
                reason=e.reason,
                before=e.before.to_dict() if e.before else {},
                after=e.after.to_dict(),
            )
        )
    body = {"assignment": a.id, **(extra or {}), "content_sha256": _digest(form.to_dict())}
    append(s, actor=actor, kind=kind, body=body, at=now)
    return row


def _open(
    s: Session, expert: str, submission_id: int
) -> tuple[em.ReviewAssignment, m.Round, em.Review | None, history.ReviewForm]:
    """The expert's assignment, its round, and the stored review form (if any)."""
    a = assignment_for(s, expert, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    row, form = _form(s, a)
    return a, rnd, row, form


def save_draft(
    s: Session, expert: str, submission_id: int, scores: Sequence[CriterionScore], *, now: datetime
) -> em.Review:
    a, rnd, row, form = _open(s, expert, submission_id)
    new = history.save_draft(
        form, scores, rubric_of(_rules(s, rnd)), editor=expert, now=now, deadline=_deadline(s, rnd)
    )
    return _store(s, a, row, new, form, now, actor=expert, kind="review.draft_saved")


def submit_review(s: Session, expert: str, submission_id: int, *, now: datetime) -> em.Review:
    a, rnd, row, form = _open(s, expert, submission_id)
    new = history.submit(
        form,
        rubric_of(_rules(s, rnd)),
        editor=expert,
        now=now,
        deadline=_deadline(s, rnd),
        evidence_keys=evidence_keys(s, submission_id),
    )
    return _store(s, a, row, new, form, now, actor=expert, kind="review.submitted")


def edit_review_score(
    s: Session,
    expert: str,
    submission_id: int,
    score: CriterionScore,
    *,
    editor: str,
    reason: str,
    now: datetime,
) -> em.Review:
    """Change one submitted score; who, when, why, before and after are kept."""
    a, rnd, row, form = _open(s, expert, submission_id)
    new = history.edit_score(
        form,
        score,
        rubric_of(_rules(s, rnd)),
        editor=editor,
        now=now,
        deadline=_deadline(s, rnd),
        reason=reason,
        evidence_keys=evidence_keys(s, submission_id),
    )
    extra = {"criterion": score.criterion, "reason": reason}
    return _store(s, a, row, new, form, now, actor=editor, kind="review.score_edited", extra=extra)
