"""Exact evidence: digests and the fraction of bit-identical values after a common cast.

The reference case's "99% of weights matched" is this statistic: cast both tensors to bf16
(round to nearest even, the cast every framework uses) and count equal bit patterns. A copy
stored in another precision (fp32 -> fp16/bf16) keeps nearly all values identical after the
cast; any training step changes almost all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def to_bf16_bits(x: npt.NDArray[np.floating]) -> npt.NDArray[np.uint16]:  # type: ignore[type-arg]
    """bf16 bit patterns of ``x`` (round-to-nearest-even; every NaN mapped to one pattern)."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    bits = f.view(np.uint32)
    # uint32 arithmetic cannot overflow here: only NaN patterns exceed 0xFFFF8000.
    lsb = (bits >> 16) & np.uint32(1)
    lsb += np.uint32(0x7FFF)
    lsb += bits
    lsb >>= np.uint32(16)
    out = lsb.astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        out[nan] = 0x7FC0
    return out


SAMPLE = 1 << 18
"""Values compared per tensor once a pair is known to differ (strided sample; the binomial
standard error of the identical fraction is then below 0.001)."""


DIGEST_SAMPLE = 1 << 14


def _sample(x: npt.NDArray[np.floating], n: int = SAMPLE) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
    flat = np.ravel(x)
    step = max(1, flat.size // n)
    return flat[::step]


def value_digest(x: npt.NDArray[np.floating]) -> str:  # type: ignore[type-arg]
    """SHA-256 of the shape and the bf16 values of a strided sample: equal for a copy re-stored
    in another precision; a screening digest (a full-tensor check follows where it matters)."""
    h = hashlib.sha256(str(tuple(np.shape(x))).encode())
    h.update(to_bf16_bits(_sample(x, DIGEST_SAMPLE)).tobytes())
    return h.hexdigest()


def identical_count(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> tuple[int, int]:  # type: ignore[type-arg]
    """(positions with equal bf16 bit patterns, positions compared). Equal float32 arrays are
    counted in full; otherwise a strided sample of at most :data:`SAMPLE` values is compared."""
    if np.array_equal(a, b):
        return int(np.size(a)), int(np.size(a))
    sa, sb = _sample(a), _sample(b)
    same = int(np.count_nonzero(to_bf16_bits(sa) == to_bf16_bits(sb)))
    if same == sa.size < np.size(a):  # a cast copy so far: settle it on every value
        return int(np.count_nonzero(to_bf16_bits(a) == to_bf16_bits(b))), int(np.size(a))
    return same, int(sa.size)


@dataclass
class ExactTally:
    """Accumulates exact evidence for one component while tensors stream past."""

    identical: int = 0
    compared: int = 0
    tensors_equal_raw: int = 0
    tensors_equal_values: int = 0
    tensors_compared: int = 0
    digests_a: dict[str, str] = field(default_factory=dict)
    digests_b: dict[str, str] = field(default_factory=dict)

    def add_pair(
        self, a: npt.NDArray[np.floating], b: npt.NDArray[np.floating], raw_equal: bool
    ) -> None:  # type: ignore[type-arg]
        if a.shape != b.shape:
            return
        n, m = identical_count(a, b)
        self.identical += n
        self.compared += m
        self.tensors_compared += 1
        self.tensors_equal_values += int(n == m == a.size)
        self.tensors_equal_raw += int(raw_equal)

    @property
    def fraction(self) -> float:
        return self.identical / self.compared if self.compared else 0.0

    def shared_value_digests(self) -> int:
        """Tensors of B whose bf16 values equal SOME tensor of A (catches moved/duplicated layers)."""
        va = set(self.digests_a.values())
        return sum(1 for d in self.digests_b.values() if d in va)

    def to_json(self) -> dict[str, float | int]:
        return {
            "bf16_identical_fraction": self.fraction,
            "values_compared": self.compared,
            "tensors_compared": self.tensors_compared,
            "tensors_bit_identical": self.tensors_equal_raw,
            "tensors_value_identical": self.tensors_equal_values,
            "tensors_b_matching_some_a_tensor": self.shared_value_digests(),
            "tensors_b": len(self.digests_b),
        }
