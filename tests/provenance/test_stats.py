"""Properties of the centred statistics: invariances, null calibration, degenerate inputs."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.provenance.calibration import holm, summarize
from sovereval.provenance.stats import (
    cosine,
    debiased_cka,
    log_agreement_tail_bound,
    low_rank_energy,
    match_test,
    orthonormal_probes,
    pearson,
    procrustes,
    quant_grid,
    regression_split,
    u_centre,
    within_half_step,
)
from sovereval.provenance.variants import block_quantize, random_orthogonal


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra is much faster single-threaded on a shared 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, scale=st.floats(min_value=1e-3, max_value=1e3))
def test_debiased_cka_invariant_to_orthogonal_maps_permutations_and_scale(
    seed: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((24, 10))
    y = x @ rng.standard_normal((10, 7)) + 0.3 * rng.standard_normal((24, 7))
    base = debiased_cka(x, y)
    q = random_orthogonal(7, rng)
    perm = rng.permutation(10)
    # rotating/permuting either feature space and rescaling leaves CKA unchanged
    assert math.isclose(debiased_cka(x[:, perm] * scale, y @ q), base, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_debiased_cka_of_a_representation_with_itself_is_one(seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((16, 5))
    assert math.isclose(debiased_cka(x, x), 1.0, abs_tol=1e-9)


def test_u_centred_gram_has_zero_diagonal_and_zero_row_sums() -> None:
    # Szekely-Rizzo U-centring: rows of the U-centred matrix sum to zero (off-diagonal)
    k = np.random.default_rng(1).standard_normal((9, 9))
    g = u_centre(k + k.T)
    assert np.allclose(np.diag(g), 0.0)
    assert np.allclose(g.sum(axis=1), 0.0)


def test_debiased_cka_is_unbiased_under_independence() -> None:
    # biased linear CKA of independent wide random matrices is large (~ p / (p + n));
    # the debiased estimator centres on 0. 200 pairs: |mean| < 4 standard errors.
    rng = np.random.default_rng(2)
    vals = [
        debiased_cka(rng.standard_normal((32, 200)), rng.standard_normal((32, 200)))
        for _ in range(200)
    ]
    se = np.std(vals) / np.sqrt(len(vals))
    assert abs(np.mean(vals)) < 4 * se


def test_permutation_p_values_are_calibrated_under_the_null() -> None:
    # Under independence the permutation p-value is (super-)uniform: P(p <= 0.1) <= 0.1.
    # 150 null pairs: binomial(150, 0.1) exceeds 27 with probability < 0.5%.
    rng = np.random.default_rng(3)
    ps = []
    for _ in range(150):
        x, y = rng.standard_normal((20, 6)), rng.standard_normal((20, 6))
        obs = debiased_cka(x, y)
        null = [debiased_cka(x, y[rng.permutation(20)]) for _ in range(60)]
        ps.append(summarize(obs, null).p_empirical)
    assert sum(p <= 0.1 for p in ps) <= 27


def test_zero_and_nan_inputs_are_safe() -> None:
    z = np.zeros((8, 4))
    x = np.random.default_rng(4).standard_normal((8, 4))
    # naive cosine would divide by zero; every statistic returns a finite 0
    assert cosine(z, x) == 0.0
    assert pearson(z, x) == 0.0
    assert debiased_cka(z, x) == 0.0
    assert pearson(np.full(5, np.nan), np.arange(5.0)) == 0.0
    assert low_rank_energy(z, 2) == 0.0


def test_layernorm_trap_cosine_high_pearson_near_zero() -> None:
    # Two unrelated gain vectors around 1.0 with spread 0.05: cosine = E[g1 g2]/E[g^2]
    # = 1 / (1 + 0.05^2) ~ 0.9975, Pearson ~ 0 (sd 1/sqrt(2048) ~ 0.022).
    rng = np.random.default_rng(5)
    g1 = 1 + 0.05 * rng.standard_normal(2048)
    g2 = 1 + 0.05 * rng.standard_normal(2048)
    assert cosine(g1, g2) > 0.99
    assert abs(pearson(g1, g2)) < 0.1


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_procrustes_recovers_a_rotation_and_scale(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((200, 12))
    q = random_orthogonal(12, rng)
    b = 2.5 * a @ q.T  # rows rotated and scaled: x_b = Q^T-convention inverse of Procrustes map
    p = procrustes(a, b)
    assert np.allclose(b @ p.q.T * (1 / 2.5), a, atol=1e-8)
    assert math.isclose(p.fit, 1.0, abs_tol=1e-9)


def test_orthonormal_probes_are_orthonormal() -> None:
    z = orthonormal_probes(20, 6, np.random.default_rng(6))
    assert np.allclose(z.T @ z, np.eye(6))


def test_agreement_tail_bound_exact_values() -> None:
    # n = 2, m = 4, c = 2: C(2,2) / (4 * 3) = 1/12
    assert math.isclose(math.exp(log_agreement_tail_bound(2, 2, 4)), 1 / 12)
    # c = 1: C(2,1) / 4 = 1/2
    assert math.isclose(math.exp(log_agreement_tail_bound(1, 2, 4)), 0.5)
    assert log_agreement_tail_bound(0, 5, 9) == 0.0


def test_match_test_separates_permuted_copies_from_independent_mlps() -> None:
    rng = np.random.default_rng(7)
    up, down = rng.standard_normal((300, 32)), rng.standard_normal((300, 32))
    perm = rng.permutation(300)
    derived = match_test(
        up, up[perm] + 0.1 * rng.standard_normal((300, 32)), down, down[perm], n_sub=64, rng=rng
    )
    assert derived.agreements >= 60 and derived.log10_p < -100
    indep = match_test(
        up, rng.standard_normal((300, 32)), down, rng.standard_normal((300, 32)), n_sub=64, rng=rng
    )
    # expected agreements under the null: 64 / 300 ~ 0.2
    assert indep.agreements <= 4 and indep.log10_p > -3


def test_holm_adjustment_known_values() -> None:
    # p = (0.01, 0.04, 0.03): sorted 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04)
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_low_rank_energy_and_regression_split() -> None:
    rng = np.random.default_rng(8)
    d = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
    assert math.isclose(low_rank_energy(d, 3), 1.0, abs_tol=1e-9)
    a = rng.standard_normal(1000)
    slope, upd = regression_split(a, 0.5 * a)
    assert math.isclose(slope, 0.5) and upd < 1e-9


def test_quant_grid_detection_and_half_step_error() -> None:
    x = np.random.default_rng(9).standard_normal((8, 64)).astype(np.float32)
    q4 = block_quantize(x, "q4_0")
    q8 = block_quantize(x, "q8_0")
    assert (quant_grid(x), quant_grid(q4), quant_grid(q8)) == ("none", "q4", "q8")
    # rounding to a grid moves every value by at most half a step
    assert within_half_step(x, q4, "q4", q4) == 1.0
    assert within_half_step(x, x + 0.5, "q4", q4) < 0.5
