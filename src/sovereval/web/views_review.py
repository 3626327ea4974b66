"""The expert's side of review for the web: assignments, the evidence packet and the form.

The expert is the signed-in user's ``expert_name``, never a request parameter. Two guards keep
an expert out of work not assigned to them: the policy table's ``submission`` subject check
(404 before any route code runs) and the review service itself (``assignment_for`` raises
``PermissionDeniedError``), which this module turns into the same 404 a missing submission gets,
so neither answer reveals whether a submission exists.

Blind review is the RuleSet's choice (``review_rubric.blind``): then nothing here names the
team or the model; a submission is "Submission #id".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import service as svc
from sovereval.errors import InputError, NotFoundError, PermissionDeniedError
from sovereval.review import history
from sovereval.review import service as review
from sovereval.review.rubric import CriterionScore, Rubric
from sovereval.store import evaluation_models as em
from sovereval.store import models as m
from sovereval.store.web_models import User

T = TypeVar("T")


def expert_of(user: User) -> str:
    if user.role != "expert" or not user.expert_name:
        raise NotFoundError("no review is assigned to this account")
    return user.expert_name


def guarded(fn: Callable[[], T], submission_id: int) -> T:
    """Run a review-service call; an unassigned submission becomes the missing-submission 404."""
    try:
        return fn()
    except PermissionDeniedError:
        raise NotFoundError(f"no submission with id {submission_id}") from None


def _rubric_and_deadline(s: Session, rnd: m.Round) -> tuple[Rubric, datetime]:
    rules = svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))
    pol = review.policy(rules)
    return review.rubric_of(rules), rnd.closes_at + timedelta(days=int(pol["deadline_days"]))


def _label(s: Session, sub: m.Submission, blind: bool) -> str:
    if blind:
        return f"Submission #{sub.id}"
    team = s.get(m.Consortium, sub.consortium_id)
    return f"{sub.model_name} ({team.name if team else '?'})"


def assigned(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """The caller's assignments only, with each form's state and deadline."""
    expert = expert_of(user)
    rows = (
        s.execute(
            select(em.ReviewAssignment)
            .where(em.ReviewAssignment.expert == expert)
            .order_by(em.ReviewAssignment.round_id, em.ReviewAssignment.submission_id)
        )
        .scalars()
        .all()
    )
    out = []
    for a in rows:
        sub = s.get(m.Submission, a.submission_id)
        rnd = s.get(m.Round, a.round_id)
        if sub is None or rnd is None:
            continue
        rubric, deadline = _rubric_and_deadline(s, rnd)
        row = s.execute(
            select(em.Review).where(em.Review.assignment_id == a.id)
        ).scalar_one_or_none()
        out.append(
            {
                "submission": sub.id,
                "label": _label(s, sub, rubric.blind),
                "round": rnd.name or f"Round {rnd.number}",
                "status": row.status if row is not None else "not started",
                "deadline": deadline,
                "locked": now > deadline,
            }
        )
    return out


def _form_of(s: Session, expert: str, submission_id: int) -> history.ReviewForm:
    a = review.assignment_for(s, expert, submission_id)
    row = s.execute(select(em.Review).where(em.Review.assignment_id == a.id)).scalar_one_or_none()
    if row is None:
        return history.open_form(expert, str(submission_id))
    return history.ReviewForm.from_dict(row.scores)


def state(s: Session, user: User, submission_id: int, now: datetime) -> dict[str, Any]:
    """Everything the review page and the API show: packet, rubric, form, history, lock."""
    expert = expert_of(user)

    def build() -> dict[str, Any]:
        packet = review.evidence_packet(s, expert, submission_id)
        a = review.assignment_for(s, expert, submission_id)
        rnd = s.get(m.Round, a.round_id)
        assert rnd is not None
        rubric, deadline = _rubric_and_deadline(s, rnd)
        form = _form_of(s, expert, submission_id)
        scores = {c.criterion: c.to_dict() for c in form.scores}
        sub = svc.get_submission(s, submission_id)
        return {
            "submission": submission_id,
            "label": _label(s, sub, rubric.blind),
            "round": rnd.name or f"Round {rnd.number}",
            "packet": packet,
            "rubric": rubric.to_dict(),
            "status": form.status,
            "scores": scores,
            "submitted_at": form.submitted_at.isoformat() if form.submitted_at else None,
            "history": [e.to_dict() for e in form.history],
            "deadline": deadline.isoformat(),
            "locked": now > deadline,
            "lock_reason": (
                f"the review deadline {deadline.isoformat()[:16]} UTC has passed "
                f"(round closed {rnd.closes_at.isoformat()[:10]} + the rules' review period); "
                "the form is locked"
            )
            if now > deadline
            else "",
        }

    return guarded(build, submission_id)


def scores_from_form(
    rubric: Mapping[str, Any], fields: Mapping[str, Any], evidence: Mapping[str, list[str]]
) -> list[CriterionScore]:
    """Criterion scores from the page's form: ``score_<key>``, ``justification_<key>`` and the
    ticked ``evidence_<key>`` keys. A criterion without a score is left out (a partial draft)."""
    out = []
    for c in rubric["criteria"]:
        key = c["key"]
        raw = str(fields.get(f"score_{key}", "") or "").strip()
        text = str(fields.get(f"justification_{key}", "") or "")
        if not raw:
            if text.strip():
                raise InputError(f"{c['title']}: choose a score to go with the justification")
            continue
        try:
            score = float(raw)
        except ValueError:
            raise InputError(f"{c['title']}: the score must be a number") from None
        out.append(CriterionScore(key, score, text, tuple(evidence.get(key, ()))))
    return out


def save_draft(
    s: Session, user: User, submission_id: int, scores: list[CriterionScore], now: datetime
) -> None:
    expert = expert_of(user)
    guarded(lambda: review.save_draft(s, expert, submission_id, scores, now=now), submission_id)


def submit(
    s: Session, user: User, submission_id: int, scores: list[CriterionScore], now: datetime
) -> None:
    """Save what the form holds, then submit: every criterion scored and justified."""
    expert = expert_of(user)

    def run() -> None:
        form = _form_of(s, expert, submission_id)
        if form.status == "draft" and scores:
            review.save_draft(s, expert, submission_id, scores, now=now)
        review.submit_review(s, expert, submission_id, now=now)

    guarded(run, submission_id)


def edit(
    s: Session, user: User, submission_id: int, score: CriterionScore, reason: str, now: datetime
) -> None:
    """Change one submitted score; the reason is required and kept in the history."""
    expert = expert_of(user)
    guarded(
        lambda: review.edit_review_score(
            s, expert, submission_id, score, editor=expert, reason=reason, now=now
        ),
        submission_id,
    )
