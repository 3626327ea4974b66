"""Expert and panel entry pages.

The review and arena slices build the workflows; these pages fix the access rules they must
keep: an expert lists only submissions assigned to them, and a panelist is never shown which
models fought a battle before voting on it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from sovereval.competition import service as svc
from sovereval.store import models as m
from sovereval.web import policy, views_team
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, page, who

router = APIRouter(include_in_schema=False)


@router.get("/expert", name="expert_home", response_class=HTMLResponse)
def expert_home(request: Request) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        ids = s.execute(select(m.Submission.id).order_by(m.Submission.id)).scalars().all()
        assigned = [
            {"id": sub.id, "model": sub.model_name}
            for sub in (svc.get_submission(s, i) for i in ids)
            if policy.expert_can_see(s, user, sub.id)
        ]
    return page(request, "expert.html", assigned=assigned)


@router.get(
    "/expert/submissions/{submission_id}", name="expert_submission", response_class=HTMLResponse
)
def expert_submission(request: Request, submission_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        data = views_team.submission_detail(s, svc.get_submission(s, submission_id))
    return page(request, "submission.html", sub=data)


@router.get("/arena", name="arena_home", response_class=HTMLResponse)
def arena_home(request: Request) -> Response:
    show = policy.panelist_can_see_identities(who(request).user, has_voted=False)
    return page(request, "arena.html", battles=[], show_identities=show)
