"""Krippendorff's alpha against the package's documented example, and the low-agreement trigger."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.errors import InputError
from sovereval.review.agreement import alpha, assess_agreement, score_matrix, unit_disagreement
from sovereval.review.rubric import CriterionScore, SubmittedReview, default_rubric

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 3 coders x 15 units
# example, as in the docstring of krippendorff.alpha (coders A, B, C; nan = not coded).
KRIPPENDORFF_2011 = np.array(
    [
        [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
    ]
)
RUBRIC = default_rubric()
TEXT = "A justification long enough to pass the rubric's minimum length check."


def test_documented_example_values() -> None:
    # the package's documented values: nominal 0.691358, interval 0.810845
    nominal = krippendorff.alpha(reliability_data=KRIPPENDORFF_2011, level_of_measurement="nominal")
    assert round(nominal, 3) == 0.691
    assert round(alpha(KRIPPENDORFF_2011, "interval"), 6) == 0.810845
    assert round(alpha(KRIPPENDORFF_2011, "ordinal"), 6) == round(
        krippendorff.alpha(reliability_data=KRIPPENDORFF_2011, level_of_measurement="ordinal"), 6
    )


@pytest.mark.parametrize("level", ["interval", "ordinal"])
def test_unit_disagreements_decompose_alpha(level: str) -> None:
    # alpha = 1 - D_o / D_e and D_o = sum_u (m_u / n) d_u, so 1 - sum_u m_u r_u / n = alpha
    r = unit_disagreement(KRIPPENDORFF_2011, level)  # type: ignore[arg-type]
    m_u = np.sum(~np.isnan(KRIPPENDORFF_2011), axis=0)
    ok = ~np.isnan(r)
    assert list(np.flatnonzero(~ok)) == [0, 1, 13]  # units coded by fewer than two coders
    rebuilt = 1 - np.sum(m_u[ok] * r[ok]) / m_u[ok].sum()
    assert rebuilt == pytest.approx(alpha(KRIPPENDORFF_2011, level))  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["interval", "ordinal"]))
def test_decomposition_holds_on_random_data(seed: int, level: str) -> None:
    rng = np.random.default_rng(seed)
    m = rng.integers(1, 6, size=(4, 6)).astype(float)
    m[rng.random(m.shape) < 0.3] = np.nan
    m[:2, 0] = [1.0, 5.0]  # at least one pairable unit with two distinct values
    r = unit_disagreement(m, level)  # type: ignore[arg-type]
    m_u = np.sum(~np.isnan(m), axis=0)
    ok = ~np.isnan(r)
    rebuilt = 1 - np.sum(m_u[ok] * r[ok]) / m_u[ok].sum()
    assert rebuilt == pytest.approx(alpha(m, level), abs=1e-9)  # type: ignore[arg-type]


def test_alpha_undefined_cases() -> None:
    with pytest.raises(InputError, match="two or more"):
        alpha(np.array([[1.0, NAN], [NAN, 2.0]]), "interval")
    with pytest.raises(InputError, match="identical"):
        alpha(np.array([[3.0, 3.0], [3.0, 3.0]]), "interval")
    with pytest.raises(InputError, match="level"):
        alpha(KRIPPENDORFF_2011, "nominal")  # type: ignore[arg-type]


def _review(e: str, s: str, v: float) -> SubmittedReview:
    return SubmittedReview(
        e,
        s,
        tuple(
            CriterionScore(c.key, v, TEXT, ("p",) if c.requires_evidence else ())
            for c in RUBRIC.criteria
        ),
    )


def test_score_matrix_is_reviewer_by_submission_with_nan() -> None:
    reviews = [_review("e1", "s1", 5), _review("e2", "s1", 7), _review("e2", "s2", 3)]
    sm = score_matrix(reviews, RUBRIC)
    assert sm.experts == ("e1", "e2") and sm.submissions == ("s1", "s2")
    arr = sm.array()
    assert arr[0, 0] == 5 and arr[1, 0] == 7 and arr[1, 1] == 3 and np.isnan(arr[0, 1])


def test_high_agreement_is_not_flagged() -> None:
    quality = {"s1": 2, "s2": 4, "s3": 6, "s4": 8}
    reviews = [
        _review(e, s, q + d)
        for s, q in quality.items()
        for e, d in (("e1", 0), ("e2", 1), ("e3", 0))
    ]
    res = assess_agreement(reviews, RUBRIC, level="interval", floor=0.667, max_additional=2)
    assert res.alpha > 0.9 and not res.flagged and res.decision is None
    assert dict(res.per_criterion)["originality"] == pytest.approx(res.alpha)


def test_low_agreement_triggers_additional_review_of_most_disagreed() -> None:
    # s1: 1 vs 10 (huge disagreement), s2: 3 vs 8, s3: 5 vs 6, s4: one review only
    reviews = [
        _review("e1", "s1", 1), _review("e2", "s1", 10),
        _review("e1", "s2", 3), _review("e2", "s2", 8),
        _review("e1", "s3", 5), _review("e2", "s3", 6),
        _review("e3", "s4", 7),
    ]  # fmt: skip
    res = assess_agreement(reviews, RUBRIC, level="interval", floor=0.667, max_additional=2)
    assert res.flagged and res.alpha < 0.667
    d = res.decision
    assert d is not None
    assert d.submissions == ("s1", "s2")  # largest disagreement first, capped at 2
    assert d.disagreement[0] > d.disagreement[1] > 0
    assert d.under_reviewed == ("s4",)
    assert "below the floor 0.667" in d.reason
    # squared distances 81, 25, 1 -> ratios are proportional: r1 / r2 = 81 / 25
    assert d.disagreement[0] / d.disagreement[1] == pytest.approx(81 / 25)
