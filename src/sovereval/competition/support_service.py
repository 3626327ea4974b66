"""Wild-card calls and resource allocations (service layer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import resources, wildcard
from sovereval.competition.lifecycle import CONSORTIUM, WILDCARD_CALL
from sovereval.competition.service import _event
from sovereval.errors import (
    ConflictError,
    DeadlinePassedError,
    InputError,
    NotFoundError,
    RuleViolation,
)
from sovereval.store import models as m

ACTIVE = ("selected", "wildcard")


def open_wildcard_call(
    s: Session,
    programme: m.Programme,
    next_round: m.Round,
    *,
    eligible_kinds: Sequence[str],
    panel: Sequence[str],
    opens_at: datetime,
    closes_at: datetime,
    slots: int = 1,
    actor: str,
    now: datetime,
) -> m.WildcardCall:
    for k in eligible_kinds:
        if k not in wildcard.ELIGIBLE_KINDS:
            raise InputError(
                f"unknown eligibility '{k}'; expected {', '.join(wildcard.ELIGIBLE_KINDS)}"
            )
    if closes_at <= opens_at:
        raise InputError("a wild-card call must close after it opens")
    if len(set(panel)) < 3:
        raise InputError("a wild-card panel needs at least three experts")
    call = m.WildcardCall(
        programme_id=programme.id,
        round_id=next_round.id,
        eligible_kinds=list(eligible_kinds),
        panel=sorted(set(panel)),
        slots=slots,
        status="open",
        opens_at=opens_at,
        closes_at=closes_at,
    )
    s.add(call)
    s.flush()
    _event(
        s,
        actor,
        "wildcard.opened",
        {
            "call": call.id,
            "round": next_round.number,
            "eligible": list(eligible_kinds),
            "panel": call.panel,
            "slots": slots,
        },
        now,
    )
    return call


def _applicant_kind(c: m.Consortium) -> str:
    return {
        "eliminated": "eliminated",
        "disqualified": "eliminated",
        "applicant": "earlier_applicant",
    }.get(c.status, "new")


def apply_wildcard(
    s: Session,
    call: m.WildcardCall,
    consortium: m.Consortium,
    *,
    actor: str,
    now: datetime,
    kind: str | None = None,
) -> m.WildcardApplication:
    """Apply to a call. ``kind`` distinguishes a new consortium from an earlier applicant
    (both are recorded with status ``applicant``); eliminated teams are recognised by status."""
    WILDCARD_CALL.move(f"wild-card call {call.id}", call.status, "apply")
    if not (call.opens_at <= now < call.closes_at):
        raise DeadlinePassedError(
            f"wild-card call {call.id} accepts applications from {call.opens_at.isoformat()} "
            f"until {call.closes_at.isoformat()}"
        )
    if consortium.status in ACTIVE and consortium.status != "applicant":
        raise RuleViolation(f"'{consortium.name}' is still in the competition and cannot apply")
    found = _applicant_kind(consortium)
    if kind is None or found == "eliminated":
        kind = found
    elif kind not in ("new", "earlier_applicant"):
        raise InputError(f"applicant kind must be 'new' or 'earlier_applicant', not '{kind}'")
    if consortium.status == "disqualified":
        raise RuleViolation(f"'{consortium.name}' was disqualified and is not eligible")
    CONSORTIUM.move(f"consortium '{consortium.name}'", consortium.status, "apply")
    wildcard.check_eligible(kind, call.eligible_kinds)
    if s.execute(
        select(m.WildcardApplication).where(
            m.WildcardApplication.call_id == call.id,
            m.WildcardApplication.consortium_id == consortium.id,
        )
    ).first():
        raise ConflictError(f"'{consortium.name}' already applied to call {call.id}")
    app = m.WildcardApplication(
        call_id=call.id, consortium_id=consortium.id, kind=kind, filed_at=now
    )
    s.add(app)
    s.flush()
    _event(
        s,
        actor,
        "wildcard.applied",
        {"call": call.id, "consortium": consortium.name, "kind": kind},
        now,
    )
    return app


def vote_wildcard(
    s: Session, app: m.WildcardApplication, expert: str, approve: bool, *, now: datetime
) -> m.WildcardVote:
    call = s.get(m.WildcardCall, app.call_id)
    assert call is not None
    WILDCARD_CALL.move(f"wild-card call {call.id}", call.status, "vote")
    if not (call.opens_at <= now < call.closes_at):
        raise DeadlinePassedError(
            f"wild-card call {call.id} takes votes from {call.opens_at.isoformat()} until "
            f"{call.closes_at.isoformat()}; it is now {now.isoformat()}"
        )
    if expert not in call.panel:
        raise RuleViolation(f"'{expert}' is not on the panel of call {call.id}")
    if s.execute(
        select(m.WildcardVote).where(
            m.WildcardVote.application_id == app.id, m.WildcardVote.expert == expert
        )
    ).first():
        raise ConflictError(f"'{expert}' already voted on application {app.id}")
    v = m.WildcardVote(application_id=app.id, expert=expert, approve=approve, at=now)
    s.add(v)
    s.flush()
    _event(
        s,
        expert,
        "wildcard.voted",
        {"call": call.id, "application": app.id, "approve": approve},
        now,
    )
    return v


def decide_wildcard(
    s: Session, call: m.WildcardCall, *, actor: str, now: datetime
) -> wildcard.WildcardOutcome:
    """Close the call; admitted teams enter the next round with the same resources as the others."""
    call.status = WILDCARD_CALL.move(f"wild-card call {call.id}", call.status, "decide")
    apps = (
        s.execute(select(m.WildcardApplication).where(m.WildcardApplication.call_id == call.id))
        .scalars()
        .all()
    )
    names = {a.id: s.get(m.Consortium, a.consortium_id).name for a in apps}  # type: ignore[union-attr]
    votes = {}
    for a in apps:
        for v in s.execute(
            select(m.WildcardVote).where(m.WildcardVote.application_id == a.id)
        ).scalars():
            votes[(v.expert, names[a.id])] = v.approve
    outcome = wildcard.decide([names[a.id] for a in apps], votes, call.panel, call.slots)
    call.outcome = {
        "selected": list(outcome.selected),
        "approvals": dict(outcome.approvals),
        "majority": outcome.majority,
        "reason": outcome.reason,
    }
    rnd = s.get(m.Round, call.round_id)
    assert rnd is not None
    standard = _standard_allocation(s, rnd)
    for a in apps:
        c = s.get(m.Consortium, a.consortium_id)
        assert c is not None
        if names[a.id] in outcome.selected:
            a.status = "selected"
            c.status = CONSORTIUM.move(f"consortium '{c.name}'", c.status, "admit")
            for res, (amount, unit) in standard.items():
                allocate(s, rnd, c, res, amount, unit, actor=actor, now=now)
        else:
            a.status = "not_selected"
    _event(s, actor, "wildcard.decided", {"call": call.id, **call.outcome}, now)
    return outcome


def _standard_allocation(s: Session, rnd: m.Round) -> dict[str, tuple[float, str]]:
    rows = s.execute(select(m.Allocation).where(m.Allocation.round_id == rnd.id)).scalars().all()
    out: dict[str, tuple[float, str]] = {}
    for r in rows:
        if r.resource not in out or r.amount > out[r.resource][0]:
            out[r.resource] = (r.amount, r.unit)
    return out


def allocate(
    s: Session,
    rnd: m.Round,
    consortium: m.Consortium,
    resource: str,
    amount: float,
    unit: str = "",
    *,
    actor: str,
    now: datetime,
) -> m.Allocation:
    if amount < 0:
        raise InputError("an allocation cannot be negative")
    row = s.execute(
        select(m.Allocation).where(
            m.Allocation.round_id == rnd.id,
            m.Allocation.consortium_id == consortium.id,
            m.Allocation.resource == resource,
        )
    ).scalar_one_or_none()
    if row is None:
        row = m.Allocation(
            round_id=rnd.id,
            consortium_id=consortium.id,
            resource=resource,
            amount=amount,
            unit=unit,
        )
        s.add(row)
    else:
        row.amount, row.unit = amount, unit
    s.flush()
    _event(
        s,
        actor,
        "resources.allocated",
        {
            "round": rnd.number,
            "consortium": consortium.name,
            "resource": resource,
            "amount": amount,
            "unit": unit,
        },
        now,
    )
    return row


def check_resources(s: Session, rnd: m.Round) -> resources.EqualityReport:
    """Equal support for every team active in the round (selected or admitted by wild card)."""
    teams = (
        s.execute(
            select(m.Consortium).where(
                m.Consortium.programme_id == rnd.programme_id, m.Consortium.status.in_(ACTIVE)
            )
        )
        .scalars()
        .all()
    )
    if not teams:
        raise NotFoundError(f"no active teams for round {rnd.number}")
    rows = s.execute(select(m.Allocation).where(m.Allocation.round_id == rnd.id)).scalars().all()
    names = {t.id: t.name for t in teams}
    allocs = [
        resources.Allocation(names[r.consortium_id], r.resource, r.amount, r.unit)
        for r in rows
        if r.consortium_id in names
    ]
    return resources.check_equal_support([t.name for t in teams], allocs)
