"""The sequential outlier test (caps and duplicates: tests/arena/test_service.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from sovereval.arena.bt import deduplicate_battles, fit_bradley_terry, win_matrix
from sovereval.arena.integrity import (
    SPRTSettings,
    keep_mask,
    screen_panelists,
    sprt_decide,
    sprt_increments,
)
from sovereval.arena.simulate import simulate_votes

KST = timezone(timedelta(hours=9))
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 23:00 in Seoul


def test_sprt_increments_by_hand() -> None:
    beta = np.array([math.log(3), 0.0])  # P(0 beats 1) = 3/4
    inc = sprt_increments(np.array([0, 0, 0]), np.array([1, 1, 1]), np.array([0, 1, 2]), beta, 0.5)
    # H1 with t=0.5: q = 1/2. Vote A: log(0.5/0.75); vote B: log(0.5/0.25); tie: 0.
    np.testing.assert_allclose(inc, [math.log(2 / 3), math.log(2), 0.0])
    s = SPRTSettings(alpha=0.01, beta=0.05)
    lower, upper = s.bounds()
    assert upper == pytest.approx(math.log(0.95 / 0.01))
    assert lower == pytest.approx(math.log(0.05 / 0.99))
    # Eight "B" votes: 8 ln 2 = 5.55 > ln 95 = 4.55 -> flagged at vote 7 (7 ln 2 = 4.85).
    decision, _, used = sprt_decide(np.full(8, math.log(2)), s)
    assert decision == "flagged" and used == 7


def test_outlier_error_rates_over_seeds() -> None:
    n = 10
    strengths = np.linspace(-1.5, 1.5, n)
    kinds = ["honest"] * 8 + ["random", "adversarial"]
    flagged = {"honest": 0, "random": 0, "adversarial": 0}
    seeds = 120
    for seed in range(seeds):
        v = simulate_votes(strengths, 4000, np.random.default_rng(seed), kinds=kinds)  # type: ignore[arg-type]
        beta = fit_bradley_terry(
            win_matrix(deduplicate_battles(v.model_a, v.model_b, v.outcome, n))
        ).beta
        res = screen_panelists([str(i) for i in v.panelist], v.model_a, v.model_b, v.outcome, beta)
        for i, k in enumerate(kinds):
            flagged[k] += str(i) in res.flagged
        assert res.n_flagged == len(res.flagged)
    # alpha = 0.01: Wald's bound alpha/(1-beta) ~ 0.0105 per honest panelist (960 trials).
    assert flagged["honest"] / (8 * seeds) <= 0.02
    # beta = 0.05 nominal miss rate for a random voter; allow sampling slack (sd ~ 0.02).
    assert flagged["random"] / seeds >= 0.88
    assert flagged["adversarial"] == seeds


def test_adversary_flagged_and_excluded_honest_not() -> None:
    n = 8
    strengths = np.linspace(-1.0, 1.0, n)
    kinds = ["honest"] * 5 + ["adversarial"]
    v = simulate_votes(strengths, 3000, np.random.default_rng(7), kinds=kinds)  # type: ignore[arg-type]
    beta = fit_bradley_terry(
        win_matrix(deduplicate_battles(v.model_a, v.model_b, v.outcome, n))
    ).beta
    res = screen_panelists([f"p{i}" for i in v.panelist], v.model_a, v.model_b, v.outcome, beta)
    assert res.flagged == frozenset({"p5"})
    assert all(res.screens[f"p{i}"].decision == "cleared" for i in range(5))
    ids = [f"p{i}" for i in v.panelist]
    keep = keep_mask(ids, res.flagged)
    # Exactly the adversary's votes are dropped, and they are counted.
    assert int((~keep).sum()) == int(np.sum(v.panelist == 5)) > 0
