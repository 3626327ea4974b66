"""Scorers: registered by name, each turns (item, model output) into an :class:`ItemScore`.

A scorer declares what it needs from the engine (``requires``):

- ``loglik`` — per-choice log-likelihoods of the rendered continuations (``mc_loglik``);
- ``generate`` — generated text (``mc_letter``, ``exact_match``, ``numeric``);
- ``judge`` — generated text for every turn, then judge verdicts (``judge_rubric``).

All are pure functions; they never call a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from sovereval.bench.answers import normalise_text, parse_letter, parse_number
from sovereval.bench.items import LETTERS, Item
from sovereval.bench.judges import JudgeVerdict, aggregate_item
from sovereval.bench.prompts import TARGET_DELIMITER
from sovereval.errors import InputError

Requirement = Literal["loglik", "generate", "judge"]


@dataclass(frozen=True)
class ModelOutput:
    """What the engine observed for one item."""

    text: str | None = None
    """Generated answer (the last turn's, for multi-turn items)."""
    turn_texts: tuple[str, ...] = ()
    """Generated answer per turn (writing)."""
    choice_logprobs: tuple[float, ...] | None = None
    """``log P(continuation_i | context)`` summed over the continuation's tokens."""
    continuations: tuple[str, ...] = ()
    """The continuation strings that were scored, as rendered (``" A"``, ...)."""
    verdicts: tuple[JudgeVerdict, ...] = ()
    model: str = ""
    """Name of the model under test (judge scorers refuse self-judging)."""


@dataclass(frozen=True)
class ItemScore:
    value: float | None
    """The task's per-item score: 0/1 for accuracy scorers, the panel mean (1-10) for
    ``judge_rubric``; ``None`` when it cannot be computed (e.g. no valid judge rating)."""
    extracted: str | None = None
    """What was parsed from the output (letter, number, normalised text)."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Secondary metrics (``acc``, ``acc_norm``, ``acc_bytes``; per-judge means)."""


ScorerFn = Callable[[Item, ModelOutput, Mapping[str, Any]], ItemScore]


@dataclass(frozen=True)
class Scorer:
    name: str
    requires: Requirement
    fn: ScorerFn

    def __call__(
        self, item: Item, output: ModelOutput, options: Mapping[str, Any] | None = None
    ) -> ItemScore:
        return self.fn(item, output, options or {})


_SCORERS: dict[str, Scorer] = {}


def register_scorer(name: str, requires: Requirement) -> Callable[[ScorerFn], ScorerFn]:
    """Register ``fn(item, output, options) -> ItemScore`` under ``name`` (decorator)."""

    def deco(fn: ScorerFn) -> ScorerFn:
        if name in _SCORERS:
            raise ValueError(f"scorer {name!r} is registered twice")
        _SCORERS[name] = Scorer(name, requires, fn)
        return fn

    return deco


def scorer_names() -> list[str]:
    return sorted(_SCORERS)


def get_scorer(name: str) -> Scorer:
    try:
        return _SCORERS[name]
    except KeyError:
        raise InputError(
            f"unknown scorer {name!r}; registered: {', '.join(scorer_names())}"
        ) from None


def _strip_delim(c: str) -> str:
    return c[len(TARGET_DELIMITER) :] if c.startswith(TARGET_DELIMITER) else c


def mc_loglik_metrics(logprobs: Any, choices: Any, gold: int) -> dict[str, float]:
    """``acc``, ``acc_norm`` and ``acc_bytes`` exactly as lm-evaluation-harness 0.4 computes them
    (``api/task.py``, ``process_results`` for ``multiple_choice``):

    - ``acc`` = [argmax_i ll_i == gold];
    - ``acc_norm`` = [argmax_i ll_i / len(choice_i) == gold] — length in *characters* of the
      choice string without the target delimiter (Gao et al. 2021 call this per-character
      normalisation);
    - ``acc_bytes`` = the same with the UTF-8 byte length.

    ``np.argmax`` breaks ties towards the first choice, as lm-eval does.
    """
    ll = np.asarray(logprobs, dtype=np.float64)
    texts = [_strip_delim(c) for c in choices]
    chars = np.array([max(len(t), 1) for t in texts], dtype=np.float64)
    nbytes = np.array([max(len(t.encode("utf-8")), 1) for t in texts], dtype=np.float64)
    return {
        "acc": float(int(np.argmax(ll)) == gold),
        "acc_norm": float(int(np.argmax(ll / chars)) == gold),
        "acc_bytes": float(int(np.argmax(ll / nbytes)) == gold),
    }


@register_scorer("mc_loglik", requires="loglik")
def mc_loglik(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Multiple choice by per-choice log-likelihood. Option ``metric``: acc (default),
    acc_norm or acc_bytes picks which one is the item's ``value``."""
    if output.choice_logprobs is None:
        raise InputError(f"item {item.id}: mc_loglik needs per-choice log-likelihoods")
    lps = output.choice_logprobs
    conts = output.continuations or tuple(
        TARGET_DELIMITER + c for c in LETTERS[: len(item.choices)]
    )
    if len(lps) != len(item.choices) or len(conts) != len(lps):
        raise InputError(
            f"item {item.id}: {len(lps)} log-likelihoods for {len(item.choices)} choices"
        )
    if any(math.isnan(x) for x in lps):
        raise InputError(f"item {item.id}: NaN log-likelihood from the backend")
    metrics = mc_loglik_metrics(lps, conts, item.target_index)
    metric = options.get("metric", "acc")
    if metric not in metrics:
        raise InputError(f"mc_loglik option metric={metric!r}; use acc, acc_norm or acc_bytes")
    pred = LETTERS[int(np.argmax(np.asarray(lps)))]
    return ItemScore(metrics[metric], pred, metrics)


@register_scorer("mc_letter", requires="generate")
def mc_letter(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Multiple choice by the letter parsed from generated text (see ``answers.parse_letter``)."""
    del options
    letter = parse_letter(output.text or "", item.choices)
    return ItemScore(float(letter == item.target), letter)


@register_scorer("exact_match", requires="generate")
def exact_match(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Normalised exact match (``answers.normalise_text``). Option ``extract``: ``last_line``
    compares only the last non-empty line of the response."""
    text = output.text or ""
    if options.get("extract") == "last_line":
        lines = [ln for ln in text.splitlines() if ln.strip()]
        text = lines[-1] if lines else ""
    got = normalise_text(text)
    return ItemScore(float(got == normalise_text(item.target) and got != ""), got)


@register_scorer("numeric", requires="generate")
def numeric(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Numeric answer within tolerance: |pred - gold| <= max(abs_tol, rel_tol * |gold|).

    Options ``abs_tol`` (default 1e-6) and ``rel_tol`` (default 0); comparison is exact on
    fractions when both tolerances are 0.
    """
    gold = parse_number(item.target)
    if gold is None:
        raise InputError(f"item {item.id}: target {item.target!r} is not a number")
    pred = parse_number(output.text or "")
    if pred is None:
        return ItemScore(0.0, None)
    abs_tol = Fraction(str(options.get("abs_tol", 1e-6)))
    rel_tol = Fraction(str(options.get("rel_tol", 0)))
    ok = abs(pred - gold) <= max(abs_tol, rel_tol * abs(gold))
    shown = str(pred.numerator) if pred.denominator == 1 else f"{float(pred):g}"
    return ItemScore(float(ok), shown)


@register_scorer("judge_rubric", requires="judge")
def judge_rubric(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Writing scored by a judge panel (``judges.aggregate_item``): the mean over turns of the
    panel's mean 1-10 rating. Option ``min_judges`` (default 2)."""
    if not output.verdicts:
        raise InputError(f"item {item.id}: judge_rubric needs judge verdicts")
    panel = aggregate_item(output.verdicts, output.model, int(options.get("min_judges", 2)))
    metrics = {f"judge:{k}": v for k, v in panel.per_judge.items()}
    metrics.update({f"turn:{t}": v for t, v in panel.per_turn.items()})
    return ItemScore(panel.mean, None, metrics)


# The government set's scorers register themselves on import (they import this module).
from sovereval.bench import scorers_gov  # noqa: E402, F401
