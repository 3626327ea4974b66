"""PyTorch checkpoints, only behind an explicit option, only with ``weights_only=True``.

A ``.pt``/``.bin`` file is a pickle, and unpickling runs code. This reader is reached only when
the user passes ``--allow-pytorch``; it then (1) checks the zip container itself before torch
sees it: member count capped, every member stored uncompressed (``torch.save`` never
compresses, so a deflated member can only be a zip bomb or a foreign file), member sizes and
offsets within the file, the pickle small; and (2) calls
``torch.load(path, map_location="cpu", weights_only=True, mmap=True)``, torch's restricted
unpickler that only rebuilds tensors and plain containers, with storages mapped, not copied.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.errors import HostileInputError, InputError, require
from sovereval.provenance.formats.base import FloatArray, SourceMeta, TensorInfo

MAX_MEMBERS = 100_000
MAX_PICKLE_BYTES = 256 * 1024 * 1024
NESTED_KEYS = ("state_dict", "model", "module", "model_state_dict")

_DTYPE_NAMES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}  # fmt: skip


def _fail(path: Path, problem: str) -> HostileInputError:
    return HostileInputError(f"{path}: not a valid PyTorch checkpoint: {problem}")


def check_zip(path: Path) -> None:
    """Refuse zip bombs and malformed containers before torch parses the file."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise _fail(path, f"{len(members)} zip members exceeds the cap of {MAX_MEMBERS}")
            total = 0
            for m in members:
                if m.compress_type != zipfile.ZIP_STORED:
                    raise _fail(
                        path, f"member {m.filename!r} is compressed (torch.save never does)"
                    )
                if m.file_size != m.compress_size or m.header_offset + m.file_size > size:
                    raise _fail(path, f"member {m.filename!r} claims {m.file_size} bytes past EOF")
                if m.filename.endswith(".pkl") and m.file_size > MAX_PICKLE_BYTES:
                    raise _fail(path, f"pickle {m.filename!r} of {m.file_size} bytes is too large")
                total += m.file_size
            if total > size:
                raise _fail(path, f"members claim {total} bytes in a {size}-byte file")
            if not any(m.filename.endswith("data.pkl") for m in members):
                raise _fail(path, "zip holds no data.pkl (not written by torch.save)")
    except zipfile.BadZipFile as exc:
        raise _fail(path, f"broken zip container ({exc})") from None


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts of tensors -> flat ``a.b.c`` names; a lone ``state_dict``/``model`` is unwrapped."""
    torch: Any = require("torch", "hf")

    if isinstance(obj, Mapping) and not prefix:
        nested = [k for k in NESTED_KEYS if isinstance(obj.get(k), Mapping)]
        if nested and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj[nested[0]]
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = f"{prefix}{k}"
            if isinstance(v, torch.Tensor):
                out[key] = v
            elif isinstance(v, Mapping):
                out.update(flatten(v, key + "."))
    return out


class PyTorchSource:
    """A zip-format ``torch.save`` checkpoint, read weights-only and memory-mapped."""

    def __init__(self, path: Path) -> None:
        torch: Any = require("torch", "hf")
        self.path = path
        try:
            check_zip(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            raise _fail(
                path, f"weights-only load refused it ({type(exc).__name__}: {first})"
            ) from None
        self._tensors: dict[str, Any] = flatten(obj)
        if not self._tensors:
            raise InputError(f"{path}: checkpoint holds no tensors")
        self._infos: dict[str, TensorInfo] = {}
        for name, t in self._tensors.items():
            dtype = _DTYPE_NAMES.get(str(t.dtype).removeprefix("torch."))
            if dtype is None:
                raise InputError(f"{path}: tensor {name!r} has unsupported dtype {t.dtype}")
            shape = tuple(int(d) for d in t.shape)
            self._infos[name] = TensorInfo(name, shape, dtype, int(t.numel() * t.element_size()))
        self.meta = SourceMeta(format="pytorch", path=str(path), files=(path.name,))

    def infos(self) -> Mapping[str, TensorInfo]:
        return self._infos

    def _get(self, name: str) -> Any:
        if name not in self._tensors:
            raise InputError(f"{self.path}: no tensor named {name!r}")
        return self._tensors[name]

    def read(self, name: str) -> FloatArray:
        import torch

        t = self._get(name)
        return np.array(t.detach().to(torch.float32).numpy(), dtype=np.float32, copy=True)

    def read_raw(self, name: str) -> bytes:
        import torch

        t = self._get(name).detach().contiguous()
        return bytes(t.view(-1).view(torch.uint8).numpy().tobytes()) if t.numel() else b""

    def close(self) -> None:
        self._tensors = {}
