"""Instruction following (IFEval-style verifiable constraints): checkers, strict/loose,
prompt and instruction level, the Korean set and IFEval's JSONL layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sovereval.bench import ifeval
from sovereval.bench.catalogue import examples_root
from sovereval.bench.loaders import load
from sovereval.bench.scorers import ModelOutput, get_scorer
from sovereval.errors import InputError

DATA = Path(__file__).parent / "data"


def _ins(iid: str, **kw: object) -> ifeval.Instruction:
    return ifeval.Instruction(iid, kw)


def test_korean_register_endings() -> None:
    hap = _ins("sovereval:korean_register", register="hapsyo")
    hae = _ins("sovereval:korean_register", register="haeyo")
    formal = "서울의 봄은 따뜻합니다. 벚꽃이 핍니다! 산책하기 좋습니까?"
    polite = "주말에 뭐 해요? 같이 영화 봐요. 좋죠?"
    mixed = "서울의 봄은 따뜻합니다. 벚꽃이 펴요."
    assert ifeval.check([hap], formal).strict == (True,)
    assert ifeval.check([hae], formal).strict == (False,)
    assert ifeval.check([hae], polite).strict == (True,)
    assert ifeval.check([hap], mixed).strict == (False,)
    # list markers and numbers do not count as sentences; the Hangul before them does
    assert ifeval.check([hap], "1. 첫째 항목입니다.\n2. 둘째 항목입니다.").strict == (True,)
    assert ifeval.check([hap], "Hello.").strict == (False,)  # no Korean sentence at all


def test_counts_keywords_json_and_latin() -> None:
    text = "- 하나\n- 둘\n* 셋\n**굵게** 아님"
    # bullets: "- 하나", "- 둘", "* 셋" = 3; "**굵게**" starts with "**", not a bullet
    assert ifeval.check(
        [_ins("detectable_format:number_bullet_lists", num_bullets=3)], text
    ).strict == (True,)
    # 6 words by \w+: 전통, 시장은, 사람, 냄새가, 납니다, 정말 -> "at least 6" passes, "at least 7" fails
    words = "전통 시장은 사람 냄새가 납니다. 정말."
    assert ifeval.count_words(words) == 6
    assert ifeval.check(
        [_ins("length_constraints:number_words", relation="at least", num_words=6)], words
    ).strict == (True,)
    assert ifeval.check(
        [_ins("length_constraints:number_words", relation="at least", num_words=7)], words
    ).strict == (False,)
    # characters without spaces: "인공 지능" -> 4 < 5 passes "less than 5", fails "less than 4"
    assert ifeval.check(
        [_ins("sovereval:number_characters", relation="less than", num_chars=5)], "인공 지능"
    ).strict == (True,)
    assert ifeval.check(
        [_ins("sovereval:number_characters", relation="less than", num_chars=4)], "인공 지능"
    ).strict == (False,)
    # Korean keywords match with particles attached; forbidden ones are caught the same way
    assert ifeval.check(
        [_ins("keywords:existence", keywords=["단풍", "장마"])], "가을 단풍이 곱고 장마는 길다"
    ).strict == (True,)
    assert ifeval.check(
        [_ins("keywords:forbidden_words", forbidden_words=["바다"])], "바다로 가요"
    ).strict == (False,)
    js = _ins("detectable_format:json_format")
    assert ifeval.check([js], '```json\n{"이름": "홍길동"}\n```').strict == (True,)
    assert ifeval.check([js], "이름: 홍길동").strict == (False,)
    nl = _ins("sovereval:no_latin")
    assert ifeval.check([nl], "주말에 봐요").strict == (True,)
    assert ifeval.check([nl], "주말에 ＯＫ").strict == (False,)  # full-width Latin after NFKC
    paras = _ins("length_constraints:number_paragraphs", num_paragraphs=3)
    assert ifeval.check([paras], "가\n***\n나\n***\n다").strict == (True,)
    assert ifeval.check([paras], "가\n***\n\n***\n다").strict == (False,)  # an empty paragraph


def test_loose_forgives_a_preamble_line_but_strict_does_not() -> None:
    # A JSON answer with a chatty first line: strict fails (not JSON), loose passes
    # (the variant without the first line is JSON).
    resp = '다음은 요청하신 JSON입니다:\n{"이름": "홍길동", "나이": 30}'
    r = ifeval.check([_ins("detectable_format:json_format")], resp)
    assert r.strict == (False,) and r.loose == (True,)
    # markdown asterisks: "**모두 해요체예요.**" -> with '*' removed the ending is 요 either way
    assert ifeval.loose_variants("a\nb\nc")[:4] == ["a\nb\nc", "b\nc", "a\nb", "b"]


def test_scorer_prompt_and_instruction_level() -> None:
    item = load("ifeval", examples_root() / "ifeval_ko.jsonl", {})[9]  # ko-if-10
    assert item.id.endswith("ko-if-10")
    scorer = get_scorer("ifeval")
    # Both instructions followed: 합쇼체 throughout and ends with '감사합니다.'
    good = "고객 여러분께 알립니다. 내일은 휴관합니다. 감사합니다."
    s = scorer(item, ModelOutput(text=good))
    assert s.value == 1.0 and s.metrics == {
        "prompt_loose": 1.0,
        "inst_strict": 2.0,
        "inst_loose": 2.0,
        "n_instructions": 2.0,
    }
    # Register right, ending wrong (a closing 해요체 line also breaks the register):
    # strict: register False (last sentence 줘요), end False -> 0 of 2.
    # loose: the variant without the last line is all 합쇼체 (register True) but then does not
    # end with '감사합니다.'... -- it ends with '휴관합니다.' -> end False; the full text ends
    # with '줘요.' -> end False.  So loose: 1 of 2, prompt-level loose 0.
    bad = "고객 여러분께 알립니다. 내일은 휴관합니다.\n많이 찾아 줘요."
    s = scorer(item, ModelOutput(text=bad))
    assert s.value == 0.0
    assert s.metrics["inst_strict"] == 0.0 and s.metrics["inst_loose"] == 1.0
    assert s.metrics["prompt_loose"] == 0.0


def test_korean_set_loads_and_every_instruction_has_a_checker() -> None:
    items = load("ifeval", examples_root() / "ifeval_ko.jsonl", {})
    assert len(items) == 12 and {i.kind for i in items} == {"instruction"}
    for it in items:
        assert ifeval.parse_instructions(it.target)


def test_ifeval_published_layout() -> None:
    with pytest.raises(InputError, match="number_highlighted_sections"):
        load("ifeval", DATA / "ifeval_input_data.jsonl", {})
    items = load("ifeval", DATA / "ifeval_input_data.jsonl", {"unsupported": "skip"})
    assert [i.id for i in items] == [
        "ifeval_input_data.jsonl#1001",
        "ifeval_input_data.jsonl#1002",
        "ifeval_input_data.jsonl#1003",
    ]
    # null kwargs are dropped, as IFEval's scorer drops them
    spec = json.loads(items[2].target)
    assert spec[0] == {
        "id": "length_constraints:number_words",
        "kwargs": {"num_words": 40, "relation": "less than"},
    }
    # Hand check on key 1003: 16 words < 40, has 'quiet' and 'shelves', has a P.S. -> 3 of 3.
    resp = "The library is quiet, with tall shelves of books and a reading room by the window.\nP.S. It opens at nine."
    s = get_scorer("ifeval")(items[2], ModelOutput(text=resp))
    assert s.value == 1.0 and s.metrics["inst_strict"] == 3.0
    # Key 1001 (all lowercase). "The Harbour wakes.\nboats go out.": strict fails; loose
    # passes, because the variant without the first line is "boats go out.".
    s = get_scorer("ifeval")(items[0], ModelOutput(text="The Harbour wakes.\nboats go out."))
    assert s.value == 0.0 and s.metrics["prompt_loose"] == 1.0
    # With a capital on both lines, every non-empty variant has one: loose fails too.
    s = get_scorer("ifeval")(items[0], ModelOutput(text="The Harbour wakes.\nBoats go Out."))
    assert s.value == 0.0 and s.metrics["prompt_loose"] == 0.0


def test_postscript_markers_as_ifeval_matches_them() -> None:
    ps = _ins("detectable_content:postscript", postscript_marker="P.S.")
    # IFEval's pattern p\.\s?s\. : "p. s." and "P.S." both count; "PS" does not
    assert ifeval.check([ps], "안녕하세요.\np. s. 내일 봐요").strict == (True,)
    assert ifeval.check([ps], "안녕하세요.\nP.S. 내일 봐요").strict == (True,)
    assert ifeval.check([ps], "안녕하세요.\nPS 내일 봐요").strict == (False,)
