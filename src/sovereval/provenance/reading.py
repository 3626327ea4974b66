"""Reading canonical tensors: orientation, fused splits, norm folding, fixed-pattern checks.

One layer at a time, so peak memory is a layer of each model, never a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sovereval.provenance.canonical import (
    READ_ROLES,
    WRITE_ROLES,
    CanonicalIndex,
    CanonicalTensor,
)
from sovereval.provenance.formats.base import TensorSource

F32 = npt.NDArray[np.float32]

FOLD = {"q": "attn_norm", "k": "attn_norm", "v": "attn_norm", "gate": "mlp_norm", "up": "mlp_norm"}
"""Which norm gain scales each reading matrix's input (pre-norm blocks; BERT mapped likewise)."""


def read_canonical(source: TensorSource, ct: CanonicalTensor) -> F32:
    """The tensor in canonical orientation: ``(out, in)`` for matrices, rows of a fused split."""
    x = np.asarray(source.read(ct.source_name), dtype=np.float32)
    if ct.transpose and x.ndim == 2:
        x = x.T
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if ct.rows is not None:
        x = x[ct.rows[0] : ct.rows[1]]
    if ct.norm_offset:
        x = x + np.float32(ct.norm_offset)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def closed_form(x: F32) -> str | None:
    """Why ``x`` is a fixed, untrained pattern, or ``None``.

    Constant tensors (all-zero, all-one), ``arange`` ramps and sinusoidal position tables
    (Vaswani et al. 2017, both the interleaved and the concatenated [sin | cos] layouts used by
    Whisper) would match between any two models and are never evidence of derivation.
    """
    v = np.asarray(x, np.float64)
    if v.size == 0:
        return "empty"
    if not np.isfinite(v).all():
        return None
    flat = v.ravel()
    if np.all(flat == flat[0]):
        return f"constant {flat[0]:g}"
    if v.ndim == 1 or (v.ndim == 2 and 1 in v.shape):
        d = np.diff(flat)
        if np.allclose(d, d[0], rtol=0, atol=1e-6 * max(1.0, abs(d[0]))) and d[0] != 0:
            return "arange"
    if v.ndim >= 2 and _dft_basis(v.reshape(v.shape[0], -1)):
        return "windowed DFT basis (STFT front end)"
    if (
        v.ndim == 2
        and v.shape[0] > 1
        and v.shape[1] >= 4
        and v.shape[1] % 2 == 0
        # row 0 of every sinusoidal table is sin(0), cos(0): only zeros and ones
        and bool(np.all(np.minimum(np.abs(v[0]), np.abs(v[0] - 1.0)) < 1e-3))
    ):
        n, dim = v.shape
        if n * dim <= 50_000_000:
            pos = np.arange(n)[:, None]
            half = dim // 2
            for base in (10000.0,):
                inv = np.exp(-math.log(base) * np.arange(half) / max(half - 1, 1))
                ang = pos * inv[None, :]
                cat = np.concatenate([np.sin(ang), np.cos(ang)], axis=1)
                inv2 = np.exp(-math.log(base) * (2 * np.arange(half)) / dim)
                ang2 = pos * inv2[None, :]
                inter = np.empty((n, dim))
                inter[:, 0::2] = np.sin(ang2)
                inter[:, 1::2] = np.cos(ang2)
                cat2 = np.concatenate([np.sin(ang2), np.cos(ang2)], axis=1)
                for table in (cat, inter, cat2):
                    if np.max(np.abs(table - v)) < 1e-3:
                        return "sinusoidal position table"
    return None


def _dft_basis(v: npt.NDArray[np.float64]) -> bool:
    """Rows ``w(t) cos(2 pi k t / N)`` then ``+-w(t) sin(2 pi k t / N)`` for ``k = 0..N/2``: the
    fixed STFT basis of audio front ends (Silero VAD stores it as a 258 x 1 x 256 conv
    kernel). Any model with the same frame length and window has the same one."""
    rows, n = v.shape
    f = n // 2 + 1
    if n < 16 or rows not in (f, 2 * f) or rows * n > 8_000_000:
        return False
    w = v[0]
    scale = float(np.max(np.abs(w)))
    if scale == 0.0:
        return False
    ang = 2 * math.pi * np.outer(np.arange(f), np.arange(n)) / n
    tol = 1e-3 * scale
    if np.max(np.abs(v[:f] - w * np.cos(ang))) > tol:
        return False
    return rows == f or bool(np.max(np.abs(np.abs(v[f:]) - np.abs(w * np.sin(ang)))) <= tol)


@dataclass(frozen=True)
class LayerTensors:
    """One block of one component in residual-first form, norm gains folded in."""

    mats: dict[str, F32]
    """role -> ``(d, m)``: reading matrices transposed (``(W diag g)^T``), writing as stored."""
    norms: dict[str, F32]
    raw: dict[str, F32]
    """role -> canonical ``(out, in)`` matrix as read (unfolded), for exact/direct checks."""


def read_layer(
    index: CanonicalIndex,
    source: TensorSource,
    component: str,
    layer: int,
    *,
    fold: bool = True,
    roles: tuple[str, ...] | None = None,
) -> LayerTensors:
    """Read every matrix and norm of one block and fold the gains into the readers.

    Folding is what makes a residual rotation visible: the rotation trick must first push the
    gains ``g`` into ``W diag(g)`` (leaving norms of exactly 1.0), so comparing ``W diag(g)``
    on both sides makes the original and the rotated model agree up to ``Q``.

    ``fold=False`` leaves the readers unscaled (``mats[role]`` is then a view of ``raw[role]``):
    a caller that only needs ``W diag(g) z`` scales the probes ``z`` by ``g`` instead, which
    saves a full-size copy of every reading matrix. ``roles`` restricts the matrices read."""
    norms: dict[str, F32] = {}
    for role in ("attn_norm", "mlp_norm"):
        ct = index.get(component, layer, role)
        if ct is not None:
            norms[role] = read_canonical(source, ct).ravel()
    mats: dict[str, F32] = {}
    raw: dict[str, F32] = {}
    for role in (*READ_ROLES, *WRITE_ROLES):
        if roles is not None and role not in roles:
            continue
        ct = index.get(component, layer, role)
        if ct is None or len(ct.shape) != 2:
            continue
        w = read_canonical(source, ct)
        raw[role] = w
        if role in READ_ROLES:
            g = norms.get(FOLD[role])
            if fold and g is not None and g.size == w.shape[1]:
                w = w * g[None, :]
            mats[role] = w.T  # a view: BLAS reads it transposed, no copy
        else:
            mats[role] = w
    for ct in [index.get(component, layer, "proj")]:
        if roles is not None and "proj" not in roles:
            continue
        if ct is not None and len(ct.shape) == 2:
            w = read_canonical(source, ct)
            raw["proj"] = w
            mats["proj"] = w.T
    return LayerTensors(mats, norms, raw)
