"""The versioned, content-hashed RuleSet: all competition policy lives here.

A RuleSet is plain data. Its content hash (SHA-256 of canonical JSON) names the exact rules a
result was computed under; once its round opens it is frozen, and a change needs an amendment
with a written rationale, which creates a new version (see ``service.amend_rules``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from sovereval.errors import InputError

Category = Literal["benchmark", "expert", "user"]
CATEGORIES: tuple[Category, ...] = ("benchmark", "expert", "user")
MappingKind = Literal["absolute", "target_ratio", "relative_best"]


@dataclass(frozen=True)
class PointMapping:
    """How a part's raw result becomes points.

    - ``absolute``: ``points * clip((x - lo) / (hi - lo), 0, 1)``.
    - ``target_ratio``: ``points * min(1, (x / target) / goal)``: the team is compared with the
      global target model it declared; reaching ``goal`` (e.g. 95% of frontier) earns full points.
    - ``relative_best``: ``points * x / max_teams(x)``.
    """

    kind: MappingKind = "absolute"
    lo: float = 0.0
    """Raw value worth zero points (``absolute``)."""
    hi: float = 1.0
    """Raw value worth full points (``absolute``)."""
    goal: float = 0.95
    """Fraction of the target model's result that earns full points (``target_ratio``)."""


@dataclass(frozen=True)
class PartRule:
    key: str
    """Stable identifier, e.g. ``government``, ``common``, ``team``, ``expert``, ``user``."""
    category: Category
    points: float
    mapping: PointMapping = field(default_factory=PointMapping)
    title: str = ""


@dataclass(frozen=True)
class Advancement:
    eliminate_lowest: int | None = 1
    """Eliminate this many of the eligible (not disqualified) teams on points."""
    advance_count: int | None = None
    """Alternatively, advance exactly this many eligible teams (the rest are eliminated)."""
    tie_breaks: tuple[str, ...] = ("benchmark", "expert", "user")
    """Categories compared in order when totals tie; a seeded lot decides a remaining tie."""
    min_total: float | None = None
    """Teams below this total are eliminated whatever their rank."""


@dataclass(frozen=True)
class Gates:
    originality_disqualifies: bool = True
    """A component derived from an undeclared or foreign parent disqualifies, whatever the points."""
    licence_restriction_disqualifies: bool = False
    """A usage-restricting licence on a component disqualifies (otherwise it is flagged)."""


ARENA_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "daily_cap": 50,
        "day_offset_hours": 9,
        "answer_timeout_s": 120.0,
        "max_tokens": 512,
        "temperature": 0.7,
        "max_prompt_chars": 4000,
        "max_regenerations": 2,
        "weighting": "none",
    }
)
"""User-evaluation policy a rule set's ``arena`` section may override: votes per panelist per
day (``daily_cap``, counted from local midnight at UTC+``day_offset_hours``; KST by default),
answer generation limits, the prompt length limit, and how often an answer that names its own
model is regenerated before the battle fails (``max_regenerations``), and whether the Likert
summaries are raked to the panel quotas (``weighting``: ``none`` | ``raking``; ``quotas`` gives
the targets, the reference design otherwise). ``prompts`` (a list of strings) is the round's
curated prompt set."""


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: int = 1
    parts: tuple[PartRule, ...] = ()
    advancement: Advancement = field(default_factory=Advancement)
    gates: Gates = field(default_factory=Gates)
    appeal_window_days: int = 10
    min_expert_agreement: float = 0.667
    """Krippendorff's alpha floor; below it the round is flagged and extra review is triggered."""
    review_rubric: Mapping[str, Any] = field(default_factory=dict)
    """Expert-review rubric as plain data (parsed by ``review.rubric``; empty = the default rubric)."""
    review: Mapping[str, Any] = field(default_factory=dict)
    """Expert-review policy over ``review.service.DEFAULT_POLICY``: reviewers per submission,
    load bounds, probability cap, conflict window, trimming, deadline."""
    arena: Mapping[str, Any] = field(default_factory=dict)
    """User-evaluation policy over ``ARENA_DEFAULTS`` (read through ``arena_policy()``)."""
    interval_level: float = 0.95
    lot_seed: str = "sovereval"
    """Seed of the lot that breaks exact ties after all tie-breaks."""
    total_points: float = 100.0
    """The declared total: a rule set whose parts do not sum to it cannot be drafted or
    published (see :func:`check_total`). Left out of the canonical form when it is 100, so the
    hashes of rule sets written before the field existed do not change."""

    def __post_init__(self) -> None:
        validate(self)

    # -- derived -------------------------------------------------------------
    def category_points(self) -> dict[str, float]:
        out: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
        for p in self.parts:
            out[p.category] += p.points
        return out

    def arena_policy(self) -> dict[str, Any]:
        """The ``arena`` section over ``ARENA_DEFAULTS``."""
        return {**ARENA_DEFAULTS, **dict(self.arena)}

    def part(self, key: str) -> PartRule:
        for p in self.parts:
            if p.key == key:
                return p
        raise InputError(f"rule set '{self.name}' v{self.version} has no part '{key}'")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parts"] = [asdict(p) for p in self.parts]
        d["advancement"]["tie_breaks"] = list(self.advancement.tie_breaks)
        d["review_rubric"] = dict(self.review_rubric)
        d["review"] = dict(self.review)
        d["arena"] = dict(self.arena)
        if self.total_points == 100.0:
            del d["total_points"]
        return d

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuleSet:
        try:
            parts = tuple(
                PartRule(
                    key=str(p["key"]),
                    category=p["category"],
                    points=float(p["points"]),
                    mapping=PointMapping(**dict(p.get("mapping") or {})),
                    title=str(p.get("title", "")),
                )
                for p in d.get("parts", ())
            )
            adv = dict(d.get("advancement") or {})
            if "tie_breaks" in adv:
                adv["tie_breaks"] = tuple(adv["tie_breaks"])
            return cls(
                name=str(d["name"]),
                version=int(d.get("version", 1)),
                parts=parts,
                advancement=Advancement(**adv),
                gates=Gates(**dict(d.get("gates") or {})),
                appeal_window_days=int(d.get("appeal_window_days", 10)),
                min_expert_agreement=float(d.get("min_expert_agreement", 0.667)),
                review_rubric=dict(d.get("review_rubric") or {}),
                review=dict(d.get("review") or {}),
                arena=dict(d.get("arena") or {}),
                interval_level=float(d.get("interval_level", 0.95)),
                lot_seed=str(d.get("lot_seed", "sovereval")),
                total_points=float(d.get("total_points", 100.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(_explain(d, exc)) from exc


def _explain(d: Any, exc: Exception) -> str:
    """One line naming the field that is wrong, what was expected and where to look."""
    hint = "see: sovereval schema ruleset"
    if not isinstance(d, Mapping):
        return f"invalid rule set: expected a JSON object, got {type(d).__name__}; {hint}"
    if isinstance(exc, KeyError):
        where = "a part" if exc.args and exc.args[0] in ("key", "category", "points") else "it"
        return f"invalid rule set: {where} lacks the required field '{exc.args[0]}'; {hint}"
    return f"invalid rule set: {exc}; {hint}"


def check_total(rules: RuleSet) -> None:
    """The parts must sum to the declared total (100 unless ``total_points`` says otherwise)."""
    got = sum(p.points for p in rules.parts)
    if abs(got - rules.total_points) > 1e-9:
        cats = ", ".join(f"{k} {v:g}" for k, v in rules.category_points().items())
        raise InputError(
            f"rule set '{rules.name}': parts sum to {got:g} points ({cats}), "
            f"not the declared total {rules.total_points:g}; fix the parts or set total_points"
        )


def value_range(part: PartRule) -> tuple[float, float]:
    """The raw values a part accepts: a fraction in [0, 1], widened to the scale of an
    ``absolute`` mapping (an expert rubric of 1-10, say)."""
    if part.mapping.kind == "absolute":
        return (min(0.0, part.mapping.lo), max(1.0, part.mapping.hi))
    return (0.0, 1.0)


def validate(rules: RuleSet) -> None:
    """Reject rule sets that cannot be applied; one clear message per problem."""
    keys = [p.key for p in rules.parts]
    if len(set(keys)) != len(keys):
        raise InputError(f"rule set '{rules.name}': duplicate part keys {keys}")
    for p in rules.parts:
        if p.category not in CATEGORIES:
            raise InputError(
                f"rule set '{rules.name}': part '{p.key}' has unknown category '{p.category}'"
            )
        if p.points < 0:
            raise InputError(f"rule set '{rules.name}': part '{p.key}' has negative points")
        m = p.mapping
        if m.kind not in ("absolute", "target_ratio", "relative_best"):
            raise InputError(
                f"rule set '{rules.name}': part '{p.key}' has unknown mapping '{m.kind}'"
            )
        if m.kind == "absolute" and not m.hi > m.lo:
            raise InputError(f"rule set '{rules.name}': part '{p.key}' needs hi > lo")
        if m.kind == "target_ratio" and not 0 < m.goal <= 1.5:
            raise InputError(f"rule set '{rules.name}': part '{p.key}' goal must be in (0, 1.5]")
    a = rules.advancement
    if (a.eliminate_lowest is None) == (a.advance_count is None):
        raise InputError(
            f"rule set '{rules.name}': set exactly one of advancement.eliminate_lowest or advance_count"
        )
    for tb in a.tie_breaks:
        if tb not in CATEGORIES and tb not in keys:
            raise InputError(f"rule set '{rules.name}': unknown tie-break '{tb}'")
    if rules.appeal_window_days < 0:
        raise InputError(f"rule set '{rules.name}': appeal window must be >= 0 days")
    if not 0 < rules.interval_level < 1:
        raise InputError(f"rule set '{rules.name}': interval level must be in (0, 1)")


def default_ruleset(name: str = "phase-1") -> RuleSet:
    """The reference programme's Phase-1 rules: 40/35/25 with benchmark sub-parts 10/20/10."""
    return RuleSet(
        name=name,
        parts=(
            PartRule(
                "government",
                "benchmark",
                10.0,
                PointMapping("absolute", 0.0, 1.0),
                "Government set (maths, knowledge, long context, safety)",
            ),
            PartRule(
                "common",
                "benchmark",
                20.0,
                PointMapping("absolute", 0.0, 1.0),
                "Common public benchmarks",
            ),
            PartRule(
                "team",
                "benchmark",
                10.0,
                PointMapping("target_ratio", goal=0.95),
                "Team-chosen benchmarks vs declared target model",
            ),
            PartRule(
                "expert",
                "expert",
                35.0,
                PointMapping("absolute", 1.0, 10.0),
                "Expert review (weighted rubric, 1-10)",
            ),
            PartRule(
                "user",
                "user",
                25.0,
                PointMapping("relative_best"),
                "User evaluation (blind battles and ratings)",
            ),
        ),
    )


def diff_rules(old: RuleSet, new: RuleSet) -> list[tuple[str, Any, Any]]:
    """Field-level differences ``(path, old, new)`` between two rule sets, for readable diffs."""
    out: list[tuple[str, Any, Any]] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(f"{path}.{k}" if path else str(k), a.get(k), b.get(k))
        elif (
            isinstance(a, list)
            and isinstance(b, list)
            and all(isinstance(x, dict) and "key" in x for x in a + b)
        ):
            ak = {x["key"]: x for x in a}
            bk = {x["key"]: x for x in b}
            for k in sorted(set(ak) | set(bk)):
                walk(f"{path}[{k}]", ak.get(k), bk.get(k))
        elif a != b:
            out.append((path, a, b))

    da, db = old.to_dict(), new.to_dict()
    da.pop("version", None)
    db.pop("version", None)
    walk("", da, db)
    return out
