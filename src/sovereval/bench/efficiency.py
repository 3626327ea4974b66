"""Model size: total and active parameter counts, and performance weighed against size.

Counts come from a Hugging Face ``config.json`` dict (decoder-only transformers: Llama,
Qwen2/3, Mistral, Mixtral, Qwen-MoE, DeepSeek-V2/V3 with multi-head latent attention) or
from tensor shapes read out of a checkpoint header. For mixture-of-experts models
(Shazeer et al. 2017; Fedus et al. 2022) the *active* count per token is everything except
the routed experts, plus ``top_k`` routed experts per MoE layer; shared experts are always
active. DeepSeek-V3's published figures (671B total, 37B active) are the check in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

from sovereval.errors import InputError


@dataclass(frozen=True)
class ParamCount:
    total: int
    active: int

    @property
    def is_moe(self) -> bool:
        return self.active < self.total


def _get(cfg: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if cfg.get(n) is not None:
            return cfg[n]
    if default is None:
        raise InputError(f"config lacks {' / '.join(names)}; cannot count parameters")
    return default


def _attention(cfg: Mapping[str, Any], h: int, n_heads: int) -> int:
    if cfg.get("kv_lora_rank"):  # DeepSeek multi-head latent attention
        nope, rope = int(cfg["qk_nope_head_dim"]), int(cfg["qk_rope_head_dim"])
        v_dim, kv_rank = int(cfg["v_head_dim"]), int(cfg["kv_lora_rank"])
        q_rank = cfg.get("q_lora_rank")
        q = (
            h * n_heads * (nope + rope)
            if not q_rank
            else h * q_rank + q_rank + q_rank * n_heads * (nope + rope)
        )
        kv = h * (kv_rank + rope) + kv_rank + kv_rank * n_heads * (nope + v_dim)
        return int(q + kv + n_heads * v_dim * h)
    head_dim = int(cfg.get("head_dim") or h // n_heads)
    n_kv = int(_get(cfg, "num_key_value_heads", default=n_heads))
    q, kv = n_heads * head_dim, n_kv * head_dim
    bias = (
        (q + 2 * kv)
        if (
            cfg.get("attention_bias") or cfg.get("model_type") in ("qwen2", "qwen2_moe", "qwen2_vl")
        )
        else 0
    )
    qk_norm = 2 * head_dim if cfg.get("model_type") in ("qwen3", "qwen3_moe") else 0
    return h * q + 2 * h * kv + q * h + bias + qk_norm


def _is_moe_layer(cfg: Mapping[str, Any], layer: int) -> bool:
    if "first_k_dense_replace" in cfg:  # DeepSeek
        freq = int(cfg.get("moe_layer_freq") or 1)
        return layer >= int(cfg["first_k_dense_replace"]) and layer % freq == 0
    if layer in set(cfg.get("mlp_only_layers") or ()):
        return False
    step = int(cfg.get("decoder_sparse_step") or 1)
    return (layer + 1) % step == 0


def count_from_config(config: Mapping[str, Any]) -> ParamCount:
    """Total and active parameters of a decoder-only model from its HF config dict.

    Multimodal configs are read through their ``text_config`` (the text decoder only; vision
    and audio towers are counted from shapes). Multi-token-prediction modules
    (``num_nextn_predict_layers``) are not counted, as in the published figures.
    """
    cfg: Mapping[str, Any] = config.get("text_config") or config
    h = int(_get(cfg, "hidden_size", "d_model", "n_embd"))
    layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers"))
    vocab = int(_get(cfg, "vocab_size"))
    n_heads = int(_get(cfg, "num_attention_heads", "n_head"))
    inter = int(_get(cfg, "intermediate_size", "ffn_dim", default=4 * h))
    n_experts = int(
        cfg.get("n_routed_experts") or cfg.get("num_local_experts") or cfg.get("num_experts") or 0
    )
    top_k = int(cfg.get("num_experts_per_tok") or 0)
    moe_inter = int(cfg.get("moe_intermediate_size") or inter)
    shared = int(cfg.get("n_shared_experts") or 0) * 3 * h * moe_inter
    if cfg.get("shared_expert_intermediate_size"):  # Qwen-MoE: one shared expert and its gate
        shared = 3 * h * int(cfg["shared_expert_intermediate_size"]) + h
    embed = vocab * h
    head = 0 if cfg.get("tie_word_embeddings", False) else vocab * h
    total = active = embed + head + h  # + final norm
    attn = _attention(cfg, h, n_heads)
    for layer in range(layers):
        base = attn + 2 * h
        if n_experts and top_k and _is_moe_layer(cfg, layer):
            expert = 3 * h * moe_inter
            router = h * n_experts
            total += base + router + shared + n_experts * expert
            active += base + router + shared + top_k * expert
        else:
            total += base + 3 * h * inter
            active += base + 3 * h * inter
    return ParamCount(int(total), int(active))


_EXPERT_INDEXED = re.compile(r"\.experts\.(\d+)\.")
_EXPERT_FUSED = re.compile(r"\.experts\.[A-Za-z_]")


def count_from_shapes(
    shapes: Mapping[str, Sequence[int]], n_experts: int = 0, top_k: int = 0
) -> ParamCount:
    """Counts from tensor names and shapes (a checkpoint header).

    Routed-expert tensors are recognised by ``.experts.<i>.`` (one tensor per expert) or by a
    fused ``.experts.<name>`` tensor whose first dimension is ``n_experts``; shared experts
    (``shared_expert``) count as dense. Active = dense + routed * top_k / n_experts.
    """
    dense = routed = 0
    for name, shape in shapes.items():
        size = prod(int(d) for d in shape)
        if (
            n_experts
            and "shared_expert" not in name
            and (
                _EXPERT_INDEXED.search(name)
                or (_EXPERT_FUSED.search(name) and len(shape) >= 2 and int(shape[0]) == n_experts)
            )
        ):
            routed += size
        else:
            dense += size
    if routed and not 0 < top_k <= n_experts:
        raise InputError(
            f"routed experts found; give top_k in 1..{n_experts} (num_experts_per_tok)"
        )
    active = dense + (routed * top_k // n_experts if routed else 0)
    return ParamCount(dense + routed, active)


def diffusion_index(
    score: float,
    active_params: int,
    reference_active_params: int,
    weights: Mapping[str, float],
    throughput_ratio: float | None = None,
) -> float:
    """A weighted "performance per size" index in [0, 1], in the spirit of the programme's
    AI Diffusion Index (performance weighed against the cost of running the model).

    Components (weights come from the RuleSet and must sum to 1):
    ``performance`` = score in [0, 1]; ``compactness`` = min(1, reference / active params)
    (a model no larger than the reference gets full marks); ``throughput`` = measured tokens/s
    relative to the reference, capped at 1 (needs ``throughput_ratio``).
    """
    if not 0 <= score <= 1:
        raise InputError(f"score {score} must be in [0, 1]")
    if active_params <= 0 or reference_active_params <= 0:
        raise InputError("parameter counts must be positive")
    if abs(sum(weights.values()) - 1) > 1e-9 or any(w < 0 for w in weights.values()):
        raise InputError(
            f"diffusion-index weights must be non-negative and sum to 1, got {dict(weights)}"
        )
    components = {
        "performance": score,
        "compactness": min(1.0, reference_active_params / active_params),
    }
    if throughput_ratio is not None:
        components["throughput"] = min(1.0, max(0.0, throughput_ratio))
    unknown = set(weights) - set(components)
    if unknown:
        raise InputError(
            f"unknown or unmeasured components {sorted(unknown)}; known: {sorted(components)}"
        )
    return float(sum(w * components[k] for k, w in weights.items()))
