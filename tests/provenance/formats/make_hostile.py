"""Regenerate the golden and hostile checkpoint files used by the reader tests.

Run ``python tests/provenance/formats/make_hostile.py`` from the repository root. Every file is
deterministic (fixed arrays, no timestamps), so the committed bytes can be compared with a fresh
regeneration. The expected values of the golden files are the functions below.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
HOSTILE = HERE / "hostile"


# ---------------------------------------------------------------- golden contents


def golden_safetensors_arrays() -> dict[str, np.ndarray]:
    return {
        "a.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,  # 0, .25, ... 1.25
        "b.half": np.array([1.0, -2.0, 0.5], dtype=np.float16),
        "c.ids": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "d.empty": np.zeros((0, 4), dtype=np.float32),
    }


def q8_block_values() -> np.ndarray:
    """(2, 64) values exactly representable by Q8_0: k / 64 with |k| <= 127, 127 in each block.

    Q8_0 stores d = max|x| / 127 per 32-value block; with max|x| = 127/64, d = 1/64 (exact in
    f16) and every x = k/64 quantises to k exactly.
    """
    k = (np.arange(128, dtype=np.int64) * 37 % 255) - 127
    k = k.reshape(2, 64)
    k[:, 0] = 127
    k[:, 32] = -127
    return (k / 64).astype(np.float32)


def q4_block_values() -> np.ndarray:
    """(2, 32) values exactly representable by Q4_0: k / 16, k in [-8, 7], -8 in each block.

    Q4_0 stores d = x_max / -8 where x_max has the largest magnitude: -8/16 gives d = 1/16, and
    x = k/16 quantises to trunc(k + 8.5) = k + 8, decoded as (k + 8 - 8) / 16 = x.
    """
    k = (np.arange(64, dtype=np.int64) * 5 % 16) - 8
    k = k.reshape(2, 32)
    k[:, 0] = -8
    return (k / 16).astype(np.float32)


def golden_gguf_arrays() -> dict[str, tuple[np.ndarray, str]]:
    """GGUF name -> (values in PyTorch order, stored type)."""
    return {
        "token_embd.weight": (q8_block_values(), "Q8_0"),
        "blk.0.ffn_up.weight": (q4_block_values(), "Q4_0"),
        "output_norm.weight": (np.array([1.0, 0.5, -0.25, 2.0], dtype=np.float32), "F32"),
        "blk.0.attn_norm.weight": (np.array([1.5, -3.0], dtype=np.float16), "F16"),
    }


def write_golden_gguf(path: Path, arrays: dict[str, tuple[np.ndarray, str]], **kv: Any) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), kv.pop("arch", "testarch"))
    w.add_string("general.name", "golden")
    w.add_string("general.license", "apache-2.0")
    for key, val in kv.items():
        if isinstance(val, list) and val and isinstance(val[0], str):
            w.add_array(key, val)
        elif isinstance(val, float):
            w.add_float32(key, val)
        else:
            w.add_uint32(key, int(val))
    for name, (arr, qtype) in arrays.items():
        if qtype in ("F32", "F16"):
            w.add_tensor(name, arr)
        else:
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType[qtype])
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType[qtype])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def golden_onnx_bytes() -> bytes:
    import onnx
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.array([[1.0, 2.0], [3.0, -4.5]], dtype=np.float32), "w")
    h = numpy_helper.from_array(np.array([0.5, -1.0, 2.0], dtype=np.float16), "h")
    typed = helper.make_tensor("typed", onnx.TensorProto.FLOAT, [3], [0.25, 0.5, 0.75])
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2])],
        initializer=[w, h, typed],
    )  # fmt: skip
    model = helper.make_model(graph, producer_name="sovereval-golden", ir_version=9,
                              opset_imports=[helper.make_opsetid("", 17)])  # fmt: skip
    return bytes(model.SerializeToString())


def onnx_with_external(location: str, offset: int = 0, length: int = 16) -> bytes:
    """An ONNX model whose one initializer (4 x f32) lives at ``location`` (external data)."""
    import onnx
    from onnx import helper

    t = onnx.TensorProto()
    t.name, t.data_type = "ext", onnx.TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph([], "g", [], [], initializer=[t])
    model = helper.make_model(graph, ir_version=9, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def write_golden() -> None:
    from safetensors.numpy import save_file

    GOLDEN.mkdir(exist_ok=True)
    save_file(golden_safetensors_arrays(), str(GOLDEN / "tiny.safetensors"), metadata={"k": "v"})
    write_golden_gguf(GOLDEN / "tiny.gguf", golden_gguf_arrays())
    (GOLDEN / "tiny.onnx").write_bytes(golden_onnx_bytes())


# ---------------------------------------------------------------- hostile files


def st_bytes(header: Any, data: bytes = b"", *, raw: bytes | None = None) -> bytes:
    body = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


def gguf_bytes(n_tensors: int, n_kv: int, rest: bytes = b"", version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + rest


def gguf_str(s: str) -> bytes:
    return struct.pack("<Q", len(s.encode())) + s.encode()


def gguf_tensor_info(name: str, dims: list[int], qtype: int, offset: int) -> bytes:
    out = gguf_str(name) + struct.pack("<I", len(dims))
    return out + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", qtype, offset)


PICKLE_CALLING_PRINT = (
    b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01c__builtin__\nprint\nq\x02X\n\x00\x00\x00unpickled!q\x03"
    b"\x85q\x04Rq\x05s."
)
PICKLE4_CALLING_PRINT = b"\x80\x04\x95.\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01w\x94\x8c\x08builtins\x94\x8c\x05print\x94\x93\x94\x8c\nunpickled!\x94\x85\x94R\x94s."
"""``pickle.dumps({"w": _PrintReduce()}, protocol=2 / 4)`` written out as bytes: generating it at test
time depends on what ``print`` is at that moment (some libraries replace ``builtins.print``)."""


class _PrintReduce:
    """Pickles as a call to ``builtins.print`` (harmless, but code execution all the same)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (print, ("unpickled!",))


def _zip_bomb() -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("archive/data.pkl", b"\x00" * (16 * 1024 * 1024)),
                           ("archive/version", b"3\n")):  # fmt: skip
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: reproducible
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def hostile_files() -> dict[str, bytes]:
    """File name (relative to ``hostile/``) -> bytes. Directory cases use ``dir/file`` names."""
    good = (GOLDEN / "tiny.safetensors").read_bytes()
    ggood = (GOLDEN / "tiny.gguf").read_bytes()
    f32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return {
        "empty.safetensors": b"",
        "empty.gguf": b"",
        "st_truncated.safetensors": good[: len(good) // 2],
        "st_short_prefix.safetensors": b"\x10\x00\x00",
        "st_header_past_eof.safetensors": struct.pack("<Q", 1000) + b'{"a": 1}',
        "st_header_huge.safetensors": struct.pack("<Q", 2**62) + b"{" + b" " * 64,
        "st_non_utf8.safetensors": st_bytes(None, raw=b'{"\xff\xfe": 1}'),
        "st_json_list.safetensors": st_bytes([1, 2, 3]),
        "st_deep_json.safetensors": st_bytes(None, raw=b"{" + b'"a":' * 1 + b"[" * 100000),
        "st_overlap.safetensors": st_bytes({"a": f32x2, "b": f32x2}, b"\x00" * 8),
        "st_out_of_bounds.safetensors": st_bytes(
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\x00" * 8
        ),
        "st_shape_mismatch.safetensors": st_bytes(
            {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\x00" * 8
        ),
        "st_negative_dim.safetensors": st_bytes(
            {"a": {"dtype": "F32", "shape": [-2, -1], "data_offsets": [0, 8]}}, b"\x00" * 8
        ),
        "st_huge_dim.safetensors": st_bytes(
            {"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}, b"\x00" * 8
        ),
        "st_unknown_dtype.safetensors": st_bytes(
            {"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 8]}}, b"\x00" * 8
        ),
        "st_duplicate_key.safetensors": st_bytes(
            None,
            b"\x00" * 8,
            raw=b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
            b'"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        ),
        "st_hole.safetensors": st_bytes(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\x00" * 8
        ),
        "st_is_pickle.safetensors": PICKLE_CALLING_PRINT,
        "gguf_truncated.gguf": ggood[:40],
        "gguf_bad_version.gguf": gguf_bytes(0, 0, version=99),
        "gguf_absurd_tensor_count.gguf": gguf_bytes(2**60, 0),
        "gguf_absurd_kv_count.gguf": gguf_bytes(0, 2**40),
        "gguf_huge_array.gguf": gguf_bytes(
            0, 1, gguf_str("a") + struct.pack("<IIQ", 9, 0, 2**62) + b"\x00" * 64
        ),
        "gguf_huge_string.gguf": gguf_bytes(0, 1, gguf_str("a") + struct.pack("<IQ", 8, 2**50)),
        "gguf_unknown_value_type.gguf": gguf_bytes(0, 1, gguf_str("a") + struct.pack("<I", 77)),
        "gguf_offset_past_eof.gguf": gguf_bytes(
            1, 0, gguf_tensor_info("t", [8], 0, 2**40) + b"\x00" * 64
        ),
        "gguf_unknown_tensor_type.gguf": gguf_bytes(
            1, 0, gguf_tensor_info("t", [8], 255, 0) + b"\x00" * 64
        ),
        "gguf_too_many_dims.gguf": gguf_bytes(1, 0, gguf_tensor_info("t", [1] * 9, 0, 0)),
        "gguf_bad_alignment.gguf": gguf_bytes(
            0, 1, gguf_str("general.alignment") + struct.pack("<II", 4, 3)
        ),
        "onnx_traversal.onnx": onnx_with_external("../secret.bin"),
        "onnx_absolute.onnx": onnx_with_external("/etc/passwd"),
        "onnx_out_of_bounds.onnx": onnx_with_external("weights.bin", offset=8, length=16),
        "weights.bin": b"\x00" * 16,
        "onnx_garbage.onnx": b"\x08\x07" + b"\xff" * 64,
        "pickle.bin": PICKLE4_CALLING_PRINT,
        "zip_bomb.pt": _zip_bomb(),
        "dir_no_weights/config.json": b'{"model_type": "bert"}',
        "dir_traversal/model.safetensors.index.json": json.dumps(
            {"weight_map": {"a.weight": "../tiny.safetensors"}}
        ).encode(),
        "dir_broken_config/model.safetensors": good,
        "dir_broken_config/config.json": b'{"hidden_size": 4,',
        "dir_pytorch_only/pytorch_model.bin": PICKLE4_CALLING_PRINT,
    }


def write_hostile() -> None:
    for rel, data in hostile_files().items():
        target = HOSTILE / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


if __name__ == "__main__":
    write_golden()
    write_hostile()
    print(f"wrote {GOLDEN} and {HOSTILE}")
