"""The service layer on both databases: rows and ledger events in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.errors import ConflictError, DeadlinePassedError, RuleViolation
from sovereval.ledger.log import verify_store
from sovereval.store import models as m
from sovereval.store.db import Store

ADMIN = "admin"


def _setup(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "test", actor=ADMIN, now=now)
        for name in ("A", "B", "C"):
            svc.add_consortium(s, p, name, f"{name} Corp", [f"{name} Univ"], actor=ADMIN, now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor=ADMIN, now=now)
        svc.publish_ruleset(s, row, actor=ADMIN, now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now + timedelta(days=30),
            advance_slots=2,
            ruleset=row,
            actor=ADMIN,
            now=now,
        )
        svc.open_round(s, r, actor=ADMIN, now=now)
        for i, name in enumerate(("A", "B", "C")):
            c = svc.get_consortium(s, p, name)
            sub = svc.register_submission(
                s,
                r,
                c,
                f"{name}-model",
                artefact="s3://x",
                files=[],
                components=[{"name": "decoder", "kind": "text"}],
                actor=name,
                now=now,
            )
            v = 0.8 - 0.1 * i
            for part in ("government", "common", "team"):
                svc.record_result(
                    s, sub, part, Measurement(v, v - 0.02, v + 0.02), actor=ADMIN, now=now
                )
            svc.record_result(
                s, sub, "team", Measurement.exact(0.8), subject="target", actor=ADMIN, now=now
            )
            svc.record_result(
                s, sub, "expert", Measurement(8 - i, 7.5 - i, 8.5 - i), actor=ADMIN, now=now
            )
            svc.record_result(
                s,
                sub,
                "user",
                Measurement(0.6 - 0.1 * i, 0.55 - 0.1 * i, 0.65 - 0.1 * i),
                actor=ADMIN,
                now=now,
            )


def test_full_round_and_ledger(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        r = svc.get_round(s, p, 1)
        svc.close_round(s, r, actor=ADMIN, now=now + timedelta(days=31))
        rs.compute_scorecard(s, r, actor=ADMIN, now=now + timedelta(days=32))
        card = rs.publish_results(s, r, actor=ADMIN, now=now + timedelta(days=32))
        ranks = {t["team"]: (t["rank"], t["decision"]) for t in card.content["teams"]}
        # Default rules eliminate the lowest eligible team: C.
        assert ranks == {"A": (1, "advance"), "B": (2, "advance"), "C": (3, "eliminate")}
        assert svc.get_consortium(s, p, "C").status == "eliminated"
        assert card.content["rules"]["amended"] is False
        r = verify_store(s)
        assert r.ok and r.count > 20


def test_rules_frozen_amendment_needs_rationale_and_is_flagged(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        row = svc.get_ruleset(s, r.ruleset_id)
        assert row.status == "frozen"
        new = RuleSet.from_dict({**default_ruleset().to_dict(), "appeal_window_days": 7})
        with pytest.raises(RuleViolation, match="rationale"):
            svc.amend_rules(s, r, new, rationale="", actor=ADMIN, now=now)
        with pytest.raises(RuleViolation, match="only a draft"):
            svc.publish_ruleset(s, row, actor=ADMIN, now=now)
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        amended = svc.amend_rules(
            s,
            r,
            new,
            rationale="Shortened after consultation with the teams.",
            actor=ADMIN,
            now=now + timedelta(days=2),
        )
        assert amended.version == 2 and amended.is_amendment
        svc.close_round(s, r, actor=ADMIN, now=now + timedelta(days=31))
        card = rs.compute_scorecard(s, r, actor=ADMIN, now=now + timedelta(days=32))
        assert card.content["rules"]["amended"] is True
        assert card.content["rules"]["amendments"][0]["rationale"].startswith("Shortened")
        assert [h.version for h in svc.rule_history(s, r)] == [1, 2]


def test_late_appeal_rejected_and_upheld_appeal_reissues(store: Store, now: datetime) -> None:
    _setup(store, now)
    pub = now + timedelta(days=32)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        r = svc.get_round(s, p, 1)
        svc.close_round(s, r, actor=ADMIN, now=now + timedelta(days=31))
        rs.compute_scorecard(s, r, actor=ADMIN, now=pub)
        rs.publish_results(s, r, actor=ADMIN, now=pub)
        c = svc.get_consortium(s, p, "C")
        ok = rs.file_appeal(s, r, c, "grading error", actor="C", now=pub + timedelta(days=9))
        assert ok.status == "pending"
        late = rs.file_appeal(s, r, c, "please", actor="C", now=pub + timedelta(days=10, seconds=1))
        assert late.status == "rejected_late" and "window closed" in late.reason
        sub = svc.submission_of(s, r, c)
        card = rs.decide_appeal(
            s,
            ok,
            upheld=True,
            resolution="Answer key fixed; re-graded.",
            score_changes=[(sub.id, "government", Measurement(0.95, 0.93, 0.97))],
            actor=ADMIN,
            now=pub + timedelta(days=11),
        )
        assert card is not None and card.issue == 2 and card.published
        edit = s.query(m.ScoreEdit).one()
        assert (edit.before["value"], edit.after["value"], edit.actor) == (
            pytest.approx(0.6),
            0.95,
            ADMIN,
        )
        with pytest.raises(RuleViolation, match="pending"):
            rs.decide_appeal(
                s, ok, upheld=False, resolution="again and again", actor=ADMIN, now=pub
            )
        with pytest.raises(RuleViolation, match="published"):
            svc.record_result(s, sub, "government", Measurement.exact(1.0), actor=ADMIN, now=pub)


def test_wildcard_and_equal_resources(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        r = svc.get_round(s, p, 1)
        for name in ("A", "B"):
            sup.allocate(s, r, svc.get_consortium(s, p, name), "gpu", 100, actor=ADMIN, now=now)
        sup.allocate(s, r, svc.get_consortium(s, p, "C"), "gpu", 80, actor=ADMIN, now=now)
        assert sup.check_resources(s, r).issues == ("C: gpu = 80, others receive 100",)
        svc.add_consortium(s, p, "New", "New Co", [], status="applicant", actor=ADMIN, now=now)
        call = sup.open_wildcard_call(
            s,
            p,
            r,
            eligible_kinds=["new"],
            panel=["e1", "e2", "e3"],
            opens_at=now,
            closes_at=now + timedelta(days=5),
            actor=ADMIN,
            now=now,
        )
        app = sup.apply_wildcard(
            s, call, svc.get_consortium(s, p, "New"), actor="New", now=now, kind="new"
        )
        with pytest.raises(RuleViolation, match="still in the competition"):
            sup.apply_wildcard(s, call, svc.get_consortium(s, p, "A"), actor="A", now=now)
        sup.vote_wildcard(s, app, "e1", True, now=now)
        with pytest.raises(ConflictError):
            sup.vote_wildcard(s, app, "e1", True, now=now)
        sup.vote_wildcard(s, app, "e2", True, now=now)
        out = sup.decide_wildcard(s, call, actor=ADMIN, now=now)
        assert out.selected == ("New",)
        assert svc.get_consortium(s, p, "New").status == "wildcard"
        # The admitted team receives the standard allocation (the largest given to a team).
        rows = (
            s.query(m.Allocation).filter_by(consortium_id=svc.get_consortium(s, p, "New").id).all()
        )
        assert [(a.resource, a.amount) for a in rows] == [("gpu", 100)]
    with store.session() as s:
        p = svc.get_programme(s, "P")
        call2 = sup.open_wildcard_call(
            s,
            p,
            svc.get_round(s, p, 1),
            eligible_kinds=["new"],
            panel=["e1", "e2", "e3"],
            opens_at=now,
            closes_at=now + timedelta(days=1),
            actor=ADMIN,
            now=now,
        )
        svc.add_consortium(s, p, "Late", "Late Co", [], status="applicant", actor=ADMIN, now=now)
        with pytest.raises(DeadlinePassedError):
            sup.apply_wildcard(
                s,
                call2,
                svc.get_consortium(s, p, "Late"),
                actor="Late",
                now=now + timedelta(days=2),
            )


def test_duplicate_names_conflict(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s, pytest.raises(ConflictError):
        svc.add_consortium(s, svc.get_programme(s, "P"), "A", "x", [], actor=ADMIN, now=now)
