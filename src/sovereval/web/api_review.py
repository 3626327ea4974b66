"""The expert-review JSON API (``/api/v1/review/...``), over the same read model as the pages.

Every submission route carries the policy table's ``submission`` subject rule, so an expert
gets 404 for any submission not assigned to them, exactly as for one that does not exist; the
review service checks the assignment again underneath. Writes past the deadline answer 422
(``DeadlinePassedError``), an incomplete submission 400/422 with every problem named.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sovereval.review.rubric import CriterionScore
from sovereval.store.web_models import User
from sovereval.web import views_review
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, who
from sovereval.web.schemas import SafeText, Strict

router = APIRouter(prefix="/review", tags=["review"])


class AssignmentOut(BaseModel):
    submission: int
    label: str
    """``Submission #id`` under blind review, else the model and team."""
    round: str
    status: str
    deadline: str
    locked: bool


class ScoreIn(Strict):
    criterion: SafeText = Field(min_length=1, max_length=200)
    score: float = Field(allow_inf_nan=False, ge=-1e6, le=1e6)
    justification: SafeText = Field(default="", max_length=20_000)
    evidence: list[SafeText] = Field(default_factory=list, max_length=50)
    """Evidence keys cited (``provenance-<id>``, ``evidence-<id>`` from the packet)."""

    def score_record(self) -> CriterionScore:
        return CriterionScore(self.criterion, self.score, self.justification, tuple(self.evidence))


class DraftIn(Strict):
    scores: list[ScoreIn] = Field(default_factory=list, max_length=50)


class EditIn(ScoreIn):
    reason: SafeText = Field(min_length=1, max_length=2000)
    """Why the submitted score changes; kept in the history."""


class ReviewOut(BaseModel):
    submission: int
    label: str
    round: str
    status: str
    deadline: str
    locked: bool
    lock_reason: str
    packet: dict[str, Any]
    """Benchmarks, provenance runs, report and logs; no team identity when blind."""
    rubric: dict[str, Any]
    scores: dict[str, Any]
    submitted_at: str | None
    history: list[dict[str, Any]]


def _user(request: Request) -> User:
    u = who(request).user
    assert u is not None
    return u


@router.get("/assignments", name="api_review_assignments", response_model=list[AssignmentOut])
def api_review_assignments(request: Request) -> Any:
    """Your assignments (and nobody else's), with each review's state and deadline."""
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        rows = views_review.assigned(s, _user(request), ctx.now())
    return [{**r, "deadline": r["deadline"].isoformat()} for r in rows]


def _state(request: Request, submission_id: int) -> dict[str, Any]:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        return views_review.state(s, _user(request), submission_id, ctx.now())


@router.get("/submissions/{submission_id}", name="api_review_state", response_model=ReviewOut)
def api_review_state(request: Request, submission_id: Id) -> Any:
    """The evidence packet, rubric, your scores and their history for an assigned submission."""
    return _state(request, submission_id)


@router.put("/submissions/{submission_id}/draft", name="api_review_draft", response_model=ReviewOut)
def api_review_draft(request: Request, submission_id: Id, body: DraftIn) -> Any:
    """Save (part of) your scores as a draft; drafts need no justification yet."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        views_review.save_draft(
            s, _user(request), submission_id, [x.score_record() for x in body.scores], ctx.now()
        )
    return _state(request, submission_id)


@router.post(
    "/submissions/{submission_id}/submit", name="api_review_submit", response_model=ReviewOut
)
def api_review_submit(request: Request, submission_id: Id, body: DraftIn) -> Any:
    """Submit the review (saving ``scores`` first, if given): every criterion, justified."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        views_review.submit(
            s, _user(request), submission_id, [x.score_record() for x in body.scores], ctx.now()
        )
    return _state(request, submission_id)


@router.post(
    "/submissions/{submission_id}/edits",
    name="api_review_edit",
    response_model=ReviewOut,
    status_code=201,
)
def api_review_edit(request: Request, submission_id: Id, body: EditIn) -> Any:
    """Change one submitted score with a reason (who, when, why, before and after are kept)."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        views_review.edit(
            s, _user(request), submission_id, body.score_record(), body.reason, ctx.now()
        )
    return _state(request, submission_id)
