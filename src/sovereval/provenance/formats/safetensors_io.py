"""Hardened safetensors reader: own header parser, then mmap + ``np.frombuffer`` per tensor.

Why not ``safetensors.numpy``: it cannot hand bf16 (the commonest dtype of released LLMs) to
numpy, and it would trust the header once parsed. Here the header is hostile input: its length
is capped before any allocation, it must be strict UTF-8 JSON without duplicate keys, every
dtype must be known, shapes must be non-negative ints, and the data offsets must tile the data
buffer exactly (no overlap, no hole, nothing past the end), as the format specification
requires (which also rules out polyglot files). Only then is the file mapped.

The dtype tables here (:data:`DTYPES`, :func:`decode`) are shared with the ONNX reader.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats.base import FloatArray, SourceMeta, TensorInfo

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""A header larger than this is refused before it is read (real headers are < 10 MB)."""

MAX_DIM = 2**40
"""No single dimension may exceed this (bounds arithmetic; the byte check bounds the rest)."""


def _f8_table(exp_bits: int, man_bits: int, bias: int, fn: bool) -> npt.NDArray[np.float32]:
    """All 256 values of an 8-bit float format, by bit pattern.

    ``fn`` selects the OCP "finite, NaN only" variant (E4M3FN): no infinities, and only the
    all-ones exponent *and* mantissa pattern is NaN. Otherwise IEEE-like (E5M2).
    """
    out = np.empty(256, dtype=np.float32)
    e_max = (1 << exp_bits) - 1
    for b in range(256):
        sign = -1.0 if b & 0x80 else 1.0
        e = (b >> man_bits) & e_max
        m = b & ((1 << man_bits) - 1)
        if fn and e == e_max and m == (1 << man_bits) - 1:
            val = float("nan")
        elif not fn and e == e_max:
            val = float("inf") if m == 0 else float("nan")
        elif e == 0:
            val = (m / (1 << man_bits)) * 2.0 ** (1 - bias)
        else:
            val = (1.0 + m / (1 << man_bits)) * 2.0 ** (e - bias)
        out[b] = sign * val
    return out


F8_E4M3_TABLE = _f8_table(4, 3, 7, fn=True)
F8_E5M2_TABLE = _f8_table(5, 2, 15, fn=False)

DTYPES: Mapping[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U64": ("<u8", 8),
    "U32": ("<u4", 4),
    "U16": ("<u2", 2),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),
    "F8_E4M3": ("u1", 1),
    "F8_E5M2": ("u1", 1),
}
"""safetensors dtype -> (numpy storage dtype, itemsize). bf16/f8 are stored as raw ints."""


def decode(buf: Any, dtype: str, offset: int, count: int) -> FloatArray:
    """Decode ``count`` little-endian values of ``dtype`` from ``buf`` at ``offset`` to float32.

    BF16 is the top half of an IEEE float32, so a 16-bit left shift is exact; the f8 formats go
    through a 256-entry lookup table. Always returns a fresh array (never a view of ``buf``),
    so the caller may close the map afterwards.
    """
    np_dtype, _ = DTYPES[dtype]
    raw = np.frombuffer(buf, dtype=np.dtype(np_dtype), count=count, offset=offset)
    if dtype == "BF16":
        wide = raw.astype(np.uint32)
        wide <<= 16  # in place: one allocation of the output size
        return wide.view(np.float32)
    if dtype == "F8_E4M3":
        return np.asarray(F8_E4M3_TABLE[raw], dtype=np.float32)
    if dtype == "F8_E5M2":
        return np.asarray(F8_E5M2_TABLE[raw], dtype=np.float32)
    return raw.astype(np.float32)


def release(mm: mmap.mmap, start: int, length: int) -> None:
    """Drop a read range's pages from this process's resident set (they stay in page cache).

    Without this, reading every tensor of a mapped file leaves the whole file resident and the
    peak RSS grows with the model; with it, RSS stays near the largest tensor.
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or length <= 0:
        return
    page = mmap.PAGESIZE
    lo = start - start % page
    with contextlib.suppress(OSError, ValueError):
        mm.madvise(advice, lo, min(start + length, len(mm)) - lo)


def _fail(path: Path, problem: str) -> HostileInputError:
    return HostileInputError(f"{path}: not a valid safetensors file: {problem}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_header(
    path: Path, head: bytes, file_size: int
) -> tuple[int, dict[str, TensorInfo], dict[str, int], dict[str, str]]:
    """Validate a safetensors header; pure (bytes in, records out).

    ``head`` holds at least the first ``min(file_size, 8 + header length)`` bytes. Returns the
    data-buffer start, tensor infos, each tensor's absolute byte offset, and ``__metadata__``.
    """
    if file_size < 8 or len(head) < 8:
        raise _fail(path, f"file is {file_size} bytes, shorter than the 8-byte length prefix")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_HEADER_BYTES:
        raise _fail(path, f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte cap")
    if n > file_size - 8:
        raise _fail(path, f"header length {n} runs past the end of the {file_size}-byte file")
    if len(head) < 8 + n:
        raise _fail(path, "file truncated inside the header")
    try:
        text = head[8 : 8 + n].decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise _fail(path, f"header is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"header is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(obj, dict):
        raise _fail(path, f"header is a JSON {type(obj).__name__}, not an object")
    data_start = 8 + n
    data_len = file_size - data_start
    meta_raw = obj.pop("__metadata__", {})
    if not isinstance(meta_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta_raw.items()
    ):
        raise _fail(path, "__metadata__ must map strings to strings")
    infos: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in obj.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"tensor {name!r} must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise UnsupportedFormatError(
                f"{path}: tensor {name!r} has unsupported dtype {str(dtype)[:20]!r}; "
                f"known: {', '.join(DTYPES)}"
            )
        if not isinstance(shape, list) or not all(_is_int(d) and 0 <= d <= MAX_DIM for d in shape):
            raise _fail(path, f"tensor {name!r} shape must be a list of ints in [0, 2^40]")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
        ):
            raise _fail(path, f"tensor {name!r} data_offsets must be two ints")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise _fail(
                path, f"tensor {name!r} offsets [{begin}, {end}] outside data of {data_len} bytes"
            )
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel * DTYPES[dtype][1]
        if nbytes != end - begin:
            raise _fail(
                path,
                f"tensor {name!r} shape {shape} x {dtype} needs {nbytes} bytes, "
                f"offsets give {end - begin}",
            )
        infos[name] = TensorInfo(name, tuple(shape), dtype, nbytes)
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else "leaves a hole before it"
            raise _fail(path, f"tensor {name!r} at offset {begin} {what}")
        pos = end
    if pos != data_len:
        raise _fail(path, f"data buffer has {data_len - pos} trailing bytes not owned by a tensor")
    starts = {name: data_start + begin for begin, _, name in spans}
    return data_start, infos, starts, dict(meta_raw)


class SafetensorsSource:
    """A ``.safetensors`` file opened read-only with one shared map."""

    def __init__(self, path: Path, *, meta: SourceMeta | None = None) -> None:
        self.path = path
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(0)
                prefix = fh.read(8)
                n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
                rest = fh.read(min(n, MAX_HEADER_BYTES, max(size - 8, 0))) if n else b""
                _, self._infos, self._starts, st_meta = parse_header(path, prefix + rest, size)
                self._mm: mmap.mmap | None = (
                    mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
                )
        except OSError as exc:
            raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
        config: dict[str, Any] = {"__metadata__": st_meta} if st_meta else {}
        self.meta = meta or SourceMeta(
            format="safetensors", path=str(path), config=config, files=(path.name,)
        )

    def infos(self) -> Mapping[str, TensorInfo]:
        return self._infos

    def _map(self) -> mmap.mmap:
        if self._mm is None:
            raise InputError(f"{self.path}: source is closed")
        return self._mm

    def _info(self, name: str) -> TensorInfo:
        try:
            return self._infos[name]
        except KeyError:
            raise InputError(f"{self.path}: no tensor named {name!r}") from None

    def read(self, name: str) -> FloatArray:
        info = self._info(name)
        mm = self._map()
        flat = decode(mm, info.dtype, self._starts[name], info.numel)
        release(mm, self._starts[name], info.nbytes)
        return flat.reshape(info.shape)

    def read_raw(self, name: str) -> bytes:
        info = self._info(name)
        start = self._starts[name]
        return bytes(self._map()[start : start + info.nbytes])

    def close(self) -> None:
        mm, self._mm = self._mm, None
        if mm is not None:
            # BufferError: a caller still holds a view; the GC closes the map later.
            with contextlib.suppress(BufferError):
                mm.close()
