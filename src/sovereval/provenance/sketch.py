"""Probe sketches: every residual matrix as a small U-centred Gram, streamed a block at a time.

For a residual-first matrix ``X`` (d, m) -- a reader ``(W diag g)^T`` or a writer ``W`` -- the
response to ``k`` orthonormal probe directions ``Z`` (d, k) is ``Y = Z^T X`` (k, m) and its Gram
``Y Y^T`` (k, k) is what the debiased CKA compares (the probes are its examples, the ``m``
neurons its features). The Gram forgets neuron and head order (permutation invariance) and,
with B probed along ``Q^T Z``, B's residual rotation. ``k`` (128) keeps the permutation null
cheap: ``k^2`` numbers per matrix instead of the ``d^2`` of a full Gram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sovereval.provenance.calibration import (
    best_match_score,
    perturbed_flat,
    random_init_flat,
)
from sovereval.provenance.canonical import CanonicalIndex
from sovereval.provenance.exact import ExactTally, sha256, value_digest
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.reading import FOLD, LayerTensors, read_canonical, read_layer
from sovereval.provenance.stats import F64, cosine, orthonormal_probes, pearson, unit_u_centred

GLOBAL_ROLES = ("embed", "lm_head", "final_norm", "patch_embed", "pos_embed", "class_embed")

Key = tuple[int, str]


@dataclass
class ComponentSketch:
    k: int
    layers_a: list[int]
    layers_b: list[int]
    roles: list[str] = field(default_factory=list)
    fa: dict[Key, F64] = field(default_factory=dict)
    fb: dict[Key, F64] = field(default_factory=dict)
    pos: dict[Key, F64] = field(default_factory=dict)
    neg: dict[Key, F64] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """role -> probe count used for that role (``k`` unless the role's width is smaller)."""
    keys_a: set[str] = field(default_factory=set)
    keys_b: set[str] = field(default_factory=set)
    norm_pairs: list[tuple[float, float]] = field(default_factory=list)

    @property
    def kmax(self) -> int:
        """Largest probe count over roles: permutations are drawn at this size and restricted."""
        return max(self.sizes.values(), default=0)

    def _stack(self, flats: dict[Key, F64], layers: list[int], role: str) -> tuple[F64, F64]:
        k2 = self.sizes[role] ** 2
        m = np.zeros((len(layers), k2))
        ok = np.zeros(len(layers))
        for r, layer in enumerate(layers):
            v = flats.get((layer, role))
            if v is not None and v.size == k2:
                m[r] = v
                ok[r] = 1.0
        return m, ok

    def _cat(self, flats: dict[Key, F64], layers: list[int], roles: list[str]) -> tuple[F64, F64]:
        """Layers x (concatenated upper triangles of every role's Gram), and a presence mask."""
        blocks, masks = [], []
        for r in roles:
            m, ok = self._stack(flats, layers, r)
            size = self.sizes[r]
            iu = np.triu_indices(size, 1)
            blocks.append(m.reshape(len(layers), size, size)[:, iu[0], iu[1]] * np.sqrt(2.0))
            masks.append(ok)
        if not blocks:
            return np.zeros((len(layers), 0)), np.zeros((len(layers), 0))
        return np.concatenate(blocks, axis=1).astype(np.float32), np.stack(masks, axis=1)

    def similarity_fn(self) -> tuple[F64, Callable[[np.ndarray], tuple[float, F64]]]:
        """The observed La x Lb similarity and a function of a probe permutation that returns
        (statistic, similarity) with B's probes permuted -- the permutation null.

        Only upper triangles are kept (U-centred Grams are symmetric with a zero diagonal), and
        all roles are concatenated, so one gather and one product serve a whole permutation."""
        roles = [r for r in self.roles if r in self.sizes]
        ma, oka = self._cat(self.fa, self.layers_a, roles)
        mb, okb = self._cat(self.fb, self.layers_b, roles)
        cnt = np.maximum(oka @ okb.T, 1.0)
        tri: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        offset = 0
        for r in roles:
            size = self.sizes[r]
            iu = np.triu_indices(size, 1)
            pos = np.zeros((size, size), np.int64)
            pos[iu] = np.arange(iu[0].size)
            pos = pos + pos.T
            tri.append((offset, pos, iu[0], iu[1]))
            offset += iu[0].size

        def sim(perm: np.ndarray | None) -> F64:
            if perm is None or not tri:
                return np.asarray(ma @ mb.T, np.float64) / cnt
            idx = []
            for off, pos, i0, i1 in tri:
                size = pos.shape[0]
                p = perm[perm < size] if size < perm.size else perm
                idx.append(off + pos[p[i0], p[i1]])
            return np.asarray(ma @ mb[:, np.concatenate(idx)].T, np.float64) / cnt

        def stat(perm: np.ndarray) -> tuple[float, F64]:
            s = sim(perm)
            return best_match_score(s), s

        return (sim(None) if roles else np.zeros((0, 0))), stat

    def control_similarity(self, kind: str) -> F64:
        other = self.pos if kind == "positive" else self.neg
        layers = self.layers_a if kind == "positive" else self.layers_b
        acc = np.zeros((len(self.layers_a), len(layers)))
        cnt = np.zeros_like(acc)
        for r in self.roles:
            if r not in self.sizes:
                continue
            ma, oka = self._stack(self.fa, self.layers_a, r)
            mb, okb = self._stack(other, layers, r)
            acc += ma @ mb.T
            cnt += np.outer(oka, okb)
        return acc / np.maximum(cnt, 1.0)


def sketch_pair(
    ia: CanonicalIndex,
    sa: TensorSource,
    ib: CanonicalIndex,
    sb: TensorSource,
    comp: str,
    q: F64,
    k: int,
    strength: float,
    tally: ExactTally,
    rng: np.random.Generator,
) -> ComponentSketch:
    """Stream both models block by block, sketching every matrix and tallying exact identity."""
    la, lb = ia.layers(comp), ib.layers(comp)
    d_a, d_b = q.shape
    k_main = max(0, min(k, d_a, d_b))
    sk = ComponentSketch(k_main, la, lb)
    za = (orthonormal_probes(d_a, k_main, rng) if k_main >= 4 else np.zeros((d_a, 0))).astype(
        np.float32
    )
    zb = (q.T @ za).astype(np.float32)
    other: dict[int, np.ndarray] = {}

    def probes(dim: int, side: str) -> np.ndarray | None:
        if dim == d_a and side == "a" and k_main >= 4:
            return za
        if dim == d_b and side == "b" and k_main >= 4:
            return zb
        if min(k, dim) < 4:
            return None
        if dim not in other:
            other[dim] = orthonormal_probes(dim, min(k, dim), rng).astype(np.float32)
        return other[dim]

    roles_a: set[str] = set()
    roles_b: set[str] = set()
    for layer in sorted(set(la) | set(lb)):
        ta = read_layer(ia, sa, comp, layer, fold=False) if layer in la else None
        tb = read_layer(ib, sb, comp, layer, fold=False) if layer in lb else None
        for side, t in (("a", ta), ("b", tb)):
            if t is not None:
                done = _sketch_block(sk, t, side, layer, probes, strength, tally, rng)
                (roles_a if side == "a" else roles_b).update(done)
        if ta is not None and tb is not None:
            _exact_layer(ta.raw, tb.raw, ia, sa, ib, sb, comp, layer, tally)
            for role in set(ta.norms) & set(tb.norms):
                if ta.norms[role].shape == tb.norms[role].shape:
                    sk.norm_pairs.append(
                        (
                            cosine(ta.norms[role], tb.norms[role]),
                            pearson(ta.norms[role], tb.norms[role]),
                        )
                    )
        ta = tb = t = None  # release this block before the next is read: one block per model
    sk.roles = sorted(roles_a & roles_b)
    for role in GLOBAL_ROLES:
        ca, cb = ia.get(comp, -1, role), ib.get(comp, -1, role)
        if ca is not None:
            sk.keys_a.add(role)
        if cb is not None:
            sk.keys_b.add(role)
        if ca is not None and cb is not None and ca.shape == cb.shape:
            xa = read_canonical(sa, ca)
            xb = read_canonical(sb, cb)
            tally.add_pair(xa, xb, _raw_equal(sa, ca.source_name, sb, cb.source_name, xa, xb))
            del xa, xb  # embeddings are the largest tensors: never hold two roles' worth
    return sk


def _sketch_block(
    sk: ComponentSketch,
    t: LayerTensors,
    side: str,
    layer: int,
    probes: Callable[[int, str], np.ndarray | None],
    strength: float,
    tally: ExactTally,
    rng: np.random.Generator,
) -> set[str]:
    """Sketch every matrix of one block of one model; returns the roles sketched. (A function,
    so that nothing of the block outlives it: the caller's peak stays one block per model.)"""
    done: set[str] = set()
    flats = sk.fa if side == "a" else sk.fb
    keys = sk.keys_a if side == "a" else sk.keys_b
    for role, x in t.mats.items():
        z = probes(x.shape[0], side)
        if z is None:
            continue
        # unfolded readers: ``(W diag g)^T z == W^T (g * z)``, so the gain scales the k
        # probes instead of a full-size copy of every reading matrix
        gain = t.norms.get(FOLD[role]) if role in FOLD else None
        if gain is not None and gain.size == x.shape[0]:
            z = z * gain[:, None]
        y = (z.T @ x).astype(np.float64)
        size = z.shape[1]
        if sk.sizes.setdefault(role, size) != size:
            continue
        gram = y @ y.T
        g = unit_u_centred(gram)
        keys.add(f"{layer}.{role}")
        done.add(role)
        if g is None:
            continue
        flats[(layer, role)] = g
        if side == "a":
            p = perturbed_flat(gram, x.shape[1], strength, rng)
            if p is not None:
                sk.pos[(layer, role)] = p
        else:
            n = random_init_flat(size, x.shape[1], rng)
            if n is not None:
                sk.neg[(layer, role)] = n
    digests = tally.digests_a if side == "a" else tally.digests_b
    for role, w in t.raw.items():
        digests[f"{layer}.{role}"] = value_digest(w)
    return done


def _raw_equal(
    sa: TensorSource, na: str, sb: TensorSource, nb: str, xa: F64 | np.ndarray, xb: F64 | np.ndarray
) -> bool:
    if xa.shape != xb.shape or not np.array_equal(xa, xb):
        return False
    return sha256(sa.read_raw(na)) == sha256(sb.read_raw(nb))


def _exact_layer(
    ra: dict[str, np.ndarray],
    rb: dict[str, np.ndarray],
    ia: CanonicalIndex,
    sa: TensorSource,
    ib: CanonicalIndex,
    sb: TensorSource,
    comp: str,
    layer: int,
    tally: ExactTally,
) -> None:
    for role in sorted(set(ra) & set(rb)):
        xa, xb = ra[role], rb[role]
        if xa.shape != xb.shape:
            continue
        ca, cb = ia.get(comp, layer, role), ib.get(comp, layer, role)
        same = (
            ca is not None
            and cb is not None
            and _raw_equal(sa, ca.source_name, sb, cb.source_name, xa, xb)
        )
        tally.add_pair(xa, xb, same)
