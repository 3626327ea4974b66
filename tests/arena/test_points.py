"""Ratings to points."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovereval.arena.points import map_to_points
from sovereval.errors import InputError

R = {"a": 1100.0, "b": 1000.0, "c": 900.0}


def test_relative_best_win_probability_by_hand() -> None:
    p = map_to_points(R, {"kind": "relative_best", "points": 25})
    # Gap 100: 2 / (1 + 10^(1/4)) = 0.7194 -> 17.985; gap 200: 2 / (1 + 10^(1/2)) = 0.4806.
    assert p["a"] == 25.0
    assert p["b"] == pytest.approx(25 * 2 / (1 + 10**0.25))
    assert p["c"] == pytest.approx(25 * 2 / (1 + 10**0.5))


def test_other_measures_and_absolute_by_hand() -> None:
    ratio = map_to_points(R, {"kind": "relative_best", "points": 25, "measure": "strength_ratio"})
    assert ratio["b"] == pytest.approx(25 * 10**-0.25)
    gap = map_to_points(
        R, {"kind": "relative_best", "points": 25, "measure": "elo_gap", "zero_gap": 400}
    )
    assert gap == pytest.approx({"a": 25.0, "b": 18.75, "c": 12.5})
    ab = map_to_points(R, {"kind": "absolute", "points": 20, "lo": 950, "hi": 1050, "decimals": 2})
    assert ab == {"a": 20.0, "b": 10.0, "c": 0.0}
    ref = map_to_points(
        R, {"kind": "absolute", "points": 10, "lo": -200, "hi": 0, "reference": "a"}
    )
    # Relative to a: b is -100 -> half of 10 points, c -200 -> 0.
    assert ref == pytest.approx({"a": 10.0, "b": 5.0, "c": 0.0})


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "target_ratio"},
        {"kind": "absolute", "lo": 1, "hi": 0},
        {"kind": "absolute", "lo": 0, "hi": 1, "reference": "zzz"},
        {"kind": "relative_best", "measure": "vibes"},
        {"kind": "relative_best", "points": "many"},
    ],
)
def test_bad_specs(spec: dict[str, object]) -> None:
    with pytest.raises(InputError):
        map_to_points(R, spec)


@given(
    st.dictionaries(st.text(min_size=1, max_size=3), st.floats(0, 3000), min_size=1),
    st.floats(-500, 500),
)
def test_relative_best_is_shift_invariant_and_bounded(
    ratings: dict[str, float], shift: float
) -> None:
    spec = {"kind": "relative_best", "points": 25}
    p1 = map_to_points(ratings, spec)
    p2 = map_to_points({k: v + shift for k, v in ratings.items()}, spec)
    assert p1 == pytest.approx(p2, abs=1e-9)
    assert max(p1.values()) == pytest.approx(25.0)
    assert all(0 <= v <= 25 for v in p1.values())
