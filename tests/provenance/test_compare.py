"""compare(): every derivation kind, independent controls, the LayerNorm trap, per-component
verdicts and the JSON contract -- on synthetic Llama-shaped models (real ones: test_realmodel)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from sovereval.provenance import variants as V
from sovereval.provenance.compare import CompareOptions, compare
from sovereval.provenance.formats.base import DictSource, TensorSource
from sovereval.provenance.synthetic import splice, synthetic_llama


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


SHAPE = {"layers": 6, "hidden": 96, "intermediate": 256, "heads": 4, "kv_heads": 2, "vocab": 600}


@pytest.fixture(scope="module")
def parent() -> DictSource:
    return synthetic_llama(np.random.default_rng(100), **SHAPE)  # type: ignore[arg-type]


def _cmp(a: TensorSource, b: TensorSource, seed: int = 0) -> dict:  # type: ignore[type-arg]
    out = compare(a, b, rng=np.random.default_rng(seed)).to_json()
    json.dumps(out, allow_nan=False)  # the contract is strict JSON: no NaN, no inf
    return out


R = np.random.default_rng(1)
CASES: dict[str, tuple[Callable[[DictSource], DictSource], str]] = {
    "permuted": (lambda p: V.permute(p, np.random.default_rng(1)), "permuted"),
    "rotated": (lambda p: V.rotate(p, np.random.default_rng(2)), "permuted"),
    "scaled": (lambda p: V.scale(p, 4.0), "permuted"),
    "fp16": (lambda p: V.cast(p, "fp16"), "copy"),
    "q8": (lambda p: V.quantize(p, "q8_0"), "quantized"),
    "q4": (lambda p: V.quantize(p, "q4_0"), "quantized"),
    "finetune-5%": (lambda p: V.finetune(p, 0.05, np.random.default_rng(3)), "fine-tuned"),
    "finetune-20%": (lambda p: V.finetune(p, 0.20, np.random.default_rng(4)), "fine-tuned"),
    "lora": (lambda p: V.lora(p, 8, 0.15, np.random.default_rng(5)), "low-rank"),
    "every-second-layer": (V.every_second_layer, "layer-subset"),
    "pruned": (lambda p: V.prune_layers(p, 2, 4), "pruned"),
    "depth-upscaled": (lambda p: V.depth_upscale(p, 2), "depth-upscaled"),
    "vocab-pruned": (lambda p: V.vocab_prune(p, 0.7, np.random.default_rng(6)), "vocab-changed"),
    "vocab-extended": (lambda p: V.vocab_extend(p, 100, np.random.default_rng(7)), "vocab-changed"),
    "merged": (
        lambda p: V.merge(p, synthetic_llama(np.random.default_rng(8), **SHAPE), 0.5),  # type: ignore[arg-type]
        "merged",
    ),
    "permuted+finetune": (
        lambda p: V.finetune(
            V.permute(p, np.random.default_rng(9)), 0.2, np.random.default_rng(10)
        ),
        "permuted",
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_derivation_kind_is_detected_and_named(parent: DictSource, kind: str) -> None:
    make, expected = CASES[kind]
    out = _cmp(parent, make(parent))
    text = out["components"][0]
    assert out["verdict"] == "derived", text
    assert text["verdict"] == "derived" and text["p_value"] < 1e-4
    assert out["derivation"] == expected, text["direct"]
    # the positive control beside the verdict is detected; the negative control is not
    assert text["positive_control"]["z"] > 10
    assert abs(text["negative_control"]["z"]) < 5


def test_identical_copy_and_renamed_fused_or_bf16_copies(parent: DictSource) -> None:
    # "identical" is judged at bf16 precision: a bf16 re-save of an fp32 model is identical
    for b in (parent, V.rename_gguf(parent), V.fuse(parent), V.cast(parent, "bf16")):
        out = _cmp(parent, b)
        assert (out["verdict"], out["derivation"]) == ("identical", "copy")
        assert out["components"][0]["bf16_identical_fraction"] == 1.0
        assert out["components"][0]["layer_map"] == [[i, i] for i in range(6)]


@pytest.mark.parametrize("seed", range(5))
def test_independent_same_shape_models_are_independent(parent: DictSource, seed: int) -> None:
    other = synthetic_llama(np.random.default_rng(1000 + seed), **SHAPE)  # type: ignore[arg-type]
    out = _cmp(parent, other, seed)
    text = out["components"][0]
    assert (out["verdict"], out["derivation"]) == ("independent", None)
    assert text["layer_map"] == [] and text["matched_fraction"] == 0.0
    assert text["p_value"] > 1e-3
    assert abs(text["effect"]) < 0.05


def test_independent_models_with_different_depths_stay_independent(parent: DictSource) -> None:
    other = V.every_second_layer(synthetic_llama(np.random.default_rng(77), **SHAPE))  # type: ignore[arg-type]
    assert _cmp(parent, other)["verdict"] == "independent"


def test_layer_maps_of_cut_and_stacked_models(parent: DictSource) -> None:
    # every second layer of 6: student layer j is parent layer 2j
    assert _cmp(parent, V.every_second_layer(parent))["components"][0]["layer_map"] == [
        [0, 0],
        [2, 1],
        [4, 2],
    ]
    # blocks 2 and 3 removed: 0,1 stay, 4,5 become 2,3
    assert _cmp(parent, V.prune_layers(parent, 2, 4))["components"][0]["layer_map"] == [
        [0, 0],
        [1, 1],
        [4, 2],
        [5, 3],
    ]
    # SOLAR-style with overlap 2: [0..3] + [2..5] -> parent layers 2,3 appear twice
    lm = _cmp(parent, V.depth_upscale(parent, 2))["components"][0]["layer_map"]
    assert sorted(lm) == [[0, 0], [1, 1], [2, 2], [2, 4], [3, 3], [3, 5], [4, 6], [5, 7]]


def test_layernorm_trap_is_not_evidence(parent: DictSource) -> None:
    # an independent init whose norm gains sit near 1 like the parent's
    other = V.independent_init(parent, np.random.default_rng(11))
    out = _cmp(parent, other)
    assert out["verdict"] == "independent"
    norm_ev = next(e for e in out["evidence"] if e["name"] == "norm_gain_similarity")
    # naive cosine of gains ~1/(1+0.05^2) > 0.99; centred Pearson ~0; never counted
    assert norm_ev["mean_cosine"] > 0.99
    assert abs(norm_ev["mean_pearson"]) < 0.2
    assert norm_ev["weight_evidence"] is False


def test_rotation_leaves_norms_of_exactly_one_and_is_reported(parent: DictSource) -> None:
    out = _cmp(parent, V.rotate(parent, np.random.default_rng(12)))
    assert out["norms_all_one"] == {"a": [], "b": ["text"]}
    assert out["components"][0]["direct"]["rotation"] > 1.0  # an unrelated basis: ~sqrt(2)
    assert any("exactly 1.0" in n for n in out["notes"])


def test_per_component_decoder_independent_vision_copied() -> None:
    shape = dict(SHAPE, vision_layers=3)
    a = synthetic_llama(np.random.default_rng(20), **shape)  # type: ignore[arg-type]
    b_own = synthetic_llama(np.random.default_rng(21), **shape)  # type: ignore[arg-type]
    b = splice(b_own, a, "visual.blocks.")  # B trained its own decoder, took A's ViT blocks
    out = _cmp(a, b)
    by = {c["kind"]: c for c in out["components"]}
    assert by["text"]["verdict"] == "independent"
    assert by["vision"]["verdict"] in ("identical", "derived")
    assert by["vision"]["layer_map"] == [[0, 0], [1, 1], [2, 2]]
    assert by["vision"]["p_value"] < 1e-4
    assert by["projector"]["verdict"] == "independent"
    assert out["verdict"] == "derived"  # the most serious component decides


def test_per_component_fine_tuned_vision_tower() -> None:
    shape = dict(SHAPE, vision_layers=3)
    a = synthetic_llama(np.random.default_rng(30), **shape)  # type: ignore[arg-type]
    tuned = V.finetune(a, 0.15, np.random.default_rng(31))
    b = splice(synthetic_llama(np.random.default_rng(32), **shape), tuned, "visual.")  # type: ignore[arg-type]
    by = {c["kind"]: c for c in _cmp(a, b)["components"]}
    assert by["text"]["verdict"] == "independent"
    assert (by["vision"]["verdict"], by["vision"]["derivation"]) == ("derived", "fine-tuned")


def test_all_zero_tensors_and_nan_do_not_break_the_comparison(parent: DictSource) -> None:
    t = {n: np.asarray(parent.read(n)).copy() for n in parent.infos()}
    t["model.layers.1.mlp.down_proj.weight"][:] = 0.0
    t["model.layers.2.self_attn.v_proj.weight"][0, 0] = np.nan
    b = DictSource(t, parent.meta)
    out = _cmp(b, b)
    assert out["verdict"] == "identical"
    out = _cmp(b, V.finetune(parent, 0.1, np.random.default_rng(13)))
    assert out["verdict"] == "derived"


def test_json_contract_shape(parent: DictSource) -> None:
    out = _cmp(parent, V.every_second_layer(parent))
    assert set(out) >= {
        "verdict",
        "derivation",
        "components",
        "evidence",
        "norms_all_one",
        "excluded",
        "similarity",
    }
    assert out["verdict"] in {"identical", "derived", "independent", "inconclusive"}
    c = out["components"][0]
    for key, typ in (
        ("name", str),
        ("verdict", str),
        ("p_value", float),
        ("z", float),
        ("matched_fraction", float),
        ("layer_map", list),
    ):
        assert isinstance(c[key], typ)
    assert len(out["similarity"]["text"]) == 6 and len(out["similarity"]["text"][0]) == 3
    ev = {e["name"] for e in out["evidence"]}
    assert {
        "layer_best_match_cka",
        "anchor_procrustes_fit",
        "bf16_identical_fraction",
        "mlp_neuron_matching",
    } <= ev
    excluded = [n for n, _ in out["excluded"]["a"]]
    assert "model.layers.0.self_attn.rotary_emb.inv_freq" in excluded


def test_norm_vectors_alone_are_inconclusive_never_derived() -> None:
    # only norm gains near 1 to compare: the LayerNorm trap with nothing else behind it
    rng = np.random.default_rng(0)
    a = DictSource({"model.norm.weight": (1 + 0.01 * rng.standard_normal(64)).astype(np.float32)})
    b = DictSource({"model.norm.weight": (1 + 0.01 * rng.standard_normal(64)).astype(np.float32)})
    out = compare(a, b, rng=np.random.default_rng(0), options=CompareOptions()).to_json()
    assert out["verdict"] == "inconclusive"
    assert out["components"][0]["layer_map"] == [] and out["derivation"] is None
