"""Trimmed means, bootstrap intervals, outlier reviewers, and the mapping to points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.errors import InputError
from sovereval.review.aggregate import (
    Interval,
    PointsSpec,
    aggregate_round,
    bootstrap_trimmed,
    outlier_reviewers,
    reviewer_deviations,
    to_points,
    trimmed_mean,
)
from sovereval.review.rubric import CriterionScore, Rubric, SubmittedReview, default_rubric

RUBRIC = default_rubric()
TEXT = "A justification long enough to pass the rubric's minimum length check."


def review(expert: str, sub: str, scores: tuple[float, float, float, float]) -> SubmittedReview:
    return SubmittedReview(
        expert,
        sub,
        tuple(
            CriterionScore(c.key, v, TEXT, ("prov",) if c.requires_evidence else ())
            for c, v in zip(RUBRIC.criteria, scores, strict=True)
        ),
    )


def test_trimming_by_hand() -> None:
    # n = 5, p = 0.2 -> g = floor(1.0) = 1 dropped from each end: mean(2, 3, 4) = 3
    assert trimmed_mean([100, 1, 3, 2, 4], 0.2) == pytest.approx(3.0)
    # n = 10, p = 0.1 -> g = 1: drop 0 and 100, mean(1..8) = 4.5
    assert trimmed_mean([0, 1, 2, 3, 4, 5, 6, 7, 8, 100], 0.1) == pytest.approx(4.5)
    # n = 4, p = 0.2 -> g = floor(0.8) = 0: plain mean (1 + 2 + 3 + 10) / 4 = 4
    assert trimmed_mean([1, 2, 3, 10], 0.2) == pytest.approx(4.0)
    with pytest.raises(InputError):
        trimmed_mean([1, 2], 0.5)
    with pytest.raises(InputError):
        trimmed_mean([], 0.1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1, 10), min_size=1, max_size=12), st.floats(0, 0.45))
def test_trimmed_mean_lies_between_min_and_max(values: list[float], p: float) -> None:
    t = trimmed_mean(values, p)
    assert min(values) - 1e-9 <= t <= max(values) + 1e-9


def test_bootstrap_is_seeded_and_covers_the_estimate() -> None:
    rows = np.array([[5.0], [6.0], [7.0], [8.0], [9.0]])
    a = bootstrap_trimmed(rows, 0.2, np.random.default_rng(1), resamples=500, level=0.95)
    b = bootstrap_trimmed(rows, 0.2, np.random.default_rng(1), resamples=500, level=0.95)
    assert a == b
    iv = a[0]
    assert iv.estimate == pytest.approx(7.0)  # trimmed mean of 6, 7, 8
    assert 5.0 <= iv.low < 7.0 < iv.high <= 9.0
    # one reviewer: no spread, a point interval
    one = bootstrap_trimmed(
        np.array([[4.0]]), 0.1, np.random.default_rng(0), resamples=50, level=0.9
    )
    assert one[0] == Interval(4.0, 4.0, 4.0)


def test_aggregate_round_per_criterion_and_total() -> None:
    reviews = [
        review("e1", "s1", (6, 6, 6, 6)),
        review("e2", "s1", (7, 7, 7, 7)),
        review("e3", "s1", (8, 8, 8, 8)),
        review("e4", "s1", (9, 9, 9, 9)),
        review("e5", "s1", (1, 1, 1, 10)),  # total (1+1+1+10)/4 = 3.25
        review("e1", "s2", (3, 3, 3, 3)),
    ]
    out = aggregate_round(reviews, RUBRIC, trim=0.2, rng=np.random.default_rng(0), resamples=300)
    assert [a.submission_id for a in out] == ["s1", "s2"]
    s1 = out[0]
    assert s1.n_reviewers == 5
    # originality over (6, 7, 8, 9, 1) trimmed by one each side -> mean(6, 7, 8) = 7
    assert s1.criteria["originality"].estimate == pytest.approx(7.0)
    # ripple effects over (6, 7, 8, 9, 10) -> mean(7, 8, 9) = 8
    assert s1.criteria["ripple_effects"].estimate == pytest.approx(8.0)
    # totals (6, 7, 8, 9, 3.25) -> trim 3.25 and 9 -> mean(6, 7, 8) = 7
    assert s1.total.estimate == pytest.approx(7.0)
    assert s1.total.low <= 7.0 <= s1.total.high
    assert out[1].total == Interval(3.0, 3.0, 3.0)


def test_duplicate_or_incomplete_reviews_refused() -> None:
    r = review("e1", "s1", (5, 5, 5, 5))
    with pytest.raises(InputError, match="twice"):
        aggregate_round([r, r], RUBRIC, trim=0.1, rng=np.random.default_rng(0))
    partial = SubmittedReview("e2", "s1", r.scores[:2])
    with pytest.raises(InputError, match="lacks"):
        aggregate_round([partial], RUBRIC, trim=0.1, rng=np.random.default_rng(0))


def test_outlier_reviewer_is_reported_with_deviation() -> None:
    # four submissions, four honest reviewers within +-1 of each other, one colluder who gives
    # s3 the top score while the others give it 4.
    base = {"s1": 6, "s2": 5, "s3": 4, "s4": 7}
    reviews = []
    for i, e in enumerate(("e1", "e2", "e3", "e4")):
        for s, q in base.items():
            v = q + (i % 2)  # 0 or +1
            reviews.append(review(e, s, (v, v, v, v)))
    for s, q in base.items():
        v = 10 if s == "s3" else q
        reviews.append(review("colluder", s, (v, v, v, v)))
    out = outlier_reviewers(reviews, RUBRIC, z_threshold=3.5)
    assert [o.expert_id for o in out] == ["colluder"]
    flag = out[0].flagged
    assert [(d.submission_id, d.total) for d in flag] == [("s3", 10.0)]
    # consensus of the four others on s3: median(4, 5, 4, 5) = 4.5 -> deviation 5.5. Honest
    # deviations lie in [-1, 1] (e1 on s3: 4 - median(5, 4, 5, 10) = -1); the 20 deviations
    # have median -0.5 and MAD 0.5, so the colluder's z = 0.6745 * (5.5 + 0.5) / 0.5 = 8.09
    # and the largest honest |z| = 0.6745 * (1 + 0.5) / 0.5 = 2.02 < 3.5.
    assert flag[0].consensus == pytest.approx(4.5)
    assert flag[0].deviation == pytest.approx(5.5)
    assert flag[0].z == pytest.approx(8.094)
    devs = reviewer_deviations(reviews, RUBRIC)
    assert len(devs) == 20


def test_two_reviewers_give_no_deviation() -> None:
    reviews = [review("e1", "s1", (1, 1, 1, 1)), review("e2", "s1", (9, 9, 9, 9))]
    assert reviewer_deviations(reviews, RUBRIC) == ()


def test_points_mapping() -> None:
    spec = PointsSpec(points=35.0, kind="absolute", lo=1.0, hi=10.0)
    # (7 - 1) / 9 * 35 = 23.333...; low 5.5 -> 4.5/9*35 = 17.5; high beyond 10 clips to 35
    p = to_points(Interval(7.0, 5.5, 11.0), spec)
    assert p.estimate == pytest.approx(35 * 6 / 9)
    assert p.low == pytest.approx(17.5)
    assert p.high == pytest.approx(35.0)
    pw = PointsSpec.from_dict(
        {"points": 35, "kind": "piecewise", "breakpoints": [[1, 0], [5, 0.2], [10, 1]]}
    )
    # x = 7.5 -> 0.2 + (7.5 - 5) / 5 * 0.8 = 0.6 -> 21 points
    assert to_points(Interval(7.5, 7.5, 7.5), pw).estimate == pytest.approx(21.0)
    with pytest.raises(InputError):
        PointsSpec(kind="piecewise", breakpoints=((1.0, 0.5), (2.0, 0.1)))
    with pytest.raises(InputError):
        PointsSpec(lo=5, hi=5)


def test_non_default_scales_rescale_into_total() -> None:
    r = Rubric.from_dict(
        {
            "criteria": [
                {"key": "a", "title": "A", "weight": 2, "scale_min": 0, "scale_max": 4},
                {"key": "b", "title": "B", "weight": 1, "scale_min": 1, "scale_max": 10},
            ],
            "min_justification_chars": 1,
        }
    )
    rev = SubmittedReview("e", "s", (CriterionScore("a", 4, "x"), CriterionScore("b", 1, "x")))
    # frac = (2 * 1 + 1 * 0) / 3 = 2/3 -> total = 1 + 9 * 2/3 = 7
    out = aggregate_round([rev], r, trim=0.0, rng=np.random.default_rng(0), resamples=10)
    assert out[0].total.estimate == pytest.approx(7.0)
