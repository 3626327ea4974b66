"""The simulator is seeded and produces what it was asked for."""

from __future__ import annotations

import numpy as np
import pytest

from sovereval.arena.bt import OUTCOME_TIE
from sovereval.arena.simulate import assign_kinds, simulate_votes
from sovereval.errors import InputError


def test_seeded_and_tie_rate() -> None:
    s = np.array([0.0, 1.0, 2.0])
    v1 = simulate_votes(s, 20_000, np.random.default_rng(1), tie_prob=0.2)
    v2 = simulate_votes(s, 20_000, np.random.default_rng(1), tie_prob=0.2)
    np.testing.assert_array_equal(v1.outcome, v2.outcome)
    # Tie rate 0.2 with sd sqrt(0.16 / 20000) = 0.0028.
    assert abs(float(np.mean(v1.outcome == OUTCOME_TIE)) - 0.2) < 0.015
    assert np.all(v1.model_a != v1.model_b)


def test_adversarial_votes_invert_the_consensus() -> None:
    s = np.array([0.0, 2.0])
    v = simulate_votes(s, 20_000, np.random.default_rng(2), tie_prob=0.0, kinds=("adversarial",))
    strong_wins = np.mean((v.model_a == 1) == (v.outcome == 0))
    # Honest P(strong wins) = sigmoid(2) = 0.881; adversaries give 1 - 0.881 = 0.119.
    assert abs(strong_wins - 0.119) < 0.015


def test_assign_kinds_validates_mix() -> None:
    kinds = assign_kinds(1000, np.random.default_rng(0), {"honest": 0.9, "random": 0.1})
    assert set(kinds) <= {"honest", "random"} and 50 < kinds.count("random") < 150
    with pytest.raises(InputError):
        assign_kinds(3, np.random.default_rng(0), {"honest": 0.5})
