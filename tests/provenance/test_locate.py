"""Name-blind located evidence: every tensor of B found in A whatever it is called, through
casts, transposition, fusion, slicing, subsets, quantisation and permutation -- and nothing
found between independent tensors. Real-model cases are in test_corpus.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sovereval.provenance.compare import compare
from sovereval.provenance.formats.base import DictSource
from sovereval.provenance.locate import locate
from sovereval.provenance.reading import closed_form
from sovereval.provenance.structure import group_components


def _model(seed: int, layers: int = 3, d: int = 64, f: int = 160) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": g.standard_normal((300, d))}
    for i in range(layers):
        p = f"model.layers.{i}."
        for n, shape in (
            ("self_attn.q_proj", (d, d)),
            ("self_attn.k_proj", (d // 2, d)),
            ("self_attn.v_proj", (d // 2, d)),
            ("self_attn.o_proj", (d, d)),
            ("mlp.gate_proj", (f, d)),
            ("mlp.up_proj", (f, d)),
            ("mlp.down_proj", (d, f)),
        ):
            t[p + n + ".weight"] = g.standard_normal(shape) * 0.05
        t[p + "input_layernorm.weight"] = 1 + 0.05 * g.standard_normal(d)
    return {k: v.astype(np.float32) for k, v in t.items()}


def _share(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    r = locate(DictSource(a), DictSource(b))
    return sum(r.found_b.values()) / sum(r.numel_b.values())


def _bf16(x: np.ndarray) -> np.ndarray:
    from sovereval.provenance.exact import to_bf16_bits

    return (to_bf16_bits(x).astype(np.uint32) << 16).view(np.float32).reshape(x.shape)


A = _model(1)


def test_renamed_transposed_bf16_copy_is_found_in_full() -> None:
    # GPT-2 style: every matrix stored (in, out) under other names, rounded to bf16
    b = {f"h.{i}.w": _bf16(v.T if v.ndim == 2 else v) for i, v in enumerate(A.values())}
    r = locate(DictSource(A), DictSource(b))
    assert sum(r.found_b.values()) == sum(r.numel_b.values())
    assert sum(r.exact_b.values()) == sum(r.numel_b.values())
    assert {m.how for m in r.matches} <= {"cast", "transposed"}


def test_fused_qkv_and_column_shards_are_found_row_by_row() -> None:
    p = "model.layers.0."
    q, k, v = (A[p + f"self_attn.{x}_proj.weight"] for x in "qkv")
    up = A[p + "mlp.up_proj.weight"]
    b = {
        "attn.c_attn": np.concatenate([q, k, v]),  # fused rows: 64 + 32 + 32
        "mlp.shard0": np.ascontiguousarray(up[:, :32]),  # a column slice (tensor parallel)
    }
    r = locate(DictSource(A), DictSource(b))
    assert r.found_b["attn.c_attn"] == q.size + k.size + v.size
    assert r.found_b["mlp.shard0"] == up.size // 2
    srcs = {m.a for m in r.matches if m.b == "attn.c_attn"}
    assert srcs == {p + f"self_attn.{x}_proj.weight" for x in "qkv"}


def test_row_subset_and_superset_of_an_embedding() -> None:
    e = A["model.embed_tokens.weight"]
    keep = np.sort(np.random.default_rng(2).choice(300, 200, replace=False))
    extra = np.random.default_rng(3).standard_normal((50, 64)).astype(np.float32)
    r = locate(DictSource(A), DictSource({"pruned": e[keep], "extended": np.vstack([e, extra])}))
    assert r.found_b["pruned"] == 200 * 64  # every kept row
    assert r.found_b["extended"] == 300 * 64  # the old rows, not the new ones
    assert {m.how for m in r.matches} == {"rows"}  # in order: a subset, not a permutation


def test_permuted_neurons_are_found_and_called_permuted() -> None:
    p = "model.layers.1.mlp."
    perm = np.random.default_rng(4).permutation(160)
    b = {"up": A[p + "up_proj.weight"][perm], "down": A[p + "down_proj.weight"][:, perm]}
    r = locate(DictSource(A), DictSource(b))
    hows = {m.b: m.how for m in r.matches}
    assert hows == {"up": "rows-permuted", "down": "columns-permuted"}
    assert r.found_b["up"] == r.found_b["down"] == 160 * 64


def test_fp16_cast_int8_with_row_scales_and_a_fine_tune_are_near_matches() -> None:
    w = A["model.layers.2.mlp.gate_proj.weight"]
    scale = np.abs(w).max(axis=1, keepdims=True) / 127
    g = np.random.default_rng(5)
    b = {
        "fp16": w.astype(np.float16).astype(np.float32),
        "int8": np.round(w / scale).astype(np.float32),  # raw int8 values, scales elsewhere
        "tuned": w + 0.15 * w.std() * g.standard_normal(w.shape).astype(np.float32),
    }
    r = locate(DictSource(A), DictSource(b))
    rho = {m.b: m.rho for m in r.matches}
    for name in b:
        assert r.found_b[name] == w.size, name
    # quantisation noise leaves rows correlated >= 0.99; a 15% update ~ 1/sqrt(1.0225) = 0.989
    assert rho["int8"] > 0.99 and rho["fp16"] > 0.999
    assert 0.95 < rho["tuned"] < 0.995


@pytest.mark.parametrize("seed", range(4))
def test_independent_models_share_nothing(seed: int) -> None:
    assert _share(A, _model(100 + seed)) == 0.0


def test_fixed_buffers_are_excluded_not_found() -> None:
    n = 256
    t = np.arange(n)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * t / n)  # Hann window
    k = np.arange(n // 2 + 1)[:, None]
    basis = np.vstack([w * np.cos(2 * np.pi * k * t / n), w * np.sin(2 * np.pi * k * t / n)])
    assert closed_form(basis.reshape(258, 1, 256).astype(np.float32)) is not None
    bufs = {"stft": basis.astype(np.float32), "ids": np.arange(512, dtype=np.float32)}
    r = locate(
        DictSource({**A, **bufs}), DictSource({"x.stft": bufs["stft"], "x.ids": bufs["ids"]})
    )
    assert r.found_b == {} and {n for n, _ in r.excluded_b} == {"x.stft", "x.ids"}


def test_components_from_the_name_tree_whatever_the_words() -> None:
    names = [
        "model.embed_tokens.weight",
        *(f"model.layers.{i}.mlp.w" for i in range(3)),
        "lm_head.weight",
        "tower.embeddings.patch.weight",
        *(f"tower.encoder.layers.{i}.fc1.weight" for i in range(2)),
        "blk.0.x",
        "blk.1.x",
    ]
    numel = dict.fromkeys(names, 10)
    numel["model.layers.0.mlp.w"] = 1000
    comps = {c.name: set(c.tensors) for c in group_components(names, numel)}
    assert comps["model.layers"] == {
        "model.embed_tokens.weight",
        "model.layers.0.mlp.w",
        "model.layers.1.mlp.w",
        "model.layers.2.mlp.w",
        "lm_head.weight",  # shares no prefix: joins the largest stack
    }
    assert comps["tower.encoder.layers"] == {
        "tower.embeddings.patch.weight",
        "tower.encoder.layers.0.fc1.weight",
        "tower.encoder.layers.1.fc1.weight",
    }
    assert comps["blk"] == {"blk.0.x", "blk.1.x"}


def test_a_copied_tower_is_traced_to_the_component_it_came_from() -> None:
    # B: its own decoder, plus A's decoder blocks renamed as a "vision" tower
    own = _model(7)
    tower = {
        k.replace("model.layers.", "visual.blocks.").replace(
            "model.embed_tokens", "visual.patch"
        ): v
        for k, v in A.items()
    }
    out = compare(DictSource(A), DictSource({**own, **tower}), rng=np.random.default_rng(0))
    by = {c.name: c for c in out.components}
    assert (
        by["visual.blocks"].verdict == "identical" and by["visual.blocks"].source == "model.layers"
    )
    assert by["visual.blocks"].found_fraction == 1.0
    assert by["model.layers"].verdict == "independent" and by["model.layers"].found_fraction == 0
    assert out.verdict == "derived"
    js = out.to_json()
    assert js["derivation"] == "copy"
    assert js["summary"].startswith("vision: 100.0% of ")
    assert "found in A's model.layers" not in js["summary"]  # A is named by its path label


def test_a_stack_of_vectors_alone_joins_the_matrices_of_the_same_blocks() -> None:
    # llama.cpp leaves Gemma's extra norms as blk.N.* beside model.layers.N.* matrices
    names = [
        *(f"model.layers.{i}.mlp.w" for i in range(2)),
        *(f"blk.{i}.post_norm" for i in range(2)),
    ]
    ndim = {n: (2 if "mlp" in n else 1) for n in names}
    comps = group_components(names, dict.fromkeys(names, 10), ndim=ndim)
    assert [(c.name, len(c.tensors)) for c in comps] == [("model.layers", 4)]


def test_byte_identical_files_are_settled_by_their_bytes(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from sovereval.provenance.formats import open_source

    save_file(A, str(tmp_path / "a.safetensors"))
    (tmp_path / "b.safetensors").write_bytes((tmp_path / "a.safetensors").read_bytes())
    a, b = open_source(tmp_path / "a.safetensors"), open_source(tmp_path / "b.safetensors")
    r = locate(a, b)
    assert r.tiers["identical_files"] == 1
    assert sum(r.found_b.values()) == sum(r.numel_b.values()) == sum(v.size for v in A.values())
    out = compare(a, b, rng=np.random.default_rng(0))
    assert (out.verdict, out.derivation) == ("identical", "copy")
    # one value changed: no longer identical files, still found tensor by tensor
    changed = dict(A)
    changed["model.layers.0.mlp.up_proj.weight"] = A["model.layers.0.mlp.up_proj.weight"] + 1
    save_file(changed, str(tmp_path / "c.safetensors"))
    r2 = locate(a, open_source(tmp_path / "c.safetensors"))
    assert "identical_files" not in r2.tiers and r2.tiers["digest"] == len(A) - 1
