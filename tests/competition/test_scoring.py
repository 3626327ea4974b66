"""Point mapping, interval propagation, rank upper bound, tie-breaks and disqualification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovereval.competition.rules import (
    Advancement,
    PartRule,
    PointMapping,
    RuleSet,
    default_ruleset,
)
from sovereval.competition.scoring import Measurement, TeamInputs, part_points, score_round, z_for
from sovereval.errors import InputError

Z = z_for(0.95)  # 1.959964...


def test_absolute_mapping_and_interval() -> None:
    rule = PartRule("government", "benchmark", 10.0, PointMapping("absolute", 0.0, 1.0))
    ps = part_points(rule, Measurement(0.8, 0.7, 0.9), z=Z)
    # 0.8 of the range -> 8 points; the raw half-width 0.1 scales by 10 -> [7, 9].
    assert ps.points == pytest.approx(8.0)
    assert (ps.lo, ps.hi) == (pytest.approx(7.0), pytest.approx(9.0))


def test_absolute_clips_to_part_range() -> None:
    rule = PartRule("expert", "expert", 35.0, PointMapping("absolute", 1.0, 10.0))
    ps = part_points(rule, Measurement(10.0, 9.0, 10.0), z=Z)
    # (10-1)/9 * 35 = 35 points, upper end clipped at 35.
    assert ps.points == pytest.approx(35.0)
    assert ps.hi == pytest.approx(35.0)
    assert ps.lo == pytest.approx(35.0 - 35.0 / 9.0 * 0.5)


def test_target_ratio_reaches_full_points_at_goal() -> None:
    rule = PartRule("team", "benchmark", 10.0, PointMapping("target_ratio", goal=0.95))
    # 0.76 / 0.80 = 0.95 = goal -> full 10 points.
    assert part_points(
        rule, Measurement.exact(0.76), z=Z, target=Measurement.exact(0.8)
    ).points == pytest.approx(10.0)
    # 0.57 / 0.80 = 0.7125; / 0.95 = 0.75 -> 7.5 points.
    assert part_points(
        rule, Measurement.exact(0.57), z=Z, target=Measurement.exact(0.8)
    ).points == pytest.approx(7.5)
    # Beating the target never exceeds the part's points.
    assert part_points(
        rule, Measurement.exact(0.9), z=Z, target=Measurement.exact(0.8)
    ).points == pytest.approx(10.0)


def test_target_ratio_delta_method_interval() -> None:
    rule = PartRule("team", "benchmark", 10.0, PointMapping("target_ratio", goal=0.95))
    ps = part_points(rule, Measurement(0.6, 0.5, 0.7), z=Z, target=Measurement.exact(0.8))
    # ratio 0.75; z*sd(ratio) = 0.75 * (0.1 / 0.6) = 0.125 (delta method, exact target)
    # points = 10/0.95 * (0.75 -/+ 0.125) = [6.5789, 9.2105], centre 7.8947.
    assert ps.points == pytest.approx(7.894737, rel=1e-6)
    assert ps.lo == pytest.approx(6.578947, rel=1e-6)
    assert ps.hi == pytest.approx(9.210526, rel=1e-6)


def test_target_ratio_needs_target() -> None:
    rule = PartRule("team", "benchmark", 10.0, PointMapping("target_ratio"))
    with pytest.raises(InputError, match="target model"):
        part_points(rule, Measurement.exact(0.5), z=Z)


def _single_part_rules(**adv: object) -> RuleSet:
    return RuleSet(
        name="t",
        parts=(PartRule("all", "benchmark", 100.0, PointMapping("absolute", 0.0, 100.0)),),
        advancement=Advancement(**adv),  # type: ignore[arg-type]
    )


def test_rank_upper_bound() -> None:
    rules = _single_part_rules(eliminate_lowest=1, tie_breaks=())
    teams = [
        TeamInputs("A", {"all": Measurement(85, 80, 90)}),
        TeamInputs("B", {"all": Measurement(74, 70, 78)}),
        TeamInputs("C", {"all": Measurement(80, 75, 85)}),
    ]
    by = {s.team: s for s in score_round(rules, teams)}
    # Ranks by total: A 1, C 2, B 3.
    assert [by[t].rank for t in "ACB"] == [1, 2, 3]
    # Upper bounds: only A's lower bound (80) is above B's upper bound (78) -> B: 2.
    # No lower bound is above C's upper bound (85) -> C: 1; A: 1.
    assert (by["A"].rank_upper, by["C"].rank_upper, by["B"].rank_upper) == (1, 1, 2)
    assert by["B"].decision == "eliminate" and by["A"].decision == by["C"].decision == "advance"


def test_disqualification_overrides_points() -> None:
    rules = _single_part_rules(eliminate_lowest=1, tie_breaks=())
    teams = [
        TeamInputs("Top", {"all": Measurement.exact(95)}, gate_failures=("vision encoder copied",)),
        TeamInputs("B", {"all": Measurement.exact(80)}),
        TeamInputs("C", {"all": Measurement.exact(70)}),
        TeamInputs("D", {"all": Measurement.exact(60)}),
    ]
    by = {s.team: s for s in score_round(rules, teams)}
    assert by["Top"].decision == "disqualify"
    assert "vision encoder copied" in by["Top"].reason
    assert by["Top"].rank == 4  # after every eligible team
    # Three eligible, eliminate the lowest one: B and C advance, D is eliminated.
    assert (by["B"].decision, by["C"].decision, by["D"].decision) == (
        "advance",
        "advance",
        "eliminate",
    )


def test_tie_breaks_then_lot() -> None:
    rules = RuleSet(
        name="t",
        parts=(
            PartRule("bench", "benchmark", 50.0, PointMapping("absolute", 0, 50)),
            PartRule("expert", "expert", 50.0, PointMapping("absolute", 0, 50)),
        ),
        advancement=Advancement(eliminate_lowest=1, tie_breaks=("expert",)),
    )
    # X and Y both total 70; Y has more expert points -> Y ranks first.
    teams = [
        TeamInputs("X", {"bench": Measurement.exact(40), "expert": Measurement.exact(30)}),
        TeamInputs("Y", {"bench": Measurement.exact(30), "expert": Measurement.exact(40)}),
    ]
    by = {s.team: s for s in score_round(rules, teams)}
    assert by["Y"].rank == 1 and by["X"].rank == 2
    # A complete tie is settled by the seeded lot: deterministic, and the seed matters.
    same = [
        TeamInputs(n, {"bench": Measurement.exact(30), "expert": Measurement.exact(30)})
        for n in ("P", "Q", "R", "S")
    ]
    order1 = [s.team for s in sorted(score_round(rules, same), key=lambda s: s.rank)]
    order2 = [s.team for s in sorted(score_round(rules, same), key=lambda s: s.rank)]
    assert order1 == order2
    orders = set()
    for seed in ("a", "b", "c", "d", "e", "f"):
        r = RuleSet.from_dict({**rules.to_dict(), "lot_seed": seed})
        orders.add(tuple(s.team for s in sorted(score_round(r, same), key=lambda s: s.rank)))
    assert len(orders) > 1


def test_default_rules_total_interval_adds_variances() -> None:
    rules = default_ruleset()
    t = TeamInputs(
        "A",
        {
            "government": Measurement(0.5, 0.4, 0.6),  # 5 +/- 1
            "common": Measurement(0.5, 0.5, 0.5),  # 10 exact
            "team": Measurement.exact(0.57),
            "expert": Measurement(5.5, 5.5, 5.5),  # (5.5-1)/9*35 = 17.5
            "user": Measurement.exact(1.0),  # only team -> best -> 25
        },
        targets={"team": Measurement.exact(0.8)},  # 7.5 points
    )
    (s,) = score_round(rules, [t])
    assert s.total == pytest.approx(5 + 10 + 7.5 + 17.5 + 25)
    # Only the government part is uncertain: total half-width = 1.0.
    assert (s.total_lo, s.total_hi) == (pytest.approx(64.0), pytest.approx(66.0))
    assert s.categories["benchmark"][0] == pytest.approx(22.5)


@given(
    st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=2, max_size=8),
)
def test_rank_upper_bound_never_exceeds_rank(vals: list[float]) -> None:
    rules = _single_part_rules(eliminate_lowest=0, tie_breaks=())
    teams = [
        TeamInputs(f"T{i}", {"all": Measurement(v, max(v - 5, 0), min(v + 5, 100))})
        for i, v in enumerate(vals)
    ]
    for s in score_round(rules, teams):
        assert 1 <= s.rank_upper <= s.rank
        assert s.total_lo <= s.total <= s.total_hi
