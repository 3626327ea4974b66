"""``open_source``: one entry point for every checkpoint file or model directory.

The format is decided by the file's first bytes, not its name: a ``.safetensors`` that is really
a pickle must never reach a parser that trusts it. Extensions that pin a format (``.safetensors``,
``.gguf``, ``.onnx``) must agree with the content, otherwise the file is refused as hostile.
Every failure is an :class:`~sovereval.errors.InputError` subclass with a one-line message.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats import hfdir
from sovereval.provenance.formats.base import TensorSource

PINNED = {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx"}


def sniff(head: bytes) -> str | None:
    """Format named by a file's first bytes (>= 16 of them where the file has them)."""
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PK\x03\x04"):
        return "pytorch"  # torch.save's zip container
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pytorch-legacy"  # a bare pickle stream (protocol 2..5)
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"  # u64 header length, then the JSON header's opening brace
    if len(head) >= 2 and head[0] == 0x08 and head[1] < 0x80:
        return "onnx"  # protobuf field 1 (ir_version), varint
    return None


def _open_file(path: Path, *, allow_pytorch: bool) -> TensorSource:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if not head:
        raise HostileInputError(f"{path}: file is empty")
    kind = sniff(head)
    pinned = PINNED.get(path.suffix.lower())
    if kind in ("pytorch", "pytorch-legacy") and not allow_pytorch:
        named = f" (named {path.suffix}, but it is one)" if pinned else ""
        raise UnsupportedFormatError(f"{path}: is a PyTorch pickle{named}; {hfdir.PYTORCH_HINT}")
    if pinned and kind is None:
        kind = pinned  # no other format's magic: let the pinned parser say what is wrong
    if pinned and kind != pinned:
        raise HostileInputError(
            f"{path}: named {path.suffix} but its content is {kind or 'unrecognised'}"
        )
    return _open_kind(path, kind)


def _open_kind(path: Path, kind: str | None) -> TensorSource:
    if kind == "safetensors":
        from sovereval.provenance.formats.safetensors_io import SafetensorsSource

        return SafetensorsSource(path)
    if kind == "gguf":
        from sovereval.provenance.formats.gguf_io import GGUFSource

        return GGUFSource(path)
    if kind == "onnx":
        from sovereval.provenance.formats.onnx_io import OnnxSource

        return OnnxSource(path)
    if kind == "pytorch":
        from sovereval.provenance.formats.pytorch_io import PyTorchSource

        return PyTorchSource(path)
    if kind == "pytorch-legacy":
        raise UnsupportedFormatError(
            f"{path}: legacy (pre-zip) PyTorch pickle; re-save it with torch.save or convert it "
            "to safetensors"
        )
    raise UnsupportedFormatError(
        f"{path}: unrecognised checkpoint format (expected safetensors, GGUF, ONNX or PyTorch)"
    )


def _open_dir(root: Path, *, allow_pytorch: bool) -> TensorSource:
    layout = hfdir.locate(root, allow_pytorch=allow_pytorch)
    parts: list[tuple[str, TensorSource]] = []
    try:
        for prefix, file in layout.files:
            if not file.is_file():
                raise InputError(f"{file}: listed weight file does not exist")
            parts.append((prefix, _open_file(file, allow_pytorch=allow_pytorch)))
        inner = parts[0][1].meta
        meta = hfdir.read_meta(root, inner.format, [f for _, f in layout.files])
        meta = dataclasses.replace(
            meta,
            config=meta.config or inner.config,
            tokenizer=meta.tokenizer or inner.tokenizer,
        )
        return hfdir.CompositeSource(parts, meta, layout.index or None)
    except BaseException:
        for _, src in parts:
            src.close()
        raise


def open_source(path: Path, *, allow_pytorch: bool = False) -> TensorSource:
    """Open a checkpoint file or a Hugging Face model directory as a :class:`TensorSource`.

    Raises :class:`~sovereval.errors.InputError` (or its subclasses ``HostileInputError`` and
    ``UnsupportedFormatError``) with one line naming the file and the problem; never another
    exception for a bad file. PyTorch pickles are refused unless ``allow_pytorch`` is set, and
    are then read with ``torch.load(weights_only=True)`` only.
    """
    path = Path(path)
    if path.is_dir():
        return _open_dir(path, allow_pytorch=allow_pytorch)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_file():  # a FIFO or device would block or never end
        raise InputError(f"{path}: not a regular file or directory")
    return _open_file(path, allow_pytorch=allow_pytorch)
