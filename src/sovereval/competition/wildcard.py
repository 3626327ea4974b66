"""Wild-card calls: eligibility, a panel vote, and a majority that may select nobody."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sovereval.errors import RuleViolation

ELIGIBLE_KINDS = ("eliminated", "earlier_applicant", "new")


@dataclass(frozen=True)
class WildcardOutcome:
    selected: tuple[str, ...]
    approvals: Mapping[str, int]
    majority: int
    """Approvals needed: a strict majority of the whole panel, not of votes cast."""
    reason: str


def check_eligible(kind: str, eligible_kinds: Sequence[str]) -> None:
    if kind not in ELIGIBLE_KINDS:
        raise RuleViolation(
            f"unknown applicant kind '{kind}'; expected one of {', '.join(ELIGIBLE_KINDS)}"
        )
    if kind not in eligible_kinds:
        raise RuleViolation(
            f"this call does not admit applicants of kind '{kind}' (eligible: {', '.join(eligible_kinds)})"
        )


def decide(
    applications: Sequence[str],
    votes: Mapping[tuple[str, str], bool],
    panel: Sequence[str],
    slots: int = 1,
) -> WildcardOutcome:
    """Select up to ``slots`` applicants approved by a strict majority of the panel.

    ``votes`` maps ``(expert, applicant) -> approve``. Votes from outside the panel are
    rejected. Ties for the last slot are not broken by chance: if two applicants with equal
    approvals compete for one remaining slot, neither is selected and the reason says so,
    since the panel has not expressed a majority preference between them.
    """
    panel_set = set(panel)
    if not panel_set:
        raise RuleViolation("a wild-card call needs an expert panel")
    for expert, _ in votes:
        if expert not in panel_set:
            raise RuleViolation(f"'{expert}' is not on this call's panel")
    majority = len(panel_set) // 2 + 1
    approvals = {a: sum(1 for (e, x), ok in votes.items() if x == a and ok) for a in applications}
    passing = sorted(
        (a for a in applications if approvals[a] >= majority), key=lambda a: -approvals[a]
    )
    if not passing:
        return WildcardOutcome(
            (),
            approvals,
            majority,
            f"no applicant reached a majority of {majority} of {len(panel_set)}",
        )
    chosen: list[str] = []
    for a in passing:
        if len(chosen) >= slots:
            break
        rest = [b for b in passing if b not in chosen]
        tied = [b for b in rest if approvals[b] == approvals[a]]
        if len(chosen) + len(tied) > slots:
            why = f"tie between {', '.join(sorted(tied))} for the remaining slot; the panel must vote again"
            return WildcardOutcome(tuple(chosen), approvals, majority, why)
        chosen.extend(tied)
    return WildcardOutcome(
        tuple(chosen),
        approvals,
        majority,
        f"selected by at least {majority} of {len(panel_set)} panel votes",
    )
