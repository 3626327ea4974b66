"""Hardened GGUF reader: own bounds-checked header walk, ``gguf.quants`` for dequantisation.

``gguf.GGUFReader`` is not used to parse: it trusts the array lengths it reads (a crafted
``count`` makes its loop spin past end-of-file without advancing, i.e. it hangs), it views
tensor data without checking the file holds it, and it needs ~1.8 s to index the 135M SmolLM2
header because it builds a numpy view per string. The walk below checks every count against
the bytes left before looping, caps strings, dims and counts, and verifies that each tensor's
data lies inside the file, is aligned and does not overlap another. Quantised blocks are then
decoded with ``gguf.quants.dequantize`` (the reference numpy port of ggml's kernels).

Names are translated to Hugging Face names (``blk.3.attn_q.weight`` ->
``model.layers.3.self_attn.q_proj.weight``) and llama.cpp's rotary row permutation of
``attn_q``/``attn_k`` is undone for llama-family architectures, so that a GGUF and the same
model's safetensors line up tensor for tensor. The original name stays in :attr:`gguf_names`.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats.base import FloatArray, SourceMeta, TensorInfo
from sovereval.provenance.formats.safetensors_io import decode, release

MAX_COUNT = 1_000_000
"""Cap on tensor count, key/value count and array length (SmolLM2: 272 / 33 / 49152)."""
MAX_STRING = 64 * 1024 * 1024
MAX_DIMS = 8
MAX_DIM = 2**40
MAX_NEST = 3

PERMUTED_ARCHS = frozenset({"llama"})
"""Architectures whose q/k rows llama.cpp's ``LlamaModel.permute`` reorders on conversion."""

_PLAIN = {0: "F32", 1: "F16", 30: "BF16", 28: "F64", 24: "I8", 25: "I16", 26: "I32", 27: "I64"}

# GGUF value types: id -> (struct format, size); 8 = string, 9 = array.
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}  # fmt: skip
_NP_SCALARS = {
    0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4",
    6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8",
}  # fmt: skip


class _Walker:
    """A cursor over the header bytes that refuses to read past the end."""

    def __init__(self, path: Path, buf: Any, size: int) -> None:
        self.path, self.buf, self.size, self.pos = path, buf, size, 0

    def fail(self, problem: str) -> HostileInputError:
        return HostileInputError(f"{self.path}: not a valid GGUF file: {problem}")

    def take(self, n: int) -> int:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"truncated at byte {self.pos} (needs {n} more bytes)")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, vtype: int) -> Any:
        fmt, n = _SCALARS[vtype]
        return struct.unpack_from(fmt, self.buf, self.take(n))[0]

    def u32(self) -> int:
        return int(self.scalar(4))

    def u64(self) -> int:
        return int(self.scalar(10))

    def string(self, cap: int = MAX_STRING) -> str:
        n = self.u64()
        if n > cap:
            raise self.fail(f"string of {n} bytes at byte {self.pos} exceeds the cap of {cap}")
        start = self.take(n)
        try:
            return bytes(self.buf[start : start + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"string at byte {start} is not UTF-8") from None

    def count(self, min_item: int, what: str) -> int:
        n = self.u64()
        if n > MAX_COUNT or n * min_item > self.size - self.pos:
            raise self.fail(f"{what} count {n} is impossible for a {self.size}-byte file")
        return n

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype)
        if vtype == 8:
            return self.string()
        if vtype == 9 and depth < MAX_NEST:
            itype = self.u32()
            if itype in _NP_SCALARS:
                n = self.count(_SCALARS[itype][1], "array")
                start = self.take(n * _SCALARS[itype][1])
                arr = np.frombuffer(self.buf, np.dtype(_NP_SCALARS[itype]), n, start)
                return arr.tolist()
            n = self.count(8 if itype == 8 else 12, "array")
            return [self.value(itype, depth + 1) for _ in range(n)]
        raise self.fail(f"unknown value type {vtype} at byte {self.pos}")


def parse_header(path: Path, buf: Any, size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Walk and validate the whole GGUF header; returns key/values and tensor records."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    w = _Walker(path, buf, size)
    if size < 4 or bytes(buf[:4]) != b"GGUF":
        raise w.fail("missing GGUF magic")
    w.take(4)
    version = w.u32()
    if version & 0xFFFF == 0:
        raise UnsupportedFormatError(f"{path}: big-endian GGUF is not supported; convert it")
    if version not in (2, 3):
        raise UnsupportedFormatError(f"{path}: GGUF version {version} is not supported (2, 3)")
    n_tensors = w.count(24, "tensor")
    n_kv = w.count(13, "key/value")
    kv: dict[str, Any] = {}
    for _ in range(n_kv):
        key = w.string(cap=65536)
        if key in kv:
            raise w.fail(f"duplicate key {key!r}")
        kv[key] = w.value(w.u32())
    tensors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(n_tensors):
        name = w.string(cap=65536)
        if name in seen:
            raise w.fail(f"duplicate tensor {name!r}")
        seen.add(name)
        n_dims = w.u32()
        if n_dims > MAX_DIMS:
            raise w.fail(f"tensor {name!r} has {n_dims} dims (max {MAX_DIMS})")
        dims = [w.u64() for _ in range(n_dims)]
        qtype, offset = w.u32(), w.u64()
        if any(d > MAX_DIM for d in dims):
            raise w.fail(f"tensor {name!r} has a dimension above 2^40")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(qtype)]
        except (ValueError, KeyError):
            raise UnsupportedFormatError(
                f"{path}: tensor {name!r} has unknown type {qtype}"
            ) from None
        numel = int(np.prod(dims, dtype=object)) if dims else 1
        if dims and dims[0] % block:
            raise w.fail(f"tensor {name!r} row of {dims[0]} is not a multiple of block {block}")
        tensors.append(
            {"name": name, "dims": dims, "qtype": qtype, "offset": offset,
             "nbytes": numel // block * type_size}
        )  # fmt: skip
    align = kv.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1) or align > 2**20:
        raise w.fail(f"general.alignment {align!r} is not a power of two")
    data_start = -(-w.pos // align) * align
    spans = []
    for t in tensors:
        t["start"] = data_start + t["offset"]
        if t["offset"] % align or t["start"] + t["nbytes"] > size:
            raise w.fail(
                f"tensor {t['name']!r} data [{t['start']}, +{t['nbytes']}) is misaligned or "
                f"beyond the end of the {size}-byte file"
            )
        spans.append((t["start"], t["start"] + t["nbytes"], t["name"]))
    spans.sort()
    for (_, end, prev), (begin, _, name) in itertools.pairwise(spans):
        if begin < end:
            raise w.fail(f"tensor {name!r} overlaps tensor {prev!r}")
    return kv, tensors


_LAYER = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "ffn_gate_up": "mlp.gate_up_proj",
}  # fmt: skip
_GLOBAL = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")


def hf_name(name: str) -> str:
    """llama.cpp tensor name -> Hugging Face (Llama-style) name; unknown names pass through."""
    m = _BLK.match(name)
    if m and m.group(2) in _LAYER:
        return f"model.layers.{m.group(1)}.{_LAYER[m.group(2)]}.{m.group(3)}"
    stem, _, suffix = name.rpartition(".")
    if stem in _GLOBAL and suffix in ("weight", "bias"):
        return f"{_GLOBAL[stem]}.{suffix}"
    return name


def unpermute_rows(w: FloatArray, n_head: int) -> FloatArray:
    """Invert llama.cpp's ``w.reshape(n_head, 2, d//n_head//2, *rest).swapaxes(1, 2)``.

    convert_hf_to_gguf interleaves the two rotary halves of each head's rows (HF rotates
    halves, GGML rotates adjacent pairs); this puts them back in HF order.
    """
    rows = w.shape[0]
    if n_head <= 0 or rows % (2 * n_head):
        return w
    half = rows // n_head // 2
    return np.ascontiguousarray(
        w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


_CONFIG_KEYS = {
    "embedding_length": "hidden_size", "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size", "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads", "vocab_size": "vocab_size",
    "rope.freq_base": "rope_theta", "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "attention.layer_norm_epsilon": "layer_norm_eps", "context_length": "max_position_embeddings",
    "attention.key_length": "head_dim", "expert_count": "num_local_experts",
}  # fmt: skip
_ARCH_CLASS = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
               "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM", "phi3": "Phi3ForCausalLM",
               "mistral": "MistralForCausalLM", "gpt2": "GPT2LMHeadModel", "bert": "BertModel"}  # fmt: skip
_SPECIAL = ("bos", "eos", "unknown", "padding", "sep", "cls", "mask")


def translate_config(kv: Mapping[str, Any]) -> dict[str, Any]:
    """GGUF key/values -> HF-style config keys, plus every small value under ``gguf``."""
    arch = str(kv.get("general.architecture", ""))
    cfg: dict[str, Any] = {"model_type": arch}
    if arch:
        cfg["architectures"] = [_ARCH_CLASS.get(arch, f"{arch}(gguf)")]
    for src, dst in _CONFIG_KEYS.items():
        if f"{arch}.{src}" in kv:
            cfg[dst] = kv[f"{arch}.{src}"]
    if "vocab_size" not in cfg and isinstance(kv.get("tokenizer.ggml.tokens"), list):
        cfg["vocab_size"] = len(kv["tokenizer.ggml.tokens"])
    for key in ("license", "name", "organization", "basename", "finetune", "base_model.0.name"):
        if f"general.{key}" in kv:
            cfg[f"general.{key}"] = kv[f"general.{key}"]
    cfg["gguf"] = {k: v for k, v in kv.items() if not isinstance(v, list) or len(v) <= 64}
    return cfg


def translate_tokenizer(kv: Mapping[str, Any]) -> dict[str, Any]:
    tokens = kv.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list):
        return {}
    special: dict[str, Any] = {}
    for role in _SPECIAL:
        tid = kv.get(f"tokenizer.ggml.{role}_token_id")
        if isinstance(tid, int) and 0 <= tid < len(tokens):
            hf_role = {"unknown": "unk", "padding": "pad"}.get(role, role)
            special[f"{hf_role}_token"] = tokens[tid]
            special[f"{hf_role}_token_id"] = tid
    merges = kv.get("tokenizer.ggml.merges", [])
    return {
        "type": kv.get("tokenizer.ggml.model", ""),
        "vocab": [str(t) for t in tokens],
        "merges": [str(m) for m in merges] if isinstance(merges, list) else [],
        "special_tokens": special,
    }


class GGUFSource:
    """A ``.gguf`` file: infos keyed by translated names, tensors dequantised on read."""

    def __init__(self, path: Path, *, translate_names: bool = True) -> None:
        self.path = path
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                if size == 0:
                    raise HostileInputError(f"{path}: not a valid GGUF file: file is empty")
                self._mm: mmap.mmap | None = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
        try:
            kv, records = parse_header(path, self._mm, size)
        except Exception:
            self.close()
            raise
        self.arch = str(kv.get("general.architecture", ""))
        self._records: dict[str, dict[str, Any]] = {}
        self._infos: dict[str, TensorInfo] = {}
        self.gguf_names: dict[str, str] = {}
        """Translated name -> name stored in the file."""
        from gguf.constants import GGMLQuantizationType

        for r in records:
            key = hf_name(r["name"]) if translate_names else r["name"]
            if key in self._records:
                key = r["name"]
            shape = tuple(int(d) for d in reversed(r["dims"]))
            dtype = _PLAIN.get(r["qtype"]) or GGMLQuantizationType(r["qtype"]).name
            self._records[key] = r
            self._infos[key] = TensorInfo(key, shape, dtype, int(r["nbytes"]))
            self.gguf_names[key] = r["name"]
        self._heads = self._head_counts(kv)
        self.meta = SourceMeta(
            format="gguf", path=str(path), config=translate_config(kv),
            tokenizer=translate_tokenizer(kv), files=(path.name,),
        )  # fmt: skip

    def _head_counts(self, kv: Mapping[str, Any]) -> tuple[Any, Any]:
        heads = kv.get(f"{self.arch}.attention.head_count")
        return heads, kv.get(f"{self.arch}.attention.head_count_kv", heads)

    def infos(self) -> Mapping[str, TensorInfo]:
        return self._infos

    def _record(self, name: str) -> dict[str, Any]:
        if self._mm is None:
            raise InputError(f"{self.path}: source is closed")
        key = name if name in self._records else next(
            (k for k, v in self.gguf_names.items() if v == name), name
        )  # fmt: skip
        if key not in self._records:
            raise InputError(f"{self.path}: no tensor named {name!r}")
        return self._records[key]

    def read_raw(self, name: str) -> bytes:
        r = self._record(name)
        assert self._mm is not None
        return bytes(self._mm[r["start"] : r["start"] + r["nbytes"]])

    def read(self, name: str) -> FloatArray:
        r = self._record(name)
        assert self._mm is not None
        shape = tuple(int(d) for d in reversed(r["dims"]))
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if r["qtype"] in _PLAIN:
            out = decode(self._mm, _PLAIN[r["qtype"]], r["start"], numel).reshape(shape)
        else:
            out = self._dequantize(r, shape)
        release(self._mm, r["start"], r["nbytes"])
        return self._unpermute(r, out)

    def _dequantize(self, r: dict[str, Any], shape: tuple[int, ...]) -> FloatArray:
        from gguf.constants import GGMLQuantizationType
        from gguf.quants import dequantize

        assert self._mm is not None
        qtype = GGMLQuantizationType(r["qtype"])
        raw = np.frombuffer(self._mm, np.uint8, r["nbytes"], r["start"])
        row_bytes = r["nbytes"] // max(1, int(np.prod(shape[:-1], dtype=np.int64)))
        try:
            deq = dequantize(raw.reshape(-1, row_bytes) if row_bytes else raw, qtype)
        except NotImplementedError:
            raise UnsupportedFormatError(
                f"{self.path}: tensor {r['name']!r}: dequantising {qtype.name} is not supported"
            ) from None
        except Exception as exc:
            raise HostileInputError(
                f"{self.path}: tensor {r['name']!r} cannot be dequantised ({exc})"
            ) from None
        return np.asarray(deq, dtype=np.float32).reshape(shape)

    def _unpermute(self, r: dict[str, Any], w: FloatArray) -> FloatArray:
        m = _BLK.match(r["name"])
        if self.arch not in PERMUTED_ARCHS or not m or m.group(2) not in ("attn_q", "attn_k"):
            return w
        layer = int(m.group(1))
        n_head, n_kv = (
            h[layer] if isinstance(h, list) and layer < len(h) else h for h in self._heads
        )
        n = n_head if m.group(2) == "attn_q" else n_kv
        return unpermute_rows(w, n) if isinstance(n, int) else w

    def close(self) -> None:
        mm, self._mm = self._mm, None
        if mm is not None:
            with contextlib.suppress(BufferError):
                mm.close()
