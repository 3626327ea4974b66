"""Checkpoint readers: every supported format opened as a :class:`TensorSource`.

``open_source(path, allow_pytorch=False)`` is the entry point; the readers treat every byte
of a checkpoint as hostile input (size caps, offset checks, no unpickling by default).
"""

from sovereval.provenance.formats.base import (
    DictSource,
    FloatArray,
    SourceMeta,
    TensorInfo,
    TensorSource,
)
from sovereval.provenance.formats.open import open_source

__all__ = ["DictSource", "FloatArray", "SourceMeta", "TensorInfo", "TensorSource", "open_source"]
