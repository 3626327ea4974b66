"""Prompt templates: how an :class:`Item` becomes the text a model sees.

Every template is a pure function of the item, registered by name, so that a suite spec can
name it and the engine can render it identically for log-likelihood and generation runs.

For multiple choice scored by log-likelihood, a template yields a *context* and one
*continuation* per choice, exactly as lm-evaluation-harness builds its ``loglikelihood``
requests: ``context = doc_to_text(doc)``, ``continuation = target_delimiter + choice`` with
``target_delimiter = " "`` (lm-eval ``api/task.py``, ``construct_requests``). The engine must
score ``log P(continuation | context)`` summed over the continuation's tokens; tokenising the
context and continuation separately (context tokens, then continuation tokens) is what
lm-eval's HF backend does, and is what keeps our ``acc`` within its tolerance.

Templates named ``*_lmeval`` reproduce a named lm-eval task's ``doc_to_text`` byte for byte,
quirks included, so that ``benchmarks/bench_vs_lmeval.py`` can compare like with like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sovereval.bench.items import LETTERS, Item
from sovereval.errors import InputError

TARGET_DELIMITER = " "
"""lm-eval's default ``target_delimiter``: the space between context and continuation."""


@dataclass(frozen=True)
class RenderedPrompt:
    """What the engine sends: one context, and for MC the continuations to score."""

    context: str
    """Text given to the model (the whole prompt for generation; the conditioning text for
    log-likelihood)."""
    continuations: tuple[str, ...] = ()
    """For MC: one string per choice, delimiter included (``" A"``); empty otherwise."""
    target_index: int | None = None
    """Index of the correct continuation (MC only)."""
    system: str = ""
    """Optional system message for chat endpoints (generation only)."""


TemplateFn = Callable[[Item], RenderedPrompt]
_TEMPLATES: dict[str, TemplateFn] = {}


def register_template(name: str) -> Callable[[TemplateFn], TemplateFn]:
    """Register a prompt template under ``name`` (decorator)."""

    def deco(fn: TemplateFn) -> TemplateFn:
        if name in _TEMPLATES:
            raise ValueError(f"prompt template {name!r} is registered twice")
        _TEMPLATES[name] = fn
        return fn

    return deco


def template_names() -> list[str]:
    """Names of every registered template, sorted."""
    return sorted(_TEMPLATES)


def get_template(name: str) -> TemplateFn:
    """The template registered as ``name``; InputError listing the known names otherwise."""
    try:
        return _TEMPLATES[name]
    except KeyError:
        raise InputError(
            f"unknown prompt template {name!r}; registered: {', '.join(template_names())}"
        ) from None


def render(item: Item, template: str) -> RenderedPrompt:
    """Render ``item`` with the template named ``template``."""
    return get_template(template)(item)


def _require_mc(item: Item) -> None:
    if item.kind != "mc" or not item.choices:
        raise InputError(f"item {item.id}: template needs a multiple-choice item with choices")
    if len(item.choices) > len(LETTERS):
        raise InputError(f"item {item.id}: {len(item.choices)} choices, at most {len(LETTERS)}")


def _letters(item: Item) -> str:
    return LETTERS[: len(item.choices)]


def _letter_continuations(item: Item) -> tuple[str, ...]:
    return tuple(TARGET_DELIMITER + letter for letter in _letters(item))


def _choice_block(item: Item, sep: str = ". ") -> str:
    return "\n".join(
        f"{letter}{sep}{choice}"
        for letter, choice in zip(_letters(item), item.choices, strict=True)
    )


@register_template("mc_en")
def mc_en(item: Item) -> RenderedPrompt:
    """English lm-eval style: ``Question: {q}\\nA. {c0}\\n...\\nAnswer:``, continuations `` A``..."""
    _require_mc(item)
    context = f"Question: {item.prompt.strip()}\n{_choice_block(item)}\nAnswer:"
    return RenderedPrompt(context, _letter_continuations(item), item.target_index)


@register_template("mc_ko")
def mc_ko(item: Item) -> RenderedPrompt:
    """Korean: ``질문: {q}\\nA. {c0}\\n...\\n정답:``, continuations `` A``... (same shape as mc_en)."""
    _require_mc(item)
    context = f"질문: {item.prompt.strip()}\n{_choice_block(item)}\n정답:"
    return RenderedPrompt(context, _letter_continuations(item), item.target_index)


@register_template("mc_ko_choice_text")
def mc_ko_choice_text(item: Item) -> RenderedPrompt:
    """Korean question without listed choices; continuations are `` {choice text}``.

    This is the cloze form (lm-eval's hellaswag/arc style) where ``acc_norm`` matters,
    because choice texts differ in length.
    """
    _require_mc(item)
    context = f"질문: {item.prompt.strip()}\n정답:"
    conts = tuple(TARGET_DELIMITER + c for c in item.choices)
    return RenderedPrompt(context, conts, item.target_index)


@register_template("mc_ko_generate")
def mc_ko_generate(item: Item) -> RenderedPrompt:
    """Chat/generation form: asks for one letter; scored by ``mc_letter``."""
    _require_mc(item)
    letters = ", ".join(_letters(item))
    context = (
        f"다음 질문을 읽고 보기 {letters} 중에서 정답 하나를 고르세요. "
        f"'정답: X' 형식으로 알파벳 하나만 답하세요.\n\n"
        f"질문: {item.prompt.strip()}\n{_choice_block(item)}\n정답:"
    )
    return RenderedPrompt(context, (), item.target_index)


@register_template("mc_en_generate")
def mc_en_generate(item: Item) -> RenderedPrompt:
    """English chat/generation form asking for one letter."""
    _require_mc(item)
    letters = ", ".join(_letters(item))
    context = (
        f"Read the question and choose one answer from {letters}. "
        f"Reply in the form 'Answer: X' with a single letter.\n\n"
        f"Question: {item.prompt.strip()}\n{_choice_block(item)}\nAnswer:"
    )
    return RenderedPrompt(context, (), item.target_index)


@register_template("click_lmeval")
def click_lmeval(item: Item) -> RenderedPrompt:
    """lm-eval 0.4.x ``click`` task's ``get_context`` byte for byte.

    Quirks reproduced on purpose: ``"A:{c0}, B: {c1}"`` (no space after ``A:``), and only four
    choices are *shown* even on five-choice CSAT items, though five continuations are scored.
    Needs ``metadata["paragraph"]`` and ``metadata["question"]`` (the CLIcK loader sets them).
    """
    _require_mc(item)
    ctx = item.metadata.get("paragraph", "")
    q = item.metadata.get("question", item.prompt)
    o = list(item.choices) + [""] * max(0, 4 - len(item.choices))
    shown = f"A:{o[0]}, B: {o[1]}, C: {o[2]}, D: {o[3]}"
    if ctx:
        text = (
            "주어진 맥락을 천천히 읽고, 질문에 대한 적절한 정답을 A, B, C, D 중에 골라 알파벳 하나로 답하시오."
            f"\n\n맥락: {ctx}\n질문: {q}\n보기:\n{shown}\n정답:"
        )
    else:
        text = (
            "주어진 질문을 천천히 읽고, 적절한 정답을 A, B, C, D 중에 골라 알파벳 하나로 답하시오."
            f"\n\n질문: {q}\n보기:\n{shown}\n정답:"
        )
    return RenderedPrompt(text, _letter_continuations(item), item.target_index)


@register_template("kmmlu_lmeval")
def kmmlu_lmeval(item: Item) -> RenderedPrompt:
    """lm-eval ``kmmlu`` (default): ``{q}\\nA. ..\\nD. ..\\n정답：`` (full-width colon U+FF1A)."""
    _require_mc(item)
    context = f"{item.prompt.strip()}\n{_choice_block(item)}\n정답："
    return RenderedPrompt(context, _letter_continuations(item), item.target_index)


@register_template("haerae_lmeval")
def haerae_lmeval(item: Item) -> RenderedPrompt:
    """lm-eval ``haerae``: the query as is (options are inside it); continuations `` (A)``..."""
    _require_mc(item)
    conts = tuple(f"{TARGET_DELIMITER}({letter})" for letter in _letters(item))
    return RenderedPrompt(item.prompt, conts, item.target_index)


@register_template("plain")
def plain(item: Item) -> RenderedPrompt:
    """The prompt as is (writing turn 1, or any generation task)."""
    return RenderedPrompt(item.prompt)


@register_template("math_ko_boxed")
def math_ko_boxed(item: Item) -> RenderedPrompt:
    """lm-eval ``hrm8k`` ``doc_to_text``: asks for the final answer as ``$\\boxed{N}$``."""
    text = (
        "주어진 문제를 풀어보세요.\n"
        "문제를 푼 후, 최종 답변을 다음과 같은 형식으로 작성하세요: $\\boxed{N}$.\n\n"
        f"문제: {item.prompt.strip()}\n답변:"
    )
    return RenderedPrompt(text)


@register_template("math_en")
def math_en(item: Item) -> RenderedPrompt:
    """English maths prompt asking for the final number on its own line."""
    text = (
        "Solve the problem. End with a line 'Answer: N' giving only the final number.\n\n"
        f"Problem: {item.prompt.strip()}\nSolution:"
    )
    return RenderedPrompt(text)
