"""Likert means per model and criterion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.arena.likert import likert_means
from sovereval.arena.simulate import simulate_likert
from sovereval.errors import InputError


def test_means_by_hand_unweighted_and_weighted() -> None:
    model = [0, 0, 0, 1, 1]
    crit = [0, 0, 1, 0, 0]
    score = [5, 3, 4, 2, 1]
    s = likert_means(
        model, crit, score, models=["a", "b"], rng=np.random.default_rng(0), n_boot=200
    )
    # a/reliability: (5 + 3) / 2 = 4; a/practicality: 4; b/reliability: 1.5; b/practicality: none.
    assert s.get("a", "reliability").mean == 4.0 and s.get("a", "reliability").n == 2
    assert s.get("a", "practicality").mean == 4.0
    assert s.get("b", "reliability").mean == 1.5
    with pytest.raises(KeyError):
        s.get("b", "practicality")
    w = likert_means(
        model,
        crit,
        score,
        models=["a", "b"],
        rng=np.random.default_rng(0),
        n_boot=200,
        weights=[3, 1, 1, 1, 1],
    )
    # Weighted: (3*5 + 1*3) / 4 = 4.5.
    assert w.get("a", "reliability").mean == 4.5 and w.weighted
    cell = w.get("a", "reliability")
    assert 3 <= cell.low <= cell.mean <= cell.high <= 5


def test_cluster_bootstrap_wider_than_iid_for_correlated_raters() -> None:
    rng = np.random.default_rng(1)
    # 20 raters each give 10 identical scores: iid resampling overstates the information.
    per = rng.integers(1, 6, 20)
    score = np.repeat(per, 10)
    model = np.zeros(200, int)
    crit = np.zeros(200, int)
    who = np.repeat([f"r{i}" for i in range(20)], 10).tolist()
    iid = likert_means(model, crit, score, models=["m"], rng=np.random.default_rng(2), n_boot=400)
    clu = likert_means(
        model, crit, score, models=["m"], rng=np.random.default_rng(2), n_boot=400, cluster=who
    )
    w_iid = iid.cells[0].high - iid.cells[0].low
    w_clu = clu.cells[0].high - clu.cells[0].low
    # Design effect 1 + (m - 1) rho = 10 -> cluster interval ~ sqrt(10) ~ 3x wider.
    assert w_clu > 2 * w_iid


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31))
def test_interval_contains_mean_and_orders_models(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = rng.integers(0, 3, 600)
    scores = simulate_likert(np.array([-1.0, 0.0, 1.0]), model, rng)
    s = likert_means(
        np.repeat(model, 2),
        np.tile([0, 1], 600),
        scores.ravel(),
        models=["x", "y", "z"],
        rng=rng,
        n_boot=100,
    )
    for c in s.cells:
        assert 1 <= c.low <= c.mean <= c.high <= 5
    assert s.get("x", "reliability").mean < s.get("z", "reliability").mean


def test_rejects_out_of_scale() -> None:
    with pytest.raises(InputError):
        likert_means([0], [0], [6], models=["a"], rng=np.random.default_rng(0))
