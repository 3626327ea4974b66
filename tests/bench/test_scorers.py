"""Scorers, answer parsing and prompt templates."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovereval.bench.answers import normalise_text, parse_letter, parse_number
from sovereval.bench.items import Item
from sovereval.bench.judges import JudgeVerdict
from sovereval.bench.loaders import load
from sovereval.bench.prompts import render, template_names
from sovereval.bench.scorers import ModelOutput, get_scorer, mc_loglik_metrics, scorer_names
from sovereval.errors import InputError, RuleViolation
from tests.bench._shared import shared_bench

MC = Item(
    id="m1",
    kind="mc",
    prompt="민지가 일찍 도착한 까닭은?",
    choices=("늦잠을 자서", "도서관에 들르지 않아서", "신문을 읽지 않아서", "버스를 놓쳐서"),
    target="B",
)


def test_registry() -> None:
    assert set(scorer_names()) == {
        "mc_loglik",
        "mc_letter",
        "exact_match",
        "numeric",
        "judge_rubric",
        "longctx_match",
        "ifeval",
        "refusal",
    }
    assert get_scorer("mc_loglik").requires == "loglik"
    assert get_scorer("judge_rubric").requires == "judge"
    with pytest.raises(
        InputError, match=r"unknown scorer 'bleu'; registered: exact_match, ifeval, judge_rubric"
    ):
        get_scorer("bleu")


def test_loglik_metrics_hand_computed() -> None:
    # continuations " 가나" (2 chars, 6 bytes), " abcd" (4 chars, 4 bytes), " x" (1 char, 1 byte)
    # ll = [-4.0, -6.0, -3.5]
    # acc:       argmax ll             = 2
    # acc_norm:  ll/chars = [-2, -1.5, -3.5]        -> 1
    # acc_bytes: ll/bytes = [-0.667, -1.5, -3.5]    -> 0
    conts = (" 가나", " abcd", " x")
    ll = (-4.0, -6.0, -3.5)
    assert mc_loglik_metrics(ll, conts, 0) == {"acc": 0.0, "acc_norm": 0.0, "acc_bytes": 1.0}
    assert mc_loglik_metrics(ll, conts, 1) == {"acc": 0.0, "acc_norm": 1.0, "acc_bytes": 0.0}
    assert mc_loglik_metrics(ll, conts, 2) == {"acc": 1.0, "acc_norm": 0.0, "acc_bytes": 0.0}


def test_loglik_ties_go_to_first_choice_like_lm_eval() -> None:
    assert mc_loglik_metrics((-1.0, -1.0), (" A", " B"), 0)["acc"] == 1.0


@given(st.lists(st.floats(-50, -0.01, allow_nan=False), min_size=2, max_size=6), st.data())
def test_acc_is_argmax(ll: list[float], data: st.DataObject) -> None:
    gold = data.draw(st.integers(0, len(ll) - 1))
    conts = tuple(f" {chr(65 + i)}" for i in range(len(ll)))
    m = mc_loglik_metrics(ll, conts, gold)
    assert m["acc"] == float(int(np.argmax(ll)) == gold)
    # Single-letter continuations have equal lengths, so every normalisation agrees with acc.
    assert m["acc"] == m["acc_norm"] == m["acc_bytes"]


def test_mc_loglik_scorer() -> None:
    sc = get_scorer("mc_loglik")
    out = ModelOutput(
        choice_logprobs=(-3.0, -1.0, -2.0, -5.0), continuations=(" A", " B", " C", " D")
    )
    res = sc(MC, out)
    assert res.value == 1.0 and res.extracted == "B"
    assert sc(MC, out, {"metric": "acc_norm"}).value == 1.0
    with pytest.raises(InputError, match="3 log-likelihoods for 4 choices"):
        sc(MC, ModelOutput(choice_logprobs=(-1.0, -2.0, -3.0)))
    with pytest.raises(InputError, match="needs per-choice log-likelihoods"):
        sc(MC, ModelOutput(text="B"))
    with pytest.raises(InputError, match="NaN"):
        sc(MC, ModelOutput(choice_logprobs=(-1.0, float("nan"), -3.0, -4.0)))


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("정답: B", "B"),
        ("정답은 B입니다.", "B"),
        ("정답은 (B) 도서관에 들르지 않아서", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("**B**", "B"),
        ("B", "B"),
        ("B) 도서관에 들르지 않아서", "B"),
        ("The answer is (b).", "B"),
        ("Answer: C", "C"),
        ("정답：Ｂ", "B"),  # full-width, NFKC
        ("지문을 보면 A는 틀렸다. 따라서 정답: D", "D"),  # the last explicit marker wins
        ("②", "B"),
        ("2번이 정답입니다", "B"),
        ("도서관에 들르지 않아서 일찍 도착했다.", "B"),  # choice text echoed
        ("A. 늦잠을 자서", "A"),
        ("A or B, hard to say", None),
        ("I think (A) could be right, or (C)", None),
        ("A capital city is the seat of government.", None),
        ("", None),
        ("정답: E", None),  # outside the four choices
        ("I will answer a question first. (C)", "C"),  # "answer a" is not a marker
        ("answer: d", "D"),
        ("정답 B", "B"),
    ],
)
def test_parse_letter(text: str, letter: str | None) -> None:
    assert parse_letter(text, MC.choices) == letter


@given(
    st.sampled_from("ABCD"),
    st.sampled_from(["정답: {}", "({})", "{}.", "**{}**", "정답은 {}입니다", "Answer: {}", " {} "]),
)
def test_parse_letter_round_trip(letter: str, form: str) -> None:
    assert parse_letter(form.format(letter), MC.choices) == letter


def test_mc_letter_scorer() -> None:
    sc = get_scorer("mc_letter")
    assert sc(MC, ModelOutput(text="정답: B")).value == 1.0
    res = sc(MC, ModelOutput(text="정답: C"))
    assert res.value == 0.0 and res.extracted == "C"
    assert sc(MC, ModelOutput(text=None)).value == 0.0


def test_exact_match_normalises() -> None:
    item = Item(id="e", kind="exact", prompt="수도?", target="Seoul")
    sc = get_scorer("exact_match")
    assert sc(item, ModelOutput(text="  SEOUL. ")).value == 1.0
    assert sc(item, ModelOutput(text="Seoul city")).value == 0.0
    assert (
        sc(item, ModelOutput(text="생각해 보면...\nSeoul"), {"extract": "last_line"}).value == 1.0
    )
    assert normalise_text("「서울」,  특별시!") == "서울 특별시"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("답은 1,234입니다", Fraction(1234)),
        ("so 3/4 of it", Fraction(3, 4)),
        ("$\\boxed{\\frac{5}{8}}$", Fraction(5, 8)),
        ("step 1: 2+3=5, step 2: 5*2 = 10", Fraction(10)),
        ("정답: 72 km/h, 검산 2.5 × 72 = 180", Fraction(72)),
        ("\u22128", Fraction(-8)),
        ("-0.75", Fraction(-3, 4)),
        ("1.5e3", Fraction(1500)),
        ("\\boxed{12} and later 13", Fraction(12)),
        ("no number here", None),
    ],
)
def test_parse_number(text: str, value: Fraction | None) -> None:
    assert parse_number(text) == value


def test_numeric_scorer_tolerance() -> None:
    item = Item(id="n", kind="numeric", prompt="?", target="0.3333")
    sc = get_scorer("numeric")
    assert sc(item, ModelOutput(text="답: 1/3")).value == 0.0  # |1/3 - 0.3333| = 3.3e-5 > 1e-6
    assert sc(item, ModelOutput(text="답: 1/3"), {"abs_tol": 1e-4}).value == 1.0
    assert sc(item, ModelOutput(text="0.3333")).value == 1.0
    big = Item(id="b", kind="numeric", prompt="?", target="1,000,000")
    assert sc(big, ModelOutput(text="1000100"), {"rel_tol": 1e-3}).value == 1.0  # 100 <= 1000
    assert sc(big, ModelOutput(text="모르겠습니다")).value == 0.0
    with pytest.raises(InputError, match="is not a number"):
        sc(Item(id="x", kind="numeric", prompt="?", target="many"), ModelOutput(text="1"))


def _v(judge: str, rating: float | None, turn: int = 1) -> JudgeVerdict:
    return JudgeVerdict("w", judge, "v1", "h", f"[[{rating}]]", rating, turn)


def test_judge_rubric_scorer() -> None:
    item = Item(id="w", kind="writing", prompt="글", turns=("글", "다시"))
    sc = get_scorer("judge_rubric")
    out = ModelOutput(
        verdicts=(_v("a", 8, 1), _v("b", 6, 1), _v("a", 7, 2), _v("b", 5, 2)), model="m"
    )
    res = sc(item, out)
    # turn 1: (8+6)/2 = 7; turn 2: (7+5)/2 = 6; item = (7+6)/2 = 6.5
    assert res.value == 6.5
    assert res.metrics["judge:a"] == 7.5 and res.metrics["turn:2"] == 6.0
    with pytest.raises(RuleViolation):
        sc(item, ModelOutput(verdicts=out.verdicts, model="a"))


def test_templates_exact_strings() -> None:
    item = Item(id="q", kind="mc", prompt=" What is 2+2? ", choices=("3", "4"), target="B")
    r = render(item, "mc_en")
    assert r.context == "Question: What is 2+2?\nA. 3\nB. 4\nAnswer:"
    assert r.continuations == (" A", " B") and r.target_index == 1
    assert render(item, "mc_ko").context == "질문: What is 2+2?\nA. 3\nB. 4\n정답:"
    assert render(item, "kmmlu_lmeval").context.endswith("\n정답：")
    assert render(item, "mc_ko_choice_text").continuations == (" 3", " 4")
    assert render(item, "haerae_lmeval").continuations == (" (A)", " (B)")
    assert "plain" in template_names()
    with pytest.raises(InputError, match="multiple-choice"):
        render(Item(id="n", kind="numeric", prompt="1+1", target="2"), "mc_ko")


def test_click_template_matches_lm_eval_byte_for_byte() -> None:
    root = shared_bench() / "click" / "Dataset"
    utils = pytest.importorskip("lm_eval.tasks.click.click_cul.utils")
    items = load("click", root)
    for it in items:
        raw_id = it.id.split("#", 1)[1]
        doc = {
            "id": raw_id,
            "paragraph": it.metadata["paragraph"],
            "question": it.metadata["question"],
            "choices": list(it.choices),
            "answer": it.choices[it.target_index],
        }
        r = render(it, "click_lmeval")
        assert r.context == utils.get_context(doc), it.id
        assert r.continuations == tuple(" " + c for c in utils.get_choices(doc)), it.id
        assert r.target_index == utils.get_choices(doc).index(utils.get_target(doc)), it.id
