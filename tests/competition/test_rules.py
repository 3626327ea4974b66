from __future__ import annotations

import pytest

from sovereval.competition.rules import RuleSet, default_ruleset, diff_rules
from sovereval.errors import InputError


def test_default_rules_are_40_35_25() -> None:
    r = default_ruleset()
    assert r.category_points() == {"benchmark": 40.0, "expert": 35.0, "user": 25.0}
    assert [p.points for p in r.parts if p.category == "benchmark"] == [10.0, 20.0, 10.0]
    assert r.appeal_window_days == 10


def test_round_trip_and_hash_is_content_addressed() -> None:
    r = default_ruleset()
    r2 = RuleSet.from_dict(r.to_dict())
    assert r2 == r and r2.content_hash() == r.content_hash()
    changed = RuleSet.from_dict({**r.to_dict(), "appeal_window_days": 7})
    assert changed.content_hash() != r.content_hash()
    assert diff_rules(r, changed) == [("appeal_window_days", 10, 7)]


def test_invalid_rules_rejected() -> None:
    d = default_ruleset().to_dict()
    d["parts"][0]["category"] = "vibes"
    with pytest.raises(InputError, match="unknown category"):
        RuleSet.from_dict(d)
    d = default_ruleset().to_dict()
    d["advancement"]["advance_count"] = 3  # both modes set
    with pytest.raises(InputError, match="exactly one"):
        RuleSet.from_dict(d)
    with pytest.raises(InputError, match="invalid rule set"):
        RuleSet.from_dict({"parts": []})


def test_diff_names_changed_part() -> None:
    r = default_ruleset()
    d = r.to_dict()
    d["parts"][1]["points"] = 15.0
    d["parts"][2]["points"] = 15.0
    diffs = dict(((p, (a, b)) for p, a, b in diff_rules(r, RuleSet.from_dict(d))))
    assert diffs == {"parts[common].points": (20.0, 15.0), "parts[team].points": (10.0, 15.0)}
