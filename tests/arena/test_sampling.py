"""Joint cell targets by raking, controlled rounding and stratified invitations."""

from __future__ import annotations

import numpy as np
import pytest

from sovereval.arena.panel import Panelist, Quotas, check_panel, reference_quotas
from sovereval.arena.sampling import rake_table, round_table, sample_invitations, scale_quotas
from sovereval.errors import InputError


def test_scale_quotas_largest_remainder_by_hand() -> None:
    q = scale_quotas(reference_quotas(), 1667)
    # 250 * 1667 / 500 = 833.5 each: the first category takes the extra unit.
    assert q.targets["gender"] == {"female": 834, "male": 833}
    # 100 * 3.334 = 333.4 per age band: floors 333 x 5 = 1665, two extra units to the first two.
    assert list(q.targets["age_band"].values()) == [334, 334, 333, 333, 333]
    assert q.total == 1667


def test_rake_table_matches_margins_and_keeps_odds_ratio() -> None:
    seed = np.array([[40.0, 10.0], [20.0, 30.0]])
    margins = {0: np.array([50.0, 50.0]), 1: np.array([50.0, 50.0])}
    t = rake_table(seed, margins)
    np.testing.assert_allclose(t.sum(axis=1), [50, 50], atol=1e-6)
    np.testing.assert_allclose(t.sum(axis=0), [50, 50], atol=1e-6)
    # IPF preserves the cross-product ratio: (40 * 30) / (10 * 20) = 6.
    assert t[0, 0] * t[1, 1] / (t[0, 1] * t[1, 0]) == pytest.approx(6.0)


def test_capacity_is_respected_and_others_take_up_the_slack() -> None:
    seed = np.array([[40.0, 10.0], [20.0, 30.0]])
    cap = np.array([[40.0, 5.0], [100.0, 100.0]])
    margins = {0: np.array([50.0, 50.0]), 1: np.array([50.0, 50.0])}
    t = rake_table(seed, margins, capacity=cap)
    assert t[0, 1] <= 5.0 + 1e-9
    np.testing.assert_allclose(t.sum(axis=0), [50, 50], atol=1e-6)
    r = round_table(t, margins, 100, cap)
    assert r.sum() == 100 and np.all(r <= cap)


def test_scarce_stratum_still_meets_margins() -> None:
    rng = np.random.default_rng(4)
    pool: list[Panelist] = []
    ages = ["20s", "30s", "40s", "50s", "60+"]
    for i in range(3000):
        age = ages[i % 5]
        # Advanced users over 60 are rare in this pool: only 5 of them.
        prof = ["novice", "intermediate", "advanced"][i % 3]
        if age == "60+" and prof == "advanced" and i > 100:
            prof = "novice"
        pool.append(
            Panelist(
                f"c{i}",
                ["female", "male"][(i // 7) % 2],
                ["capital", "other"][(i // 3) % 2],
                age,
                prof,
            )  # type: ignore[arg-type]
        )
    plan = sample_invitations(pool, reference_quotas(), rng)
    assert len(plan.invited) == 500
    assert (
        check_panel(
            [p for p in pool if p.panelist_id in set(plan.invited)], reference_quotas()
        ).max_abs_deviation
        == 0
    )
    assert plan.cell_targets.get(("female", "capital", "60+", "advanced"), 0) <= 5


def test_bad_inputs() -> None:
    pool = [Panelist("x", "female", "capital", "20s", "novice")] * 2
    with pytest.raises(InputError):
        sample_invitations(pool, reference_quotas(), np.random.default_rng(0))
    with pytest.raises(InputError):
        sample_invitations(pool[:1], reference_quotas(), np.random.default_rng(0), response_rate=0)
    with pytest.raises(InputError):
        Quotas({})
