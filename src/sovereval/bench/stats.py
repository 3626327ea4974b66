"""Task statistics: mean score with a seeded percentile-bootstrap 95% interval, per subject.

The interval is Efron's percentile bootstrap (Efron & Tibshirani 1993, *An Introduction to
the Bootstrap*, ch. 13): resample the n item scores with replacement B times, take the
alpha/2 and 1-alpha/2 quantiles of the resampled means.

Vectorised without materialising a B x n index matrix when the scores take few distinct
values (accuracy 0/1, judge ratings 1-10): the counts of each distinct value in a resample
of size n are Multinomial(n, observed frequencies), so the resampled mean is
``counts @ values / n`` — the same distribution as index resampling, drawn in O(B k) for k
distinct values. Otherwise indices are drawn in chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sovereval.bootstrap import percentile_interval, resample_rows
from sovereval.errors import InputError

_MAX_DISTINCT_MULTINOMIAL = 64
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95


def bootstrap_means(
    values: ArrayLike, rng: np.random.Generator, n_resamples: int = 10_000
) -> np.ndarray:
    """``n_resamples`` bootstrap replicates of the mean of ``values`` (1-D, finite)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise InputError("bootstrap needs a non-empty 1-D array of scores")
    if not np.all(np.isfinite(x)):
        raise InputError("bootstrap scores contain NaN or infinity; drop unscored items first")
    if n_resamples < 1:
        raise InputError("n_resamples must be at least 1")
    n = x.size
    uniq, counts = np.unique(x, return_counts=True)
    if uniq.size <= _MAX_DISTINCT_MULTINOMIAL:
        draws = rng.multinomial(n, counts / n, size=n_resamples)
        return np.asarray(draws @ uniq / n, dtype=np.float64)
    out = np.empty(n_resamples)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_resamples, step):
        stop = min(start + step, n_resamples)
        idx = resample_rows(n, rng, stop - start)
        out[start:stop] = x[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: ArrayLike, rng: np.random.Generator, level: float = 0.95, n_resamples: int = 10_000
) -> Interval:
    """Mean of ``values`` with its percentile-bootstrap interval at ``level``."""
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must be in (0, 1)")
    x = np.asarray(values, dtype=np.float64)
    reps = bootstrap_means(x, rng, n_resamples)
    low, high = percentile_interval(reps, level)
    return Interval(float(x.mean()), float(low), float(high), int(x.size), level)


@dataclass(frozen=True)
class TaskSummary:
    overall: Interval
    by_subject: Mapping[str, Interval]
    n_unscored: int
    """Items whose score was ``None`` (excluded from every interval, reported)."""


def summarise(
    scores: Sequence[float | None],
    subjects: Sequence[str],
    rng: np.random.Generator,
    level: float = 0.95,
    n_resamples: int = 10_000,
) -> TaskSummary:
    """Overall and per-subject mean with bootstrap intervals.

    Subjects are resampled independently (each interval is its own bootstrap), in sorted
    subject order so that the result depends only on ``rng``'s state and the inputs.
    """
    if len(scores) != len(subjects):
        raise InputError(f"{len(scores)} scores but {len(subjects)} subjects")
    kept = [(s, subj) for s, subj in zip(scores, subjects, strict=True) if s is not None]
    if not kept:
        raise InputError("no scored items to summarise")
    vals = np.array([s for s, _ in kept], dtype=np.float64)
    subj = np.array([x for _, x in kept], dtype=object)
    overall = bootstrap_ci(vals, rng, level, n_resamples)
    by_subject = {
        name: bootstrap_ci(vals[subj == name], rng, level, n_resamples)
        for name in sorted(set(subj.tolist()))
    }
    return TaskSummary(overall, by_subject, len(scores) - len(kept))
