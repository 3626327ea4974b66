"""Synthetic Llama-shaped checkpoints (optionally with a Qwen2.5-VL-style vision tower).

Independent draws are independent models of identical shape: the null pairs for calibration.
Matrices are "trained-like" rather than pure noise: i.i.d. Gaussian plus a random low-rank
part (trained weights have a few dominant directions), so a statistic that only works on
white noise would show it here. Norm gains sit near 1.0 (the LayerNorm trap).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sovereval.provenance.formats.base import DictSource, SourceMeta

Arr = npt.NDArray[np.float32]


def _mat(rng: np.random.Generator, out: int, inp: int, std: float = 0.02, rank: int = 8) -> Arr:
    g = rng.standard_normal((out, inp))
    low = rng.standard_normal((out, rank)) @ rng.standard_normal((rank, inp)) / np.sqrt(rank)
    return np.asarray(std * (g + 0.5 * low), np.float32)


def _gain(rng: np.random.Generator, n: int) -> Arr:
    return (1.0 + 0.05 * rng.standard_normal(n)).astype(np.float32)


def synthetic_llama(
    rng: np.random.Generator,
    *,
    layers: int = 4,
    hidden: int = 64,
    intermediate: int = 160,
    heads: int = 4,
    kv_heads: int = 2,
    vocab: int = 512,
    tied: bool = False,
    vision_layers: int = 0,
    vision_hidden: int = 48,
    prefix: str = "model.",
) -> DictSource:
    """A Llama-architecture checkpoint with HF names, config and a token vocabulary."""
    hd = hidden // heads
    t: dict[str, Arr] = {f"{prefix}embed_tokens.weight": _mat(rng, vocab, hidden, 0.05)}
    for i in range(layers):
        p = f"{prefix}layers.{i}."
        t[p + "input_layernorm.weight"] = _gain(rng, hidden)
        t[p + "self_attn.q_proj.weight"] = _mat(rng, heads * hd, hidden)
        t[p + "self_attn.k_proj.weight"] = _mat(rng, kv_heads * hd, hidden)
        t[p + "self_attn.v_proj.weight"] = _mat(rng, kv_heads * hd, hidden)
        t[p + "self_attn.o_proj.weight"] = _mat(rng, hidden, heads * hd)
        t[p + "post_attention_layernorm.weight"] = _gain(rng, hidden)
        t[p + "mlp.gate_proj.weight"] = _mat(rng, intermediate, hidden)
        t[p + "mlp.up_proj.weight"] = _mat(rng, intermediate, hidden)
        t[p + "mlp.down_proj.weight"] = _mat(rng, hidden, intermediate)
        t[p + "self_attn.rotary_emb.inv_freq"] = (
            1.0 / 10000 ** (np.arange(0, hd, 2, dtype=np.float32) / hd)
        ).astype(np.float32)
    t[f"{prefix}norm.weight"] = _gain(rng, hidden)
    if not tied:
        t["lm_head.weight"] = _mat(rng, vocab, hidden, 0.05)
    cfg: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "num_hidden_layers": layers,
        "vocab_size": vocab,
    }
    if vision_layers:
        t.update(_vision(rng, vision_layers, vision_hidden, hidden))
        cfg["vision_config"] = {
            "num_heads": 4,
            "hidden_size": vision_hidden,
            "depth": vision_layers,
        }
    tok = {"vocab": [f"tok{i}" for i in range(vocab)]}
    return DictSource(t, SourceMeta(format="memory", path="<synthetic>", config=cfg, tokenizer=tok))


def _vision(rng: np.random.Generator, layers: int, d: int, text_d: int) -> dict[str, Arr]:
    """Qwen2.5-VL-style vision tower: fused qkv, SwiGLU MLP, patch embedding, merger."""
    t: dict[str, Arr] = {
        "visual.patch_embed.proj.weight": (0.02 * rng.standard_normal((d, 3, 2, 8, 8))).astype(
            np.float32
        )
    }
    for i in range(layers):
        p = f"visual.blocks.{i}."
        t[p + "norm1.weight"] = _gain(rng, d)
        t[p + "attn.qkv.weight"] = _mat(rng, 3 * d, d)
        t[p + "attn.proj.weight"] = _mat(rng, d, d)
        t[p + "norm2.weight"] = _gain(rng, d)
        t[p + "mlp.gate_proj.weight"] = _mat(rng, 2 * d, d)
        t[p + "mlp.up_proj.weight"] = _mat(rng, 2 * d, d)
        t[p + "mlp.down_proj.weight"] = _mat(rng, d, 2 * d)
    t["visual.merger.ln_q.weight"] = _gain(rng, d)
    t["visual.merger.mlp.0.weight"] = _mat(rng, 4 * d, 4 * d)
    t["visual.merger.mlp.2.weight"] = _mat(rng, text_d, 4 * d)
    return t


def splice(base: DictSource, donor: DictSource, prefix: str) -> DictSource:
    """``base`` with every tensor whose name starts with ``prefix`` taken from ``donor``
    (e.g. an independently trained decoder with a copied vision tower)."""
    out = {n: np.asarray(base.read(n)) for n in base.infos()}
    for n in donor.infos():
        if n.startswith(prefix):
            out[n] = np.asarray(donor.read(n))
    return DictSource(out, base.meta)
