"""Layer alignment: the layer map recovers subsets, prunes and repeats from a similarity matrix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.provenance.align import classify_layer_map, layer_map


def _similarity(order: list[int], n_parent: int, rng: np.random.Generator) -> np.ndarray:
    """Parent x child similarity: 0.95 where child block j copies parent block order[j],
    adjacent parent blocks 0.4 (trained neighbours resemble each other), noise sd 0.01."""
    s = 0.01 * rng.standard_normal((n_parent, len(order)))
    for j, i in enumerate(order):
        s[i, j] += 0.95
        for nb in (i - 1, i + 1):
            if 0 <= nb < n_parent:
                s[nb, j] += 0.4
    return s


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=4, max_value=24), seed=st.integers(0, 2**31), data=st.data())
def test_layer_map_recovers_any_monotone_subset(n: int, seed: int, data: st.DataObject) -> None:
    keep = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=2, max_size=n)))
    s = _similarity(keep, n, np.random.default_rng(seed))
    assert layer_map(s, 0.01, 0.0) == [(i, j) for j, i in enumerate(keep)]


def test_patterns() -> None:
    rng = np.random.default_rng(0)
    # every second of 8: 0,2,4,6 -> stride 2
    pairs = layer_map(_similarity([0, 2, 4, 6], 8, rng), 0.01, 0.0)
    assert classify_layer_map(pairs, 8, 4) == "layer-subset"
    # blocks 3..5 of 8 removed: one gap -> pruned
    pairs = layer_map(_similarity([0, 1, 2, 6, 7], 8, rng), 0.01, 0.0)
    assert classify_layer_map(pairs, 8, 5) == "pruned"
    # SOLAR-style 0..5 + 2..7 -> repeated parents
    pairs = layer_map(_similarity([0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7], 8, rng), 0.01, 0.0)
    assert classify_layer_map(pairs, 8, 12) == "depth-upscaled"
    # one-to-one identity: no pattern
    pairs = layer_map(_similarity(list(range(6)), 6, rng), 0.01, 0.0)
    assert pairs == [(i, i) for i in range(6)] and classify_layer_map(pairs, 6, 6) is None


def test_noise_alone_maps_nothing() -> None:
    s = 0.01 * np.random.default_rng(1).standard_normal((10, 10))
    assert layer_map(s, 0.01, 0.0) == []
