"""From-scratch evidence: fresh initialisation, independence from references, continuity."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sovereval.provenance import variants as V
from sovereval.provenance.checkpoints import Initialiser, check_chain, continuity, init_evidence
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


def _fresh(seed: int) -> DictSource:
    """A freshly initialised Llama: every matrix N(0, 0.02^2), every norm gain exactly 1.0."""
    base = synthetic_llama(
        np.random.default_rng(seed), layers=3, hidden=64, intermediate=160, vocab=300
    )
    rng = np.random.default_rng(seed + 1)
    t = {}
    for n, info in base.infos().items():
        if "inv_freq" in n:
            t[n] = np.asarray(base.read(n))
        elif len(info.shape) == 1:
            t[n] = np.ones(info.shape, np.float32)
        else:
            t[n] = (0.02 * rng.standard_normal(info.shape)).astype(np.float32)
    return DictSource(t, base.meta)


def _train(src: DictSource, seed: int) -> DictSource:
    return V.finetune(src, 0.3, np.random.default_rng(seed))


def test_fresh_initialisation_is_recognised_and_a_trained_model_is_not() -> None:
    fresh = _fresh(1)
    ev = init_evidence(fresh, Initialiser("normal", 0.02), rng=np.random.default_rng(0))
    assert ev.looks_initialised and ev.norms_at_one == 1.0
    trained = synthetic_llama(
        np.random.default_rng(2), layers=3, hidden=64, intermediate=160, vocab=300
    )
    ev = init_evidence(trained, Initialiser("normal", 0.02), rng=np.random.default_rng(0))
    assert not ev.looks_initialised
    # a wrong declared std is caught: 0.03 instead of 0.02 moves every KS statistic to ~0.2
    ev = init_evidence(fresh, Initialiser("normal", 0.03), rng=np.random.default_rng(0))
    assert not ev.looks_initialised


def test_chain_continuity_and_a_swap_midway() -> None:
    c0 = _fresh(3)
    c1 = _train(c0, 4)
    c2 = _train(c1, 5)
    steps = continuity([c0, c1, c2])
    assert all(s.continuous for s in steps) and steps[0].relative_change < 0.35
    foreign = synthetic_llama(
        np.random.default_rng(6), layers=3, hidden=64, intermediate=160, vocab=300
    )
    steps = continuity([c0, c1, foreign])
    assert steps[0].continuous and not steps[1].continuous and abs(steps[1].pearson) < 0.1


def test_check_chain_from_scratch_and_borrowed() -> None:
    ref = synthetic_llama(
        np.random.default_rng(7), layers=3, hidden=64, intermediate=160, vocab=300
    )
    c0 = _fresh(8)
    chain = [c0, _train(c0, 9)]
    rep = check_chain(chain, {"ref": ref}, Initialiser(), rng=np.random.default_rng(0))
    assert rep.from_scratch and rep.to_json()["independence"][0]["verdict"] == "independent"
    # a "chain" that starts from the reference itself fails twice: not an init, not independent
    borrowed = check_chain(
        [ref, _train(ref, 10)], {"ref": ref}, Initialiser(), rng=np.random.default_rng(0)
    )
    assert not borrowed.from_scratch
    assert not borrowed.init.looks_initialised and borrowed.independence[0][1] == "identical"
