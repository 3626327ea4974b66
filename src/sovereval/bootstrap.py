"""The one bootstrap helper: resampled rows and percentile intervals.

Every interval this package reports from resampling (benchmark task means, expert-review
trimmed means, arena ratings, field win rates and Likert means) is Efron's percentile bootstrap
(Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13): draw ``n_boot`` samples
of the rows with replacement, compute the statistic on each, and take the ``(1-level)/2`` and
``1-(1-level)/2`` quantiles of the replicates. Randomness comes from the caller's ``rng``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sovereval.errors import InputError


def resample_rows(n: int, rng: np.random.Generator, n_boot: int) -> NDArray[np.int64]:
    """``(n_boot, n)`` row indices drawn with replacement."""
    if n < 1 or n_boot < 1:
        raise InputError("a bootstrap needs at least one row and one resample")
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(
    replicates: ArrayLike, level: float, *, estimate: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(low, high)`` over axis 0 of ``replicates`` (NaN replicates skipped). With ``estimate``
    the interval is widened to contain it (a skewed statistic can put the point outside)."""
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must be in (0, 1)")
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(np.asarray(replicates, dtype=np.float64), [tail, 1 - tail], axis=0)
    if estimate is not None:
        est = np.asarray(estimate, dtype=np.float64)
        low, high = np.minimum(low, est), np.maximum(high, est)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
