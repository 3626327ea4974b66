"""Scorecards: raw results -> points with 95% intervals, totals, ranks and decisions.

Interval propagation uses the normal approximation throughout: an input's interval
``[lo, hi]`` at level ``1 - a`` gives ``sigma = (hi - lo) / (2 z_{1-a/2})``. Ratios use the
delta method, ``Var(x/t) ~= (x/t)^2 (sx^2/x^2 + st^2/t^2)`` (independent inputs), and sums of
independent parts add variances. Each part's interval is then clipped to ``[0, points]``,
since points cannot leave that range. Totals use the unclipped standard deviations, which is
conservative (wider) when a clip bites.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from sovereval.competition.rules import CATEGORIES, PartRule, RuleSet
from sovereval.errors import InputError

Decision = Literal["advance", "eliminate", "disqualify"]


@dataclass(frozen=True)
class Measurement:
    """A raw result with its own uncertainty interval (at the rule set's interval level)."""

    value: float
    lo: float
    hi: float

    @classmethod
    def exact(cls, value: float) -> Measurement:
        return cls(value, value, value)

    def sigma(self, z: float) -> float:
        return max(self.hi - self.lo, 0.0) / (2.0 * z)


@dataclass(frozen=True)
class TeamInputs:
    team: str
    parts: Mapping[str, Measurement]
    """Raw result per part key."""
    targets: Mapping[str, Measurement] = field(default_factory=dict)
    """For ``target_ratio`` parts: the declared target model's result on the same items."""
    gate_failures: tuple[str, ...] = ()
    """Reasons a gate failed (e.g. originality); any failure disqualifies."""


@dataclass(frozen=True)
class PartScore:
    key: str
    category: str
    points: float
    lo: float
    hi: float
    sigma: float
    max_points: float
    raw: float


@dataclass(frozen=True)
class TeamScore:
    team: str
    parts: tuple[PartScore, ...]
    categories: Mapping[str, tuple[float, float, float]]
    """Category -> (points, lo, hi)."""
    total: float
    total_lo: float
    total_hi: float
    rank: int = 0
    rank_upper: int = 0
    """Best rank consistent with the intervals (an upper bound on the position, as in Chatbot
    Arena): 1 + #eligible teams whose lower bound exceeds our upper bound."""
    decision: Decision = "advance"
    reason: str = ""


def z_for(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _clip(x: float, top: float) -> float:
    return min(max(x, 0.0), top)


def part_points(
    rule: PartRule,
    x: Measurement,
    *,
    z: float,
    target: Measurement | None = None,
    best: Measurement | None = None,
) -> PartScore:
    """Points for one part, with a propagated interval (see module docstring)."""
    m, p = rule.mapping, rule.points
    sx = x.sigma(z)
    if m.kind == "absolute":
        scale = p / (m.hi - m.lo)
        centre = (x.value - m.lo) * scale
        sd = sx * scale
    elif m.kind in ("target_ratio", "relative_best"):
        ref = target if m.kind == "target_ratio" else best
        if ref is None:
            what = "target model result" if m.kind == "target_ratio" else "best team result"
            raise InputError(f"part '{rule.key}' needs a {what}")
        if ref.value <= 0:
            raise InputError(
                f"part '{rule.key}': reference result must be positive, got {ref.value}"
            )
        ratio = x.value / ref.value
        rel = (sx / x.value) ** 2 if x.value > 0 else 0.0
        sr = 0.0 if ref is x else ref.sigma(z)
        var_ratio = ratio**2 * (rel + (sr / ref.value) ** 2)
        if x.value <= 0:
            var_ratio = (sx / ref.value) ** 2
        goal = m.goal if m.kind == "target_ratio" else 1.0
        centre = p * min(ratio / goal, 1.0) if m.kind == "target_ratio" else p * ratio
        sd = p * math.sqrt(var_ratio) / goal
    else:  # pragma: no cover - validated in rules
        raise InputError(f"unknown mapping {m.kind}")
    return PartScore(
        key=rule.key,
        category=rule.category,
        points=_clip(centre, p),
        lo=_clip(centre - z * sd, p),
        hi=_clip(centre + z * sd, p),
        sigma=sd,
        max_points=p,
        raw=x.value,
    )


def _lot(seed: str, team: str) -> str:
    return hashlib.sha256(f"{seed}:{team}".encode()).hexdigest()


def score_round(rules: RuleSet, teams: Sequence[TeamInputs]) -> list[TeamScore]:
    """Score every team, rank, and decide advance / eliminate / disqualify.

    Disqualification overrides points: a disqualified team keeps its scores for transparency
    but takes no advancement slot and is ranked after every eligible team.
    """
    seen: set[str] = set()
    for t in teams:
        if t.team in seen:
            raise InputError(f"team '{t.team}' appears twice in the round inputs")
        seen.add(t.team)
    z = z_for(rules.interval_level)
    best: dict[str, Measurement] = {}
    for rule in rules.parts:
        if rule.mapping.kind == "relative_best":
            vals = [t.parts[rule.key] for t in teams if rule.key in t.parts]
            if vals:
                best[rule.key] = max(vals, key=lambda m: m.value)
    scored: list[TeamScore] = []
    for t in teams:
        parts = []
        for rule in rules.parts:
            if rule.key not in t.parts:
                raise InputError(f"team '{t.team}' has no result for part '{rule.key}'")
            parts.append(
                part_points(
                    rule,
                    t.parts[rule.key],
                    z=z,
                    target=t.targets.get(rule.key),
                    best=best.get(rule.key),
                )
            )
        cats: dict[str, tuple[float, float, float]] = {}
        for c in CATEGORIES:
            cp = [ps for ps in parts if ps.category == c]
            pts = sum(ps.points for ps in cp)
            sd = math.sqrt(sum(ps.sigma**2 for ps in cp))
            top = sum(ps.max_points for ps in cp)
            cats[c] = (pts, _clip(pts - z * sd, top), _clip(pts + z * sd, top))
        total = sum(ps.points for ps in parts)
        tsd = math.sqrt(sum(ps.sigma**2 for ps in parts))
        top = sum(ps.max_points for ps in parts)
        scored.append(
            TeamScore(
                t.team,
                tuple(parts),
                cats,
                total,
                _clip(total - z * tsd, top),
                _clip(total + z * tsd, top),
            )
        )
    return _rank_and_decide(rules, teams, scored)


def _sort_key(rules: RuleSet, s: TeamScore) -> tuple[object, ...]:
    keys: list[object] = [-round(s.total, 9)]
    for tb in rules.advancement.tie_breaks:
        if tb in s.categories:
            keys.append(-round(s.categories[tb][0], 9))
        else:
            keys.append(-round(next(p.points for p in s.parts if p.key == tb), 9))
    keys.append(_lot(rules.lot_seed, s.team))
    return tuple(keys)


def _rank_and_decide(
    rules: RuleSet, teams: Sequence[TeamInputs], scored: list[TeamScore]
) -> list[TeamScore]:
    failures = {t.team: t.gate_failures for t in teams}
    eligible = sorted(
        (s for s in scored if not failures[s.team]), key=lambda s: _sort_key(rules, s)
    )
    disq = sorted((s for s in scored if failures[s.team]), key=lambda s: _sort_key(rules, s))
    adv = rules.advancement
    n = len(eligible)
    n_adv = (
        max(n - adv.eliminate_lowest, 0)
        if adv.eliminate_lowest is not None
        else min(adv.advance_count or 0, n)
    )
    out: list[TeamScore] = []
    for i, s in enumerate(eligible):
        # Among eligible teams only: a disqualified team never occupies a rank above them.
        upper = 1 + sum(1 for o in eligible if o.team != s.team and o.total_lo > s.total_hi)
        if adv.min_total is not None and s.total < adv.min_total:
            decision: Decision = "eliminate"
            reason = f"total {s.total:.2f} below the minimum {adv.min_total:.2f}"
        elif i < n_adv:
            decision, reason = "advance", f"rank {i + 1} of {n} eligible; {n_adv} advance"
        else:
            decision = "eliminate"
            reason = f"rank {i + 1} of {n} eligible; only {n_adv} advance"
        out.append(_with(s, i + 1, upper, decision, reason))
    for j, s in enumerate(disq):
        upper = 1 + sum(1 for o in scored if o.team != s.team and o.total_lo > s.total_hi)
        reason = "disqualified: " + "; ".join(failures[s.team]) + " (overrides points)"
        out.append(_with(s, n + j + 1, upper, "disqualify", reason))
    return out


def _with(s: TeamScore, rank: int, upper: int, decision: Decision, reason: str) -> TeamScore:
    return TeamScore(
        s.team,
        s.parts,
        s.categories,
        s.total,
        s.total_lo,
        s.total_hi,
        rank,
        upper,
        decision,
        reason,
    )


def points_rank_by_total(scores: Sequence[TeamScore]) -> dict[str, int]:
    """Rank on points alone (disqualification ignored), e.g. to say 'top-four score'."""
    order = sorted(scores, key=lambda s: -s.total)
    return {s.team: i + 1 for i, s in enumerate(order)}
