"""Calibration helpers: null summaries, Wishart draws, controls, rate bounds."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sovereval.provenance.calibration import (
    best_match_score,
    bonferroni_min,
    empirical_rate,
    perturbed_flat,
    random_init_flat,
    stouffer,
    summarize,
    wishart_identity,
)
from sovereval.provenance.stats import unit_u_centred


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


def test_summary_z_and_empirical_p() -> None:
    # null 0..9: mean 4.5, sd 3.03; observed 10 -> z = 5.5/3.03 = 1.82, p_emp = 1/11
    s = summarize(10.0, list(range(10)))
    assert abs(s.z - 5.5 / np.std(np.arange(10), ddof=1)) < 1e-9
    assert s.p_empirical == 1 / 11
    assert summarize(1.0, [0.5]).p_param == 1.0  # too small a null: no claim


def test_wishart_bartlett_has_the_right_mean() -> None:
    # E[W] = n I for Wishart(I_k, n)
    rng = np.random.default_rng(0)
    mean = np.mean([wishart_identity(5, 40, rng) for _ in range(400)], axis=0)
    assert np.allclose(mean, 40 * np.eye(5), atol=2.5)


def test_negative_control_is_unrelated_and_positive_control_is_related() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal((16, 200)) * np.linspace(0.2, 3, 16)[:, None]
    y = y + 2.0 * rng.standard_normal((16, 2)) @ rng.standard_normal((2, 200))
    gram = y @ y.T
    g = unit_u_centred(gram)
    pos = perturbed_flat(gram, 200, 0.2, rng)
    neg = random_init_flat(16, 200, rng)
    assert g is not None and pos is not None and neg is not None
    assert float(g @ pos) > 0.8
    assert abs(float(g @ neg)) < 0.4


def test_best_match_score_uses_the_shallower_side() -> None:
    # 2 x 3: the shallower side has 2 layers; their best partners score 0.9 and 0.5
    s = np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]])
    assert best_match_score(s) == 0.7


def test_combination_rules() -> None:
    assert bonferroni_min([0.01, 0.5, 0.2]) == 0.03
    assert abs(stouffer([1.0, 1.0, 1.0, 1.0]) - 2.0) < 1e-12
    r = empirical_rate([False] * 2995)
    # no positives in n: exact one-sided 95% bound 1 - 0.05^(1/n) ~ 3/n
    assert r.rate == 0.0 and abs(r.upper95 - (1 - 0.05 ** (1 / 2995))) < 1e-9
