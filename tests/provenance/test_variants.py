"""Variants: the function-preserving ones really preserve the function (checked with a small
numpy forward pass of a Llama block stack); the others change what they claim to change."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sovereval.provenance import variants as V
from sovereval.provenance.canonical import canonicalize
from sovereval.provenance.formats.base import DictSource, TensorSource
from sovereval.provenance.reading import read_canonical
from sovereval.provenance.synthetic import synthetic_llama


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra is much faster single-threaded on a shared 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _rms(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6) * g


def forward(src: TensorSource, tokens: np.ndarray) -> np.ndarray:
    """Logits of a pre-norm RMSNorm GQA decoder with SwiGLU (no rotary: head permutations
    move whole heads, so rotary would commute with them anyway)."""
    idx = canonicalize(src)
    cfg = src.meta.config
    get = lambda layer, role: read_canonical(src, idx.get("text", layer, role)).astype(np.float64)  # type: ignore[arg-type]  # noqa: E731
    x = get(-1, "embed")[tokens]
    h_q, h_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    t = len(tokens)
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for layer in idx.layers("text"):
        h = _rms(x, get(layer, "attn_norm"))
        q, k, v = h @ get(layer, "q").T, h @ get(layer, "k").T, h @ get(layer, "v").T
        hd = q.shape[1] // h_q
        heads = []
        for i in range(h_q):
            j = i // (h_q // h_kv)
            qi, kj, vj = (
                q[:, i * hd : (i + 1) * hd],
                k[:, j * hd : (j + 1) * hd],
                v[:, j * hd : (j + 1) * hd],
            )
            a = qi @ kj.T / np.sqrt(hd) + mask
            a = np.exp(a - a.max(axis=1, keepdims=True))
            heads.append((a / a.sum(axis=1, keepdims=True)) @ vj)
        x = x + np.concatenate(heads, axis=1) @ get(layer, "o").T
        h = _rms(x, get(layer, "mlp_norm"))
        gate = h @ get(layer, "gate").T
        x = x + ((gate / (1 + np.exp(-gate))) * (h @ get(layer, "up").T)) @ get(layer, "down").T
    x = _rms(x, get(-1, "final_norm"))
    head = idx.get("text", -1, "lm_head") or idx.get("text", -1, "embed")
    return x @ read_canonical(src, head).astype(np.float64).T  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model() -> DictSource:
    return synthetic_llama(
        np.random.default_rng(0),
        layers=3,
        hidden=32,
        intermediate=48,
        heads=4,
        kv_heads=2,
        vocab=50,
    )


TOKENS = np.array([3, 17, 4, 42, 8, 8, 1])


@pytest.mark.parametrize(
    "make",
    [
        lambda m: V.permute(m, np.random.default_rng(1)),
        lambda m: V.rotate(m, np.random.default_rng(2)),
        lambda m: V.scale(m, 2.5),
    ],
    ids=["permute", "rotate", "scale"],
)
def test_function_preserving_variants_preserve_logits(model: DictSource, make) -> None:  # type: ignore[no-untyped-def]
    b = make(model)
    np.testing.assert_allclose(forward(b, TOKENS), forward(model, TOKENS), rtol=1e-4, atol=1e-5)
    # ... while the stored weights do change
    assert not np.array_equal(
        b.read("model.layers.0.mlp.up_proj.weight"), model.read("model.layers.0.mlp.up_proj.weight")
    )


def test_rotation_sets_every_block_norm_to_one(model: DictSource) -> None:
    b = V.rotate(model, np.random.default_rng(3))
    assert all(
        np.all(b.read(n) == 1.0) for n in b.infos() if "layernorm" in n or n == "model.norm.weight"
    )


def test_finetune_has_the_requested_relative_norm(model: DictSource) -> None:
    b = V.finetune(model, 0.2, np.random.default_rng(4))
    w = model.read("model.layers.1.mlp.down_proj.weight")
    rel = np.linalg.norm(b.read("model.layers.1.mlp.down_proj.weight") - w) / np.linalg.norm(w)
    assert abs(rel - 0.2) < 1e-3


def test_lora_update_has_the_requested_rank(model: DictSource) -> None:
    b = V.lora(model, 4, 0.1, np.random.default_rng(5))
    d = b.read("model.layers.0.self_attn.q_proj.weight") - model.read(
        "model.layers.0.self_attn.q_proj.weight"
    )
    assert np.linalg.matrix_rank(d.astype(np.float64), tol=1e-6) == 4


def test_layer_edits_renumber_blocks(model: DictSource) -> None:
    # 3 blocks: every second -> blocks 0, 2; up-scaling with overlap 1 -> 0,1 + 1,2 = 4 blocks
    half = V.every_second_layer(model)
    np.testing.assert_array_equal(
        half.read("model.layers.1.mlp.up_proj.weight"),
        model.read("model.layers.2.mlp.up_proj.weight"),
    )
    assert V.n_layers(V.depth_upscale(model, 1)) == 4
    assert V.n_layers(V.prune_layers(model, 1, 2)) == 2


def test_vocab_edits_keep_token_identity(model: DictSource) -> None:
    b = V.vocab_prune(model, 0.5, np.random.default_rng(6))
    vocab = b.meta.tokenizer["vocab"]
    i = int(vocab[3][3:])  # "tokN" -> original row N
    np.testing.assert_array_equal(
        b.read("model.embed_tokens.weight")[3], model.read("model.embed_tokens.weight")[i]
    )
    assert V.vocab_extend(model, 7, np.random.default_rng(7)).read("lm_head.weight").shape[0] == 57


def test_renamed_and_fused_variants_canonicalise_to_the_same_tensors(model: DictSource) -> None:
    for b in (V.rename_gguf(model), V.fuse(model)):
        ia, ib = canonicalize(model), canonicalize(b)
        assert set(ia.tensors) - {k for k in ia.tensors if k.role == "embed_norm"} <= set(
            ib.tensors
        )
        np.testing.assert_array_equal(
            read_canonical(b, ib.get("text", 1, "k")), read_canonical(model, ia.get("text", 1, "k"))
        )  # type: ignore[arg-type]


def test_independent_init_keeps_shapes_buffers_and_norms_near_one(model: DictSource) -> None:
    b = V.independent_init(model, np.random.default_rng(8))
    assert {n: i.shape for n, i in b.infos().items()} == {
        n: i.shape for n, i in model.infos().items()
    }
    np.testing.assert_array_equal(
        b.read("model.layers.0.self_attn.rotary_emb.inv_freq"),
        model.read("model.layers.0.self_attn.rotary_emb.inv_freq"),
    )
    g = b.read("model.layers.0.input_layernorm.weight")
    assert abs(float(g.mean()) - 1.0) < 0.05
