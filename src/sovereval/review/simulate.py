"""Simulated expert panels for the demo and the tests.

Generative model (a many-facet rating model in the spirit of Linacre 1989, *Many-Facet Rasch
Measurement*, with an additive reviewer-severity facet): submission ``s`` has a true quality
``mu_sc`` on each criterion ``c``; expert ``r`` has a bias (leniency, + / severity, -) ``b_r``
and a noise level ``sigma_r``; their score is ``round(mu_sc + b_r + sigma_r * eps)`` clipped
to the criterion's scale. An expert may *favour* one submission (collusion) and give it the
top of the scale, which the outlier report should catch. All randomness comes from ``rng``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sovereval.errors import InputError
from sovereval.review.rubric import CriterionScore, Rubric, SubmittedReview


@dataclass(frozen=True)
class SimulatedExpert:
    expert_id: str
    bias: float
    """Added to every true score, in scale points (> 0 lenient, < 0 severe)."""
    noise_sd: float
    favours: str | None = None
    """Submission this expert scores at the top of every scale regardless of quality."""


@dataclass(frozen=True)
class SimulatedRound:
    quality: Mapping[str, Mapping[str, float]]
    """True quality: submission -> criterion -> value on the criterion's scale."""
    experts: tuple[SimulatedExpert, ...]
    reviews: tuple[SubmittedReview, ...]


def simulate_experts(
    n: int,
    rng: np.random.Generator,
    *,
    bias_sd: float = 0.5,
    noise_sd: tuple[float, float] = (0.5, 1.2),
    prefix: str = "expert",
) -> tuple[SimulatedExpert, ...]:
    """``n`` experts with ``bias ~ N(0, bias_sd)`` and noise SD uniform in ``noise_sd``."""
    if n < 1:
        raise InputError("simulate at least one expert")
    biases = rng.normal(0.0, bias_sd, size=n)
    noises = rng.uniform(noise_sd[0], noise_sd[1], size=n)
    width = len(str(n))
    return tuple(
        SimulatedExpert(f"{prefix}-{i + 1:0{width}d}", float(b), float(s))
        for i, (b, s) in enumerate(zip(biases, noises, strict=True))
    )


def simulate_quality(
    submissions: Sequence[str],
    rubric: Rubric,
    rng: np.random.Generator,
    *,
    criterion_sd: float = 0.8,
) -> dict[str, dict[str, float]]:
    """True quality: an overall level per submission (uniform over the middle 60% of each
    scale) plus a criterion-specific deviation ``N(0, criterion_sd)``, clipped to the scale."""
    out: dict[str, dict[str, float]] = {}
    for s in submissions:
        level = float(rng.uniform(0.2, 0.8))
        out[s] = {}
        for c in rubric.criteria:
            span = c.scale_max - c.scale_min
            v = c.scale_min + level * span + float(rng.normal(0.0, criterion_sd))
            out[s][c.key] = float(np.clip(v, c.scale_min, c.scale_max))
    return out


def simulate_reviews(
    pairs: Iterable[tuple[str, str]],
    experts: Sequence[SimulatedExpert],
    quality: Mapping[str, Mapping[str, float]],
    rubric: Rubric,
    rng: np.random.Generator,
    *,
    evidence: Mapping[str, str] | None = None,
) -> tuple[SubmittedReview, ...]:
    """One complete, valid review per (expert, submission) pair.

    ``evidence`` maps a submission to its provenance report id, which the justification of
    every ``requires_evidence`` criterion cites (default ``provenance-<submission>``).
    """
    by_id = {e.expert_id: e for e in experts}
    out: list[SubmittedReview] = []
    for e_id, sub in pairs:
        if e_id not in by_id or sub not in quality:
            raise InputError(f"no simulated expert or quality for pair ({e_id}, {sub})")
        ex = by_id[e_id]
        scores: list[CriterionScore] = []
        for c in rubric.criteria:
            if ex.favours == sub:
                v = float(c.scale_max)
            else:
                raw = quality[sub][c.key] + ex.bias + ex.noise_sd * float(rng.standard_normal())
                v = float(np.clip(np.rint(raw), c.scale_min, c.scale_max))
            ref = (evidence or {}).get(sub, f"provenance-{sub}")
            text = (
                f"Simulated judgement of {c.title.lower()} for {sub}: the technical report and "
                f"training logs support a score of {v:g} on [{c.scale_min}, {c.scale_max}]."
            )
            if c.requires_evidence:
                text += f" Provenance evidence: {ref}."
            scores.append(CriterionScore(c.key, v, text, (ref,) if c.requires_evidence else ()))
        out.append(SubmittedReview(e_id, sub, tuple(scores)))
    return tuple(out)


def simulate_round(
    pairs: Iterable[tuple[str, str]],
    experts: Sequence[SimulatedExpert],
    submissions: Sequence[str],
    rubric: Rubric,
    rng: np.random.Generator,
    *,
    evidence: Mapping[str, str] | None = None,
) -> SimulatedRound:
    """True quality, then reviews for the assigned pairs, from one generator."""
    quality = simulate_quality(submissions, rubric, rng)
    reviews = simulate_reviews(pairs, experts, quality, rubric, rng, evidence=evidence)
    return SimulatedRound(quality, tuple(experts), reviews)
