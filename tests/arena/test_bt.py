"""Bradley–Terry fit, bootstrap and summaries."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.arena.bt import (
    DEFAULT_RIDGE,
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_BOTH_BAD,
    OUTCOME_TIE,
    bootstrap_bradley_terry,
    deduplicate_battles,
    elo_scale,
    fit_bradley_terry,
    mle_exists,
    point_ranks,
    rank_upper_bounds,
    rate,
    win_matrix,
)
from sovereval.arena.simulate import simulate_votes
from sovereval.errors import InputError


def _sim(n: int, n_battles: int, seed: int, tie_prob: float = 0.1):
    rng = np.random.default_rng(seed)
    strengths = np.linspace(-1.0, 1.0, n)
    return strengths, simulate_votes(strengths, n_battles, rng, tie_prob=tie_prob)


def test_dedup_counts_and_win_matrix_by_hand() -> None:
    # Battles: (0 beats 1) x2, (1 vs 0 tie), (0 vs 2 both-bad = tie), (2 beats 1 as B).
    cells = deduplicate_battles(
        [0, 0, 1, 0, 1],
        [1, 1, 0, 2, 2],
        [OUTCOME_A, OUTCOME_A, OUTCOME_TIE, OUTCOME_BOTH_BAD, OUTCOME_B],
        3,
    )
    assert cells.n_battles == 5
    assert sorted(cells.count.tolist()) == [1, 1, 1, 2]  # the two identical battles merged
    w = win_matrix(cells)
    # W[0,1] = 2 wins + 0.5 tie = 2.5; W[1,0] = 0.5; W[0,2] = W[2,0] = 0.5; W[2,1] = 1.
    expected = np.array([[0, 2.5, 0.5], [0.5, 0, 0], [0.5, 1.0, 0]])
    np.testing.assert_allclose(w, expected)


def test_bad_battles_rejected() -> None:
    with pytest.raises(InputError):
        deduplicate_battles([0], [0], [0], 2)
    with pytest.raises(InputError):
        deduplicate_battles([0], [5], [0], 2)
    with pytest.raises(InputError):
        deduplicate_battles([0], [1], [7], 2)


def test_two_models_closed_form() -> None:
    # 3 wins vs 1 win: beta_0 - beta_1 = ln 3, centred: +-ln(3)/2.
    fit = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
    assert fit.ridge == 0.0 and fit.converged
    np.testing.assert_allclose(fit.beta, [math.log(3) / 2, -math.log(3) / 2], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_choix_within_1e6(seed: int) -> None:
    n = 8
    _, v = _sim(n, 1200, seed)
    cells = deduplicate_battles(v.model_a, v.model_b, v.outcome, n)
    w = win_matrix(cells)
    ours = elo_scale(fit_bradley_terry(w).beta)
    # Independent implementation 1: choix I-LSR on the same (half-win) comparison matrix.
    ref = choix.ilsr_pairwise_dense(w, alpha=0.0, max_iter=10_000, tol=1e-13)
    np.testing.assert_allclose(ours, elo_scale(ref), atol=1e-6)
    # Independent implementation 2: choix Newton-CG on integer data with every battle doubled,
    # a win as two comparisons and a tie as one each way; same MLE, likelihood squared.
    data: list[tuple[int, int]] = []
    for a, b, o in zip(v.model_a.tolist(), v.model_b.tolist(), v.outcome.tolist(), strict=True):
        if o == OUTCOME_A:
            data += [(a, b), (a, b)]
        elif o == OUTCOME_B:
            data += [(b, a), (b, a)]
        else:
            data += [(a, b), (b, a)]
    ref2 = choix.opt_pairwise(n, data, alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(ours, elo_scale(ref2), atol=1e-6)


def test_true_order_recovered() -> None:
    _, v = _sim(10, 40_000, seed=3)
    cells = deduplicate_battles(v.model_a, v.model_b, v.outcome, 10)
    r = rate(cells, [f"m{i}" for i in range(10)], np.random.default_rng(4), n_boot=50)
    # Strengths are increasing, so the ratings must be too.
    assert np.all(np.diff(r.rating) > 0)
    assert r.rank.tolist() == list(range(10, 0, -1))
    assert np.all(r.low <= r.rating) and np.all(r.rating <= r.high)
    # Elo-scale ratings are centred at 1000.
    assert abs(np.mean(r.rating) - 1000.0) < 1e-9


def test_rank_upper_bound_by_hand() -> None:
    low = np.array([10.0, 5.0, 0.0])
    high = np.array([20.0, 12.0, 6.0])
    # Model 1's upper 12 < low of model 0 (10)? no -> rank UB 1; model 2: 6 < 10 yes, 6 < 5 no -> 2.
    assert rank_upper_bounds(low, high).tolist() == [1, 1, 2]
    assert point_ranks(np.array([3.0, 3.0, 1.0])).tolist() == [1, 1, 3]


def test_disconnected_graph_gets_ridge_and_stays_finite() -> None:
    # Models {0,1} and {2,3} never meet; model 3 never wins.
    w = np.array([[0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 3], [0, 0, 0, 0]], dtype=float)
    assert not mle_exists(w)
    fit = fit_bradley_terry(w)
    assert fit.ridge == DEFAULT_RIDGE and fit.converged
    assert np.all(np.isfinite(fit.beta)) and abs(fit.beta.sum()) < 1e-9
    assert fit.beta[3] == fit.beta.min()


def test_bootstrap_is_seeded_and_centred() -> None:
    _, v = _sim(6, 2000, seed=5)
    cells = deduplicate_battles(v.model_a, v.model_b, v.outcome, 6)
    b1 = bootstrap_bradley_terry(cells, np.random.default_rng(9), 30)
    b2 = bootstrap_bradley_terry(cells, np.random.default_rng(9), 30)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_allclose(b1.sum(axis=1), 0.0, atol=1e-9)
    assert b1.shape == (30, 6) and b1.std(axis=0).min() > 0


battle_lists = st.lists(
    st.tuples(st.integers(0, 4), st.integers(1, 4), st.sampled_from([0, 1, 2, 3])),
    min_size=1,
    max_size=60,
)


def _arrays(rows: list[tuple[int, int, int]]):
    a = np.array([r[0] for r in rows])
    b = (a + np.array([r[1] for r in rows])) % 5
    return a, b, np.array([r[2] for r in rows])


@settings(max_examples=60, deadline=None)
@given(battle_lists, st.randoms(use_true_random=False))
def test_invariant_to_battle_order(rows, rnd) -> None:
    a, b, o = _arrays(rows)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    f1 = fit_bradley_terry(win_matrix(deduplicate_battles(a, b, o, 5)))
    f2 = fit_bradley_terry(win_matrix(deduplicate_battles(a[perm], b[perm], o[perm], 5)))
    np.testing.assert_allclose(f1.beta, f2.beta, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(battle_lists, st.lists(st.booleans(), min_size=60, max_size=60))
def test_swapping_sides_consistently_changes_nothing(rows, flips) -> None:
    a, b, o = _arrays(rows)
    f = np.array(flips[: len(rows)])
    swapped = {
        OUTCOME_A: OUTCOME_B,
        OUTCOME_B: OUTCOME_A,
        OUTCOME_TIE: OUTCOME_TIE,
        OUTCOME_BOTH_BAD: OUTCOME_BOTH_BAD,
    }
    o2 = np.where(f, [swapped[int(x)] for x in o], o)
    a2, b2 = np.where(f, b, a), np.where(f, a, b)
    w1 = win_matrix(deduplicate_battles(a, b, o, 5))
    w2 = win_matrix(deduplicate_battles(a2, b2, o2, 5))
    np.testing.assert_allclose(w1, w2)
    np.testing.assert_allclose(fit_bradley_terry(w1).beta, fit_bradley_terry(w2).beta, atol=1e-9)


def test_rate_rejects_wrong_roster() -> None:
    cells = deduplicate_battles([0], [1], [0], 2)
    with pytest.raises(InputError):
        rate(cells, ["only-one"], np.random.default_rng(0))


def test_weights_equal_duplication_and_are_scale_free() -> None:
    _, v = _sim(5, 1500, seed=8)
    rng = np.random.default_rng(0)
    w = rng.integers(1, 3, v.outcome.size)  # each battle weighted 1 or 2
    weighted = deduplicate_battles(v.model_a, v.model_b, v.outcome, 5, weights=w)
    # A battle with weight 2 counts like the same battle cast twice.
    rep = np.repeat(np.arange(w.size), w)
    dup = deduplicate_battles(v.model_a[rep], v.model_b[rep], v.outcome[rep], 5)
    np.testing.assert_allclose(win_matrix(weighted), win_matrix(dup))
    assert weighted.n_battles == 1500  # the bootstrap still resamples the 1500 real battles
    scaled = deduplicate_battles(v.model_a, v.model_b, v.outcome, 5, weights=3.0 * w)
    np.testing.assert_allclose(
        fit_bradley_terry(win_matrix(weighted)).beta,
        fit_bradley_terry(win_matrix(scaled)).beta,
        atol=1e-9,
    )
    boot = bootstrap_bradley_terry(weighted, rng, 10)
    assert boot.shape == (10, 5) and np.all(np.isfinite(boot))
    with pytest.raises(InputError):
        deduplicate_battles([0], [1], [0], 2, weights=[-1.0])
