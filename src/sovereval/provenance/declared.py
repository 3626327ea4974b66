"""Declared evidence: what a checkpoint's config and model card *say* about its make-up.

Section 3 of the design orders provenance evidence cheapest first; the declared layer sits
between exact digests and aligned weight statistics. It reads architecture tags from the config
(``model_type``, ``architectures``, the ``model_type`` of each ``vision_config``/``audio_config``
sub-config, LLaVA-style ``mm_vision_tower`` references, ``_name_or_path``, GGUF
``general.base_model.*`` keys) and the ``base_model:`` entries of the model card's YAML
front-matter (the Hugging Face model-card metadata convention).

Why it is kept apart from weight evidence: open architectures and open code may be used under
the programme's rules ("every weight freshly initialised and trained by the team"). A
``qwen2_5_vl`` vision tower tag says the team *used Qwen2.5-VL's architecture*; only weight
statistics can say whether it used Qwen2.5-VL's *weights*. Every report object here therefore
carries ``kind == "declared"`` and a note saying so, and names vendor families without judging
them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sovereval.errors import InputError
from sovereval.provenance.formats.base import SourceMeta

DECLARED_NOTE = (
    "Declared evidence: what the config, tokenizer and model card state. A shared "
    "architecture, shared code or a shared tokenizer is not weight derivation; only weight "
    "evidence can show that weights were copied or derived."
)

#: Front-matter larger than this is refused (a model card's metadata is a few kB).
FRONT_MATTER_MAX_CHARS = 64_000
#: Sub-config nesting is followed this deep (real configs nest two levels at most).
_MAX_DEPTH = 4
#: At most this many values are kept from one list-valued field (hostile configs).
_MAX_LIST = 64
_MAX_VALUE_CHARS = 256

#: Config keys whose string values name an architecture or an origin.
_TAG_KEYS = frozenset(
    {
        "model_type",
        "architectures",
        "_name_or_path",
        "name_or_path",
        "mm_vision_tower",
        "vision_tower",
        "audio_tower",
        "mm_projector_type",
        "projector_type",
        "auto_map",
        "base_model",
        "general.architecture",
        "general.basename",
        "general.name",
    }
)
#: Vendor families recognised in tag values: (pattern on the lower-cased value, family).
#: The pattern must not be preceded by a letter, so ``llama`` does not fire inside ``mllama``.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("qwen", "Qwen (Alibaba)"),
    ("tongyi", "Qwen (Alibaba)"),
    ("mllama", "Llama (Meta)"),
    ("llama", "Llama (Meta)"),
    ("mistral", "Mistral"),
    ("mixtral", "Mistral"),
    ("pixtral", "Mistral"),
    ("paligemma", "Gemma (Google)"),
    ("gemma", "Gemma (Google)"),
    ("siglip", "SigLIP (Google)"),
    ("clip", "CLIP (OpenAI)"),
    ("whisper", "Whisper (OpenAI)"),
    ("deepseek", "DeepSeek"),
    ("phi", "Phi (Microsoft)"),
    ("exaone", "EXAONE (LG AI Research)"),
    ("hyperclova", "HyperCLOVA X (NAVER)"),
    ("kanana", "Kanana (Kakao)"),
    ("internvl", "InternVL (Shanghai AI Lab)"),
    ("internlm", "InternLM (Shanghai AI Lab)"),
    ("chatglm", "GLM (Zhipu)"),
    ("glm", "GLM (Zhipu)"),
    ("falcon", "Falcon (TII)"),
    ("bloom", "BLOOM (BigScience)"),
    ("olmo", "OLMo (AI2)"),
    ("smollm", "SmolLM (Hugging Face)"),
    ("smolvlm", "SmolLM (Hugging Face)"),
    ("idefics", "Idefics (Hugging Face)"),
    ("llava", "LLaVA"),
    ("minicpm", "MiniCPM (OpenBMB)"),
    ("baichuan", "Baichuan"),
    ("dinov2", "DINOv2 (Meta)"),
    ("bert", "BERT (Google)"),
    ("minilm", "MiniLM (Microsoft)"),
)
_FAMILY_RES = tuple((re.compile(rf"(?<![a-z]){p}"), fam) for p, fam in _FAMILIES)
_COMPONENT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("projector", ("projector", "mm_projector", "connector", "adapter")),
    ("vision", ("vision", "visual", "image", "vit")),
    ("audio", ("audio", "speech", "whisper", "sound")),
    ("text", ("text", "llm", "language", "decoder", "encoder")),
)


@dataclass(frozen=True)
class ArchitectureTag:
    """One architecture or origin tag read from a config."""

    component: str
    """``text``, ``vision``, ``audio``, ``projector`` or ``model`` (the top level)."""
    key: str
    """Dotted config path the value came from, e.g. ``vision_config.model_type``."""
    value: str
    family: str | None
    """Recognised vendor family of the value, e.g. ``Qwen (Alibaba)``; a fact, not a verdict."""

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "key": self.key,
            "value": self.value,
            "family": self.family,
        }


@dataclass(frozen=True)
class DeclaredEvidence:
    """Architecture tags and declared parents of one checkpoint."""

    model_type: str | None
    architectures: tuple[str, ...]
    tags: tuple[ArchitectureTag, ...]
    base_models: tuple[str, ...]
    """Parents the model card or GGUF metadata declares (``base_model:``)."""
    base_model_relation: str | None
    """Model-card ``base_model_relation`` (``finetune``, ``adapter``, ``quantized``, ``merge``)."""
    warnings: tuple[str, ...] = ()
    """Inputs that could not be read (e.g. malformed front-matter); the rest is still reported."""
    kind: str = "declared"
    note: str = DECLARED_NOTE

    def families(self) -> dict[str, tuple[str, ...]]:
        """Recognised vendor families per component, sorted, without duplicates."""
        out: dict[str, set[str]] = {}
        for tag in self.tags:
            if tag.family is not None:
                out.setdefault(tag.component, set()).add(tag.family)
        return {c: tuple(sorted(f)) for c, f in sorted(out.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "note": self.note,
            "model_type": self.model_type,
            "architectures": list(self.architectures),
            "tags": [t.to_json() for t in self.tags],
            "families": {c: list(f) for c, f in self.families().items()},
            "base_models": list(self.base_models),
            "base_model_relation": self.base_model_relation,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DeclaredComparison:
    """What two checkpoints declare in common."""

    shared_tags: tuple[tuple[str, str], ...]
    """(component, value) pairs both configs carry, e.g. ``("vision", "qwen2_5_vl")``."""
    shared_families: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per component, vendor families both declare."""
    kind: str = "declared"
    note: str = DECLARED_NOTE

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "note": self.note,
            "shared_tags": [list(t) for t in self.shared_tags],
            "shared_families": {c: list(f) for c, f in self.shared_families.items()},
        }


def family_of(value: str) -> str | None:
    """The first recognised vendor family named in ``value`` (case-insensitive), if any."""
    low = value.lower()
    for rx, fam in _FAMILY_RES:
        if rx.search(low):
            return fam
    return None


def _component_of(path: tuple[str, ...]) -> str:
    for part in path:
        low = part.lower()
        for comp, words in _COMPONENT_WORDS:
            if any(w in low for w in words):
                return comp
    return "model"


def _strings(value: Any) -> list[str]:
    """String leaves of a tag value (str, list of str, or dict of str such as ``auto_map``)."""
    if isinstance(value, str):
        return [value[:_MAX_VALUE_CHARS]] if value.strip() else []
    if isinstance(value, list | tuple):
        return [s for v in value[:_MAX_LIST] if isinstance(v, str) for s in _strings(v)]
    if isinstance(value, Mapping):
        return [s for v in list(value.values())[:_MAX_LIST] for s in _strings(v)]
    return []


def config_tags(config: Mapping[str, Any]) -> tuple[ArchitectureTag, ...]:
    """Architecture/origin tags of a config, sub-configs included, in a stable order.

    Sub-configs are any mapping-valued key (``vision_config``, ``audio_config``,
    ``text_config``, ``thinker_config`` ...), followed up to a fixed depth.
    """
    tags: dict[tuple[str, str, str], ArchitectureTag] = {}

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            if not isinstance(key, str):
                continue
            if isinstance(value, Mapping) and key != "auto_map":
                if len(path) < _MAX_DEPTH:
                    walk(value, (*path, key))
                continue
            is_tag = key in _TAG_KEYS or (
                key.startswith("general.base_model.") and key.endswith((".name", ".repo_url"))
            )
            if not is_tag:
                continue
            comp = _component_of((*path, key))
            dotted = ".".join((*path, key))
            for s in _strings(value):
                tags.setdefault((comp, dotted, s), ArchitectureTag(comp, dotted, s, family_of(s)))

    walk(config, ())
    return tuple(tags[k] for k in sorted(tags))


def parse_front_matter(text: str) -> dict[str, Any]:
    """The YAML front-matter of a model card (the block between leading ``---`` lines).

    Returns ``{}`` when the card has none. Raises :class:`InputError` when the block is
    present but oversized, malformed or not a mapping, so callers can record why.
    """
    import yaml

    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("---"):
        return {}
    lines = body.splitlines()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise InputError("model card front-matter has no closing '---'; close the YAML block")
    block = "\n".join(lines[1:end])
    if len(block) > FRONT_MATTER_MAX_CHARS:
        raise InputError(
            f"model card front-matter exceeds {FRONT_MATTER_MAX_CHARS} characters; trim it"
        )
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        raise InputError(
            f"model card front-matter is not valid YAML: {exc}".splitlines()[0]
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("model card front-matter is not a YAML mapping; use 'key: value' lines")
    return data


def find_text_file(text_files: Mapping[str, str], *stems: str) -> list[tuple[str, str]]:
    """(name, content) of text files whose base name starts with one of ``stems`` (any case)."""
    out = []
    for name in sorted(text_files):
        base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
        if any(base.startswith(s.lower()) for s in stems):
            out.append((name, text_files[name]))
    return out


def model_card_metadata(meta: SourceMeta) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Front-matter of the first README that has one, and warnings for unreadable ones."""
    warnings: list[str] = []
    for name, content in find_text_file(meta.text_files, "readme"):
        try:
            data = parse_front_matter(content)
        except InputError as exc:
            warnings.append(f"{name}: {exc}")
            continue
        if data:
            return data, tuple(warnings)
    return {}, tuple(warnings)


def _gguf_base_models(config: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(k for k in config if isinstance(k, str)):
        if key.startswith("general.base_model.") and key.endswith((".repo_url", ".name")):
            out.extend(_strings(config[key]))
    return out


def declared_evidence(meta: SourceMeta) -> DeclaredEvidence:
    """Declared architecture tags and parents of one checkpoint (config + model card)."""
    config = meta.config
    card, warnings = model_card_metadata(meta)
    tags = config_tags(config)
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        arch = config.get("general.architecture")
        model_type = arch if isinstance(arch, str) else None
    bases = [*_strings(card.get("base_model")), *_gguf_base_models(config)]
    relation = card.get("base_model_relation")
    return DeclaredEvidence(
        model_type=model_type,
        architectures=tuple(_strings(config.get("architectures"))),
        tags=tags,
        base_models=tuple(dict.fromkeys(bases)),
        base_model_relation=relation if isinstance(relation, str) else None,
        warnings=warnings,
    )


def compare_declared(a: DeclaredEvidence, b: DeclaredEvidence) -> DeclaredComparison:
    """Tags and vendor families two checkpoints share, per component.

    Architecture keys are compared by (component, value), so a ``qwen2_5_vl`` vision tower
    on both sides is shared even when one config nests it deeper than the other.
    """
    pairs_a = {(t.component, t.value) for t in a.tags if not t.key.endswith("_name_or_path")}
    pairs_b = {(t.component, t.value) for t in b.tags if not t.key.endswith("_name_or_path")}
    fa, fb = a.families(), b.families()
    shared_fam = {c: tuple(sorted(set(fa[c]) & set(fb[c]))) for c in sorted(set(fa) & set(fb))}
    return DeclaredComparison(
        shared_tags=tuple(sorted(pairs_a & pairs_b)),
        shared_families={c: f for c, f in shared_fam.items() if f},
    )
