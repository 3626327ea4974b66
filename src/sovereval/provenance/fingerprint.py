"""Compact fingerprints of reference models, and screening a model against one.

A fingerprint keeps what ``compare`` needs from the reference side and nothing else:

* per component, the ``k`` residual probe directions and, per block and matrix role, the
  upper triangle of the unit U-centred probe Gram (float16) -- the debiased-CKA sketch;
* anchor rows (token-embedding rows with their token strings, or patch-embedding columns)
  so a screened model's residual basis can be aligned by Procrustes;
* per-tensor SHA-256 digests and bf16 value digests, for exact matches.

SmolLM2-135M gives ~3 MB. Stored as ``.npz`` (arrays, loaded with ``allow_pickle=False``)
plus ``.json`` (metadata); nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sovereval.errors import InputError
from sovereval.provenance.align import layer_map
from sovereval.provenance.calibration import NullSummary, best_match_score, holm, summarize
from sovereval.provenance.canonical import CanonicalIndex, canonicalize
from sovereval.provenance.exact import sha256, value_digest
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.reading import read_canonical, read_layer
from sovereval.provenance.stats import F64, orthonormal_probes, procrustes, unit_u_centred

FORMAT = "sovereval-fingerprint/1"


@dataclass(frozen=True)
class ComponentPrint:
    name: str
    d: int
    probes: npt.NDArray[np.float32]
    """(d, k) orthonormal residual probes."""
    layers: tuple[int, ...]
    grams: dict[str, npt.NDArray[np.float16]]
    """role -> (layers, k(k-1)/2) upper triangles (scaled by sqrt 2) of unit U-centred Grams."""
    anchors: npt.NDArray[np.float16]
    anchor_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fingerprint:
    name: str
    components: dict[str, ComponentPrint]
    digests: dict[str, str]
    value_digests: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)


def _triu(flat: F64, k: int) -> F64:
    iu = np.triu_indices(k, 1)
    return flat.reshape(k, k)[iu] * math.sqrt(2.0)


def sketch_side(
    index: CanonicalIndex, src: TensorSource, comp: str, z: npt.NDArray[np.float32]
) -> tuple[list[int], dict[str, F64]]:
    """One model's probe sketches: role -> (layers, k(k-1)/2) matrix of Gram triangles."""
    layers = index.layers(comp)
    k = z.shape[1]
    out: dict[str, F64] = {}
    for row, layer in enumerate(layers):
        t = read_layer(index, src, comp, layer)
        for role, x in t.mats.items():
            if x.shape[0] != z.shape[0]:
                continue
            y = (z.T @ x).astype(np.float64)
            g = unit_u_centred(y @ y.T)
            m = out.setdefault(role, np.zeros((len(layers), k * (k - 1) // 2)))
            if g is not None:
                m[row] = _triu(g, k)
    return layers, out


def _anchor_rows(
    index: CanonicalIndex, src: TensorSource, comp: str, n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
    emb = index.get(comp, -1, "embed")
    if emb is not None:
        x = read_canonical(src, emb)
        vocab = src.meta.tokenizer.get("vocab") if src.meta.tokenizer else None
        rows = np.sort(rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False))
        toks = (
            tuple(str(vocab[i]) for i in rows)
            if isinstance(vocab, list) and len(vocab) >= x.shape[0]
            else tuple(f"#{i}" for i in rows)
        )
        return x[rows], toks
    pe = index.get(comp, -1, "patch_embed")
    if pe is not None:
        return read_canonical(src, pe).T, ()
    return np.zeros((0, 0), np.float32), ()


def make_fingerprint(
    src: TensorSource, name: str, *, rng: np.random.Generator, probes: int = 96, anchors: int = 1536
) -> Fingerprint:
    """Fingerprint ``src`` (streams it once, one block at a time)."""
    index = canonicalize(src)
    comps: dict[str, ComponentPrint] = {}
    for comp in index.components():
        d = index.residual_dim(comp) or 0
        if d < 4:
            continue
        z = orthonormal_probes(d, min(probes, d), rng).astype(np.float32)
        layers, grams = sketch_side(index, src, comp, z)
        anc, toks = _anchor_rows(index, src, comp, anchors, rng)
        comps[comp] = ComponentPrint(
            comp,
            d,
            z,
            tuple(layers),
            {r: g.astype(np.float16) for r, g in grams.items()},
            anc.astype(np.float16),
            toks,
        )
    digests = {n: sha256(src.read_raw(n)) for n in src.infos()}
    values = {n: value_digest(np.asarray(src.read(n))) for n in src.infos()}
    return Fingerprint(name, comps, digests, values, dict(src.meta.config))


def save(fp: Fingerprint, stem: Path) -> tuple[Path, Path]:
    """Write ``stem.npz`` and ``stem.json``."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "name": fp.name,
        "digests": fp.digests,
        "value_digests": fp.value_digests,
        "config": _plain(fp.config),
        "components": {},
    }
    for c, cp in fp.components.items():
        arrays[f"{c}/probes"] = cp.probes
        arrays[f"{c}/anchors"] = cp.anchors
        for r, g in cp.grams.items():
            arrays[f"{c}/gram/{r}"] = g
        meta["components"][c] = {
            "d": cp.d,
            "layers": list(cp.layers),
            "roles": sorted(cp.grams),
            "anchor_tokens": list(cp.anchor_tokens),
        }
    npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
    np.savez_compressed(npz, **arrays)  # type: ignore[arg-type]
    js.write_text(json.dumps(meta, ensure_ascii=False))
    return npz, js


def _plain(x: Any) -> Any:
    try:
        json.dumps(x)
        return x
    except TypeError:
        return {str(k): str(v) for k, v in x.items()} if isinstance(x, dict) else str(x)


def load(stem: Path) -> Fingerprint:
    """Read a fingerprint; refuses anything but plain arrays and the expected JSON."""
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        data = np.load(stem.with_suffix(".npz"), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read fingerprint {stem.name}: {exc}; re-create it with 'provenance library add'"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{stem.name} is not a {FORMAT} fingerprint; re-create it")
    comps = {}
    for c, m in meta["components"].items():
        grams = {r: np.asarray(data[f"{c}/gram/{r}"]) for r in m["roles"]}
        comps[c] = ComponentPrint(
            c,
            int(m["d"]),
            np.asarray(data[f"{c}/probes"]),
            tuple(int(i) for i in m["layers"]),
            grams,
            np.asarray(data[f"{c}/anchors"]),
            tuple(m.get("anchor_tokens", [])),
        )
    return Fingerprint(
        str(meta["name"]),
        comps,
        dict(meta["digests"]),
        dict(meta["value_digests"]),
        dict(meta.get("config", {})),
    )


@dataclass(frozen=True)
class ScreenComponent:
    name: str
    statistic: NullSummary
    layer_map: tuple[tuple[int, int], ...]
    similarity: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class ScreenResult:
    reference: str
    components: tuple[ScreenComponent, ...]
    exact_tensor_matches: int
    value_matches: int

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "exact_tensor_matches": self.exact_tensor_matches,
            "value_matches": self.value_matches,
            "components": [
                {
                    "name": c.name,
                    "p_value": c.statistic.p_param,
                    "z": c.statistic.z,
                    "effect": c.statistic.observed - c.statistic.mean,
                    "statistic": c.statistic.to_json(),
                    "layer_map": [list(p) for p in c.layer_map],
                }
                for c in self.components
            ],
        }


def _screen_basis(
    cp: ComponentPrint, index: CanonicalIndex, src: TensorSource, comp: str, d_b: int
) -> F64:
    emb = index.get(comp, -1, "embed")
    if emb is not None and cp.anchor_tokens:
        vocab = src.meta.tokenizer.get("vocab") if src.meta.tokenizer else None
        pos = (
            {str(t): i for i, t in enumerate(vocab)}
            if isinstance(vocab, list)
            else {f"#{i}": i for i in range(emb.shape[0])}
        )
        pairs = [
            (r, pos[t])
            for r, t in enumerate(cp.anchor_tokens)
            if t in pos and pos[t] < emb.shape[0]
        ]
        if len(pairs) >= 8:
            x = read_canonical(src, emb)
            ra, rb = zip(*pairs, strict=True)
            p = procrustes(
                cp.anchors[list(ra)].astype(np.float32),
                x[list(rb)],
                prior=1e-3 if cp.d == d_b else 0.0,
            )
            if p.fit > 0.5 or cp.d != d_b:
                return p.q
    return np.eye(cp.d, d_b)


def screen(
    src: TensorSource, fp: Fingerprint, *, rng: np.random.Generator, permutations: int = 48
) -> ScreenResult:
    """Screen ``src`` against a fingerprint: the same best-match debiased-CKA statistic as
    ``compare`` with its probe-permutation null, plus exact digest matches. No reference
    weights are needed."""
    index = canonicalize(src)
    out: list[ScreenComponent] = []
    for comp, cp in fp.components.items():
        d_b = index.residual_dim(comp)
        if d_b is None or not index.layers(comp):
            continue
        q = _screen_basis(cp, index, src, comp, d_b)
        zb = (q.T @ cp.probes.astype(np.float64)).astype(np.float32)
        lb, gb = sketch_side(index, src, comp, zb)
        roles = sorted(set(cp.grams) & set(gb))
        if not roles:
            continue
        k = cp.probes.shape[1]
        ma = np.concatenate([cp.grams[r].astype(np.float32) for r in roles], axis=1)
        mb = np.concatenate([gb[r].astype(np.float32) for r in roles], axis=1)
        n_roles = float(len(roles))
        s = np.asarray(ma @ mb.T, np.float64) / n_roles
        iu = np.triu_indices(k, 1)
        pos = np.zeros((k, k), np.int64)
        pos[iu] = np.arange(iu[0].size)
        pos = pos + pos.T
        tri = iu[0].size
        null: list[float] = []
        cells: list[float] = []
        for _ in range(permutations):
            p = rng.permutation(k)
            idx = np.concatenate([j * tri + pos[p[iu[0]], p[iu[1]]] for j in range(len(roles))])
            sp = np.asarray(ma @ mb[:, idx].T, np.float64) / n_roles
            null.append(best_match_score(sp))
            cells.extend(sp.ravel()[:64].tolist())
        stat = summarize(best_match_score(s), null)
        pairs = layer_map(s, max(float(np.std(cells)), 1e-3), float(np.mean(cells)))
        la = list(cp.layers)
        out.append(
            ScreenComponent(
                comp,
                stat,
                tuple((la[i], lb[j]) for i, j in pairs),
                tuple(tuple(float(v) for v in r) for r in s),
            )
        )
    digests = {sha256(src.read_raw(n)) for n in src.infos()}
    values = {value_digest(np.asarray(src.read(n))) for n in src.infos()}
    return ScreenResult(
        fp.name,
        tuple(out),
        sum(1 for d in fp.digests.values() if d in digests),
        sum(1 for d in fp.value_digests.values() if d in values),
    )


@dataclass(frozen=True)
class ScanHit:
    reference: str
    component: str
    p_value: float
    """Holm-adjusted across every (reference, component) pair screened."""
    effect: float
    derived: bool


def scan(
    src: TensorSource,
    library: Mapping[str, Fingerprint],
    *,
    rng: np.random.Generator,
    alpha: float = 1e-4,
    min_effect: float = 0.15,
) -> list[ScanHit]:
    """Screen ``src`` against every fingerprint; Holm (1979) across references x components.

    ``derived`` uses the same rule as ``compare`` (adjusted p below ``alpha`` and an effect of
    at least ``min_effect``); run ``compare`` with the full weights for the derivation kind."""
    rows: list[tuple[str, str, float, float]] = []
    for name, fp in library.items():
        res = screen(src, fp, rng=rng)
        for c in res.components:
            rows.append(
                (name, c.name, c.statistic.p_param, c.statistic.observed - c.statistic.mean)
            )
    adj = holm([r[2] for r in rows])
    return [
        ScanHit(n, c, p, e, p < alpha and e >= min_effect)
        for (n, c, _, e), p in zip(rows, adj, strict=True)
    ]
