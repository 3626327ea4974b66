"""Service functions: every state change writes its rows and its ledger event in one transaction.

Callers pass an open session (``Store.session()``), the actor and the time. Routes and CLI
commands are thin wrappers around these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sovereval.competition.artefacts import digest_artefact
from sovereval.competition.rules import RuleSet, diff_rules
from sovereval.competition.scoring import Measurement
from sovereval.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    RuleViolation,
)
from sovereval.ledger.log import append
from sovereval.store import models as m

COMPONENT_KINDS = ("text", "vision", "audio", "projector", "other")


def _event(s: Session, actor: str, kind: str, body: Mapping[str, Any], now: datetime) -> None:
    append(s, actor=actor, kind=kind, body=body, at=now)


# -- look-ups -----------------------------------------------------------------


def get_programme(s: Session, name: str) -> m.Programme:
    p = s.execute(select(m.Programme).where(m.Programme.name == name)).scalar_one_or_none()
    if p is None:
        raise NotFoundError(
            f"no programme named '{name}'; create it with: sovereval programme create"
        )
    return p


def get_consortium(s: Session, programme: m.Programme, name: str) -> m.Consortium:
    c = s.execute(
        select(m.Consortium).where(
            m.Consortium.programme_id == programme.id, m.Consortium.name == name
        )
    ).scalar_one_or_none()
    if c is None:
        raise NotFoundError(f"no consortium named '{name}' in programme '{programme.name}'")
    return c


def get_round(s: Session, programme: m.Programme, number: int) -> m.Round:
    r = s.execute(
        select(m.Round).where(m.Round.programme_id == programme.id, m.Round.number == number)
    ).scalar_one_or_none()
    if r is None:
        raise NotFoundError(f"no round {number} in programme '{programme.name}'")
    return r


def get_submission(s: Session, submission_id: int) -> m.Submission:
    sub = s.get(m.Submission, submission_id)
    if sub is None:
        raise NotFoundError(f"no submission with id {submission_id}")
    return sub


def get_ruleset(s: Session, ruleset_id: int | None) -> m.RuleSetRow:
    row = s.get(m.RuleSetRow, ruleset_id) if ruleset_id is not None else None
    if row is None:
        raise NotFoundError(f"no rule set with id {ruleset_id}")
    return row


def submission_of(s: Session, rnd: m.Round, consortium: m.Consortium) -> m.Submission:
    """The consortium's (first) submission in a round."""
    sub = s.execute(
        select(m.Submission)
        .where(m.Submission.round_id == rnd.id, m.Submission.consortium_id == consortium.id)
        .order_by(m.Submission.id)
        .limit(1)
    ).scalar_one_or_none()
    if sub is None:
        raise NotFoundError(f"'{consortium.name}' has no submission in round {rnd.number}")
    return sub


def ruleset_of(row: m.RuleSetRow) -> RuleSet:
    return RuleSet.from_dict(row.content)


# -- programme, consortia -----------------------------------------------------


def create_programme(
    s: Session, name: str, description: str, *, actor: str, now: datetime
) -> m.Programme:
    if s.execute(select(m.Programme).where(m.Programme.name == name)).scalar_one_or_none():
        raise ConflictError(f"programme '{name}' already exists")
    p = m.Programme(name=name, description=description, created_at=now)
    s.add(p)
    s.flush()
    _event(s, actor, "programme.created", {"programme": name, "description": description}, now)
    return p


def add_consortium(
    s: Session,
    programme: m.Programme,
    name: str,
    lead: str,
    members: Sequence[str],
    *,
    status: str = "selected",
    actor: str,
    now: datetime,
) -> m.Consortium:
    if status not in ("applicant", "selected", "wildcard"):
        raise InputError(
            f"a new consortium's status must be applicant, selected or wildcard, not '{status}'"
        )
    if s.execute(
        select(m.Consortium).where(
            m.Consortium.programme_id == programme.id, m.Consortium.name == name
        )
    ).scalar_one_or_none():
        raise ConflictError(f"consortium '{name}' already exists in '{programme.name}'")
    allm = [lead, *[x for x in members if x != lead]]
    c = m.Consortium(
        programme_id=programme.id, name=name, lead=lead, members=allm, status=status, created_at=now
    )
    s.add(c)
    s.flush()
    _event(
        s,
        actor,
        "consortium.added",
        {
            "programme": programme.name,
            "consortium": name,
            "lead": lead,
            "members": allm,
            "status": status,
        },
        now,
    )
    return c


# -- rule sets and rounds -----------------------------------------------------


def create_ruleset(
    s: Session, programme: m.Programme, rules: RuleSet, *, actor: str, now: datetime
) -> m.RuleSetRow:
    latest = s.execute(
        select(func.max(m.RuleSetRow.version)).where(
            m.RuleSetRow.programme_id == programme.id, m.RuleSetRow.name == rules.name
        )
    ).scalar()
    if latest is not None and latest >= rules.version:
        rules = RuleSet.from_dict({**rules.to_dict(), "version": latest + 1})
    row = m.RuleSetRow(
        programme_id=programme.id,
        name=rules.name,
        version=rules.version,
        status="draft",
        content=rules.to_dict(),
        content_hash=rules.content_hash(),
        created_at=now,
    )
    s.add(row)
    s.flush()
    _event(
        s,
        actor,
        "rules.drafted",
        {"ruleset": rules.name, "version": rules.version, "hash": row.content_hash},
        now,
    )
    return row


def delete_draft_ruleset(s: Session, row: m.RuleSetRow, *, actor: str, now: datetime) -> None:
    """Delete a draft rule set (nothing refers to a draft; published versions stay forever)."""
    if row.status != "draft":
        raise RuleViolation(
            f"rule set {row.name} v{row.version} is {row.status}; only a draft can be deleted"
        )
    if s.execute(select(m.Round.id).where(m.Round.ruleset_id == row.id)).first():
        raise RuleViolation(f"rule set {row.name} v{row.version} is used by a round")
    body = {"ruleset": row.name, "version": row.version, "hash": row.content_hash}
    s.delete(row)
    s.flush()
    _event(s, actor, "rules.draft_deleted", body, now)


def publish_ruleset(s: Session, row: m.RuleSetRow, *, actor: str, now: datetime) -> m.RuleSetRow:
    if row.status != "draft":
        raise RuleViolation(
            f"rule set {row.name} v{row.version} is {row.status}; only a draft can be published"
        )
    row.status, row.published_at = "published", now
    _event(
        s,
        actor,
        "rules.published",
        {"ruleset": row.name, "version": row.version, "hash": row.content_hash},
        now,
    )
    return row


def create_round(
    s: Session,
    programme: m.Programme,
    number: int,
    *,
    opens_at: datetime,
    closes_at: datetime,
    advance_slots: int,
    ruleset: m.RuleSetRow,
    name: str = "",
    actor: str,
    now: datetime,
) -> m.Round:
    if closes_at <= opens_at:
        raise InputError("a round must close after it opens")
    if s.execute(
        select(m.Round).where(m.Round.programme_id == programme.id, m.Round.number == number)
    ).scalar_one_or_none():
        raise ConflictError(f"round {number} already exists")
    r = m.Round(
        programme_id=programme.id,
        number=number,
        name=name or f"Round {number}",
        opens_at=opens_at,
        closes_at=closes_at,
        advance_slots=advance_slots,
        status="planned",
        ruleset_id=ruleset.id,
    )
    s.add(r)
    s.flush()
    _event(
        s,
        actor,
        "round.created",
        {
            "round": number,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "advance_slots": advance_slots,
            "ruleset_hash": ruleset.content_hash,
        },
        now,
    )
    return r


def open_round(s: Session, rnd: m.Round, *, actor: str, now: datetime) -> m.Round:
    """Open a round: its rule set must be published, and is frozen from now on."""
    if rnd.status != "planned":
        raise RuleViolation(
            f"round {rnd.number} is {rnd.status}; only a planned round can be opened"
        )
    rs = s.get(m.RuleSetRow, rnd.ruleset_id)
    if rs is None or rs.status not in ("published", "frozen"):
        raise RuleViolation(f"round {rnd.number} cannot open: its rule set is not published")
    rs.status = "frozen"
    rnd.status, rnd.opened_ruleset_id = "open", rs.id
    _event(
        s, actor, "round.opened", {"round": rnd.number, "frozen_rules_hash": rs.content_hash}, now
    )
    return rnd


def amend_rules(
    s: Session, rnd: m.Round, new_rules: RuleSet, *, rationale: str, actor: str, now: datetime
) -> m.RuleSetRow:
    """Change the rules of a round. After the round opened this is an amendment: it needs a
    written rationale, creates a new version and is flagged wherever the round's results appear."""
    cur = s.get(m.RuleSetRow, rnd.ruleset_id)
    assert cur is not None
    opened = rnd.status != "planned"
    if opened and len(rationale.strip()) < 10:
        raise RuleViolation(
            "an amendment after the round opened needs a written rationale (at least 10 characters)"
        )
    changes = diff_rules(ruleset_of(cur), new_rules)
    if not changes:
        raise RuleViolation("the amendment changes nothing")
    # The next free version of this name: drafts of the same name keep their numbers.
    latest = s.execute(
        select(func.max(m.RuleSetRow.version)).where(
            m.RuleSetRow.programme_id == cur.programme_id, m.RuleSetRow.name == cur.name
        )
    ).scalar()
    content = {
        **new_rules.to_dict(),
        "name": cur.name,
        "version": max(cur.version, latest or 0) + 1,
    }
    rules = RuleSet.from_dict(content)
    row = m.RuleSetRow(
        programme_id=cur.programme_id,
        name=cur.name,
        version=rules.version,
        status="frozen" if opened else "published",
        content=rules.to_dict(),
        content_hash=rules.content_hash(),
        parent_id=cur.id,
        rationale=rationale,
        is_amendment=opened,
        created_at=now,
        published_at=now,
    )
    s.add(row)
    cur.status = "superseded"
    s.flush()
    rnd.ruleset_id = row.id
    _event(
        s,
        actor,
        "rules.amended" if opened else "rules.revised",
        {
            "round": rnd.number,
            "from_version": cur.version,
            "to_version": row.version,
            "hash": row.content_hash,
            "rationale": rationale,
            "changes": [[p, a, b] for p, a, b in changes],
        },
        now,
    )
    return row


def close_round(s: Session, rnd: m.Round, *, actor: str, now: datetime) -> m.Round:
    if rnd.status != "open":
        raise RuleViolation(f"round {rnd.number} is {rnd.status}; only an open round can be closed")
    rnd.status = "closed"
    _event(s, actor, "round.closed", {"round": rnd.number}, now)
    return rnd


def rule_versions(s: Session, rnd: m.Round) -> list[dict[str, Any]]:
    """The round's rule versions, oldest first, each with its field-level diff from the previous."""
    out: list[dict[str, Any]] = []
    prev: RuleSet | None = None
    for row in rule_history(s, rnd):
        cur = ruleset_of(row)
        out.append(
            {
                "id": row.id,
                "name": row.name,
                "version": row.version,
                "status": row.status,
                "hash": row.content_hash,
                "amendment": row.is_amendment,
                "rationale": row.rationale,
                "at": (row.published_at or row.created_at).isoformat(),
                "content": row.content,
                "changes": []
                if prev is None
                else [{"path": p, "old": a, "new": b} for p, a, b in diff_rules(prev, cur)],
            }
        )
        prev = cur
    return out


def rule_history(s: Session, rnd: m.Round) -> list[m.RuleSetRow]:
    """The chain of rule versions of a round, oldest first."""
    out: list[m.RuleSetRow] = []
    row = s.get(m.RuleSetRow, rnd.ruleset_id)
    while row is not None:
        out.append(row)
        row = s.get(m.RuleSetRow, row.parent_id) if row.parent_id else None
    return out[::-1]


# -- submissions and results --------------------------------------------------


def register_submission(
    s: Session,
    rnd: m.Round,
    consortium: m.Consortium,
    model_name: str,
    *,
    artefact: str,
    components: Sequence[Mapping[str, Any]],
    endpoint: str = "",
    target_model: str = "",
    files: Sequence[Mapping[str, Any]] | None = None,
    actor: str,
    now: datetime,
) -> m.Submission:
    if consortium.status in ("eliminated", "disqualified", "withdrawn"):
        raise RuleViolation(
            f"consortium '{consortium.name}' is {consortium.status} and cannot submit"
        )
    if rnd.status not in ("planned", "open"):
        raise RuleViolation(f"round {rnd.number} is {rnd.status}; submissions are closed")
    comps = []
    for c in components:
        if not c.get("name") or c.get("kind", "other") not in COMPONENT_KINDS:
            raise InputError(f"component {dict(c)} needs a name and a kind in {COMPONENT_KINDS}")
        comps.append(
            {
                "name": str(c["name"]),
                "kind": str(c.get("kind", "other")),
                "declared_origin": str(c.get("declared_origin", "from-scratch")),
                "licence": str(c.get("licence", "")),
            }
        )
    if files is None:
        path = Path(artefact)
        files = digest_artefact(path) if path.exists() else []
    if s.execute(
        select(m.Submission).where(
            m.Submission.round_id == rnd.id,
            m.Submission.consortium_id == consortium.id,
            m.Submission.model_name == model_name,
        )
    ).scalar_one_or_none():
        raise ConflictError(
            f"'{consortium.name}' already submitted '{model_name}' to round {rnd.number}"
        )
    sub = m.Submission(
        round_id=rnd.id,
        consortium_id=consortium.id,
        model_name=model_name,
        artefact_uri=artefact,
        files=[dict(f) for f in files],
        components=comps,
        endpoint=endpoint,
        target_model=target_model,
        created_at=now,
    )
    s.add(sub)
    s.flush()
    _event(
        s,
        actor,
        "submission.registered",
        {
            "submission": sub.id,
            "round": rnd.number,
            "consortium": consortium.name,
            "model": model_name,
            "files": sub.files,
            "components": comps,
            "endpoint": endpoint,
            "target_model": target_model,
        },
        now,
    )
    return sub


def record_result(
    s: Session,
    sub: m.Submission,
    part: str,
    value: Measurement,
    *,
    subject: str = "model",
    source: str = "",
    actor: str,
    now: datetime,
) -> m.Result:
    """Record (or replace, before publication) one raw input to scoring."""
    if subject not in ("model", "target"):
        raise InputError("subject must be 'model' or 'target'")
    if not (value.lo <= value.value <= value.hi):
        raise InputError(
            f"result for part '{part}': value {value.value} lies outside its interval [{value.lo}, {value.hi}]"
        )
    rnd = s.get(m.Round, sub.round_id)
    assert rnd is not None
    if rnd.status == "published":
        raise RuleViolation("results are published; change a score through an appeal decision")
    row = s.execute(
        select(m.Result).where(
            m.Result.submission_id == sub.id, m.Result.part == part, m.Result.subject == subject
        )
    ).scalar_one_or_none()
    if row is None:
        row = m.Result(
            submission_id=sub.id,
            part=part,
            subject=subject,
            value=value.value,
            lo=value.lo,
            hi=value.hi,
            source=source,
            created_at=now,
        )
        s.add(row)
    else:
        row.value, row.lo, row.hi, row.source, row.created_at = (
            value.value,
            value.lo,
            value.hi,
            source,
            now,
        )
    s.flush()
    _event(
        s,
        actor,
        "result.recorded",
        {
            "submission": sub.id,
            "part": part,
            "subject": subject,
            "value": value.value,
            "lo": value.lo,
            "hi": value.hi,
            "source": source,
        },
        now,
    )
    return row


def record_provenance(
    s: Session,
    sub: m.Submission,
    *,
    reference: str,
    verdict: str,
    gate_failed: bool,
    reason: str,
    report: Mapping[str, Any],
    actor: str,
    now: datetime,
) -> m.ProvenanceRun:
    run = m.ProvenanceRun(
        submission_id=sub.id,
        reference=reference,
        verdict=verdict,
        gate_failed=gate_failed,
        reason=reason,
        report=dict(report),
        created_at=now,
    )
    s.add(run)
    s.flush()
    _event(
        s,
        actor,
        "provenance.recorded",
        {
            "submission": sub.id,
            "reference": reference,
            "verdict": verdict,
            "gate_failed": gate_failed,
            "reason": reason,
        },
        now,
    )
    return run
