"""Identity-leak detection and filtering (Korean and English)."""

from __future__ import annotations

import pytest

from sovereval.arena.leaks import AnswerPair, filter_leaks, find_leaks

ROSTER = ["SovLM", "Hanbit Labs", "한빛랩스"]


@pytest.mark.parametrize(
    ("answer", "kind", "name"),
    [
        ("I am ChatGPT, a large language model.", "self_identification", "chatgpt"),
        ("I'm an AI developed by OpenAI.", "self_identification", "openai"),
        ("As Chat-GPT, I cannot browse.", "self_identification", "chat-gpt"),
        ("저는 LG AI연구원이 개발한 모델입니다.", "self_identification", "lg ai연구원"),
        ("저는 한빛랩스가 만든 AI입니다.", "self_identification", "한빛랩스"),
        ("오픈AI에서 개발한 모델이에요.", "self_identification", "오픈ai"),
        ("제 이름은 엑사원입니다.", "self_identification", "엑사원"),
        ("This answer was produced by SOVLM v2.", "name_mention", "sovlm"),
        ("Ｇｅｍｉｎｉ here.", "name_mention", "gemini"),  # full-width letters, NFKC
    ],
)
def test_leaks_found(answer: str, kind: str, name: str) -> None:
    found = find_leaks(answer, ROSTER)
    assert any(f.kind == kind and f.name == name for f in found), found


@pytest.mark.parametrize(
    "answer",
    [
        "Here is the metadata for your dataset.",  # "meta" inside a word
        "드라마를 좋아하신다면 이 작품을 추천합니다.",  # "라마" inside "드라마"
        "메타데이터를 먼저 확인하세요.",  # "메타" inside "메타데이터"
        "The llamas in Peru are calm.",  # "llama" + s is another word
        "서울의 날씨는 맑습니다.",
    ],
)
def test_clean_answers_pass(answer: str) -> None:
    assert find_leaks(answer, ROSTER) == []


def test_name_asked_in_prompt_is_not_a_leak_but_self_identification_is() -> None:
    prompt = "OpenAI와 구글의 최신 모델을 비교해 줘"
    assert find_leaks("OpenAI는 2024년에 새 모델을 냈고 구글도 그렇습니다.", prompt=prompt) == []
    found = find_leaks("저는 OpenAI가 개발한 모델입니다.", prompt=prompt)
    assert [f.kind for f in found] == ["self_identification"]


def test_filter_battles() -> None:
    battles = [
        AnswerPair("b1", "Say hi", "Hello!", "Hi there."),
        AnswerPair("b2", "Who are you?", "I am Claude, made by Anthropic.", "I am an assistant."),
        AnswerPair("b3", "자기소개", "안녕하세요.", "저는 SovLM입니다."),
    ]
    rep = filter_leaks(battles, ROSTER)
    assert rep.kept == ("b1",)
    assert set(rep.leaked) == {"b2", "b3"} and rep.n_leaked == 2
    assert any(f.name == "sovlm" for f in rep.leaked["b3"])
    # Without defaults only the roster counts: b2 names no roster member.
    assert filter_leaks(battles, ROSTER, include_defaults=False).kept == ("b1", "b2")
