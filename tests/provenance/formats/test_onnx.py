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


def _if_model(depth: int, tmp: Path) -> Path:
    """A model whose only weights sit in nested ``If`` branches and a ``Constant`` node, as
    exporters of multi-rate audio models write them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def graph(level: int) -> onnx.GraphProto:
        w = numpy_helper.from_array(np.full((2, 3), float(level), np.float32), name="w")
        out = helper.make_tensor_value_info(f"y{level}", TensorProto.FLOAT, None)
        nodes = [helper.make_node("Identity", ["w"], [f"y{level}"])]
        if level < depth:
            sub = graph(level + 1)
            nodes.append(
                helper.make_node(
                    "If", ["c"], [f"z{level}"], name=f"if{level}", then_branch=sub, else_branch=sub
                )
            )
        return helper.make_graph(nodes, f"g{level}", [], [out], initializer=[w])

    g = graph(0)
    const = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5, name="")
    g.node.append(helper.make_node("Constant", [], ["k"], value=const))
    path = tmp / "if.onnx"
    onnx.save(helper.make_model(g), str(path))
    return path


def test_weights_in_subgraphs_and_constant_nodes_are_read(tmp_path: Path) -> None:
    src = open_source(_if_model(2, tmp_path))
    names = set(src.infos())
    # top level, both branches of if0, and both branches of the if1 inside each of them
    assert names == {
        "w", "k",
        "if0/then_branch/w", "if0/else_branch/w",
        "if0/then_branch/if1/then_branch/w", "if0/then_branch/if1/else_branch/w",
        "if0/else_branch/if1/then_branch/w", "if0/else_branch/if1/else_branch/w",
    }  # fmt: skip
    assert src.read("if0/then_branch/if1/else_branch/w").tolist() == [[2.0] * 3] * 2
    assert src.read("k").tolist() == [[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]]


def test_subgraphs_nested_too_deep_are_hostile(tmp_path: Path) -> None:
    with pytest.raises(HostileInputError, match="nested deeper"):
        open_source(_if_model(10, tmp_path))
