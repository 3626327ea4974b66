"""The expert's pages: assigned submissions, the evidence packet, the review form.

One form per submission holds every criterion (score, anchored scale, written justification,
cited evidence); it is saved as a draft or submitted. After submission each score can be
changed only with a reason, and the page shows the whole edit history. Past the deadline the
form is shown locked with the reason, and the service refuses any write (422).

A refusal re-renders the page with the reason and what the expert typed, so nothing is lost.
Unassigned submissions answer 404 (the policy table's subject check, then the service).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from sovereval.errors import AuthenticationError, InputError, NotFoundError, SovereValError
from sovereval.review.rubric import CriterionScore
from sovereval.store.web_models import User
from sovereval.web import views_review
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, back, page, who

router = APIRouter(include_in_schema=False)

NOTICE = {
    "draft": "Draft saved. It stays private until you submit.",
    "submitted": "Review submitted. Changes from now on need a reason and are kept in the history.",
    "edited": "Score changed; the change and its reason are in the history below.",
}


def _user(request: Request) -> User:
    user = who(request).user
    assert user is not None
    return user


def _evidence(form: FormData, rubric: dict[str, Any]) -> dict[str, list[str]]:
    return {
        c["key"]: [str(v) for v in form.getlist(f"evidence_{c['key']}")] for c in rubric["criteria"]
    }


@router.get("/expert", name="expert_home", response_class=HTMLResponse)
def expert_home(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        rows = views_review.assigned(s, _user(request), ctx.now())
    return page(request, "expert.html", assigned=rows)


def _state(request: Request, submission_id: int) -> dict[str, Any]:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        return views_review.state(s, _user(request), submission_id, ctx.now())


def _render(
    request: Request,
    submission_id: int,
    *,
    status: int = 200,
    problem: str = "",
    entered: dict[str, Any] | None = None,
) -> Response:
    st = _state(request, submission_id)
    notice = NOTICE.get(request.query_params.get("done", ""), "") if not problem else ""
    return page(
        request,
        "review.html",
        status,
        r=st,
        problem=problem,
        notice=notice,
        entered=entered or {},
    )


@router.get(
    "/expert/submissions/{submission_id}", name="expert_submission", response_class=HTMLResponse
)
def expert_submission(request: Request, submission_id: Id) -> Response:
    return _render(request, submission_id)


def _refused(exc: SovereValError) -> bool:
    return not isinstance(exc, AuthenticationError | NotFoundError)


@router.post(
    "/expert/submissions/{submission_id}/provenance-request",
    name="expert_provenance_request",
)
def expert_provenance_request(request: Request, submission_id: Id) -> Response:
    """The assigned expert asks the organisers for a provenance run (the packet has none)."""
    from sovereval.competition import service as svc
    from sovereval.review import requests

    ctx = ctx_of(request)
    with ctx.write_session() as s:
        requests.request_run(
            s,
            svc.get_submission(s, submission_id),
            reason="requested by an assigned reviewer: no provenance run in the packet",
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back(f"/expert/submissions/{submission_id}", "provenance_requested")


@router.post(
    "/expert/submissions/{submission_id}/review",
    name="expert_review_save",
    response_class=HTMLResponse,
)
async def expert_review_save(request: Request, submission_id: Id) -> Response:
    """Save the form as a draft (``action=draft``) or submit it (``action=submit``)."""
    ctx = ctx_of(request)
    user = _user(request)
    form = await request.form()
    action = "submit" if form.get("action") == "submit" else "draft"
    entered = {k: form.getlist(k) if k.startswith("evidence_") else v for k, v in form.items()}

    def run() -> None:
        with ctx.write_session() as s:
            rubric = views_review.state(s, user, submission_id, ctx.now())["rubric"]
            scores = views_review.scores_from_form(rubric, form, _evidence(form, rubric))
            if action == "submit":
                views_review.submit(s, user, submission_id, scores, ctx.now())
            else:
                views_review.save_draft(s, user, submission_id, scores, ctx.now())

    try:
        await run_in_threadpool(run)
    except SovereValError as exc:
        if not _refused(exc):
            raise
        return await run_in_threadpool(
            partial(
                _render,
                request,
                submission_id,
                status=exc.http_status,
                problem=str(exc),
                entered=entered,
            )
        )
    code = "submitted" if action == "submit" else "draft"
    return RedirectResponse(f"/expert/submissions/{submission_id}?done={code}", status_code=303)


@router.post(
    "/expert/submissions/{submission_id}/edit",
    name="expert_review_edit",
    response_class=HTMLResponse,
)
async def expert_review_edit(request: Request, submission_id: Id) -> Response:
    """Change one submitted score, with the reason kept in the history."""
    ctx = ctx_of(request)
    user = _user(request)
    form = await request.form()
    key = str(form.get("criterion", ""))

    def run() -> None:
        try:
            score = float(str(form.get("score", "")))
        except ValueError:
            raise InputError("choose the new score") from None
        cs = CriterionScore(
            key,
            score,
            str(form.get("justification", "")),
            tuple(str(v) for v in form.getlist("evidence")),
        )
        with ctx.write_session() as s:
            views_review.edit(s, user, submission_id, cs, str(form.get("reason", "")), ctx.now())

    try:
        await run_in_threadpool(run)
    except SovereValError as exc:
        if not _refused(exc):
            raise
        return await run_in_threadpool(
            partial(_render, request, submission_id, status=exc.http_status, problem=str(exc))
        )
    return RedirectResponse(f"/expert/submissions/{submission_id}?done=edited", status_code=303)
