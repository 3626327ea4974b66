"""Canonical form: stored tensor names from many naming schemes -> (component, layer, role).

Why: derivation survives renaming. A copied vision tower stored as ``visual.blocks.3.attn.qkv``
in one checkpoint and as ``vision_model.encoder.layers.3.self_attn.q_proj`` in another is the
same evidence, and a fused QKV matrix must be split before it can be compared with separate
Q, K and V. Every matrix is returned in PyTorch ``nn.Linear`` orientation ``(out, in)``; GPT-2
``Conv1D`` weights (stored ``(in, out)``) are transposed, convolutions flattened to ``(out, -1)``.

Fixed untrained buffers (rotary caches, position ids, causal-mask buffers, STFT/mel filter
banks) are never weight evidence: they are listed in :attr:`CanonicalIndex.excluded`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sovereval.provenance.formats.base import TensorSource

COMPONENTS = ("text", "vision", "audio", "projector")

READ_ROLES = ("q", "k", "v", "gate", "up")
"""Matrices that read the residual stream (``(out, d)``): their input norm gain folds in."""
WRITE_ROLES = ("o", "down")
"""Matrices that write the residual stream (``(d, in)``)."""
MATRIX_ROLES = READ_ROLES + WRITE_ROLES
NORM_ROLES = ("attn_norm", "mlp_norm", "final_norm", "post_norm")

_BUFFER = re.compile(
    r"(rotary_emb|inv_freq|cos_cached|sin_cached|_cos$|_sin$|rope_freqs|position_ids|"
    r"token_type_ids|attn\.bias$|attn\.masked_bias$|masked_bias|mel_filters|stft|"
    r"window$|\.freqs$|num_batches_tracked|attention_mask|causal_mask)"
)

_PREFIXES: tuple[tuple[str, str], ...] = (
    # (regex prefix, component); first match wins; longest/specific first.
    (
        r"(?:model\.)?(?:visual|vision_tower(?:\.vision_model)?|vision_model|vision_encoder|"
        r"vision_tower\.vision_tower|image_encoder)\.",
        "vision",
    ),
    (r"v\.", "vision"),
    (r"(?:model\.)?(?:audio_tower|audio_encoder|audio_model|whisper_encoder)\.", "audio"),
    (r"(?:model\.)?(?:multi_modal_projector|mm_projector|audio_projector|mm)\.", "projector"),
    (
        r"(?:model\.)?(?:language_model\.model|language_model|text_model|llm|model\.language_model)\.",
        "text",
    ),
    (r"(?:transformer|model|bert|roberta|gpt_neox|decoder|model\.decoder)\.", "text"),
)

# (pattern on the name after its prefix, role, fused kind). Group "n" is the layer index.
_L = r"(?:layers|layer|blocks|h|blk|block)\.(?P<n>\d+)\."
_RULES: tuple[tuple[str, str, str], ...] = (
    (
        _L
        + r"(?:self_attn|attn|attention\.self|attention|self_attention)\.(?:q_proj|query|q|wq|attn_q)\.weight$",
        "q",
        "",
    ),
    (_L + r"(?:attn_q)\.weight$", "q", ""),
    (_L + r"(?:self_attn|attn|attention\.self|attention)\.(?:k_proj|key|k|wk)\.weight$", "k", ""),
    (_L + r"(?:attn_k)\.weight$", "k", ""),
    (_L + r"(?:self_attn|attn|attention\.self|attention)\.(?:v_proj|value|v|wv)\.weight$", "v", ""),
    (_L + r"(?:attn_v)\.weight$", "v", ""),
    (
        _L
        + r"(?:self_attn|attn|attention|self_attention)\.(?:qkv_proj|qkv|c_attn|query_key_value|Wqkv|wqkv)\.weight$",
        "qkv",
        "qkv",
    ),
    (_L + r"attn_qkv\.weight$", "qkv", "qkv"),
    (
        _L
        + r"(?:self_attn\.(?:o_proj|out_proj|dense)|attn\.(?:c_proj|proj|out_proj|o_proj)|attention\.output\.dense|attention\.(?:wo|dense|o_proj)|self_attention\.dense|attn_output)\.weight$",
        "o",
        "",
    ),
    (_L + r"(?:mlp|feed_forward|ffn)\.(?:gate_proj|w1|gate)\.weight$", "gate", ""),
    (_L + r"ffn_gate\.weight$", "gate", ""),
    (_L + r"(?:mlp|feed_forward|ffn)\.(?:up_proj|w3|up)\.weight$", "up", ""),
    (_L + r"ffn_up\.weight$", "up", ""),
    (
        _L + r"(?:mlp|feed_forward|ffn)\.(?:gate_up_proj|fc_in_gate_up)\.weight$",
        "gate_up",
        "gate_up",
    ),
    (
        _L
        + r"(?:mlp\.(?:fc1|c_fc|dense_h_to_4h|fc_in|linear_fc1)|intermediate\.dense|fc1)\.weight$",
        "up",
        "",
    ),
    (_L + r"(?:mlp|feed_forward|ffn)\.(?:down_proj|w2|down)\.weight$", "down", ""),
    (_L + r"ffn_down\.weight$", "down", ""),
    (
        _L + r"(?:mlp\.(?:fc2|c_proj|dense_4h_to_h|fc_out|linear_fc2)|output\.dense|fc2)\.weight$",
        "down",
        "",
    ),
    (
        _L
        + r"(?:input_layernorm|ln_1|norm1|layer_norm1|attention_norm|attn_norm|self_attn_layer_norm|ln_attn|input_norm)\.weight$",
        "attn_norm",
        "",
    ),
    (
        _L
        + r"(?:pre_feedforward_layernorm|ln_2|norm2|layer_norm2|ffn_norm|final_layer_norm|post_attention_layernorm|ln_mlp|attention\.output\.LayerNorm)\.weight$",
        "mlp_norm",
        "",
    ),
    (_L + r"(?:output\.LayerNorm)\.weight$", "post_norm", ""),
    (
        _L + r"(?:post_feedforward_layernorm|post_attention_norm|post_ffw_norm)\.weight$",
        "post_norm",
        "",
    ),
    (
        r"(?:embed_tokens|wte|word_embeddings|embeddings\.word_embeddings|token_embd|tok_embeddings|embed_in|embedding\.word_embeddings|embed)\.weight$",
        "embed",
        "",
    ),
    (
        r"(?:wpe|embed_positions|position_embeddings|embeddings\.position_embeddings|embeddings\.position_embedding|position_embedding|position_embd|pos_embed)(?:\.weight)?$",
        "pos_embed",
        "",
    ),
    (
        r"(?:embeddings\.patch_embedding|patch_embed\.proj|patch_embed|patch_embedding|patch_embd|conv1|embeddings\.patch_embeddings\.projection)\.weight$",
        "patch_embed",
        "",
    ),
    (r"(?:embeddings\.class_embedding|class_embedding|cls_token)$", "class_embed", ""),
    (
        r"(?:embeddings\.LayerNorm|emb_ln|embeddings\.layer_norm|pre_layrnorm|ln_pre)\.weight$",
        "embed_norm",
        "",
    ),
    (
        r"(?:norm|ln_f|final_layernorm|final_layer_norm|output_norm|post_layernorm|layer_norm|encoder\.layer_norm|merger\.ln_q|ln_post|ln_q)\.weight$",
        "final_norm",
        "",
    ),
    (r"(?:lm_head|output|embed_out)\.weight$", "lm_head", ""),
)
_COMPILED = tuple((re.compile(p), role, fused) for p, role, fused in _RULES)
_LAYERED = re.compile(r"\.(?:layers|layer|blocks|h|blk|block)\.\d+\.")
_PROJ_INDEX = re.compile(r"(?:linear_|mlp\.|^)(?P<i>\d+)\.weight$|linear_(?P<j>\d+)\.weight$")


class CanonKey(NamedTuple):
    component: str
    layer: int
    """Block index; ``-1`` for tensors outside the blocks (embeddings, final norm, head)."""
    role: str


@dataclass(frozen=True)
class CanonicalTensor:
    key: CanonKey
    source_name: str
    shape: tuple[int, ...]
    """Shape after orientation/flattening/splitting (``(out, in)`` for matrices)."""
    transpose: bool = False
    """Stored ``(in, out)`` (GPT-2 ``Conv1D``): transposed on read."""
    rows: tuple[int, int] | None = None
    """Row range taken from a fused matrix (after transposition)."""
    norm_offset: float = 0.0
    """Added to a norm vector on read (Gemma stores ``gain - 1``)."""


@dataclass(frozen=True)
class CanonicalIndex:
    tensors: Mapping[CanonKey, CanonicalTensor]
    excluded: tuple[tuple[str, str], ...]
    """(stored name, reason) of fixed buffers that are never weight evidence."""
    unmapped: tuple[str, ...]
    """Stored names no rule recognised (biases excluded); kept for exact digests only."""
    biases: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)

    def components(self) -> list[str]:
        return sorted({k.component for k in self.tensors}, key=_component_order)

    def layers(self, component: str) -> list[int]:
        return sorted({k.layer for k in self.tensors if k.component == component and k.layer >= 0})

    def get(self, component: str, layer: int, role: str) -> CanonicalTensor | None:
        return self.tensors.get(CanonKey(component, layer, role))

    def residual_dim(self, component: str) -> int | None:
        """Width of the component's residual stream, from its embedding or first blocks."""
        for role in ("embed", "patch_embed"):
            t = self.get(component, -1, role)
            if t is not None:
                return t.shape[1] if role == "embed" else t.shape[0]
        for layer in self.layers(component):
            for role in READ_ROLES:
                t = self.get(component, layer, role)
                if t is not None:
                    return t.shape[1]
        return None


def _component_order(c: str) -> int:
    return COMPONENTS.index(c) if c in COMPONENTS else len(COMPONENTS)


def split_prefix(name: str, has_conv_encoder: bool) -> tuple[str, str]:
    """(component, rest of the name). Whisper-style ``encoder.layers`` is audio when the
    checkpoint has a convolutional front end, else text (an encoder-only text model)."""
    for pat, comp in _PREFIXES:
        m = re.match(pat, name)
        if m:
            rest = name[m.end() :]
            if comp == "text" and rest.startswith("encoder.") and has_conv_encoder:
                return "audio", rest[len("encoder.") :]
            return comp, rest
    if name.startswith("encoder.") and has_conv_encoder:
        return "audio", name[len("encoder.") :]
    return "text", name


def classify_name(name: str, has_conv_encoder: bool = False) -> tuple[str, int, str, str] | None:
    """(component, layer, role, fused kind) for a stored name, or ``None`` if unrecognised."""
    comp, rest = split_prefix(name, has_conv_encoder)
    if rest.startswith("encoder.") and not rest.startswith("encoder.layer_norm"):
        rest = rest[len("encoder.") :]
    if comp == "projector":
        m = _PROJ_INDEX.search(rest)
        if m and rest.endswith(".weight"):
            idx = int(m.group("i") or m.group("j") or 0)
            return comp, idx, "proj", ""
        if rest.endswith(".weight") and "norm" not in rest and "ln" not in rest:
            return comp, 0, "proj", ""
    if comp == "vision" and rest.startswith("merger."):
        m = _PROJ_INDEX.search(rest[len("merger.") :])
        if m and rest.endswith(".weight") and "ln" not in rest:
            return "projector", int(m.group("i") or m.group("j") or 0), "proj", ""
    for rx, role, fused in _COMPILED:
        m = rx.search(rest)
        if m and (m.start() == 0 or rest[m.start() - 1] == "."):
            if "n" not in rx.groupindex and _LAYERED.search("." + rest):
                continue
            layer = int(m.group("n")) if "n" in rx.groupindex else -1
            return comp, layer, role, fused
    return None


def _heads(config: Mapping[str, Any], comp: str) -> tuple[int, int, int] | None:
    sub = config.get(f"{comp}_config") or config.get("vision_config" if comp == "vision" else "")
    cfg = sub if isinstance(sub, Mapping) and comp != "text" else config
    h = cfg.get("num_attention_heads") or cfg.get("num_heads") or cfg.get("n_head")
    if not isinstance(h, int) or h <= 0:
        return None
    kv = cfg.get("num_key_value_heads") or cfg.get("multi_query_group_num") or h
    hd = cfg.get("head_dim")
    hidden = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("embed_dim")
    if not isinstance(hd, int):
        hd = hidden // h if isinstance(hidden, int) and hidden % h == 0 else None
    if not isinstance(kv, int) or not isinstance(hd, int):
        return None
    return h, kv, hd


def _split_qkv(rows: int, heads: tuple[int, int, int] | None) -> list[tuple[int, int]] | None:
    if heads is not None:
        h, kv, hd = heads
        q, k = h * hd, kv * hd
        if q + 2 * k == rows:
            return [(0, q), (q, q + k), (q + k, rows)]
    if rows % 3 == 0:
        t = rows // 3
        return [(0, t), (t, 2 * t), (2 * t, rows)]
    return None


def _oriented(shape: tuple[int, ...], transpose: bool) -> tuple[int, ...]:
    if transpose and len(shape) == 2:
        return (shape[1], shape[0])
    if len(shape) > 2:
        n = 1
        for s in shape[1:]:
            n *= s
        return (shape[0], n)
    return shape


def canonicalize(source: TensorSource) -> CanonicalIndex:
    """Build the canonical index of ``source`` from its header alone (reads no tensor data)."""
    infos = source.infos()
    config = dict(source.meta.config)
    names = list(infos)
    has_conv = any(
        re.search(r"(?:^|\.)encoder\.conv1\.weight$|audio_tower\.conv1", n) for n in names
    )
    gpt2_style = any(re.search(r"(?:^|\.)h\.\d+\.attn\.c_attn\.weight$", n) for n in names)
    sandwich = any("pre_feedforward_layernorm" in n for n in names)
    gemma = str(config.get("model_type", "")).startswith("gemma")
    out: dict[CanonKey, CanonicalTensor] = {}
    excluded: list[tuple[str, str]] = []
    unmapped: list[str] = []
    biases: list[str] = []
    post_ln: list[tuple[CanonKey, CanonicalTensor]] = []
    for name in names:
        info = infos[name]
        if _BUFFER.search(name):
            excluded.append(
                (name, "fixed buffer (rotary cache, position ids, mask or filter bank)")
            )
            continue
        if name.endswith(".bias") or name.endswith("_bias"):
            biases.append(name)
            continue
        got = classify_name(name, has_conv)
        if got is not None and sandwich and name.endswith("post_attention_layernorm.weight"):
            got = (got[0], got[1], "post_norm", "")
        if got is None:
            unmapped.append(name)
            continue
        comp, layer, role, fused = got
        transpose = gpt2_style and role in ("qkv", "o", "up", "down") and ".h." in f".{name}"
        shape = _oriented(info.shape, transpose)
        offset = 1.0 if gemma and role.endswith("norm") else 0.0
        if fused == "qkv":
            parts = _split_qkv(shape[0], _heads(config, comp))
            if parts is None:
                unmapped.append(name)
                continue
            for r, (lo, hi) in zip(("q", "k", "v"), parts, strict=True):
                key = CanonKey(comp, layer, r)
                out[key] = CanonicalTensor(key, name, (hi - lo, shape[1]), transpose, (lo, hi))
            continue
        if fused == "gate_up":
            half = shape[0] // 2
            for r, (lo, hi) in (("gate", (0, half)), ("up", (half, shape[0]))):
                key = CanonKey(comp, layer, r)
                out[key] = CanonicalTensor(key, name, (hi - lo, shape[1]), transpose, (lo, hi))
            continue
        key = CanonKey(comp, layer, role)
        ct = CanonicalTensor(key, name, shape, transpose, None, offset)
        if role == "post_norm":
            post_ln.append((key, ct))
            continue
        if key in out:
            unmapped.append(name)
            continue
        out[key] = ct
    _place_post_norms(out, post_ln)
    return CanonicalIndex(out, tuple(excluded), tuple(unmapped), tuple(biases), config)


def _place_post_norms(
    out: dict[CanonKey, CanonicalTensor], post: list[tuple[CanonKey, CanonicalTensor]]
) -> None:
    """Post-LN blocks (BERT ``output.LayerNorm``) feed the NEXT block's attention: their gain
    is that block's ``attn_norm``. An embedding LayerNorm is block 0's ``attn_norm``. Gemma's
    post-norms sit inside the residual branch and are not folded (kept as ``post_norm``)."""
    for key, ct in post:
        nxt = CanonKey(key.component, key.layer + 1, "attn_norm")
        is_bert = ct.source_name.endswith("output.LayerNorm.weight")
        if is_bert and nxt not in out:
            if any(k.component == key.component and k.layer == key.layer + 1 for k in out):
                out[nxt] = CanonicalTensor(nxt, ct.source_name, ct.shape)
            else:
                fin = CanonKey(key.component, -1, "final_norm")
                out.setdefault(fin, CanonicalTensor(fin, ct.source_name, ct.shape))
        else:
            out.setdefault(key, ct)
    for comp in {k.component for k in out}:
        emb_norm = out.pop(CanonKey(comp, -1, "embed_norm"), None)
        first = CanonKey(comp, 0, "attn_norm")
        if emb_norm is not None and first not in out:
            out[first] = CanonicalTensor(first, emb_norm.source_name, emb_norm.shape)
