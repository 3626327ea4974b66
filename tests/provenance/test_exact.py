"""Exact evidence: bf16 rounding, identical fractions, digests."""

from __future__ import annotations

import numpy as np

from sovereval.provenance.exact import ExactTally, identical_count, to_bf16_bits, value_digest


def test_bf16_rounding_is_round_to_nearest_even() -> None:
    # 1.0 = 0x3F800000 -> 0x3F80; 1 + 2^-8 (0x3F808000) is a tie -> even 0x3F80;
    # 1 + 3*2^-8 (0x3F818000) is a tie -> even 0x3F82; NaN -> canonical 0x7FC0
    x = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, np.nan, -2.0], np.float32)
    assert to_bf16_bits(x).tolist() == [0x3F80, 0x3F80, 0x3F82, 0x7FC0, 0xC000]


def test_fp16_copy_is_mostly_identical_after_bf16_cast_and_noise_is_not() -> None:
    w = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    same, n = identical_count(w, w.astype(np.float16).astype(np.float32))
    # double rounding (fp32 -> fp16 -> bf16) differs from direct rounding on ~6% of values
    assert n == w.size and same / n > 0.9
    noisy = w + 0.01 * np.random.default_rng(1).standard_normal(w.shape).astype(np.float32)
    same, n = identical_count(w, noisy)
    assert same / n < 0.6


def test_value_digest_is_cast_invariant_and_shape_aware() -> None:
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert value_digest(w) == value_digest(w.astype(np.float16))
    assert value_digest(w) != value_digest(w.reshape(4, 3))


def test_tally_counts_pairs_and_moved_tensors() -> None:
    t = ExactTally()
    a = np.ones((4, 4), np.float32)
    t.add_pair(a, a, raw_equal=True)
    t.add_pair(a, a * 2, raw_equal=False)
    t.add_pair(a, np.ones((2, 2), np.float32), raw_equal=False)  # shape mismatch: skipped
    assert (t.identical, t.compared, t.tensors_compared, t.tensors_equal_raw) == (16, 32, 2, 1)
    assert t.fraction == 0.5
    t.digests_a["x"], t.digests_b["y"] = "d1", "d1"
    assert t.shared_value_digests() == 1
