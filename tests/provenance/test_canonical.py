"""Canonical names across naming schemes, fused splits, buffers and closed-form patterns."""

from __future__ import annotations

import numpy as np
import pytest

from sovereval.provenance.canonical import CanonKey, canonicalize, classify_name
from sovereval.provenance.formats.base import DictSource, SourceMeta
from sovereval.provenance.reading import closed_form, read_canonical, read_layer


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model.layers.3.self_attn.q_proj.weight", ("text", 3, "q")),
        ("model.layers.3.mlp.down_proj.weight", ("text", 3, "down")),
        ("model.layers.0.input_layernorm.weight", ("text", 0, "attn_norm")),
        ("model.layers.0.post_attention_layernorm.weight", ("text", 0, "mlp_norm")),
        ("model.embed_tokens.weight", ("text", -1, "embed")),
        ("lm_head.weight", ("text", -1, "lm_head")),
        ("model.norm.weight", ("text", -1, "final_norm")),
        ("model.language_model.layers.2.mlp.up_proj.weight", ("text", 2, "up")),
        ("language_model.model.layers.2.self_attn.o_proj.weight", ("text", 2, "o")),
        ("blk.7.attn_q.weight", ("text", 7, "q")),
        ("blk.7.ffn_gate.weight", ("text", 7, "gate")),
        ("token_embd.weight", ("text", -1, "embed")),
        ("output_norm.weight", ("text", -1, "final_norm")),
        ("h.4.attn.c_attn.weight", ("text", 4, "qkv")),
        ("transformer.h.4.mlp.c_fc.weight", ("text", 4, "up")),
        ("transformer.h.4.mlp.c_proj.weight", ("text", 4, "down")),
        ("transformer.wte.weight", ("text", -1, "embed")),
        ("encoder.layer.5.attention.self.query.weight", ("text", 5, "q")),
        ("encoder.layer.5.attention.output.dense.weight", ("text", 5, "o")),
        ("encoder.layer.5.intermediate.dense.weight", ("text", 5, "up")),
        ("encoder.layer.5.output.dense.weight", ("text", 5, "down")),
        ("encoder.layer.5.attention.output.LayerNorm.weight", ("text", 5, "mlp_norm")),
        ("visual.blocks.9.attn.qkv.weight", ("vision", 9, "qkv")),
        ("visual.blocks.9.attn.proj.weight", ("vision", 9, "o")),
        ("visual.blocks.9.mlp.gate_proj.weight", ("vision", 9, "gate")),
        ("visual.blocks.9.norm1.weight", ("vision", 9, "attn_norm")),
        ("visual.patch_embed.proj.weight", ("vision", -1, "patch_embed")),
        ("vision_tower.vision_model.encoder.layers.1.self_attn.k_proj.weight", ("vision", 1, "k")),
        ("vision_model.encoder.layers.1.mlp.fc1.weight", ("vision", 1, "up")),
        ("vision_model.embeddings.position_embedding.weight", ("vision", -1, "pos_embed")),
        (
            "model.vision_tower.vision_model.encoder.layers.0.layer_norm1.weight",
            ("vision", 0, "attn_norm"),
        ),
        ("audio_tower.layers.2.self_attn.v_proj.weight", ("audio", 2, "v")),
        ("audio_tower.layers.2.fc2.weight", ("audio", 2, "down")),
        ("multi_modal_projector.linear_1.weight", ("projector", 1, "proj")),
        ("mm_projector.2.weight", ("projector", 2, "proj")),
        ("visual.merger.mlp.0.weight", ("projector", 0, "proj")),
        ("v.blk.3.attn_q.weight", ("vision", 3, "q")),
    ],
)
def test_names_map_to_component_layer_role(name: str, expected: tuple[str, int, str]) -> None:
    got = classify_name(name)
    assert got is not None and got[:3] == expected


def test_whisper_encoder_is_audio_when_a_conv_front_end_exists() -> None:
    assert classify_name("model.encoder.layers.1.fc1.weight", has_conv_encoder=True)[:3] == (
        "audio",
        1,
        "up",
    )  # type: ignore[index]
    # without a conv front end the same name is an encoder-only text model
    assert classify_name("model.encoder.layers.1.fc1.weight")[:3] == ("text", 1, "up")  # type: ignore[index]


def test_layer_norms_inside_blocks_are_never_final_norms() -> None:
    # qwen3-style per-head q_norm is neither a block norm nor the final norm
    assert classify_name("model.layers.0.self_attn.q_norm.weight") is None


def test_fused_qkv_split_uses_head_counts_from_config() -> None:
    # 4 query heads and 2 kv heads of width 8 on a 32-wide stream: q 32 rows, k 16, v 16
    w = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    meta = SourceMeta(
        "memory",
        "<m>",
        config={"num_attention_heads": 4, "num_key_value_heads": 2, "hidden_size": 32},
    )
    src = DictSource({"model.layers.0.self_attn.qkv_proj.weight": w}, meta)
    idx = canonicalize(src)
    q, k, v = (idx.get("text", 0, r) for r in ("q", "k", "v"))
    assert q is not None and k is not None and v is not None
    assert (q.shape, k.shape, v.shape) == ((32, 32), (16, 32), (16, 32))
    np.testing.assert_array_equal(read_canonical(src, k), w[32:48])
    np.testing.assert_array_equal(read_canonical(src, v), w[48:64])


def test_gpt2_conv1d_is_transposed_and_split_in_thirds() -> None:
    # Conv1D stores (in, out) = (8, 24); canonical q is rows 0..8 of the (24, 8) transpose
    w = np.random.default_rng(0).standard_normal((8, 24)).astype(np.float32)
    src = DictSource(
        {"h.0.attn.c_attn.weight": w, "h.0.attn.bias": np.ones((1, 1, 4, 4), np.float32)}
    )
    idx = canonicalize(src)
    q = idx.get("text", 0, "q")
    assert q is not None and q.shape == (8, 8)
    np.testing.assert_array_equal(read_canonical(src, q), w.T[:8])
    assert [n for n, _ in idx.excluded] == ["h.0.attn.bias"]


def test_fused_gate_up_is_split_in_halves() -> None:
    w = np.arange(20 * 4, dtype=np.float32).reshape(20, 4)
    src = DictSource({"model.layers.1.mlp.gate_up_proj.weight": w})
    idx = canonicalize(src)
    np.testing.assert_array_equal(read_canonical(src, idx.get("text", 1, "up")), w[10:])  # type: ignore[arg-type]


def test_buffers_are_excluded_and_listed() -> None:
    src = DictSource(
        {
            "model.layers.0.self_attn.rotary_emb.inv_freq": np.ones(4, np.float32),
            "embeddings.position_ids": np.arange(8)[None, :],
            "model.layers.0.self_attn.q_proj.weight": np.ones((4, 4), np.float32),
            "model.layers.0.self_attn.q_proj.bias": np.ones(4, np.float32),
        }
    )
    idx = canonicalize(src)
    assert {n for n, _ in idx.excluded} == {
        "model.layers.0.self_attn.rotary_emb.inv_freq",
        "embeddings.position_ids",
    }
    assert idx.biases == ("model.layers.0.self_attn.q_proj.bias",)
    assert CanonKey("text", 0, "q") in idx.tensors


def test_bert_post_layernorm_folds_into_the_next_block() -> None:
    # BERT is post-LN: block 0's output.LayerNorm feeds block 1's attention
    d = 4
    t = {
        "embeddings.word_embeddings.weight": np.ones((10, d), np.float32),
        "embeddings.LayerNorm.weight": np.full(d, 2.0, np.float32),
        "encoder.layer.0.attention.self.query.weight": np.ones((d, d), np.float32),
        "encoder.layer.0.output.LayerNorm.weight": np.full(d, 3.0, np.float32),
        "encoder.layer.1.attention.self.query.weight": np.ones((d, d), np.float32),
        "encoder.layer.1.output.LayerNorm.weight": np.full(d, 5.0, np.float32),
    }
    src = DictSource(t)
    idx = canonicalize(src)
    assert idx.get("text", 0, "attn_norm").source_name == "embeddings.LayerNorm.weight"  # type: ignore[union-attr]
    assert idx.get("text", 1, "attn_norm").source_name == "encoder.layer.0.output.LayerNorm.weight"  # type: ignore[union-attr]
    assert (
        idx.get("text", -1, "final_norm").source_name == "encoder.layer.1.output.LayerNorm.weight"
    )  # type: ignore[union-attr]
    # folded reader of block 1 is W diag(3): every entry 1 * 3
    layer = read_layer(idx, src, "text", 1)
    assert np.all(layer.mats["q"] == 3.0)


def test_gemma_sandwich_norms_are_not_folded_and_gains_are_offset() -> None:
    meta = SourceMeta("memory", "<m>", config={"model_type": "gemma2"})
    t = {
        "model.layers.0.input_layernorm.weight": np.zeros(4, np.float32),
        "model.layers.0.post_attention_layernorm.weight": np.zeros(4, np.float32),
        "model.layers.0.pre_feedforward_layernorm.weight": np.zeros(4, np.float32),
    }
    src = DictSource(t, meta)
    idx = canonicalize(src)
    assert idx.get("text", 0, "mlp_norm").source_name.endswith("pre_feedforward_layernorm.weight")  # type: ignore[union-attr]
    assert idx.get("text", 0, "post_norm") is not None
    # Gemma stores gain - 1: a stored 0 is a gain of 1
    assert np.all(read_canonical(src, idx.get("text", 0, "attn_norm")) == 1.0)  # type: ignore[arg-type]


def test_closed_form_patterns() -> None:
    n, d = 16, 8
    pos = np.arange(n)[:, None]
    inv = np.exp(-np.log(10000.0) * np.arange(d // 2) / (d // 2 - 1))
    whisper = np.concatenate([np.sin(pos * inv), np.cos(pos * inv)], axis=1).astype(np.float32)
    assert closed_form(whisper) == "sinusoidal position table"
    assert closed_form(np.arange(12, dtype=np.float32)) == "arange"
    assert closed_form(np.zeros((3, 3), np.float32)) == "constant 0"
    assert closed_form(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)) is None
