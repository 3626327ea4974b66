"""Measured accuracy: false-positive rate on independent same-shape pairs and true-positive
rate per derivation kind. Used by design/provenance-method.md and the benchmark scripts.

A false positive is any ``identical``/``derived`` verdict on an independent pair; a true
positive is a ``derived``/``identical`` verdict on a derived pair (the derivation kind is
scored separately, as "named"). Rates carry exact one-sided 95% upper bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from sovereval.provenance import variants as V
from sovereval.provenance.calibration import RateEstimate, empirical_rate
from sovereval.provenance.compare import CompareOptions, compare
from sovereval.provenance.formats.base import DictSource, TensorSource

Variant = Callable[[DictSource, np.random.Generator], DictSource]

KINDS: Mapping[str, tuple[Variant, str]] = {
    "permuted": (lambda p, r: V.permute(p, r), "permuted"),
    "rotated (norms folded)": (lambda p, r: V.rotate(p, r), "permuted"),
    "scaled": (lambda p, _r: V.scale(p, 3.0), "permuted"),
    "fp16 cast": (lambda p, _r: V.cast(p, "fp16"), "copy"),
    "q8_0": (lambda p, _r: V.quantize(p, "q8_0"), "quantized"),
    "q4_0": (lambda p, _r: V.quantize(p, "q4_0"), "quantized"),
    "fine-tuned 5%": (lambda p, r: V.finetune(p, 0.05, r), "fine-tuned"),
    "fine-tuned 20%": (lambda p, r: V.finetune(p, 0.20, r), "fine-tuned"),
    "LoRA r8 15%": (lambda p, r: V.lora(p, 8, 0.15, r), "low-rank"),
    "every second layer": (lambda p, _r: V.every_second_layer(p), "layer-subset"),
    "contiguous prune": (lambda p, _r: V.prune_layers(p, 1, 2), "pruned"),
    "depth up-scaled": (lambda p, _r: V.depth_upscale(p, 1), "depth-upscaled"),
    "vocab pruned 70%": (lambda p, r: V.vocab_prune(p, 0.7, r), "vocab-changed"),
    "vocab extended": (lambda p, r: V.vocab_extend(p, 64, r), "vocab-changed"),
    "renamed (GGUF)": (lambda p, _r: V.rename_gguf(p), "copy"),
    "fused QKV/gate-up": (lambda p, _r: V.fuse(p), "copy"),
    "permuted + fine-tuned 20%": (lambda p, r: V.finetune(V.permute(p, r), 0.2, r), "permuted"),
}


@dataclass(frozen=True)
class KindResult:
    kind: str
    detected: RateEstimate
    named: RateEstimate
    """Fraction whose derivation kind was classified as expected."""
    min_z: float


def _positive(out: Mapping[str, object]) -> bool:
    return out["verdict"] in ("derived", "identical")


def false_positive_rate(
    make_pair: Callable[[int], tuple[TensorSource, TensorSource]],
    n: int,
    options: CompareOptions | None = None,
) -> tuple[RateEstimate, list[float]]:
    """FPR over ``n`` independent pairs from ``make_pair(seed)``, and their component z's."""
    flags: list[bool] = []
    zs: list[float] = []
    for seed in range(n):
        a, b = make_pair(seed)
        out = compare(a, b, rng=np.random.default_rng(seed), options=options).to_json()
        flags.append(_positive(out))
        zs.extend(float(c["z"]) for c in out["components"])
    return empirical_rate(flags), zs


def true_positive_rates(
    parent: Callable[[int], DictSource],
    n: int,
    kinds: Mapping[str, tuple[Variant, str]] = KINDS,
    options: CompareOptions | None = None,
) -> list[KindResult]:
    """TPR per derivation kind over ``n`` seeded parents and variants."""
    out: list[KindResult] = []
    for kind, (make, expected) in kinds.items():
        det, named, zs = [], [], []
        for seed in range(n):
            p = parent(seed)
            b = make(p, np.random.default_rng(10_000 + seed))
            res = compare(p, b, rng=np.random.default_rng(seed), options=options).to_json()
            det.append(_positive(res))
            named.append(res["derivation"] == expected)
            zs.append(min(float(c["z"]) for c in res["components"]))
        out.append(KindResult(kind, empirical_rate(det), empirical_rate(named), min(zs)))
    return out
