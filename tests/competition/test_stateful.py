"""Stateful property test: random command sequences over the competition services.

A ``hypothesis.stateful.RuleBasedStateMachine`` drives register, submit, withdraw, open, close,
score, publish, appeal, decide, wild card, provenance result and republish, with random times
(including attempts to act in the past) and random actors. After every step it checks:

1. at most one active submission per team per round;
2. published totals and decisions equal a recompute from the recorded inputs, unless the
   round is reported stale, which happens only after an input changed after publication;
3. no status (round, submission, consortium, appeal, call) changes without its own event, and a
   refused command changes nothing and writes no event;
4. every successful command writes exactly the events it should, and the chain verifies;
5. ledger times never run backwards;
6. no command ends with anything but one of sovereval's own errors (no traceback).

Size: ``SOVEREVAL_STATEFUL_EXAMPLES`` sequences in total (default 200, split 4:1 between SQLite
and PostgreSQL) of up to ``SOVEREVAL_STATEFUL_STEPS`` steps after set-up (default 15; about
2.5 minutes on two shared cores). Nightly: ``SOVEREVAL_STATEFUL_EXAMPLES=5000
SOVEREVAL_STATEFUL_STEPS=50``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.errors import SovereValError
from sovereval.ledger.log import backwards_runs, iter_events, verify_store
from sovereval.store import models as m
from sovereval.store.db import Store, make_engine, upgrade
from tests.conftest import PG_ADMIN, T0, _pg_admin_conn

EXAMPLES = int(os.environ.get("SOVEREVAL_STATEFUL_EXAMPLES", "200"))
STEPS = int(os.environ.get("SOVEREVAL_STATEFUL_STEPS", "15"))
TEAMS = ("A", "B", "C", "D")  # D starts as an applicant
ACTORS = ("admin", "A", "B", "C", "D", "e1", "e2", "e3")
PARTS = ("government", "common", "team", "expert", "user", "expret")
DAY = timedelta(days=1)

StoreFactory = Callable[[], tuple[Store, Callable[[], None]]]


def _snapshot(s: Session) -> dict[str, Any]:
    """Every lifecycle status in the database."""
    return {
        "round": {r.number: r.status for r in s.execute(select(m.Round)).scalars()},
        "sub": {x.id: x.status for x in s.execute(select(m.Submission)).scalars()},
        "team": {c.name: c.status for c in s.execute(select(m.Consortium)).scalars()},
        "appeal": {a.id: a.status for a in s.execute(select(m.Appeal)).scalars()},
        "call": {c.id: c.status for c in s.execute(select(m.WildcardCall)).scalars()},
        "results": s.execute(select(func.count(m.Result.id))).scalar_one(),
        "cards": s.execute(select(func.count(m.Scorecard.id))).scalar_one(),
    }


class Competition(RuleBasedStateMachine):
    factory: StoreFactory

    def __init__(self) -> None:
        super().__init__()
        self.store, self._cleanup = type(self).factory()
        self.now = T0
        self.last_at = T0
        """Time of the latest ledger event."""
        self.dirty: set[int] = set()
        """Rounds whose inputs changed after their latest publication."""
        self.expected_events: int | None = None
        self.new_events: list[tuple[str, str]] = []
        self.last_ok = True

    def teardown(self) -> None:
        self._cleanup()

    # -- plumbing --------------------------------------------------------------------------------

    def _head(self, s: Session) -> int:
        return s.execute(select(func.count(m.LedgerEvent.seq))).scalar_one()

    def act(self, fn: Callable[[Session], int | None], dt: timedelta = timedelta(0)) -> bool:
        """Run one command at ``now + dt``; check that a refusal changed nothing."""
        at = self.now + dt
        with self.store.session() as s:
            before, head = _snapshot(s), self._head(s)
        ok = True
        expected: int | None = None
        try:
            with self.store.session() as s:
                self._at = at
                expected = fn(s)
        except SovereValError:
            ok = False
        with self.store.session() as s:
            after = _snapshot(s)
            events = [(e.kind, e.payload) for e in iter_events(s) if e.seq > head]
        self.new_events = events
        if not ok:
            assert after == before, "a refused command changed state"
            assert events == [], "a refused command wrote an event"
        else:
            assert events, "a command that succeeded wrote no event"
            if expected is not None:
                assert len(events) == expected, (expected, [k for k, _ in events])
            self.now = max(self.now, at)
            self.last_at = max(self.last_at, at)
            self._check_status_events(before, after, events)
        return ok

    def _check_status_events(
        self, before: dict[str, Any], after: dict[str, Any], events: list[tuple[str, str]]
    ) -> None:
        kinds = {k for k, _ in events}
        text = " ".join(p for _, p in events)
        for team, st_ in after["team"].items():
            old = before["team"].get(team)
            if old is not None and old != st_:
                assert kinds & {"results.published", "wildcard.decided"}, (team, old, st_)
                assert f'"{team}"' in text, (team, old, st_, kinds)
        for sid, st_ in after["sub"].items():
            old = before["sub"].get(sid)
            if old is not None and old != st_:
                want = "submission.withdrawn" if st_ == "withdrawn" else "results.published"
                assert want in kinds, (sid, old, st_)
        for num, st_ in after["round"].items():
            old = before["round"].get(num)
            if old is not None and old != st_:
                assert kinds & {
                    "round.opened",
                    "round.closed",
                    "round.reopened",
                    "results.published",
                }

    def _round(self, s: Session, number: int) -> m.Round:
        return svc.get_round(s, svc.get_programme(s, "P"), number)

    def _team(self, s: Session, name: str) -> m.Consortium:
        return svc.get_consortium(s, svc.get_programme(s, "P"), name)

    # -- set-up ------------------------------------------------------------------------------------

    @initialize(
        opened=st.sampled_from((True, True, True, False)),
        initial=st.sets(st.sampled_from(("A", "B", "C")), min_size=1),
        seed=st.integers(0, 9),
    )
    def programme(self, opened: bool, initial: set[str], seed: int) -> None:
        """Programme P, four teams (D an applicant), rounds 1 and 2 under the Phase-1 rules;
        round 1 possibly open with some teams' complete results recorded."""
        with self.store.session() as s:
            p = svc.create_programme(s, "P", "", actor="admin", now=T0)
            for t in TEAMS:
                svc.add_consortium(
                    s, p, t, t, [], status="applicant" if t == "D" else "selected",
                    actor="admin", now=T0,
                )  # fmt: skip
            row = svc.create_ruleset(s, p, default_ruleset(), actor="admin", now=T0)
            svc.publish_ruleset(s, row, actor="admin", now=T0)
            for n, start in ((1, T0 + DAY), (2, T0 + 40 * DAY)):
                svc.create_round(
                    s, p, n, opens_at=start, closes_at=start + 30 * DAY, advance_slots=2,
                    ruleset=row, actor="admin", now=T0,
                )  # fmt: skip
        self.now = T0 + DAY
        if not opened:
            return
        self.last_at = self.now
        with self.store.session() as s:
            svc.open_round(s, self._round(s, 1), actor="admin", now=self.now)
            for team in sorted(initial):
                svc.register_submission(
                    s, self._round(s, 1), self._team(s, team), f"{team}-1", artefact="s3://m",
                    components=[{"name": "decoder", "kind": "text"}], actor=team, now=self.now,
                )  # fmt: skip
        for team in sorted(initial):
            self._full_results(team, 1, (seed + ord(team)) % 10 / 10)

    def _full_results(self, team: str, number: int, level: float) -> bool:
        def go(s: Session) -> int:
            sub = svc.submission_of(s, self._round(s, number), self._team(s, team))
            for part in ("government", "common", "team", "user"):
                svc.record_result(
                    s, sub, part, Measurement(level, max(0.0, level - 0.05), min(1.0, level + 0.05)),
                    actor="admin", now=self._at,
                )  # fmt: skip
            svc.record_result(
                s,
                sub,
                "team",
                Measurement.exact(0.9),
                subject="target",
                actor="admin",
                now=self._at,
            )
            x = 1 + 9 * level
            svc.record_result(
                s, sub, "expert", Measurement(x, max(1.0, x - 0.5), min(10.0, x + 0.5)),
                actor="admin", now=self._at,
            )  # fmt: skip
            return 6

        return self.act(go)

    @rule(team=st.sampled_from(TEAMS), number=st.sampled_from((1, 2)), level=st.floats(0, 1))
    def complete_results(self, team: str, number: int, level: float) -> None:
        self._full_results(team, number, level)

    # -- rules -------------------------------------------------------------------------------------

    @rule(days=st.integers(0, 8), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @rule(team=st.sampled_from(TEAMS), days=st.integers(1, 30))
    def backdated_command_is_refused(self, team: str, days: int) -> None:
        with self.store.session() as s:
            has_events = self._head(s) > 0
        ok = self.act(
            lambda s: (
                svc.add_consortium(
                    s, svc.get_programme(s, "P"), f"late-{uuid.uuid4().hex[:6]}", team, [],
                    actor="admin", now=self._at,
                ),
                1,
            )[1],
            dt=(self.last_at - self.now) - timedelta(days=days),
        )  # fmt: skip
        assert not (ok and has_events), "an event timed before the previous one was accepted"

    @rule(number=st.sampled_from((1, 2)), actor=st.sampled_from(ACTORS))
    def open_round(self, number: int, actor: str) -> None:
        self.act(
            lambda s: (svc.open_round(s, self._round(s, number), actor=actor, now=self._at), 1)[1]
        )

    @rule(number=st.sampled_from((1, 2)))
    def close_round(self, number: int) -> None:
        self.act(
            lambda s: (svc.close_round(s, self._round(s, number), actor="admin", now=self._at), 1)[
                1
            ]
        )

    @rule(team=st.sampled_from(TEAMS), number=st.sampled_from((1, 2)), supersede=st.booleans())
    def submit(self, team: str, number: int, supersede: bool) -> None:
        def go(s: Session) -> int:
            rnd, c = self._round(s, number), self._team(s, team)
            cur = svc.active_submission(s, rnd, c)
            svc.register_submission(
                s, rnd, c, f"{team}-{uuid.uuid4().hex[:6]}", artefact="s3://m",
                components=[{"name": "decoder", "kind": "text"}],
                supersedes=cur.id if (supersede and cur) else None, actor=team, now=self._at,
            )  # fmt: skip
            return 2 if (supersede and cur) else 1

        self.act(go)

    @rule(team=st.sampled_from(TEAMS), number=st.sampled_from((1, 2)))
    def withdraw(self, team: str, number: int) -> None:
        def go(s: Session) -> int:
            sub = svc.submission_of(s, self._round(s, number), self._team(s, team))
            svc.withdraw_submission(s, sub, reason="replace", actor=team, now=self._at)
            return 1

        self.act(go)

    @rule(
        team=st.sampled_from(TEAMS),
        number=st.sampled_from((1, 2)),
        part=st.sampled_from(PARTS),
        value=st.floats(-0.2, 1.2, allow_nan=False),
        width=st.floats(-0.05, 0.1, allow_nan=False),
        vs_target=st.booleans(),
    )
    def record(
        self, team: str, number: int, part: str, value: float, width: float, vs_target: bool
    ) -> None:
        def go(s: Session) -> int:
            sub = svc.submission_of(s, self._round(s, number), self._team(s, team))
            scale = 10.0 if part == "expert" else 1.0
            v = Measurement(value * scale, (value - width) * scale, (value + width) * scale)
            svc.record_result(
                s, sub, part, v, subject="target" if vs_target and part == "team" else "model",
                actor="admin", now=self._at,
            )  # fmt: skip
            return 1

        self.act(go)

    @rule(number=st.sampled_from((1, 2)))
    def compute(self, number: int) -> None:
        self.act(
            lambda s: (
                rs.compute_scorecard(s, self._round(s, number), actor="admin", now=self._at),
                1,
            )[1]
        )

    @rule(number=st.sampled_from((1, 2)))
    def publish(self, number: int) -> None:
        if self.act(
            lambda s: (
                rs.publish_results(s, self._round(s, number), actor="admin", now=self._at),
                1,
            )[1]
        ):
            with self.store.session() as s:
                card = rs.latest_scorecard(s, self._round(s, number))
                assert card is not None and card.published
            self.dirty.discard(number)

    @rule(number=st.sampled_from((1, 2)), days=st.integers(-2, 10), reason=st.booleans())
    def reopen(self, number: int, days: int, reason: bool) -> None:
        def go(s: Session) -> int:
            svc.reopen_round(
                s, self._round(s, number), rationale="Upload service failed." if reason else "",
                closes_at=self._at + days * DAY, actor="admin", now=self._at,
            )  # fmt: skip
            return 1

        self.act(go)

    @rule(number=st.sampled_from((1, 2)), days=st.integers(0, 3))
    def conclude(self, number: int, days: int) -> None:
        """Close, score and publish in a row (each its own command, each checked)."""
        self.close_round(number)
        self.now += timedelta(days=days)
        self.compute(number)
        self.publish(number)

    @rule(team=st.sampled_from(TEAMS), number=st.sampled_from((1, 2)), failed=st.booleans())
    def provenance(self, team: str, number: int, failed: bool) -> None:
        def go(s: Session) -> int:
            sub = svc.submission_of(s, self._round(s, number), self._team(s, team))
            svc.record_provenance(
                s, sub, reference="ref", verdict="derived" if failed else "independent",
                gate_failed=failed, reason="r", report={}, actor="admin", now=self._at,
            )  # fmt: skip
            return 1

        if self.act(go) and failed:
            self.dirty.add(number)

    @rule(team=st.sampled_from(TEAMS), number=st.sampled_from((1, 2)))
    def appeal(self, team: str, number: int) -> None:
        def go(s: Session) -> int:
            rs.file_appeal(
                s, self._round(s, number), self._team(s, team), "grading error", actor=team,
                now=self._at,
            )  # fmt: skip
            return 1

        self.act(go)

    @rule(
        pick=st.integers(0, 5),
        upheld=st.booleans(),
        change=st.booleans(),
        value=st.floats(0.0, 1.0, allow_nan=False),
        other=st.booleans(),
    )
    def decide(self, pick: int, upheld: bool, change: bool, value: float, other: bool) -> None:
        def go(s: Session) -> int:
            appeals = s.execute(select(m.Appeal).order_by(m.Appeal.id)).scalars().all()
            if not appeals:
                raise SovereValError("no appeal")
            a = appeals[pick % len(appeals)]
            subs = (
                s.execute(
                    select(m.Submission).where(
                        m.Submission.round_id == a.round_id, m.Submission.status != "withdrawn"
                    )
                )
                .scalars()
                .all()
            )
            own = [x for x in subs if x.consortium_id == a.consortium_id]
            pool = subs if other else own
            changes = (
                [(pool[0].id, "common", Measurement(value, max(0.0, value - 0.01), min(1.0, value + 0.01)))]
                if change and pool
                else []
            )  # fmt: skip
            card = rs.decide_appeal(
                s, a, upheld=upheld, resolution="Decided after review.", score_changes=changes,
                other_teams=other, actor="admin", now=self._at,
            )  # fmt: skip
            if card is not None:
                decided.append(a.round_id)
            return 1 if card is None else 1 + len(changes) + 2

        decided: list[int] = []
        if self.act(go) and decided:
            with self.store.session() as s:
                r = s.get(m.Round, decided[0])
                assert r is not None
                self.dirty.discard(r.number)

    @rule(days=st.integers(1, 10))
    def wildcard_open(self, days: int) -> None:
        def go(s: Session) -> int:
            sup.open_wildcard_call(
                s, svc.get_programme(s, "P"), self._round(s, 2),
                eligible_kinds=["eliminated", "earlier_applicant", "new"],
                panel=["e1", "e2", "e3"], opens_at=self._at, closes_at=self._at + days * DAY,
                actor="admin", now=self._at,
            )  # fmt: skip
            return 1

        self.act(go)

    def _call(self, s: Session) -> m.WildcardCall:
        call = (
            s.execute(select(m.WildcardCall).order_by(m.WildcardCall.id.desc())).scalars().first()
        )
        if call is None:
            raise SovereValError("no call")
        return call

    @rule(team=st.sampled_from(TEAMS))
    def wildcard_apply(self, team: str) -> None:
        def go(s: Session) -> int:
            sup.apply_wildcard(
                s, self._call(s), self._team(s, team), actor=team, now=self._at,
                kind="earlier_applicant",
            )  # fmt: skip
            return 1

        self.act(go)

    @rule(expert=st.sampled_from(("e1", "e2", "e3", "A")), pick=st.integers(0, 3), ok=st.booleans())
    def wildcard_vote(self, expert: str, pick: int, ok: bool) -> None:
        def go(s: Session) -> int:
            apps = (
                s.execute(
                    select(m.WildcardApplication).where(
                        m.WildcardApplication.call_id == self._call(s).id
                    )
                )
                .scalars()
                .all()
            )
            if not apps:
                raise SovereValError("no application")
            sup.vote_wildcard(s, apps[pick % len(apps)], expert, ok, now=self._at)
            return 1

        self.act(go)

    @rule()
    def wildcard_decide(self) -> None:
        self.act(
            lambda s: (sup.decide_wildcard(s, self._call(s), actor="admin", now=self._at), None)[1]
        )

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def one_active_submission_per_team_per_round(self) -> None:
        with self.store.session() as s:
            rows = s.execute(
                select(m.Submission.round_id, m.Submission.consortium_id, func.count())
                .where(m.Submission.status != "withdrawn")
                .group_by(m.Submission.round_id, m.Submission.consortium_id)
            ).all()
            assert all(n == 1 for _, _, n in rows), rows

    @invariant()
    def published_results_follow_from_inputs_or_are_stale(self) -> None:
        with self.store.session() as s:
            for rnd in s.execute(select(m.Round).where(m.Round.status == "published")).scalars():
                stale = rs.results_staleness(s, rnd)
                if rnd.number not in self.dirty:
                    assert stale == [], (rnd.number, stale)

    @invariant()
    def chain_verifies_and_times_are_monotonic(self) -> None:
        with self.store.session() as s:
            assert verify_store(s).ok
            assert backwards_runs(iter_events(s)) == []


def _sqlite_factory(tmp: Path) -> StoreFactory:
    template = tmp / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    upgrade(engine)
    engine.dispose()

    def make() -> tuple[Store, Callable[[], None]]:
        path = tmp / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, path)
        store = Store(f"sqlite:///{path}", migrate=False)

        def cleanup() -> None:
            store.dispose()
            path.unlink(missing_ok=True)

        return store, cleanup

    return make


def _pg_factory(template: str) -> StoreFactory:
    def make() -> tuple[Store, Callable[[], None]]:
        name = f"sovereval_sm_{uuid.uuid4().hex[:12]}"
        conn = _pg_admin_conn()
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        store = Store(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, migrate=False)

        def cleanup() -> None:
            store.dispose()
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()

        return store, cleanup

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StoreFactory, int]]:
    if request.param == "sqlite":
        yield _sqlite_factory(tmp_path), EXAMPLES - EXAMPLES // 5
    else:
        yield _pg_factory(request.getfixturevalue("pg_template")), EXAMPLES // 5


def test_no_command_sequence_corrupts_a_round(factory: tuple[StoreFactory, int]) -> None:
    make, examples = factory
    machine = type("CompetitionRun", (Competition,), {"factory": staticmethod(make)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
