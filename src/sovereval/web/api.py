"""The JSON API under ``/api/v1``: thin routes over the service layer, with an OpenAPI schema.

Authentication is a bearer token (``Authorization: Bearer sov_...``) or the browser session
(then with the ``X-CSRF-Token`` header on writes). Access rules are the policy table's, like
every other route. Public reads serve published data only and are cached per scorecard issue.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import NotFoundError
from sovereval.ledger.log import head_hash
from sovereval.store import models as m
from sovereval.web import api_panel, api_review, views, views_admin, views_team
from sovereval.web import schemas as sc
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, who
from sovereval.web.routes_public import cached_ref, leaderboard_data

router = APIRouter(prefix="/api/v1", tags=["api"], responses=sc.ERRORS)


def _json(data: Any, status: int = 200, *, public: bool = False) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    cache = "public, max-age=30" if public else "private, no-store"
    return Response(
        body, status_code=status, media_type="application/json", headers={"Cache-Control": cache}
    )


def _results_out(programme_id: int, res: dict[str, Any]) -> dict[str, Any]:
    return {
        "programme_id": programme_id,
        "round": res["round"]["number"],
        "round_name": res["round"]["name"],
        "issue": res["issue"],
        "published_at": res["published_at"],
        "rules": res["rules"],
        "teams": res["teams"],
    }


@router.get("/programmes", name="api_programmes", response_model=list[sc.ProgrammeOut])
def api_programmes(request: Request) -> Any:
    with ctx_of(request).store.session() as s:
        return views.programmes(s)


@router.get(
    "/programmes/{programme_id}/leaderboard",
    name="api_leaderboard",
    response_model=sc.ResultsOut,
)
async def api_leaderboard(request: Request, programme_id: Id) -> Any:
    """The newest published results of a programme (404 until something is published)."""
    ctx = ctx_of(request)
    ref = cached_ref(ctx, programme_id)
    hit = ctx.cache.get(("api.leaderboard", ref)) if ref is not None else None
    if hit is not None:
        return hit
    card_id, data = await run_in_threadpool(leaderboard_data, ctx, programme_id)
    if card_id is None:
        raise NotFoundError(f"programme {programme_id} has no published results yet")
    key = ("api.leaderboard", card_id)
    body = ctx.cache.get(key)
    if body is None:
        body = ctx.cache.put(key, _json(_results_out(programme_id, data["results"]), public=True))
    return body


@router.get(
    "/programmes/{programme_id}/rounds/{number}/results",
    name="api_round_results",
    response_model=sc.ResultsOut,
)
def api_round_results(request: Request, programme_id: Id, number: Id) -> Any:
    with ctx_of(request).store.session() as s:
        prog = views.programme(s, programme_id)
        res = views.round_results_public(s, prog, number)
        if res is None:
            raise NotFoundError(f"round {number} has no published results yet")
        return _json(_results_out(programme_id, res), public=True)


@router.get(
    "/programmes/{programme_id}/rounds/{number}/rules",
    name="api_round_rules",
    response_model=list[sc.RuleVersionOut],
)
def api_round_rules(request: Request, programme_id: Id, number: Id) -> Any:
    """Rule versions of a round with their diffs; drafts are never listed."""
    with ctx_of(request).store.session() as s:
        prog = views.programme(s, programme_id)
        rnd = svc.get_round(s, prog, number)
        return views.rule_versions(s, rnd, public=True)


@router.get("/ledger/head", name="api_ledger_head", response_model=sc.LedgerHeadOut)
def api_ledger_head(request: Request) -> Any:
    with ctx_of(request).store.session() as s:
        seq, head = head_hash(s)
    return {
        "events": seq,
        "head": head,
        "verify": "sovereval audit export --out ledger.jsonl && "
        f"sovereval audit verify-file ledger.jsonl --head {head}",
    }


@router.get("/me", name="api_me", response_model=sc.MeOut)
def api_me(request: Request) -> Any:
    u = who(request).user
    assert u is not None
    return {
        "username": u.username,
        "role": u.role,
        "consortium_id": u.consortium_id,
        "expert_name": u.expert_name,
    }


@router.get(
    "/team/submissions", name="api_team_submissions", response_model=list[sc.SubmissionSummaryOut]
)
def api_team_submissions(request: Request) -> Any:
    u = who(request).user
    assert u is not None
    ctx = ctx_of(request)
    with ctx.store.session() as s:
        data = views_team.dashboard(s, u, ctx.now())
    return [
        {
            "id": x["id"],
            "model": x["model"],
            "status": x["status"],
            "round": x["round"],
            "round_status": x["round_status"],
        }
        for x in data["submissions"]
    ]


@router.post(
    "/team/submissions",
    name="api_team_submission_create",
    response_model=sc.SubmissionCreatedOut,
    status_code=201,
)
def api_team_submission_create(request: Request, body: sc.SubmissionIn) -> Any:
    """Register the caller's consortium's model for a round (endpoint, artefact, components)."""
    from sovereval.web.routes_team import register

    p = who(request)
    assert p.user is not None
    sid = register(
        ctx_of(request),
        p.user,
        p.actor,
        body.round,
        {
            "model": body.model,
            "artefact": body.artefact,
            "endpoint": body.endpoint,
            "target_model": body.target_model,
            "components": [c.model_dump() for c in body.components],
        },
    )
    return _json({"id": sid, "model": body.model.strip(), "round": body.round}, 201)


@router.post(
    "/submissions/{submission_id}/evidence",
    name="api_evidence_upload",
    response_model=sc.EvidenceOut,
    status_code=201,
)
def api_evidence_upload(request: Request, submission_id: Id, body: sc.EvidenceIn) -> Any:
    """Attach a technical report, training log or checkpoint list; answers with its digest."""
    from sovereval.web.routes_team import store_evidence

    out = store_evidence(
        ctx_of(request),
        submission_id,
        body.kind,
        body.filename,
        body.content.encode("utf-8"),
        who(request).actor,
    )
    return _json(out, 201)


@router.get("/submissions/{submission_id}", name="api_submission", response_model=sc.SubmissionOut)
def api_submission(request: Request, submission_id: Id) -> Any:
    """One submission with its raw results and provenance findings (confidential)."""
    with ctx_of(request).store.session() as s:
        return views_team.submission_detail(s, svc.get_submission(s, submission_id))


@router.post(
    "/team/rounds/{number}/appeals",
    name="api_appeal_file",
    response_model=sc.AppealOut,
    status_code=201,
)
def api_appeal_file(request: Request, number: Id, body: sc.AppealIn) -> Any:
    """File the caller's team's appeal. A late filing is recorded and answered with 422."""
    ctx = ctx_of(request)
    p = who(request)
    assert p.user is not None
    with ctx.write_session() as s:
        c = views_team.consortium_of(s, p.user)
        rnd = views_team.round_of_team(s, c, number)
        a = rs.file_appeal(s, rnd, c, body.text, actor=p.actor, now=ctx.now())
        out = {
            "id": a.id,
            "round": rnd.number,
            "status": a.status,
            "reason": a.reason,
            "filed_at": a.filed_at.isoformat(),
        }
    if out["status"] == "rejected_late":
        return _json(
            {"error": {"status": 422, "type": "DeadlinePassedError", "message": out["reason"]}},
            422,
        )
    return _json(out, 201)


@router.post(
    "/submissions/{submission_id}/results",
    name="api_result_record",
    response_model=sc.MeasurementOut,
    status_code=201,
)
def api_result_record(request: Request, submission_id: Id, body: sc.ResultIn) -> Any:
    """Record (or replace, before publication) one raw scoring input of a submission."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        sub = svc.get_submission(s, submission_id)
        row = svc.record_result(
            s,
            sub,
            body.part,
            Measurement(body.value, body.lo, body.hi),
            subject=body.subject,
            source=body.source,
            actor=who(request).actor,
            now=ctx.now(),
        )
        return _json(
            {
                "part": row.part,
                "subject": row.subject,
                "value": row.value,
                "lo": row.lo,
                "hi": row.hi,
                "source": row.source,
            },
            201,
        )


def _card(card: m.Scorecard, rnd: m.Round) -> dict[str, Any]:
    return {
        "round": rnd.number,
        "issue": card.issue,
        "published": card.published,
        "content": card.content,
    }


@router.get(
    "/rounds/{round_id}/scorecard", name="api_scorecard_draft", response_model=sc.ScorecardOut
)
def api_scorecard_draft(request: Request, round_id: Id) -> Any:
    """The newest scorecard of a round, published or not (staff only)."""
    with ctx_of(request).store.session() as s:
        rnd = views_admin.get_round(s, round_id)
        card = rs.latest_scorecard(s, rnd)
        if card is None:
            raise NotFoundError(f"round {rnd.number} has no scorecard yet")
        return _card(card, rnd)


@router.post(
    "/rounds/{round_id}/scorecard",
    name="api_scorecard_compute",
    response_model=sc.ScorecardOut,
    status_code=201,
)
def api_scorecard_compute(request: Request, round_id: Id) -> Any:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        card = rs.compute_scorecard(s, rnd, actor=who(request).actor, now=ctx.now())
        return _json(_card(card, rnd), 201)


@router.post(
    "/rounds/{round_id}/publish", name="api_results_publish", response_model=sc.ScorecardOut
)
def api_results_publish(request: Request, round_id: Id) -> Any:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        card = rs.publish_results(s, rnd, actor=who(request).actor, now=ctx.now())
        return _card(card, rnd)


def _ruleset(row: m.RuleSetRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "status": row.status,
        "hash": row.content_hash,
        "amendment": row.is_amendment,
        "rationale": row.rationale,
    }


@router.post(
    "/rulesets/{ruleset_id}/publish", name="api_ruleset_publish", response_model=sc.RulesetOut
)
def api_ruleset_publish(request: Request, ruleset_id: Id) -> Any:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        row = svc.publish_ruleset(
            s, svc.get_ruleset(s, ruleset_id), actor=who(request).actor, now=ctx.now()
        )
        return _ruleset(row)


@router.post(
    "/rounds/{round_id}/amend",
    name="api_round_amend",
    response_model=sc.RulesetOut,
    status_code=201,
)
def api_round_amend(request: Request, round_id: Id, body: sc.AmendIn) -> Any:
    """Amend a round's rules; after the round opened a rationale of 10+ characters is required."""
    ctx = ctx_of(request)
    rules = views_admin.rules_from_json(body.rules)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        row = svc.amend_rules(
            s, rnd, rules, rationale=body.rationale.strip(), actor=who(request).actor, now=ctx.now()
        )
        return _json(_ruleset(row), 201)


# The panelists' arena and the experts' review endpoints live in their own modules.
router.include_router(api_panel.router)
router.include_router(api_review.router)
