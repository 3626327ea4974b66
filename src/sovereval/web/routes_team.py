"""A team's workspace: its submissions, their provenance and benchmark results, its appeals.

Nothing here takes a consortium from the request: the consortium is the signed-in user's own,
so no parameter can point a team at another team's data (and submission ids are checked by the
policy's subject rule).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.errors import InputError
from sovereval.review import service as review
from sovereval.store.web_models import User
from sovereval.web import views, views_team
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, back, page, who

router = APIRouter(include_in_schema=False)


@router.get("/team", name="team_home", response_class=HTMLResponse)
def team_home(request: Request) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        data = views_team.dashboard(s, user, ctx.now())
    return page(request, "team.html", **data)


@router.get(
    "/team/submissions/{submission_id}", name="team_submission", response_class=HTMLResponse
)
def team_submission(request: Request, submission_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        data = views_team.submission_detail(s, svc.get_submission(s, submission_id))
    return page(request, "submission.html", sub=data)


COMPONENT_ROWS = 4
"""Component rows on the submission form (text decoder, vision and audio encoders, projector)."""


def parse_components(rows: list[tuple[str, str, str, str]]) -> list[dict[str, str]]:
    """Component rows of the form: blank rows are skipped; a named row needs a kind."""
    out = []
    for name, kind, origin, licence in rows:
        if not name.strip():
            continue
        out.append(
            {
                "name": name.strip(),
                "kind": kind.strip() or "other",
                "declared_origin": origin.strip() or "from-scratch",
                "licence": licence.strip(),
            }
        )
    if not out:
        raise InputError("declare at least one component (for example the text decoder)")
    return out


def register(ctx: Any, user: User, actor: str, round_number: int, fields: dict[str, Any]) -> int:
    """Register the caller's consortium's submission to a round; returns its id.

    The artefact is a reference (a URI the organisers fetch), never a path on this server: the
    file list is the team's declared checkpoint list, uploaded as evidence, not read here."""
    with ctx.write_session() as s:
        c = views_team.consortium_of(s, user)
        rnd = views_team.round_of_team(s, c, round_number)
        sub = svc.register_submission(
            s,
            rnd,
            c,
            str(fields["model"]).strip(),
            artefact=str(fields["artefact"]).strip(),
            components=fields["components"],
            endpoint=str(fields.get("endpoint", "")).strip(),
            target_model=str(fields.get("target_model", "")).strip(),
            files=[],
            actor=actor,
            now=ctx.now(),
        )
        return int(sub.id)


def store_evidence(
    ctx: Any, submission_id: int, kind: str, filename: str, data: bytes, actor: str
) -> dict[str, Any]:
    """Attach an evidence file to a submission the caller may see (policy subject rule)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InputError("the uploaded file needs a name")
    with ctx.write_session() as s:
        sub = svc.get_submission(s, submission_id)
        row = review.upload_evidence(s, sub, kind, name[:300], data, actor=actor, now=ctx.now())
        return {
            "id": row.id,
            "key": f"evidence-{row.id}",
            "kind": row.kind,
            "filename": row.filename,
            "sha256": row.sha256,
            "bytes": row.size,
        }


@router.get("/team/submit", name="team_submit_form", response_class=HTMLResponse)
def team_submit_form(request: Request) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        c = views_team.consortium_of(s, user)
        rounds = views_team.open_rounds(s, c)
    return page(
        request,
        "team_submit.html",
        consortium=c.name,
        rounds=rounds,
        kinds=svc.COMPONENT_KINDS,
        rows=range(COMPONENT_ROWS),
    )


@router.post("/team/submissions", name="team_submission_create")
async def team_submission_create(request: Request) -> Response:
    form = await request.form()

    def val(key: str, limit: int = 500) -> str:
        v = form.get(key, "")
        if not isinstance(v, str) or len(v) > limit:
            raise InputError(f"{key}: at most {limit} characters")
        return v

    try:
        number = int(val("round", 10))
    except ValueError:
        raise InputError("round: choose a round") from None
    if not val("model", 200).strip():
        raise InputError("model: give the model's name")
    if not val("artefact", 2000).strip():
        raise InputError("artefact: give where the organisers fetch the weights (a URI)")
    rows = [
        (
            val(f"c{i}_name", 200),
            val(f"c{i}_kind", 32),
            val(f"c{i}_origin", 200),
            val(f"c{i}_licence", 200),
        )
        for i in range(COMPONENT_ROWS)
    ]
    p = who(request)
    assert p.user is not None
    sid = register(
        ctx_of(request),
        p.user,
        p.actor,
        number,
        {
            "model": val("model", 200),
            "artefact": val("artefact", 2000),
            "endpoint": val("endpoint", 2000),
            "target_model": val("target_model", 200),
            "components": parse_components(rows),
        },
    )
    return back(f"/team/submissions/{sid}", "submission")


@router.post("/team/submissions/{submission_id}/evidence", name="team_evidence_upload")
async def team_evidence_upload(
    request: Request,
    submission_id: Id,
    kind: str = Form(max_length=32),
    file: UploadFile = File(),
) -> Response:
    data = await file.read()
    p = who(request)
    store_evidence(ctx_of(request), submission_id, kind, file.filename or "", data, p.actor)
    return back(f"/team/submissions/{submission_id}", "evidence")


def _appeal_page(request: Request, number: int, outcome: dict[str, str] | None) -> Response:
    ctx = ctx_of(request)
    user = who(request).user
    assert user is not None
    with ctx.store.session() as s:
        c = views_team.consortium_of(s, user)
        rnd = views_team.round_of_team(s, c, number)
        window = views.appeal_window(s, rnd, ctx.now())
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
