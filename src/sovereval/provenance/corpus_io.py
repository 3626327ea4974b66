"""Writers for corpus transforms: safetensors (F32/F16/BF16), GGUF (via the ``gguf`` package)
and int8 ONNX (via the ``onnx`` package, weights as QuantizeLinear-style int8 + scale)."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]


def to_bf16_bits(x: Arr) -> npt.NDArray[np.uint16]:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def write_safetensors(path: Path, tensors: Mapping[str, Arr], *, dtype: str = "bf16") -> None:
    """``dtype``: ``bf16``, ``f16``, ``f32`` (cast float tensors) or ``keep``."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in tensors.items():
        a = np.asarray(arr)
        if dtype == "bf16" and a.dtype.kind == "f":
            raw, tag = to_bf16_bits(a).tobytes(), "BF16"
        elif dtype == "f16" and a.dtype.kind == "f":
            raw, tag = np.ascontiguousarray(a, dtype=np.float16).tobytes(), "F16"
        elif dtype == "f32" and a.dtype.kind == "f":
            raw, tag = np.ascontiguousarray(a, dtype=np.float32).tobytes(), "F32"
        else:
            tags = {
                "float32": "F32",
                "float16": "F16",
                "int64": "I64",
                "int32": "I32",
                "int8": "I8",
            }
            raw, tag = np.ascontiguousarray(a).tobytes(), tags[str(a.dtype)]
        header[name] = {
            "dtype": tag,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def requantise_gguf(src: Path, dest: Path, qtype: str) -> None:
    """Re-quantise every 2-D block-quantised tensor of ``src`` to ``qtype`` (``Q8_0``...),
    keeping the key-value metadata and every other tensor's stored bytes (llama.cpp's own
    re-quantisation path: dequantise, quantise)."""
    import gguf
    from gguf import GGMLQuantizationType as Q

    reader = gguf.GGUFReader(str(src))
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
    writer = gguf.GGUFWriter(str(dest), arch)
    for key, fld in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = fld.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = fld.types[-1]
            vals = [fld.parts[i] for i in fld.data]
            if sub == gguf.GGUFValueType.STRING:
                writer.add_array(key, [str(bytes(v), "utf-8") for v in vals])
            else:
                writer.add_array(key, [v.tolist()[0] for v in vals])
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_string(key, str(bytes(fld.parts[-1]), "utf-8"))
        else:
            writer.add_key_value(key, fld.parts[-1].tolist()[0], vtype)
    target = getattr(Q, qtype)
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        if t.tensor_type in (Q.F32, Q.F16) or len(shape) < 2:
            writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        q = gguf.quants.quantize(values, target)
        writer.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=target)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_int8_onnx(path: Path, tensors: Mapping[str, Arr], *, producer: str) -> None:
    """An ONNX graph whose 2-D weights are stored as int8 with a per-row float scale and a
    zero point, dequantised by ``DequantizeLinear`` (as onnxruntime's dynamic quantiser and
    Optimum's int8 exports store them); other tensors stay float32. The graph outputs every
    dequantised weight so that nothing is dead code."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = []
    nodes = []
    outputs = []
    for i, (name, arr) in enumerate(tensors.items()):
        a = np.asarray(arr, dtype=np.float32)
        if a.ndim == 2:
            scale = np.maximum(np.abs(a).max(axis=1), 1e-12) / 127.0
            q = np.clip(np.rint(a / scale[:, None]), -127, 127).astype(np.int8)
            qn, sn, zn = (
                f"onnx::MatMul_{i}_quantized",
                f"onnx::MatMul_{i}_scale",
                f"onnx::MatMul_{i}_zero_point",
            )
            inits += [
                numpy_helper.from_array(q, qn),
                numpy_helper.from_array(scale.astype(np.float32), sn),
                numpy_helper.from_array(np.zeros(a.shape[0], np.int8), zn),
            ]
            out = f"deq_{i}"
            nodes.append(
                helper.make_node(
                    "DequantizeLinear", [qn, sn, zn], [out], axis=0, name=f"DequantizeLinear_{i}"
                )
            )
            outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, list(a.shape)))
        else:
            inits.append(numpy_helper.from_array(a, name))
            nodes.append(helper.make_node("Identity", [name], [f"id_{i}"], name=f"Identity_{i}"))
            outputs.append(
                helper.make_tensor_value_info(f"id_{i}", TensorProto.FLOAT, list(a.shape))
            )
    graph = helper.make_graph(nodes, "int8_export", [], outputs, initializer=inits)
    model = helper.make_model(
        graph, producer_name=producer, opset_imports=[helper.make_opsetid("", 13)]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
