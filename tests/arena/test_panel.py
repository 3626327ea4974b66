"""Quotas, quota checks, raking weights and stratified invitations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.arena.panel import (
    CATEGORIES,
    Panelist,
    Quotas,
    check_panel,
    raking_weights,
    reference_quotas,
)
from sovereval.arena.sampling import sample_invitations
from sovereval.arena.simulate import simulate_panel, simulate_pool
from sovereval.errors import InputError


def _p(i: int, g: str, r: str, a: str, pr: str) -> Panelist:
    return Panelist(f"p{i}", g, r, a, pr)  # type: ignore[arg-type]


SMALL = Quotas(
    {
        "gender": {"female": 5, "male": 5},
        "proficiency": {"novice": 3, "intermediate": 5, "advanced": 2},
    }
)


def test_check_panel_hand_computed() -> None:
    # 7 women, 3 men; 2 novice, 6 intermediate, 2 advanced.
    panel = [_p(i, "female", "capital", "20s", "intermediate") for i in range(6)]
    panel += [_p(6, "female", "other", "30s", "novice")]
    panel += [_p(7, "male", "other", "40s", "novice"), _p(8, "male", "other", "40s", "advanced")]
    panel += [_p(9, "male", "other", "60+", "advanced")]
    rep = check_panel(panel, SMALL)
    dev = {(c.dimension, c.category): c.deviation for c in rep.cells}
    assert dev[("gender", "female")] == 2 and dev[("gender", "male")] == -2
    assert dev[("proficiency", "novice")] == -1 and dev[("proficiency", "intermediate")] == 1
    assert dev[("proficiency", "advanced")] == 0
    tests = {t.dimension: t for t in rep.tests}
    # Gender: E = 5, 5; X^2 = (7-5)^2/5 + (3-5)^2/5 = 1.6 on 1 df.
    assert tests["gender"].chi2 == pytest.approx(1.6) and tests["gender"].dof == 1
    # Proficiency: E = 3, 5, 2; X^2 = 1/3 + 1/5 + 0 = 0.5333 on 2 df; p = exp(-X^2/2) for 2 df.
    assert tests["proficiency"].chi2 == pytest.approx(8 / 15)
    assert tests["proficiency"].p_value == pytest.approx(np.exp(-4 / 15))
    assert rep.max_abs_deviation == 2 and rep.within(2) and not rep.within(1)
    assert "female" in rep.to_text()


def test_reference_quotas_total_and_validation() -> None:
    q = reference_quotas()
    assert q.total == 500 and q.target("proficiency", "intermediate") == 250
    with pytest.raises(InputError):
        Quotas({"gender": {"female": 1, "male": 1}, "region": {"capital": 3, "other": 0}})
    with pytest.raises(InputError):
        Quotas({"height": {"tall": 1}})
    with pytest.raises(InputError):
        _p(0, "other", "capital", "20s", "novice")


def test_simulated_panel_meets_reference_quotas_exactly() -> None:
    panel = simulate_panel(reference_quotas(), np.random.default_rng(11))
    rep = check_panel(panel, reference_quotas())
    assert len(panel) == 500 and rep.max_abs_deviation == 0


def test_invitations_scale_with_response_rate_and_report_shortfall() -> None:
    rng = np.random.default_rng(2)
    pool = simulate_pool(5000, rng)
    plan = sample_invitations(pool, reference_quotas(), rng, response_rate=0.5)
    # 500 / 0.5 = 1000 invitations, every margin doubled.
    assert len(plan.invited) == 1000 and plan.expected.max_abs_deviation == 0
    assert sum(plan.cell_targets.values()) == 1000
    small = sample_invitations(pool[:300], reference_quotas(), rng)
    # Pool of 300 cannot supply 500: everything short is reported.
    assert len(small.invited) <= 300
    assert sum(small.shortfall["gender"].values()) == 500 - len(small.invited)


def test_invitations_are_seeded() -> None:
    pool = simulate_pool(2000, np.random.default_rng(0))
    p1 = sample_invitations(pool, reference_quotas(), np.random.default_rng(5))
    p2 = sample_invitations(pool, reference_quotas(), np.random.default_rng(5))
    assert p1.invited == p2.invited


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(60, 400))
def test_raking_weights_reproduce_quota_shares(seed: int, n: int) -> None:
    panel = simulate_pool(n, np.random.default_rng(seed))
    q = reference_quotas()
    present = all(any(getattr(p, d) == c for p in panel) for d in q.targets for c in CATEGORIES[d])
    if not present:
        with pytest.raises(InputError):
            raking_weights(panel, q)
        return
    w = raking_weights(panel, q)
    assert np.mean(list(w.values())) == pytest.approx(1.0)
    for dim in q.targets:
        for cat, share in q.proportions(dim).items():
            got = sum(w[p.panelist_id] for p in panel if getattr(p, dim) == cat) / n
            assert got == pytest.approx(share, abs=1e-6)
