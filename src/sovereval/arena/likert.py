"""Likert means (1–5) per model and criterion, with bootstrap intervals and stratum weights.

After each vote the panelist rates both answers for reliability and practicality on 1–5. The
summary per (model, criterion) is the weighted mean ``sum w x / sum w`` (a Hájek ratio estimator
when ``w`` are raking weights; Hájek 1971), with a percentile bootstrap interval (Efron &
Tibshirani 1993, ch. 13). With ``cluster`` (the panelist id) the bootstrap resamples panelists,
not single ratings, because one panelist's ratings are correlated (Field & Welsh 2007, cluster
bootstrap); otherwise ratings are resampled independently within each cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sovereval.bootstrap import percentile_interval
from sovereval.errors import InputError

DEFAULT_CRITERIA: tuple[str, ...] = ("reliability", "practicality")


@dataclass(frozen=True)
class LikertCell:
    model: str
    criterion: str
    n: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class LikertSummary:
    cells: tuple[LikertCell, ...]
    level: float
    weighted: bool

    def get(self, model: str, criterion: str) -> LikertCell:
        for c in self.cells:
            if c.model == model and c.criterion == criterion:
                return c
        raise KeyError((model, criterion))


def _weighted_means(
    codes: NDArray[np.int64], x: NDArray[np.float64], w: NDArray[np.float64], n_cells: int
) -> NDArray[np.float64]:
    num = np.bincount(codes, weights=w * x, minlength=n_cells)
    den = np.bincount(codes, weights=w, minlength=n_cells)
    out: NDArray[np.float64] = np.divide(num, den, out=np.full(n_cells, np.nan), where=den > 0)
    return out


def likert_means(
    model: Sequence[int] | NDArray[np.integer],
    criterion: Sequence[int] | NDArray[np.integer],
    score: Sequence[float] | NDArray[np.floating],
    *,
    models: Sequence[str],
    rng: np.random.Generator,
    criteria: Sequence[str] = DEFAULT_CRITERIA,
    weights: Sequence[float] | NDArray[np.floating] | None = None,
    cluster: Sequence[str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    scale: tuple[int, int] = (1, 5),
) -> LikertSummary:
    """Weighted mean and bootstrap interval for every (model, criterion) cell with ratings."""
    m = np.asarray(model, dtype=np.int64)
    c = np.asarray(criterion, dtype=np.int64)
    x = np.asarray(score, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (m.shape == c.shape == x.shape == w.shape) or m.ndim != 1:
        raise InputError("likert: model, criterion, score and weights must have equal length")
    if m.size == 0:
        raise InputError("likert: no ratings to summarise")
    if m.min() < 0 or m.max() >= len(models) or c.min() < 0 or c.max() >= len(criteria):
        raise InputError("likert: model or criterion index outside the roster / criteria list")
    if np.any((x < scale[0]) | (x > scale[1])) or np.any(np.isnan(x)):
        raise InputError(f"likert: scores must lie in {scale[0]}..{scale[1]}")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise InputError("likert: weights must be finite and non-negative")
    if n_boot < 1 or not 0 < level < 1:
        raise InputError("likert: n_boot >= 1 and level in (0, 1) required")
    n_cells = len(models) * len(criteria)
    codes = m * len(criteria) + c
    point = _weighted_means(codes, x, w, n_cells)
    counts = np.bincount(codes, minlength=n_cells)
    boot = np.empty((n_boot, n_cells))
    if cluster is None:
        # Resample within each cell: draw positions inside each cell's block of sorted ratings.
        order = np.argsort(codes, kind="stable")
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per = counts[codes[order]]
        base = start[codes[order]]
        for k in range(n_boot):
            idx = order[base + (rng.random(per.size) * per).astype(np.int64)]
            boot[k] = _weighted_means(codes[order], x[idx], w[idx], n_cells)
    else:
        who = np.asarray(cluster, dtype=object)
        if who.shape != x.shape:
            raise InputError("likert: cluster ids must match the ratings")
        _, cid = np.unique(who.astype(str), return_inverse=True)
        n_cl = int(cid.max()) + 1
        for k in range(n_boot):
            mult = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl).astype(np.float64)
            boot[k] = _weighted_means(codes, x, w * mult[cid], n_cells)
    present = counts > 0
    low = np.full(n_cells, np.nan)
    high = np.full(n_cells, np.nan)
    # A cluster replicate can miss every rater of a cell (NaN); such draws are skipped.
    low[present], high[present] = percentile_interval(boot[:, present], level)
    cells = tuple(
        LikertCell(
            models[i // len(criteria)],
            criteria[i % len(criteria)],
            int(counts[i]),
            float(point[i]),
            float(low[i]),
            float(high[i]),
        )
        for i in range(n_cells)
        if counts[i] > 0
    )
    return LikertSummary(cells, level, weights is not None)
