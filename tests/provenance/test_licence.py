"""Licence recognition, facts, and the declared-vs-found assessment with attribution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sovereval.errors import InputError
from sovereval.provenance.formats.base import SourceMeta
from sovereval.provenance.licence import (
    LicenceCatalogue,
    assess_licences,
    default_catalogue,
    name_variants,
    read_licences,
)

FIXTURES = Path(__file__).parent / "licence_fixtures"
CATALOGUE_JSON = (
    Path(__file__).resolve().parents[2] / "src" / "sovereval" / "provenance" / "licences.json"
)
KNOWN_RESTRICTIONS = {
    "mau_threshold",
    "acceptable_use_policy",
    "non_commercial",
    "research_only",
    "naming_requirement",
    "field_of_use",
    "pass_through",
    "custom_terms",
    "output_use_restriction",
    "geographic",
    "remote_restriction",
    "guardrail_requirement",
    "non_production",
    "no_derivatives",
}
QWEN_VL = "Qwen/Qwen2.5-VL-7B-Instruct"
APACHE_TEXT = (FIXTURES / "Apache-2.0.txt").read_text("utf-8")


def meta(config: dict[str, Any] | None = None, **text: str) -> SourceMeta:
    return SourceMeta(format="memory", path="<memory>", config=config or {}, text_files=text)


def fixture_cases() -> list[tuple[str, str]]:
    # file name "<expected id>[__variant].txt"
    return [(p.name, p.stem.split("__")[0]) for p in sorted(FIXTURES.glob("*.txt"))]


@pytest.mark.parametrize(("name", "expected"), fixture_cases())
def test_fixture_excerpts_are_recognised(name: str, expected: str) -> None:
    text = (FIXTURES / name).read_text("utf-8")
    cat = default_catalogue()
    assert [f.id for f in cat.recognise_text(text)] == [expected]
    # robust to case and re-flowed whitespace
    reflowed = "\n   ".join(text.upper().split())
    assert [f.id for f in cat.recognise_text(reflowed)] == [expected]


def test_more_specific_licence_supersedes_the_one_it_quotes() -> None:
    cat = default_catalogue()
    # the LGPL excerpt quotes "GNU General Public License" and "version 3": LGPL only
    lgpl = (FIXTURES / "LGPL-3.0-only.txt").read_text("utf-8")
    assert [f.id for f in cat.recognise_text(lgpl)] == ["LGPL-3.0-only"]
    # BSD-3 contains BSD-2's clauses plus "neither the name of": BSD-3 only
    bsd3 = (FIXTURES / "BSD-3-Clause.txt").read_text("utf-8")
    assert [f.id for f in cat.recognise_text(bsd3)] == ["BSD-3-Clause"]


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("apache-2.0", "Apache-2.0"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("MIT", "MIT"),
        ("llama3.1", "llama3.1"),
        ("llama3_2", "llama3.2"),
        ("Llama 2", "llama2"),
        ("cc-by-nc-4.0", "CC-BY-NC-4.0"),
        ("gemma", "gemma"),
        ("https://ai.google.dev/gemma/terms", "gemma"),
        ("tongyi-qianwen", "tongyi-qianwen"),
        ("exaone", "exaone"),
        ("bigscience-bloom-rail-1.0", "bigscience-bloom-rail-1.0"),
        ("no-such-licence", None),
        ("other", None),
    ],
)
def test_identify(identifier: str, expected: str | None) -> None:
    found = default_catalogue().identify(identifier)
    assert (found.id if found else None) == expected


def test_facts_of_key_licences() -> None:
    cat = default_catalogue()
    llama = cat.get("llama3.1")
    codes = {r.code for r in llama.restrictions}
    assert llama.usage_restricting
    assert {"mau_threshold", "acceptable_use_policy", "naming_requirement"} <= codes
    assert any("700 million" in r.reason for r in llama.restrictions)
    apache = cat.get("Apache-2.0")
    assert apache.spdx == "Apache-2.0" and not apache.usage_restricting
    assert apache.attribution_required and not apache.copyleft
    assert cat.get("GPL-3.0-only").copyleft
    assert {r.code for r in cat.get("CC-BY-NC-4.0").restrictions} == {"non_commercial"}
    assert {r.code for r in cat.get("qwen-research").restrictions} == {
        "non_commercial",
        "research_only",
    }
    assert not cat.get("CC0-1.0").attribution_required
    with pytest.raises(InputError):
        cat.get("nope")


def test_catalogue_integrity() -> None:
    data = json.loads(CATALOGUE_JSON.read_text("utf-8"))
    ids = [e["id"] for e in data["licences"]]
    assert len(ids) == len(set(ids)) == len(default_catalogue())
    owners: dict[str, str] = {}
    for e in data["licences"]:
        assert e["signatures"], f"{e['id']} has no full-text signature"
        assert set(e["supersedes"]) <= set(ids)
        assert {r["code"] for r in e["restrictions"]} <= KNOWN_RESTRICTIONS
        for ident in e["identifiers"]:
            key = "".join(ch for ch in ident.lower() if ch.isalnum())
            assert owners.setdefault(key, e["id"]) == e["id"], f"identifier {ident} is ambiguous"


def test_malformed_catalogue_raises_input_error() -> None:
    with pytest.raises(InputError, match="malformed"):
        LicenceCatalogue({"licences": [{"id": "x"}]})


def test_model_card_llama31_is_usage_restricting() -> None:
    card = "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B\n---\n# A fine-tune\n"
    m = meta({}, **{"README.md": card})
    (finding,) = read_licences(m)
    assert finding.source == "README.md:license" and finding.licence is not None
    assert finding.licence.id == "llama3.1"
    report = assess_licences(m, [], {})
    assert report.usage_restricted
    flag = next(f for f in report.flags if f.code == "usage_restricting")
    assert flag.component is None and "700 million" in flag.message


def test_license_other_uses_license_name_then_link() -> None:
    named = meta({}, **{"README.md": "---\nlicense: other\nlicense_name: qwen-research\n---\n"})
    assert [f.licence.id for f in read_licences(named) if f.licence] == ["qwen-research"]
    linked = meta(
        {},
        **{
            "README.md": "---\nlicense: other\nlicense_name: custom\nlicense_link: https://ai.google.dev/gemma/terms\n---\n"
        },
    )
    assert [f.licence.id for f in read_licences(linked) if f.licence] == ["gemma"]


def test_card_with_a_list_of_licences() -> None:
    card = "---\nlicense:\n- apache-2.0\n- mit\n---\n"
    found = read_licences(meta(**{"README.md": card}))
    assert [f.licence.id for f in found if f.licence] == ["Apache-2.0", "MIT"]


def test_gguf_general_license_and_config_license() -> None:
    found = read_licences(meta({"general.license": "apache-2.0", "license": "mit"}))
    assert {(f.source, f.licence.id if f.licence else None) for f in found} == {
        ("config:general.license", "Apache-2.0"),
        ("config:license", "MIT"),
    }


def test_no_licence_and_unrecognised_licence_are_flagged() -> None:
    assert assess_licences(meta(), [], {}).flag_codes() == {"no_licence_found"}
    odd = assess_licences(meta(**{"LICENSE": "All rights reserved by the team."}), [], {})
    assert odd.flag_codes() == {"unrecognised_licence"}
    assert odd.model_licences[0].raw == "All rights reserved by the team."


def test_inconsistent_model_licences() -> None:
    llama = (FIXTURES / "llama3.1.txt").read_text("utf-8")
    m = meta(**{"LICENSE": llama, "README.md": "---\nlicense: apache-2.0\n---\n"})
    codes = assess_licences(m, [], {}).flag_codes()
    assert {"inconsistent_licences", "usage_restricting"} <= codes


VISION = {"name": "vision", "declared_origin": QWEN_VL, "declared_licence": "apache-2.0"}
NOTICE_OK = (
    "Sovereign-Omni\nCopyright 2026 Example Consortium\n\n"
    "The vision encoder is taken from Qwen2.5-VL-7B-Instruct (Copyright Alibaba Cloud),\n"
    "licensed under the Apache License, Version 2.0.\n"
)


def test_apache_with_notice_attribution_present() -> None:
    m = meta(**{"LICENSE": APACHE_TEXT, "NOTICE": NOTICE_OK})
    report = assess_licences(m, [VISION], {"vision": QWEN_VL})
    (comp,) = report.components
    assert comp.borrowed and comp.attribution == "present" and comp.attribution_source == "NOTICE"
    assert comp.licence is not None and comp.licence.id == "Apache-2.0"
    assert report.flags == ()
    assert not report.usage_restricted


def test_apache_without_notice_attribution_missing() -> None:
    m = meta(**{"LICENSE": APACHE_TEXT})
    report = assess_licences(m, [VISION], {"vision": QWEN_VL})
    assert report.components[0].attribution == "missing"
    flag = next(f for f in report.flags if f.code == "missing_attribution")
    assert flag.severity == "error" and flag.component == "vision" and QWEN_VL in flag.message


def test_attribution_naming_parent_without_licence_is_incomplete() -> None:
    readme = "# Model\n\nOur vision tower comes from Qwen2.5-VL.\n"
    m = meta(**{"LICENSE": APACHE_TEXT, "README.md": readme})
    report = assess_licences(m, [VISION], {"vision": QWEN_VL})
    assert report.components[0].attribution == "incomplete"
    assert report.flag_codes("vision") == {"incomplete_attribution"}


def test_undeclared_parent_is_an_error() -> None:
    own = {"name": "vision", "declared_origin": "from scratch", "declared_licence": "apache-2.0"}
    report = assess_licences(meta(**{"LICENSE": APACHE_TEXT}), [own], {"vision": QWEN_VL})
    assert {"undeclared_parent", "missing_attribution"} <= report.flag_codes("vision")


def test_parent_found_for_an_undeclared_component() -> None:
    report = assess_licences(
        meta(**{"LICENSE": APACHE_TEXT}), [], {"audio": "openai/whisper-large-v3"}
    )
    assert [c.name for c in report.components] == ["audio"]
    assert "undeclared_parent" in report.flag_codes("audio")


def test_origin_mismatch_and_licence_mismatch() -> None:
    notice = "The vision encoder comes from InternVL2-8B, licensed CC-BY-NC-4.0.\n"
    decl = {
        "name": "vision",
        "declared_origin": "OpenGVLab/InternVL2-8B",
        "declared_licence": "mit",
    }
    m = meta(**{"LICENSE": APACHE_TEXT, "NOTICE": notice})
    report = assess_licences(m, [decl], {"vision": QWEN_VL})
    codes = report.flag_codes("vision")
    # declared InternVL2 but weights match Qwen2.5-VL; declared MIT but NOTICE says CC-BY-NC;
    # and the NOTICE credits InternVL2, not the parent the weights point to
    assert {"origin_mismatch", "declared_licence_mismatch", "usage_restricting"} <= codes
    assert report.components[0].attribution == "missing"
    assert "missing_attribution" in codes


def test_own_component_declared_licence_vs_model_licence() -> None:
    text = {"name": "text", "declared_origin": "own", "declared_licence": "apache-2.0"}
    llama = (FIXTURES / "llama3.1.txt").read_text("utf-8")
    report = assess_licences(meta(**{"LICENSE": llama}), [text], {"text": None})
    assert report.components[0].attribution == "not_needed"
    assert "declared_licence_mismatch" in report.flag_codes("text")


def test_declared_parent_not_found_in_weights_is_info() -> None:
    report = assess_licences(
        meta(**{"LICENSE": APACHE_TEXT, "NOTICE": NOTICE_OK}), [VISION], {"vision": None}
    )
    flags = [f for f in report.flags if f.component == "vision"]
    assert [(f.code, f.severity) for f in flags] == [("declared_parent_not_found", "info")]


def test_copyleft_component_is_noted() -> None:
    decl = {
        "name": "projector",
        "declared_origin": "example/gpl-proj",
        "declared_licence": "gpl-3.0",
    }
    notice = "The projector comes from example/gpl-proj under the GNU GPL v3.\n"
    report = assess_licences(meta(**{"LICENSE": APACHE_TEXT, "NOTICE": notice}), [decl], {})
    assert report.flag_codes("projector") == {"copyleft"}


def test_name_variants() -> None:
    assert name_variants("https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct") == (
        " qwen qwen2 5 vl 7b instruct ",
        " qwen2 5 vl 7b instruct ",
        " qwen2 5 vl 7b ",
        " qwen2 5 vl ",
    )


def test_report_json_is_declared() -> None:
    out = assess_licences(meta(**{"LICENSE": APACHE_TEXT}), [VISION], {"vision": QWEN_VL}).to_json()
    assert out["kind"] == "declared" and "not weight derivation" in out["note"]
    assert json.loads(json.dumps(out)) == out
