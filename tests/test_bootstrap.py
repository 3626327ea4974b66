"""The one bootstrap helper: percentile intervals by hand, and the estimate kept inside."""

from __future__ import annotations

import numpy as np
import pytest

from sovereval.bootstrap import percentile_interval, resample_rows
from sovereval.errors import InputError


def test_percentile_interval_by_hand() -> None:
    reps = np.arange(101, dtype=float)  # 0..100: the 2.5% and 97.5% quantiles are 2.5 and 97.5
    lo, hi = percentile_interval(reps, 0.95)
    assert (float(lo), float(hi)) == pytest.approx((2.5, 97.5))
    # A point outside the replicates' interval widens it; NaN replicates are skipped.
    lo, hi = percentile_interval(np.append(reps, np.nan), 0.95, estimate=99.0)
    assert (float(lo), float(hi)) == pytest.approx((2.5, 99.0))


def test_resample_rows_shape_and_range() -> None:
    idx = resample_rows(7, np.random.default_rng(0), 50)
    assert idx.shape == (50, 7) and idx.min() >= 0 and idx.max() <= 6
    with pytest.raises(InputError):
        resample_rows(0, np.random.default_rng(0), 5)
    with pytest.raises(InputError):
        percentile_interval([1.0], 1.0)
