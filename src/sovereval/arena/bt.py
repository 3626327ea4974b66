"""Bradley–Terry ratings from blind pairwise battles, with bootstrap uncertainty.

Model (Bradley & Terry 1952): ``P(i beats j) = sigmoid(beta_i - beta_j)``. A tie (and a
"both bad" vote, as in Chatbot Arena) counts as half a win for each side, so the data reduce to
the win matrix ``W[i, j]`` = wins of ``i`` over ``j`` plus half the ties. The log-likelihood

    l(beta) = sum_ij W_ij * log sigmoid(beta_i - beta_j)

depends on the battles only through ``W`` (its sufficient statistic), so a million battles among
50 models become a 50 x 50 matrix. We maximise ``l`` by Newton's method on that matrix: the
gradient is ``g_i = sum_j W_ij - N_ij p_ij`` with ``N = W + W^T`` and the negative Hessian is the
graph Laplacian weighted by ``N_ij p_ij (1 - p_ij)`` (Hunter 2004, sec. 3; the MM algorithm of
the same paper converges linearly, Newton quadratically). The Laplacian is singular along the
all-ones vector (only differences are identified); we solve ``(H + 11^T/n) d = g``, which gives
the minimum-norm step because ``g`` sums to zero, and keep ``beta`` centred.

Existence (Zermelo 1929; Ford 1957): the MLE is finite iff the directed graph with an edge
``i -> j`` whenever ``W_ij > 0`` is strongly connected. When it is not (a model with no wins, or
two groups never compared) we add a Gaussian prior ``beta ~ N(0, 1/ridge)``, i.e. the penalty
``ridge/2 * |beta|^2``, with ``ridge = DEFAULT_RIDGE`` unless the caller gives one. The prior
keeps every rating finite and is documented in the result (``ridge``).

Uncertainty: the nonparametric bootstrap resamples the battles with replacement. Resampling
``N`` battles from the deduplicated cells is a multinomial draw over the cells with
probabilities ``count / N``; we draw all replicates at once and refit them as one batched Newton
iteration warm-started at the point estimate. Intervals are percentile intervals; the rank upper
bound follows Chatbot Arena (Chiang et al. 2024): ``1 + #{models whose lower bound exceeds this
model's upper bound}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from sovereval.bootstrap import percentile_interval
from sovereval.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

OUTCOME_A = 0
"""The left (A) answer won."""
OUTCOME_B = 1
"""The right (B) answer won."""
OUTCOME_TIE = 2
"""Tie: half a win to each side."""
OUTCOME_BOTH_BAD = 3
"""Both answers bad: scored as a tie (as Chatbot Arena does); merged into ``OUTCOME_TIE``."""

ELO_SCALE = 400.0 / math.log(10.0)
"""Elo-like scale: 400 points per factor of 10 in odds."""
ELO_BASE = 1000.0
DEFAULT_RIDGE = 1e-3
"""Prior precision used only when the MLE does not exist (graph not strongly connected)."""


@dataclass(frozen=True)
class BattleCells:
    """Deduplicated battles: unique ``(a, b, outcome[, weight])`` cells with their counts.

    ``outcome`` is 0 (A won), 1 (B won) or 2 (tie; "both bad" merged in). ``weight`` is the
    per-battle weight shared by the cell (1.0 unless stratum weights were given).
    """

    n_models: int
    a: IntArray
    b: IntArray
    outcome: IntArray
    count: IntArray
    weight: FloatArray

    @property
    def n_battles(self) -> int:
        return int(self.count.sum())

    def win_weights(self) -> tuple[FloatArray, FloatArray]:
        """Per-cell credit to A and to B for one battle: (1, 0), (0, 1) or (0.5, 0.5)."""
        wa = np.where(
            self.outcome == OUTCOME_A, 1.0, np.where(self.outcome == OUTCOME_TIE, 0.5, 0.0)
        )
        return wa, 1.0 - wa


def deduplicate_battles(
    model_a: Sequence[int] | NDArray[np.integer],
    model_b: Sequence[int] | NDArray[np.integer],
    outcome: Sequence[int] | NDArray[np.integer],
    n_models: int,
    *,
    weights: Sequence[float] | NDArray[np.floating] | None = None,
) -> BattleCells:
    """Collapse raw battles (model indices and outcome codes 0..3) into counted unique cells.

    ``weights`` (optional, per battle) are stratum weights, e.g. the raking weight of the voting
    panelist: the fit then maximises the weighted (pseudo-)likelihood (Skinner, Holt & Smith
    1989, ch. 3). Battles with different weights stay in different cells, so the bootstrap still
    resamples battles, each carrying its own weight.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    if not (a.shape == b.shape == o.shape) or a.ndim != 1:
        raise InputError("battles: model_a, model_b and outcome must be 1-D arrays of equal length")
    if n_models < 2:
        raise InputError("battles: need at least two models to rate")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_models):
        raise InputError(f"battles: model index outside 0..{n_models - 1}; check the roster")
    if np.any(a == b):
        raise InputError("battles: a model cannot battle itself; drop those rows")
    if o.size and (o.min() < 0 or o.max() > OUTCOME_BOTH_BAD):
        raise InputError("battles: outcome codes must be 0 (A), 1 (B), 2 (tie) or 3 (both bad)")
    o = np.minimum(o, OUTCOME_TIE)
    key = (a * n_models + b) * 3 + o
    if weights is None:
        levels = np.ones(1)
        group = np.zeros(a.size, dtype=np.int64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != a.shape or np.any(w < 0) or not np.all(np.isfinite(w)):
            raise InputError("battles: weights must be finite, non-negative, one per battle")
        levels, group = np.unique(w, return_inverse=True)
    n_levels = levels.size
    full = key * n_levels + group.astype(np.int64)
    counts = np.bincount(full, minlength=n_models * n_models * 3 * n_levels)
    (cells,) = np.nonzero(counts)
    base = cells // n_levels
    return BattleCells(
        n_models=n_models,
        a=(base // 3 // n_models).astype(np.int64),
        b=(base // 3 % n_models).astype(np.int64),
        outcome=(base % 3).astype(np.int64),
        count=counts[cells].astype(np.int64),
        weight=levels[cells % n_levels].astype(np.float64),
    )


def _win_operator(cells: BattleCells) -> sparse.csr_matrix:
    """Sparse map from cell counts (K,) to the flattened win matrix (n*n,), weights included."""
    n = cells.n_models
    wa, wb = cells.win_weights()
    wa, wb = wa * cells.weight, wb * cells.weight
    k = np.arange(cells.a.size)
    rows = np.concatenate([cells.a * n + cells.b, cells.b * n + cells.a])
    cols = np.concatenate([k, k])
    vals = np.concatenate([wa, wb])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n * n, cells.a.size))


def win_matrix(cells: BattleCells) -> FloatArray:
    """``W[i, j]`` = wins of ``i`` over ``j`` plus half the ties between them."""
    n = cells.n_models
    flat = _win_operator(cells) @ cells.count.astype(np.float64)
    return np.asarray(flat, dtype=np.float64).reshape(n, n)


def mle_exists(w: FloatArray) -> bool:
    """Ford's (1957) condition: the directed "beat at least half" graph is strongly connected."""
    n_comp, _ = connected_components(sparse.csr_matrix(w > 0), directed=True, connection="strong")
    return bool(n_comp == 1)


@dataclass(frozen=True)
class BTFit:
    """Point estimate: centred log-strengths and how they were obtained."""

    beta: FloatArray
    ridge: float
    """Prior precision used (0.0 = plain maximum likelihood)."""
    iterations: int
    converged: bool


def _newton_batch(
    w: FloatArray, beta0: FloatArray, ridge: FloatArray, tol: float, max_iter: int
) -> tuple[FloatArray, int, bool]:
    """Batched damped Newton for ``B`` win matrices ``w`` of shape (B, n, n)."""
    n = w.shape[-1]
    nmat = w + np.swapaxes(w, 1, 2)
    wins = w.sum(axis=2)
    beta = beta0 - beta0.mean(axis=1, keepdims=True)
    eye = np.eye(n)
    ones = np.full((n, n), 1.0 / n)
    for it in range(1, max_iter + 1):
        p = expit(beta[:, :, None] - beta[:, None, :])
        grad = wins - (nmat * p).sum(axis=2) - ridge[:, None] * beta
        h = nmat * p * (1.0 - p)
        hess = -h + eye * (h.sum(axis=2) + ridge[:, None])[:, :, None] + ones
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        # Damping: Newton on a concave objective can overshoot far from the optimum.
        big = np.abs(step).max(axis=1, keepdims=True)
        step = step * np.minimum(1.0, 4.0 / np.maximum(big, 1e-300))
        beta = beta + step
        beta -= beta.mean(axis=1, keepdims=True)
        if float(np.abs(step).max()) < tol:
            return beta, it, True
    return beta, max_iter, False


def fit_bradley_terry(
    w: FloatArray,
    *,
    ridge: float | None = None,
    init: FloatArray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BTFit:
    """Fit centred log-strengths to one win matrix.

    ``ridge=None`` means: plain MLE when it exists, else ``DEFAULT_RIDGE`` (see module docstring).
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise InputError("win matrix must be square with at least two models")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise InputError("win matrix must hold finite, non-negative counts")
    lam = (0.0 if mle_exists(w) else DEFAULT_RIDGE) if ridge is None else float(ridge)
    if lam < 0:
        raise InputError("ridge must be non-negative")
    b0 = np.zeros(w.shape[0]) if init is None else np.asarray(init, dtype=np.float64)
    beta, it, ok = _newton_batch(w[None], b0[None], np.array([lam]), tol, max_iter)
    return BTFit(beta=beta[0], ridge=lam, iterations=it, converged=ok)


def bootstrap_bradley_terry(
    cells: BattleCells,
    rng: np.random.Generator,
    n_boot: int = 100,
    *,
    ridge: float | None = None,
    init: FloatArray | None = None,
    tol: float = 1e-8,
    max_iter: int = 50,
) -> FloatArray:
    """Centred log-strengths of ``n_boot`` bootstrap replicates, shape (n_boot, n_models).

    All replicates are drawn at once with ``rng.multinomial`` over the unique cells and refitted
    as one batch from the warm start ``init`` (the point estimate, if given).
    """
    if n_boot < 1:
        raise InputError("n_boot must be at least 1")
    n, total = cells.n_models, cells.n_battles
    if total == 0:
        raise InputError("no battles to bootstrap")
    probs = cells.count / total
    draws = rng.multinomial(total, probs, size=n_boot).astype(np.float64)
    op = _win_operator(cells)
    w = np.asarray((op @ draws.T).T, dtype=np.float64).reshape(n_boot, n, n)
    if ridge is None:
        lam = np.array([0.0 if mle_exists(wb) else DEFAULT_RIDGE for wb in w])
    else:
        lam = np.full(n_boot, float(ridge))
    b0 = np.zeros((n_boot, n)) if init is None else np.tile(np.asarray(init, float), (n_boot, 1))
    beta, _, _ = _newton_batch(w, b0, lam, tol, max_iter)
    return beta


def elo_scale(beta: FloatArray) -> FloatArray:
    """Centred log-strengths to the Elo-like scale ``400/ln 10 * beta + 1000``."""
    b = np.asarray(beta, dtype=np.float64)
    out: FloatArray = ELO_SCALE * (b - b.mean(axis=-1, keepdims=True)) + ELO_BASE
    return out


def rank_upper_bounds(low: FloatArray, high: FloatArray) -> IntArray:
    """``1 + #{j : low_j > high_i}``: the best rank model ``i`` cannot be excluded from."""
    lo, hi = np.asarray(low), np.asarray(high)
    out: IntArray = (1 + (lo[None, :] > hi[:, None]).sum(axis=1)).astype(np.int64)
    return out


def point_ranks(rating: FloatArray) -> IntArray:
    """Competition ranking ("1224"): ``1 + #{j : rating_j > rating_i}``."""
    r = np.asarray(rating)
    out: IntArray = (1 + (r[None, :] > r[:, None]).sum(axis=1)).astype(np.int64)
    return out


@dataclass(frozen=True)
class Ratings:
    """Bradley–Terry ratings with bootstrap intervals, one entry per model (roster order)."""

    models: tuple[str, ...]
    log_strength: FloatArray
    """Centred ``beta`` (natural-log odds scale)."""
    log_low: FloatArray
    log_high: FloatArray
    rating: FloatArray
    """Elo-like scale: ``400/ln 10 * beta + 1000``."""
    low: FloatArray
    high: FloatArray
    rank: IntArray
    rank_upper: IntArray
    n_battles: int
    n_boot: int
    level: float
    ridge: float
    converged: bool

    def rows(self) -> list[dict[str, float | int | str]]:
        """One dict per model, best first, for tables and the API."""
        order = np.argsort(-self.rating, kind="stable")
        return [
            {
                "model": self.models[i],
                "rating": float(self.rating[i]),
                "low": float(self.low[i]),
                "high": float(self.high[i]),
                "log_strength": float(self.log_strength[i]),
                "rank": int(self.rank[i]),
                "rank_upper": int(self.rank_upper[i]),
            }
            for i in order
        ]


def rate(
    cells: BattleCells,
    models: Sequence[str],
    rng: np.random.Generator,
    *,
    n_boot: int = 100,
    level: float = 0.95,
    ridge: float | None = None,
) -> Ratings:
    """Fit, bootstrap and summarise: the one call the service layer needs."""
    if len(models) != cells.n_models:
        raise InputError(f"got {len(models)} model names for {cells.n_models} models")
    if not 0 < level < 1:
        raise InputError("interval level must be in (0, 1)")
    fit = fit_bradley_terry(win_matrix(cells), ridge=ridge)
    boot = bootstrap_bradley_terry(cells, rng, n_boot, ridge=ridge, init=fit.beta)
    log_lo, log_hi = percentile_interval(boot, level)
    rating = elo_scale(fit.beta)
    low, high = ELO_SCALE * log_lo + ELO_BASE, ELO_SCALE * log_hi + ELO_BASE
    return Ratings(
        models=tuple(models),
        log_strength=fit.beta,
        log_low=log_lo,
        log_high=log_hi,
        rating=rating,
        low=low,
        high=high,
        rank=point_ranks(rating),
        rank_upper=rank_upper_bounds(low, high),
        n_battles=cells.n_battles,
        n_boot=n_boot,
        level=level,
        ridge=fit.ridge,
        converged=fit.converged,
    )
