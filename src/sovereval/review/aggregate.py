"""Per-submission aggregation of expert scores, outlier reviewers, and the mapping to points.

- Centre: the trimmed mean (Tukey & McLaughlin 1963; Wilcox 2012, *Introduction to Robust
  Estimation*, sec. 3.2): sort the n scores, drop ``g = floor(p * n)`` from each end, average
  the rest. With ten experts and ``p = 0.1`` one enthusiast and one grudge are dropped.
- Uncertainty: a seeded nonparametric bootstrap over reviewers (Efron & Tibshirani 1993,
  *An Introduction to the Bootstrap*, ch. 13, percentile interval). Reviewers are resampled
  as whole rows, so the per-criterion and total intervals come from the same resamples.
- Total: each reviewer's weighted total (``Rubric.weighted_total``) is computed first and the
  trimmed mean taken over reviewers; trimming then removes whole extreme reviewers, which is
  what the trimming is for (a mean of per-criterion trimmed means could mix reviewers).
- Outliers: each reviewer's total is compared with the leave-one-out consensus (median of the
  other reviewers of the same submission, so a colluder does not drag the consensus and make
  honest reviewers look deviant); the deviations of the round are standardised with
  the modified z-score ``0.6745 (d - median d) / MAD`` (Iglewicz & Hoaglin 1993, *How to Detect
  and Handle Outliers*), robust to the outliers it looks for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sovereval.bootstrap import percentile_interval, resample_rows
from sovereval.errors import InputError
from sovereval.review.rubric import Rubric, SubmittedReview


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval; feeds ``competition.scoring.Measurement``."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class SubmissionAggregate:
    submission_id: str
    n_reviewers: int
    criteria: Mapping[str, Interval]
    total: Interval
    """Weighted total on the rubric's total scale (1-10 by default)."""


def trimmed_mean(values: ArrayLike, proportion: float) -> float:
    """Mean after dropping ``floor(proportion * n)`` values from each end (scipy's trim_mean)."""
    from scipy.stats import trim_mean

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise InputError("trimmed mean of no values; every submission needs a review")
    _check_proportion(proportion)
    return float(trim_mean(v, proportion))


def _check_proportion(p: float) -> None:
    if not 0 <= p < 0.5:
        raise InputError(f"trim proportion must be in [0, 0.5), got {p}")


def bootstrap_trimmed(
    rows: NDArray[np.float64],
    proportion: float,
    rng: np.random.Generator,
    *,
    resamples: int,
    level: float,
) -> list[Interval]:
    """Trimmed mean of each column of ``rows`` (reviewers x measures) with percentile intervals."""
    from scipy.stats import trim_mean

    _check_proportion(proportion)
    if resamples < 1 or not 0 < level < 1:
        raise InputError("bootstrap needs resamples >= 1 and level in (0, 1)")
    est = np.atleast_1d(trim_mean(rows, proportion, axis=0))
    idx = resample_rows(rows.shape[0], rng, resamples)
    boot = np.atleast_2d(trim_mean(rows[idx], proportion, axis=1))
    lo, hi = percentile_interval(boot, level, estimate=est)
    return [Interval(float(e), float(a), float(b)) for e, a, b in zip(est, lo, hi, strict=True)]


def _by_submission(
    reviews: Sequence[SubmittedReview], rubric: Rubric
) -> dict[str, list[SubmittedReview]]:
    out: dict[str, list[SubmittedReview]] = {}
    seen: set[tuple[str, str]] = set()
    for r in reviews:
        key = (r.expert_id, r.submission_id)
        if key in seen:
            raise InputError(f"expert {r.expert_id} reviewed {r.submission_id} twice")
        seen.add(key)
        missing = [k for k in rubric.keys if k not in r.score_map()]
        if missing:
            raise InputError(
                f"review of {r.submission_id} by {r.expert_id} lacks {', '.join(missing)}"
            )
        out.setdefault(r.submission_id, []).append(r)
    return out


def aggregate_round(
    reviews: Sequence[SubmittedReview],
    rubric: Rubric,
    *,
    trim: float,
    rng: np.random.Generator,
    resamples: int = 2000,
    level: float = 0.95,
) -> tuple[SubmissionAggregate, ...]:
    """Per submission: trimmed mean and bootstrap interval per criterion and for the total.

    Submissions come out sorted by id; each draws its resamples from ``rng`` in that order.
    """
    out = []
    for sub, rs in sorted(_by_submission(reviews, rubric).items()):
        rows = np.array(
            [[r.score_map()[k] for k in rubric.keys] + [rubric.weighted_total(r.score_map())]
             for r in sorted(rs, key=lambda r: r.expert_id)],
            dtype=np.float64,
        )  # fmt: skip
        ivs = bootstrap_trimmed(rows, trim, rng, resamples=resamples, level=level)
        out.append(
            SubmissionAggregate(
                submission_id=sub,
                n_reviewers=len(rs),
                criteria=dict(zip(rubric.keys, ivs[:-1], strict=True)),
                total=ivs[-1],
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Deviation:
    expert_id: str
    submission_id: str
    total: float
    consensus: float
    """Median weighted total of the other reviewers of the submission."""
    deviation: float
    z: float
    """Modified z-score of the deviation among all deviations of the round."""


@dataclass(frozen=True)
class OutlierReviewer:
    expert_id: str
    mean_deviation: float
    """Signed mean deviation over the expert's reviews: > 0 lenient, < 0 harsh."""
    flagged: tuple[Deviation, ...]


def reviewer_deviations(
    reviews: Sequence[SubmittedReview], rubric: Rubric
) -> tuple[Deviation, ...]:
    """Leave-one-out deviations of every review on submissions with at least 3 reviewers.

    With two reviewers the deviations are mirror images and cannot say who is the outlier.
    """
    raw: list[tuple[str, str, float, float]] = []
    for sub, rs in sorted(_by_submission(reviews, rubric).items()):
        if len(rs) < 3:
            continue
        totals = {r.expert_id: rubric.weighted_total(r.score_map()) for r in rs}
        for e, t in sorted(totals.items()):
            others = [v for f, v in totals.items() if f != e]
            raw.append((e, sub, t, float(np.median(others))))
    if not raw:
        return ()
    d = np.array([t - c for _, _, t, c in raw])
    med = float(np.median(d))
    mad = float(np.median(np.abs(d - med)))
    if mad > 0:
        z = 0.6745 * (d - med) / mad
    else:  # fall back to the mean absolute deviation (scaled to match sigma for normal data)
        meanad = float(np.mean(np.abs(d - med)))
        z = (d - med) / (1.253314 * meanad) if meanad > 0 else np.zeros_like(d)
    return tuple(
        Deviation(e, sub, t, c, float(dv), float(zv))
        for (e, sub, t, c), dv, zv in zip(raw, d, z, strict=True)
    )


def outlier_reviewers(
    reviews: Sequence[SubmittedReview], rubric: Rubric, *, z_threshold: float
) -> tuple[OutlierReviewer, ...]:
    """Reviewers with at least one review whose |modified z| exceeds ``z_threshold`` (3.5 in
    Iglewicz & Hoaglin), sorted by their largest |z|."""
    if not z_threshold > 0:
        raise InputError(f"outlier z threshold must be > 0, got {z_threshold}")
    devs = reviewer_deviations(reviews, rubric)
    out = []
    for e in sorted({d.expert_id for d in devs}):
        mine = [d for d in devs if d.expert_id == e]
        flagged = tuple(d for d in mine if abs(d.z) > z_threshold)
        if flagged:
            out.append(OutlierReviewer(e, float(np.mean([d.deviation for d in mine])), flagged))
    return tuple(sorted(out, key=lambda o: -max(abs(d.z) for d in o.flagged)))


PointsKind = Literal["absolute", "piecewise"]


@dataclass(frozen=True)
class PointsSpec:
    """How a weighted total becomes points (35 for expert review in the reference programme).

    - ``absolute``: ``points * clip((x - lo) / (hi - lo), 0, 1)``, the RuleSet's mapping.
    - ``piecewise``: linear interpolation through ``breakpoints`` ``((x, fraction), ...)``,
      increasing in x and in fraction, flat beyond the ends.
    """

    points: float = 35.0
    kind: PointsKind = "absolute"
    lo: float = 1.0
    hi: float = 10.0
    breakpoints: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.points) and self.points >= 0):
            raise InputError("points must be finite and >= 0")
        if self.kind == "absolute" and not self.hi > self.lo:
            raise InputError("points mapping needs hi > lo")
        if self.kind == "piecewise":
            xs = [b[0] for b in self.breakpoints]
            fs = [b[1] for b in self.breakpoints]
            if len(xs) < 2 or any(b <= a for a, b in itertools.pairwise(xs)):
                raise InputError("piecewise mapping needs >= 2 breakpoints with increasing x")
            if any(b < a for a, b in itertools.pairwise(fs)) or not all(0 <= f <= 1 for f in fs):
                raise InputError("piecewise fractions must be non-decreasing within [0, 1]")
        elif self.kind != "absolute":
            raise InputError(f"unknown points mapping '{self.kind}'")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PointsSpec:
        return cls(
            points=float(d.get("points", 35.0)),
            kind=d.get("kind", "absolute"),
            lo=float(d.get("lo", 1.0)),
            hi=float(d.get("hi", 10.0)),
            breakpoints=tuple((float(a), float(b)) for a, b in d.get("breakpoints", ())),
        )

    def fraction(self, x: float) -> float:
        if self.kind == "absolute":
            return min(max((x - self.lo) / (self.hi - self.lo), 0.0), 1.0)
        xs = [b[0] for b in self.breakpoints]
        fs = [b[1] for b in self.breakpoints]
        return float(np.interp(x, xs, fs))


def to_points(total: Interval, spec: PointsSpec) -> Interval:
    """Map a total and its interval to points; the mapping is monotone, so the interval's ends
    map to the ends of the points interval."""
    return Interval(
        spec.points * spec.fraction(total.estimate),
        spec.points * spec.fraction(total.low),
        spec.points * spec.fraction(total.high),
    )
