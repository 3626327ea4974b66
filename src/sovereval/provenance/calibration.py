"""Calibration: every statistic against a null from independent pairs of the same shape.

Three nulls, reported side by side:

* per-pair permutation null -- the probe directions (the "examples" of the debiased CKA) of
  one model are shuffled jointly across all its layers. Marginals and each model's internal
  structure are kept; only the pairing of the two models' residual coordinates is broken.
  The layer-matching maximisation is re-run on every permuted copy, so its selection effect is
  inside the null (Phipson & Smyth 2010 for the empirical p ``(1 + #>=) / (1 + n)``).
* random-initialisation null -- the same statistic against independent Gaussian
  initialisations of the same shapes. In probe space an i.i.d. Gaussian ``(d, m)`` matrix seen
  through ``k`` orthonormal probes is exactly an i.i.d. Gaussian ``(k, m)`` matrix, so the
  negative control is drawn there directly (no full-size initialisation is materialised).
* real independent models -- :func:`empirical_fpr` over whatever independent pairs exist.

Multiplicity: Holm (1979) step-down across components and candidate parents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from sovereval.provenance.stats import F64, unit_u_centred


@dataclass(frozen=True)
class NullSummary:
    observed: float
    mean: float
    sd: float
    n: int
    z: float
    p_param: float
    """Upper-tail Student-t p-value of ``z`` with ``n - 1`` degrees of freedom: the null s.d.
    is estimated from ``n`` permutations, so the tail is wider than a normal's."""
    p_empirical: float
    """``(1 + #{null >= observed}) / (1 + n)``: exact but floored at ``1 / (n + 1)``."""

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "observed": _f(self.observed),
            "null_mean": _f(self.mean),
            "null_sd": _f(self.sd),
            "null_n": self.n,
            "z": _f(self.z),
            "p_value": _f(self.p_param),
            "p_empirical": _f(self.p_empirical),
        }


def _f(x: float) -> float | None:
    """JSON-safe float: an undefined statistic (NaN) is ``null``, never 0 or 1; infinities
    are clipped."""
    if math.isnan(x):
        return None
    return float(min(max(x, -1e308), 1e308))


SD_FLOOR = 1e-3
"""Null standard deviations below this are floored: a statistic on a handful of examples
cannot be known to better than this, and a near-zero sd would inflate every z."""


def summarize(observed: float, null: Sequence[float] | F64) -> NullSummary:
    arr = np.asarray(null, np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n < 2 or not math.isfinite(observed):
        return NullSummary(observed, 0.0, 0.0, n, 0.0, 1.0, 1.0)
    mean = float(arr.mean())
    sd = max(float(arr.std(ddof=1)), SD_FLOOR)
    z = (observed - mean) / sd
    p_g = float(student_t.sf(z, n - 1))
    p_e = (1 + int(np.sum(arr >= observed))) / (1 + n)
    return NullSummary(observed, mean, sd, n, z, p_g, p_e)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adj = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adj[i] = running
    return adj


def bonferroni_min(pvalues: Sequence[float]) -> float:
    """``min(1, k * min p)``: a valid combined p-value under ANY dependence between the k
    tests (they share the same two models, so Fisher's independence assumption fails)."""
    ps = [p for p in pvalues if math.isfinite(p)]
    return min(1.0, len(ps) * min(ps)) if ps else 1.0


def stouffer(zs: Sequence[float]) -> float:
    """Stouffer's combined z for independent z-scores (reported for per-layer evidence)."""
    v = [z for z in zs if math.isfinite(z)]
    return float(sum(v) / math.sqrt(len(v))) if v else 0.0


def best_match_score(s: F64) -> float:
    """Component statistic: mean, over the layers of the shallower model, of the best
    similarity any layer of the other model reaches. Invariant to skipped and repeated layers."""
    if s.size == 0:
        return 0.0
    axis = 0 if s.shape[1] <= s.shape[0] else 1
    return float(np.mean(s.max(axis=axis)))


def flat_permutation(k: int, perm: np.ndarray) -> np.ndarray:
    """Index map applying one permutation to rows and columns of a flattened ``k x k`` Gram."""
    return np.asarray((perm[:, None] * k + perm[None, :]).ravel(), np.int64)


def permutation_null(
    stat: Callable[[np.ndarray | None], tuple[float, F64]],
    k: int,
    n_perm: int,
    rng: np.random.Generator,
) -> tuple[list[float], list[float]]:
    """Run ``stat(flat_index_map)`` on ``n_perm`` joint permutations of one side's probes.

    Returns the null values of the component statistic and a pooled sample of single-cell
    similarities (for the per-cell z used by the layer map)."""
    vals: list[float] = []
    cells: list[float] = []
    for _ in range(n_perm):
        t, s = stat(flat_permutation(k, rng.permutation(k)))
        vals.append(t)
        cells.extend(np.ravel(s)[:64].tolist())
    return vals, cells


def wishart_identity(k: int, n: int, rng: np.random.Generator) -> F64:
    """A draw of Wishart(I_k, n) -- the Gram ``G G^T`` of a (k, n) i.i.d. N(0, 1) matrix --
    by the Bartlett decomposition (Bartlett 1933): ``k(k+1)/2`` draws instead of ``k n``."""
    if n < k:
        g = rng.standard_normal((k, n))
        return np.asarray(g @ g.T)
    a = np.tril(rng.standard_normal((k, k)), -1)
    a[np.diag_indices(k)] = np.sqrt(rng.chisquare(n - np.arange(k)))
    return np.asarray(a @ a.T)


def random_init_flat(k: int, m: int, rng: np.random.Generator) -> F64 | None:
    """Negative control: unit U-centred probe Gram of an independent Gaussian initialisation
    with ``m`` features. Through ``k`` orthonormal probes an i.i.d. Gaussian ``(d, m)`` matrix
    is an i.i.d. Gaussian ``(k, m)`` one, whose Gram is Wishart(I_k, m)."""
    return unit_u_centred(wishart_identity(k, m, rng))


def perturbed_flat(gram: F64, m: int, strength: float, rng: np.random.Generator) -> F64 | None:
    """Positive control: the probe Gram of the same matrix after a dense update of relative
    Frobenius norm ``strength`` (with any feature permutation, which a Gram cannot see).

    With ``Y Y^T = L L^T`` (Cholesky) and ``G`` i.i.d. N(0, 1) of shape (k, m), the Gram of
    ``Y + s G`` is ``L L^T + s (L H + H^T L^T) + s^2 (H^T H + W)`` with ``H`` (k, k) i.i.d. N(0, 1)
    and ``W`` ~ Wishart(I_k, m - k): the part of ``G`` in the row space of ``Y`` and the rest.
    Exact in distribution, and ``O(k^3)`` instead of ``O(k^2 m)``."""
    k = gram.shape[0]
    tr = float(np.trace(gram))
    if not (tr > 0 and math.isfinite(tr)) or m < k:
        return None
    try:
        chol = np.linalg.cholesky(gram + 1e-12 * tr / k * np.eye(k))
    except np.linalg.LinAlgError:
        return None
    s = strength * math.sqrt(tr / (k * m))
    h = rng.standard_normal((k, k))
    cross = chol @ h
    g = gram + s * (cross + cross.T) + s * s * (h.T @ h + wishart_identity(k, m - k, rng))
    return unit_u_centred(g)


@dataclass(frozen=True)
class RateEstimate:
    positives: int
    n: int
    rate: float
    upper95: float
    """One-sided 95% Clopper-Pearson upper bound (``1 - 0.05^(1/n)`` when no positives)."""


def empirical_rate(flags: Sequence[bool]) -> RateEstimate:
    """Rate of ``True`` among ``flags`` with its exact upper confidence bound."""
    from scipy.stats import beta

    n = len(flags)
    x = int(sum(bool(f) for f in flags))
    if n == 0:
        return RateEstimate(0, 0, 0.0, 1.0)
    up = 1.0 if x == n else float(beta.ppf(0.95, x + 1, n - x))
    return RateEstimate(x, n, x / n, up)
