"""Scorecards, publication, appeals and score edits (service layer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sovereval.competition.appeals import check_appeal_time
from sovereval.competition.lifecycle import APPEAL, CONSORTIUM, ROUND, SUBMISSION
from sovereval.competition.rules import RuleSet
from sovereval.competition.scoring import Measurement, TeamInputs, TeamScore, score_round
from sovereval.competition.service import (
    _event,
    check_measurement,
    get_ruleset,
    rule_history,
    ruleset_of,
)
from sovereval.errors import InputError, NotFoundError, RuleViolation
from sovereval.store import models as m


def _inputs(
    s: Session, rnd: m.Round, rules: RuleSet
) -> tuple[list[TeamInputs], dict[str, m.Submission]]:
    subs = (
        s.execute(
            select(m.Submission)
            .where(m.Submission.round_id == rnd.id, m.Submission.status != "withdrawn")
            .order_by(m.Submission.id)
        )
        .scalars()
        .all()
    )
    if not subs:
        raise RuleViolation(f"round {rnd.number} has no submissions to score")
    teams: list[TeamInputs] = []
    by_team: dict[str, m.Submission] = {}
    for sub in subs:
        c = s.get(m.Consortium, sub.consortium_id)
        assert c is not None
        results = (
            s.execute(select(m.Result).where(m.Result.submission_id == sub.id)).scalars().all()
        )
        parts = {r.part: Measurement(r.value, r.lo, r.hi) for r in results if r.subject == "model"}
        targets = {
            r.part: Measurement(r.value, r.lo, r.hi) for r in results if r.subject == "target"
        }
        failures: list[str] = []
        if rules.gates.originality_disqualifies:
            runs = (
                s.execute(
                    select(m.ProvenanceRun).where(
                        m.ProvenanceRun.submission_id == sub.id,
                        m.ProvenanceRun.gate_failed.is_(True),
                    )
                )
                .scalars()
                .all()
            )
            failures += [f"originality: {r.reason}" for r in runs]
        teams.append(TeamInputs(c.name, parts, targets, tuple(failures)))
        by_team[c.name] = sub
    return teams, by_team


def scorecard_content(
    s: Session,
    rnd: m.Round,
    scores: Sequence[TeamScore],
    by_team: dict[str, m.Submission],
    rules_row: m.RuleSetRow,
) -> dict[str, Any]:
    history = rule_history(s, rnd)
    amendments = [
        {
            "version": r.version,
            "hash": r.content_hash,
            "rationale": r.rationale,
            "at": r.created_at.isoformat(),
        }
        for r in history
        if r.is_amendment
    ]
    rules = ruleset_of(rules_row)
    adv = rules.advancement
    rule, count = (
        ("eliminate_lowest", adv.eliminate_lowest)
        if adv.eliminate_lowest is not None
        else ("advance_count", adv.advance_count)
    )
    advancing = sum(1 for sc in scores if sc.decision == "advance")
    note = f"rule set {rules_row.name} v{rules_row.version}: advancement.{rule} = {count}"
    if rnd.advance_slots and rnd.advance_slots != advancing:
        note += (
            f"; the round's planned {rnd.advance_slots} slot(s) are not used, "
            f"{advancing} team(s) advance under the rule set"
        )
    return {
        "round": rnd.number,
        "rules": {
            "name": rules_row.name,
            "version": rules_row.version,
            "hash": rules_row.content_hash,
            "amended": bool(amendments),
            "amendments": amendments,
            "reopenings": list(rnd.reopenings),
            "category_points": rules.category_points(),
            "total_points": rules.total_points,
        },
        "advancement": {
            "decided_by": f"advancement.{rule}",
            "value": count,
            "advancing": advancing,
            "round_slots": rnd.advance_slots,
            "note": note,
        },
        "teams": [
            {
                **{k: v for k, v in asdict(sc).items() if k not in ("parts", "categories")},
                "submission": by_team[sc.team].id,
                "model": by_team[sc.team].model_name,
                "parts": [asdict(p) for p in sc.parts],
                "categories": {
                    k: {"points": v[0], "lo": v[1], "hi": v[2]} for k, v in sc.categories.items()
                },
            }
            for sc in scores
        ],
    }


def compute_scorecard(s: Session, rnd: m.Round, *, actor: str, now: datetime) -> m.Scorecard:
    """Score the round under its rule set in force; stored as the next (unpublished) issue."""
    ROUND.move(f"round {rnd.number}", rnd.status, "compute")
    rules_row = get_ruleset(s, rnd.ruleset_id)
    rules = ruleset_of(rules_row)
    teams, by_team = _inputs(s, rnd, rules)
    scores = score_round(rules, teams)
    content = scorecard_content(s, rnd, scores, by_team, rules_row)
    issue = (
        s.execute(
            select(func.max(m.Scorecard.issue)).where(m.Scorecard.round_id == rnd.id)
        ).scalar()
        or 0
    ) + 1
    card = m.Scorecard(
        round_id=rnd.id,
        issue=issue,
        ruleset_id=rules_row.id,
        content=content,
        published=False,
        created_at=now,
    )
    s.add(card)
    s.flush()
    _event(
        s,
        actor,
        "scorecard.computed",
        {
            "round": rnd.number,
            "issue": issue,
            "rules_hash": rules_row.content_hash,
            "totals": {t["team"]: round(t["total"], 6) for t in content["teams"]},
            "decisions": {t["team"]: t["decision"] for t in content["teams"]},
        },
        now,
    )
    return card


def latest_scorecard(
    s: Session, rnd: m.Round, *, published_only: bool = False
) -> m.Scorecard | None:
    q = select(m.Scorecard).where(m.Scorecard.round_id == rnd.id)
    if published_only:
        q = q.where(m.Scorecard.published.is_(True))
    return s.execute(q.order_by(m.Scorecard.issue.desc()).limit(1)).scalar_one_or_none()


def publish_results(s: Session, rnd: m.Round, *, actor: str, now: datetime) -> m.Scorecard:
    """Publish the latest scorecard: decisions take effect and the appeal window starts.

    Consortium status is derived, never reset: a team's status follows the latest record that
    decides it (this round's decision, or a wild-card admission into a later round), so
    republishing an earlier round cannot undo a later admission. Each change is listed in the
    ``results.published`` event."""
    card = latest_scorecard(s, rnd)
    if card is None:
        raise RuleViolation(
            f"round {rnd.number} has no computed scorecard; run: sovereval score compute"
        )
    if rnd.status not in ("closed", "published"):
        raise RuleViolation(
            f"round {rnd.number} is {rnd.status}; close it before publishing results"
        )
    behind = _differences(s, rnd, card)
    if behind:
        raise RuleViolation(
            f"scorecard issue {card.issue} no longer matches the recorded inputs ({behind[0]}); "
            f"recompute it first: sovereval score compute -r {rnd.number}"
        )
    rnd.status = ROUND.move(
        f"round {rnd.number}", rnd.status, "publish" if rnd.status == "closed" else "republish"
    )
    card.published = True
    if rnd.published_at is None:
        rnd.published_at = now
    changes: dict[str, list[str]] = {}
    for t in card.content["teams"]:
        sub = s.get(m.Submission, t["submission"])
        assert sub is not None
        c = s.get(m.Consortium, sub.consortium_id)
        assert c is not None
        sub.status = SUBMISSION.move(f"submission {sub.id}", sub.status, t["decision"])
        new = derive_status(s, c, rnd, t["decision"])
        if new != c.status:
            changes[c.name] = [c.status, new]
            c.status = new
    _event(
        s,
        actor,
        "results.published",
        {
            "round": rnd.number,
            "issue": card.issue,
            "rules_hash": card.content["rules"]["hash"],
            "amended": card.content["rules"]["amended"],
            "status_changes": changes,
        },
        now,
    )
    return card


def derive_status(s: Session, c: m.Consortium, rnd: m.Round, decision: str) -> str:
    """The consortium's status after round ``rnd`` decides ``decision`` for it.

    Records are ordered by the round they concern: a wild-card admission into round k comes
    after the results of every round before k. A decision of an earlier round than the team's
    latest admission does not change its status; disqualification always stands."""
    if decision == "disqualify" or c.status == "disqualified":
        return CONSORTIUM.move(f"consortium '{c.name}'", c.status, "disqualify")
    later = s.execute(
        select(m.WildcardApplication.id)
        .join(m.WildcardCall, m.WildcardCall.id == m.WildcardApplication.call_id)
        .join(m.Round, m.Round.id == m.WildcardCall.round_id)
        .where(
            m.WildcardApplication.consortium_id == c.id,
            m.WildcardApplication.status == "selected",
            m.Round.number > rnd.number,
        )
    ).first()
    if later is not None:
        return c.status
    return CONSORTIUM.move(f"consortium '{c.name}'", c.status, decision)


def results_staleness(s: Session, rnd: m.Round) -> list[str]:
    """Why the round's published results no longer follow from its recorded inputs (empty when
    they do). The published scorecard is never edited: an operator recomputes and republishes."""
    card = latest_scorecard(s, rnd, published_only=True)
    if card is None:
        return []
    return _differences(s, rnd, card)


def _differences(s: Session, rnd: m.Round, card: m.Scorecard) -> list[str]:
    """How a scorecard differs from a recompute of the round's recorded inputs now."""
    rules_row = get_ruleset(s, rnd.ruleset_id)
    teams, _ = _inputs(s, rnd, ruleset_of(rules_row))
    fresh = {sc.team: sc for sc in score_round(ruleset_of(rules_row), teams)}
    out: list[str] = []
    for t in card.content["teams"]:
        now_sc = fresh.get(t["team"])
        if now_sc is None:
            out.append(f"{t['team']}: its submission is no longer active")
        elif now_sc.decision != t["decision"]:
            out.append(
                f"{t['team']}: published {t['decision']}, the recorded inputs now give "
                f"{now_sc.decision} ({now_sc.reason})"
            )
        elif abs(now_sc.total - t["total"]) > 1e-9:
            out.append(f"{t['team']}: published total {t['total']:.2f}, now {now_sc.total:.2f}")
    if card.content["rules"]["hash"] != rules_row.content_hash:
        out.append("the round's rules changed after publication")
    return out


def appeal_rows(s: Session, rnd: m.Round, *, with_text: bool = False) -> list[dict[str, Any]]:
    """A round's appeals, oldest first. The statement itself stays out unless ``with_text``
    (it is the team's confidential submission; status, reasons and resolutions are public)."""
    rows: list[dict[str, Any]] = []
    for a in s.execute(
        select(m.Appeal).where(m.Appeal.round_id == rnd.id).order_by(m.Appeal.id)
    ).scalars():
        c = s.get(m.Consortium, a.consortium_id)
        row: dict[str, Any] = {
            "id": a.id,
            "team": c.name if c else "?",
            "filed_at": a.filed_at.isoformat(),
            "status": a.status,
            "reason": a.reason,
            "resolution": a.resolution,
        }
        if with_text:
            row["text"] = a.text
        rows.append(row)
    return rows


def file_appeal(
    s: Session, rnd: m.Round, consortium: m.Consortium, text: str, *, actor: str, now: datetime
) -> m.Appeal:
    """File an appeal. A late one is recorded as rejected with its reason (and the caller is told)."""
    if not text.strip():
        raise InputError("an appeal needs a written statement")
    if not s.execute(
        select(m.Submission).where(
            m.Submission.round_id == rnd.id, m.Submission.consortium_id == consortium.id
        )
    ).first():
        raise RuleViolation(f"'{consortium.name}' has no submission in round {rnd.number}")
    if rnd.published_at is None:
        raise RuleViolation(
            f"round {rnd.number} is {rnd.status}; its results are not published, so there is "
            "nothing to appeal yet"
        )
    if now < rnd.published_at:
        raise RuleViolation(
            f"round {rnd.number} results were published at {rnd.published_at.isoformat()}, "
            f"after this filing time ({now.isoformat()})"
        )
    rules = ruleset_of(get_ruleset(s, rnd.ruleset_id))
    check = check_appeal_time(rnd.published_at, rules.appeal_window_days, now)
    status = "pending" if check.accepted else "rejected_late"
    a = m.Appeal(
        round_id=rnd.id,
        consortium_id=consortium.id,
        filed_at=now,
        text=text,
        status=status,
        reason=check.reason,
    )
    s.add(a)
    s.flush()
    _event(
        s,
        actor,
        "appeal.filed" if check.accepted else "appeal.rejected_late",
        {
            "appeal": a.id,
            "round": rnd.number,
            "consortium": consortium.name,
            "status": status,
            "reason": check.reason,
            "deadline": check.deadline,
        },
        now,
    )
    return a


def decide_appeal(
    s: Session,
    appeal: m.Appeal,
    *,
    upheld: bool,
    resolution: str,
    score_changes: Sequence[tuple[int, str, Measurement]] = (),
    other_teams: bool = False,
    actor: str,
    now: datetime,
) -> m.Scorecard | None:
    """Decide a pending appeal. Score changes record edits and reissue the results."""
    if appeal.status != "pending":
        raise RuleViolation(
            f"appeal {appeal.id} is {appeal.status}; only a pending appeal can be decided"
        )
    new_status = APPEAL.move(
        f"appeal {appeal.id}", appeal.status, "uphold" if upheld else "dismiss"
    )
    if len(resolution.strip()) < 10:
        raise InputError("a decision needs a written resolution (at least 10 characters)")
    if score_changes and not upheld:
        raise InputError("a dismissed appeal cannot change scores")
    rnd = s.get(m.Round, appeal.round_id)
    assert rnd is not None
    for sub_id, part, new in score_changes:
        sub = s.get(m.Submission, sub_id)
        if sub is None or sub.round_id != rnd.id:
            raise InputError(f"--change: submission {sub_id} is not in round {rnd.number}")
        if sub.consortium_id != appeal.consortium_id and not other_teams:
            other = s.get(m.Consortium, sub.consortium_id)
            raise RuleViolation(
                f"appeal {appeal.id} cannot change submission {sub_id} of "
                f"'{other.name if other else '?'}': an appeal changes its own team's results unless "
                "the decision says it affects other teams (--other-teams)"
            )
        check_measurement(s, rnd, part, new)
    appeal.status = new_status
    appeal.resolution, appeal.decided_by, appeal.decided_at = resolution, actor, now
    _event(
        s,
        actor,
        "appeal.decided",
        {"appeal": appeal.id, "status": appeal.status, "resolution": resolution},
        now,
    )
    if not score_changes:
        return None
    own = {
        x.id
        for x in s.execute(
            select(m.Submission).where(
                m.Submission.round_id == rnd.id,
                m.Submission.consortium_id == appeal.consortium_id,
            )
        ).scalars()
    }
    for sub_id, part, new in score_changes:
        row = s.execute(
            select(m.Result).where(
                m.Result.submission_id == sub_id, m.Result.part == part, m.Result.subject == "model"
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"submission {sub_id} has no result for part '{part}'")
        before = {"value": row.value, "lo": row.lo, "hi": row.hi}
        after = {"value": new.value, "lo": new.lo, "hi": new.hi}
        s.add(
            m.ScoreEdit(
                submission_id=sub_id,
                part=part,
                before=before,
                after=after,
                actor=actor,
                reason=f"appeal {appeal.id}: {resolution}",
                at=now,
            )
        )
        row.value, row.lo, row.hi = new.value, new.lo, new.hi
        row.source = f"{row.source} | edited by appeal {appeal.id}"
        _event(
            s,
            actor,
            "score.edited",
            {
                "submission": sub_id,
                "part": part,
                "before": before,
                "after": after,
                "appeal": appeal.id,
                **({"other_team": True} if sub_id not in own else {}),
            },
            now,
        )
    s.flush()
    card = compute_scorecard(s, rnd, actor=actor, now=now)
    return publish_results(s, rnd, actor=actor, now=now) if card else None
