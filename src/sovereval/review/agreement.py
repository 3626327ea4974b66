"""Inter-rater agreement of the expert panel and the low-agreement trigger.

Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability";
*Content Analysis*, 4th ed., ch. 12): ``alpha = 1 - D_o / D_e``, observed over expected
disagreement, computed on the reviewer x submission matrix with missing cells (an expert
reviews only the submissions assigned to them). Computed by the ``krippendorff`` package at the
interval level (differences of scores matter as numbers) or the ordinal level (only their order
matters). ``alpha = 1`` is perfect agreement, ``0`` is chance; Krippendorff suggests relying on
data with ``alpha >= 0.800`` and tentative conclusions for ``0.667 <= alpha < 0.800``.

When alpha falls below the RuleSet's floor the round is flagged and an additional review is
triggered for the submissions whose reviewers disagree most. A submission's disagreement is its
unit contribution to ``D_o`` (mean pairwise distance among its reviewers, the same metric
alpha uses) divided by ``D_e``: above 1, its reviewers disagree more than random pairs would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sovereval.errors import InputError
from sovereval.review.rubric import Rubric, SubmittedReview

Level = Literal["interval", "ordinal"]


@dataclass(frozen=True)
class ScoreMatrix:
    """Reviewers x submissions; ``nan`` where the reviewer did not review the submission."""

    experts: tuple[str, ...]
    submissions: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]

    def array(self) -> NDArray[np.float64]:
        return np.array(self.values, dtype=np.float64).reshape(
            len(self.experts), len(self.submissions)
        )


def score_matrix(
    reviews: Sequence[SubmittedReview], rubric: Rubric, criterion: str | None = None
) -> ScoreMatrix:
    """The reliability-data matrix of one criterion, or of the weighted total if None."""
    if criterion is not None:
        rubric.criterion(criterion)
    experts = tuple(sorted({r.expert_id for r in reviews}))
    subs = tuple(sorted({r.submission_id for r in reviews}))
    ei = {e: i for i, e in enumerate(experts)}
    sj = {s: j for j, s in enumerate(subs)}
    m = np.full((len(experts), len(subs)), np.nan)
    for r in reviews:
        scores = r.score_map()
        m[ei[r.expert_id], sj[r.submission_id]] = (
            rubric.weighted_total(scores) if criterion is None else scores[criterion]
        )
    return ScoreMatrix(experts, subs, tuple(tuple(float(v) for v in row) for row in m))


def alpha(matrix: ArrayLike, level: Level) -> float:
    """Krippendorff's alpha of a raters x units matrix (``nan`` = missing), via ``krippendorff``.

    Raises :class:`InputError` when alpha is undefined: fewer than two pairable values, or a
    single value throughout (no expected disagreement).
    """
    import krippendorff

    if level not in ("interval", "ordinal"):
        raise InputError(f"agreement level must be 'interval' or 'ordinal', got {level!r}")
    m = np.asarray(matrix, dtype=np.float64)
    pairable = np.sum(~np.isnan(m), axis=0) >= 2
    if m.ndim != 2 or not pairable.any():
        raise InputError("alpha needs at least one submission scored by two or more reviewers")
    if np.unique(m[:, pairable][~np.isnan(m[:, pairable])]).size < 2:
        raise InputError("alpha is undefined when every pairable score is identical")
    return float(krippendorff.alpha(reliability_data=m, level_of_measurement=level))


def unit_disagreement(matrix: ArrayLike, level: Level) -> NDArray[np.float64]:
    """Per unit (column): mean pairwise distance among its values over ``D_e``; nan if < 2.

    Distances are Krippendorff's: interval ``(c - k)^2``; ordinal
    ``(sum_{g=c}^{k} n_g - (n_c + n_k) / 2)^2`` with ``n_g`` the pairable-value frequencies.
    """
    m = np.asarray(matrix, dtype=np.float64)
    cols = [m[~np.isnan(m[:, j]), j] for j in range(m.shape[1])]
    pooled = np.concatenate([c for c in cols if c.size >= 2] or [np.empty(0)])
    if level == "interval":

        def delta(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray((a - b) ** 2, dtype=np.float64)

    else:
        domain, n_g = np.unique(pooled, return_counts=True)
        cum = np.concatenate([[0.0], np.cumsum(n_g)])

        def delta(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
            i = np.searchsorted(domain, np.minimum(a, b))
            k = np.searchsorted(domain, np.maximum(a, b))
            between = cum[k + 1] - cum[i]
            return np.asarray((between - (n_g[i] + n_g[k]) / 2.0) ** 2, dtype=np.float64)

    n = pooled.size
    d_e = float(delta(pooled[:, None], pooled[None, :]).sum() / (n * (n - 1))) if n > 1 else 0.0
    out = np.full(m.shape[1], np.nan)
    for j, c in enumerate(cols):
        if c.size >= 2:
            pair = delta(c[:, None], c[None, :])
            d_u = float(pair.sum() / (c.size * (c.size - 1)))
            out[j] = d_u / d_e if d_e > 0 else 0.0
    return out


@dataclass(frozen=True)
class AdditionalReview:
    """The decision to send submissions to more reviewers because the panel disagreed."""

    reason: str
    submissions: tuple[str, ...]
    """Largest disagreement first."""
    disagreement: tuple[float, ...]
    under_reviewed: tuple[str, ...]
    """Submissions with fewer than two reviews (no agreement can be measured on them)."""


@dataclass(frozen=True)
class AgreementResult:
    alpha: float
    level: Level
    floor: float
    flagged: bool
    """alpha < floor: the round is flagged."""
    per_criterion: tuple[tuple[str, float | None], ...]
    """Diagnostics; None where alpha is undefined for the criterion."""
    decision: AdditionalReview | None


def assess_agreement(
    reviews: Sequence[SubmittedReview],
    rubric: Rubric,
    *,
    level: Level,
    floor: float,
    max_additional: int,
) -> AgreementResult:
    """Alpha of the weighted totals against the floor; below it, the additional-review decision.

    ``floor`` and ``level`` come from the RuleSet; ``max_additional`` caps how many submissions
    go to additional review (the most disagreed-upon first).
    """
    if max_additional < 1:
        raise InputError("max_additional must be >= 1")
    total = score_matrix(reviews, rubric)
    a = alpha(total.array(), level)
    per: list[tuple[str, float | None]] = []
    for key in rubric.keys:
        try:
            per.append((key, alpha(score_matrix(reviews, rubric, key).array(), level)))
        except InputError:
            per.append((key, None))
    flagged = a < floor
    decision = None
    if flagged:
        dis = unit_disagreement(total.array(), level)
        ranked = sorted(
            (j for j in range(len(total.submissions)) if not np.isnan(dis[j])),
            key=lambda j: (-dis[j], total.submissions[j]),
        )[:max_additional]
        decision = AdditionalReview(
            reason=f"Krippendorff's alpha ({level}) {a:.3f} is below the floor {floor:.3f}",
            submissions=tuple(total.submissions[j] for j in ranked),
            disagreement=tuple(float(dis[j]) for j in ranked),
            under_reviewed=tuple(s for j, s in enumerate(total.submissions) if np.isnan(dis[j])),
        )
    return AgreementResult(a, level, floor, flagged, tuple(per), decision)
