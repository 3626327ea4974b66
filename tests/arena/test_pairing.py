"""Equal-exposure pair scheduling and the frozen roster."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.arena.pairing import choose_pair, exposure, freeze_roster, schedule_pairs
from sovereval.errors import InputError, RuleViolation


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 13), st.integers(0, 200), st.integers(0, 2**31))
def test_fresh_schedule_exact_after_every_battle(n: int, n_battles: int, seed: int) -> None:
    pairs = schedule_pairs(n, n_battles, np.random.default_rng(seed))
    assert pairs.shape == (n_battles, 2)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    app = np.zeros(n, int)
    pc = np.zeros((n, n), int)
    off = ~np.eye(n, dtype=bool)
    for a, b in pairs:
        app[a] += 1
        app[b] += 1
        pc[a, b] += 1
        pc[b, a] += 1
        # Both appearance counts and pair counts differ by at most one at every point.
        assert app.max() - app.min() <= 1
        assert pc[off].max() - pc[off].min() <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(0, 120), st.integers(0, 2**31))
def test_greedy_continuation_keeps_exposure_within_one(n: int, n_battles: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = schedule_pairs(n, int(rng.integers(0, 3 * n)), rng)
    app, pc = exposure(start, n)
    pairs = schedule_pairs(n, n_battles, rng, appearances=app, pair_counts=pc)
    for a, b in pairs:
        app[a] += 1
        app[b] += 1
        assert app.max() - app.min() <= 1


def test_full_cycles_cover_every_pair_equally() -> None:
    n = 7
    pairs = schedule_pairs(n, 3 * 21, np.random.default_rng(1))  # three cycles of C(7,2) = 21
    app, pc = exposure(pairs, n)
    # 63 battles x 2 sides / 7 models = 18 appearances each; each pair exactly 3 times.
    assert app.tolist() == [18] * n
    assert np.all(pc[~np.eye(n, dtype=bool)] == 3)


def test_sides_randomised() -> None:
    pairs = schedule_pairs(4, 4000, np.random.default_rng(2))
    a_smaller = float(np.mean(pairs[:, 0] < pairs[:, 1]))
    # Fair coin over 4000 battles: sd 0.008, so 0.5 +- 0.05 is > 6 sd.
    assert abs(a_smaller - 0.5) < 0.05


def test_continue_running_round() -> None:
    rng = np.random.default_rng(3)
    app = np.array([3, 2, 2, 3])
    pc = np.zeros((4, 4), np.int64)
    a, b = choose_pair(app, pc, rng)
    # Models 1 and 2 are the only ones at the minimum count, so they must play.
    assert {a, b} == {1, 2}
    with pytest.raises(InputError):
        schedule_pairs(1, 3, rng)


def test_frozen_roster_rejects_variant_swap() -> None:
    roster = freeze_roster("r1", {"alpha": "sha256:aa", "beta": "sha256:bb"})
    roster.check("alpha", "sha256:aa")
    assert roster.index("beta") == 1 and roster.models == ("alpha", "beta")
    with pytest.raises(RuleViolation):
        roster.check("alpha", "sha256:a-finetuned")
    with pytest.raises(RuleViolation):
        roster.check("gamma", "sha256:cc")
    with pytest.raises(InputError):
        freeze_roster("r1", [("alpha", "x"), ("alpha", "y")])
