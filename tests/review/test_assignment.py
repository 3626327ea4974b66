"""Randomized assignment (Jecmen et al. 2020): conflicts, loads, the probability cap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.errors import InputError, RuleViolation
from sovereval.review.assignment import (
    AssignmentSpec,
    assign_reviewers,
    sample_assignment,
    solve_fractional,
    verify_assignment,
)

EXPERTS = tuple(f"e{i:02d}" for i in range(10))
SUBS = tuple(f"s{j}" for j in range(5))
SPEC = AssignmentSpec(reviewers_per_submission=3, min_load=1, max_load=2, max_probability=0.5)
# s0 conflicts with e00..e02 (and e09), s1 with e04, e05; e09 may review only s3 and s4
CONFLICTS = frozenset(
    {("e00", "s0"), ("e01", "s0"), ("e02", "s0"), ("e04", "s1"), ("e05", "s1")}
    | {("e09", s) for s in SUBS[:3]}
)
SIM = np.random.default_rng(7).random((10, 5))


def test_lp_respects_cap_conflicts_and_degrees() -> None:
    x, value = solve_fractional(EXPERTS, SUBS, SPEC, conflicts=CONFLICTS, similarity=SIM)
    assert x.max() <= 0.5 + 1e-9
    for e, s in CONFLICTS:
        assert x[EXPERTS.index(e), SUBS.index(s)] == 0.0
    np.testing.assert_allclose(x.sum(axis=0), 3.0, atol=1e-9)  # k per submission
    loads = x.sum(axis=1)
    assert loads.min() >= 1 - 1e-9 and loads.max() <= 2 + 1e-9
    assert value == pytest.approx(float((SIM * x).sum()))


def test_no_conflicted_pair_and_loads_within_bounds_over_200_seeds() -> None:
    seen_pairs: set[tuple[str, str]] = set()
    for seed in range(200):
        a = assign_reviewers(EXPERTS, SUBS, SPEC, seed=seed, conflicts=CONFLICTS, similarity=SIM)
        assert not set(a.pairs) & CONFLICTS
        for s in SUBS:
            assert len(a.reviewers_of(s)) == 3
        for e in EXPERTS:
            assert 1 <= len(a.submissions_of(e)) <= 2
        seen_pairs |= set(a.pairs)
    # randomisation: more distinct pairs are used than one assignment has (15)
    assert len(seen_pairs) > 15


def test_same_seed_same_assignment_and_record_is_complete() -> None:
    a = assign_reviewers(EXPERTS, SUBS, SPEC, seed=11, conflicts=CONFLICTS, similarity=SIM)
    b = assign_reviewers(EXPERTS, SUBS, SPEC, seed=11, conflicts=CONFLICTS, similarity=SIM)
    assert a == b
    d = a.to_dict()
    assert d["seed"] == 11 and len(d["fractional"]) == 10 and len(d["pairs"]) == 15
    # the recorded fractional matrix and seed re-sample to the same pairs
    again = sample_assignment(np.array(d["fractional"]), np.random.default_rng(11))
    assert {(EXPERTS[i], SUBS[j]) for i, j in zip(*np.nonzero(again), strict=True)} == set(a.pairs)
    assert a.is_assigned(*a.pairs[0]) and not a.is_assigned("e00", "s0")


def test_probability_cap_holds_empirically() -> None:
    x, _ = solve_fractional(EXPERTS, SUBS, SPEC, conflicts=CONFLICTS, similarity=SIM)
    rng = np.random.default_rng(2024)
    n = 3000
    counts = np.zeros_like(x)
    for _ in range(n):
        counts += sample_assignment(x, rng)
    freq = counts / n
    # binomial SD at p = 0.5 is sqrt(0.25 / 3000) = 0.0091; 4.5 SD = 0.041 keeps the
    # family-wise false alarm rate over 50 cells below 1e-4. Cells with x in {0, 1} are exact.
    tol = 4.5 * np.sqrt(x * (1 - x) / n) + 1e-9
    assert np.all(np.abs(freq - x) <= tol)
    assert freq.max() <= 0.5 + 4.5 * np.sqrt(0.25 / n)
    assert np.all(freq[x == 0] == 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_dependent_rounding_preserves_degrees(n_e: int, n_s: int, seed: int) -> None:
    # random fractional matrix with integral column sums: scale random columns to sum to k
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, n_e + 1))
    x = np.zeros((n_e, n_s))
    for j in range(n_s):
        col = rng.random(n_e) + 1e-3
        col = col / col.sum() * k
        while col.max() > 1 + 1e-12:  # water-fill so every entry is <= 1
            over = col >= 1
            excess = (col[over] - 1).sum()
            col[over] = 1
            col[~over] += excess * col[~over] / col[~over].sum()
        x[:, j] = np.minimum(col, 1.0)
    out = sample_assignment(x, rng)
    assert np.all(out.sum(axis=0) == k)
    rows = x.sum(axis=1)
    assert np.all(out.sum(axis=1) >= np.floor(rows + 1e-9))
    assert np.all(out.sum(axis=1) <= np.ceil(rows - 1e-9))
    assert not np.any(out & (x == 0))


def test_too_many_conflicts_for_one_submission_names_it() -> None:
    conflicts = {(e, "s2") for e in EXPERTS[:5]}  # 5 left x 0.5 = 2.5 < 3
    with pytest.raises(RuleViolation, match="too many conflicts for submission s2"):
        solve_fractional(EXPERTS, SUBS, SPEC, conflicts=conflicts)


def test_group_of_submissions_sharing_too_few_experts_is_named() -> None:
    # s0 and s1 may only use e00..e04. Each alone passes the per-submission check
    # (5 experts x cap 0.75 = 3.75 >= k = 3), but together they need 2 x 3 = 6 reviews from
    # 5 experts with max load 1: at most 5. The min-cut names the pair.
    spec = AssignmentSpec(3, 0, 1, 0.75)
    experts = tuple(f"e{i:02d}" for i in range(15))
    conflicts = {(e, s) for e in experts[5:] for s in ("s0", "s1")}
    with pytest.raises(RuleViolation, match="submissions s0, s1"):
        solve_fractional(experts, SUBS, spec, conflicts=conflicts)


def test_capacity_and_minimum_load_messages() -> None:
    with pytest.raises(RuleViolation, match="15 reviews are needed"):
        solve_fractional(EXPERTS[:5], SUBS, SPEC)
    with pytest.raises(RuleViolation, match="lower the minimum load"):
        solve_fractional(EXPERTS, SUBS, AssignmentSpec(1, 1, 2, 0.5))


def test_spec_and_inputs_are_validated() -> None:
    with pytest.raises(InputError):
        AssignmentSpec(0, 0, 1, 0.5)
    with pytest.raises(InputError):
        AssignmentSpec(1, 2, 1, 0.5)
    with pytest.raises(InputError):
        AssignmentSpec(1, 0, 1, 0.0)
    with pytest.raises(InputError, match="duplicate"):
        solve_fractional(("a", "a"), SUBS, SPEC)
    with pytest.raises(InputError, match="similarity"):
        solve_fractional(EXPERTS, SUBS, SPEC, similarity=np.ones((2, 2)))


def test_verify_assignment_refuses_bad_manual_assignments() -> None:
    a = assign_reviewers(EXPERTS, SUBS, SPEC, seed=3, conflicts=CONFLICTS, similarity=SIM)
    verify_assignment(a.pairs, EXPERTS, SUBS, SPEC, CONFLICTS)
    with pytest.raises(RuleViolation, match="conflicted"):
        verify_assignment((*a.pairs, ("e00", "s0")), EXPERTS, SUBS, SPEC, CONFLICTS)
    with pytest.raises(RuleViolation, match="reviewers, needs 3"):
        verify_assignment(a.pairs[1:], EXPERTS, SUBS, SPEC, CONFLICTS)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(3, 9),
    st.integers(1, 5),
    st.integers(1, 3),
    st.sampled_from([0.34, 0.5, 0.75, 1.0]),
    st.floats(0.0, 0.4),
    st.integers(0, 2**32 - 1),
)
def test_random_instances_are_assigned_correctly_or_refused_with_a_reason(
    n_e: int, n_s: int, k: int, q: float, p_conflict: float, seed: int
) -> None:
    # Either the policy is infeasible (RuleViolation naming a constraint) or the sample obeys it.
    rng = np.random.default_rng(seed)
    experts = tuple(f"e{i}" for i in range(n_e))
    subs = tuple(f"s{j}" for j in range(n_s))
    conflicts = frozenset((e, s) for e in experts for s in subs if rng.random() < p_conflict)
    max_load = int(np.ceil(k * n_s / n_e)) + 1
    spec = AssignmentSpec(min(k, n_e), 0, max_load, q)
    try:
        a = assign_reviewers(
            experts, subs, spec, seed=seed, conflicts=conflicts, similarity=rng.random((n_e, n_s))
        )
    except RuleViolation as exc:
        assert str(exc)
        return
    assert not set(a.pairs) & conflicts
    x = a.fractional_matrix()
    assert x.max() <= q + 1e-9
    for s in subs:
        assert len(a.reviewers_of(s)) == spec.reviewers_per_submission
    for e in experts:
        assert len(a.submissions_of(e)) <= max_load
