"""Alignment: the residual basis of one model in the other's, and layers to layers.

Residual basis. A function-preserving residual-stream rotation (norm gains folded first) turns
every matrix that touches the residual stream from ``W`` into ``W Q^T`` or ``Q W``. Anchors
whose identity both models share -- token-embedding rows of the same token string, patch-
embedding input pixels, learned position rows -- are rotated the same way, so orthogonal
Procrustes on them recovers ``Q`` (Schoenemann 1966; the embedding step of Zhu et al. 2025).

Layers. Derived models keep layer order but may drop every second layer (students), a
contiguous block (pruning) or repeat layers (depth up-scaling). :func:`layer_map` pairs each
layer of the deeper model with its best match in the shallower one when that match is both
significant and close to the best similarity the partner layer reaches; a one-to-one
"straight" map is preferred when it is as good. Its selection effect is part of the
permutation null (``calibration``), because the null re-runs the same maximisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sovereval.provenance.canonical import CanonicalIndex
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.reading import read_canonical
from sovereval.provenance.stats import F64, Procrustes, procrustes

ANCHOR_ROLES = ("embed", "patch_embed", "pos_embed", "class_embed")


@dataclass(frozen=True)
class AnchorSet:
    a: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    how: str
    """``vocab`` (paired by token string), ``row-index``, ``pixels`` or ``none``."""
    vocab_a: int = 0
    vocab_b: int = 0
    shared_tokens: int = 0


def _vocab(source: TensorSource) -> list[str] | None:
    v = source.meta.tokenizer.get("vocab") if source.meta.tokenizer else None
    if isinstance(v, Sequence) and not isinstance(v, str) and len(v) > 0:
        return [str(t) for t in v]
    if isinstance(v, dict) and v:
        inv = sorted(v.items(), key=lambda kv: int(kv[1]))
        return [str(k) for k, _ in inv]
    return None


def _token_pairs(
    va: list[str] | None, vb: list[str] | None, na: int, nb: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], str]:
    if va is not None and vb is not None:
        pos_b = {t: i for i, t in enumerate(vb[:nb])}
        ia, ib = [], []
        for i, t in enumerate(va[:na]):
            j = pos_b.get(t)
            if j is not None:
                ia.append(i)
                ib.append(j)
        if len(ia) >= 8:
            return np.asarray(ia, np.int64), np.asarray(ib, np.int64), "vocab"
    n = min(na, nb)
    r = np.arange(n, dtype=np.int64)
    return r, r, "row-index"


def anchors(
    ia: CanonicalIndex,
    sa: TensorSource,
    ib: CanonicalIndex,
    sb: TensorSource,
    component: str,
    *,
    max_rows: int,
    rng: np.random.Generator,
) -> AnchorSet:
    """Paired anchor vectors (rows in residual space) of one component, at most ``max_rows``."""
    rows_a: list[npt.NDArray[np.float32]] = []
    rows_b: list[npt.NDArray[np.float32]] = []
    how, vocab_a, vocab_b, shared = "none", 0, 0, 0
    ta, tb = ia.get(component, -1, "embed"), ib.get(component, -1, "embed")
    if ta is not None and tb is not None and ta.shape[1] > 0 and tb.shape[1] > 0:
        vocab_a, vocab_b = ta.shape[0], tb.shape[0]
        pa, pb, how = _token_pairs(_vocab(sa), _vocab(sb), vocab_a, vocab_b)
        shared = int(pa.size)
        if pa.size > max_rows:
            pick = np.sort(rng.choice(pa.size, size=max_rows, replace=False))
            pa, pb = pa[pick], pb[pick]
        rows_a.append(read_canonical(sa, ta)[pa])
        rows_b.append(read_canonical(sb, tb)[pb])
    for role in ("patch_embed", "pos_embed", "class_embed"):
        ta, tb = ia.get(component, -1, role), ib.get(component, -1, role)
        if ta is None or tb is None or ta.shape != tb.shape:
            continue
        xa, xb = read_canonical(sa, ta), read_canonical(sb, tb)
        if role == "patch_embed":  # (d, pixels): each input pixel is an anchor
            xa, xb = xa.T, xb.T
        rows_a.append(np.atleast_2d(xa))
        rows_b.append(np.atleast_2d(xb))
        how = how if how != "none" else "pixels"
    if not rows_a:
        return AnchorSet(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), "none")
    da = {r.shape[1] for r in rows_a}
    db = {r.shape[1] for r in rows_b}
    if len(da) != 1 or len(db) != 1:
        rows_a, rows_b = rows_a[:1], rows_b[:1]
    return AnchorSet(
        np.concatenate(rows_a).astype(np.float32),
        np.concatenate(rows_b).astype(np.float32),
        how,
        vocab_a,
        vocab_b,
        shared,
    )


def residual_map(anc: AnchorSet, d_a: int, d_b: int) -> tuple[Procrustes, bool]:
    """Procrustes map from B's residual basis to A's, and whether it is determined.

    With fewer anchors than dimensions the map is fixed only on the anchors' span; the caller
    then also tries the identity basis (both candidates are inside the permutation null)."""
    if not _usable(anc, d_a, d_b):
        q = np.eye(d_a, d_b)
        return Procrustes(q, 1.0, 0.0, 0), False
    p = procrustes(anc.a, anc.b, prior=1e-3 if d_a == d_b else 0.0)
    return p, anchors_determine(anc, d_a, d_b)


def _usable(anc: AnchorSet, d_a: int, d_b: int) -> bool:
    return bool(anc.a.shape[0] > 0 and anc.a.shape[1] == d_a and anc.b.shape[1] == d_b)


def anchors_determine(anc: AnchorSet, d_a: int, d_b: int) -> bool:
    """Whether the anchors determine the whole residual map (at least twice as many anchors
    as dimensions); known before, and without, the Procrustes SVD."""
    return _usable(anc, d_a, d_b) and anc.a.shape[0] >= 2 * max(d_a, d_b)


def layer_map(
    s: F64, cell_sd: float, cell_mean: float, *, z_min: float = 5.0, rel: float = 0.8
) -> list[tuple[int, int]]:
    """Pairs ``(i_a, i_b)`` of matched layers from the similarity matrix ``s`` (La x Lb).

    A pair is kept when its similarity is ``z_min`` null standard deviations above the null
    mean and within ``rel`` of the best similarity either partner reaches. Every layer of
    the deeper model may map once (so skipped layers stay unmapped and duplicated layers map
    to the same partner); every layer of the shallower model keeps its best partner.
    """
    la, lb = s.shape
    if la == 0 or lb == 0:
        return []
    sd = max(cell_sd, 1e-9)
    strong = (s - cell_mean) / sd >= z_min
    row_best = s.max(axis=1)
    col_best = s.max(axis=0)
    pairs: set[tuple[int, int]] = set()
    if la == lb and all(
        strong[i, i] and s[i, i] >= rel * max(row_best[i], col_best[i]) for i in range(la)
    ):
        return [(i, i) for i in range(la)]
    if la >= lb:
        for i in range(la):
            j = int(np.argmax(s[i]))
            if strong[i, j] and s[i, j] >= rel * col_best[j]:
                pairs.add((i, j))
        for j in range(lb):
            i = int(np.argmax(s[:, j]))
            if strong[i, j]:
                pairs.add((i, j))
    else:
        for j in range(lb):
            i = int(np.argmax(s[:, j]))
            if strong[i, j] and s[i, j] >= rel * row_best[i]:
                pairs.add((i, j))
        for i in range(la):
            j = int(np.argmax(s[i]))
            if strong[i, j]:
                pairs.add((i, j))
    return sorted(pairs)


def classify_layer_map(pairs: list[tuple[int, int]], la: int, lb: int) -> str | None:
    """``layer-subset`` (regular stride), ``pruned`` (contiguous gap), ``depth-upscaled``
    (repeated layers) or ``None`` (one-to-one, or too little to say)."""
    if len(pairs) < 2:
        return None
    a_idx = [p[0] for p in pairs]
    b_idx = [p[1] for p in pairs]
    if len(set(a_idx)) < len(a_idx) or len(set(b_idx)) < len(b_idx):
        return "depth-upscaled"
    if la == lb and all(i == j for i, j in pairs):
        return None
    short_side = b_idx if lb < la else a_idx
    long_side = a_idx if lb < la else b_idx
    if len(short_side) < 2:
        return None
    gaps = np.diff(np.asarray(long_side))
    if gaps.size and np.all(gaps >= 2) and len(set(gaps.tolist())) <= 2:
        return "layer-subset"
    if la != lb:
        return "pruned"
    return None


def similarity_from_flat(
    fa: dict[tuple[int, str], F64], fb: dict[tuple[int, str], F64], la: list[int], lb: list[int]
) -> tuple[F64, dict[str, F64]]:
    """Mean over shared roles of the per-role debiased-CKA matrices (La x Lb)."""
    roles = sorted({r for _, r in fa} & {r for _, r in fb})
    per: dict[str, F64] = {}
    acc = np.zeros((len(la), len(lb)))
    cnt = np.zeros((len(la), len(lb)))
    for role in roles:
        rows_a = [fa.get((i, role)) for i in la]
        rows_b = [fb.get((j, role)) for j in lb]
        k2 = next((r.size for r in rows_a if r is not None), 0)
        ma = np.stack([r if r is not None else np.zeros(k2) for r in rows_a])
        mb = np.stack([r if r is not None and r.size == k2 else np.zeros(k2) for r in rows_b])
        m = ma @ mb.T
        ok = np.outer([r is not None for r in rows_a], [r is not None for r in rows_b])
        per[role] = np.where(ok, m, 0.0)
        acc += per[role]
        cnt += ok
    return np.divide(acc, np.maximum(cnt, 1)), per
