"""Loaders: the real shared files, every registered layout, and hostile inputs (file:line)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sovereval.bench.items import LETTERS
from sovereval.bench.loaders import get_loader, load, loader_names
from sovereval.bench.loaders_public import komt_orphans, read_logickor_evaluated
from sovereval.errors import InputError, NotFoundError
from tests.bench._shared import shared_bench


def test_registry_lists_every_builtin_loader() -> None:
    assert set(loader_names()) >= {
        "click",
        "komt",
        "logickor",
        "jsonl",
        "csv",
        "kmmlu",
        "haerae",
        "hrm8k",
    }


def test_unknown_loader_lists_registered_names() -> None:
    with pytest.raises(InputError, match=r"unknown loader 'nope'; registered: .*click"):
        get_loader("nope")


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        load("jsonl", tmp_path / "absent.jsonl")


# ----------------------------------------------------------------------------- real files


def test_click_real_files() -> None:
    root = shared_bench() / "click" / "Dataset"
    items = load("click", root)
    # SOURCE.md: 26 files, 1,995 rows (Culture 1,345; Language 650).
    assert len(items) == 1995
    assert len({it.metadata["source"] for it in items}) == 26
    cats = Counter(it.metadata["category"] for it in items)
    assert cats == {"Culture": 1345, "Language": 650}
    # Ids repeat across files (Kedu_16_1 in Functional_Kedu and Grammar_Kedu): qualified ids differ.
    kedu = [it.id for it in items if it.id.endswith("#Kedu_16_1")]
    assert sorted(kedu) == [
        "Language/Functional/Functional_Kedu.json#Kedu_16_1",
        "Language/Grammar/Grammar_Kedu.json#Kedu_16_1",
    ]
    # answer is the choice text: the target letter must point back at it.
    raw = json.loads((root / "Culture/Korean_Law/Law_KIIP.json").read_text(encoding="utf-8"))
    first = next(it for it in items if it.id == f"Culture/Korean_Law/Law_KIIP.json#{raw[0]['id']}")
    assert first.choices[first.target_index] == raw[0]["answer"]
    assert first.metadata["subject"] == "Korean_Law" and first.metadata["exam"] == "KIIP"
    # CSAT files have 5 choices, the others 4.
    assert {len(it.choices) for it in items if it.metadata["exam"] == "CSAT"} == {5}
    assert {len(it.choices) for it in items if it.metadata["exam"] != "CSAT"} == {4}
    assert all(it.kind == "mc" and it.target in LETTERS[: len(it.choices)] for it in items)
    # KIIP_society_84 carries a duplicated wrong choice; its answer is still unique.
    s84 = next(it for it in items if it.id.endswith("Society_KIIP.json#KIIP_society_84"))
    assert len(set(s84.choices)) == 3 and s84.choices.count(s84.choices[s84.target_index]) == 1


def test_click_paragraph_goes_before_question() -> None:
    items = load("click", shared_bench() / "click" / "Dataset" / "Language" / "Textual")
    with_para = [it for it in items if it.metadata["paragraph"]]
    assert with_para
    it = with_para[0]
    assert it.prompt == f"{it.metadata['paragraph'].strip()}\n\n{it.metadata['question'].strip()}"


def test_komt_real_files_and_orphans() -> None:
    root = shared_bench() / "komt-bench"
    items = load("komt", root)
    assert len(items) == 80
    assert all(len(it.turns) == 2 and it.prompt == it.turns[0] for it in items)
    assert Counter(it.metadata["category"] for it in items)["math"] == 10
    # 39 rows carry their own reference (SOURCE.md); id 133's turn-1 reference is "" (only turn 2).
    assert sum(1 for it in items if it.metadata.get("reference_source") == "question") == 39
    assert sum(1 for it in items if it.target) == 38
    with_refs = load("komt", root, {"reference_answers": "reference_answer_ko/gpt-4.jsonl"})
    need = [it for it in with_refs if it.metadata["category"] in ("math", "reasoning", "coding")]
    assert len(need) == 30 and all(it.target for it in need)
    # The answers file covers 10 extra ids 161-170 that are not questions: tolerated, reported.
    assert komt_orphans(
        root / "question_ko.jsonl", root / "reference_answer_ko/gpt-4.jsonl"
    ) == list(range(161, 171))


def test_logickor_real_files_and_bom() -> None:
    root = shared_bench() / "logickor"
    items = load("logickor", root)
    assert [it.id for it in items] == [str(i) for i in range(1, 43)]
    # id 3 has a stray third question; only two turns are used.
    assert len(items[2].turns) == 2
    assert all(it.kind == "writing" for it in items)
    # 17 rows have no reference at all (SOURCE.md), so 25 have a turn-1 or turn-2 reference.
    assert sum(1 for it in items if it.target or "reference_turn_2" in it.metadata) == 25
    evaluated = root / "evaluated/openai/gpt-3.5-turbo-1106/default.jsonl"
    assert evaluated.read_bytes()[:3] == b"\xef\xbb\xbf"
    same = load("logickor", evaluated)
    assert [it.content_hash() for it in same] == [it.content_hash() for it in items]
    judged = read_logickor_evaluated(evaluated)
    assert len(judged) == 42 and all(0.0 <= s <= 10.0 for r in judged for s in r.scores)


# ----------------------------------------------------------------------------- generic layouts


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_generic_jsonl_mapping(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "d.jsonl",
        '{"qid": "a", "q": "1+1?", "opts": ["1", "2"], "gold": 1, "area": "math"}\n\n'
        '{"qid": "b", "q": "2+2?", "opts": ["4", "5"], "gold": 0, "area": "math"}\n',
    )
    opts = {
        "kind": "mc",
        "id_field": "qid",
        "prompt_field": "q",
        "choices_field": "opts",
        "target_field": "gold",
        "answer_format": "index0",
        "subject_field": "area",
    }
    items = load("jsonl", f, opts)
    assert [(it.id, it.target, it.metadata["subject"]) for it in items] == [
        ("a", "B", "math"),
        ("b", "A", "math"),
    ]


def test_generic_csv_with_choice_columns(tmp_path: Path) -> None:
    f = _write(tmp_path / "d.csv", "id,prompt,A,B,C,answer\nx,질문,가,나,다,(C)\n")
    items = load("csv", f, {"kind": "mc", "choices_field": ["A", "B", "C"]})
    assert items[0].choices == ("가", "나", "다") and items[0].target == "C"


def test_directory_of_jsonl_qualifies_ids(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a" / "x.jsonl", '{"id": "1", "prompt": "p", "answer": "3"}\n')
    _write(tmp_path / "b" / "x.jsonl", '{"id": "1", "prompt": "q", "answer": "4"}\n')
    items = load("jsonl", tmp_path, {"kind": "numeric"})
    assert [it.id for it in items] == ["a/x.jsonl#1", "b/x.jsonl#1"]


def test_kmmlu_layout(tmp_path: Path) -> None:
    _write(
        tmp_path / "Accounting-test.csv",
        "question,answer,A,B,C,D,Category,Human Accuracy\n"
        '"감가상각,\n방법은?",3,정액법,정률법,생산량비례법,연수합계법,accounting,0.5\n'
        "두 번째,1,a,b,c,d,,0.3\n",
    )
    items = load("kmmlu", tmp_path)
    # answer is 1-based: 3 -> C, 1 -> A; an empty Category falls back to the file stem.
    assert [it.target for it in items] == ["C", "A"]
    assert [it.metadata["subject"] for it in items] == ["accounting", "Accounting"]
    assert items[0].prompt == "감가상각,\n방법은?"


def test_kmmlu_answer_out_of_range_names_line(tmp_path: Path) -> None:
    f = _write(tmp_path / "X-test.csv", "question,answer,A,B,C,D\nq1,2,a,b,c,d\nq2,5,a,b,c,d\n")
    with pytest.raises(InputError, match=r"X-test\.csv:3: answer '5' out of range"):
        load("kmmlu", f)


def test_haerae_layout_with_string_options(tmp_path: Path) -> None:
    rec = {
        "query": "다음 중 ... ### 선택지: (A) 가 (B) 나 (C) 다 (D) 라 (E) 마",
        "options": "['가', '나', '다', '라', '마']",
        "answer": "(D)",
    }
    f = _write(tmp_path / "reading_comprehension.jsonl", json.dumps(rec, ensure_ascii=False) + "\n")
    (it,) = load("haerae", f)
    assert it.choices == ("가", "나", "다", "라", "마") and it.target == "D"
    assert it.metadata["subject"] == "reading_comprehension"


def test_haerae_without_options_uses_letters(tmp_path: Path) -> None:
    f = _write(tmp_path / "gk.csv", "query,answer\n질문 (A) x (B) y,(B)\n")
    (it,) = load("haerae", f)
    assert it.choices == ("(A)", "(B)", "(C)", "(D)", "(E)") and it.target == "B"


def test_hrm8k_layout_and_non_numeric_answer(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "GSM8K.jsonl",
        '{"question": "3+4?", "answer": 7.0}\n{"question": "q", "answer": "1,200"}\n',
    )
    items = load("hrm8k", f)
    assert [(it.kind, it.target) for it in items] == [("numeric", "7.0"), ("numeric", "1,200")]
    bad = _write(tmp_path / "KSM.jsonl", '{"question": "q", "answer": "삼"}\n')
    with pytest.raises(InputError, match=r"KSM\.jsonl:1: answer '삼' is not a number"):
        load("hrm8k", bad)


# ----------------------------------------------------------------------------- hostile inputs


def test_broken_json_line_names_file_and_line(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "questions.jsonl",
        '{"id": 1, "category": "c", "questions": ["a", "b"], "references": []}\n{"id": 2,\n',
    )
    with pytest.raises(InputError, match=r"questions\.jsonl:2: invalid JSON"):
        load("logickor", f)


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    f = _write(tmp_path / "question_ko.jsonl", '{"question_id": 1, "category": "writing"}\n')
    with pytest.raises(InputError, match=r"question_ko\.jsonl:1: missing field 'turns'"):
        load("komt", f)


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "question_ko.jsonl",
        '{"question_id": "81", "category": "w", "turns": ["a", "b"]}\n',
    )
    with pytest.raises(InputError, match=r":1: field 'question_id' should be int, got str"):
        load("komt", f)


def test_komt_needs_two_turns(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "question_ko.jsonl", '{"question_id": 1, "category": "w", "turns": ["only"]}\n'
    )
    with pytest.raises(InputError, match=r":1: 'turns' should be 2"):
        load("komt", f)


def test_click_answer_not_in_choices(tmp_path: Path) -> None:
    rec = [{"id": "k1", "paragraph": "", "question": "q", "choices": ["a", "b"], "answer": "c"}]
    _write(tmp_path / "X_KIIP.json", json.dumps(rec))
    with pytest.raises(
        InputError, match=r"X_KIIP\.json: record 0 \(id k1\): answer 'c' is not one of the choices"
    ):
        load("click", tmp_path)


def test_click_broken_json_names_line(tmp_path: Path) -> None:
    _write(tmp_path / "X_KIIP.json", '[\n  {"id": "k1",\n  "paragraph": ""\n  "question": "q"}\n]')
    with pytest.raises(InputError, match=r"X_KIIP\.json:4: invalid JSON"):
        load("click", tmp_path)


def test_click_top_level_must_be_array(tmp_path: Path) -> None:
    _write(tmp_path / "X_KIIP.json", '{"id": "k1"}')
    with pytest.raises(InputError, match="expected a JSON array"):
        load("click", tmp_path)


def test_csv_ragged_row(tmp_path: Path) -> None:
    f = _write(tmp_path / "d.csv", "id,prompt,answer\n1,p,3\n2,p,4,extra\n")
    with pytest.raises(InputError, match=r"d\.csv:3: more cells than header columns"):
        load("csv", f, {"kind": "numeric"})


def test_non_object_json_line(tmp_path: Path) -> None:
    f = _write(tmp_path / "d.jsonl", "[1, 2]\n")
    with pytest.raises(InputError, match=r"d\.jsonl:1: expected a JSON object, got list"):
        load("jsonl", f)


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "d.jsonl",
        '{"id": "1", "prompt": "p", "answer": "3"}\n{"id": "1", "prompt": "q", "answer": "4"}\n',
    )
    with pytest.raises(InputError, match="duplicate item id '1'"):
        load("jsonl", f, {"kind": "numeric"})


def test_invalid_utf8_is_input_error(tmp_path: Path) -> None:
    f = tmp_path / "X_KIIP.json"
    f.write_bytes(b"[\xff\xfe]")
    with pytest.raises(InputError, match="cannot read as UTF-8"):
        load("click", tmp_path)


def test_oversized_json_document_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sovereval.bench import loaders

    monkeypatch.setattr(loaders, "MAX_JSON_BYTES", 10)
    _write(tmp_path / "X_KIIP.json", "[" + " " * 20 + "]")
    with pytest.raises(InputError, match="over the 10-byte cap"):
        load("click", tmp_path)
