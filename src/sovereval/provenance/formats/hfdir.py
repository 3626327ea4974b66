"""Hugging Face model directories: where the weights are, and the facts beside them.

A directory is read as a layout (which weight files, under which name prefix) plus metadata
(config, tokenizer, licence texts). Every JSON file is size-capped and parsed strictly; a broken
one raises :class:`~sovereval.errors.InputError` naming the file. File names taken from inside
the directory (a sharded index's ``weight_map``, ``modules.json`` paths) are validated so that
nothing outside the directory is ever opened through them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats.base import FloatArray, SourceMeta, TensorInfo, TensorSource

MAX_JSON_BYTES = 64 * 1024 * 1024
"""tokenizer.json of large-vocabulary models reaches ~10 MB; anything past 64 MB is refused."""
MAX_TEXT_BYTES = 1024 * 1024
"""LICENSE / NOTICE / README texts are cut at 1 MB (they are evidence, not data)."""
TEXT_PREFIXES = ("LICENSE", "LICENCE", "NOTICE", "COPYING", "README")
PYTORCH_HINT = (
    "PyTorch pickles are only read with --allow-pytorch (allow_pytorch=True), and then only with "
    "torch.load(weights_only=True)"
)


def read_json(path: Path, *, cap: int = MAX_JSON_BYTES) -> Any:
    """Parse one JSON file, refusing oversized, non-UTF-8 or malformed content."""
    try:
        size = path.stat().st_size
        if size > cap:
            raise HostileInputError(f"{path}: JSON file of {size} bytes exceeds the {cap}-byte cap")
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: broken JSON ({str(exc).splitlines()[0][:80]})") from None


def safe_member(root: Path, rel: object, what: str, owner: Path | None = None) -> Path:
    """``root / rel`` if ``rel`` is a relative path that stays inside ``root``, else raise.

    ``owner`` is the file that named ``rel`` (for the message; defaults to ``root``).
    """
    who = owner or root
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise HostileInputError(f"{who}: {what} names an invalid file {str(rel)[:80]!r}")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or os.path.isabs(rel):
        raise HostileInputError(f"{who}: {what} names {rel!r}, outside the model directory")
    return root.joinpath(*parts)


@dataclass(frozen=True)
class Layout:
    """Which weight files make up a directory's model."""

    files: tuple[tuple[str, Path], ...]
    """(name prefix, weight file); the prefix is ``""`` except for sentence-transformers heads."""
    index: Mapping[str, str] = field(default_factory=dict)
    """Sharded index ``weight_map`` (tensor name -> shard file name), if there is one."""


def _single(root: Path, pattern: str) -> Path | None:
    found = sorted(p for p in root.glob(pattern) if p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:5])
        raise UnsupportedFormatError(f"{root}: several {pattern} files ({names}); pass one file")
    return found[0] if found else None


def _sharded(root: Path, index_name: str) -> Layout:
    index = read_json(root / index_name)
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict) or not wmap:
        raise HostileInputError(f"{root / index_name}: 'weight_map' must be a non-empty object")
    shards: dict[str, Path] = {}
    for tensor, fname in wmap.items():
        if not isinstance(fname, str) or fname not in shards:
            shards[fname] = safe_member(root, fname, f"{index_name} entry {tensor!r}")
    return Layout(tuple(("", p) for p in shards.values()), dict(wmap))


def locate(root: Path, *, allow_pytorch: bool) -> Layout:
    """Find the weights of a Hugging Face (or sentence-transformers) model directory."""
    if (root / "model.safetensors.index.json").is_file():
        return _sharded(root, "model.safetensors.index.json")
    for pattern in (
        "model.safetensors",
        "*.safetensors",
        "*.gguf",
        "model.onnx",
        "onnx/model.onnx",
    ):
        found = _single(root, pattern)
        if found is not None:
            return Layout((("", found),))
    if (root / "modules.json").is_file():
        return _sentence_transformers(root, allow_pytorch=allow_pytorch)
    torch_files = ("pytorch_model.bin.index.json", "pytorch_model.bin", "model.pt", "model.pth")
    present = [n for n in torch_files if (root / n).is_file()]
    if present and not allow_pytorch:
        raise UnsupportedFormatError(f"{root}: only PyTorch weights ({present[0]}); {PYTORCH_HINT}")
    if present and present[0].endswith(".index.json"):
        return _sharded(root, present[0])
    if present:
        return Layout((("", root / present[0]),))
    raise InputError(
        f"{root}: no model weights found (looked for *.safetensors, sharded index, *.gguf, "
        "model.onnx, pytorch_model.bin)"
    )


def _sentence_transformers(root: Path, *, allow_pytorch: bool) -> Layout:
    modules = read_json(root / "modules.json")
    if not isinstance(modules, list):
        raise InputError(f"{root / 'modules.json'}: expected a JSON list of modules")
    files: list[tuple[str, Path]] = []
    for mod in modules:
        if not isinstance(mod, dict):
            continue
        kind, rel = str(mod.get("type", "")), mod.get("path", "")
        if not kind.endswith((".Transformer", ".Dense")) or not rel:
            continue
        sub = safe_member(root, rel, "modules.json")
        if sub.is_dir():
            sub_layout = locate(sub, allow_pytorch=allow_pytorch)
            prefix = "" if kind.endswith(".Transformer") else f"{rel}."
            files += [(prefix + p, f) for p, f in sub_layout.files]
    if not files:
        raise InputError(f"{root}: modules.json lists no module with weights")
    return Layout(tuple(files))


def _text(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")


def tokenizer_facts(tok: Mapping[str, Any]) -> dict[str, Any]:
    """``tokenizer.json`` -> {type, vocab (by id, added tokens included), merges, special_tokens}.

    Merges come as ``"a b"`` strings (old form) or ``["a", "b"]`` pairs (new form); both become
    ``"a b"`` so they compare with GGUF's ``tokenizer.ggml.merges``.
    """
    model = tok.get("model") if isinstance(tok.get("model"), dict) else {}
    assert isinstance(model, dict)
    vocab = model.get("vocab", {})
    pairs: dict[int, str] = {}
    if isinstance(vocab, dict):
        pairs = {int(i): str(t) for t, i in vocab.items() if isinstance(i, int)}
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        pairs = {i: str(e[0]) for i, e in enumerate(vocab) if isinstance(e, list) and e}
    special: dict[str, Any] = {}
    added_tokens = tok.get("added_tokens")
    for added in added_tokens if isinstance(added_tokens, list) else []:
        if isinstance(added, dict) and isinstance(added.get("id"), int):
            pairs[int(added["id"])] = str(added.get("content", ""))
            if added.get("special"):
                special.setdefault("added_special", []).append(str(added.get("content", "")))
    merges = []
    raw_merges = model.get("merges")
    for m in raw_merges if isinstance(raw_merges, list) else []:
        if isinstance(m, str):
            merges.append(m)
        elif isinstance(m, list) and len(m) == 2:
            merges.append(f"{m[0]} {m[1]}")
    return {
        "type": str(model.get("type", "")),
        "vocab": [t for _, t in sorted(pairs.items())],
        "merges": merges,
        "special_tokens": special,
    }


def _special_from(obj: Any, out: dict[str, Any]) -> None:
    if not isinstance(obj, dict):
        return
    for key, val in obj.items():
        if key.endswith("_token") and isinstance(val, str | dict):
            out[key] = val.get("content", "") if isinstance(val, dict) else val


def read_meta(root: Path, fmt: str, weight_files: Sequence[Path]) -> SourceMeta:
    """Config, tokenizer and licence texts of a model directory."""
    files = [str(p.relative_to(root)) for p in weight_files]
    config: dict[str, Any] = {}
    if (root / "config.json").is_file():
        cfg = read_json(root / "config.json")
        if not isinstance(cfg, dict):
            raise InputError(f"{root / 'config.json'}: expected a JSON object")
        config = cfg
        files.append("config.json")
    tokenizer: dict[str, Any] = {}
    if (root / "tokenizer.json").is_file():
        tok = read_json(root / "tokenizer.json")
        if not isinstance(tok, dict):
            raise InputError(f"{root / 'tokenizer.json'}: expected a JSON object")
        tokenizer = tokenizer_facts(tok)
        files.append("tokenizer.json")
    elif (root / "vocab.txt").is_file():
        tokenizer = {"type": "WordPiece", "vocab": _text(root / "vocab.txt").splitlines(),
                     "merges": [], "special_tokens": {}}  # fmt: skip
        files.append("vocab.txt")
    special = dict(tokenizer.get("special_tokens", {}))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (root / name).is_file():
            _special_from(read_json(root / name), special)
            files.append(name)
    if tokenizer or special:
        tokenizer = {**tokenizer, "special_tokens": special}
    texts = {
        p.name: _text(p)
        for p in sorted(root.iterdir())
        if p.is_file() and p.name.upper().startswith(TEXT_PREFIXES)
    }
    files += sorted(texts)
    return SourceMeta(format=fmt, path=str(root), config=config, tokenizer=tokenizer,
                      files=tuple(files), text_files=texts)  # fmt: skip


class CompositeSource:
    """Several sources (shards, sentence-transformers heads) seen as one."""

    def __init__(
        self,
        parts: Sequence[tuple[str, TensorSource]],
        meta: SourceMeta,
        index: Mapping[str, str] | None = None,
    ) -> None:
        self.meta = meta
        self._parts = [s for _, s in parts]
        self._route: dict[str, tuple[TensorSource, str]] = {}
        self._infos: dict[str, TensorInfo] = {}
        for prefix, src in parts:
            for name, info in src.infos().items():
                key = prefix + name
                if key in self._route:
                    self.close()
                    raise HostileInputError(f"{meta.path}: tensor {key!r} appears in two files")
                self._route[key] = (src, name)
                self._infos[key] = TensorInfo(key, info.shape, info.dtype, info.nbytes)
        if index is not None:
            self._check_index(index)

    def _check_index(self, index: Mapping[str, str]) -> None:
        for tensor, fname in index.items():
            src = self._route.get(tensor, (None, ""))[0]
            if src is None or Path(src.meta.path).name != Path(fname).name:
                self.close()
                raise HostileInputError(
                    f"{self.meta.path}: index maps {tensor!r} to {fname}, which does not hold it"
                )
        extra = set(self._route) - set(index)
        if extra:
            self.close()
            raise HostileInputError(
                f"{self.meta.path}: shards hold {len(extra)} tensors missing from the index, "
                f"e.g. {sorted(extra)[0]!r}"
            )

    def infos(self) -> Mapping[str, TensorInfo]:
        return self._infos

    def _get(self, name: str) -> tuple[TensorSource, str]:
        try:
            return self._route[name]
        except KeyError:
            raise InputError(f"{self.meta.path}: no tensor named {name!r}") from None

    def read(self, name: str) -> FloatArray:
        src, inner = self._get(name)
        return src.read(inner)

    def read_raw(self, name: str) -> bytes:
        src, inner = self._get(name)
        return src.read_raw(inner)

    def close(self) -> None:
        for src in self._parts:
            src.close()
