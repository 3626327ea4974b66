"""Style control: ratings with answer length and Markdown formatting held fixed.

Voters prefer longer, more formatted answers regardless of substance. Chiang et al. (2024,
"Does style matter? Disentangling style and substance in Chatbot Arena", LMSYS blog) extend
Bradley–Terry to a logistic regression

    logit P(A beats B) = (beta_A - beta_B) + gamma . z

where ``z`` holds, per style feature ``f``, the normalised difference
``(f_A - f_B) / (f_A + f_B)`` (0 when both are 0), standardised over the battles. ``beta`` are
then the ratings "with style controlled" and ``gamma`` says how much each feature sways votes
(per standard deviation of the normalised difference). Ties count as half a win (label 0.5),
as in the plain fit.

Model effects are identified only up to a constant; we parametrise them in the sum-zero
subspace (``beta = P theta`` with ``P`` an orthonormal basis of ``{x : sum x = 0}``) and fit by
Newton–Raphson (iteratively reweighted least squares; McCullagh & Nelder 1989, sec. 4.4).
Length is counted in non-space Unicode characters so that Korean and English are measured the
same way without a tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import null_space
from scipy.special import expit

from sovereval.arena.bt import ELO_BASE, ELO_SCALE, OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD
from sovereval.errors import InputError

FloatArray = NDArray[np.float64]
FEATURES: tuple[str, ...] = ("length", "headers", "list_items", "bold")

_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)[^*\n]+?\*\*|__(?=\S)[^_\n]+?__")


def style_features(text: str) -> FloatArray:
    """``[length, headers, list_items, bold]`` counts of one answer."""
    return np.array(
        [
            len(re.sub(r"\s+", "", text)),
            len(_HEADER.findall(text)),
            len(_LIST.findall(text)),
            len(_BOLD.findall(text)),
        ],
        dtype=np.float64,
    )


def style_differences(features_a: FloatArray, features_b: FloatArray) -> FloatArray:
    """Normalised differences ``(a - b) / (a + b)``, then standardised per column."""
    fa = np.asarray(features_a, dtype=np.float64)
    fb = np.asarray(features_b, dtype=np.float64)
    if fa.shape != fb.shape or fa.ndim != 2:
        raise InputError("style: feature matrices for A and B must have the same (N, k) shape")
    if np.any(fa < 0) or np.any(fb < 0):
        raise InputError("style: feature counts must be non-negative")
    tot = fa + fb
    d = np.divide(fa - fb, tot, out=np.zeros_like(tot), where=tot > 0)
    sd = d.std(axis=0)
    z: FloatArray = np.divide(d - d.mean(axis=0), sd, out=np.zeros_like(d), where=sd > 0)
    return z


@dataclass(frozen=True)
class StyleControlledRatings:
    models: tuple[str, ...]
    log_strength: FloatArray
    """Centred model effects with style held fixed."""
    rating: FloatArray
    """Elo-like scale, as in :mod:`sovereval.arena.bt`."""
    low: FloatArray | None
    high: FloatArray | None
    feature_names: tuple[str, ...]
    coefficients: FloatArray
    """``gamma``: log-odds per standard deviation of each normalised style difference."""
    coef_low: FloatArray | None
    coef_high: FloatArray | None
    converged: bool


def _fit(
    x: FloatArray, y: FloatArray, w: FloatArray, ridge: float, tol: float, max_iter: int
) -> tuple[FloatArray, bool]:
    theta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        p = expit(x @ theta)
        grad = x.T @ (w * (y - p)) - ridge * theta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        big = float(np.abs(step).max()) if step.size else 0.0
        if big > 4.0:
            step *= 4.0 / big
        theta = theta + step
        if big < tol:
            return theta, True
    return theta, False


def fit_style_controlled(
    model_a: Sequence[int] | NDArray[np.integer],
    model_b: Sequence[int] | NDArray[np.integer],
    outcome: Sequence[int] | NDArray[np.integer],
    style_diff: FloatArray,
    models: Sequence[str],
    *,
    feature_names: Sequence[str] = FEATURES,
    rng: np.random.Generator | None = None,
    n_boot: int = 0,
    level: float = 0.95,
    ridge: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> StyleControlledRatings:
    """Fit model effects and style coefficients; bootstrap battles when ``n_boot > 0``."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    z = np.asarray(style_diff, dtype=np.float64)
    n = len(models)
    if not (a.shape == b.shape == o.shape) or z.shape[0] != a.size or z.ndim != 2:
        raise InputError("style: battles and style differences must have matching lengths")
    if z.shape[1] != len(feature_names):
        raise InputError("style: one feature name per style column required")
    if a.size == 0 or min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n or np.any(a == b):
        raise InputError("style: model indices must be distinct and within the roster")
    if o.min() < 0 or o.max() > OUTCOME_BOTH_BAD:
        raise InputError("style: outcome codes must be 0..3")
    if n_boot > 0 and rng is None:
        raise InputError("style: pass rng to bootstrap")
    basis = null_space(np.ones((1, n)))  # (n, n-1), orthonormal, columns sum to zero
    x = np.hstack([basis[a] - basis[b], z])
    y = np.where(o == OUTCOME_A, 1.0, np.where(o == OUTCOME_B, 0.0, 0.5))
    theta, ok = _fit(x, y, np.ones(a.size), ridge, tol, max_iter)

    def split(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        beta = basis @ t[: n - 1]
        return beta - beta.mean(), t[n - 1 :]

    beta, gamma = split(theta)
    low = high = c_low = c_high = None
    if n_boot > 0 and rng is not None:
        bs, gs = [], []
        for _ in range(n_boot):
            w = np.bincount(rng.integers(0, a.size, a.size), minlength=a.size).astype(float)
            t, _ = _fit(x, y, w, ridge, 1e-8, max_iter)
            bb, gg = split(t)
            bs.append(bb)
            gs.append(gg)
        q = (1 - level) / 2
        lo_b, hi_b = np.quantile(np.array(bs), [q, 1 - q], axis=0)
        low, high = ELO_SCALE * lo_b + ELO_BASE, ELO_SCALE * hi_b + ELO_BASE
        c_low, c_high = np.quantile(np.array(gs), [q, 1 - q], axis=0)
    return StyleControlledRatings(
        models=tuple(models),
        log_strength=beta,
        rating=ELO_SCALE * beta + ELO_BASE,
        low=low,
        high=high,
        feature_names=tuple(feature_names),
        coefficients=gamma,
        coef_low=c_low,
        coef_high=c_high,
        converged=ok,
    )
