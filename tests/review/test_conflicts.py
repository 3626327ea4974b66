"""Conflict detection: normalisation, the time window, email domains, ties, declarations."""

from __future__ import annotations

from datetime import date

import pytest

from sovereval.errors import InputError
from sovereval.review.conflicts import (
    Affiliation,
    Consortium,
    DeclaredRelation,
    Expert,
    Organisation,
    ProgrammeTie,
    SelfDeclaredConflict,
    conflicted_pairs,
    domain_matches,
    find_conflicts,
    normalise_org,
    years_before,
)

REVIEW = date(2025, 12, 15)
UPSTAGE = Organisation("Upstage Inc.", ("upstage.ai",), aliases=("(주)업스테이지",))
LG = Organisation("LG AI Research Co., Ltd.", ("lgresearch.ai",))
CONS_A = Consortium("cons-a", "Team Upstage", (UPSTAGE, Organisation("Flitto")))
CONS_B = Consortium("cons-b", "Team LG", (LG,))
GPU = Organisation("GPUCo Ltd.", ("gpuco.com",))


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("Upstage Inc.", "upstage"),
        ("UPSTAGE", "upstage"),
        ("(주)업스테이지", "업스테이지"),
        ("주식회사 업스테이지", "업스테이지"),
        ("㈜업스테이지", "업스테이지"),
        ("LG AI Research Co., Ltd.", "lg ai research"),
        ("LG AI Research Co.,Ltd", "lg ai research"),
        ("Naver Cloud Corp.", "naver cloud"),
        ("Ｎａｖｅｒ  Cloud", "naver cloud"),  # full-width letters (NFKC)
        ("Example S.A.", "example"),
    ],
)
def test_normalise_org(raw: str, norm: str) -> None:
    assert normalise_org(raw) == norm


def test_domain_matching_includes_subdomains_only() -> None:
    assert domain_matches("mail.upstage.ai", "upstage.ai")
    assert domain_matches("@Upstage.AI.", "upstage.ai")
    assert not domain_matches("notupstage.ai", "upstage.ai")


def test_public_mail_domain_cannot_identify_an_organisation() -> None:
    with pytest.raises(InputError, match="public mail"):
        Organisation("Somebody", ("gmail.com",))


def test_years_before_handles_leap_day() -> None:
    assert years_before(date(2024, 2, 29), 3) == date(2021, 2, 28)
    assert years_before(REVIEW, 3) == date(2022, 12, 15)


def _expert(
    end: date | None, start: date | None = date(2018, 1, 1), org: str = "(주)업스테이지"
) -> Expert:
    return Expert("e1", "Kim", "kim@snu.ac.kr", (Affiliation(org, (), start, end),))


def _pairs(experts: list[Expert], years: int = 3, **kw: object) -> set[tuple[str, str]]:
    cs = find_conflicts(experts, [CONS_A, CONS_B], review_date=REVIEW, window_years=years, **kw)  # type: ignore[arg-type]
    return {(c.expert_id, c.consortium_id) for c in cs}


def test_past_affiliation_inside_and_outside_the_window() -> None:
    # review 2025-12-15, window 3 years -> window starts 2022-12-15 (inclusive)
    assert _pairs([_expert(date(2022, 12, 15))]) == {("e1", "cons-a")}  # ended on the first day
    assert _pairs([_expert(date(2023, 6, 30))]) == {("e1", "cons-a")}  # inside
    assert _pairs([_expert(date(2022, 12, 14))]) == set()  # one day before the window
    assert _pairs([_expert(date(2020, 1, 31))]) == set()  # long ago
    # the same 2020 affiliation is a conflict under a 6-year window (starts 2019-12-15)
    assert _pairs([_expert(date(2020, 1, 31))], years=6) == {("e1", "cons-a")}


def test_current_and_upcoming_affiliations_conflict() -> None:
    assert _pairs([_expert(None)]) == {("e1", "cons-a")}
    assert _pairs([_expert(None, start=date(2026, 3, 1))]) == {("e1", "cons-a")}
    reasons = find_conflicts(
        [_expert(None, start=date(2026, 3, 1))], [CONS_A], review_date=REVIEW, window_years=3
    )
    assert "upcoming from 2026-03-01" in reasons[0].reasons[0].detail


def test_email_domain_of_affiliation_and_of_current_address() -> None:
    past = Expert(
        "e2", "Lee", "", (Affiliation("Some Lab", ("ai.lgresearch.ai",), None, date(2024, 1, 1)),)
    )
    current = Expert("e3", "Park", "park@lgresearch.ai")
    assert _pairs([past, current]) == {("e2", "cons-b"), ("e3", "cons-b")}


def test_programme_tie_conflicts_only_with_tied_consortia() -> None:
    ex = Expert("e4", "Choi", "", (Affiliation("GPUCo", (), date(2021, 1, 1), None),))
    tie = ProgrammeTie(GPU, ("cons-b",), "GPU supplier")
    cs = find_conflicts([ex], [CONS_A, CONS_B], review_date=REVIEW, window_years=3, ties=[tie])
    assert [(c.consortium_id, c.reasons[0].kind) for c in cs] == [("cons-b", "programme_tie")]
    assert "GPU supplier 'GPUCo Ltd.'" in cs[0].reasons[0].detail


def test_declared_relation_and_self_declared_are_merged_with_sources() -> None:
    ex = Expert(
        "e5",
        "Jung",
        "jung@upstage.ai",
        relations=(DeclaredRelation("Team LG", "adviser", "paid advisory 2025"),),
    )
    declared = [
        SelfDeclaredConflict("e5", "cons-a", "former PhD student works there"),
        SelfDeclaredConflict("e6", "cons-b", "co-author"),
    ]
    cs = find_conflicts(
        [ex], [CONS_A, CONS_B], review_date=REVIEW, window_years=3, declared=declared
    )
    by = {(c.expert_id, c.consortium_id): c for c in cs}
    assert set(by) == {("e5", "cons-a"), ("e5", "cons-b"), ("e6", "cons-b")}
    assert by[("e5", "cons-a")].sources == {"detected", "declared"}
    assert [r.kind for r in by[("e5", "cons-a")].reasons] == ["affiliation", "self_declared"]
    assert by[("e5", "cons-b")].reasons[0].kind == "declared_relation"
    assert by[("e6", "cons-b")].sources == {"declared"}


def test_relation_to_a_member_organisation_by_alias() -> None:
    ex = Expert("e7", "Han", relations=(DeclaredRelation("주식회사 업스테이지", "shareholder"),))
    assert _pairs([ex]) == {("e7", "cons-a")}


def test_empty_self_declared_reason_refused() -> None:
    with pytest.raises(InputError, match="needs a reason"):
        find_conflicts(
            [],
            [],
            review_date=REVIEW,
            window_years=3,
            declared=[SelfDeclaredConflict("e", "c", " ")],
        )


def test_conflicted_pairs_expand_to_submissions() -> None:
    cs = find_conflicts([_expert(None)], [CONS_A, CONS_B], review_date=REVIEW, window_years=3)
    pairs = conflicted_pairs(cs, {"sub-1": "cons-a", "sub-2": "cons-a", "sub-3": "cons-b"})
    assert pairs == {("e1", "sub-1"), ("e1", "sub-2")}
