"""Style control."""

from __future__ import annotations

import numpy as np
import pytest

from sovereval.arena.bt import deduplicate_battles, fit_bradley_terry, win_matrix
from sovereval.arena.simulate import simulate_styled_votes
from sovereval.arena.style import fit_style_controlled, style_differences, style_features
from sovereval.errors import InputError


def test_features_by_hand() -> None:
    text = "# Title\n\n- one **bold**\n- two\n1. three\n\nplain __x__ text"
    f = style_features(text)
    # headers 1; list items 3 ("- one", "- two", "1. three"); bold 2; length = non-space chars.
    assert f[1:].tolist() == [1, 3, 2]
    assert f[0] == len("".join(text.split()))


def test_differences_normalised_and_standardised() -> None:
    fa = np.array([[30.0, 0], [10.0, 0], [20.0, 2]])
    fb = np.array([[10.0, 0], [30.0, 0], [20.0, 0]])
    z = style_differences(fa, fb)
    # Length: (30-10)/40 = 0.5, -0.5, 0 -> mean 0, sd sqrt(1/6) -> +-1.2247, 0.
    np.testing.assert_allclose(z[:, 0], [np.sqrt(1.5), -np.sqrt(1.5), 0.0])
    # Second column: 0/0 -> 0 twice, then (2-0)/2 = 1 -> standardised.
    assert z[2, 1] > 0 and z[0, 1] == z[1, 1]


def test_style_control_removes_verbosity_advantage() -> None:
    n = 6
    strengths = np.linspace(-1.0, 1.0, n)
    verbosity = np.array([0, 0, 0, 0, 0, 0.8])  # the last model writes much longer answers
    rng = np.random.default_rng(0)
    v, fa, fb = simulate_styled_votes(
        strengths, 20_000, rng, length_effect=1.5, verbosity=verbosity
    )
    z = style_differences(fa, fb)
    sc = fit_style_controlled(v.model_a, v.model_b, v.outcome, z, [f"m{i}" for i in range(n)])
    plain = fit_bradley_terry(
        win_matrix(deduplicate_battles(v.model_a, v.model_b, v.outcome, n))
    ).beta
    truth = strengths - strengths.mean()
    assert sc.converged
    assert sc.coefficients[0] > 0.2  # length sways votes
    assert np.all(np.abs(sc.coefficients[1:]) < 0.1)  # formatting counts are pure noise
    # The verbose model is overrated without control and much less with it.
    assert plain[-1] - truth[-1] > 0.25
    assert abs(sc.log_strength[-1] - truth[-1]) < 0.5 * (plain[-1] - truth[-1])


def test_bootstrap_intervals_and_input_checks() -> None:
    rng = np.random.default_rng(1)
    v, fa, fb = simulate_styled_votes(np.zeros(3), 600, rng, length_effect=1.0)
    z = style_differences(fa, fb)
    sc = fit_style_controlled(
        v.model_a, v.model_b, v.outcome, z, ["a", "b", "c"], rng=rng, n_boot=20
    )
    assert sc.low is not None and sc.high is not None and sc.coef_low is not None
    assert np.all(sc.low <= sc.high)
    with pytest.raises(InputError):
        fit_style_controlled(v.model_a, v.model_b, v.outcome, z, ["a", "b", "c"], n_boot=5)
