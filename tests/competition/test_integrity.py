"""Regression tests, one per defect a new user hit (issue: competition integrity).

Each sets up the smallest round that shows the defect and asserts the refusal (or the
recomputed state) the contract asks for, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.competition.scoring import Measurement, TeamInputs, score_round
from sovereval.errors import (
    ConflictError,
    DeadlinePassedError,
    InputError,
    RuleViolation,
)
from sovereval.ledger.log import iter_events, verify_store
from sovereval.store import models as m
from sovereval.store.db import Store

ADMIN = "admin"
DAY = timedelta(days=1)


@dataclass
class World:
    store: Store
    t0: datetime
    """Round 1 opens at t0 and closes at t0 + 30 days."""


def _world(store: Store, now: datetime, teams: tuple[str, ...] = ("A", "B", "C")) -> World:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor=ADMIN, now=now)
        for name in teams:
            svc.add_consortium(s, p, name, name, [], actor=ADMIN, now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor=ADMIN, now=now)
        svc.publish_ruleset(s, row, actor=ADMIN, now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now + 30 * DAY,
            advance_slots=2,
            ruleset=row,
            actor=ADMIN,
            now=now,
        )
        svc.open_round(s, r, actor=ADMIN, now=now)
    return World(store, now)


def _submit(w: World, team: str, model: str, at: datetime, **kw: object) -> int:
    with w.store.session() as s:
        p = svc.get_programme(s, "P")
        sub = svc.register_submission(
            s,
            svc.get_round(s, p, 1),
            svc.get_consortium(s, p, team),
            model,
            artefact="s3://bucket/" + model,
            components=[{"name": "decoder", "kind": "text"}],
            actor=team,
            now=at,
            **kw,  # type: ignore[arg-type]
        )
        return sub.id


def _results(w: World, sub_id: int, level: float, at: datetime) -> None:
    with w.store.session() as s:
        sub = svc.get_submission(s, sub_id)
        for part in ("government", "common", "team"):
            svc.record_result(
                s, sub, part, Measurement(level, level - 0.02, level + 0.02), actor=ADMIN, now=at
            )
        svc.record_result(
            s, sub, "team", Measurement.exact(0.8), subject="target", actor=ADMIN, now=at
        )
        svc.record_result(
            s, sub, "expert", Measurement(10 * level, 10 * level - 0.5, 10 * level + 0.5),
            actor=ADMIN, now=at,
        )  # fmt: skip
        svc.record_result(
            s, sub, "user", Measurement(level, level - 0.05, level + 0.05), actor=ADMIN, now=at
        )


def _scored_round(w: World) -> dict[str, int]:
    """A, B, C submit with levels 0.8, 0.7, 0.6; closed at day 31, published at day 32."""
    ids = {team: _submit(w, team, f"{team}-7B", w.t0 + DAY) for team in ("A", "B", "C")}
    for i, team in enumerate(("A", "B", "C")):
        _results(w, ids[team], 0.8 - 0.1 * i, w.t0 + 2 * DAY)
    with w.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        svc.close_round(s, r, actor=ADMIN, now=w.t0 + 31 * DAY)
        rs.compute_scorecard(s, r, actor=ADMIN, now=w.t0 + 32 * DAY)
        rs.publish_results(s, r, actor=ADMIN, now=w.t0 + 32 * DAY)
    return ids


# -- stuck or corrupted rounds -------------------------------------------------------------------


def test_second_submission_of_a_team_refused_and_withdraw_frees_the_slot(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    first = _submit(w, "A", "A-7B", now + DAY)
    with pytest.raises(ConflictError, match=r"'A' already has submission \d+ .*withdraw"):
        _submit(w, "A", "A-13B", now + DAY)
    with store.session() as s:
        svc.withdraw_submission(
            s, svc.get_submission(s, first), reason="wrong file", actor="A", now=now + 2 * DAY
        )
    second = _submit(w, "A", "A-13B", now + 3 * DAY)
    third = _submit(w, "A", "A-14B", now + 4 * DAY, supersedes=second)
    with store.session() as s:
        kinds = [e.kind for e in iter_events(s)]
        assert kinds.count("submission.withdrawn") == 2  # the withdrawal and the supersession
        active = s.query(m.Submission).filter(m.Submission.status != "withdrawn").all()
        assert [x.id for x in active] == [third]
        # Withdrawn after the close is refused: the round's dates bind the team too.
        with pytest.raises(RuleViolation, match="accepts withdrawals"):
            svc.withdraw_submission(
                s, svc.get_submission(s, third), reason="late", actor="A", now=now + 40 * DAY
            )


def test_the_round_scores_with_one_submission_per_team(store: Store, now: datetime) -> None:
    """Before the fix two registrations made ``score compute`` fail forever."""
    w = _world(store, now)
    old = _submit(w, "A", "A-7B", now + DAY)
    new = _submit(w, "A", "A-13B", now + DAY, supersedes=old)
    _results(w, new, 0.8, now + 2 * DAY)
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        svc.close_round(s, r, actor=ADMIN, now=now + 31 * DAY)
        card = rs.compute_scorecard(s, r, actor=ADMIN, now=now + 31 * DAY)
        assert [t["submission"] for t in card.content["teams"]] == [new]


def test_duplicate_team_in_pure_scoring_names_the_team() -> None:
    t = TeamInputs("Team A", {"expert": Measurement.exact(5)})
    with pytest.raises(InputError, match="team 'Team A' appears twice"):
        score_round(default_ruleset(), [t, t])


def test_round_cannot_open_after_its_close_date(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor=ADMIN, now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor=ADMIN, now=now)
        svc.publish_ruleset(s, row, actor=ADMIN, now=now)
        r = svc.create_round(
            s, p, 1, opens_at=now, closes_at=now + DAY, advance_slots=1, ruleset=row,
            actor=ADMIN, now=now,
        )  # fmt: skip
        with pytest.raises(RuleViolation, match="cannot open"):
            svc.open_round(s, r, actor=ADMIN, now=now + 2 * DAY)
        assert r.status == "planned"


def test_submissions_only_inside_the_round_dates(store: Store, now: datetime) -> None:
    w = _world(store, now + DAY)  # opens at now + 1 day
    with pytest.raises(RuleViolation, match="accepts submissions from"):
        _submit(w, "A", "early", now)  # before the open
    with pytest.raises(RuleViolation, match="accepts submissions from"):
        _submit(w, "A", "late", now + 31 * DAY + timedelta(seconds=1))  # after the close
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        svc.close_round(s, r, actor=ADMIN, now=now + 2 * DAY)
    with pytest.raises(RuleViolation, match=r"round 1 is closed; cannot submit \(allowed: "):
        _submit(w, "A", "closed", now + 2 * DAY)


def test_planned_round_takes_no_submissions(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor=ADMIN, now=now)
        c = svc.add_consortium(s, p, "A", "A", [], actor=ADMIN, now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor=ADMIN, now=now)
        svc.publish_ruleset(s, row, actor=ADMIN, now=now)
        r = svc.create_round(
            s, p, 1, opens_at=now, closes_at=now + DAY, advance_slots=1, ruleset=row,
            actor=ADMIN, now=now,
        )  # fmt: skip
        with pytest.raises(RuleViolation, match=r"round 1 is planned; cannot submit"):
            svc.register_submission(
                s, r, c, "x", artefact="s3://x", components=[], actor="A", now=now
            )


def test_applicant_team_cannot_submit(store: Store, now: datetime) -> None:
    w = _world(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        svc.add_consortium(s, p, "Hopeful", "H", [], status="applicant", actor=ADMIN, now=now)
    with pytest.raises(RuleViolation, match="'Hopeful' is applicant; only selected or wild-card"):
        _submit(w, "Hopeful", "H-1", now + DAY)


def _call(w: World, at: datetime) -> tuple[int, int]:
    """A wild-card call open from ``at`` for five days, with one new applicant."""
    with w.store.session() as s:
        p = svc.get_programme(s, "P")
        rnd2 = svc.create_round(
            s, p, 2, opens_at=at + 10 * DAY, closes_at=at + 100 * DAY, advance_slots=2,
            ruleset=svc.get_ruleset(s, svc.get_round(s, p, 1).ruleset_id), actor=ADMIN, now=at,
        )  # fmt: skip
        svc.add_consortium(s, p, "New", "N", [], status="applicant", actor=ADMIN, now=at)
        call = sup.open_wildcard_call(
            s, p, rnd2, eligible_kinds=["eliminated", "new"], panel=["e1", "e2", "e3"],
            opens_at=at, closes_at=at + 5 * DAY, actor=ADMIN, now=at,
        )  # fmt: skip
        app = sup.apply_wildcard(
            s, call, svc.get_consortium(s, p, "New"), actor="New", now=at, kind="new"
        )
        return call.id, app.id


def test_wildcard_vote_after_the_call_closed_refused(store: Store, now: datetime) -> None:
    w = _world(store, now)
    _, app_id = _call(w, now)
    with store.session() as s:
        app = s.get(m.WildcardApplication, app_id)
        assert app is not None
        sup.vote_wildcard(s, app, "e1", True, now=now + DAY)
        with pytest.raises(DeadlinePassedError, match=r"takes votes from .* until"):
            sup.vote_wildcard(s, app, "e2", True, now=now + 5 * DAY)


# -- results that change, or fail to change -----------------------------------------------------


def test_republish_after_late_originality_keeps_the_wildcard_admission(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    ids = _scored_round(w)  # C eliminated on points
    t = now + 33 * DAY
    with store.session() as s:
        p = svc.get_programme(s, "P")
        rnd2 = svc.create_round(
            s, p, 2, opens_at=t + 10 * DAY, closes_at=t + 100 * DAY, advance_slots=2,
            ruleset=svc.get_ruleset(s, svc.get_round(s, p, 1).ruleset_id), actor=ADMIN, now=t,
        )  # fmt: skip
        call = sup.open_wildcard_call(
            s, p, rnd2, eligible_kinds=["eliminated"], panel=["e1", "e2", "e3"],
            opens_at=t, closes_at=t + 5 * DAY, actor=ADMIN, now=t,
        )  # fmt: skip
        app = sup.apply_wildcard(s, call, svc.get_consortium(s, p, "C"), actor="C", now=t)
        for e in ("e1", "e2"):
            sup.vote_wildcard(s, app, e, True, now=t + DAY)
        sup.decide_wildcard(s, call, actor=ADMIN, now=t + 5 * DAY)
        assert svc.get_consortium(s, p, "C").status == "wildcard"
        # A late originality finding against A, then recompute and republish round 1.
        svc.record_provenance(
            s, svc.get_submission(s, ids["A"]), reference="public-vl", verdict="derived",
            gate_failed=True, reason="vision tower copied", report={}, actor=ADMIN,
            now=t + 6 * DAY,
        )  # fmt: skip
        r1 = svc.get_round(s, p, 1)
        rs.compute_scorecard(s, r1, actor=ADMIN, now=t + 7 * DAY)
        rs.publish_results(s, r1, actor=ADMIN, now=t + 7 * DAY)
        assert svc.get_consortium(s, p, "A").status == "disqualified"
        assert svc.get_consortium(s, p, "C").status == "wildcard"  # was reset to eliminated
        # C may submit to round 2 once it opens.
        svc.open_round(s, rnd2, actor=ADMIN, now=t + 10 * DAY)
        svc.register_submission(
            s, rnd2, svc.get_consortium(s, p, "C"), "C-2", artefact="s3://c2", components=[],
            actor="C", now=t + 11 * DAY,
        )  # fmt: skip
        assert verify_store(s).ok


def test_late_originality_failure_marks_published_results_stale(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    ids = _scored_round(w)
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        assert rs.results_staleness(s, r) == []
        card_before = dict(rs.latest_scorecard(s, r, published_only=True).content)  # type: ignore[union-attr]
        svc.record_provenance(
            s, svc.get_submission(s, ids["B"]), reference="ref", verdict="derived",
            gate_failed=True, reason="undeclared derived decoder", report={}, actor=ADMIN,
            now=now + 40 * DAY,
        )  # fmt: skip
        stale = rs.results_staleness(s, r)
        assert len(stale) == 1 and stale[0].startswith("B: published advance")
        assert "disqualify" in stale[0]
        # The published results are not edited behind anyone's back.
        card = rs.latest_scorecard(s, r, published_only=True)
        assert card is not None and card.content == card_before
        assert svc.gate_next_step(s, svc.get_submission(s, ids["B"])).startswith(
            "round 1's published results are now stale"
        )
        rs.compute_scorecard(s, r, actor=ADMIN, now=now + 41 * DAY)
        rs.publish_results(s, r, actor=ADMIN, now=now + 41 * DAY)
        assert rs.results_staleness(s, r) == []


def test_nonexistent_artefact_path_refused(store: Store, now: datetime, tmp_path: Path) -> None:
    w = _world(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        with pytest.raises(InputError, match=r"artefact '.*nope_dir' does not exist"):
            svc.register_submission(
                s, svc.get_round(s, p, 1), svc.get_consortium(s, p, "A"), "A-7B",
                artefact=str(tmp_path / "nope_dir"), components=[], actor="A", now=w.t0,
            )  # fmt: skip


def test_appeal_change_with_value_outside_its_interval_refused(store: Store, now: datetime) -> None:
    w = _world(store, now)
    ids = _scored_round(w)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        r = svc.get_round(s, p, 1)
        a = rs.file_appeal(
            s, r, svc.get_consortium(s, p, "C"), "grading", actor="C", now=now + 33 * DAY
        )
        with pytest.raises(InputError, match="need lo <= value <= hi"):
            rs.decide_appeal(
                s, a, upheld=True, resolution="Answer key fixed; re-graded.",
                score_changes=[(ids["C"], "government", Measurement(0.5, 0.9, 0.1))],
                actor=ADMIN, now=now + 34 * DAY,
            )  # fmt: skip
        assert a.status == "pending"


def test_an_appeal_changes_another_teams_result_only_when_flagged(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    ids = _scored_round(w)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        r = svc.get_round(s, p, 1)
        a = rs.file_appeal(
            s, r, svc.get_consortium(s, p, "A"), "key", actor="A", now=now + 33 * DAY
        )
        change = [(ids["B"], "common", Measurement(0.9, 0.88, 0.92))]
        with pytest.raises(RuleViolation, match=r"cannot change submission .* of 'B'"):
            rs.decide_appeal(
                s, a, upheld=True, resolution="Answer key fixed for all.", score_changes=change,
                actor=ADMIN, now=now + 34 * DAY,
            )  # fmt: skip
        rs.decide_appeal(
            s, a, upheld=True, resolution="Answer key fixed for all.", score_changes=change,
            other_teams=True, actor=ADMIN, now=now + 34 * DAY,
        )  # fmt: skip
        edits = [e for e in iter_events(s) if e.kind == "score.edited"]
        assert len(edits) == 1 and '"other_team":true' in edits[0].payload


def test_appeal_before_publication_refused_not_stored(store: Store, now: datetime) -> None:
    w = _world(store, now)
    _submit(w, "A", "A-7B", now + DAY)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        with pytest.raises(RuleViolation, match="not published, so there is nothing to appeal"):
            rs.file_appeal(
                s, svc.get_round(s, p, 1), svc.get_consortium(s, p, "A"), "x", actor="A",
                now=now + 2 * DAY,
            )  # fmt: skip
    with store.session() as s:
        assert s.query(m.Appeal).count() == 0


def test_score_record_checks_part_range_and_interval(store: Store, now: datetime) -> None:
    w = _world(store, now)
    sid = _submit(w, "A", "A-7B", now)
    with store.session() as s:
        sub = svc.get_submission(s, sid)
        with pytest.raises(
            InputError,
            match=r"part 'expret' is not in rule set phase-1 v1 \(government, common, team, expert, user\)",
        ):
            svc.record_result(s, sub, "expret", Measurement.exact(5), actor=ADMIN, now=now)
        with pytest.raises(InputError, match=r"part 'common': value 1.7 is outside 0-1"):
            svc.record_result(s, sub, "common", Measurement(1.7, 0.0, 1.0), actor=ADMIN, now=now)
        with pytest.raises(InputError, match="need lo <= value <= hi"):
            svc.record_result(s, sub, "common", Measurement(0.5, 0.6, 0.7), actor=ADMIN, now=now)
        # The expert part is on its rubric's 1-10 scale.
        svc.record_result(s, sub, "expert", Measurement(7.5, 7, 8), actor=ADMIN, now=now)


def _with_points(points: float) -> RuleSet:
    d = default_ruleset().to_dict()
    d["parts"][0]["points"] = points  # government 10 -> points
    return RuleSet.from_dict(d)


def test_rule_set_parts_must_sum_to_the_declared_total(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor=ADMIN, now=now)
        with pytest.raises(
            InputError, match=r"parts sum to 150 points .* not the declared total 100"
        ):
            svc.create_ruleset(s, p, _with_points(60), actor=ADMIN, now=now)
        with pytest.raises(InputError, match="parts sum to 140 points"):
            svc.create_ruleset(s, p, _with_points(50), actor=ADMIN, now=now)
        # A declared total of 150 is honoured.
        d = _with_points(60).to_dict() | {"total_points": 150}
        row = svc.create_ruleset(s, p, RuleSet.from_dict(d), actor=ADMIN, now=now)
        # A row tampered into a bad sum cannot be published either.
        row.content = _with_points(60).to_dict()
        with pytest.raises(InputError, match="not the declared total"):
            svc.publish_ruleset(s, row, actor=ADMIN, now=now)


def test_default_rule_set_hash_unchanged_by_the_total_field() -> None:
    # The declared total (100) is left out of the canonical form: old hashes stay valid.
    assert "total_points" not in default_ruleset().to_dict()
    assert (
        default_ruleset().content_hash()
        == RuleSet.from_dict(default_ruleset().to_dict()).content_hash()
    )


def test_round_needs_a_published_rule_set(store: Store, now: datetime) -> None:
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor=ADMIN, now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor=ADMIN, now=now)
        kw = dict(opens_at=now, closes_at=now + DAY, advance_slots=1, actor=ADMIN, now=now)
        with pytest.raises(RuleViolation, match="is draft; a round needs a published rule set"):
            svc.create_round(s, p, 1, ruleset=row, **kw)  # type: ignore[arg-type]
        svc.publish_ruleset(s, row, actor=ADMIN, now=now)
        r = svc.create_round(s, p, 1, ruleset=row, **kw)  # type: ignore[arg-type]
        new = RuleSet.from_dict({**default_ruleset().to_dict(), "appeal_window_days": 7})
        svc.amend_rules(s, r, new, rationale="", actor=ADMIN, now=now)  # planned: a revision
        with pytest.raises(RuleViolation, match="is superseded"):
            svc.create_round(s, p, 2, ruleset=row, **kw)  # type: ignore[arg-type]


def test_results_record_which_advancement_rule_decided(store: Store, now: datetime) -> None:
    w = _world(store, now)
    _scored_round(w)  # the round planned 2 slots; the rule set eliminates the lowest one
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        card = rs.latest_scorecard(s, r, published_only=True)
        assert card is not None
        adv = card.content["advancement"]
        assert adv["decided_by"] == "advancement.eliminate_lowest" and adv["value"] == 1
        assert adv["advancing"] == 2 and adv["round_slots"] == 2
        assert card.content["rules"]["category_points"] == {
            "benchmark": 40.0,
            "expert": 35.0,
            "user": 25.0,
        }


def test_components_that_are_not_a_list_of_objects_are_one_clear_error(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    with store.session() as s:
        p = svc.get_programme(s, "P")
        args = (svc.get_round(s, p, 1), svc.get_consortium(s, p, "A"), "A-7B")
        for bad, msg in (
            ({"name": "decoder"}, "expected a JSON list of components entries, got a JSON object"),
            ([1, 2], "entry 0: expected a JSON object, got number"),
            ([{"name": "d", "kind": "brain"}], "entry 0: field 'kind'"),
            ([{"kind": "text"}], "entry 0: field 'name': is required"),
        ):
            with pytest.raises(InputError, match=msg):
                svc.register_submission(
                    s, *args, artefact="s3://x", components=bad, actor="A", now=w.t0
                )


# -- the lifecycles ------------------------------------------------------------------------------


def test_refused_transition_names_the_state_and_what_is_allowed() -> None:
    from sovereval.competition import lifecycle

    with pytest.raises(RuleViolation) as e:
        lifecycle.ROUND.move("round 3", "published", "open")
    assert str(e.value) == (
        "round 3 is published; cannot open (allowed: compute, republish, appeal)"
    )
    with pytest.raises(RuleViolation, match=r"final state"):
        lifecycle.SUBMISSION.move("submission 9", "withdrawn", "withdraw")


def test_every_lifecycle_names_only_its_own_states() -> None:
    from sovereval.competition import lifecycle

    for lc in (
        lifecycle.ROUND,
        lifecycle.SUBMISSION,
        lifecycle.APPEAL,
        lifecycle.WILDCARD_CALL,
        lifecycle.CONSORTIUM,
    ):
        for state, moves in lc.transitions.items():
            assert state in lc.states
            assert set(moves.values()) <= set(lc.states), lc.name


def test_closed_round_reopens_only_by_a_reasoned_flagged_amendment(
    store: Store, now: datetime
) -> None:
    w = _world(store, now)
    sid = _submit(w, "A", "A-7B", now + DAY)
    _results(w, sid, 0.8, now + DAY)
    with store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, "P"), 1)
        svc.close_round(s, r, actor=ADMIN, now=now + 2 * DAY)
        with pytest.raises(RuleViolation, match="rationale"):
            svc.reopen_round(
                s, r, rationale="", closes_at=now + 9 * DAY, actor=ADMIN, now=now + 3 * DAY
            )
        svc.reopen_round(
            s, r, rationale="The upload service failed on the last day.",
            closes_at=now + 9 * DAY, actor=ADMIN, now=now + 3 * DAY,
        )  # fmt: skip
        assert r.status == "open" and r.closes_at == now + 9 * DAY
        svc.close_round(s, r, actor=ADMIN, now=now + 9 * DAY)
        card = rs.compute_scorecard(s, r, actor=ADMIN, now=now + 9 * DAY)
        (entry,) = card.content["rules"]["reopenings"]
        assert entry["rationale"].startswith("The upload service")
        rs.publish_results(s, r, actor=ADMIN, now=now + 10 * DAY)
        with pytest.raises(RuleViolation, match=r"round 1 is published; cannot reopen"):
            svc.reopen_round(
                s, r, rationale="Once more, please.", closes_at=now + 20 * DAY, actor=ADMIN,
                now=now + 11 * DAY,
            )  # fmt: skip
