"""The organisers' workspace (admin and evaluator): programmes, rules, rounds, results,
appeals, wild cards, resources and users. Each form calls one service function, which writes
its rows and its ledger event in one transaction, then redirects to the page showing the result.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet
from sovereval.errors import InputError, NotFoundError
from sovereval.store import models as m
from sovereval.store.web_models import User
from sovereval.web import users_service as users
from sovereval.web import views, views_admin
from sovereval.web.auth import ctx_of
from sovereval.web.pages import Id, back, page, who

router = APIRouter(include_in_schema=False)

TEXT = 20_000


def parse_when(value: str, field: str) -> datetime:
    """A form time (``datetime-local`` or ISO 8601); without a zone it is taken as UTC."""
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{field}: '{value}' is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_rules(text: str) -> RuleSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"rule set JSON is invalid at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InputError("a rule set is a JSON object")
    return views_admin.rules_from_json(data)


@router.get("/admin", name="admin_home", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    with ctx_of(request).store.session() as s:
        progs = views.programmes(s)
    return page(request, "admin.html", programmes=progs)


@router.post("/admin/programmes", name="admin_programme_create")
def admin_programme_create(
    request: Request,
    name: str = Form(min_length=1, max_length=200),
    description: str = Form("", max_length=TEXT),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        p = svc.create_programme(
            s, name.strip(), description, actor=who(request).actor, now=ctx.now()
        )
        pid = p.id
    return back(f"/admin/programmes/{pid}", "programme")


@router.get("/admin/programmes/{programme_id}", name="admin_programme", response_class=HTMLResponse)
def admin_programme(request: Request, programme_id: Id) -> Response:
    with ctx_of(request).store.session() as s:
        data = views_admin.programme_admin(s, views.programme(s, programme_id))
    return page(request, "admin_programme.html", **data)


@router.post("/admin/programmes/{programme_id}/consortia", name="admin_consortium_add")
def admin_consortium_add(
    request: Request,
    programme_id: Id,
    name: str = Form(min_length=1, max_length=200),
    lead: str = Form(min_length=1, max_length=200),
    members: str = Form("", max_length=TEXT),
    status: str = Form("selected", max_length=32),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        prog = views.programme(s, programme_id)
        names = [x.strip() for x in members.split(",") if x.strip()]
        svc.add_consortium(
            s,
            prog,
            name.strip(),
            lead.strip(),
            names,
            status=status,
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back(f"/admin/programmes/{programme_id}", "consortium")


@router.post("/admin/programmes/{programme_id}/rulesets", name="admin_ruleset_create")
def admin_ruleset_create(
    request: Request, programme_id: Id, content: str = Form(min_length=2, max_length=200_000)
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        prog = views.programme(s, programme_id)
        row = svc.create_ruleset(
            s, prog, parse_rules(content), actor=who(request).actor, now=ctx.now()
        )
        rid = row.id
    return back(f"/admin/rulesets/{rid}", "drafted")


@router.get("/admin/rulesets/{ruleset_id}", name="admin_ruleset", response_class=HTMLResponse)
def admin_ruleset(request: Request, ruleset_id: Id) -> Response:
    with ctx_of(request).store.session() as s:
        row = svc.get_ruleset(s, ruleset_id)
        data = {
            "id": row.id,
            "programme_id": row.programme_id,
            "name": row.name,
            "version": row.version,
            "status": row.status,
            "hash": row.content_hash,
            "rationale": row.rationale,
            "amendment": row.is_amendment,
            "content": json.dumps(row.content, indent=2, ensure_ascii=False),
        }
    return page(request, "admin_ruleset.html", rs=data)


@router.post("/admin/rulesets/{ruleset_id}/publish", name="admin_ruleset_publish")
def admin_ruleset_publish(request: Request, ruleset_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        svc.publish_ruleset(
            s, svc.get_ruleset(s, ruleset_id), actor=who(request).actor, now=ctx.now()
        )
    return back(f"/admin/rulesets/{ruleset_id}", "published")


@router.post("/admin/rulesets/{ruleset_id}/delete", name="admin_ruleset_delete")
def admin_ruleset_delete(request: Request, ruleset_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        row = svc.get_ruleset(s, ruleset_id)
        pid = row.programme_id
        svc.delete_draft_ruleset(s, row, actor=who(request).actor, now=ctx.now())
    return back(f"/admin/programmes/{pid}", "draft_deleted")


@router.post("/admin/programmes/{programme_id}/rounds", name="admin_round_create")
def admin_round_create(
    request: Request,
    programme_id: Id,
    number: int = Form(ge=1, le=1000),
    ruleset_id: int = Form(ge=1, le=2_147_483_647),
    opens_at: str = Form(max_length=40),
    closes_at: str = Form(max_length=40),
    advance_slots: int = Form(ge=0, le=1000),
    name: str = Form("", max_length=200),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        prog = views.programme(s, programme_id)
        row = svc.get_ruleset(s, ruleset_id)
        if row.programme_id != prog.id:
            raise NotFoundError(f"no rule set with id {ruleset_id} in this programme")
        rnd = svc.create_round(
            s,
            prog,
            number,
            opens_at=parse_when(opens_at, "opens_at"),
            closes_at=parse_when(closes_at, "closes_at"),
            advance_slots=advance_slots,
            ruleset=row,
            name=name.strip(),
            actor=who(request).actor,
            now=ctx.now(),
        )
        rid = rnd.id
    return back(f"/admin/rounds/{rid}", "round")


@router.get("/admin/rounds/{round_id}", name="admin_round", response_class=HTMLResponse)
def admin_round(request: Request, round_id: Id) -> Response:
    with ctx_of(request).store.session() as s:
        data = views_admin.round_admin(s, views_admin.get_round(s, round_id))
    return page(request, "admin_round.html", **data)


def _round_action(
    request: Request, round_id: Id, action: Callable[..., object], flash: str
) -> Response:
    """One service call on a round, in a write session, then back to the round's page."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        action(s, views_admin.get_round(s, round_id), actor=who(request).actor, now=ctx.now())
    return back(f"/admin/rounds/{round_id}", flash)


@router.post("/admin/rounds/{round_id}/open", name="admin_round_open")
def admin_round_open(request: Request, round_id: Id) -> Response:
    return _round_action(request, round_id, svc.open_round, "opened")


@router.post("/admin/rounds/{round_id}/close", name="admin_round_close")
def admin_round_close(request: Request, round_id: Id) -> Response:
    return _round_action(request, round_id, svc.close_round, "closed")


@router.post("/admin/rounds/{round_id}/roster", name="admin_roster_freeze")
def admin_roster_freeze(request: Request, round_id: Id) -> Response:
    """Freeze the arena roster: the round's models behind random aliases, for good.

    The aliases come from fresh operating-system randomness (panelists must not predict them);
    the ledger event records the roster with each endpoint's digest."""
    from sovereval.arena import service as arena

    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rng = np.random.default_rng(secrets.randbits(128))
        arena.freeze_roster(
            s, views_admin.get_round(s, round_id), rng=rng, actor=who(request).actor, now=ctx.now()
        )
    return back(f"/admin/rounds/{round_id}", "roster")


@router.post("/admin/rounds/{round_id}/panelists", name="admin_panelist_enrol")
def admin_panelist_enrol(
    request: Request,
    round_id: Id,
    code: str = Form(min_length=1, max_length=100),
    gender: str = Form(max_length=16),
    region: str = Form(max_length=16),
    age_band: str = Form(max_length=16),
    proficiency: str = Form(max_length=16),
) -> Response:
    """Enrol a panelist account in this round's panel with its self-reported stratum."""
    from sovereval.arena import service as arena

    ctx = ctx_of(request)
    with ctx.write_session() as s:
        u = s.execute(select(User).where(User.username == code)).scalar_one_or_none()
        if u is None or u.role != "panelist":
            raise NotFoundError(f"no panelist account named '{code}'; create it on the users page")
        arena.enrol_panelist(
            s,
            views_admin.get_round(s, round_id),
            code,
            gender=gender,
            region=region,
            age_band=age_band,
            proficiency=proficiency,
            actor=who(request).actor,
            now=ctx.now(),
            user_id=u.id,
        )
    return back(f"/admin/rounds/{round_id}", "enrolled")


@router.post("/admin/rounds/{round_id}/amend", name="admin_round_amend")
def admin_round_amend(
    request: Request,
    round_id: Id,
    content: str = Form(min_length=2, max_length=200_000),
    rationale: str = Form("", max_length=TEXT),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        svc.amend_rules(
            s,
            rnd,
            parse_rules(content),
            rationale=rationale.strip(),
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back(f"/admin/rounds/{round_id}", "amended")


@router.post(
    "/admin/submissions/{submission_id}/provenance-request", name="admin_provenance_request"
)
def admin_provenance_request(
    request: Request, submission_id: Id, reason: str = Form("", max_length=2000)
) -> Response:
    """Ask the provenance office for a run of this submission (recorded in the ledger)."""
    from sovereval.review import requests

    ctx = ctx_of(request)
    with ctx.write_session() as s:
        sub = svc.get_submission(s, submission_id)
        requests.request_run(s, sub, reason=reason, actor=who(request).actor, now=ctx.now())
        rid = sub.round_id
    return back(f"/admin/rounds/{rid}", "provenance_requested")


@router.post("/admin/submissions/{submission_id}/results", name="admin_result_record")
def admin_result_record(
    request: Request,
    submission_id: Id,
    part: str = Form(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
    subject: str = Form("model", pattern="^(model|target)$"),
    value: float = Form(ge=-1e12, le=1e12),
    lo: float = Form(ge=-1e12, le=1e12),
    hi: float = Form(ge=-1e12, le=1e12),
    source: str = Form("", max_length=2000),
) -> Response:
    """Record (or replace, before publication) one raw scoring input, with its interval."""
    from sovereval.competition.scoring import Measurement

    ctx = ctx_of(request)
    with ctx.write_session() as s:
        sub = svc.get_submission(s, submission_id)
        svc.record_result(
            s,
            sub,
            part,
            Measurement(value, lo, hi),
            subject=subject,
            source=source.strip(),
            actor=who(request).actor,
            now=ctx.now(),
        )
        rid = sub.round_id
    return back(f"/admin/rounds/{rid}", "result")


@router.post("/admin/rounds/{round_id}/scorecard", name="admin_scorecard_compute")
def admin_scorecard_compute(request: Request, round_id: Id) -> Response:
    return _round_action(request, round_id, rs.compute_scorecard, "computed")


@router.post("/admin/rounds/{round_id}/publish", name="admin_results_publish")
def admin_results_publish(request: Request, round_id: Id) -> Response:
    """Publish the latest scorecard; the confirmation says whether appeals can still be filed
    (the window runs from the first publication, so a reissue after it closed does not reopen it)."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        rs.publish_results(s, rnd, actor=who(request).actor, now=ctx.now())
        window = views.appeal_window(s, rnd, ctx.now())
    return back(f"/admin/rounds/{round_id}", "results" if window["open"] else "results_closed")


@router.post("/admin/appeals/{appeal_id}/decide", name="admin_appeal_decide")
def admin_appeal_decide(
    request: Request,
    appeal_id: Id,
    decision: str = Form(pattern="^(uphold|dismiss)$"),
    resolution: str = Form("", max_length=TEXT),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        a = s.get(m.Appeal, appeal_id)
        if a is None:
            raise NotFoundError(f"no appeal with id {appeal_id}")
        rs.decide_appeal(
            s,
            a,
            upheld=decision == "uphold",
            resolution=resolution,
            actor=who(request).actor,
            now=ctx.now(),
        )
        rid = a.round_id
    return back(f"/admin/rounds/{rid}", "decided")


@router.post("/admin/rounds/{round_id}/allocations", name="admin_allocate")
def admin_allocate(
    request: Request,
    round_id: Id,
    consortium_id: int = Form(ge=1, le=2_147_483_647),
    resource: str = Form(min_length=1, max_length=64),
    amount: float = Form(ge=0, le=1e12),
    unit: str = Form("", max_length=32),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        rnd = views_admin.get_round(s, round_id)
        c = s.get(m.Consortium, consortium_id)
        if c is None or c.programme_id != rnd.programme_id:
            raise NotFoundError(f"no consortium with id {consortium_id} in this programme")
        sup.allocate(
            s,
            rnd,
            c,
            resource.strip(),
            amount,
            unit.strip(),
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back(f"/admin/rounds/{round_id}", "allocated")


@router.post("/admin/programmes/{programme_id}/wildcard", name="admin_wildcard_open")
def admin_wildcard_open(
    request: Request,
    programme_id: Id,
    round_id: int = Form(ge=1, le=2_147_483_647),
    eligible: str = Form("eliminated,earlier_applicant,new", max_length=200),
    panel: str = Form(min_length=1, max_length=TEXT),
    opens_at: str = Form(max_length=40),
    closes_at: str = Form(max_length=40),
    slots: int = Form(1, ge=1, le=100),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        prog = views.programme(s, programme_id)
        rnd = views_admin.get_round(s, round_id)
        if rnd.programme_id != prog.id:
            raise NotFoundError(f"no round with id {round_id} in this programme")
        sup.open_wildcard_call(
            s,
            prog,
            rnd,
            eligible_kinds=[x.strip() for x in eligible.split(",") if x.strip()],
            panel=[x.strip() for x in panel.split(",") if x.strip()],
            opens_at=parse_when(opens_at, "opens_at"),
            closes_at=parse_when(closes_at, "closes_at"),
            slots=slots,
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back(f"/admin/programmes/{programme_id}", "wildcard")


@router.post("/admin/wildcard/{call_id}/decide", name="admin_wildcard_decide")
def admin_wildcard_decide(request: Request, call_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        call = s.get(m.WildcardCall, call_id)
        if call is None:
            raise NotFoundError(f"no wild-card call with id {call_id}")
        sup.decide_wildcard(s, call, actor=who(request).actor, now=ctx.now())
        pid = call.programme_id
    return back(f"/admin/programmes/{pid}", "wildcard_decided")


@router.get("/admin/users", name="admin_users", response_class=HTMLResponse)
def admin_users(request: Request, shown: str = Query("", max_length=64)) -> Response:
    """Users and their tokens. ``shown`` names a token issued a moment ago: it is shown once,
    to the administrator who issued it, then forgotten (post/redirect/get: a reload shows
    nothing new and resubmits nothing)."""
    ctx = ctx_of(request)
    new_token = None
    if shown:
        key = ("new-token", who(request).actor, shown)
        new_token = ctx.cache.get(key)
        ctx.cache.put(key, None)
    with ctx.store.session() as s:
        data = views_admin.users_admin(s, now=ctx.now())
    resp = page(request, "admin_users.html", **data, new_token=new_token)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@router.post("/admin/users", name="admin_user_create")
def admin_user_create(
    request: Request,
    username: str = Form(min_length=1, max_length=100),
    password: str = Form(min_length=1, max_length=1024),
    role: str = Form(max_length=16),
    consortium_id: int | None = Form(None, ge=1, le=2_147_483_647),
    expert_name: str = Form("", max_length=200),
) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        c = s.get(m.Consortium, consortium_id) if consortium_id is not None else None
        if consortium_id is not None and c is None:
            raise NotFoundError(f"no consortium with id {consortium_id}")
        users.create_user(
            s,
            username,
            password,
            role,
            consortium=c if role == "team" else None,
            expert_name=expert_name or None,
            actor=who(request).actor,
            now=ctx.now(),
        )
    return back("/admin/users", "user")


def _user(s: Session, user_id: int) -> User:
    u = s.get(User, user_id)
    if u is None:
        raise NotFoundError(f"no user with id {user_id}")
    return u


@router.post("/admin/users/{user_id}/tokens", name="admin_token_issue")
def admin_token_issue(
    request: Request,
    user_id: Id,
    name: str = Form(min_length=1, max_length=100),
    days: int = Form(90, ge=1, le=366),
) -> Response:
    """Issue an API token, then redirect to the users page, which shows it once."""
    ctx = ctx_of(request)
    now = ctx.now()
    with ctx.write_session() as s:
        u = _user(s, user_id)
        _row, plain = users.issue_token(
            s, u, name, ttl=timedelta(days=days), actor=who(request).actor, now=now
        )
        shown = {"user": u.username, "token": plain, "expires_at": now + timedelta(days=days)}
    nonce = secrets.token_urlsafe(16)
    ctx.cache.put(("new-token", who(request).actor, nonce), shown)
    return RedirectResponse(f"/admin/users?shown={nonce}", status_code=303)


@router.post("/admin/tokens/{token_id}/revoke", name="admin_token_revoke")
def admin_token_revoke(request: Request, token_id: Id) -> Response:
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        users.revoke_token(s, token_id, actor=who(request).actor, now=ctx.now())
    return back("/admin/users", "token_revoked")


@router.post("/admin/users/{user_id}/active", name="admin_user_active")
def admin_user_active(
    request: Request, user_id: Id, active: str = Form(pattern="^(yes|no)$")
) -> Response:
    """Deactivate (sessions end at once, tokens stop working) or reactivate a user."""
    ctx = ctx_of(request)
    p = who(request)
    with ctx.write_session() as s:
        u = _user(s, user_id)
        if p.user is not None and u.id == p.user.id and active == "no":
            raise InputError("you cannot deactivate your own account; ask another administrator")
        users.set_active(s, u, active == "yes", actor=p.actor, now=ctx.now())
    return back("/admin/users", "activated" if active == "yes" else "deactivated")


@router.post("/admin/users/{user_id}/password", name="admin_user_password")
def admin_user_password(
    request: Request, user_id: Id, password: str = Form(min_length=1, max_length=1024)
) -> Response:
    """Reset a user's password; their open sessions end."""
    ctx = ctx_of(request)
    with ctx.write_session() as s:
        users.set_password(s, _user(s, user_id), password, actor=who(request).actor, now=ctx.now())
    return back("/admin/users", "password_reset")
