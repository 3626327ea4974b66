"""ONNX reader: graph initializers as tensors, external data only from inside the model folder.

The model protobuf is loaded with ``load_external_data=False`` so that onnx never follows an
``external_data.location`` by itself: a crafted model could otherwise read ``/etc/passwd`` or
``../../secret``. Locations are validated here (relative, inside the model's directory, an
existing regular file), offsets and lengths are checked against that file's size and against
the tensor's ``numel * itemsize``, and the bytes are then read through a read-only map.
"""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError, require
from sovereval.provenance.formats.base import FloatArray, SourceMeta, TensorInfo
from sovereval.provenance.formats.hfdir import safe_member
from sovereval.provenance.formats.safetensors_io import DTYPES, decode

MAX_ONNX_BYTES = 2 * 1024**3
"""Protobuf's own limit; larger models must keep weights in external data files."""

ONNX_DTYPES = {
    1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL",
    10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16", 17: "F8_E4M3", 19: "F8_E5M2",
}  # fmt: skip
"""ONNX ``TensorProto.DataType`` -> safetensors dtype name (same little-endian layouts)."""


def _fail(path: Path, problem: str) -> HostileInputError:
    return HostileInputError(f"{path}: not a valid ONNX model: {problem}")


MAX_SUBGRAPH_DEPTH = 8


class OnnxSource:
    """The initializers of an ``.onnx`` model."""

    def __init__(self, path: Path) -> None:
        onnx: Any = require("onnx", "onnx")
        self.path = path
        self._maps: dict[Path, mmap.mmap] = {}
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
        if size > MAX_ONNX_BYTES:
            raise _fail(path, f"{size} bytes exceeds the protobuf limit of {MAX_ONNX_BYTES}")
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise _fail(path, f"protobuf does not parse ({type(exc).__name__})") from None
        self._tensors: dict[str, Any] = {}
        self._external: dict[str, tuple[Path, int]] = {}
        self._infos: dict[str, TensorInfo] = {}
        self._walk(model.graph, "", 0)
        meta_props = {p.key: p.value for p in model.metadata_props}
        config = {"producer_name": model.producer_name, "ir_version": model.ir_version,
                  "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                  "metadata_props": meta_props}  # fmt: skip
        files = (
            path.name,
            *sorted({str(p.relative_to(path.parent)) for p, _ in self._external.values()}),
        )
        self.meta = SourceMeta(format="onnx", path=str(path), config=config, files=files)

    def _walk(self, graph: Any, prefix: str, depth: int) -> None:
        """Initializers of ``graph``, tensors held by its ``Constant`` nodes, and the same in
        every subgraph (``If`` branches, ``Loop``/``Scan`` bodies): exporters put weights in
        all three. Subgraph tensors are named ``node/branch/name``; nesting is capped."""
        if depth > MAX_SUBGRAPH_DEPTH:
            raise _fail(self.path, f"subgraphs nested deeper than {MAX_SUBGRAPH_DEPTH}")
        for t in graph.initializer:
            self._add(t, prefix + str(t.name))
        for i, node in enumerate(graph.node):
            for attr in node.attribute:
                where = f"{prefix}{node.name or node.op_type + '_' + str(i)}/{attr.name}/"
                if attr.type == 4 and node.op_type == "Constant" and node.output:  # TENSOR
                    self._add(attr.t, prefix + str(node.output[0]))
                elif attr.type == 5:  # GRAPH
                    self._walk(attr.g, where, depth + 1)
                elif attr.type == 10:  # GRAPHS
                    for j, g in enumerate(attr.graphs):
                        self._walk(g, f"{where}{j}/", depth + 1)

    def _add(self, t: Any, name: str | None = None) -> None:
        name = str(t.name) if name is None else name
        if name in self._infos:
            raise _fail(self.path, f"duplicate initializer {name!r}")
        dtype = ONNX_DTYPES.get(int(t.data_type))
        if dtype is None:
            raise UnsupportedFormatError(
                f"{self.path}: initializer {name!r} has unsupported ONNX data type {t.data_type}"
            )
        dims = tuple(int(d) for d in t.dims)
        if any(d < 0 or d > 2**40 for d in dims):
            raise _fail(self.path, f"initializer {name!r} has invalid dims {dims}")
        numel = 1
        for d in dims:
            numel *= d
        nbytes = numel * DTYPES[dtype][1]
        if t.data_location == 1:
            self._external[name] = self._locate(name, t, nbytes)
        elif t.HasField("raw_data") and len(t.raw_data) != nbytes:
            raise _fail(self.path, f"initializer {name!r} raw_data is {len(t.raw_data)} bytes, "
                        f"dims x {dtype} need {nbytes}")  # fmt: skip
        self._tensors[name] = t
        self._infos[name] = TensorInfo(name, dims, dtype, nbytes)

    def _locate(self, name: str, t: Any, nbytes: int) -> tuple[Path, int]:
        entries = {e.key: e.value for e in t.external_data}
        root = self.path.parent
        file = safe_member(
            root, entries.get("location"), f"initializer {name!r} external data", self.path
        )
        if not file.is_file():
            raise InputError(f"{self.path}: external data file {file.name} of {name!r} is missing")
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries.get("length", str(nbytes)))
        except ValueError:
            raise _fail(self.path, f"initializer {name!r} offset/length are not integers") from None
        fsize = file.stat().st_size
        if offset < 0 or length != nbytes or offset + length > fsize:
            raise _fail(self.path, f"initializer {name!r} external [{offset}, +{length}) does not "
                        f"fit {file.name} ({fsize} bytes) or its {nbytes}-byte shape")  # fmt: skip
        if file not in self._maps and fsize:
            with file.open("rb") as fh:
                self._maps[file] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return file, offset

    def infos(self) -> Mapping[str, TensorInfo]:
        return self._infos

    def _get(self, name: str) -> tuple[Any, TensorInfo]:
        if name not in self._infos:
            raise InputError(f"{self.path}: no initializer named {name!r}")
        return self._tensors[name], self._infos[name]

    def read(self, name: str) -> FloatArray:
        t, info = self._get(name)
        if name in self._external or t.HasField("raw_data"):
            buf, offset = self._buffer(name, t)
            return decode(buf, info.dtype, offset, info.numel).reshape(info.shape)
        from onnx import numpy_helper

        try:
            arr = numpy_helper.to_array(t)
        except Exception as exc:
            raise _fail(self.path, f"initializer {name!r} does not decode ({exc})") from None
        return np.asarray(arr, dtype=np.float32).reshape(info.shape)

    def _buffer(self, name: str, t: Any) -> tuple[Any, int]:
        if name in self._external:
            file, offset = self._external[name]
            if file not in self._maps:  # zero-size file, zero-size tensor
                return b"", 0
            return self._maps[file], offset
        return t.raw_data, 0

    def read_raw(self, name: str) -> bytes:
        t, info = self._get(name)
        if name in self._external or t.HasField("raw_data"):
            buf, offset = self._buffer(name, t)
            return bytes(buf[offset : offset + info.nbytes])
        from onnx import numpy_helper

        try:
            return np.ascontiguousarray(numpy_helper.to_array(t)).tobytes()
        except Exception as exc:
            raise _fail(self.path, f"initializer {name!r} does not decode ({exc})") from None

    def close(self) -> None:
        maps, self._maps = self._maps, {}
        for mm in maps.values():
            with contextlib.suppress(BufferError):
                mm.close()
