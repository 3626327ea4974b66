"""Read models for the organisers' workspace (drafts and unpublished scorecards included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.errors import InputError, NotFoundError, SovereValError
from sovereval.review import requests as review_requests
from sovereval.store import models as m
from sovereval.store.web_models import User
from sovereval.web import users_service, views, views_team


def get_round(s: Session, round_id: int) -> m.Round:
    r = s.get(m.Round, round_id)
    if r is None:
        raise NotFoundError(f"no round with id {round_id}")
    return r


def programme_admin(s: Session, prog: m.Programme) -> dict[str, Any]:
    consortia = [
        {"id": c.id, "name": c.name, "lead": c.lead, "status": c.status}
        for c in s.execute(
            select(m.Consortium)
            .where(m.Consortium.programme_id == prog.id)
            .order_by(m.Consortium.id)
        ).scalars()
    ]
    rulesets = [
        {
            "id": r.id,
            "name": r.name,
            "version": r.version,
            "status": r.status,
            "hash": r.content_hash,
            "amendment": r.is_amendment,
        }
        for r in s.execute(
            select(m.RuleSetRow)
            .where(m.RuleSetRow.programme_id == prog.id)
            .order_by(m.RuleSetRow.name, m.RuleSetRow.version)
        ).scalars()
    ]
    rounds = [
        {
            "id": r.id,
            "number": r.number,
            "name": r.name,
            "status": r.status,
            "ruleset_id": r.ruleset_id,
        }
        for r in s.execute(
            select(m.Round).where(m.Round.programme_id == prog.id).order_by(m.Round.number)
        ).scalars()
    ]
    calls = [
        {
            "id": c.id,
            "round_id": c.round_id,
            "status": c.status,
            "eligible": c.eligible_kinds,
            "panel": c.panel,
            "slots": c.slots,
            "outcome": c.outcome,
            "closes_at": c.closes_at.isoformat(),
        }
        for c in s.execute(
            select(m.WildcardCall)
            .where(m.WildcardCall.programme_id == prog.id)
            .order_by(m.WildcardCall.id)
        ).scalars()
    ]
    return {
        "programme": {"id": prog.id, "name": prog.name, "description": prog.description},
        "consortia": consortia,
        "rulesets": rulesets,
        "rounds": rounds,
        "calls": calls,
        "default_rules": json.dumps(default_ruleset("phase-1").to_dict(), indent=2),
    }


def round_admin(s: Session, rnd: m.Round) -> dict[str, Any]:
    prog = s.get(m.Programme, rnd.programme_id)
    assert prog is not None
    subs = []
    for sub in s.execute(
        select(m.Submission).where(m.Submission.round_id == rnd.id).order_by(m.Submission.id)
    ).scalars():
        c = s.get(m.Consortium, sub.consortium_id)
        results = {
            f"{r.part}{'' if r.subject == 'model' else ' (target)'}": r.value
            for r in s.execute(select(m.Result).where(m.Result.submission_id == sub.id)).scalars()
        }
        subs.append(
            {
                "id": sub.id,
                "team": c.name if c else "?",
                "model": sub.model_name,
                "status": sub.status,
                "results": results,
                "evidence": views_team.evidence_of(s, sub),
            }
        )
    cards = [
        {
            "issue": c.issue,
            "published": c.published,
            "created_at": c.created_at.isoformat(),
            "teams": sorted(c.content["teams"], key=lambda t: t["rank"]),
        }
        for c in s.execute(
            select(m.Scorecard).where(m.Scorecard.round_id == rnd.id).order_by(m.Scorecard.issue)
        ).scalars()
    ]
    appeals = rs.appeal_rows(s, rnd, with_text=True)
    allocations = []
    for al in s.execute(
        select(m.Allocation).where(m.Allocation.round_id == rnd.id).order_by(m.Allocation.id)
    ).scalars():
        c = s.get(m.Consortium, al.consortium_id)
        allocations.append(
            {
                "team": c.name if c else "?",
                "resource": al.resource,
                "amount": al.amount,
                "unit": al.unit,
            }
        )
    try:
        eq = sup.check_resources(s, rnd)
        equality = {"equal": eq.equal, "issues": list(eq.issues)}
    except SovereValError as exc:
        equality = {"equal": False, "issues": [str(exc)]}
    current = svc.get_ruleset(s, rnd.ruleset_id)
    consortia = [
        {"id": c.id, "name": c.name}
        for c in s.execute(
            select(m.Consortium)
            .where(m.Consortium.programme_id == prog.id)
            .order_by(m.Consortium.name)
        ).scalars()
    ]
    return {
        "arena": arena_admin(s, rnd),
        "programme": {"id": prog.id, "name": prog.name},
        "round": {
            "id": rnd.id,
            "number": rnd.number,
            "name": rnd.name,
            "status": rnd.status,
            "opens_at": views.when(rnd.opens_at),
            "closes_at": views.when(rnd.closes_at),
            "advance_slots": rnd.advance_slots,
        },
        "versions": views.rule_versions(s, rnd, public=False),
        "parts": [p.key for p in svc.ruleset_of(current).parts] + ["expert", "user"],
        "decision_rule": decision_rule(svc.ruleset_of(current)),
        "provenance_requests": [
            {**q, "at": views.when(q["at"])} for q in review_requests.open_requests(s, rnd.id)
        ],
        "current_rules": json.dumps(current.content, indent=2, ensure_ascii=False),
        "current_status": current.status,
        "submissions": subs,
        "scorecards": cards,
        "appeals": appeals,
        "allocations": allocations,
        "equality": equality,
        "consortia": consortia,
    }


def decision_rule(rules: RuleSet) -> str:
    """The one rule that decides who advances, in words (the rule set's advancement)."""
    a = rules.advancement
    if a.eliminate_lowest is not None:
        how = f"the {a.eliminate_lowest} lowest-ranked eligible team(s) are eliminated"
    else:
        how = f"the top {a.advance_count} eligible team(s) advance"
    extra = f"; a total below {a.min_total:g} is eliminated" if a.min_total is not None else ""
    return (
        f"Decided by rule set {rules.name} v{rules.version} (advancement): {how}{extra}; "
        "disqualified teams never advance."
    )


def arena_admin(s: Session, rnd: m.Round) -> dict[str, Any]:
    """The round's user evaluation as the organisers see it: roster (aliases only), panel."""
    from sovereval.arena.panel import CATEGORIES
    from sovereval.store import evaluation_models as em

    roster = [
        a.alias
        for a in s.execute(
            select(em.ArenaModel)
            .where(em.ArenaModel.round_id == rnd.id)
            .order_by(em.ArenaModel.alias)
        ).scalars()
    ]
    enrolled = {
        p.code: p.status
        for p in s.execute(select(em.Panelist).where(em.Panelist.round_id == rnd.id)).scalars()
    }
    accounts = [
        u.username
        for u in s.execute(
            select(User)
            .where(User.role == "panelist", User.active.is_(True))
            .order_by(User.username)
        ).scalars()
        if u.username not in enrolled
    ]
    n_subs = s.execute(
        select(func.count(m.Submission.id)).where(m.Submission.round_id == rnd.id)
    ).scalar_one()
    return {
        "roster": roster,
        "frozen": bool(roster),
        "submissions": int(n_subs),
        "panel": len(enrolled),
        "unenrolled": accounts,
        "categories": CATEGORIES,
    }


def users_admin(s: Session, *, now: datetime) -> dict[str, Any]:
    rows = []
    for u in s.execute(select(User).order_by(User.id)).scalars():
        c = s.get(m.Consortium, u.consortium_id) if u.consortium_id else None
        tokens = []
        for t in users_service.tokens_of(s, u):
            exp = t.expires_at
            if exp is not None and exp.tzinfo is None:
                exp = exp.replace(tzinfo=UTC)
            state = (
                "revoked"
                if t.revoked_at is not None
                else "expired"
                if exp is not None and exp <= now
                else "active"
            )
            tokens.append(
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "expires_at": exp,
                    "state": state,
                }
            )
        rows.append(
            {
                "id": u.id,
                "username": u.username,
                "role": u.role,
                "consortium": c.name if c else "",
                "expert": u.expert_name or "",
                "active": u.active,
                "tokens": tokens,
            }
        )
    consortia = [
        {"id": c.id, "name": c.name, "programme_id": c.programme_id}
        for c in s.execute(select(m.Consortium).order_by(m.Consortium.name)).scalars()
    ]
    return {"users": rows, "consortia": consortia}


def rules_from_json(data: dict[str, Any]) -> RuleSet:
    """Parse client-supplied rules; any shape error is the client's (400), never a 500."""
    text = json.dumps(data, ensure_ascii=False)
    if "\\u0000" in text or "\x00" in text:
        raise InputError("rule set text may not contain NUL characters")
    try:
        text.encode("utf-8")
        return RuleSet.from_dict(data)
    except (AttributeError, TypeError, ValueError, KeyError, UnicodeEncodeError) as exc:
        raise InputError(f"invalid rule set: {exc}") from None
