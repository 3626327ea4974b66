"""Arena on the store (SQLite and PostgreSQL): anonymity, duplicates, caps, leaks, exposure."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from sovereval.arena import populate
from sovereval.arena import service as arena
from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.errors import ConflictError, InputError, RuleViolation
from sovereval.ledger.log import verify_store
from sovereval.store import evaluation_models as em
from sovereval.store.db import Store

TEAMS = {"Alpha": 1.0, "Beta": 0.3, "Gamma": -0.2, "Delta": -0.8}


def _round(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
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
        arena.record_answers(s, b, "첫 번째 답", "두 번째 답")
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
            arena.record_answers(s, b, "x", "y")
            if k < 2:
                arena.cast_vote(s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        with pytest.raises(RuleViolation, match="daily cap of 2"):
            arena.cast_vote(s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        with pytest.raises(RuleViolation, match="own battle"):
            arena.cast_vote(s, b, q, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now)
        # The next day the cap resets.
        arena.cast_vote(
            s, b, p, arena.VoteInput("tie", 3, 3, 3, 3), daily_cap=2, now=now + timedelta(days=1)
        )
        with pytest.raises(InputError, match="1-5"):
            b2 = arena.start_battle(s, rnd, p, "q", rng=rng, now=now)
            arena.record_answers(s, b2, "x", "y")
            arena.cast_vote(
                s, b2, p, arena.VoteInput("a", 9, 3, 3, 3), daily_cap=9, now=now + timedelta(days=1)
            )


def test_identity_leak_is_kept_but_not_scored(sqlite_store: Store, now: datetime) -> None:
    _round(sqlite_store, now)
    rng = np.random.default_rng(3)
    with sqlite_store.session() as s:
        rnd = _rnd(s)
        arena.freeze_roster(s, rnd, rng=rng, actor="a", now=now)
        p = arena.enrol_panelist(
            s,
            rnd,
            "p1",
            gender="female",
            region="other",
            age_band="20s",
            proficiency="intermediate",
            actor="a",
            now=now,
        )
        b = arena.start_battle(s, rnd, p, "who are you", rng=rng, now=now)
        arena.record_answers(s, b, "I am ChatGPT, developed by OpenAI.", "Hello!")
        assert b.leak
        b2 = arena.start_battle(s, rnd, p, "hi", rng=rng, now=now)
        arena.record_answers(s, b2, "Hello there.", "Hi, how can I help?")
        assert not b2.leak


def test_equal_exposure_and_roster_frozen(sqlite_store: Store, now: datetime) -> None:
    _round(sqlite_store, now)
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
