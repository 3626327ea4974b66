"""Fuzz every reader: mutated or truncated golden files give a valid result or an InputError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sovereval.errors import InputError
from sovereval.provenance.formats import open_source
from tests.provenance.formats.make_hostile import GOLDEN

FUZZ = settings(
    max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow], database=None
)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(buf) - 1))
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete"]))
        if kind == "set":
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif len(buf) > 1:
            del buf[pos]
    if draw(st.booleans()):
        buf = buf[: draw(st.integers(0, len(buf)))]
    return bytes(buf)


def _exercise(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        try:
            src = open_source(path)
        except InputError as exc:
            assert "\n" not in str(exc)
            return
        try:
            for name, info in src.infos().items():
                try:
                    arr = src.read(name)
                    raw = src.read_raw(name)
                except InputError:
                    continue
                assert arr.shape == info.shape and arr.dtype == np.float32
                assert len(raw) == info.nbytes
        finally:
            src.close()


@FUZZ
@given(mutated((GOLDEN / "tiny.safetensors").read_bytes()))
def test_fuzz_safetensors(data: bytes) -> None:
    _exercise(data, ".safetensors")


@FUZZ
@given(mutated((GOLDEN / "tiny.gguf").read_bytes()))
def test_fuzz_gguf(data: bytes) -> None:
    _exercise(data, ".gguf")


@FUZZ
@given(mutated((GOLDEN / "tiny.onnx").read_bytes()))
def test_fuzz_onnx(data: bytes) -> None:
    _exercise(data, ".onnx")


@FUZZ
@given(st.binary(max_size=64), st.sampled_from([".safetensors", ".gguf", ".onnx", ".bin", ""]))
def test_fuzz_random_bytes_any_extension(data: bytes, suffix: str) -> None:
    _exercise(data, suffix)
