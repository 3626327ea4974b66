"""The expert-review rubric and the validation of one expert's scores.

The rubric lives inside the versioned RuleSet as plain data (``RuleSet.review_rubric``), so
``Rubric.from_dict(r.to_dict()) == r`` must hold exactly: the RuleSet's content hash names the
rubric the experts were shown. Each criterion carries its own scale and anchored level
descriptions (behaviourally anchored rating scales, Smith & Kendall 1963): an anchor tells every
expert what a given score means, which is the cheapest way to raise inter-rater agreement.

The default follows the reference programme's four criteria (development strategy, technical
capability, originality, ripple effects). Originality must cite the provenance evidence: an
expert who rates originality without pointing at the provenance report is rating a story.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sovereval.errors import InputError, RuleViolation


@dataclass(frozen=True)
class Anchor:
    """What a score on a criterion means, in words the expert reads next to the scale."""

    score: int
    description: str


@dataclass(frozen=True)
class Criterion:
    key: str
    """Stable identifier (``originality``); scores and history refer to it."""
    title: str
    weight: float
    """Relative weight in the weighted total; weights need not sum to 1 (they are normalised)."""
    scale_min: int
    scale_max: int
    anchors: tuple[Anchor, ...] = ()
    """Anchored level descriptions, strictly increasing scores inside the scale."""
    requires_evidence: bool = False
    """The justification must cite provenance evidence (a report id or evidence key)."""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "weight": self.weight,
            "scale_min": self.scale_min,
            "scale_max": self.scale_max,
            "anchors": [{"score": a.score, "description": a.description} for a in self.anchors],
            "requires_evidence": self.requires_evidence,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Criterion:
        return cls(
            key=str(d["key"]),
            title=str(d["title"]),
            weight=float(d["weight"]),
            scale_min=int(d["scale_min"]),
            scale_max=int(d["scale_max"]),
            anchors=tuple(
                Anchor(int(a["score"]), str(a["description"])) for a in d.get("anchors", ())
            ),
            requires_evidence=bool(d.get("requires_evidence", False)),
            description=str(d.get("description", "")),
        )

    def normalise(self, score: float) -> float:
        """Map a score on this criterion's scale to [0, 1]."""
        return (score - self.scale_min) / (self.scale_max - self.scale_min)


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]
    blind: bool = True
    """Hide team identity from reviewers (the evidence packet is anonymised)."""
    min_justification_chars: int = 40
    """A written justification shorter than this (after trimming) is refused."""
    total_min: float = 1.0
    total_max: float = 10.0
    """Scale of the weighted total; each criterion is rescaled onto it before weighting, so a
    rubric whose criteria all use this scale has total = weighted mean of the raw scores."""

    def __post_init__(self) -> None:
        validate_rubric(self)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.criteria)

    def criterion(self, key: str) -> Criterion:
        for c in self.criteria:
            if c.key == key:
                return c
        raise InputError(f"rubric has no criterion '{key}'; known: {', '.join(self.keys)}")

    def weighted_total(self, scores: Mapping[str, float]) -> float:
        """Weighted mean of the criterion scores rescaled onto ``[total_min, total_max]``.

        ``total = total_min + (total_max - total_min) * sum_c w_c * u_c / sum_c w_c`` with
        ``u_c = (s_c - min_c) / (max_c - min_c)``. Every criterion must be scored.
        """
        missing = [k for k in self.keys if k not in scores]
        if missing:
            raise InputError(f"weighted total needs every criterion; missing: {', '.join(missing)}")
        wsum = sum(c.weight for c in self.criteria)
        frac = sum(c.weight * c.normalise(float(scores[c.key])) for c in self.criteria) / wsum
        return self.total_min + (self.total_max - self.total_min) * frac

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": [c.to_dict() for c in self.criteria],
            "blind": self.blind,
            "min_justification_chars": self.min_justification_chars,
            "total_min": self.total_min,
            "total_max": self.total_max,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rubric:
        """Parse the RuleSet's plain-data rubric; an empty mapping gives the default rubric."""
        if not d:
            return default_rubric()
        try:
            return cls(
                criteria=tuple(Criterion.from_dict(c) for c in d["criteria"]),
                blind=bool(d.get("blind", True)),
                min_justification_chars=int(d.get("min_justification_chars", 40)),
                total_min=float(d.get("total_min", 1.0)),
                total_max=float(d.get("total_max", 10.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"invalid review rubric: {exc!r}; fix the rule set's rubric") from exc


def validate_rubric(rubric: Rubric) -> None:
    """Refuse rubrics that cannot be scored: one message naming the first problem."""
    if not rubric.criteria:
        raise InputError("rubric has no criteria; define at least one")
    keys = [c.key for c in rubric.criteria]
    if len(set(keys)) != len(keys):
        raise InputError(f"rubric has duplicate criterion keys: {keys}")
    for c in rubric.criteria:
        if not c.key.strip():
            raise InputError("rubric criterion with an empty key")
        if not (math.isfinite(c.weight) and c.weight >= 0):
            raise InputError(f"criterion '{c.key}' weight must be finite and >= 0, got {c.weight}")
        if c.scale_max <= c.scale_min:
            raise InputError(
                f"criterion '{c.key}' scale needs max > min, got [{c.scale_min}, {c.scale_max}]"
            )
        last = None
        for a in c.anchors:
            if not c.scale_min <= a.score <= c.scale_max:
                raise InputError(f"criterion '{c.key}' anchor {a.score} lies outside its scale")
            if last is not None and a.score <= last:
                raise InputError(f"criterion '{c.key}' anchors must have increasing scores")
            if not a.description.strip():
                raise InputError(f"criterion '{c.key}' anchor {a.score} has no description")
            last = a.score
    if not sum(c.weight for c in rubric.criteria) > 0:
        raise InputError("rubric weights sum to 0; give at least one criterion a positive weight")
    if rubric.min_justification_chars < 1:
        raise InputError("min_justification_chars must be >= 1: a justification is required")
    if not rubric.total_max > rubric.total_min:
        raise InputError("rubric total scale needs total_max > total_min")


def _anchors(*pairs: tuple[int, str]) -> tuple[Anchor, ...]:
    return tuple(Anchor(s, d) for s, d in pairs)


def default_rubric() -> Rubric:
    """The reference programme's four criteria on 1-10 scales, equal weights, blind review."""
    return Rubric(
        criteria=(
            Criterion(
                "development_strategy",
                "Development strategy",
                1.0,
                1,
                10,
                _anchors(
                    (1, "No coherent plan; data, compute and milestones are unexplained."),
                    (4, "A plan exists but key choices (data, scale, schedule) are unjustified."),
                    (7, "Sound, justified plan with realistic milestones and risk handling."),
                    (10, "Exemplary plan; choices are evidenced by ablations and logs."),
                ),
                description="Data, compute, architecture and schedule choices and their rationale.",
            ),
            Criterion(
                "technical_capability",
                "Technical capability",
                1.0,
                1,
                10,
                _anchors(
                    (1, "Training logs or report contradict the claimed capability."),
                    (4, "Basic pipeline works; stability or scaling problems remain."),
                    (7, "Stable large-scale training with documented engineering."),
                    (10, "Frontier-grade engineering, fully documented and reproducible."),
                ),
                description="Engineering depth shown by the technical report and training logs.",
            ),
            Criterion(
                "originality",
                "Originality",
                1.0,
                1,
                10,
                _anchors(
                    (1, "Provenance evidence shows borrowed weights presented as own work."),
                    (4, "Built from scratch, but the method is a plain copy of public recipes."),
                    (7, "From scratch with meaningful own contributions."),
                    (10, "From scratch with novel methods others will adopt."),
                ),
                requires_evidence=True,
                description="Judged against the provenance report; the justification must cite it.",
            ),
            Criterion(
                "ripple_effects",
                "Ripple effects",
                1.0,
                1,
                10,
                _anchors(
                    (1, "No plan for release, adoption or ecosystem benefit."),
                    (4, "Some release plans; limited benefit beyond the team."),
                    (7, "Open release and credible adoption by industry or academia."),
                    (10, "Broad national ecosystem impact with committed adopters."),
                ),
                description="Open release, adoption, industry and research impact.",
            ),
        ),
        blind=True,
    )


@dataclass(frozen=True)
class CriterionScore:
    """One expert's score on one criterion, with the written justification behind it."""

    criterion: str
    score: float
    justification: str
    evidence: tuple[str, ...] = ()
    """Provenance report ids / evidence keys the expert cites explicitly."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "score": self.score,
            "justification": self.justification,
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CriterionScore:
        return cls(
            criterion=str(d["criterion"]),
            score=float(d["score"]),
            justification=str(d.get("justification", "")),
            evidence=tuple(str(e) for e in d.get("evidence", ())),
        )


def cited_evidence(score: CriterionScore, evidence_keys: Collection[str]) -> frozenset[str]:
    """Evidence the score cites: its explicit references plus known keys named in the text."""
    text = score.justification
    return frozenset(score.evidence) | frozenset(k for k in evidence_keys if k and k in text)


def score_problems(
    rubric: Rubric,
    scores: Iterable[CriterionScore],
    *,
    evidence_keys: Collection[str],
    require_all: bool = True,
    check_text: bool = True,
) -> tuple[str, ...]:
    """Every reason the scores cannot be accepted, one line each (empty tuple: acceptable).

    ``evidence_keys`` are the ids in the reviewer's evidence packet (provenance report id,
    evidence keys); a ``requires_evidence`` criterion must cite at least one of them and may
    cite nothing outside them. ``require_all=False`` checks a partial draft;
    ``check_text=False`` skips justification and evidence checks (drafts may be unfinished).
    """
    problems: list[str] = []
    seen: set[str] = set()
    known = set(evidence_keys)
    for s in scores:
        if s.criterion in seen:
            problems.append(f"{s.criterion}: scored twice")
            continue
        seen.add(s.criterion)
        try:
            c = rubric.criterion(s.criterion)
        except InputError:
            problems.append(f"{s.criterion}: not a criterion of this rubric")
            continue
        if not (math.isfinite(s.score) and c.scale_min <= s.score <= c.scale_max):
            problems.append(
                f"{c.key}: score {s.score} outside the scale [{c.scale_min}, {c.scale_max}]"
            )
        if not check_text:
            continue
        n = len(s.justification.strip())
        if n < rubric.min_justification_chars:
            problems.append(
                f"{c.key}: written justification has {n} characters; at least "
                f"{rubric.min_justification_chars} are required"
            )
        if c.requires_evidence:
            unknown = sorted(set(s.evidence) - known)
            if unknown:
                problems.append(f"{c.key}: cites evidence not in the packet: {', '.join(unknown)}")
            elif not cited_evidence(s, known):
                problems.append(
                    f"{c.key}: justification must cite the provenance evidence "
                    "(a provenance report id or evidence key from the packet)"
                )
    if require_all:
        missing = [k for k in rubric.keys if k not in seen]
        if missing:
            problems.append(f"criteria not scored: {', '.join(missing)}")
    return tuple(problems)


def validate_scores(
    rubric: Rubric, scores: Iterable[CriterionScore], *, evidence_keys: Collection[str]
) -> None:
    """Raise :class:`RuleViolation` listing every problem if the complete review is not valid."""
    problems = score_problems(rubric, scores, evidence_keys=evidence_keys)
    if problems:
        raise RuleViolation("review not accepted: " + "; ".join(problems))


@dataclass(frozen=True)
class SubmittedReview:
    """One expert's complete, submitted scores for one submission: the unit of aggregation."""

    expert_id: str
    submission_id: str
    scores: tuple[CriterionScore, ...]

    def score_map(self) -> dict[str, float]:
        return {s.criterion: s.score for s in self.scores}

    def to_dict(self) -> dict[str, Any]:
        return {
            "expert_id": self.expert_id,
            "submission_id": self.submission_id,
            "scores": [s.to_dict() for s in self.scores],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SubmittedReview:
        return cls(
            expert_id=str(d["expert_id"]),
            submission_id=str(d["submission_id"]),
            scores=tuple(CriterionScore.from_dict(s) for s in d["scores"]),
        )
