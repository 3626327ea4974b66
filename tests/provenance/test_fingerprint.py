"""Fingerprints: compact, pickle-free round trip, and screening without the reference weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sovereval.errors import InputError
from sovereval.provenance import variants as V
from sovereval.provenance.fingerprint import load, make_fingerprint, save, scan, screen
from sovereval.provenance.formats.base import DictSource
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


SHAPE = {"layers": 5, "hidden": 96, "intermediate": 256, "heads": 4, "kv_heads": 2, "vocab": 600}


@pytest.fixture(scope="module")
def ref() -> DictSource:
    return synthetic_llama(np.random.default_rng(40), **SHAPE)  # type: ignore[arg-type]


def test_round_trip_is_plain_arrays_and_json(ref: DictSource, tmp_path: Path) -> None:
    fp = make_fingerprint(ref, "ref", rng=np.random.default_rng(0))
    npz, js = save(fp, tmp_path / "ref")
    back = load(tmp_path / "ref")
    assert back.name == "ref" and back.digests == fp.digests
    assert back.components["text"].layers == (0, 1, 2, 3, 4)
    np.testing.assert_array_equal(
        back.components["text"].grams["up"], fp.components["text"].grams["up"]
    )
    # far smaller than the weights themselves
    weights = sum(i.nbytes for i in ref.infos().values())
    assert npz.stat().st_size + js.stat().st_size < weights / 2


def test_screen_flags_derived_and_clears_independent(ref: DictSource, tmp_path: Path) -> None:
    save(make_fingerprint(ref, "ref", rng=np.random.default_rng(1)), tmp_path / "ref")
    fp = load(tmp_path / "ref")
    derived = V.finetune(V.permute(ref, np.random.default_rng(2)), 0.2, np.random.default_rng(3))
    d = screen(derived, fp, rng=np.random.default_rng(4)).to_json()["components"][0]
    assert d["z"] > 20 and d["effect"] > 0.5
    assert d["layer_map"] == [[i, i] for i in range(5)]
    other = synthetic_llama(np.random.default_rng(41), **SHAPE)  # type: ignore[arg-type]
    o = screen(other, fp, rng=np.random.default_rng(5)).to_json()["components"][0]
    assert o["z"] < 5 and abs(o["effect"]) < 0.05 and o["layer_map"] == []


def test_screen_counts_exact_tensor_matches(ref: DictSource) -> None:
    fp = make_fingerprint(ref, "ref", rng=np.random.default_rng(6))
    res = screen(ref, fp, rng=np.random.default_rng(7))
    assert res.exact_tensor_matches == len(ref.infos())


def test_load_refuses_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    with pytest.raises(InputError):
        load(tmp_path / "x")
    # an object array would need pickle: refused by allow_pickle=False
    (tmp_path / "y.json").write_text(
        '{"format": "sovereval-fingerprint/1", "name": "y", "digests": {}, "value_digests": {}, "components": {"text": {"d": 4, "layers": [0], "roles": ["q"]}}}'
    )
    np.savez(
        tmp_path / "y.npz",
        **{
            "text/probes": np.array([object()], dtype=object),
            "text/anchors": np.zeros(1),
            "text/gram/q": np.zeros(1),
        },
    )
    with pytest.raises((InputError, ValueError)):
        load(tmp_path / "y")


def test_scan_corrects_across_references(ref: DictSource) -> None:
    other = synthetic_llama(np.random.default_rng(42), **SHAPE)  # type: ignore[arg-type]
    lib = {
        "ref": make_fingerprint(ref, "ref", rng=np.random.default_rng(8)),
        "other": make_fingerprint(other, "other", rng=np.random.default_rng(9)),
    }
    hits = scan(V.lora(ref, 8, 0.15, np.random.default_rng(10)), lib, rng=np.random.default_rng(11))
    by = {h.reference: h for h in hits}
    assert by["ref"].derived and not by["other"].derived
    # Holm: the smallest raw p is multiplied by the number of tests (2 here), so adjusted >= raw
    assert by["other"].p_value > 1e-3
