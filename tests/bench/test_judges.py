"""Judge prompts, rating parsing, panel aggregation, agreement and self-judging refusal."""

from __future__ import annotations

import asyncio

import pytest

from sovereval.bench.items import Item
from sovereval.bench.judges import (
    BUILTIN_TEMPLATES,
    Judge,
    JudgeVerdict,
    aggregate_item,
    assert_not_self,
    build_judge_prompt,
    load_judge_templates,
    panel_agreement,
    parse_rating,
    verdict,
)
from sovereval.bench.loaders import load
from sovereval.errors import InputError, RuleViolation
from tests.bench._shared import shared_bench

ITEM = Item(
    id="7",
    kind="writing",
    prompt="블로그 글을 써 주세요.",
    turns=("블로그 글을 써 주세요.", "더 짧게 써 주세요."),
)
REF_ITEM = Item(
    id="8",
    kind="writing",
    prompt="넓이는?",
    turns=("넓이는?", "둘레는?"),
    target="넓이는 3입니다.",
    metadata={"reference_turn_2": "둘레는 12입니다."},
)


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("좋은 답변입니다. 점수: [[8]]", 8.0),
        ("Rating: [[7.5]]", 7.5),
        (
            '형식은 "[[5]]" 입니다... 최종 점수: [[9]]',
            9.0,
        ),  # last [[x]] wins over the quoted example
        ("[[ 6 ]]", 6.0),
        ("[[6/10]]", 6.0),
        ("[[7점]]", 7.0),
        ("평가: [4]", 4.0),  # FastChat's backup single-bracket pattern
        ("점수: 3점", 3.0),
        ("Score: 8/10", 8.0),
        ("[[11]]", None),  # out of range
        ("[[0]]", None),
        ("no rating at all", None),
    ],
)
def test_parse_rating(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


def test_prompt_templates_chosen_by_turn_and_reference() -> None:
    p1 = build_judge_prompt(ITEM, ["답변 1"], turn=1)
    assert p1.template == "single-ko" and "답변 1" in p1.user and "[[평점]]" in p1.user
    p2 = build_judge_prompt(ITEM, ["답변 1", "답변 2"], turn=2)
    assert p2.template == "single-ko-multi-turn" and "더 짧게 써 주세요." in p2.user
    r1 = build_judge_prompt(REF_ITEM, ["3"], turn=1)
    assert r1.template == "single-ko-ref" and "넓이는 3입니다." in r1.user
    r2 = build_judge_prompt(REF_ITEM, ["3", "12"], turn=2)
    assert r2.template == "single-ko-ref-multi-turn" and "둘레는 12입니다." in r2.user
    with pytest.raises(InputError, match="turn 2 needs 2"):
        build_judge_prompt(ITEM, ["only one"], turn=2)


def test_prompt_hash_pins_exactly_what_the_judge_saw() -> None:
    a = build_judge_prompt(ITEM, ["답변"])
    assert a.sha256 == build_judge_prompt(ITEM, ["답변"]).sha256
    assert a.sha256 != build_judge_prompt(ITEM, ["답변!"]).sha256
    assert a.template_sha256 == BUILTIN_TEMPLATES["single-ko"].sha256


def test_komt_judge_prompts_load_and_render() -> None:
    templates = load_judge_templates(shared_bench() / "komt-bench" / "judge_prompts_ko.jsonl")
    assert set(templates) == {
        "single-v1",
        "single-math-v1",
        "single-v1-multi-turn",
        "single-math-v1-multi-turn",
    }
    items = load("komt", shared_bench() / "komt-bench")
    math = next(it for it in items if it.metadata["category"] == "math")
    p = build_judge_prompt(
        math, ["답", "답2"], turn=2, template=templates["single-math-v1-multi-turn"]
    )
    assert math.turns[1] in p.user and math.metadata["reference_turn_2"] in p.user


def _v(item: str, judge: str, rating: float | None, turn: int = 1) -> JudgeVerdict:
    return JudgeVerdict(
        item, judge, "2025-01", "h", "" if rating is None else f"[[{rating}]]", rating, turn
    )


def test_panel_aggregation_hand_computed() -> None:
    vs = [
        _v("7", "judge-a", 8, 1),
        _v("7", "judge-b", 6, 1),
        _v("7", "judge-a", 9, 2),
        _v("7", "judge-b", None, 2),
    ]
    p = aggregate_item(vs, "team-model")
    # turn 1: (8+6)/2 = 7; turn 2: only judge-a valid = 9; item = (7+9)/2 = 8
    assert p.per_turn == {1: 7.0, 2: 9.0} and p.mean == 8.0
    # judge-a: (8+9)/2 = 8.5; judge-b: 6
    assert p.per_judge == {"judge-a": 8.5, "judge-b": 6.0} and p.n_invalid == 1


def test_panel_with_no_valid_rating_has_no_mean() -> None:
    p = aggregate_item([_v("1", "a", None), _v("1", "b", None)], "m")
    assert p.mean is None and p.n_invalid == 2


def test_self_judging_refused() -> None:
    with pytest.raises(RuleViolation, match="is the model under test"):
        aggregate_item([_v("1", "Team-Model", 8), _v("1", "other", 7)], "team-model")
    with pytest.raises(RuleViolation):
        assert_not_self("openai/team-model:latest", ["judge-x", "team-model"])
    assert_not_self("team-model", ["judge-x", "judge-y"])  # no error


def test_panel_needs_two_judges() -> None:
    with pytest.raises(RuleViolation, match="panel of 1 judge"):
        aggregate_item([_v("1", "a", 8), _v("1", "a", 7, 2)], "m")


def test_verdicts_of_two_items_refused() -> None:
    with pytest.raises(InputError, match="several items"):
        aggregate_item([_v("1", "a", 8), _v("2", "b", 7)], "m")


def test_agreement_hand_computed() -> None:
    # Judge A rates 1,2,3,4; judge B rates 2,3,4,5 (always one higher). Interval alpha:
    # D_o = (1/n) sum_u sum_{i!=j} (v_i - v_j)^2 / (m_u - 1) = (1/8) * 4 * 2 = 1
    # D_e = sum_{i!=j over all 8 values} (v_i - v_j)^2 / (n (n-1)) = 192 / 56
    #   (2 n sum v^2 - 2 (sum v)^2 = 16*84 - 2*576 = 192)
    # alpha = 1 - D_o / D_e = 1 - 56/192 = 17/24 = 0.70833; mean |A - B| = 1.
    vs = [_v(str(i), "A", float(i)) for i in range(1, 5)] + [
        _v(str(i), "B", float(i + 1)) for i in range(1, 5)
    ]
    ag = panel_agreement(vs)
    assert ag.alpha_interval == pytest.approx(17 / 24)
    assert ag.mean_abs_diff == 1.0 and ag.n_units == 4 and ag.n_judges == 2


def test_agreement_perfect_and_undefined() -> None:
    same = [_v(str(i), j, float(i)) for i in range(1, 4) for j in ("A", "B")]
    assert panel_agreement(same).alpha_interval == pytest.approx(1.0)
    flat = [_v("1", "A", 5.0), _v("1", "B", 5.0)]
    ag = panel_agreement(flat)
    assert ag.alpha_interval is None and ag.mean_abs_diff == 0.0


class FakeJudge:
    """In-package style fake satisfying the Judge protocol."""

    def __init__(self, name: str, reply: str) -> None:
        self.name, self.version, self.reply = name, "1", reply
        self.prompts: list[str] = []

    async def generate(self, prompt: str, system: str = "") -> str:
        self.prompts.append(prompt)
        return self.reply


def test_judge_protocol_round_trip() -> None:
    judges: list[Judge] = [
        FakeJudge("j1", "좋음. 점수: [[8]]"),
        FakeJudge("j2", "보통. 점수: [[6]]"),
    ]
    prompt = build_judge_prompt(ITEM, ["답변"])

    async def run() -> list[JudgeVerdict]:
        raws = await asyncio.gather(*(j.generate(prompt.user, prompt.system) for j in judges))
        return [
            verdict(ITEM.id, j.name, j.version, prompt, r)
            for j, r in zip(judges, raws, strict=True)
        ]

    vs = asyncio.run(run())
    assert [v.rating for v in vs] == [8.0, 6.0] and vs[0].prompt_sha256 == prompt.sha256
    assert aggregate_item(vs, "team-model").mean == 7.0
