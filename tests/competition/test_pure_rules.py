"""Appeal window, wild-card majority and the equal-resource check, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sovereval.competition.appeals import check_appeal_time
from sovereval.competition.resources import Allocation, check_equal_support
from sovereval.competition.wildcard import check_eligible, decide
from sovereval.errors import RuleViolation

PUB = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_appeal_inside_and_outside_window() -> None:
    # Window: 10 days from publication -> closes 2026-01-25 09:00 UTC (exclusive).
    ok = check_appeal_time(PUB, 10, PUB + timedelta(days=9, hours=23))
    assert ok.accepted and ok.deadline == datetime(2026, 1, 25, 9, 0, tzinfo=UTC)
    late = check_appeal_time(PUB, 10, PUB + timedelta(days=12))
    assert not late.accepted
    assert (
        "late" in late.reason
        and "2026-01-25T09:00:00+00:00" in late.reason
        and "2 days" in late.reason
    )
    edge = check_appeal_time(PUB, 10, PUB + timedelta(days=10))
    assert not edge.accepted
    assert not check_appeal_time(None, 10, PUB).accepted


def test_wildcard_majority_of_whole_panel() -> None:
    panel = ["e1", "e2", "e3", "e4", "e5"]  # majority = 5 // 2 + 1 = 3
    votes = {
        ("e1", "New"): True,
        ("e2", "New"): True,
        ("e3", "New"): True,
        ("e4", "New"): False,
        ("e1", "Old"): True,
        ("e2", "Old"): True,
    }
    out = decide(["New", "Old"], votes, panel)
    assert out.majority == 3 and out.selected == ("New",) and out.approvals == {"New": 3, "Old": 2}


def test_wildcard_may_select_nobody() -> None:
    panel = ["e1", "e2", "e3", "e4"]  # majority = 3; two approvals of four is not a majority
    votes = {("e1", "A"): True, ("e2", "A"): True, ("e3", "A"): False}
    out = decide(["A"], votes, panel)
    assert out.selected == () and "no applicant" in out.reason


def test_wildcard_tie_for_last_slot_selects_neither() -> None:
    panel = ["e1", "e2", "e3"]
    votes = {(e, a): True for e in panel for a in ("A", "B")}
    out = decide(["A", "B"], votes, panel, slots=1)
    assert out.selected == () and "tie" in out.reason


def test_wildcard_outsider_vote_and_eligibility() -> None:
    with pytest.raises(RuleViolation, match="not on this call's panel"):
        decide(["A"], {("mallory", "A"): True}, ["e1", "e2", "e3"])
    with pytest.raises(RuleViolation, match="does not admit"):
        check_eligible("new", ["eliminated"])


def test_equal_support() -> None:
    allocs = [Allocation(t, "gpu_h100", 1000) for t in ("A", "B", "C")] + [
        Allocation("D", "gpu_h100", 800)
    ]
    rep = check_equal_support(["A", "B", "C", "D"], allocs)
    assert not rep.equal and rep.issues == ("D: gpu_h100 = 800, others receive 1000",)
    # A team with nothing at all is also named.
    rep2 = check_equal_support(["A", "B", "C", "E"], allocs[:3])
    assert rep2.issues == ("E: gpu_h100 = 0, others receive 1000",)
    assert check_equal_support(["A", "B", "C"], allocs[:3]).equal
