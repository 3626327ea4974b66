"""Many votes in a few round trips: ``arena.service.cast_vote``'s rules, applied to a batch.

``cast_vote`` takes six database round trips per vote (duplicate check, daily count, vote
insert, battle update, ledger insert, ledger head update). On a busy machine a round trip to
PostgreSQL costs a millisecond or more, so a single writer tops out near 100 votes/s however the
votes are grouped into transactions. This module decides a whole batch from two reads (the
batch's existing votes, and each panelist's votes today) and writes it with one flush (the vote
inserts, the battle updates and the ledger events each go out as one statement).

The decisions are ``cast_vote``'s, in its order, one vote at a time: a valid outcome and 1-5
ratings (``InputError``), the panelist's own battle (``RuleViolation``), no earlier vote on the
battle, in the store or earlier in the batch (``ConflictError``), answers ready
(``RuleViolation``), and the daily cap counted from the local midnight with the batch's own
accepted votes included (``RuleViolation``). The ledger event is ``cast_vote``'s, byte for byte.
``tests/web/test_panel_batch.py`` checks the equivalence on random batches. The unique
constraint on ``votes.battle_id`` stays the durable guard: if the flush trips it, the caller
retries each vote alone through ``cast_vote`` itself.

This belongs in ``arena.service`` as its batch entry point (``cast_vote`` would become a batch
of one); it lives here until that slice adopts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from sovereval.arena import service as arena
from sovereval.errors import ConflictError, InputError, RuleViolation, SovereValError
from sovereval.ledger.log import append
from sovereval.store import evaluation_models as em
from sovereval.web.views_panel import day_start


@dataclass(frozen=True)
class BatchVote:
    battle: em.Battle
    panelist: em.Panelist
    vote: arena.VoteInput
    now: datetime
    daily_cap: int
    day_offset_hours: int = 9


def _check_input(vote: arena.VoteInput) -> None:
    if vote.outcome not in arena.OUTCOMES:
        raise InputError(f"vote must be one of {', '.join(arena.OUTCOMES)}, not '{vote.outcome}'")
    for v in (vote.reliability_a, vote.practicality_a, vote.reliability_b, vote.practicality_b):
        if not 1 <= int(v) <= 5:
            raise InputError("ratings are on a 1-5 scale")


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
        try:
            _check_input(v)
            if b.panelist_id != p.id:
                raise RuleViolation("a panelist can only vote on their own battle")
            if b.status == "voted" or b.id in voted:
                raise ConflictError(
                    f"battle {b.id} already has a vote; duplicate votes are rejected"
                )
            if b.status != "ready":
                raise RuleViolation(f"battle {b.id} is {b.status}; answers are not ready")
            start = day_start(it.now, it.day_offset_hours)
            # As cast_vote counts: every vote of the panelist at or after today's start.
            used = today.get((p.id, start), 0) + sum(
                1 for pid, at in accepted if pid == p.id and at >= start
            )
            if used >= it.daily_cap:
                raise RuleViolation(
                    f"daily cap of {it.daily_cap} votes reached for panelist {p.code}"
                )
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
                "ratings": [v.reliability_a, v.practicality_a, v.reliability_b, v.practicality_b],
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
    this batch touches (``cast_vote``'s count)."""
    out: dict[tuple[int, datetime], int] = {}
    for start in {day_start(it.now, it.day_offset_hours) for it in items}:
        ids = {it.panelist.id for it in items if day_start(it.now, it.day_offset_hours) == start}
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
