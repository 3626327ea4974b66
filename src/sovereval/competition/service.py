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

from sovereval.competition import formats
from sovereval.competition.artefacts import digest_artefact
from sovereval.competition.lifecycle import ACTIVE_STATUSES, ROUND, SUBMISSION
from sovereval.competition.rules import RuleSet, check_total, diff_rules, value_range
from sovereval.competition.scoring import Measurement
from sovereval.errors import (
    ConflictError,
    HostileInputError,
    InputError,
    NotFoundError,
    RuleViolation,
)
from sovereval.ledger.log import append
from sovereval.store import models as m

COMPONENT_KINDS = formats.COMPONENT_KINDS


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


def active_submission(s: Session, rnd: m.Round, consortium: m.Consortium) -> m.Submission | None:
    """The consortium's one active (not withdrawn) submission in a round, if any."""
    return s.execute(
        select(m.Submission)
        .where(
            m.Submission.round_id == rnd.id,
            m.Submission.consortium_id == consortium.id,
            m.Submission.status != "withdrawn",
        )
        .order_by(m.Submission.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def submission_of(s: Session, rnd: m.Round, consortium: m.Consortium) -> m.Submission:
    """The consortium's active submission in a round."""
    sub = active_submission(s, rnd, consortium)
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
    check_total(rules)
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
    check_total(ruleset_of(row))
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
    if ruleset.status not in ("published", "frozen"):
        raise RuleViolation(
            f"rule set {ruleset.name} v{ruleset.version} (id {ruleset.id}) is {ruleset.status}; "
            f"a round needs a published rule set (publish it: sovereval rules publish {ruleset.id})"
            if ruleset.status == "draft"
            else f"rule set {ruleset.name} v{ruleset.version} (id {ruleset.id}) is "
            f"{ruleset.status}; create the round under the version that replaced it"
        )
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
    """Open a round: its rule set must be published, and is frozen from now on. A round whose
    close date has passed cannot open (it would accept nothing)."""
    new_status = ROUND.move(f"round {rnd.number}", rnd.status, "open")
    if now >= rnd.closes_at:
        raise RuleViolation(
            f"round {rnd.number} closes at {rnd.closes_at.isoformat()}, before now "
            f"({now.isoformat()}); it cannot open. Create a new round with later dates"
        )
    rs = s.get(m.RuleSetRow, rnd.ruleset_id)
    if rs is None or rs.status not in ("published", "frozen"):
        raise RuleViolation(f"round {rnd.number} cannot open: its rule set is not published")
    rs.status = "frozen"
    rnd.status, rnd.opened_ruleset_id = new_status, rs.id
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
    ROUND.move(f"round {rnd.number}", rnd.status, "amend rules" if opened else "revise rules")
    check_total(new_rules)
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
    rnd.status = ROUND.move(f"round {rnd.number}", rnd.status, "close")
    _event(s, actor, "round.closed", {"round": rnd.number}, now)
    return rnd


def reopen_round(
    s: Session,
    rnd: m.Round,
    *,
    rationale: str,
    closes_at: datetime,
    actor: str,
    now: datetime,
) -> m.Round:
    """Reopen a closed (not yet published) round until ``closes_at``: a flagged, reasoned
    amendment, listed wherever the round's results appear."""
    new_status = ROUND.move(f"round {rnd.number}", rnd.status, "reopen")
    if len(rationale.strip()) < 10:
        raise RuleViolation("reopening a round needs a written rationale (at least 10 characters)")
    if closes_at <= now:
        raise InputError(f"the new close ({closes_at.isoformat()}) must be after now")
    entry = {
        "at": now.isoformat(),
        "actor": actor,
        "rationale": rationale,
        "closes_at": closes_at.isoformat(),
        "previous_closes_at": rnd.closes_at.isoformat(),
    }
    rnd.reopenings = [*rnd.reopenings, entry]
    rnd.status, rnd.closes_at = new_status, closes_at
    _event(s, actor, "round.reopened", {"round": rnd.number, **entry}, now)
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


def check_submission_window(rnd: m.Round, now: datetime, what: str = "submissions") -> None:
    """Submissions (and withdrawals) only while the round is open and inside its dates."""
    ROUND.move(f"round {rnd.number}", rnd.status, "submit")
    if not (rnd.opens_at <= now < rnd.closes_at):
        raise RuleViolation(
            f"round {rnd.number} accepts {what} from {rnd.opens_at.isoformat()} until "
            f"{rnd.closes_at.isoformat()}; it is now {now.isoformat()}"
        )


def _resolve_files(artefact: str) -> list[dict[str, Any]]:
    """Digest a local artefact; a URI (``scheme://...``) is recorded as given."""
    if "://" in artefact:
        return []
    path = Path(artefact)
    if not path.exists():
        raise InputError(
            f"artefact '{artefact}' does not exist; give a file, a folder of files, or a URI "
            "such as s3://bucket/model"
        )
    return digest_artefact(path)


def register_submission(
    s: Session,
    rnd: m.Round,
    consortium: m.Consortium,
    model_name: str,
    *,
    artefact: str,
    components: Any,
    endpoint: str = "",
    target_model: str = "",
    files: Sequence[Mapping[str, Any]] | None = None,
    supersedes: int | None = None,
    actor: str,
    now: datetime,
) -> m.Submission:
    """Register a team's one active submission of a round. ``supersedes`` names the team's
    current submission, which is withdrawn in the same transaction (its own event)."""
    check_submission_window(rnd, now)
    if consortium.status not in ACTIVE_STATUSES:
        raise RuleViolation(
            f"consortium '{consortium.name}' is {consortium.status}; only selected or wild-card "
            "teams may submit"
        )
    comps = [c.model_dump() for c in formats.parse("components", components, label="components")]
    current = active_submission(s, rnd, consortium)
    if current is not None and current.id != supersedes:
        raise ConflictError(
            f"'{consortium.name}' already has submission {current.id} ('{current.model_name}') "
            f"in round {rnd.number}; withdraw it (sovereval submission withdraw {current.id}) "
            f"or register with --supersedes {current.id}"
        )
    if supersedes is not None and current is None:
        raise NotFoundError(
            f"'{consortium.name}' has no active submission {supersedes} in round {rnd.number}"
        )
    if files is None:
        files = _resolve_files(artefact)
    if current is not None:
        withdraw_submission(
            s, current, reason=f"superseded by '{model_name}'", actor=actor, now=now
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
            **({"supersedes": supersedes} if supersedes is not None else {}),
        },
        now,
    )
    return sub


def verify_artefact(sub: m.Submission) -> Path | None:
    """Re-digest a submission's local artefact and compare every file with the SHA-256
    recorded at registration; refuse a mismatch with both hashes. Returns the local path, or
    None when there is nothing local (a URI, or no recorded files and no such path)."""
    if "://" in sub.artefact_uri:
        return None
    path = Path(sub.artefact_uri)
    recorded = {f["path"]: f["sha256"] for f in sub.files}
    if not recorded:
        return path if path.exists() else None
    if not path.exists():
        raise InputError(
            f"submission {sub.id}: artefact '{sub.artefact_uri}' is not on this machine; "
            "fetch it to that path first, so its digests can be re-checked"
        )
    now_files = {f["path"]: f["sha256"] for f in digest_artefact(path)}
    for name, want in sorted(recorded.items()):
        got = now_files.get(name)
        if got is None:
            raise HostileInputError(
                f"submission {sub.id}: artefact file '{name}' (sha256 {want}) is missing"
            )
        if got != want:
            raise HostileInputError(
                f"submission {sub.id}: artefact file '{name}' changed since registration: "
                f"recorded sha256 {want}, now {got}; refusing to analyse it"
            )
    extra = sorted(set(now_files) - set(recorded))
    if extra:
        raise HostileInputError(
            f"submission {sub.id}: artefact holds files not recorded at registration: "
            f"{', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}"
        )
    return path


def gate_next_step(s: Session, sub: m.Submission) -> str:
    """What the operator runs after a failed originality gate on ``sub``."""
    rnd = s.get(m.Round, sub.round_id)
    assert rnd is not None
    cmd = f"sovereval score compute -r {rnd.number} && sovereval score publish -r {rnd.number}"
    if rnd.status == "published":
        return (
            f"round {rnd.number}'s published results are now stale (sovereval score show -r "
            f"{rnd.number}); recompute and republish: {cmd}"
        )
    return f"the submission will be disqualified when round {rnd.number} is scored: {cmd}"


def withdraw_submission(
    s: Session, sub: m.Submission, *, reason: str, actor: str, now: datetime
) -> m.Submission:
    """Withdraw a submission before its round closes; the team may then register another."""
    rnd = s.get(m.Round, sub.round_id)
    assert rnd is not None
    check_submission_window(rnd, now, "withdrawals")
    sub.status = SUBMISSION.move(f"submission {sub.id}", sub.status, "withdraw")
    _event(
        s,
        actor,
        "submission.withdrawn",
        {"submission": sub.id, "round": rnd.number, "reason": reason},
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
    rnd = s.get(m.Round, sub.round_id)
    assert rnd is not None
    if rnd.status == "published":
        raise RuleViolation("results are published; change a score through an appeal decision")
    if sub.status == "withdrawn":
        raise RuleViolation(f"submission {sub.id} is withdrawn; record results for its successor")
    check_measurement(s, rnd, part, value)
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


def check_measurement(s: Session, rnd: m.Round, part: str, value: Measurement) -> None:
    """A result must name a part of the round's rule set and lie in that part's range, with
    ``lo <= value <= hi``."""
    rules_row = get_ruleset(s, rnd.ruleset_id)
    rules = ruleset_of(rules_row)
    keys = [p.key for p in rules.parts]
    if part not in keys:
        raise InputError(
            f"part '{part}' is not in rule set {rules.name} v{rules.version} ({', '.join(keys)})"
        )
    lo, hi = value_range(rules.part(part))
    for label, x in (("value", value.value), ("lo", value.lo), ("hi", value.hi)):
        if not lo <= x <= hi:
            raise InputError(f"part '{part}': {label} {x:g} is outside {lo:g}-{hi:g}")
    if not value.lo <= value.value <= value.hi:
        raise InputError(
            f"part '{part}': need lo <= value <= hi, got value {value.value:g} with "
            f"interval [{value.lo:g}, {value.hi:g}]"
        )


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
