"""Review forms: drafts, submission, edits with history, and the deadline lock.

Pure records: every function takes the form and returns a new one; the caller (the review
service) stores it and writes the ledger event. Every change to a score, draft or submitted,
appends a :class:`ScoreEdit` saying who changed it, when, why, and what it was before and after
(the score-edit history of inspect_ai's ``Score.history`` is the model). After the deadline the
form is locked for everyone: :class:`DeadlinePassedError`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sovereval.errors import InputError, RuleViolation
from sovereval.review.rubric import (
    CriterionScore,
    Rubric,
    SubmittedReview,
    score_problems,
    validate_scores,
)

FormStatus = Literal["draft", "submitted"]


def _aware(t: datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise InputError(f"{what} must carry a timezone (got naive {t.isoformat()})")


def check_deadline(deadline: datetime, now: datetime) -> None:
    """Raise :class:`DeadlinePassedError` when ``now`` is after ``deadline`` (the deadline
    instant itself is still open)."""
    from sovereval.errors import DeadlinePassedError

    _aware(deadline, "deadline")
    _aware(now, "now")
    if now > deadline:
        raise DeadlinePassedError(
            f"the review deadline {deadline.isoformat()} has passed; the form is locked"
        )


@dataclass(frozen=True)
class ScoreEdit:
    criterion: str
    editor: str
    """Who made the change (the expert, or an administrator correcting on record)."""
    at: datetime
    reason: str
    before: CriterionScore | None
    """None: the criterion had no score yet."""
    after: CriterionScore
    stage: FormStatus
    """State of the form when the edit was made: draft edits vs edits of a submitted review."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "editor": self.editor,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "before": None if self.before is None else self.before.to_dict(),
            "after": self.after.to_dict(),
            "stage": self.stage,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreEdit:
        return cls(
            criterion=str(d["criterion"]),
            editor=str(d["editor"]),
            at=datetime.fromisoformat(d["at"]),
            reason=str(d["reason"]),
            before=None if d.get("before") is None else CriterionScore.from_dict(d["before"]),
            after=CriterionScore.from_dict(d["after"]),
            stage=d["stage"],
        )


@dataclass(frozen=True)
class ReviewForm:
    expert_id: str
    submission_id: str
    status: FormStatus = "draft"
    scores: tuple[CriterionScore, ...] = ()
    history: tuple[ScoreEdit, ...] = ()
    submitted_at: datetime | None = None

    def score_map(self) -> dict[str, CriterionScore]:
        return {s.criterion: s for s in self.scores}

    def to_dict(self) -> dict[str, Any]:
        return {
            "expert_id": self.expert_id,
            "submission_id": self.submission_id,
            "status": self.status,
            "scores": [s.to_dict() for s in self.scores],
            "history": [e.to_dict() for e in self.history],
            "submitted_at": None if self.submitted_at is None else self.submitted_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReviewForm:
        at = d.get("submitted_at")
        return cls(
            expert_id=str(d["expert_id"]),
            submission_id=str(d["submission_id"]),
            status=d.get("status", "draft"),
            scores=tuple(CriterionScore.from_dict(s) for s in d.get("scores", ())),
            history=tuple(ScoreEdit.from_dict(e) for e in d.get("history", ())),
            submitted_at=None if at is None else datetime.fromisoformat(at),
        )

    def as_submitted(self) -> SubmittedReview:
        """The record aggregation uses; only a submitted form has one."""
        if self.status != "submitted":
            raise RuleViolation(
                f"review of {self.submission_id} by {self.expert_id} is a draft; submit it first"
            )
        return SubmittedReview(self.expert_id, self.submission_id, self.scores)


def open_form(expert_id: str, submission_id: str) -> ReviewForm:
    if not expert_id or not submission_id:
        raise InputError("a review form needs an expert id and a submission id")
    return ReviewForm(expert_id, submission_id)


def _apply(
    form: ReviewForm,
    changes: Iterable[CriterionScore],
    *,
    editor: str,
    now: datetime,
    reason: str,
) -> ReviewForm:
    if not editor.strip():
        raise InputError("an edit needs the editor's id")
    current = form.score_map()
    edits: list[ScoreEdit] = []
    for new in changes:
        old = current.get(new.criterion)
        if old == new:
            continue
        current[new.criterion] = new
        edits.append(ScoreEdit(new.criterion, editor, now, reason, old, new, form.status))
    if not edits:
        return form
    order = {c: i for i, c in enumerate(s.criterion for s in form.scores)}
    scores = tuple(sorted(current.values(), key=lambda s: order.get(s.criterion, len(order))))
    return replace(form, scores=scores, history=(*form.history, *edits))


def save_draft(
    form: ReviewForm,
    scores: Iterable[CriterionScore],
    rubric: Rubric,
    *,
    editor: str,
    now: datetime,
    deadline: datetime,
    reason: str = "draft saved",
) -> ReviewForm:
    """Save (possibly partial) draft scores; scale and criterion checks only, no completeness."""
    check_deadline(deadline, now)
    if form.status != "draft":
        raise RuleViolation("the review is already submitted; edit a score with a reason instead")
    scores = tuple(scores)
    bad = score_problems(rubric, scores, evidence_keys=(), require_all=False, check_text=False)
    if bad:
        raise InputError("draft not saved: " + "; ".join(bad))
    return _apply(form, scores, editor=editor, now=now, reason=reason)


def submit(
    form: ReviewForm,
    rubric: Rubric,
    *,
    editor: str,
    now: datetime,
    deadline: datetime,
    evidence_keys: Collection[str],
) -> ReviewForm:
    """Submit the draft: every criterion scored, justified, evidence cited where required."""
    check_deadline(deadline, now)
    if form.status == "submitted":
        raise RuleViolation("the review is already submitted")
    if editor != form.expert_id:
        raise RuleViolation(f"only {form.expert_id} can submit this review")
    validate_scores(rubric, form.scores, evidence_keys=evidence_keys)
    return replace(form, status="submitted", submitted_at=now)


def edit_score(
    form: ReviewForm,
    score: CriterionScore,
    rubric: Rubric,
    *,
    editor: str,
    now: datetime,
    deadline: datetime,
    reason: str,
    evidence_keys: Collection[str],
) -> ReviewForm:
    """Change one score of a submitted review; the reason is required and kept in history."""
    check_deadline(deadline, now)
    if form.status != "submitted":
        raise RuleViolation("the review is a draft; save the draft instead")
    if not reason.strip():
        raise InputError("editing a submitted score needs a written reason")
    problems = score_problems(rubric, (score,), evidence_keys=evidence_keys, require_all=False)
    if problems:
        raise RuleViolation("edit not accepted: " + "; ".join(problems))
    return _apply(form, (score,), editor=editor, now=now, reason=reason.strip())


def history_of(form: ReviewForm, criterion: str) -> tuple[ScoreEdit, ...]:
    """The edits of one criterion, oldest first."""
    return tuple(e for e in form.history if e.criterion == criterion)
