"""Votes on the store, by group commit: many votes decided from a few reads, written in one flush.

One vote costs six database round trips when written alone (duplicate check, daily count, vote
insert, battle update, ledger insert, ledger head update); on a busy machine a round trip to
PostgreSQL costs a millisecond or more, so one writer tops out near 100 votes/s however votes
are grouped into transactions. :func:`cast_votes` decides a whole batch from two reads (the
batch's existing votes, and each panelist's votes today) and writes it with one flush (the vote
inserts, the battle updates and the ledger events each go out as one statement). It is the only
vote path: :func:`cast_vote` is a batch of one.

The decisions, one vote at a time in batch order: a valid outcome and 1-5 ratings
(``InputError``); the panelist's own battle (``RuleViolation``); the round still open and the
panelist still active (``RuleViolation``: a battle started before the round closed cannot be
voted on after); no earlier vote on the battle, stored or earlier in the batch
(``ConflictError``); answers ready (``RuleViolation``); and the daily cap counted from the local
midnight (``arena.rules.day_start``) with the batch's own accepted votes included
(``RuleViolation``). The unique constraint on ``votes.battle_id`` stays the durable guard: if the
flush trips it, the caller retries each vote alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from sovereval.arena import rules as ar
from sovereval.errors import ConflictError, RuleViolation, SovereValError
from sovereval.ledger.log import append
from sovereval.store import evaluation_models as em
from sovereval.store import models as m


@dataclass(frozen=True)
class VoteInput:
    outcome: str
    reliability_a: int
    practicality_a: int
    reliability_b: int
    practicality_b: int
    comment: str = ""

    @property
    def ratings(self) -> list[int]:
        return [self.reliability_a, self.practicality_a, self.reliability_b, self.practicality_b]


@dataclass(frozen=True)
class BatchVote:
    battle: em.Battle
    panelist: em.Panelist
    vote: VoteInput
    now: datetime
    daily_cap: int
    day_offset_hours: int = 9


def cast_vote(
    s: Session,
    battle: em.Battle,
    panelist: em.Panelist,
    vote: VoteInput,
    *,
    daily_cap: int,
    now: datetime,
    day_offset_hours: int = 9,
) -> em.Vote:
    """Accept one vote (a batch of one) or raise its refusal."""
    battle_id = battle.id  # read before any flush: a failed flush expires the instance
    try:
        (out,) = cast_votes(
            s, [BatchVote(battle, panelist, vote, now, daily_cap, day_offset_hours)]
        )
    except IntegrityError as exc:
        raise ConflictError(
            f"battle {battle_id} already has a vote; duplicate votes are rejected"
        ) from exc
    if isinstance(out, SovereValError):
        raise out
    return out


def _decide(
    it: BatchVote,
    rnd: m.Round,
    voted: set[int],
    used: int,
) -> None:
    b, p, v = it.battle, it.panelist, it.vote
    ar.check_ratings(v.outcome, v.ratings)
    if b.panelist_id != p.id:
        raise RuleViolation("a panelist can only vote on their own battle")
    ar.check_can_compare(rnd.number, rnd.status, p.status)
    if b.status == "voted" or b.id in voted:
        raise ConflictError(f"battle {b.id} already has a vote; duplicate votes are rejected")
    if b.status != "ready":
        raise RuleViolation(f"battle {b.id} is {b.status}; answers are not ready")
    ar.check_cap(used, it.daily_cap, p.code)


def cast_votes(s: Session, items: Sequence[BatchVote]) -> list[em.Vote | SovereValError]:
    """Accept or refuse each vote; accepted ones are written (with their ledger events) and
    flushed together. Refusals are returned, not raised, and leave the session untouched."""
    if not items:
        return []
    battle_ids = [it.battle.id for it in items]
    voted = set(
        s.execute(select(em.Vote.battle_id).where(em.Vote.battle_id.in_(battle_ids))).scalars()
    )
    today = _votes_since(s, items)
    aliases = _aliases(s, items)
    out: list[em.Vote | SovereValError] = []
    rows: list[tuple[BatchVote, em.Vote]] = []
    accepted: list[tuple[int, datetime]] = []
    for it in items:
        b, p, v = it.battle, it.panelist, it.vote
        start = ar.day_start(it.now, it.day_offset_hours)
        used = today.get((p.id, start), 0) + sum(
            1 for pid, at in accepted if pid == p.id and at >= start
        )
        rnd = s.get(m.Round, b.round_id)
        assert rnd is not None
        try:
            _decide(it, rnd, voted, used)
        except SovereValError as exc:
            out.append(exc)
            continue
        accepted.append((p.id, it.now))
        voted.add(b.id)
        row = em.Vote(
            battle_id=b.id,
            panelist_id=p.id,
            outcome=v.outcome,
            reliability_a=v.reliability_a,
            practicality_a=v.practicality_a,
            reliability_b=v.reliability_b,
            practicality_b=v.practicality_b,
            comment=v.comment,
            at=it.now,
        )
        rows.append((it, row))
        out.append(row)
    if not rows:
        return out
    # One multi-row INSERT for the votes and one UPDATE for their battles (Core statements: the
    # ORM's unit of work costs more CPU per row than the database does). The Vote objects stay
    # transient read models; the battles' new status is set without a second UPDATE.
    ids = s.execute(
        insert(em.Vote).returning(em.Vote.id, sort_by_parameter_order=True),
        [_columns(row) for _it, row in rows],
    ).scalars()
    for (_it, row), vid in zip(rows, ids, strict=True):
        row.id = vid
    voted_now = [it.battle.id for it, _row in rows]
    s.execute(update(em.Battle).where(em.Battle.id.in_(voted_now)).values(status="voted"))
    for it, _row in rows:
        set_committed_value(it.battle, "status", "voted")
        b, v = it.battle, it.vote
        append(
            s,
            actor=f"panelist:{it.panelist.code}",
            kind="arena.vote",
            body={
                "battle": b.id,
                "a": aliases[b.model_a],
                "b": aliases[b.model_b],
                "outcome": v.outcome,
                "leak": b.leak,
                "ratings": v.ratings,
            },
            at=it.now,
        )
    s.flush()
    return out


def _columns(row: em.Vote) -> dict[str, object]:
    return {
        "battle_id": row.battle_id,
        "panelist_id": row.panelist_id,
        "outcome": row.outcome,
        "reliability_a": row.reliability_a,
        "practicality_a": row.practicality_a,
        "reliability_b": row.reliability_b,
        "practicality_b": row.practicality_b,
        "comment": row.comment,
        "at": row.at,
    }


def _votes_since(s: Session, items: Sequence[BatchVote]) -> dict[tuple[int, datetime], int]:
    """Stored votes per (panelist, local day start) cast at or after that start, for the days
    this batch touches."""
    out: dict[tuple[int, datetime], int] = {}
    for start in {ar.day_start(it.now, it.day_offset_hours) for it in items}:
        ids = {it.panelist.id for it in items if ar.day_start(it.now, it.day_offset_hours) == start}
        q = (
            select(em.Vote.panelist_id, func.count(em.Vote.id))
            .where(em.Vote.panelist_id.in_(ids), em.Vote.at >= start)
            .group_by(em.Vote.panelist_id)
        )
        for pid, n in s.execute(q).all():
            out[(int(pid), start)] = int(n)
    return out


def _aliases(s: Session, items: Sequence[BatchVote]) -> Mapping[int, str]:
    """Roster aliases of the batch's models (from the identity map when the caller preloaded)."""
    out: dict[int, str] = {}
    for mid in {x for it in items for x in (it.battle.model_a, it.battle.model_b)}:
        am = s.get(em.ArenaModel, mid)
        assert am is not None
        out[mid] = am.alias
    return out
