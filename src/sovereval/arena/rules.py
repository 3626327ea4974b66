"""The user evaluation's rules as pure functions: the policy read from the RuleSet, the start
of a panelist's day, what a vote must carry, what a prompt may be, and which battle states
follow which.

Every arena rule has its home here or in the services that apply it to the store
(``arena.battles`` for battles, ``arena.votes`` for votes); the web layer only parses and
renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from sovereval.arena.bt import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE
from sovereval.competition.rules import RuleSet
from sovereval.errors import InputError, RuleViolation

OUTCOMES = {"a": OUTCOME_A, "b": OUTCOME_B, "tie": OUTCOME_TIE, "both_bad": OUTCOME_BOTH_BAD}

BATTLE_STATES = ("pending", "ready", "voted", "failed", "retried")
"""pending (answers being generated) -> ready -> voted; pending -> failed -> retried (a new
battle takes its prompt). A pending battle whose answer names a model stays pending while the
answers are regenerated; it is never shown and never voted on."""

TRANSITIONS = {
    "pending": ("ready", "failed", "retried"),
    "ready": ("voted",),
    "failed": ("retried",),
}


@dataclass(frozen=True)
class ArenaPolicy:
    """A round's user-evaluation policy (``RuleSet.arena_policy()``, typed)."""

    daily_cap: int
    day_offset_hours: int
    """The daily cap's midnight is local midnight at UTC+offset (KST = 9)."""
    answer_timeout_s: float
    max_tokens: int
    temperature: float
    max_prompt_chars: int
    max_regenerations: int
    """Times a leaking answer pair is generated again before the battle fails."""
    prompts: tuple[str, ...]
    """The round's curated prompt set (empty: the package's example prompts)."""
    weighting: str = "none"
    """``raking``: Likert means are weighted to the quotas (``arena.panel.raking_weights``)."""
    quotas: Mapping[str, Mapping[str, int]] | None = None


def policy_of(rules: RuleSet) -> ArenaPolicy:
    pol = rules.arena_policy()
    if pol["weighting"] not in ("none", "raking"):
        raise InputError(f"arena.weighting must be 'none' or 'raking', not '{pol['weighting']}'")
    raw = pol.get("prompts")
    prompts = tuple(str(p) for p in raw if str(p).strip()) if isinstance(raw, list) else ()
    return ArenaPolicy(
        daily_cap=int(pol["daily_cap"]),
        day_offset_hours=int(pol["day_offset_hours"]),
        answer_timeout_s=float(pol["answer_timeout_s"]),
        max_tokens=int(pol["max_tokens"]),
        temperature=float(pol["temperature"]),
        max_prompt_chars=int(pol["max_prompt_chars"]),
        max_regenerations=int(pol["max_regenerations"]),
        prompts=prompts,
        weighting=str(pol["weighting"]),
        quotas=pol.get("quotas"),
    )


def day_start(now: datetime, offset_hours: int) -> datetime:
    """Start of the panelist's day: local midnight at UTC+offset, as a UTC time. The one
    "start of day" rule of the daily cap."""
    local = now.astimezone(UTC) + timedelta(hours=offset_hours)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(hours=offset_hours)


def check_ratings(outcome: str, ratings: Sequence[int]) -> None:
    if outcome not in OUTCOMES:
        raise InputError(f"vote must be one of {', '.join(OUTCOMES)}, not '{outcome}'")
    for v in ratings:
        if not 1 <= int(v) <= 5:
            raise InputError("ratings are on a 1-5 scale")


def check_can_compare(round_number: int, round_status: str, panelist_status: str) -> None:
    """Battles are started and voted on only in an open round by an active panelist."""
    if round_status != "open":
        raise RuleViolation(
            f"round {round_number} is {round_status}; comparisons run while it is open"
        )
    if panelist_status != "active":
        raise RuleViolation(f"the panel membership is {panelist_status}; no comparisons")


def check_cap(used: int, cap: int, code: str) -> None:
    if used >= cap:
        raise RuleViolation(f"daily cap of {cap} votes reached for panelist {code}")


def check_transition(battle_id: int, old: str, new: str) -> None:
    if new not in TRANSITIONS.get(old, ()):
        raise RuleViolation(f"battle {battle_id} is {old}; it cannot become {new}")


def choose_prompt(
    prompt: str,
    source: str,
    policy: ArenaPolicy,
    fallback: Sequence[str],
    rng: np.random.Generator,
) -> str:
    """The battle's prompt: the panelist's own (trimmed, within the length limit) or one drawn
    from the round's curated set (``fallback`` when the rules give none)."""
    if source == "curated":
        pool = policy.prompts or tuple(fallback)
        prompt = pool[int(rng.integers(len(pool)))]
    elif source != "own":
        raise InputError("prompt source must be 'own' or 'curated'")
    prompt = prompt.strip()
    if not prompt:
        raise InputError("write a prompt, or draw one from the curated set")
    if len(prompt) > policy.max_prompt_chars:
        raise InputError(
            f"the prompt has {len(prompt)} characters; the limit is {policy.max_prompt_chars}"
        )
    return prompt
