"""The seam between checkpoint readers and the provenance engine.

A reader opens a checkpoint (file or directory) and exposes it as a :class:`TensorSource`:
names, dtypes and shapes come from the (validated) header without touching tensor data, and
:meth:`TensorSource.read` materialises one tensor at a time as float32 (dequantising where
needed), so peak memory is bounded by the largest tensor, not by the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    """Tensor name as stored in the checkpoint (before any canonical renaming)."""
    shape: tuple[int, ...]
    """Logical shape in PyTorch/row-major order (GGUF shapes are reversed to this order)."""
    dtype: str
    """Stored dtype, e.g. ``F32``, ``BF16``, ``F16``, ``Q4_1``, ``Q8_0``."""
    nbytes: int
    """Bytes the tensor occupies on disk."""

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class SourceMeta:
    format: str
    """``safetensors``, ``gguf``, ``onnx`` or ``pytorch``."""
    path: str
    config: Mapping[str, Any] = field(default_factory=dict)
    """Model config (``config.json``, or GGUF key/values translated to HF-style names)."""
    tokenizer: Mapping[str, Any] = field(default_factory=dict)
    """Tokenizer facts: ``vocab`` (list of tokens), ``merges`` (list), ``special_tokens`` (dict)."""
    files: tuple[str, ...] = ()
    """Every file read, relative to the model directory where there is one."""
    text_files: Mapping[str, str] = field(default_factory=dict)
    """Small text files beside the weights (LICENSE, NOTICE, README.md), name -> content."""


@runtime_checkable
class TensorSource(Protocol):
    """A checkpoint opened for reading, one tensor at a time."""

    meta: SourceMeta

    def infos(self) -> Mapping[str, TensorInfo]:
        """Every tensor's header info, by stored name; reads no tensor data."""
        ...

    def read(self, name: str) -> FloatArray:
        """One tensor as a float32 array of ``infos()[name].shape`` (dequantised if needed)."""
        ...

    def read_raw(self, name: str) -> bytes:
        """The tensor's stored bytes, for exact digests."""
        ...

    def close(self) -> None: ...


class DictSource:
    """An in-memory :class:`TensorSource`, used by tests and by synthetic variants."""

    def __init__(
        self,
        tensors: Mapping[str, npt.NDArray[Any]],
        meta: SourceMeta | None = None,
    ) -> None:
        self._tensors = dict(tensors)
        self.meta = meta or SourceMeta(format="memory", path="<memory>")

    def infos(self) -> Mapping[str, TensorInfo]:
        return {
            k: TensorInfo(k, tuple(int(d) for d in v.shape), str(v.dtype).upper(), int(v.nbytes))
            for k, v in self._tensors.items()
        }

    def read(self, name: str) -> FloatArray:
        return np.asarray(self._tensors[name], dtype=np.float32)

    def read_raw(self, name: str) -> bytes:
        return np.ascontiguousarray(self._tensors[name]).tobytes()

    def close(self) -> None:
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)
