"""A team's workspace: its submissions, their provenance and benchmark results, its appeals.

Nothing here takes a consortium from the request: the consortium is the signed-in user's own,
so no parameter can point a team at another team's data (and submission ids are checked by the
policy's subject rule).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.web import views, views_team
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, page, who

router = APIRouter(include_in_schema=False)


@router.get("/team", name="team_home", response_class=HTMLResponse)
def team_home(request: Request) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        data = views_team.dashboard(s, user)
    return page(request, "team.html", **data)


@router.get(
    "/team/submissions/{submission_id}", name="team_submission", response_class=HTMLResponse
)
def team_submission(request: Request, submission_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        data = views_team.submission_detail(s, svc.get_submission(s, submission_id))
    return page(request, "submission.html", sub=data)


def _appeal_page(request: Request, number: int, outcome: dict[str, str] | None) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        c = views_team.consortium_of(s, user)
        rnd = views_team.round_of_team(s, c, number)
        window = views.appeal_window(s, rnd)
        appeals = views_team.appeals_in_round(s, c, rnd)
    status = 422 if outcome and outcome["status"] == "rejected_late" else 200
    return page(
        request,
        "appeal.html",
        status,
        round={"number": rnd.number, "name": rnd.name, "status": rnd.status},
        consortium=c.name,
        window=window,
        now=ctx.now(),
        appeals=appeals,
        outcome=outcome,
    )


@router.get("/team/rounds/{number}/appeal", name="team_appeal_form", response_class=HTMLResponse)
def team_appeal_form(request: Request, number: Id) -> Response:
    return _appeal_page(request, number, None)


@router.post("/team/rounds/{number}/appeal", name="team_appeal_file", response_class=HTMLResponse)
def team_appeal_file(
    request: Request, number: Id, text: str = Form(min_length=1, max_length=20_000)
) -> Response:
    """File an appeal. A late filing is recorded (with its reason) and refused with 422."""
    ctx = ctx_of(request)
    p = who(request)
    assert p.user is not None
    with ctx.write_session() as s:
        c = views_team.consortium_of(s, p.user)
        rnd = views_team.round_of_team(s, c, number)
        a = rs.file_appeal(s, rnd, c, text, actor=p.actor, now=ctx.now())
        outcome = {"status": a.status, "reason": a.reason, "id": str(a.id)}
    return _appeal_page(request, number, outcome)
