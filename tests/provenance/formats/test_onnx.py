"""ONNX reader: golden initializers, external data confined to the model directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sovereval.errors import HostileInputError, InputError
from sovereval.provenance.formats import open_source
from sovereval.provenance.formats.onnx_io import OnnxSource
from tests.provenance.formats.make_hostile import GOLDEN, golden_onnx_bytes, onnx_with_external


def test_golden_file_is_byte_exact_with_a_fresh_build() -> None:
    assert golden_onnx_bytes() == (GOLDEN / "tiny.onnx").read_bytes()


def test_golden_initializers_round_trip() -> None:
    src = open_source(GOLDEN / "tiny.onnx")
    try:
        infos = src.infos()
        assert {n: (i.shape, i.dtype) for n, i in infos.items()} == {
            "w": ((2, 2), "F32"), "h": ((3,), "F16"), "typed": ((3,), "F32"),
        }  # fmt: skip
        assert src.read("w").tolist() == [[1.0, 2.0], [3.0, -4.5]]
        assert src.read("h").tolist() == [0.5, -1.0, 2.0]
        # "typed" is stored in float_data, not raw_data: decoded through onnx.numpy_helper
        assert src.read("typed").tolist() == [0.25, 0.5, 0.75]
        assert src.read_raw("w") == np.array([[1, 2], [3, -4.5]], np.float32).tobytes()
        assert src.read_raw("typed") == np.array([0.25, 0.5, 0.75], np.float32).tobytes()
        assert src.meta.format == "onnx" and src.meta.config["producer_name"] == "sovereval-golden"
    finally:
        src.close()


def test_external_data_inside_the_directory_is_read(tmp_path: Path) -> None:
    vals = np.array([1.0, -2.0, 3.5, 0.125], np.float32)
    (tmp_path / "w.bin").write_bytes(b"\xaa" * 8 + vals.tobytes())
    (tmp_path / "m.onnx").write_bytes(onnx_with_external("w.bin", offset=8, length=16))
    src = OnnxSource(tmp_path / "m.onnx")
    try:
        np.testing.assert_array_equal(src.read("ext"), vals)
        assert src.read_raw("ext") == vals.tobytes()
        assert src.meta.files == ("m.onnx", "w.bin")
    finally:
        src.close()


@pytest.mark.parametrize("location", ["../w.bin", "/etc/passwd", "sub/../../w.bin", "a\\..\\w.bin"])
def test_external_data_outside_the_directory_is_hostile(tmp_path: Path, location: str) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    (model_dir / "m.onnx").write_bytes(onnx_with_external(location))
    with pytest.raises(HostileInputError, match=r"m\.onnx"):
        open_source(model_dir / "m.onnx")


def test_external_data_length_must_match_shape_and_file(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 32)
    (tmp_path / "m.onnx").write_bytes(onnx_with_external("w.bin", offset=0, length=12))
    with pytest.raises(HostileInputError, match="16-byte shape"):
        open_source(tmp_path / "m.onnx")
    (tmp_path / "m.onnx").write_bytes(onnx_with_external("w.bin", offset=24, length=16))
    with pytest.raises(HostileInputError, match="does not"):
        open_source(tmp_path / "m.onnx")


def test_missing_external_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(onnx_with_external("absent.bin"))
    with pytest.raises(InputError, match="missing"):
        open_source(tmp_path / "m.onnx")
