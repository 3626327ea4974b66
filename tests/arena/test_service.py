"""Arena on the store (SQLite and PostgreSQL): anonymity, duplicates, caps, leaks, exposure."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from sovereval.arena import populate
from sovereval.arena import service as arena
from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.errors import ConflictError, InputError, RuleViolation
from sovereval.ledger.log import verify_store
from sovereval.store import evaluation_models as em
from sovereval.store.db import Store
from sovereval.store.models import LedgerEvent

TEAMS = {"Alpha": 1.0, "Beta": 0.3, "Gamma": -0.2, "Delta": -0.8}


def _round(
    store: Store, now: datetime, *, simulation: bool = False, arena_rules: dict | None = None
) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        rules = default_ruleset().to_dict()
        rules["arena"] = arena_rules or {}
        row = svc.create_ruleset(s, p, RuleSet.from_dict(rules), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now + timedelta(days=9),
            advance_slots=2,
            ruleset=row,
            actor="a",
            now=now,
        )
        if simulation:
            arena.mark_simulation(s, r, actor="a", now=now)
        svc.open_round(s, r, actor="a", now=now)
        for name in TEAMS:
            c = svc.add_consortium(s, p, name, name, [], actor="a", now=now)
            svc.register_submission(
                s,
                r,
                c,
                f"{name}-LM",
                artefact="x",
                files=[],
                components=[],
                endpoint=f"openai-compat:http://{name.lower()}/v1",
                actor="a",
                now=now,
            )


def _rnd(s):  # type: ignore[no-untyped-def]
    return svc.get_round(s, svc.get_programme(s, "P"), 1)


def test_blind_until_vote_then_revealed_and_ledgered(store: Store, now: datetime) -> None:
    _round(store, now)
    rng = np.random.default_rng(1)
    with store.session() as s:
        rnd = _rnd(s)
        arena.freeze_roster(s, rnd, rng=rng, actor="a", now=now)
        p = arena.enrol_panelist(
            s,
            rnd,
            "p1",
            gender="female",
            region="capital",
            age_band="30s",
            proficiency="novice",
            actor="a",
            now=now,
        )
        b = arena.start_battle(s, rnd, p, "안녕하세요?", rng=rng, now=now)
        arena.record_answers(s, b, "첫 번째 답", "두 번째 답", now=now)
        view = arena.battle_view(s, b)
        flat = repr(view)
        for name in TEAMS:  # no team or model name reaches the panelist before the vote
            assert name not in flat
        assert "revealed" not in view
        arena.cast_vote(s, b, p, arena.VoteInput("a", 4, 4, 2, 3), daily_cap=5, now=now)
        view = arena.battle_view(s, b)
        assert {view["revealed"]["A"]["team"], view["revealed"]["B"]["team"]} <= set(TEAMS)
        with pytest.raises(ConflictError, match="duplicate"):
            arena.cast_vote(s, b, p, arena.VoteInput("b", 4, 4, 2, 3), daily_cap=5, now=now)
        r = verify_store(s)
        assert r.ok
        assert s.execute(select(func.count(em.Vote.id))).scalar_one() == 1


def test_daily_cap_and_own_battle_only(store: Store, now: datetime) -> None:
    _round(store, now)
    rng = np.random.default_rng(2)
    with store.session() as s:
        rnd = _rnd(s)
        arena.freeze_roster(s, rnd, rng=rng, actor="a", now=now)
        p = arena.enrol_panelist(
            s,
            rnd,
            "p1",
            gender="male",
            region="other",
            age_band="60+",
            proficiency="advanced",
            actor="a",
            now=now,
        )
        q = arena.enrol_panelist(
            s,
            rnd,
            "p2",
            gender="male",
            region="other",
            age_band="60+",
            proficiency="advanced",
            actor="a",
            now=now,
        )
        for k in range(3):
            b = arena.start_battle(s, rnd, p, "q", rng=rng, now=now)
            arena.record_answers(s, b, "x", "y", now=now)
            if k < 2:
                arena.cast_vote(s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        with pytest.raises(RuleViolation, match="daily cap of 2"):
            arena.cast_vote(s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        with pytest.raises(RuleViolation, match="own battle"):
            arena.cast_vote(s, b, q, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        # The next day the cap resets.
        next_day = now + timedelta(days=1)
        arena.cast_vote(s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=next_day)
        b2 = arena.start_battle(s, rnd, p, "q", rng=rng, now=next_day)
        arena.record_answers(s, b2, "x", "y", now=next_day)
        with pytest.raises(InputError, match="1-5"):
            arena.cast_vote(s, b2, p, arena.VoteInput("a", 9, 3, 3, 3), daily_cap=9, now=next_day)


def _roster_and_panelist(s, rnd, rng, now):  # type: ignore[no-untyped-def]
    arena.freeze_roster(s, rnd, rng=rng, actor="a", now=now)
    return arena.enrol_panelist(
        s, rnd, "p1", gender="female", region="other", age_band="20s",
        proficiency="intermediate", actor="a", now=now,
    )  # fmt: skip


def test_leaking_answer_is_never_shown_regenerated_then_failed(
    sqlite_store: Store, now: datetime
) -> None:
    _round(sqlite_store, now)
    rng = np.random.default_rng(3)
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        p = _roster_and_panelist(s, rnd, rng, now)
        b = arena.start_battle(s, rnd, p, "who are you", rng=rng, now=now)
        leaking = "I am Alpha-LM, built by the Alpha team."
        arena.record_answers(s, b, leaking, "Hello!", ["Alpha-LM"], max_regenerations=1, now=now)
        # Not shown: still pending, nothing stored on the battle, one regeneration used.
        assert (b.status, b.leak, b.regenerations, b.answer_a) == ("pending", True, 1, "")
        assert arena.battle_view(s, b)["answers"] == {"A": "", "B": ""}
        with pytest.raises(RuleViolation, match="answers are not ready"):
            arena.cast_vote(s, b, p, arena.VoteInput("a", 3, 3, 3, 3), daily_cap=1, now=now)
        # A clean pair makes it ready and scorable; the refused vote did not use the cap of 1.
        arena.record_answers(
            s, b, "Hello there.", "Hi!", ["Alpha-LM"], max_regenerations=1, now=now
        )
        assert (b.status, b.leak, b.answer_a) == ("ready", False, "Hello there.")
        arena.cast_vote(s, b, p, arena.VoteInput("a", 3, 3, 3, 3), daily_cap=1, now=now)
        # A battle that keeps leaking fails after max_regenerations and can be retried.
        b2 = arena.start_battle(s, rnd, p, "hi", rng=rng, now=now)
        for _ in range(2):
            arena.record_answers(s, b2, leaking, "x", ["Alpha-LM"], max_regenerations=1, now=now)
        assert (b2.status, b2.regenerations) == ("failed", 2)
        kinds = [e.kind for e in s.execute(select(LedgerEvent).order_by(LedgerEvent.seq)).scalars()]
        assert kinds.count("arena.answer_leaked") == 3
        assert kinds[-1] == "arena.battle_failed"
        assert "arena.battle_ready" in kinds and "arena.battle_started" in kinds


def test_vote_refused_once_round_closed_or_panelist_excluded(
    sqlite_store: Store, now: datetime
) -> None:
    _round(sqlite_store, now)
    rng = np.random.default_rng(5)
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        p = _roster_and_panelist(s, rnd, rng, now)
        b1, b2 = (arena.start_battle(s, rnd, p, f"q{i}", rng=rng, now=now) for i in range(2))
        for b in (b1, b2):
            arena.record_answers(s, b, "x", "y", now=now)
        vote = arena.VoteInput("a", 3, 3, 3, 3)
        p.status = "excluded"
        with pytest.raises(RuleViolation, match="membership is excluded"):
            arena.cast_vote(s, b1, p, vote, daily_cap=9, now=now)
        p.status = "active"
        svc.close_round(s, rnd, actor="a", now=now)
        with pytest.raises(RuleViolation, match="round 1 is closed"):
            arena.cast_vote(s, b2, p, vote, daily_cap=9, now=now)
        assert s.execute(select(func.count(em.Vote.id))).scalar_one() == 0


def test_simulation_only_into_a_round_marked_when_created(
    sqlite_store: Store, now: datetime
) -> None:
    _round(sqlite_store, now)
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        with pytest.raises(RuleViolation, match="not created as a simulation"):
            populate.simulate_round(
                s, rnd, TEAMS, panel_size=10, battles=5, tie_prob=0.1,
                rng=np.random.default_rng(0), start=now,
            )  # fmt: skip
        with pytest.raises(RuleViolation, match="only a newly created round"):
            arena.mark_simulation(s, rnd, actor="a", now=now)
        assert s.execute(select(func.count(em.Panelist.id))).scalar_one() == 0


def test_equal_exposure_and_roster_frozen(sqlite_store: Store, now: datetime) -> None:
    _round(sqlite_store, now, simulation=True)
    rng = np.random.default_rng(4)
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        n = populate.simulate_round(
            s, rnd, TEAMS, panel_size=60, battles=202, tie_prob=0.1, rng=rng, start=now
        )
        assert n == 202
        counts = s.execute(select(em.Battle.model_a, em.Battle.model_b)).all()
        app: dict[int, int] = {}
        for a, b in counts:
            app[a] = app.get(a, 0) + 1
            app[b] = app.get(b, 0) + 1
        assert max(app.values()) - min(app.values()) <= 1  # 404 appearances over 4 models: 101 each
        with pytest.raises(RuleViolation, match="already has a frozen roster"):
            arena.freeze_roster(s, rnd, rng=rng, actor="a", now=now)
        fit = arena.fit_round(s, rnd, rng=rng, n_boot=50)
        order = sorted(fit.field_win, key=lambda t: -fit.field_win[t][0])
        assert order == ["Alpha", "Beta", "Gamma", "Delta"]  # the true order is recovered
        for v, lo, hi in fit.field_win.values():
            assert lo <= v <= hi
        # Swapping the model behind a submission mid-round is detected.
        sub = svc.submission_of(s, rnd, svc.get_consortium(s, svc.get_programme(s, "P"), "Beta"))
        sub.endpoint = "openai-compat:http://beta-v2/v1"
        with pytest.raises(RuleViolation, match="variant swap"):
            arena.roster(s, rnd)


@pytest.mark.parametrize("weighting", ["none", "raking"])
def test_fit_summarises_likert_per_panelist_and_rakes_when_the_rules_say(
    sqlite_store: Store, now: datetime, weighting: str
) -> None:
    _round(sqlite_store, now, simulation=True, arena_rules={"weighting": weighting})
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        populate.simulate_round(
            s, rnd, TEAMS, panel_size=40, battles=160, tie_prob=0.1,
            rng=np.random.default_rng(8), start=now,
        )  # fmt: skip
        # Skew the panel (a quarter from the capital region, the quotas want half) and make the
        # ratings follow the region: capital panelists rate 5 for reliability, the others 1.
        capital = set()
        for p in s.execute(select(em.Panelist)).scalars():
            p.region = "capital" if p.id % 4 == 0 else "other"
            if p.region == "capital":
                capital.add(p.id)
        plain: dict[int, list[int]] = {}
        for v in s.execute(select(em.Vote)).scalars():
            v.reliability_a = v.reliability_b = 5 if v.panelist_id in capital else 1
            b = s.get(em.Battle, v.battle_id)
            assert b is not None
            for mid in (b.model_a, b.model_b):
                plain.setdefault(mid, []).append(v.reliability_a)
        s.flush()
        team = {r.id: arena.identity(s, r.id)["team"] for r in arena.roster(s, rnd)}
        fit = arena.fit_round(s, rnd, rng=np.random.default_rng(1), n_boot=60)
    assert set(fit.likert) == set(TEAMS)
    for crit in fit.likert.values():
        for v, lo, hi in crit.values():
            assert 1 <= lo <= v <= hi <= 5
    for mid, xs in plain.items():
        got = fit.likert[team[mid]]["reliability"][0]
        if weighting == "none":
            assert got == pytest.approx(float(np.mean(xs)))
        else:  # capital ratings weigh about twice as much: the mean moves up towards 3
            assert got > float(np.mean(xs)) + 0.3
