"""Centred, invariant weight statistics. Pure numpy; every function is NaN- and zero-safe.

Why not cosine: raw cosine of vectors that sit near a common non-zero mean (norm gains near
1.0) is close to 1 for unrelated models -- the LayerNorm trap. Every statistic here is
centred (Pearson, U-centred HSIC) and every similarity of matrices is invariant to the
symmetries training does not fix (neuron and head permutations, isotropic scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaln

F64 = npt.NDArray[np.float64]
Arr = npt.NDArray[np.floating]  # type: ignore[type-arg]


def cosine(x: Arr, y: Arr) -> float:
    """Uncentred cosine; 0.0 (not NaN) when either side is all zero. Reported, never decisive."""
    a, b = np.ravel(x).astype(np.float64), np.ravel(y).astype(np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 and math.isfinite(den) else 0.0


_CHUNK = 1 << 18
"""Values per chunk when moments are accumulated in float64 (a chunk stays in cache)."""


def _flat_pair(x: Arr, y: Arr) -> tuple[Arr, Arr]:
    """Both arrays flattened with their elements still paired; no copy when both are views of
    the same memory layout (e.g. two transposed matrices), which ``np.ravel`` would copy."""
    if (
        np.shape(x) == np.shape(y)
        and isinstance(x, np.ndarray)
        and isinstance(y, np.ndarray)
        and x.strides == y.strides
        and x.itemsize == y.itemsize
        and (x.flags.c_contiguous or x.flags.f_contiguous)
    ):
        return x.ravel(order="K"), y.ravel(order="K")
    return np.ravel(x), np.ravel(y)


def pair_moments(x: Arr, y: Arr) -> tuple[int, float, float, float, float, float] | None:
    """``(n, sum x, sum y, sum x^2, sum y^2, sum xy)`` in float64, streamed in chunks (no
    full-size float64 copies of large matrices); ``None`` when sizes differ or a value is not
    finite."""
    a, b = _flat_pair(x, y)
    if a.size != b.size:
        return None
    acc = np.zeros(5)
    for lo in range(0, a.size, _CHUNK):
        u = np.asarray(a[lo : lo + _CHUNK], np.float64)
        v = np.asarray(b[lo : lo + _CHUNK], np.float64)
        acc += (u.sum(), v.sum(), u @ u, v @ v, u @ v)
    if not np.isfinite(acc).all():
        return None
    return int(a.size), *(float(t) for t in acc)  # type: ignore[return-value]


def pearson(x: Arr, y: Arr) -> float:
    """Pearson correlation; 0.0 when either side is constant (incl. all zero) or non-finite."""
    m = pair_moments(x, y)
    if m is None or m[0] < 2:
        return 0.0
    n, sx, sy, sxx, syy, sxy = m
    # centred sums from raw moments: float64 keeps ~1e-16 * n * mean^2 of rounding, far below
    # the spread of any weight tensor (norm gains near 1 with s.d. 0.05 included)
    vx = max(sxx - sx * sx / n, 0.0)
    vy = max(syy - sy * sy / n, 0.0)
    den = math.sqrt(vx * vy)
    if (
        not (den > 0 and math.isfinite(den))
        or min(vx / max(sxx, 1e-300), vy / max(syy, 1e-300)) < 1e-12
    ):
        return 0.0
    return float(np.clip((sxy - sx * sy / n) / den, -1.0, 1.0))


def u_centre(k: Arr) -> F64:
    """U-centred Gram matrix (Szekely & Rizzo 2014, eq. 3.1).

    ``<u_centre(K), u_centre(L)> / (n (n - 3))`` is the unbiased HSIC estimator of Song et al.
    (2012, eq. 5); the cosine of two U-centred Grams is the debiased CKA of Murphy et al. (2024)
    -- linear CKA (Kornblith et al. 2019) without the positive bias it has for n << features.
    """
    g = np.array(k, dtype=np.float64)
    n = g.shape[0]
    if n < 4:
        raise ValueError("U-centring needs at least 4 examples")
    np.fill_diagonal(g, 0.0)
    row = g.sum(axis=1)
    total = row.sum()
    g -= row[:, None] / (n - 2)
    g -= row[None, :] / (n - 2)
    g += total / ((n - 1) * (n - 2))
    np.fill_diagonal(g, 0.0)
    return g


def unit_u_centred(k: Arr) -> F64 | None:
    """Flattened U-centred Gram scaled to unit norm, or ``None`` when degenerate (zero/NaN)."""
    g = u_centre(k)
    nrm = float(np.linalg.norm(g))
    if not (nrm > 0 and math.isfinite(nrm)):
        return None
    return (g / nrm).ravel()


def debiased_cka(x: Arr, y: Arr) -> float:
    """Debiased linear CKA between representations ``x`` (n, p) and ``y`` (n, q) whose rows
    are paired examples. Invariant to orthogonal maps and isotropic scaling of either feature
    space (so to neuron/head permutations); 0.0 when either side is degenerate."""
    gx = unit_u_centred(np.asarray(x, np.float64) @ np.asarray(x, np.float64).T)
    gy = unit_u_centred(np.asarray(y, np.float64) @ np.asarray(y, np.float64).T)
    if gx is None or gy is None:
        return 0.0
    return float(gx @ gy)


def orthonormal_probes(d: int, k: int, rng: np.random.Generator) -> F64:
    """``k`` random orthonormal directions of R^d (Haar, via QR with sign fix), ``(d, k)``."""
    k = min(k, d)
    g = rng.standard_normal((d, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))[None, :]


@dataclass(frozen=True)
class Procrustes:
    q: F64
    """``(d_a, d_b)`` map with ``Q @ x_b ~= x_a`` for residual vectors (orthonormal rows/cols)."""
    scale: float
    fit: float
    """Pearson correlation between ``E_a`` and the aligned ``scale * E_b Q^T``."""
    n_anchors: int


def procrustes(ea: Arr, eb: Arr, prior: float = 0.0) -> Procrustes:
    """Orthogonal Procrustes with scale (Schoenemann 1966): ``Q = U V^T`` from the SVD of
    ``E_a^T E_b``, anchors paired by row. Recovers a residual-stream rotation (and scale)
    from shared-token embedding rows or patch-embedding columns.

    ``prior`` adds ``prior * sigma_max * I`` to ``E_a^T E_b``: directions the anchors leave
    undetermined (fewer anchors than dimensions) then default to the identity basis instead
    of an arbitrary rotation, while determined directions are barely moved."""
    a = np.asarray(ea, np.float64)
    b = np.asarray(eb, np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        a, b = np.nan_to_num(a), np.nan_to_num(b)
    # float32 anchors (weights as read) keep a float32 cross-product -- half the time, and
    # ~1e-6 relative rounding in a rotation that is itself only fitted to the anchors; the SVD
    # is always float64
    low = np.asarray(ea).dtype == np.float32 and np.asarray(eb).dtype == np.float32
    m = (a.astype(np.float32).T @ b.astype(np.float32)).astype(np.float64) if low else a.T @ b
    if prior > 0 and m.size:
        m = m + prior * spectral_norm(m) * np.eye(*m.shape)
    u, vt = _svd_uv(m, low)
    q = u @ vt
    nb = float(np.sum(b * b))
    scale = float(np.trace(q.T @ (a.T @ b)) / nb) if nb > 0 else 0.0
    fit = pearson(a, b @ q.T) if nb > 0 else 0.0
    return Procrustes(q, scale, fit, int(a.shape[0]))


def _svd_uv(m: F64, low: bool) -> tuple[F64, F64]:
    """``U, V^T`` of a thin SVD; float32 LAPACK for float32 inputs (about twice as fast on a
    ``d x d`` cross-product; the rotation is only as exact as its float32 anchors anyway),
    falling back to float64 if the float32 routine does not converge."""
    if low:
        try:
            u, _s, vt = np.linalg.svd(m.astype(np.float32), full_matrices=False)
            if np.isfinite(u).all() and np.isfinite(vt).all():
                return np.asarray(u, np.float64), np.asarray(vt, np.float64)
        except np.linalg.LinAlgError:
            pass
    u, _s, vt = np.linalg.svd(m, full_matrices=False)
    return u, vt


def spectral_norm(m: F64, iterations: int = 64) -> float:
    """Largest singular value by power iteration on ``m^T m`` from a fixed start (no random
    state): ``O(iterations d^2)`` instead of the full SVD ``np.linalg.norm(m, 2)`` costs. The
    estimate lies between the second and the largest singular value and converges
    geometrically; it only scales the identity prior of :func:`procrustes`."""
    if m.size == 0:
        return 0.0
    v = np.ones(m.shape[1]) / math.sqrt(m.shape[1])
    v += np.linspace(0.0, 1e-3, m.shape[1])  # off any symmetric null direction
    sigma = 0.0
    for _ in range(iterations):
        w = m.T @ (m @ v)
        nrm = float(np.linalg.norm(w))
        if not (nrm > 0 and math.isfinite(nrm)):
            return float(np.max(np.abs(m))) if np.isfinite(m).all() else 0.0
        sigma = math.sqrt(nrm / float(np.linalg.norm(v)))
        v = w / nrm
    return sigma


def procrustes_fit(ea: Arr, eb: Arr) -> float:
    """Correlation reached by the best rotation, from singular values only (no vectors):
    ``sum(svd(A^T B)) / (||A|| ||B||)`` for centred anchors -- the null's fast path."""
    return procrustes_fits(ea, eb, [None])[0]


def procrustes_fits(ea: Arr, eb: Arr, perms: Sequence[npt.NDArray[np.int64] | None]) -> list[float]:
    """:func:`procrustes_fit` of ``ea`` against ``eb[perm]`` for each ``perm`` (``None``: as
    paired) -- the observed fit and its row-shuffle null in one call.

    With ``n`` anchors in ``d > n`` dimensions, ``A^T = Q_a R_a`` and ``B^T = Q_b R_b`` (thin QR,
    once) give ``A^T P B = Q_a (R_a P R_b^T) Q_b^T``: the singular values are those of the
    ``n x n`` core, so each shuffle costs ``O(n^3)`` instead of ``O(n d^2 + d^3)``. Centring
    commutes with a row shuffle, and so do the norms."""
    a = np.asarray(ea, np.float64)
    b = np.asarray(eb, np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not (den > 0 and math.isfinite(den)):
        return [0.0] * len(perms)
    n, d = a.shape[0], max(a.shape[1], b.shape[1])
    reduce = n < d
    if reduce:
        ra: F64 = np.asarray(np.linalg.qr(a.T, mode="r"))  # (n, n): A's rows, its columns
        rb: F64 = np.asarray(np.linalg.qr(b.T, mode="r"))
    out: list[float] = []
    for perm in perms:
        if reduce:
            core = ra @ (rb if perm is None else rb[:, perm]).T
        else:
            core = a.T @ (b if perm is None else b[perm])
        small = core.T @ core if core.shape[1] <= core.shape[0] else core @ core.T
        ev = np.linalg.eigvalsh(small)
        out.append(float(np.sqrt(np.clip(ev, 0.0, None)).sum() / den))
    return out


def log_agreement_tail_bound(c: int, n: int, m: int) -> float:
    """log of an exact upper bound on P(#{i: f(i) = g(i)} >= c) for a fixed injection f and a
    uniformly random injection g of n items into m >= n slots.

    ``E[C(X, c)] = C(n, c) / (m (m-1) ... (m-c+1))`` exactly (each c-set agrees with probability
    ``1/(m)_c``) and ``P(X >= c) <= E[C(X, c)]`` (Markov on the binomial moment), so the bound
    is a valid p-value under the null of Zhu et al. (2025): independently trained models give
    independent, uniformly distributed neuron matchings.
    """
    if c <= 0:
        return 0.0
    if c > n:
        return -math.inf
    log_choose = gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1)
    log_falling = gammaln(m + 1) - gammaln(m - c + 1)
    return float(min(0.0, log_choose - log_falling))


@dataclass(frozen=True)
class MatchTest:
    agreements: int
    n: int
    m: int
    log10_p: float
    """log10 of the exact tail bound (``-inf`` impossible: at most -323 after clipping)."""


def _row_cos(x: F64, y: F64) -> F64:
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-30)
    return np.asarray(xn @ yn.T, np.float64)


def match_test(
    read_a: Arr, read_b: Arr, write_a: Arr, write_b: Arr, *, n_sub: int, rng: np.random.Generator
) -> MatchTest:
    """Zhu et al. (2025) style matching test on one MLP, residual bases already aligned.

    ``read_*`` are ``(f, d)`` (input rows of up/gate, one per hidden neuron) and ``write_*``
    ``(f, d)`` (down-projection columns, transposed). A random subset of ``n_sub`` neurons of
    A is matched to B's neurons twice, by linear assignment on read weights and on write
    weights separately; the two matchings agree on nearly every neuron only if B's neurons
    are A's (possibly permuted). Rectangular assignment keeps this ``O(n_sub^2 f)``.
    """
    fa, fb = read_a.shape[0], read_b.shape[0]
    n = min(n_sub, fa, fb)
    if n < 2 or read_a.shape[1] != read_b.shape[1]:
        return MatchTest(0, 0, fb, 0.0)
    idx = np.sort(rng.choice(fa, size=n, replace=False))
    r = _row_cos(np.asarray(read_a, np.float64)[idx], np.asarray(read_b, np.float64))
    w = _row_cos(np.asarray(write_a, np.float64)[idx], np.asarray(write_b, np.float64))
    r, w = np.nan_to_num(r), np.nan_to_num(w)
    _, col_r = linear_sum_assignment(-np.abs(r))
    _, col_w = linear_sum_assignment(-np.abs(w))
    agree = int(np.sum(col_r == col_w))
    lp = log_agreement_tail_bound(agree, n, fb) / math.log(10)
    return MatchTest(agree, n, fb, max(lp, -323.0))


def low_rank_energy(d: Arr, r: int) -> float:
    """Fraction of ``||D||_F^2`` in the top ``r`` singular values (1.0 for a rank-<=r update)."""
    m = np.asarray(d)
    if m.dtype != np.float32:
        m = m.astype(np.float64)
    tot = float(np.einsum("ij,ij->", m, m, dtype=np.float64))
    if not (tot > 0 and math.isfinite(tot)):
        return 0.0
    # a float32 update keeps a float32 Gram (half the time of float64 for a d x m update; its
    # rounding, ~1e-7 of the largest eigenvalue, cannot move a share compared against 0.9);
    # the eigenvalues are always taken in float64
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    ev = np.sort(np.clip(np.linalg.eigvalsh(g.astype(np.float64)), 0.0, None))[::-1]
    return float(min(1.0, np.sum(ev[:r]) / tot))


def regression_split(a: Arr, b: Arr) -> tuple[float, float]:
    """(slope, relative update) of ``b = slope * a + e`` with ``e`` orthogonal to ``a``.

    Fine-tuning keeps slope ~1 with a modest update ``||e|| / ||slope a||``; a 50/50 merge with
    an unrelated model halves the slope and gives an update of ~1 (see ``verdict``).
    ``||e||^2 = b.b - (a.b)^2 / a.a`` from float64 moments streamed over the pair."""
    m = pair_moments(a, b)
    if m is None:
        return 0.0, math.inf
    _n, _sx, _sy, xx, yy, xy = m
    if not (xx > 0):
        return 0.0, math.inf
    slope = xy / xx
    ee = max(yy - xy * xy / xx, 0.0)
    if ee < 1e-6 * yy:  # near-copies: the moment formula cancels; one exact pass instead
        u, v = _flat_pair(a, b)
        ee = 0.0
        for lo in range(0, u.size, _CHUNK):
            r = np.asarray(v[lo : lo + _CHUNK], np.float64) - slope * np.asarray(
                u[lo : lo + _CHUNK], np.float64
            )
            ee += float(r @ r)
    den = abs(slope) * math.sqrt(xx)
    return slope, (math.sqrt(ee) / den if den > 0 else math.inf)


def _blocks(x: Arr, size: int = 32, max_blocks: int = 512) -> F64:
    v = np.ravel(np.asarray(x, np.float64))
    nb = v.size // size
    if nb == 0:
        return np.zeros((0, size))
    step = max(1, nb // max_blocks)
    return v[: nb * size].reshape(nb, size)[::step][:max_blocks]


def quant_grid(x: Arr) -> str:
    """``q4`` if blocks of 32 hold at most 16 distinct levels, ``q8`` if they are integer
    multiples of ``absmax / 127``, else ``none`` (GGUF block formats, Gerganov et al.)."""
    b = _blocks(x)
    if b.shape[0] == 0:
        return "none"
    levels = np.array([np.unique(r).size for r in b])
    if np.mean(levels <= 16) >= 0.95:
        return "q4"
    amax = np.abs(b).max(axis=1, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    r = b / scale
    if np.mean(np.abs(r - np.round(r)) < 1e-3) >= 0.95:
        return "q8"
    return "none"


def within_half_step(a: Arr, b: Arr, grid: str, gridded: Arr, fraction: float = 0.5) -> float:
    """Fraction of positions where ``|a - b|`` fits within ``fraction`` of a quantisation step
    of the gridded tensor's block -- 1.0 at ``0.5`` when one is the other rounded to its grid.
    Rounding error is ~uniform over the half step, so about half of it lies within a quarter
    step; a small fine-tuning update concentrates near zero instead."""
    if grid == "none":
        return 0.0
    ga, gb, gg = (
        _blocks(a, max_blocks=4096),
        _blocks(b, max_blocks=4096),
        _blocks(gridded, max_blocks=4096),
    )
    if ga.shape != gb.shape or ga.shape[0] == 0:
        return 0.0
    if grid == "q4":
        srt = np.sort(gg, axis=1)
        gaps = np.diff(srt, axis=1)
        gaps = np.where(gaps > 1e-12 * (np.abs(srt[:, 1:]) + 1e-30), gaps, np.inf)
        step = gaps.min(axis=1, keepdims=True)
        step = np.where(np.isfinite(step), step, 0.0)
    else:
        step = np.abs(gg).max(axis=1, keepdims=True) / 127.0
    tol = fraction * step * 1.05 + 1e-7
    return float(np.mean(np.abs(ga - gb) <= tol))
