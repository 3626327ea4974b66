"""Votes are written by group commit: many votes, one transaction, each answered after commit.

Every accepted vote appends to the one hash-chained ledger, whose head row is locked until
commit, so votes written one transaction each are bounded by commit latency (fsync) no matter
how many workers serve them: about 100 writes/s on PostgreSQL in ``design/web.md``'s load table.
Group commit (as in database logs; Gray & Reuter, *Transaction Processing*, sec. 9.4) lifts
that bound: requests queue their vote, one writer thread per process takes everything queued,
casts them through ``arena.votes.cast_votes`` in one transaction, commits once, and only
then answers each request. Nothing is reported accepted before its commit, so a crash loses
only votes whose senders got no success answer. The batch is decided by the arena's one vote
path (its rules in a few round trips); with batches of one (``max_batch=1``) every vote goes
through ``arena.votes.cast_vote``, a batch of one.

The writer takes the ledger head's row lock first, so every vote transaction (this worker's
and other workers') is serialised: the duplicate check and the daily-cap count inside
``cast_vote`` see every vote committed before, and no two writers deadlock on row locks.
A refusal (duplicate, cap, bad rating) leaves the session untouched and only that vote is
refused; anything unexpected rolls the batch back and its votes are retried one per transaction
through ``cast_vote``, so one bad vote cannot sink the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.arena import rules as ar
from sovereval.arena import service as arena
from sovereval.errors import SovereValError
from sovereval.store import evaluation_models as em
from sovereval.store import models as m
from sovereval.store.models import LedgerHead
from sovereval.store.web_models import User
from sovereval.web import views_panel
from sovereval.web.context import WebContext

log = logging.getLogger("sovereval.web.arena")

MAX_BATCH = 256


@dataclass(frozen=True)
class VoteRequest:
    user: User
    battle_id: int
    vote: arena.VoteInput
    now: datetime


_STOP = object()


class VoteWriter:
    """One writer thread per process; :meth:`submit` returns a future of the battle's view."""

    def __init__(self, ctx: WebContext, *, max_batch: int = MAX_BATCH) -> None:
        self.ctx = ctx
        self.max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._rules: dict[int, ar.ArenaPolicy] = {}
        self.batches = 0
        """Transactions committed (a test can see that votes were grouped)."""

    def submit(self, req: VoteRequest) -> Future[dict[str, Any]]:
        fut: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="sovereval-votes", daemon=True
                )
                self._thread.start()
        self._queue.put((req, fut))
        return fut

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[VoteRequest, Future[dict[str, Any]]]]) -> None:
        bulk = self.max_batch > 1
        try:
            outcomes = self._transaction([req for req, _f in batch], bulk=bulk)
        except Exception:
            if bulk:
                log.warning(
                    "vote batch of %d failed; retrying one by one", len(batch), exc_info=True
                )
                for req, fut in batch:
                    self._one(req, fut)
                return
            log.exception("vote on battle %s failed", batch[0][0].battle_id)
            outcomes = [_failed() for _ in batch]
        self.batches += 1
        for (_req, fut), out in zip(batch, outcomes, strict=True):
            _settle(fut, out)

    def _one(self, req: VoteRequest, fut: Future[dict[str, Any]]) -> None:
        """One vote, one transaction, through ``arena.service.cast_vote`` itself."""
        try:
            (out,) = self._transaction([req], bulk=False)
        except Exception:
            log.exception("vote on battle %s failed", req.battle_id)
            out = _failed()
        self.batches += 1
        _settle(fut, out)

    def _transaction(
        self, reqs: list[VoteRequest], *, bulk: bool
    ) -> list[dict[str, Any] | BaseException]:
        outcomes: list[dict[str, Any] | BaseException] = []
        with self.ctx.write_session() as s:
            # The chain's head lock first: serialises vote transactions across workers.
            s.execute(select(LedgerHead).where(LedgerHead.id == 1).with_for_update())
            keep = _preload(s, [r.battle_id for r in reqs])
            policies: dict[int, ar.ArenaPolicy] = {}
            if bulk:
                outcomes = self._bulk(s, reqs, policies)
            else:
                for req in reqs:
                    try:
                        outcomes.append(self._cast(s, req, policies))
                    except SovereValError as exc:  # refused before any write
                        outcomes.append(exc)
            del keep
        return outcomes

    def _policy(
        self, s: Session, rnd_id: int, policies: dict[int, ar.ArenaPolicy]
    ) -> ar.ArenaPolicy:
        """The round's arena policy, parsed once per rule-set row (``arena.service.round_policy``)."""
        pol = policies.get(rnd_id)
        if pol is None:
            rnd = s.get(m.Round, rnd_id)
            assert rnd is not None
            pol = policies[rnd_id] = arena.round_policy(s, rnd, self._rules)
        return pol

    def _bulk(
        self, s: Session, reqs: list[VoteRequest], policies: dict[int, ar.ArenaPolicy]
    ) -> list[dict[str, Any] | BaseException]:
        outcomes: list[dict[str, Any] | BaseException] = []
        items: list[arena.BatchVote] = []
        slots: list[int] = []
        for req in reqs:
            try:
                battle, panelist = views_panel.own_battle(s, req.user, req.battle_id)
            except SovereValError as exc:
                outcomes.append(exc)
                continue
            pol = self._policy(s, battle.round_id, policies)
            items.append(
                arena.BatchVote(
                    battle, panelist, req.vote, req.now, pol.daily_cap, pol.day_offset_hours
                )
            )
            slots.append(len(outcomes))
            outcomes.append(RuntimeError("undecided"))
        for it, k, res in zip(items, slots, arena.cast_votes(s, items), strict=True):
            outcomes[k] = (
                res
                if isinstance(res, BaseException)
                else views_panel.battle_out(s, it.battle, reqs[k].user, now=it.now, vote=res)
            )
        return outcomes

    def _cast(
        self, s: Session, req: VoteRequest, policies: dict[int, ar.ArenaPolicy]
    ) -> dict[str, Any]:
        battle, panelist = views_panel.own_battle(s, req.user, req.battle_id)
        pol = self._policy(s, battle.round_id, policies)
        row = arena.cast_vote(
            s,
            battle,
            panelist,
            req.vote,
            daily_cap=pol.daily_cap,
            day_offset_hours=pol.day_offset_hours,
            now=req.now,
        )
        return views_panel.battle_out(s, battle, req.user, now=req.now, vote=row)


def _failed() -> BaseException:
    return RuntimeError("the vote could not be stored; nothing was recorded, retry")


def _settle(fut: Future[dict[str, Any]], out: dict[str, Any] | BaseException) -> None:
    if isinstance(out, BaseException):
        fut.set_exception(out)
    else:
        fut.set_result(out)


def _preload(s: Session, battle_ids: list[int]) -> list[object]:
    """Load the batch's battles with their panelists and rounds, and the rounds' rosters with
    submissions and teams (for the reveal), in two queries, and hold them: the session's
    identity map keeps unmodified objects only weakly, so without these references every vote
    would fetch the same few roster rows again."""
    rows = s.execute(
        select(em.Battle, em.Panelist, m.Round)
        .join(em.Panelist, em.Panelist.id == em.Battle.panelist_id)
        .join(m.Round, m.Round.id == em.Battle.round_id)
        .where(em.Battle.id.in_(battle_ids))
    ).all()
    if not rows:
        return []
    round_ids = {r[2].id for r in rows}
    roster = s.execute(
        select(em.ArenaModel, m.Submission, m.Consortium)
        .join(m.Submission, m.Submission.id == em.ArenaModel.submission_id)
        .join(m.Consortium, m.Consortium.id == m.Submission.consortium_id)
        .where(em.ArenaModel.round_id.in_(round_ids))
    ).all()
    return [x for r in (*rows, *roster) for x in r]


def count_votes(s: Session, round_id: int | None = None) -> int:
    """Votes stored (for the load benchmark's lost-vote check and the tests)."""
    from sqlalchemy import func

    q = select(func.count(em.Vote.id))
    if round_id is not None:
        q = q.join(em.Battle, em.Battle.id == em.Vote.battle_id).where(
            em.Battle.round_id == round_id
        )
    return int(s.execute(q).scalar_one())
