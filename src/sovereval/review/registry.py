"""Expert review, before reviewing: the expert registry, conflicts of interest and the
conflict-free randomized assignment (recorded in full in the ledger: seed and fractional matrix,
so anyone can re-check the probability cap)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.errors import (
    ConflictError,
    InputError,
    PermissionDeniedError,
    RuleViolation,
)
from sovereval.ledger.record import record as record_change
from sovereval.ledger.record import record_all
from sovereval.review.assignment import AssignmentSpec, assign_reviewers
from sovereval.review.common import _digest, _rules, policy
from sovereval.review.conflicts import (
    Affiliation,
    Conflict,
    Consortium,
    DeclaredRelation,
    Expert,
    Organisation,
    ProgrammeTie,
    SelfDeclaredConflict,
    conflicted_pairs,
    find_conflicts,
)
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

# -- registry and conflicts --------------------------------------------------------


def register_expert(
    s: Session,
    prog: m.Programme,
    name: str,
    record: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
) -> em.Expert:
    """Add an expert with affiliations (organisation, email domains, start/end dates), declared
    relations and self-declared conflicts."""
    _expert_record(name, record)  # validate now, not at assignment time
    if s.execute(
        select(em.Expert).where(em.Expert.programme_id == prog.id, em.Expert.name == name)
    ).first():
        raise ConflictError(f"expert '{name}' is already registered")
    row = em.Expert(programme_id=prog.id, name=name, record=dict(record), created_at=now)
    record_change(
        s,
        row,
        actor=actor,
        kind="review.expert_registered",
        body={"expert": name, "record_sha256": _digest(record)},
        at=now,
    )
    return row


def _date(v: Any) -> date | None:
    if v in (None, ""):
        return None
    try:
        return date.fromisoformat(str(v))
    except ValueError as exc:
        raise InputError(f"'{v}' is not a date (YYYY-MM-DD)") from exc


def _expert_record(name: str, r: Mapping[str, Any]) -> Expert:
    try:
        affs = tuple(
            Affiliation(
                str(a["organisation"]),
                tuple(a.get("email_domains", ())),
                _date(a.get("start")),
                _date(a.get("end")),
            )
            for a in r.get("affiliations", ())
        )
        rels = tuple(
            DeclaredRelation(
                str(x["target"]), str(x.get("kind", "relation")), str(x.get("note", ""))
            )
            for x in r.get("relations", ())
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"expert '{name}': malformed record ({exc})") from exc
    return Expert(name, name, str(r.get("email", "")), affs, rels)


def round_conflicts(s: Session, rnd: m.Round, *, review_date: date) -> tuple[Conflict, ...]:
    """Detected and self-declared conflicts between the programme's experts and the round's teams."""
    pol = policy(_rules(s, rnd))
    experts = (
        s.execute(select(em.Expert).where(em.Expert.programme_id == rnd.programme_id))
        .scalars()
        .all()
    )
    subs = s.execute(select(m.Submission).where(m.Submission.round_id == rnd.id)).scalars().all()
    teams = {}
    for sub in subs:
        c = s.get(m.Consortium, sub.consortium_id)
        assert c is not None
        teams[c.name] = Consortium(c.name, c.name, tuple(Organisation(x) for x in c.members))
    declared = [
        SelfDeclaredConflict(e.name, str(d["consortium"]), str(d.get("reason", "declared")))
        for e in experts
        for d in e.record.get("declared_conflicts", ())
        if d.get("consortium") in teams
    ]
    ties = [
        ProgrammeTie(
            Organisation(str(t["company"])),
            tuple(t.get("consortia", ())),
            str(t.get("kind", "tie")),
        )
        for t in pol["programme_ties"]
    ]
    return find_conflicts(
        [_expert_record(e.name, e.record) for e in experts],
        teams.values(),
        review_date=review_date,
        window_years=int(pol["conflict_window_years"]),
        ties=ties,
        declared=declared,
    )


# -- assignment --------------------------------------------------------------------


def assign_round(
    s: Session, rnd: m.Round, *, seed: int, actor: str, now: datetime
) -> list[em.ReviewAssignment]:
    """Randomized, conflict-free assignment with a per-pair probability cap (Jecmen et al. 2020),
    recorded with its seed and fractional matrix so anyone can re-check it."""
    if s.execute(select(em.ReviewAssignment).where(em.ReviewAssignment.round_id == rnd.id)).first():
        raise RuleViolation(f"round {rnd.number} is already assigned")
    pol = policy(_rules(s, rnd))
    experts = [
        e.name
        for e in s.execute(
            select(em.Expert)
            .where(em.Expert.programme_id == rnd.programme_id)
            .order_by(em.Expert.name)
        ).scalars()
    ]
    subs = (
        s.execute(
            select(m.Submission).where(m.Submission.round_id == rnd.id).order_by(m.Submission.id)
        )
        .scalars()
        .all()
    )
    if not experts or not subs:
        raise RuleViolation("assignment needs registered experts and submissions")
    sub_team = {}
    for sub in subs:
        c = s.get(m.Consortium, sub.consortium_id)
        assert c is not None
        sub_team[str(sub.id)] = c.name
    conflicts = round_conflicts(s, rnd, review_date=now.date())
    bad = conflicted_pairs(conflicts, sub_team)
    spec = AssignmentSpec(
        int(pol["reviewers_per_submission"]),
        int(pol["min_load"]),
        int(pol["max_load"]),
        float(pol["max_probability"]),
    )
    result = assign_reviewers(experts, list(sub_team), spec, seed=seed, conflicts=bad)
    ei = {e: i for i, e in enumerate(result.experts)}
    si = {x: j for j, x in enumerate(result.submissions)}
    rows = []
    for expert, sub_id in result.pairs:
        row = em.ReviewAssignment(
            round_id=rnd.id,
            submission_id=int(sub_id),
            expert=expert,
            probability=float(result.fractional[ei[expert]][si[sub_id]]),
            seed=seed,
            created_at=now,
        )
        rows.append(row)
    record_all(
        s,
        rows,
        actor=actor,
        kind="review.assigned",
        body={
            "round": rnd.number,
            **result.to_dict(),
            "conflicts": [
                {
                    "expert": c.expert_id,
                    "consortium": c.consortium_id,
                    "reasons": [r.kind for r in c.reasons],
                }
                for c in conflicts
            ],
        },
        at=now,
    )
    return rows


def assignment_for(s: Session, expert: str, submission_id: int) -> em.ReviewAssignment:
    row = s.execute(
        select(em.ReviewAssignment).where(
            em.ReviewAssignment.expert == expert, em.ReviewAssignment.submission_id == submission_id
        )
    ).scalar_one_or_none()
    if row is None:
        # Same answer whether the submission exists or not: an expert learns nothing unassigned.
        raise PermissionDeniedError(f"submission {submission_id} is not assigned to {expert}")
    return row
