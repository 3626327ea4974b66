"""Function-preserving and training-like transforms of the corpus's real models, each saved under
another naming scheme, and cross-component models built from real weights (a public encoder as
the vision or audio tower of a model whose decoder is another real model).

The maths is pure (``dict`` of arrays and a seeded ``numpy.random.Generator`` in, ``dict`` out);
:func:`write_transform` is the edge that reads the base models and writes the file. Names of the
sources are the ones the corpus's files really use (SmolLM2 via the GGUF reader's Hugging Face
names, all-MiniLM-L6-v2's BERT names, Whisper's CTranslate2 names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sovereval.provenance.corpus import ComponentExpectation as CE
from sovereval.provenance.corpus import Pair
from sovereval.provenance.corpus_io import requantise_gguf, write_int8_onnx, write_safetensors

if TYPE_CHECKING:
    from sovereval.provenance.corpus import Manifest

Arr = npt.NDArray[Any]
Tensors = dict[str, Arr]
TRANSFORM_VERSION = "1"

# SmolLM2-135M: 30 layers, hidden 576, 9 query heads and 3 KV heads of 64, FFN 1536, tied embedding.
_LLAMA_HEAD = 64
_LLAMA_HEADS = 9
_LLAMA_KV = 3
_MINILM_HEAD = 32
_MINILM_HEADS = 12


def _layers(t: Mapping[str, Arr], prefix: str) -> int:
    return 1 + max(int(k[len(prefix) :].split(".")[0]) for k in t if k.startswith(prefix))


# ------------------------------------------------------------------ structured updates


def structured_update(w: Arr, rel: float, rng: np.random.Generator, rank: int = 32) -> Arr:
    """A fine-tune-like update of relative Frobenius size ``rel``: half its energy in a random
    rank-``rank`` direction (updates of real fine-tunes are dominated by a few directions; Hu et
    al. 2021, LoRA, section 4), half dense noise. ``||W' - W|| / ||W|| == rel``."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 1:
        noise = rng.standard_normal(w.shape).astype(np.float32)
        return w + rel * np.linalg.norm(w) / max(float(np.linalg.norm(noise)), 1e-12) * noise
    m = w.reshape(w.shape[0], -1)
    low = rng.standard_normal((m.shape[0], rank)).astype(np.float32) @ rng.standard_normal(
        (rank, m.shape[1])
    ).astype(np.float32)
    dense = rng.standard_normal(m.shape).astype(np.float32)
    upd = low / np.linalg.norm(low) + dense / np.linalg.norm(dense)
    upd *= rel * float(np.linalg.norm(m)) / float(np.linalg.norm(upd))
    out: Arr = (m + upd).reshape(w.shape)
    return out


def finetune(t: Mapping[str, Arr], rel: float, rng: np.random.Generator) -> Tensors:
    """Every matrix moves by ``rel`` of its norm, every norm gain/bias by a tenth of that."""
    return {k: structured_update(v, rel if v.ndim >= 2 else rel / 10, rng) for k, v in t.items()}


def lora(
    t: Mapping[str, Arr], rank: int, rel: float, rng: np.random.Generator, targets: tuple[str, ...]
) -> Tensors:
    """W + B A on the named projections, ``||BA|| = rel ||W||`` (a merged LoRA adapter)."""
    out = dict(t)
    for k, w in t.items():
        if w.ndim == 2 and any(s in k for s in targets):
            b = rng.standard_normal((w.shape[0], rank)).astype(np.float32)
            a = rng.standard_normal((rank, w.shape[1])).astype(np.float32)
            ba = b @ a
            out[k] = w + rel * float(np.linalg.norm(w)) / float(np.linalg.norm(ba)) * ba
    return out


# ------------------------------------------------------------------ Llama-style decoders


def _llama(i: int, part: str) -> str:
    return f"model.layers.{i}.{part}.weight"


def llama_permute(t: Mapping[str, Arr], rng: np.random.Generator) -> Tensors:
    """Permute the residual dimensions, the KV groups, the query heads inside each group and the
    FFN neurons; the function is unchanged (RMSNorm and SwiGLU are permutation-equivariant,
    RoPE acts inside a head)."""
    d = t["model.embed_tokens.weight"].shape[1]
    res = rng.permutation(d)
    out: Tensors = {
        "model.embed_tokens.weight": t["model.embed_tokens.weight"][:, res],
        "model.norm.weight": t["model.norm.weight"][res],
    }
    if "lm_head.weight" in t:
        out["lm_head.weight"] = t["lm_head.weight"][:, res]
    per = _LLAMA_HEADS // _LLAMA_KV
    for i in range(_layers(t, "model.layers.")):
        groups = rng.permutation(_LLAMA_KV)
        qheads = np.concatenate([g * per + rng.permutation(per) for g in groups])
        qrows = (qheads[:, None] * _LLAMA_HEAD + np.arange(_LLAMA_HEAD)).ravel()
        kvrows = (groups[:, None] * _LLAMA_HEAD + np.arange(_LLAMA_HEAD)).ravel()
        ffn = rng.permutation(t[_llama(i, "mlp.gate_proj")].shape[0])
        out[_llama(i, "self_attn.q_proj")] = t[_llama(i, "self_attn.q_proj")][qrows][:, res]
        out[_llama(i, "self_attn.k_proj")] = t[_llama(i, "self_attn.k_proj")][kvrows][:, res]
        out[_llama(i, "self_attn.v_proj")] = t[_llama(i, "self_attn.v_proj")][kvrows][:, res]
        out[_llama(i, "self_attn.o_proj")] = t[_llama(i, "self_attn.o_proj")][res][:, qrows]
        out[_llama(i, "mlp.gate_proj")] = t[_llama(i, "mlp.gate_proj")][ffn][:, res]
        out[_llama(i, "mlp.up_proj")] = t[_llama(i, "mlp.up_proj")][ffn][:, res]
        out[_llama(i, "mlp.down_proj")] = t[_llama(i, "mlp.down_proj")][res][:, ffn]
        for n in ("input_layernorm", "post_attention_layernorm"):
            out[_llama(i, n)] = t[_llama(i, n)][res]
    return out


def random_orthogonal(d: int, rng: np.random.Generator) -> Arr:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def llama_rotate(t: Mapping[str, Arr], rng: np.random.Generator) -> Tensors:
    """Fold every RMSNorm gain into the matrices that read it (gains become 1), then rotate the
    residual stream by a random orthogonal Q: readers W -> W Q, writers W -> Q^T W, embedding and
    head rows -> e Q. RMSNorm(xQ) = RMSNorm(x) Q when its gain is 1, so the function is
    unchanged (the "residual rotation" of Ashkboos et al. 2024, SliceGPT, section 3)."""
    emb = t["model.embed_tokens.weight"]
    q = random_orthogonal(emb.shape[1], rng)
    head = t.get("lm_head.weight", emb) * t["model.norm.weight"][None, :]
    out: Tensors = {
        "model.embed_tokens.weight": emb @ q,
        "lm_head.weight": head @ q,
        "model.norm.weight": np.ones_like(t["model.norm.weight"]),
    }
    for i in range(_layers(t, "model.layers.")):
        g1, g2 = t[_llama(i, "input_layernorm")], t[_llama(i, "post_attention_layernorm")]
        for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            out[_llama(i, p)] = (t[_llama(i, p)] * g1[None, :]) @ q
        for p in ("mlp.gate_proj", "mlp.up_proj"):
            out[_llama(i, p)] = (t[_llama(i, p)] * g2[None, :]) @ q
        out[_llama(i, "self_attn.o_proj")] = q.T @ t[_llama(i, "self_attn.o_proj")]
        out[_llama(i, "mlp.down_proj")] = q.T @ t[_llama(i, "mlp.down_proj")]
        out[_llama(i, "input_layernorm")] = np.ones_like(g1)
        out[_llama(i, "post_attention_layernorm")] = np.ones_like(g2)
    return out


def llama_relayer(t: Mapping[str, Arr], order: list[int]) -> Tensors:
    out = {k: v for k, v in t.items() if not k.startswith("model.layers.")}
    for new, old in enumerate(order):
        pre = f"model.layers.{old}."
        for k, v in t.items():
            if k.startswith(pre):
                out[f"model.layers.{new}." + k[len(pre) :]] = v
    return out


def llama_vocab_prune(t: Mapping[str, Arr], keep: float, rng: np.random.Generator) -> Tensors:
    """Keep a sorted random ``keep`` fraction of vocabulary rows (a pruned tokenizer)."""
    emb = t["model.embed_tokens.weight"]
    rows = np.sort(rng.choice(emb.shape[0], int(emb.shape[0] * keep), replace=False))
    out = dict(t)
    out["model.embed_tokens.weight"] = emb[rows]
    if "lm_head.weight" in t:
        out["lm_head.weight"] = t["lm_head.weight"][rows]
    return out


def to_gpt2(t: Mapping[str, Arr]) -> Tensors:
    """GPT-2 names and layout: fused QKV ``attn.c_attn`` and fused gate/up ``mlp.c_fc`` stored
    (in, out) as GPT-2's Conv1D does; projections transposed likewise."""
    out: Tensors = {
        "transformer.wte.weight": t["model.embed_tokens.weight"],
        "transformer.ln_f.weight": t["model.norm.weight"],
    }
    if "lm_head.weight" in t:
        out["lm_head.weight"] = t["lm_head.weight"]
    for i in range(_layers(t, "model.layers.")):
        h = f"transformer.h.{i}."
        qkv = [t[_llama(i, f"self_attn.{p}_proj")] for p in "qkv"]
        out[h + "attn.c_attn.weight"] = np.concatenate(qkv, axis=0).T
        out[h + "attn.c_proj.weight"] = t[_llama(i, "self_attn.o_proj")].T
        out[h + "mlp.c_fc.weight"] = np.concatenate(
            [t[_llama(i, "mlp.gate_proj")], t[_llama(i, "mlp.up_proj")]], axis=0
        ).T
        out[h + "mlp.c_proj.weight"] = t[_llama(i, "mlp.down_proj")].T
        out[h + "ln_1.weight"] = t[_llama(i, "input_layernorm")]
        out[h + "ln_2.weight"] = t[_llama(i, "post_attention_layernorm")]
    return out


_META = {
    "self_attn.q_proj": "attention.wq",
    "self_attn.k_proj": "attention.wk",
    "self_attn.v_proj": "attention.wv",
    "self_attn.o_proj": "attention.wo",
    "mlp.gate_proj": "feed_forward.w1",
    "mlp.down_proj": "feed_forward.w2",
    "mlp.up_proj": "feed_forward.w3",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
}


def to_meta(t: Mapping[str, Arr]) -> Tensors:
    """Meta's original Llama checkpoint names (``layers.N.attention.wq``, ``feed_forward.w1``)."""
    out: Tensors = {
        "tok_embeddings.weight": t["model.embed_tokens.weight"],
        "norm.weight": t["model.norm.weight"],
    }
    if "lm_head.weight" in t:
        out["output.weight"] = t["lm_head.weight"]
    for i in range(_layers(t, "model.layers.")):
        for hf, meta in _META.items():
            out[f"layers.{i}.{meta}.weight"] = t[_llama(i, hf)]
    return out


def to_opaque(t: Mapping[str, Arr]) -> Tensors:
    """Names that say nothing: ``net.<block>.<slot>`` in the order the tensors come."""
    out: Tensors = {}
    block: dict[str, int] = {}
    for k, v in t.items():
        parts = k.split(".")
        grp = ".".join(parts[:3]) if k.startswith("model.layers.") else "top"
        slot = block.setdefault(grp, 0)
        block[grp] = slot + 1
        out[f"net.{len({g for g in block}) - 1}.p{slot}"] = v
    return out


# ------------------------------------------------------------------ BERT-style encoders

_BERT_PARTS = {
    "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "layer_norm1",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "output.LayerNorm": "layer_norm2",
}


def bert_layer_keys(t: Mapping[str, Arr], i: int) -> dict[str, str]:
    pre = f"encoder.layer.{i}."
    return {k[len(pre) :]: k for k in t if k.startswith(pre)}


def bert_permute(t: Mapping[str, Arr], rng: np.random.Generator) -> Tensors:
    """Permute heads (q/k/v rows, out-projection columns) and FFN neurons in every layer."""
    out = dict(t)
    for i in range(_layers(t, "encoder.layer.")):
        heads = rng.permutation(_MINILM_HEADS)
        rows = (heads[:, None] * _MINILM_HEAD + np.arange(_MINILM_HEAD)).ravel()
        p = f"encoder.layer.{i}."
        for s in ("query", "key", "value"):
            out[p + f"attention.self.{s}.weight"] = t[p + f"attention.self.{s}.weight"][rows]
            out[p + f"attention.self.{s}.bias"] = t[p + f"attention.self.{s}.bias"][rows]
        out[p + "attention.output.dense.weight"] = t[p + "attention.output.dense.weight"][:, rows]
        ffn = rng.permutation(t[p + "intermediate.dense.weight"].shape[0])
        out[p + "intermediate.dense.weight"] = t[p + "intermediate.dense.weight"][ffn]
        out[p + "intermediate.dense.bias"] = t[p + "intermediate.dense.bias"][ffn]
        out[p + "output.dense.weight"] = t[p + "output.dense.weight"][:, ffn]
    return out


def bert_relayer(t: Mapping[str, Arr], order: list[int]) -> Tensors:
    out = {k: v for k, v in t.items() if not k.startswith("encoder.layer.")}
    for new, old in enumerate(order):
        for rest, k in bert_layer_keys(t, old).items():
            out[f"encoder.layer.{new}.{rest}"] = t[k]
    return out


def bert_as_clip_vision(t: Mapping[str, Arr], rng: np.random.Generator) -> Tensors:
    """A BERT encoder's layers saved as a CLIP vision tower (``vision_model.encoder.layers.N``);
    the word embeddings are dropped, a seeded random 16x16 patch embedding is added, the position
    table and embedding LayerNorm become CLIP's ``position_embedding`` and ``pre_layrnorm``."""
    d = t["embeddings.LayerNorm.weight"].shape[0]
    out: Tensors = {
        "vision_model.embeddings.patch_embedding.weight": (
            rng.standard_normal((d, 3, 16, 16)) * 0.02
        ).astype(np.float32),
        "vision_model.embeddings.class_embedding": (rng.standard_normal((d,)) * 0.02).astype(
            np.float32
        ),
        "vision_model.embeddings.position_embedding.weight": t[
            "embeddings.position_embeddings.weight"
        ][:197],
        "vision_model.pre_layrnorm.weight": t["embeddings.LayerNorm.weight"],
        "vision_model.pre_layrnorm.bias": t["embeddings.LayerNorm.bias"],
    }
    for i in range(_layers(t, "encoder.layer.")):
        for rest, k in bert_layer_keys(t, i).items():
            mod, leaf = rest.rsplit(".", 1)
            out[f"vision_model.encoder.layers.{i}.{_BERT_PARTS[mod]}.{leaf}"] = t[k]
    return out


def to_roberta(t: Mapping[str, Arr]) -> Tensors:
    return {("roberta." + k): v for k, v in t.items() if k != "embeddings.position_ids"}


_DISTIL = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


def to_distilbert(t: Mapping[str, Arr]) -> Tensors:
    out: Tensors = {}
    for k, v in t.items():
        if k.startswith("encoder.layer."):
            i, rest = k[len("encoder.layer.") :].split(".", 1)
            mod, leaf = rest.rsplit(".", 1)
            out[f"distilbert.transformer.layer.{i}.{_DISTIL[mod]}.{leaf}"] = v
        elif k != "embeddings.position_ids":
            out["distilbert." + k] = v
    return out


# ------------------------------------------------------------------ Whisper as an audio tower


def whisper_audio_tower(t: Mapping[str, Arr]) -> Tensors:
    """Whisper's encoder (CTranslate2 names) as a Qwen2-Audio-style ``audio_tower``: fused QKV
    split into q/k/v, convolutions and final norm kept, the sinusoidal table dropped."""
    out: Tensors = {}
    for k, v in t.items():
        if not k.startswith("encoder."):
            continue
        rest = k[len("encoder.") :]
        if rest.startswith("layer_"):
            i, sub = rest[len("layer_") :].split(".", 1)
            p = f"audio_tower.layers.{i}."
            if sub.startswith("self_attention.linear_0."):
                leaf = sub.rsplit(".", 1)[1]
                for name, part in zip(
                    ("q_proj", "k_proj", "v_proj"), np.split(v, 3, axis=0), strict=True
                ):
                    out[p + f"self_attn.{name}.{leaf}"] = part
                continue
            sub = (
                sub.replace("self_attention.linear_1", "self_attn.out_proj")
                .replace("self_attention.layer_norm.gamma", "self_attn_layer_norm.weight")
                .replace("self_attention.layer_norm.beta", "self_attn_layer_norm.bias")
                .replace("ffn.linear_0", "fc1")
                .replace("ffn.linear_1", "fc2")
                .replace("ffn.layer_norm.gamma", "final_layer_norm.weight")
                .replace("ffn.layer_norm.beta", "final_layer_norm.bias")
            )
            out[p + sub] = v
        elif "position" in rest:
            continue
        else:
            out["audio_tower." + rest.replace("gamma", "weight").replace("beta", "bias")] = v
    return out


def to_clip_text(t: Mapping[str, Arr]) -> Tensors:
    """A BERT encoder under CLIP's text-tower names (``text_model.encoder.layers.N``)."""
    out: Tensors = {
        "text_model.embeddings.token_embedding.weight": t["embeddings.word_embeddings.weight"],
        "text_model.embeddings.position_embedding.weight": t[
            "embeddings.position_embeddings.weight"
        ],
        "text_model.embeddings.token_type_embedding.weight": t[
            "embeddings.token_type_embeddings.weight"
        ],
        "text_model.embeddings.layer_norm.weight": t["embeddings.LayerNorm.weight"],
        "text_model.embeddings.layer_norm.bias": t["embeddings.LayerNorm.bias"],
    }
    for i in range(_layers(t, "encoder.layer.")):
        for rest, k in bert_layer_keys(t, i).items():
            mod, leaf = rest.rsplit(".", 1)
            out[f"text_model.encoder.layers.{i}.{_BERT_PARTS[mod]}.{leaf}"] = t[k]
    return out


def with_decoder(
    tower: Mapping[str, Arr], decoder: Mapping[str, Arr], d_tower: int, rng: np.random.Generator
) -> Tensors:
    """A multimodal model: ``tower`` + a seeded random two-layer projector + ``decoder`` under
    ``language_model.`` (LLaVA's layout)."""
    d = decoder["model.embed_tokens.weight"].shape[1]
    out: Tensors = dict(tower)
    out["multi_modal_projector.linear_1.weight"] = (
        rng.standard_normal((d, d_tower)) / np.sqrt(d_tower)
    ).astype(np.float32)
    out["multi_modal_projector.linear_1.bias"] = np.zeros(d, np.float32)
    out["multi_modal_projector.linear_2.weight"] = (
        rng.standard_normal((d, d)) / np.sqrt(d)
    ).astype(np.float32)
    out["multi_modal_projector.linear_2.bias"] = np.zeros(d, np.float32)
    out.update({"language_model." + k: v for k, v in decoder.items()})
    return out


# ------------------------------------------------------------------ the catalogue of transforms


@dataclass(frozen=True)
class Transform:
    id: str
    bases: tuple[str, ...]
    make: Callable[..., Tensors] | None
    """``make(bases, rng)``, or ``make(bases, rng, paths)`` when ``with_paths``; None: GGUF
    re-quantisation of the stored file."""
    format: str
    family: str
    target: str
    note: str
    pair: Pair
    seed: int = 0
    dtype: str = "bf16"
    with_paths: bool = False
    needs: tuple[str, ...] = ()
    """Optional modules the transform imports; without them the builder leaves it out."""


_SM = "smollm2-135m-q4_1"
_ML = "minilm-l6"
_WH = "whisper-tiny-en"
_WHY = "written by the corpus builder from the real weights (corpus_transforms.py)"
_UP0 = "model.layers.0.mlp.up_proj.weight"
_FC1 = "encoder.layer.0.intermediate.dense.weight"
_VFC1 = "vision_model.encoder.layers.0.mlp.fc1.weight"
_LUP0 = "language_model." + _UP0


def _p(a: str, b: str, kind: str, reason: str, *comps: CE) -> Pair:
    return Pair(a, b, "derived", kind, reason, _WHY, tuple(comps))


def _vlm(
    tower_fn: Callable[[Tensors, np.random.Generator], Tensors],
) -> Callable[[list[Tensors], np.random.Generator], Tensors]:
    def make(b: list[Tensors], rng: np.random.Generator) -> Tensors:
        return with_decoder(bert_as_clip_vision(tower_fn(b[0], rng), rng), b[1], 384, rng)

    return make


TRANSFORMS: tuple[Transform, ...] = (
    Transform(
        "smollm2-bf16",
        (_SM,),
        lambda b, r: b[0],
        "safetensors",
        "decoder-llm",
        "smollm2-bf16.safetensors",
        "SmolLM2 dequantised from Q4_1 and saved as bf16, Hugging Face names",
        _p(_SM, "smollm2-bf16", "cast", "dequantised to bf16 (format conversion)"),
    ),
    Transform(
        "smollm2-gpt2-fused",
        (_SM,),
        lambda b, r: to_gpt2(b[0]),
        "safetensors",
        "decoder-llm",
        "smollm2-gpt2-fused.safetensors",
        "GPT-2 names, fused QKV and gate/up stored (in, out), bf16",
        _p(
            _SM,
            "smollm2-gpt2-fused",
            "fused-renamed",
            "plain copy under GPT-2 names with fused, transposed tensors",
            CE("transformer.h.0.mlp.c_fc.weight", _UP0),
        ),
    ),
    Transform(
        "smollm2-permuted",
        (_SM,),
        lambda b, r: to_opaque(llama_permute(b[0], r)),
        "safetensors",
        "decoder-llm",
        "smollm2-permuted.safetensors",
        "residual, head and FFN permutations; opaque names net.N.pK",
        _p(_SM, "smollm2-permuted", "permuted", "function-preserving permutation, renamed"),
        seed=11,
    ),
    Transform(
        "smollm2-rotated",
        (_SM,),
        lambda b, r: to_meta(llama_rotate(b[0], r)),
        "safetensors",
        "decoder-llm",
        "smollm2-rotated.safetensors",
        "norm gains folded, residual stream rotated; Meta names",
        _p(
            _SM,
            "smollm2-rotated",
            "rotated",
            "function-preserving residual rotation with folded norms",
        ),
        seed=12,
    ),
    Transform(
        "smollm2-finetune18",
        (_SM,),
        lambda b, r: to_gpt2(finetune(b[0], 0.18, r)),
        "safetensors",
        "decoder-llm",
        "smollm2-finetune18.safetensors",
        "18% relative structured update on every tensor; GPT-2 names",
        _p(
            _SM,
            "smollm2-finetune18",
            "fine-tuned",
            "fine-tune-like update of 18% of each tensor's norm",
        ),
        seed=13,
    ),
    Transform(
        "smollm2-lora16",
        (_SM,),
        lambda b, r: to_meta(lora(b[0], 16, 0.25, r, ("q_proj", "v_proj", "up_proj", "down_proj"))),
        "safetensors",
        "decoder-llm",
        "smollm2-lora16.safetensors",
        "merged rank-16 LoRA on q, v, up, down; Meta names",
        _p(
            _SM,
            "smollm2-lora16",
            "lora",
            "merged rank-16 adapter (25% of the norm) on four projections",
        ),
        seed=14,
    ),
    Transform(
        "smollm2-every-second-layer",
        (_SM,),
        lambda b, r: llama_relayer(b[0], list(range(0, 30, 2))),
        "safetensors",
        "decoder-llm",
        "smollm2-every-second-layer.safetensors",
        "layers 0, 2, ..., 28 renumbered",
        _p(
            _SM,
            "smollm2-every-second-layer",
            "layer-subset",
            "student initialised from every second layer",
        ),
    ),
    Transform(
        "smollm2-depth-upscaled",
        (_SM,),
        lambda b, r: to_opaque(llama_relayer(b[0], list(range(0, 24)) + list(range(6, 30)))),
        "safetensors",
        "decoder-llm",
        "smollm2-depth-upscaled.safetensors",
        "depth up-scaling (SOLAR): layers 0-23 then 6-29, 48 layers; opaque names",
        _p(_SM, "smollm2-depth-upscaled", "depth-upscaled", "two overlapping copies of the stack"),
    ),
    Transform(
        "smollm2-vocab-pruned",
        (_SM,),
        lambda b, r: to_gpt2(llama_vocab_prune(b[0], 0.6, r)),
        "safetensors",
        "decoder-llm",
        "smollm2-vocab-pruned.safetensors",
        "60% of vocabulary rows kept; GPT-2 names",
        _p(_SM, "smollm2-vocab-pruned", "vocab-pruned", "vocabulary pruned to 60% of its rows"),
        seed=15,
    ),
    Transform(
        "gemma3-bf16",
        ("gemma3-270m-q4_k_m",),
        lambda b, r: b[0],
        "safetensors",
        "decoder-llm",
        "gemma3-bf16.safetensors",
        "Gemma 3 270M dequantised from Q4_K_M (K-quants) to bf16, Hugging Face names",
        _p("gemma3-270m-q4_k_m", "gemma3-bf16", "cast", "K-quant GGUF dequantised to bf16"),
    ),
    Transform(
        "smollm2-q8_0",
        (_SM,),
        None,
        "gguf",
        "decoder-llm",
        "smollm2-q8_0.gguf",
        "re-quantised Q4_1 -> Q8_0 with the gguf package (llama.cpp layout)",
        _p(_SM, "smollm2-q8_0", "quantised", "re-quantised GGUF export"),
    ),
    Transform(
        "minilm-int8-onnx",
        (_ML,),
        lambda b, r: {k: v for k, v in b[0].items() if k != "embeddings.position_ids"},
        "onnx",
        "encoder-text",
        "minilm-int8.onnx",
        "int8 ONNX export: per-row scales, DequantizeLinear, onnx:: names",
        _p(_ML, "minilm-int8-onnx", "quantised", "int8 export with per-row scales"),
        needs=("onnx",),
    ),
    Transform(
        "minilm-depth-upscaled",
        (_ML,),
        lambda b, r: to_roberta(bert_relayer(b[0], [0, 1, 2, 3, 2, 3, 4, 5])),
        "safetensors",
        "encoder-text",
        "minilm-depth-upscaled.safetensors",
        "layers 0-3 then 2-5 (8 layers); RoBERTa names",
        _p(_ML, "minilm-depth-upscaled", "depth-upscaled", "two overlapping copies of the stack"),
        dtype="f32",
    ),
    Transform(
        "minilm-finetune16",
        (_ML,),
        lambda b, r: to_distilbert(finetune(b[0], 0.16, r)),
        "safetensors",
        "encoder-text",
        "minilm-finetune16.safetensors",
        "16% relative structured update; DistilBERT names",
        _p(
            _ML,
            "minilm-finetune16",
            "fine-tuned",
            "fine-tune-like update of 16% of each tensor's norm",
        ),
        seed=21,
        dtype="f32",
    ),
    Transform(
        "minilm-mlm-finetune",
        (_ML,),
        lambda b, r, paths: to_clip_text(_mlm(b[0], paths[0], r)),
        "safetensors",
        "encoder-text",
        "minilm-mlm-finetune.safetensors",
        "a real gradient fine-tune: 24 Adam steps (lr 2e-3) of masked-token prediction on the "
        "model card's text; CLIP text-tower names",
        _p(
            _ML,
            "minilm-mlm-finetune",
            "fine-tuned",
            "few-step gradient fine-tune moving each encoder matrix by 11-19% of its norm",
            CE("text_model.encoder.layers.0.mlp.fc1.weight", _FC1),
        ),
        seed=23,
        dtype="f32",
        with_paths=True,
        needs=("torch", "tokenizers"),
    ),
    Transform(
        "minilm-lora8",
        (_ML,),
        lambda b, r: to_distilbert(lora(b[0], 8, 0.2, r, ("query", "value", "intermediate"))),
        "safetensors",
        "encoder-text",
        "minilm-lora8.safetensors",
        "merged rank-8 LoRA on query, value, FFN-in; DistilBERT names",
        _p(_ML, "minilm-lora8", "lora", "merged rank-8 adapter (20% of the norm)"),
        seed=22,
        dtype="f32",
    ),
    Transform(
        "vlm-minilm-copy",
        (_ML, _SM),
        _vlm(lambda t, r: t),
        "safetensors",
        "vision-language",
        "vlm-minilm-copy.safetensors",
        "all-MiniLM-L6-v2's layers as a CLIP vision tower (bf16) + SmolLM2 decoder",
        _p(
            _ML,
            "vlm-minilm-copy",
            "reused-component",
            "public encoder copied as the vision tower",
            CE(_VFC1, _FC1),
            CE(_LUP0, None),
        ),
        seed=31,
    ),
    Transform(
        "vlm-minilm-permuted",
        (_ML, _SM),
        _vlm(bert_permute),
        "safetensors",
        "vision-language",
        "vlm-minilm-permuted.safetensors",
        "vision tower = MiniLM with heads and FFN neurons permuted",
        _p(
            _ML,
            "vlm-minilm-permuted",
            "reused-component",
            "public encoder permuted into the vision tower",
            CE(_VFC1, _FC1),
            CE(_LUP0, None),
        ),
        seed=32,
    ),
    Transform(
        "vlm-minilm-finetuned",
        (_ML, _SM),
        _vlm(lambda t, r: finetune(t, 0.15, r)),
        "safetensors",
        "vision-language",
        "vlm-minilm-finetuned.safetensors",
        "vision tower = MiniLM after a 15% fine-tune-like update",
        _p(
            _ML,
            "vlm-minilm-finetuned",
            "reused-component",
            "public encoder fine-tuned into the vision tower",
            CE(_VFC1, _FC1),
            CE(_LUP0, None),
        ),
        seed=33,
    ),
    Transform(
        "alm-whisper-copy",
        (_WH, _SM),
        lambda b, r: with_decoder(whisper_audio_tower(b[0]), b[1], 384, r),
        "safetensors",
        "audio-language",
        "alm-whisper-copy.safetensors",
        "Whisper tiny.en's encoder as a Qwen2-Audio-style audio tower + SmolLM2 decoder",
        _p(
            _WH,
            "alm-whisper-copy",
            "reused-component",
            "public speech encoder copied as the audio tower",
            CE("audio_tower.layers.0.fc1.weight", "encoder.layer_0.ffn.linear_0.weight"),
            CE(_LUP0, None),
        ),
        seed=34,
    ),
)

EXTRA_PAIRS: tuple[Pair, ...] = (
    Pair(
        _SM,
        "vlm-minilm-copy",
        "derived",
        "reused-component",
        "the decoder is SmolLM2, copied in bf16",
        _WHY,
        (CE(_LUP0, _UP0), CE(_VFC1, None)),
    ),
)


def _mlm(t: Tensors, folder: Path, rng: np.random.Generator) -> Tensors:
    from sovereval.provenance.corpus_finetune import mlm_finetune

    return mlm_finetune(t, folder, rng, steps=24, lr=2e-3)


def load_tensors(path: Path) -> Tensors:
    from sovereval.provenance.formats.open import open_source

    src = open_source(path)
    try:
        return {k: np.asarray(src.read(k), dtype=np.float32) for k in src.infos()}
    finally:
        src.close()


def write_transform(t: Transform, manifest: Manifest, out: Path) -> None:
    tmp = out.with_name(out.name + ".partial")
    if t.make is None:  # the GGUF re-quantisation works on the stored file
        requantise_gguf(manifest.path(t.bases[0]), tmp, "Q8_0")
    else:
        bases = [load_tensors(manifest.path(b)) for b in t.bases]
        rng = np.random.default_rng(t.seed)
        if t.with_paths:
            tensors = t.make(bases, rng, [manifest.path(b) for b in t.bases])
        else:
            tensors = t.make(bases, rng)
        if t.format == "onnx":
            write_int8_onnx(tmp, tensors, producer="sovereval-corpus")
        else:
            write_safetensors(tmp, tensors, dtype=t.dtype)
    tmp.rename(out)
