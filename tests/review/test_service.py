"""Review on the store (SQLite and PostgreSQL): conflicts never assigned, unassigned access
refused, deadline lock, edit history, aggregation recorded, ledger keeps only commitments."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.errors import DeadlinePassedError, InputError, PermissionDeniedError, RuleViolation
from sovereval.ledger.log import iter_events, verify_store
from sovereval.review import service as review
from sovereval.review.rubric import CriterionScore
from sovereval.store import evaluation_models as em
from sovereval.store.db import Store

CRITERIA = ("development_strategy", "technical_capability", "originality", "ripple_effects")


def _setup(store: Store, now: datetime, k: int = 2) -> None:
    rules = RuleSet.from_dict(
        {
            **default_ruleset().to_dict(),
            "review": {"reviewers_per_submission": k, "max_load": 3, "max_probability": 0.9},
        }
    )
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        row = svc.create_ruleset(s, p, rules, actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now + timedelta(days=5),
            advance_slots=2,
            ruleset=row,
            actor="a",
            now=now,
        )
        svc.open_round(s, r, actor="a", now=now)
        for name in ("Alpha", "Beta", "Gamma"):
            c = svc.add_consortium(s, p, name, f"{name} Corp", [f"{name} Lab"], actor="a", now=now)
            sub = svc.register_submission(
                s, r, c, f"{name}-LM", artefact="x", files=[], components=[], actor="a", now=now
            )
            svc.record_provenance(
                s,
                sub,
                reference="library",
                verdict="independent",
                gate_failed=False,
                reason="",
                report={},
                actor="a",
                now=now,
            )
        for i in range(5):
            rec = {"affiliations": [{"organisation": f"Univ {i}", "start": "2010-01-01"}]}
            if i == 0:  # left Alpha Corp 2 years before the review: inside a 3-year window
                rec["affiliations"].append(
                    {
                        "organisation": "Alpha Corp.",
                        "start": "2018-01-01",
                        "end": (now - timedelta(days=730)).date().isoformat(),
                    }
                )
            if i == 1:
                rec["declared_conflicts"] = [
                    {"consortium": "Beta", "reason": "advisor to the team"}
                ]
            review.register_expert(s, p, f"E{i}", rec, actor="a", now=now)


def _scores(keys: list[str], base: float) -> list[CriterionScore]:
    return [
        CriterionScore(
            c, base, f"Careful reading of the technical report and the logs. Evidence: {keys[0]}"
        )
        for c in CRITERIA
    ]


def test_assignment_is_conflict_free_and_seeded(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s:
        rnd = svc.get_round(s, svc.get_programme(s, "P"), 1)
        rows = review.assign_round(s, rnd, seed=7, actor="a", now=now)
        pairs = {(r.expert, svc.get_submission(s, r.submission_id).model_name) for r in rows}
        assert ("E0", "Alpha-LM") not in pairs and ("E1", "Beta-LM") not in pairs
        assert len(rows) == 3 * 2
        per = {}
        for r in rows:
            per[r.expert] = per.get(r.expert, 0) + 1
            assert 0 < r.probability <= 0.9 + 1e-9
        assert max(per.values()) <= 3
        with pytest.raises(RuleViolation, match="already assigned"):
            review.assign_round(s, rnd, seed=7, actor="a", now=now)
        ev = [e for e in iter_events(s) if e.kind == "review.assigned"]
        assert len(ev) == 1 and '"seed":7' in ev[0].payload and "fractional" in ev[0].payload


def test_review_flow_deadline_history_and_aggregate(store: Store, now: datetime) -> None:
    _setup(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        rnd = svc.get_round(s, p, 1)
        rows = review.assign_round(s, rnd, seed=3, actor="a", now=now)
        assigned = {(r.expert, r.submission_id) for r in rows}
        experts = {f"E{i}" for i in range(5)}
        a = rows[0]
        stranger = next(e for e in sorted(experts) if (e, a.submission_id) not in assigned)
        with pytest.raises(PermissionDeniedError):
            review.evidence_packet(s, stranger, a.submission_id)
        packet = review.evidence_packet(s, a.expert, a.submission_id)
        assert packet["team"] is None and packet["model"] is None  # blind by default
        keys = packet["evidence_keys"]
        t = now + timedelta(days=6)
        # Missing evidence citation on originality is refused at submission.
        bad = [
            CriterionScore(c, 7.0, "A long enough justification without any citation at all here.")
            for c in CRITERIA
        ]
        review.save_draft(s, a.expert, a.submission_id, bad, now=t)
        with pytest.raises(RuleViolation, match="originality"):
            review.submit_review(s, a.expert, a.submission_id, now=t)
        for r in rows:
            base = {"Alpha-LM": 8.0, "Beta-LM": 6.0, "Gamma-LM": 4.0}[
                svc.get_submission(s, r.submission_id).model_name
            ]
            review.save_draft(
                s,
                r.expert,
                r.submission_id,
                _scores(review.evidence_keys(s, r.submission_id), base),
                now=t,
            )
            review.submit_review(s, r.expert, r.submission_id, now=t)
        review.edit_review_score(
            s,
            a.expert,
            a.submission_id,
            CriterionScore(
                "ripple_effects",
                9.0,
                f"Re-read the deployment plan; the ripple effects are larger. Evidence: {keys[0]}",
            ),
            editor=a.expert,
            reason="re-read the plan",
            now=t + timedelta(hours=2),
        )
        edits = s.execute(select(em.ReviewEdit)).scalars().all()
        last = edits[-1]
        base_a = {"Alpha-LM": 8.0, "Beta-LM": 6.0, "Gamma-LM": 4.0}[
            svc.get_submission(s, a.submission_id).model_name
        ]
        assert (last.actor, last.reason) == (a.expert, "re-read the plan")
        assert (last.before["score"], last.after["score"]) == (base_a, 9.0)
        deadline = rnd.closes_at + timedelta(days=14)
        with pytest.raises(DeadlinePassedError):
            review.save_draft(
                s, a.expert, a.submission_id, _scores(keys, 5), now=deadline + timedelta(seconds=1)
            )
        res = review.aggregate(
            s, rnd, rng=np.random.default_rng(0), record=True, actor="a", now=t + timedelta(days=1)
        )
        by_model = {svc.get_submission(s, k).model_name: v for k, v in res.totals.items()}
        assert by_model["Gamma-LM"][0] == pytest.approx(4.0)  # everyone gave 4 on every criterion
        assert by_model["Alpha-LM"][0] > by_model["Beta-LM"][0] > by_model["Gamma-LM"][0]
        assert review.review_status(s, rnd)["submitted"] == 6
        # The public ledger holds a commitment to each review, never its text.
        assert not any("Careful reading" in e.payload for e in iter_events(s))
        assert verify_store(s).ok


def test_evidence_upload_limits(sqlite_store: Store, now: datetime) -> None:
    _setup(sqlite_store, now)
    with sqlite_store.session() as s:
        sub = svc.get_submission(s, 1)
        with pytest.raises(InputError, match="UTF-8"):
            review.upload_evidence(
                s, sub, "training_log", "log.bin", b"\xff\xfe\x00", actor="t", now=now
            )
        with pytest.raises(InputError, match="exceeds"):
            review.upload_evidence(
                s, sub, "training_log", "big.txt", b"x" * 11, actor="t", now=now, max_bytes=10
            )
        f = review.upload_evidence(
            s, sub, "technical_report", "r.md", "# 보고서".encode(), actor="t", now=now
        )
        assert f"evidence-{f.id}" in review.evidence_keys(s, sub.id)
