"""Derived variants and independent initialisations of a checkpoint, for tests and calibration.

Every variant is seeded (``rng``) and returns an in-memory :class:`DictSource`. Function-
preserving transforms (neuron/head permutation, residual rotation with norms folded, paired
scaling) really preserve the function of a pre-norm RMSNorm decoder; the others imitate what a
team might do to hide a borrowed parent (fine-tune, LoRA, quantise, cut, stack, re-vocab,
rename, fuse). They operate on Hugging Face Llama-style names (what the GGUF and safetensors
readers produce); synthetic models come from ``synthetic``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from sovereval.provenance.canonical import CanonKey, canonicalize
from sovereval.provenance.exact import to_bf16_bits
from sovereval.provenance.formats.base import DictSource, SourceMeta, TensorSource

Arr = npt.NDArray[np.float32]
_LAYER = re.compile(r"(?<![A-Za-z_])(layers|layer|blocks|h|blk)\.(\d+)\.")


def materialise(src: TensorSource) -> dict[str, Arr]:
    """Every tensor of ``src`` as float32 (test/calibration helper; holds the model)."""
    return {n: np.asarray(src.read(n), np.float32) for n in src.infos()}


def _new(src: TensorSource, t: Mapping[str, npt.NDArray[Any]], **meta: Any) -> DictSource:
    return DictSource(dict(t), replace(src.meta, **meta) if meta else src.meta)


def _keys(src: TensorSource) -> dict[CanonKey, str]:
    return {k: ct.source_name for k, ct in canonicalize(src).tensors.items()}


def _map_matrices(
    src: TensorSource, fn: Callable[[str, Arr], Arr], two_d_only: bool = True
) -> DictSource:
    idx = canonicalize(src)
    names = {ct.source_name for ct in idx.tensors.values() if len(ct.shape) == 2}
    t = materialise(src)
    out = {
        n: (fn(n, v) if (n in names or not two_d_only) and v.ndim == 2 else v) for n, v in t.items()
    }
    return _new(src, out)


def _heads(cfg: Mapping[str, Any], d: int) -> tuple[int, int, int]:
    h = int(cfg.get("num_attention_heads", 1))
    kv = int(cfg.get("num_key_value_heads", h))
    hd = int(cfg.get("head_dim", d // h))
    return h, kv, hd


def permute(src: TensorSource, rng: np.random.Generator) -> DictSource:
    """Function-preserving permutation of every block's MLP neurons and attention heads
    (GQA groups move with their query heads; o-projection columns follow)."""
    t = materialise(src)
    keys = _keys(src)
    cfg = src.meta.config
    for (comp, layer, role), name in keys.items():
        if role not in ("up",) or layer < 0:
            continue
        f = t[name].shape[0]
        p = rng.permutation(f)
        for r, axis in (("gate", 0), ("up", 0), ("down", 1)):
            n = keys.get(CanonKey(comp, layer, r))
            if n is not None:
                t[n] = np.take(t[n], p, axis=axis)
                b = n[: -len("weight")] + "bias"
                if axis == 0 and b in t:
                    t[b] = t[b][p]
    for (comp, layer, role), name in keys.items():
        if role != "q" or layer < 0:
            continue
        kn, vn, on = (keys.get(CanonKey(comp, layer, r)) for r in ("k", "v", "o"))
        if kn is None or vn is None or on is None:
            continue
        h, kv, hd = _heads(cfg, t[name].shape[1])
        if h * hd != t[name].shape[0] or kv * hd != t[kn].shape[0]:
            continue
        g = rng.permutation(kv)
        per = h // kv
        qh = np.concatenate([np.arange(gi * per, (gi + 1) * per)[rng.permutation(per)] for gi in g])
        qrows = (qh[:, None] * hd + np.arange(hd)[None, :]).ravel()
        krows = (g[:, None] * hd + np.arange(hd)[None, :]).ravel()
        t[name] = t[name][qrows]
        t[kn] = t[kn][krows]
        t[vn] = t[vn][krows]
        t[on] = t[on][:, qrows]
    return _new(src, t)


def random_orthogonal(d: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))[None, :]


def rotate(src: TensorSource, rng: np.random.Generator) -> DictSource:
    """Residual-stream rotation of a pre-norm RMSNorm decoder with the gains folded in first
    (so every block norm becomes exactly 1.0); the head is untied if it was tied."""
    t = materialise(src)
    keys = _keys(src)
    emb = keys[CanonKey("text", -1, "embed")]
    d = t[emb].shape[1]
    q = random_orthogonal(d, rng)
    head = keys.get(CanonKey("text", -1, "lm_head"))
    fin = keys.get(CanonKey("text", -1, "final_norm"))
    g_f = t[fin].astype(np.float64) if fin else np.ones(d)
    t["lm_head.weight"] = ((t[head] if head else t[emb]) * g_f[None, :] @ q).astype(np.float32)
    if head and head != "lm_head.weight":
        del t[head]
    if fin:
        t[fin] = np.ones(d, np.float32)
    t[emb] = (t[emb] @ q).astype(np.float32)
    for (comp, layer, role), name in keys.items():
        if comp != "text" or layer < 0:
            continue
        if role in ("q", "k", "v", "gate", "up"):
            norm_role = "attn_norm" if role in ("q", "k", "v") else "mlp_norm"
            norm = keys.get(CanonKey(comp, layer, norm_role))
            g = t[norm].astype(np.float64) if norm else np.ones(d)
            t[name] = ((t[name] * g[None, :]) @ q).astype(np.float32)
        elif role in ("o", "down"):
            t[name] = (q.T @ t[name]).astype(np.float32)
    for (comp, layer, role), name in keys.items():
        if comp == "text" and layer >= 0 and role in ("attn_norm", "mlp_norm"):
            t[name] = np.ones_like(t[name])
    return _new(src, t)


def scale(src: TensorSource, factor: float) -> DictSource:
    """Function-preserving paired scaling: up x c with down / c, q x c with k / c."""
    keys = _keys(src)
    mult: dict[str, float] = {}
    for (_, layer, role), name in keys.items():
        if layer >= 0 and role in ("up", "q"):
            mult[name] = factor
        if layer >= 0 and role in ("down", "k"):
            mult[name] = 1.0 / factor
    t = materialise(src)
    return _new(src, {n: (v * np.float32(mult[n]) if n in mult else v) for n, v in t.items()})


def cast(src: TensorSource, dtype: str) -> DictSource:
    """Round every float tensor to ``fp16`` or ``bf16`` (stored as float32 for bf16)."""
    t = materialise(src)
    if dtype == "fp16":
        return _new(src, {n: v.astype(np.float16) for n, v in t.items()})
    out = {}
    for n, v in t.items():
        bits = to_bf16_bits(v).astype(np.uint32) << 16
        out[n] = bits.view(np.float32).reshape(v.shape)
    return _new(src, out)


def block_quantize(x: Arr, kind: str) -> Arr:
    """Round-trip through a GGUF-style block quantiser (blocks of 32 along the last axis):
    ``q8_0`` symmetric int8 with scale ``absmax/127``; ``q4_0`` 16 levels with scale
    ``-max/8`` (llama.cpp's rule). Uses ``gguf.quants`` when present, else this code."""
    if x.ndim != 2 or x.shape[1] % 32:
        return x
    try:
        from gguf import GGMLQuantizationType, quants

        qt = GGMLQuantizationType.Q8_0 if kind == "q8_0" else GGMLQuantizationType.Q4_0
        return np.asarray(quants.dequantize(quants.quantize(x, qt), qt), np.float32).reshape(
            x.shape
        )
    except Exception:  # pragma: no cover - the own quantiser is the fallback
        b = x.reshape(-1, 32).astype(np.float64)
        if kind == "q8_0":
            s = np.abs(b).max(axis=1, keepdims=True) / 127.0
            s[s == 0] = 1.0
            return np.asarray(np.round(b / s) * s, np.float32).reshape(x.shape)
        idx = np.argmax(np.abs(b), axis=1)
        mx = b[np.arange(b.shape[0]), idx][:, None]
        s = mx / -8.0
        s[s == 0] = 1.0
        qv = np.clip(np.round(b / s), -8, 7)
        return np.asarray(qv * s, np.float32).reshape(x.shape)


def quantize(src: TensorSource, kind: str) -> DictSource:
    return _map_matrices(src, lambda _n, v: block_quantize(v, kind))


def _update(
    shape: tuple[int, ...], rel: float, norm: float, rng: np.random.Generator, rank: int, iid: float
) -> Arr:
    m, n = shape
    low = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    noise = rng.standard_normal((m, n))
    u = (1 - iid) * low / np.linalg.norm(low) + iid * noise / np.linalg.norm(noise)
    return np.asarray(u * (rel * norm / np.linalg.norm(u)), np.float32)


def finetune(src: TensorSource, rel: float, rng: np.random.Generator) -> DictSource:
    """Fine-tune-like update of relative Frobenius norm ``rel`` on every matrix: half of it
    low-rank (rank 8, the structure real updates have), half dense; norm gains drift too."""
    t = materialise(src)
    keys = _keys(src)
    out = dict(t)
    for (_, _, role), name in keys.items():
        v = t[name]
        if v.ndim == 2:
            out[name] = v + _update(v.shape, rel, float(np.linalg.norm(v)), rng, 8, 0.5)
        elif role.endswith("norm"):
            out[name] = v + (rel * 0.1 * rng.standard_normal(v.shape)).astype(np.float32)
    return _new(src, out)


def lora(src: TensorSource, rank: int, rel: float, rng: np.random.Generator) -> DictSource:
    """LoRA-style update ``W + B A`` of rank ``rank`` and relative norm ``rel`` on q, v and the MLP."""
    t = materialise(src)
    out = dict(t)
    for (_, layer, role), name in _keys(src).items():
        if layer >= 0 and role in ("q", "v", "gate", "up", "down"):
            v = t[name]
            out[name] = v + _update(v.shape, rel, float(np.linalg.norm(v)), rng, rank, 0.0)
    return _new(src, out)


def merge(src: TensorSource, other: TensorSource, weight: float) -> DictSource:
    """Linear merge ``(1 - weight) * src + weight * other`` of same-shaped tensors."""
    ta, tb = materialise(src), materialise(other)
    return _new(
        src,
        {
            n: ((1 - weight) * v + weight * tb[n]).astype(np.float32)
            if n in tb and tb[n].shape == v.shape
            else v
            for n, v in ta.items()
        },
    )


def _relayer(src: TensorSource, order: list[int]) -> DictSource:
    """New model whose block ``i`` is the source's block ``order[i]`` (any naming scheme)."""
    t = materialise(src)
    out: dict[str, Arr] = {}
    by_layer: dict[int, list[tuple[str, re.Match[str]]]] = {}
    for n in t:
        m = _LAYER.search(n)
        if m is None:
            out[n] = t[n]
        else:
            by_layer.setdefault(int(m.group(2)), []).append((n, m))
    for new, old in enumerate(order):
        for n, m in by_layer.get(old, []):
            out[n[: m.start(2)] + str(new) + n[m.end(2) :]] = t[n].copy()
    cfg = dict(src.meta.config)
    for key in ("num_hidden_layers", "n_layer", "block_count"):
        if key in cfg:
            cfg[key] = len(order)
    return _new(src, out, config=cfg)


def n_layers(src: TensorSource) -> int:
    return len({int(m.group(2)) for n in src.infos() if (m := _LAYER.search(n))})


def every_second_layer(src: TensorSource) -> DictSource:
    return _relayer(src, list(range(0, n_layers(src), 2)))


def prune_layers(src: TensorSource, start: int, stop: int) -> DictSource:
    return _relayer(src, [i for i in range(n_layers(src)) if not start <= i < stop])


def depth_upscale(src: TensorSource, overlap: int) -> DictSource:
    """SOLAR-style depth up-scaling: blocks ``[0, n - overlap)`` then ``[overlap, n)``."""
    n = n_layers(src)
    return _relayer(src, list(range(0, n - overlap)) + list(range(overlap, n)))


def _vocab_edit(
    src: TensorSource, rows: npt.NDArray[np.int64], extra: int, rng: np.random.Generator
) -> DictSource:
    t = materialise(src)
    keys = _keys(src)
    vocab = list(src.meta.tokenizer.get("vocab") or [f"<tok{i}>" for i in range(len(rows))])
    for role in ("embed", "lm_head"):
        n = keys.get(CanonKey("text", -1, role))
        if n is None:
            continue
        v = t[n][rows]
        if extra:
            new = rng.standard_normal((extra, v.shape[1])).astype(np.float32) * np.float32(v.std())
            v = np.concatenate([v, new])
        t[n] = v
    new_vocab = [vocab[i] for i in rows] + [f"<new{i}>" for i in range(extra)]
    tok = dict(src.meta.tokenizer)
    tok["vocab"] = new_vocab
    cfg = dict(src.meta.config)
    cfg["vocab_size"] = len(new_vocab)
    return _new(src, t, tokenizer=tok, config=cfg)


def vocab_prune(src: TensorSource, keep: float, rng: np.random.Generator) -> DictSource:
    """Keep a random ``keep`` fraction of the tokens (order kept), tokenizer vocab updated."""
    v = int(src.infos()[_keys(src)[CanonKey("text", -1, "embed")]].shape[0])
    rows = np.sort(rng.choice(v, size=int(v * keep), replace=False))
    return _vocab_edit(src, rows, 0, rng)


def vocab_extend(src: TensorSource, extra: int, rng: np.random.Generator) -> DictSource:
    v = int(src.infos()[_keys(src)[CanonKey("text", -1, "embed")]].shape[0])
    return _vocab_edit(src, np.arange(v), extra, rng)


_GGUF = {
    "q": "attn_q",
    "k": "attn_k",
    "v": "attn_v",
    "o": "attn_output",
    "gate": "ffn_gate",
    "up": "ffn_up",
    "down": "ffn_down",
    "attn_norm": "attn_norm",
    "mlp_norm": "ffn_norm",
}
_GGUF_GLOBAL = {"embed": "token_embd", "lm_head": "output", "final_norm": "output_norm"}


def rename_gguf(src: TensorSource) -> DictSource:
    """Rename text tensors to llama.cpp's GGUF scheme (``blk.N.attn_q.weight``...)."""
    t = materialise(src)
    out: dict[str, Arr] = {}
    rename: dict[str, str] = {}
    for (comp, layer, role), name in _keys(src).items():
        if comp != "text":
            continue
        if layer >= 0 and role in _GGUF:
            rename[name] = f"blk.{layer}.{_GGUF[role]}.weight"
        elif layer < 0 and role in _GGUF_GLOBAL:
            rename[name] = f"{_GGUF_GLOBAL[role]}.weight"
    for n, v in t.items():
        out[rename.get(n, n)] = v
    return _new(src, out)


def fuse(src: TensorSource) -> DictSource:
    """Fuse q/k/v into ``qkv_proj`` and gate/up into ``gate_up_proj`` (Phi-3 layout)."""
    t = materialise(src)
    keys = _keys(src)
    for (comp, layer, role), name in list(keys.items()):
        if layer < 0 or comp != "text":
            continue
        if role == "q":
            parts = [keys.get(CanonKey(comp, layer, r)) for r in ("q", "k", "v")]
            if all(p is not None for p in parts):
                base = name.rsplit(".", 2)[0]
                t[f"{base}.qkv_proj.weight"] = np.concatenate([t.pop(p) for p in parts if p])
        if role == "gate":
            up = keys.get(CanonKey(comp, layer, "up"))
            if up is not None:
                base = name.rsplit(".", 2)[0]
                t[f"{base}.gate_up_proj.weight"] = np.concatenate([t.pop(name), t.pop(up)])
    return _new(src, t)


def independent_init(src: TensorSource, rng: np.random.Generator, std: float = 0.02) -> DictSource:
    """Same names, shapes and metadata; fresh values: matrices ``N(0, std^2)`` scaled to each
    tensor's own std (so scale carries no signal), norm gains ``1 + N(0, 0.05^2)`` (the
    LayerNorm trap: near 1, like every trained model's), buffers kept."""
    idx = canonicalize(src)
    buffers = {n for n, _ in idx.excluded}
    out: dict[str, Arr] = {}
    for n, info in src.infos().items():
        if n in buffers:
            out[n] = np.asarray(src.read(n), np.float32)
            continue
        shape = info.shape
        if len(shape) == 1:
            out[n] = (1.0 + 0.05 * rng.standard_normal(shape)).astype(np.float32)
        else:
            s = float(np.std(src.read(n))) or std
            out[n] = (s * rng.standard_normal(shape)).astype(np.float32)
    return DictSource(out, src.meta)


def with_meta(src: TensorSource, meta: SourceMeta) -> DictSource:
    return DictSource(materialise(src), meta)
