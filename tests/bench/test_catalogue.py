"""Catalogue: shipped suites, validation against the registries, selection, data roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovereval.bench.catalogue import (
    builtin_suites,
    load_suite,
    load_suite_items,
    load_task_items,
    parse_suite,
    select_items,
)
from sovereval.bench.items import Item
from sovereval.errors import InputError, NotFoundError
from tests.bench._shared import shared_bench

TASK = """
name: t
part: team
tasks:
  - name: a
    loader: {loader}
    path: {path}
    kind: {kind}
    scorer: {scorer}
    prompt: {prompt}
    skill: comprehension
"""


def _suite(**kw: str) -> str:
    base = {
        "loader": "jsonl",
        "path": "x.jsonl",
        "kind": "mc",
        "scorer": "mc_loglik",
        "prompt": "mc_ko",
    }
    return TASK.format(**(base | kw))


def test_shipped_suites_parse() -> None:
    assert {"korean-public", "example"} <= set(builtin_suites())
    suite = load_suite("korean-public")
    assert suite.part == "common"
    assert {t.skill for t in suite.tasks} == {"comprehension", "writing"}
    assert suite.task("click").requires == "loglik"
    assert suite.task("komt-bench").requires == "judge"


def test_example_suite_needs_no_data_root() -> None:
    suite = load_suite("example")
    items = load_suite_items(suite)
    assert {k: len(v) for k, v in items.items()} == {
        "example-mc-ko": 6,
        "example-mc-en": 4,
        "example-math": 6,
        "example-writing": 4,
    }
    assert {t.skill for t in suite.tasks} == {"comprehension", "problem_solving", "writing"}
    # Korean and English example items are both present.
    assert any("질문" in it.prompt or "까닭" in it.prompt for it in items["example-mc-ko"])
    assert items["example-math"][2].target == "5/8"


def test_korean_public_against_shared_root() -> None:
    items = load_suite_items(load_suite("korean-public"), shared_bench())
    assert {k: len(v) for k, v in items.items()} == {
        "click": 1995,
        "click-chat": 200,
        "komt-bench": 80,
        "logickor": 42,
    }


def test_external_suite_without_root_is_refused() -> None:
    with pytest.raises(InputError, match="give a data root"):
        load_suite_items(load_suite("korean-public"))


def test_suite_from_file(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(_suite(), encoding="utf-8")
    assert load_suite(f).tasks[0].loader == "jsonl"
    with pytest.raises(NotFoundError, match="shipped: "):
        load_suite("no-such-suite")


def test_unknown_loader_lists_registered() -> None:
    with pytest.raises(
        InputError, match=r"tasks\.0\.loader: unknown loader 'kmmluu'; registered: .*kmmlu"
    ):
        parse_suite(_suite(loader="kmmluu"))


def test_unknown_scorer_and_prompt_list_registered() -> None:
    with pytest.raises(InputError, match=r"unknown scorer 'f1'; registered: .*mc_letter"):
        parse_suite(_suite(scorer="f1"))
    with pytest.raises(InputError, match=r"unknown prompt template 'x'; registered: .*mc_ko"):
        parse_suite(_suite(prompt="x"))


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../secret.jsonl", "a/../../b", "C:/data", "a\\\\b"]
)
def test_paths_must_stay_under_the_data_root(path: str) -> None:
    with pytest.raises(InputError, match="relative to the data root"):
        parse_suite(_suite(path=path))


def test_scorer_must_fit_kind() -> None:
    with pytest.raises(InputError, match="scorer judge_rubric cannot score mc items"):
        parse_suite(_suite(scorer="judge_rubric"))


def test_specs_hold_no_code_or_extras() -> None:
    with pytest.raises(InputError, match="invalid YAML"):
        parse_suite("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match=r"tasks\.0\.run: Extra inputs are not permitted"):
        parse_suite(_suite() + "    run: import os\n")


def test_invalid_yaml_names_line() -> None:
    # The parser stops at line 3's unclosed mapping value "b: c: d".
    with pytest.raises(InputError, match=r"s\.yaml:3: invalid YAML"):
        parse_suite("name: a\npart: team\nb: c: d\n", "s.yaml")


def test_duplicate_task_names() -> None:
    text = _suite() + "\n".join(_suite().splitlines()[4:]) + "\n"
    with pytest.raises(InputError, match="duplicate task names: a"):
        parse_suite(text)


def _items(n: int) -> list[Item]:
    return [Item(id=str(i), kind="numeric", prompt=f"p{i}", target=str(i)) for i in range(n)]


def test_select_slice_then_limit() -> None:
    items = _items(10)
    assert [it.id for it in select_items(items, slice="2:8", limit=3)] == ["2", "3", "4"]
    assert [it.id for it in select_items(items, slice=":3")] == ["0", "1", "2"]
    assert [it.id for it in select_items(items, slice="8:")] == ["8", "9"]


def test_seeded_sample_is_deterministic_and_ordered() -> None:
    items = _items(50)
    a = select_items(items, limit=10, seed=7)
    b = select_items(items, limit=10, seed=7)
    c = select_items(items, limit=10, seed=8)
    assert a == b and a != c
    assert len(a) == 10 and [int(it.id) for it in a] == sorted(int(it.id) for it in a)


def test_task_kind_is_passed_to_generic_loaders(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text(
        '{"id": "1", "prompt": "p", "answer": "3"}\n', encoding="utf-8"
    )
    suite = parse_suite(_suite(kind="numeric", scorer="numeric", prompt="plain"))
    (item,) = load_task_items(suite.tasks[0], tmp_path)
    assert item.kind == "numeric" and item.target == "3"


def test_task_kind_mismatch_with_fixed_kind_loader(tmp_path: Path) -> None:
    rec = '[{"id": "k", "paragraph": "", "question": "q", "choices": ["a", "b"], "answer": "b"}]'
    (tmp_path / "X_KIIP.json").write_text(rec, encoding="utf-8")
    wrong = parse_suite(
        _suite(
            loader="click",
            path="X_KIIP.json",
            kind="writing",
            scorer="judge_rubric",
            prompt="plain",
        )
    )
    with pytest.raises(InputError, match="1 item\\(s\\) of another kind than writing"):
        load_task_items(wrong.tasks[0], tmp_path)
