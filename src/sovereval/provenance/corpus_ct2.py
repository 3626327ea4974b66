"""Convert a CTranslate2 ``model.bin`` (as faster-whisper ships Whisper) to safetensors.

Layout (CTranslate2 ``models/model.cc``, binary version 6): u32 version, u16-prefixed spec name,
u32 revision, u32 variable count, then per variable: u16-prefixed name, u8 rank, rank x u32
dims, u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 byte count, the bytes; then
aliases. Only float variables of rank >= 1 are kept; names keep CTranslate2's path with ``/``
replaced by ``.``. Every length is checked against the file before it is used.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from sovereval.errors import HostileInputError
from sovereval.provenance.corpus_io import write_safetensors

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    buf = path.read_bytes()
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(buf):
            raise HostileInputError(f"{path}: truncated CTranslate2 file at byte {pos}")
        out = buf[pos : pos + n]
        pos += n
        return out

    def u(fmt: str) -> int:
        return int(struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0])

    def text() -> str:
        return take(u("H")).rstrip(b"\0").decode("utf-8", "replace")

    version = u("I")
    if version != 6:
        raise HostileInputError(f"{path}: CTranslate2 binary version {version} is not 6")
    text()
    u("I")
    out: dict[str, np.ndarray] = {}
    for _ in range(u("I")):
        name = text()
        rank = u("B")
        dims = tuple(u("I") for _ in range(rank))
        dtype = u("B")
        nbytes = u("I")
        data = take(nbytes)
        if rank == 0 or dtype not in (0, 4):
            continue
        arr = np.frombuffer(data, dtype=_DTYPES[dtype])
        if arr.size != int(np.prod(dims)):
            raise HostileInputError(f"{path}: {name} holds {arr.size} values, not {dims}")
        out[name.replace("/", ".")] = arr.reshape(dims)
    return out


def convert(src: Path, dest: Path) -> None:
    write_safetensors(dest, read_ct2(src), dtype="keep")
