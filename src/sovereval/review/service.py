"""Expert review on the store: registry, conflict-free randomized assignment, evidence packets,
review forms with history, aggregation and agreement.

Policy comes from the round's RuleSet (``review_rubric`` and ``review``; see ``policy``). The
ledger records assignments in full (seed and fractional matrix, so anyone can re-check the cap)
but review *content* only as a SHA-256 commitment until results are published, so nothing
confidential leaks through the public ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet
from sovereval.competition.scoring import Measurement
from sovereval.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolation,
)
from sovereval.ledger.log import append
from sovereval.review import blinding, history
from sovereval.review.aggregate import aggregate_round, outlier_reviewers
from sovereval.review.agreement import AgreementResult, assess_agreement
from sovereval.review.assignment import AssignmentSpec, assign_reviewers
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
from sovereval.review.rubric import CriterionScore, Rubric
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

DEFAULT_POLICY: dict[str, Any] = {
    "reviewers_per_submission": 3,
    "min_load": 0,
    "max_load": 5,
    "max_probability": 0.75,
    "conflict_window_years": 3,
    "programme_ties": [],
    "trim": 0.1,
    "outlier_z": 3.5,
    "level": "interval",
    "max_additional": 2,
    "deadline_days": 14,
    "max_evidence_bytes": 5_000_000,
}


def policy(rules: RuleSet) -> dict[str, Any]:
    """The review policy in force: the RuleSet's ``review`` section over the defaults."""
    return {**DEFAULT_POLICY, **dict(rules.review)}


def rubric_of(rules: RuleSet) -> Rubric:
    return Rubric.from_dict(dict(rules.review_rubric))


def _rules(s: Session, rnd: m.Round) -> RuleSet:
    return svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


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
    s.add(row)
    s.flush()
    append(
        s,
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
        s.add(row)
        rows.append(row)
    s.flush()
    append(
        s,
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


# -- evidence packets ----------------------------------------------------------------


EVIDENCE_KINDS = ("technical_report", "training_log", "checkpoint_list", "other")


def upload_evidence(
    s: Session,
    sub: m.Submission,
    kind: str,
    filename: str,
    data: bytes,
    *,
    actor: str,
    now: datetime,
    max_bytes: int = DEFAULT_POLICY["max_evidence_bytes"],
) -> em.EvidenceFile:
    """Attach a technical report or training log (UTF-8 text) to a submission."""
    if kind not in EVIDENCE_KINDS:
        raise InputError(f"evidence kind must be one of {', '.join(EVIDENCE_KINDS)}")
    if len(data) > max_bytes:
        raise InputError(f"{filename}: {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{filename}: evidence must be UTF-8 text (reports as Markdown/text, logs as text/JSONL)"
        ) from exc
    row = em.EvidenceFile(
        submission_id=sub.id,
        kind=kind,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content=text,
        uploaded_by=actor,
        uploaded_at=now,
    )
    s.add(row)
    s.flush()
    append(
        s,
        actor=actor,
        kind="review.evidence_uploaded",
        body={"submission": sub.id, "kind": kind, "filename": filename, "sha256": row.sha256},
        at=now,
    )
    return row


def evidence_keys(s: Session, submission_id: int) -> list[str]:
    """Identifiers a justification may cite: provenance runs and uploaded evidence."""
    runs = s.execute(
        select(m.ProvenanceRun.id).where(m.ProvenanceRun.submission_id == submission_id)
    ).scalars()
    files = s.execute(
        select(em.EvidenceFile.id).where(em.EvidenceFile.submission_id == submission_id)
    ).scalars()
    return [f"provenance-{r}" for r in runs] + [f"evidence-{f}" for f in files]


def evidence_packet(s: Session, expert: str, submission_id: int) -> dict[str, Any]:
    """What an assigned expert sees. Team identity is hidden when the rubric is blind."""
    a = assignment_for(s, expert, submission_id)
    sub = svc.get_submission(s, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    rubric = rubric_of(_rules(s, rnd))
    team = s.get(m.Consortium, sub.consortium_id)
    results = s.execute(select(m.Result).where(m.Result.submission_id == sub.id)).scalars().all()
    runs = (
        s.execute(select(m.ProvenanceRun).where(m.ProvenanceRun.submission_id == sub.id))
        .scalars()
        .all()
    )
    files = (
        s.execute(select(em.EvidenceFile).where(em.EvidenceFile.submission_id == sub.id))
        .scalars()
        .all()
    )
    names = blinding.identifying_names(
        team.name if team else None, sub.model_name, team.members if team else ()
    )
    return {
        "submission": sub.id,
        "team": None if rubric.blind else (team.name if team else None),
        "model": None if rubric.blind else sub.model_name,
        "components": sub.components,
        "rubric": rubric.to_dict(),
        "benchmarks": [
            {"part": r.part, "subject": r.subject, "value": r.value, "lo": r.lo, "hi": r.hi}
            for r in results
            if r.part in ("government", "common", "team")
        ],
        "provenance": [
            {
                "key": f"provenance-{r.id}",
                "reference": r.reference,
                "verdict": r.verdict,
                "gate_failed": r.gate_failed,
                "reason": r.reason,
                "report": r.report,
            }
            for r in runs
        ],
        "files": [
            {
                "key": f"evidence-{f.id}",
                "kind": f.kind,
                "filename": blinding.redact(f.filename, names) if rubric.blind else f.filename,
                "sha256": f.sha256,
                # blind: the experts read a copy with the team's and model's names redacted
                "content": blinding.redact(f.content, names) if rubric.blind else f.content,
            }
            for f in files
        ],
        "evidence_keys": evidence_keys(s, sub.id),
    }


# -- forms ---------------------------------------------------------------------------


def _deadline(s: Session, rnd: m.Round) -> datetime:
    return rnd.closes_at + timedelta(days=int(policy(_rules(s, rnd))["deadline_days"]))


def _form(s: Session, a: em.ReviewAssignment) -> tuple[em.Review | None, history.ReviewForm]:
    row = s.execute(select(em.Review).where(em.Review.assignment_id == a.id)).scalar_one_or_none()
    if row is None:
        return None, history.open_form(a.expert, str(a.submission_id))
    return row, history.ReviewForm.from_dict(row.scores)


def _store(
    s: Session,
    a: em.ReviewAssignment,
    row: em.Review | None,
    form: history.ReviewForm,
    before: history.ReviewForm,
    now: datetime,
) -> em.Review:
    if row is None:
        row = em.Review(
            assignment_id=a.id, status=form.status, scores=form.to_dict(), updated_at=now
        )
        s.add(row)
        s.flush()
    row.status, row.scores, row.updated_at, row.submitted_at = (
        form.status,
        form.to_dict(),
        now,
        form.submitted_at,
    )
    for e in form.history[len(before.history) :]:
        s.add(
            em.ReviewEdit(
                review_id=row.id,
                actor=e.editor,
                at=e.at,
                reason=e.reason,
                before=e.before.to_dict() if e.before else {},
                after=e.after.to_dict(),
            )
        )
    return row


def save_draft(
    s: Session, expert: str, submission_id: int, scores: Sequence[CriterionScore], *, now: datetime
) -> em.Review:
    a = assignment_for(s, expert, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    row, form = _form(s, a)
    new = history.save_draft(
        form, scores, rubric_of(_rules(s, rnd)), editor=expert, now=now, deadline=_deadline(s, rnd)
    )
    out = _store(s, a, row, new, form, now)
    append(
        s,
        actor=expert,
        kind="review.draft_saved",
        body={"assignment": a.id, "content_sha256": _digest(new.to_dict())},
        at=now,
    )
    return out


def submit_review(s: Session, expert: str, submission_id: int, *, now: datetime) -> em.Review:
    a = assignment_for(s, expert, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    row, form = _form(s, a)
    new = history.submit(
        form,
        rubric_of(_rules(s, rnd)),
        editor=expert,
        now=now,
        deadline=_deadline(s, rnd),
        evidence_keys=evidence_keys(s, submission_id),
    )
    out = _store(s, a, row, new, form, now)
    append(
        s,
        actor=expert,
        kind="review.submitted",
        body={"assignment": a.id, "content_sha256": _digest(new.to_dict())},
        at=now,
    )
    return out


def edit_review_score(
    s: Session,
    expert: str,
    submission_id: int,
    score: CriterionScore,
    *,
    editor: str,
    reason: str,
    now: datetime,
) -> em.Review:
    """Change one submitted score; who, when, why, before and after are kept."""
    a = assignment_for(s, expert, submission_id)
    rnd = s.get(m.Round, a.round_id)
    assert rnd is not None
    row, form = _form(s, a)
    new = history.edit_score(
        form,
        score,
        rubric_of(_rules(s, rnd)),
        editor=editor,
        now=now,
        deadline=_deadline(s, rnd),
        reason=reason,
        evidence_keys=evidence_keys(s, submission_id),
    )
    out = _store(s, a, row, new, form, now)
    append(
        s,
        actor=editor,
        kind="review.score_edited",
        body={
            "assignment": a.id,
            "criterion": score.criterion,
            "reason": reason,
            "content_sha256": _digest(new.to_dict()),
        },
        at=now,
    )
    return out


# -- aggregation ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoundReview:
    totals: Mapping[int, tuple[float, float, float]]
    """Submission id -> weighted total (trimmed mean, bootstrap 95% interval) on 1-10."""
    agreement: AgreementResult
    outliers: tuple[str, ...]
    status: Mapping[str, int]


def review_status(s: Session, rnd: m.Round) -> dict[str, int]:
    rows = (
        s.execute(select(em.ReviewAssignment.id).where(em.ReviewAssignment.round_id == rnd.id))
        .scalars()
        .all()
    )
    reviews = (
        s.execute(select(em.Review.status).where(em.Review.assignment_id.in_(rows))).scalars().all()
        if rows
        else []
    )
    return {
        "assigned": len(rows),
        "submitted": sum(1 for r in reviews if r == "submitted"),
        "draft": sum(1 for r in reviews if r == "draft"),
        "not_started": len(rows) - len(reviews),
    }


def aggregate(
    s: Session, rnd: m.Round, *, rng: np.random.Generator, record: bool, actor: str, now: datetime
) -> RoundReview:
    """Trimmed means with bootstrap intervals, Krippendorff's alpha against the RuleSet's floor
    (flagging the round and naming submissions for additional review), outlier reviewers."""
    rules = _rules(s, rnd)
    pol, rubric = policy(rules), rubric_of(rules)
    ids = (
        s.execute(select(em.ReviewAssignment).where(em.ReviewAssignment.round_id == rnd.id))
        .scalars()
        .all()
    )
    submitted = []
    for a in ids:
        row, form = _form(s, a)
        if row is not None and form.status == "submitted":
            submitted.append(form.as_submitted())
    if not submitted:
        raise NotFoundError(f"round {rnd.number} has no submitted reviews")
    aggs = aggregate_round(submitted, rubric, trim=float(pol["trim"]), rng=rng)
    agreement = assess_agreement(
        submitted,
        rubric,
        level=pol["level"],
        floor=rules.min_expert_agreement,
        max_additional=int(pol["max_additional"]),
    )
    outliers = tuple(
        o.expert_id
        for o in outlier_reviewers(submitted, rubric, z_threshold=float(pol["outlier_z"]))
    )
    totals = {int(x.submission_id): (x.total.estimate, x.total.low, x.total.high) for x in aggs}
    if record:
        for sid, (v, lo, hi) in totals.items():
            svc.record_result(
                s,
                svc.get_submission(s, sid),
                "expert",
                Measurement(v, lo, hi),
                source=f"expert review: trimmed mean of {sum(1 for r in submitted if r.submission_id == str(sid))} reviews",
                actor=actor,
                now=now,
            )
    append(
        s,
        actor=actor,
        kind="review.aggregated",
        body={
            "round": rnd.number,
            "alpha": agreement.alpha,
            "floor": agreement.floor,
            "flagged": agreement.flagged,
            "additional_review": list(agreement.decision.submissions) if agreement.decision else [],
            "outlier_reviewers": list(outliers),
        },
        at=now,
    )
    return RoundReview(totals, agreement, outliers, review_status(s, rnd))
