"""Resource allocations (GPUs, data) and the equal-support check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Allocation:
    team: str
    resource: str
    """E.g. ``gpu_h100`` or ``data_tb``."""
    amount: float
    unit: str = ""


@dataclass(frozen=True)
class EqualityReport:
    equal: bool
    issues: tuple[str, ...]
    """One line per team and resource that differs from the most common allocation."""


def check_equal_support(
    teams: Sequence[str], allocations: Sequence[Allocation], tol: float = 1e-9
) -> EqualityReport:
    """Every admitted team must receive the same amount of every resource any team receives."""
    resources = sorted({a.resource for a in allocations})
    if not resources:
        return EqualityReport(False, ("no allocations are recorded for these teams",))
    totals: dict[tuple[str, str], float] = {}
    for a in allocations:
        totals[(a.team, a.resource)] = totals.get((a.team, a.resource), 0.0) + a.amount
    issues: list[str] = []
    for r in resources:
        amounts = [totals.get((t, r), 0.0) for t in teams]
        # The reference is the most common amount (ties -> the larger), so one outlier is named.
        ref = max(set(amounts), key=lambda v: (amounts.count(v), v))
        for t, v in zip(teams, amounts, strict=True):
            if abs(v - ref) > tol:
                issues.append(f"{t}: {r} = {v:g}, others receive {ref:g}")
    return EqualityReport(not issues, tuple(issues))
