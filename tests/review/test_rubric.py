"""Rubric round-trip, validation, and validation of one expert's scores."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovereval.errors import InputError, RuleViolation
from sovereval.review.rubric import (
    Anchor,
    Criterion,
    CriterionScore,
    Rubric,
    SubmittedReview,
    default_rubric,
    score_problems,
    validate_scores,
)

TEXT = "The training logs show a stable loss curve and a documented data pipeline."


def full_scores(
    score: float = 7.0, evidence: tuple[str, ...] = ("prov-42",)
) -> list[CriterionScore]:
    out = []
    for c in default_rubric().criteria:
        out.append(CriterionScore(c.key, score, TEXT, evidence if c.requires_evidence else ()))
    return out


def test_default_rubric_has_the_four_criteria_and_originality_needs_evidence() -> None:
    r = default_rubric()
    assert r.keys == (
        "development_strategy",
        "technical_capability",
        "originality",
        "ripple_effects",
    )
    assert [c.key for c in r.criteria if c.requires_evidence] == ["originality"]
    assert r.blind is True


def test_round_trip_is_exact_and_empty_dict_gives_default() -> None:
    r = default_rubric()
    d = r.to_dict()
    assert Rubric.from_dict(d) == r
    assert Rubric.from_dict(d).to_dict() == d
    assert Rubric.from_dict({}) == r


criteria = st.builds(
    lambda key, w, lo, span, ev, blind_desc: Criterion(
        key=key,
        title=key.title(),
        weight=w,
        scale_min=lo,
        scale_max=lo + span,
        anchors=(Anchor(lo, "lowest " + blind_desc), Anchor(lo + span, "highest")),
        requires_evidence=ev,
    ),
    st.text(alphabet="abcdefgh_", min_size=1, max_size=8),
    st.floats(min_value=0.1, max_value=10, allow_nan=False),
    st.integers(-5, 5),
    st.integers(1, 20),
    st.booleans(),
    st.text(min_size=1, max_size=10).filter(str.strip),
)


@given(st.lists(criteria, min_size=1, max_size=5, unique_by=lambda c: c.key), st.booleans())
def test_round_trip_hypothesis(cs: list[Criterion], blind: bool) -> None:
    r = Rubric(tuple(cs), blind=blind, min_justification_chars=10)
    assert Rubric.from_dict(r.to_dict()) == r


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight": 0.0}, "weights sum to 0"),
        ({"weight": -1.0}, ">= 0"),
        ({"scale_max": 1}, "max > min"),
        ({"anchors": (Anchor(11, "too high"),)}, "outside its scale"),
        ({"anchors": (Anchor(5, "b"), Anchor(3, "a"))}, "increasing"),
    ],
)
def test_invalid_rubrics_are_refused(kwargs: dict[str, object], message: str) -> None:
    base = {"key": "x", "title": "X", "weight": 1.0, "scale_min": 1, "scale_max": 10}
    base.update(kwargs)
    with pytest.raises(InputError, match=message):
        Rubric((Criterion(**base),))  # type: ignore[arg-type]


def test_duplicate_keys_refused() -> None:
    c = Criterion("x", "X", 1.0, 1, 5)
    with pytest.raises(InputError, match="duplicate"):
        Rubric((c, c))


def test_weighted_total_by_hand() -> None:
    # weights 1 and 3; scales [1, 5] and [0, 10]; scores 5 (u=1) and 5 (u=0.5)
    # frac = (1*1 + 3*0.5) / 4 = 0.625; total on [1, 10] = 1 + 9 * 0.625 = 6.625
    r = Rubric(
        (Criterion("a", "A", 1.0, 1, 5), Criterion("b", "B", 3.0, 0, 10)),
        min_justification_chars=5,
    )
    assert r.weighted_total({"a": 5, "b": 5}) == pytest.approx(6.625)
    # the default rubric (all 1-10, equal weights) gives the plain mean: (2+4+6+8)/4 = 5
    d = default_rubric()
    assert d.weighted_total(dict(zip(d.keys, (2, 4, 6, 8), strict=True))) == pytest.approx(5.0)


def test_valid_review_passes() -> None:
    validate_scores(default_rubric(), full_scores(), evidence_keys={"prov-42"})


def test_out_of_range_short_justification_and_missing_criteria() -> None:
    r = default_rubric()
    scores = [
        CriterionScore("development_strategy", 11, TEXT),
        CriterionScore("technical_capability", 5, "too short"),
    ]
    problems = score_problems(r, scores, evidence_keys=set())
    assert any("outside the scale [1, 10]" in p for p in problems)
    assert any(
        "technical_capability: written justification has 9 characters" in p for p in problems
    )
    assert any("originality, ripple_effects" in p for p in problems)
    with pytest.raises(RuleViolation):
        validate_scores(r, scores, evidence_keys=set())


def test_originality_must_cite_provenance_evidence() -> None:
    r = default_rubric()
    no_cite = full_scores(evidence=())
    assert any(
        "must cite the provenance" in p
        for p in score_problems(r, no_cite, evidence_keys={"prov-42"})
    )
    # citing a key that is not in the packet is refused
    wrong = full_scores(evidence=("prov-999",))
    assert any(
        "not in the packet: prov-999" in p
        for p in score_problems(r, wrong, evidence_keys={"prov-42"})
    )
    # naming the key in the text is a citation too
    in_text = [
        CriterionScore(s.criterion, s.score, s.justification + " See prov-42 for the weights.")
        for s in full_scores(evidence=())
    ]
    assert score_problems(r, in_text, evidence_keys={"prov-42"}) == ()


def test_submitted_review_round_trip() -> None:
    rev = SubmittedReview("e1", "s1", tuple(full_scores()))
    assert SubmittedReview.from_dict(rev.to_dict()) == rev
    assert rev.score_map()["originality"] == 7.0
