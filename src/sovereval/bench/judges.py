"""Judge panels for writing tasks: prompts, rating parsing, aggregation, agreement.

Pure: the engine (B2's) calls the judge models through the :class:`Judge` protocol and hands
their raw outputs back here. The prompt follows KoMT-Bench's single-answer grading format
(itself MT-Bench's, Zheng et al. 2023, "Judging LLM-as-a-Judge", NeurIPS Datasets track):
the judge explains, then writes its 1-10 rating as ``[[rating]]`` (e.g. ``점수: [[5]]``). The
wording below is ours; a suite may instead load KoMT-Bench's own ``judge_prompts_ko.jsonl``
with :func:`load_judge_templates`.

Agreement is Krippendorff's alpha with the interval metric (Krippendorff 2011, "Computing
Krippendorff's Alpha-Reliability"), computed by the ``krippendorff`` package, plus the mean
absolute difference between every pair of judges on the items both rated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sovereval.bench.items import Item
from sovereval.errors import InputError, RuleViolation


class Judge(Protocol):
    """A judge model as the engine exposes it."""

    name: str
    version: str

    async def generate(self, prompt: str, system: str = "") -> str:
        """The judge's full text answer to ``prompt`` (temperature 0)."""
        ...


@dataclass(frozen=True)
class JudgeTemplate:
    name: str
    system: str
    template: str
    """``str.format`` template with ``{question}``, ``{answer}``, ``{ref_answer_1}`` or the
    multi-turn fields ``{question_1}``, ``{answer_1}``, ``{question_2}``, ``{answer_2}``,
    ``{ref_answer_2}``."""

    @property
    def sha256(self) -> str:
        blob = json.dumps([self.name, self.system, self.template], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_INSTR = (
    "[지시]\n공정하고 엄격한 평가자로서, 아래 사용자 질문에 대한 인공지능 어시스턴트의 답변을 평가하세요. "
    '{criteria} 먼저 근거를 짧게 설명하고, 설명 뒤에는 반드시 "[[평점]]" 형식으로 1점에서 10점 사이의 '
    '점수를 매기세요. 예: "점수: [[5]]".\n\n'
)
_GENERAL = "유용성, 관련성, 정확성, 깊이, 창의성, 상세함을 고려하고, 답변 길이에 휘둘리지 마세요."
_REF = (
    "정확성과 유용성을 고려하세요. 참고 답변과 비교하여 어시스턴트 답변의 오류를 찾아 지적하세요."
)
_FOCUS2 = " 두 번째 사용자 질문에 대한 어시스턴트의 답변만 평가하세요."
_CONV = (
    "<|대화 시작|>\n\n### 사용자:\n{question_1}\n\n### 어시스턴트:\n{answer_1}\n\n"
    "### 사용자:\n{question_2}\n\n### 어시스턴트:\n{answer_2}\n\n<|대화 끝|>"
)
_SYSTEM = "당신은 답변의 품질을 공정하게 평가하는 심사위원입니다."

BUILTIN_TEMPLATES: dict[str, JudgeTemplate] = {
    "single-ko": JudgeTemplate(
        "single-ko",
        _SYSTEM,
        _INSTR.format(criteria=_GENERAL)
        + "[사용자 질문]\n{question}\n\n[어시스턴트 답변 시작]\n{answer}\n[어시스턴트 답변 끝]",
    ),
    "single-ko-ref": JudgeTemplate(
        "single-ko-ref",
        _SYSTEM,
        _INSTR.format(criteria=_REF)
        + "[사용자 질문]\n{question}\n\n[참고 답변 시작]\n{ref_answer_1}\n[참고 답변 끝]\n\n"
        "[어시스턴트 답변 시작]\n{answer}\n[어시스턴트 답변 끝]",
    ),
    "single-ko-multi-turn": JudgeTemplate(
        "single-ko-multi-turn", _SYSTEM, _INSTR.format(criteria=_GENERAL + _FOCUS2) + _CONV
    ),
    "single-ko-ref-multi-turn": JudgeTemplate(
        "single-ko-ref-multi-turn",
        _SYSTEM,
        _INSTR.format(criteria=_REF + _FOCUS2)
        + "[참고 답변]\n1: {ref_answer_1}\n2: {ref_answer_2}\n\n"
        + _CONV,
    ),
}


def load_judge_templates(path: Path) -> dict[str, JudgeTemplate]:
    """Read a FastChat/KoMT-Bench ``judge_prompts*.jsonl``; keeps the single-grading prompts."""
    from sovereval.bench.loaders import field, read_jsonl

    out = {}
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        if field(rec, "type", where) != "single":
            continue
        name = field(rec, "name", where)
        out[name] = JudgeTemplate(
            name, field(rec, "system_prompt", where), field(rec, "prompt_template", where)
        )
    return out


@dataclass(frozen=True)
class JudgePrompt:
    system: str
    user: str
    template: str
    template_sha256: str

    @property
    def sha256(self) -> str:
        """Hash of exactly what the judge saw (system and user text)."""
        blob = json.dumps(
            {"system": self.system, "user": self.user}, ensure_ascii=False, sort_keys=True
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def build_judge_prompt(
    item: Item, answers: Sequence[str], turn: int = 1, template: JudgeTemplate | None = None
) -> JudgePrompt:
    """The judge prompt for ``turn`` (1 or 2) of ``item`` given the model's ``answers``.

    Without an explicit template: ``single-ko`` or ``single-ko-ref`` (when the item has a
    reference) for turn 1, their ``-multi-turn`` forms for turn 2.
    """
    if turn not in (1, 2):
        raise InputError(f"item {item.id}: turn must be 1 or 2, got {turn}")
    if len(answers) < turn:
        raise InputError(f"item {item.id}: {len(answers)} answers given, turn {turn} needs {turn}")
    turns = item.turns or (item.prompt,)
    if len(turns) < turn:
        raise InputError(f"item {item.id}: has {len(turns)} turn(s), cannot judge turn {turn}")
    has_ref = bool(item.target) or (turn == 2 and bool(item.metadata.get("reference_turn_2")))
    if template is None:
        base = "single-ko-ref" if has_ref else "single-ko"
        template = BUILTIN_TEMPLATES[base if turn == 1 else base + "-multi-turn"]
    values = {
        "question": turns[0],
        "answer": answers[0],
        "ref_answer_1": item.target,
        "question_1": turns[0],
        "answer_1": answers[0],
        "question_2": turns[1] if len(turns) > 1 else "",
        "answer_2": answers[1] if len(answers) > 1 else "",
        "ref_answer_2": item.metadata.get("reference_turn_2", ""),
    }
    try:
        user = template.template.format(**values)
    except (KeyError, IndexError) as exc:
        raise InputError(f"judge template {template.name}: unknown placeholder {exc}") from None
    return JudgePrompt(template.system, user, template.name, template.sha256)


_DOUBLE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*점?\s*\]\]")
_SINGLE = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*\]")
_LABELLED = re.compile(
    r"(?:점수|평점|rating|score)\s*[:：]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10|점)?", re.I
)


def parse_rating(text: str, low: float = 1.0, high: float = 10.0) -> float | None:
    """The rating a judge gave, or ``None``.

    The last ``[[x]]`` wins (FastChat reads the first, but judges sometimes quote the
    ``[[5]]`` example before their verdict); then ``[x]`` (FastChat's backup pattern); then a
    labelled ``점수: 7`` / ``Rating: 7/10``. Ratings outside ``[low, high]`` are rejected.
    """
    for pattern in (_DOUBLE, _SINGLE, _LABELLED):
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if low <= value <= high else None
    return None


@dataclass(frozen=True)
class JudgeVerdict:
    """One judge's rating of one turn of one item, with what is needed to audit it."""

    item_id: str
    judge: str
    judge_version: str
    prompt_sha256: str
    raw: str
    rating: float | None
    turn: int = 1


def verdict(
    item_id: str, judge: str, version: str, prompt: JudgePrompt, raw: str, turn: int = 1
) -> JudgeVerdict:
    """Parse ``raw`` into a :class:`JudgeVerdict`."""
    return JudgeVerdict(item_id, judge, version, prompt.sha256, raw, parse_rating(raw), turn)


def _norm_model(name: str) -> set[str]:
    n = name.strip().lower()
    return {n, n.rsplit("/", 1)[-1], n.rsplit("/", 1)[-1].split(":", 1)[0]}


def assert_not_self(model_under_test: str, judges: Sequence[str]) -> None:
    """RuleViolation if the model under test is on its own panel (names compared case-blind,
    with and without a provider prefix such as ``openai/`` and a ``:tag`` suffix)."""
    target = _norm_model(model_under_test)
    for j in judges:
        if _norm_model(j) & target:
            raise RuleViolation(
                f"judge {j!r} is the model under test {model_under_test!r}; replace it on the panel"
            )


@dataclass(frozen=True)
class PanelScore:
    item_id: str
    mean: float | None
    """Mean over turns of the per-turn panel mean; ``None`` if no judge gave a valid rating."""
    per_judge: Mapping[str, float]
    """Each judge's mean rating over the turns it rated validly."""
    per_turn: Mapping[int, float]
    n_invalid: int
    """Verdicts whose rating could not be parsed (excluded, reported)."""


def aggregate_item(
    verdicts: Sequence[JudgeVerdict], model_under_test: str, min_judges: int = 2
) -> PanelScore:
    """Aggregate one item's verdicts (all turns, all judges) into a :class:`PanelScore`."""
    if not verdicts:
        raise InputError("no judge verdicts to aggregate")
    ids = {v.item_id for v in verdicts}
    if len(ids) != 1:
        raise InputError(f"verdicts of several items given together: {sorted(ids)[:3]}")
    judges = sorted({v.judge for v in verdicts})
    assert_not_self(model_under_test, judges)
    if len(judges) < min_judges:
        raise RuleViolation(
            f"panel of {len(judges)} judge(s); the rules need at least {min_judges}"
        )
    valid = [v for v in verdicts if v.rating is not None]
    per_turn: dict[int, float] = {}
    for t in sorted({v.turn for v in valid}):
        per_turn[t] = float(np.mean([v.rating for v in valid if v.turn == t]))
    per_judge = {
        j: float(np.mean([v.rating for v in valid if v.judge == j]))
        for j in judges
        if any(v.judge == j for v in valid)
    }
    mean = float(np.mean(list(per_turn.values()))) if per_turn else None
    return PanelScore(ids.pop(), mean, per_judge, per_turn, len(verdicts) - len(valid))


@dataclass(frozen=True)
class Agreement:
    alpha_interval: float | None
    """Krippendorff's alpha, interval metric; ``None`` when undefined (fewer than 2 pairable
    ratings, or no variation at all)."""
    mean_abs_diff: float | None
    """Mean |r_a - r_b| over judge pairs and the items both rated."""
    n_units: int
    n_judges: int


def panel_agreement(verdicts: Sequence[JudgeVerdict]) -> Agreement:
    """Agreement of a panel over many items; a unit is an (item, turn) pair."""
    import krippendorff

    valid = [v for v in verdicts if v.rating is not None]
    judges = sorted({v.judge for v in valid})
    units = sorted({(v.item_id, v.turn) for v in valid})
    col = {u: i for i, u in enumerate(units)}
    row = {j: i for i, j in enumerate(judges)}
    data = np.full((len(judges), len(units)), np.nan)
    for v in valid:
        data[row[v.judge], col[(v.item_id, v.turn)]] = v.rating
    alpha: float | None = None
    pairable = int(np.sum(np.sum(~np.isnan(data), axis=0) >= 2)) if units else 0
    if len(judges) >= 2 and pairable >= 1:
        finite = data[~np.isnan(data)]
        if finite.size and np.ptp(finite) > 0:
            alpha = float(
                krippendorff.alpha(reliability_data=data, level_of_measurement="interval")
            )
    diffs = [
        np.abs(data[a] - data[b])[~np.isnan(data[a]) & ~np.isnan(data[b])]
        for a, b in itertools.combinations(range(len(judges)), 2)
    ]
    flat = np.concatenate(diffs) if diffs else np.array([])
    mad = float(flat.mean()) if flat.size else None
    return Agreement(alpha, mad, len(units), len(judges))
