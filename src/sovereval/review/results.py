"""Expert review, after reviewing: status, aggregation (trimmed means with bootstrap
intervals), agreement and outlier reviewers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import (
    NotFoundError,
)
from sovereval.ledger.log import append
from sovereval.review.aggregate import aggregate_round, outlier_reviewers
from sovereval.review.agreement import AgreementResult, assess_agreement
from sovereval.review.common import _rules, policy, rubric_of
from sovereval.review.forms import _form
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

# -- aggregation ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoundReview:
    totals: Mapping[int, tuple[float, float, float]]
    """Submission id -> weighted total (trimmed mean, bootstrap 95% interval) on 1-10."""
    agreement: AgreementResult
    outliers: tuple[str, ...]
    status: Mapping[str, int]


def review_status(s: Session, rnd: m.Round) -> dict[str, int]:
    rows = (
        s.execute(select(em.ReviewAssignment.id).where(em.ReviewAssignment.round_id == rnd.id))
        .scalars()
        .all()
    )
    reviews = (
        s.execute(select(em.Review.status).where(em.Review.assignment_id.in_(rows))).scalars().all()
        if rows
        else []
    )
    return {
        "assigned": len(rows),
        "submitted": sum(1 for r in reviews if r == "submitted"),
        "draft": sum(1 for r in reviews if r == "draft"),
        "not_started": len(rows) - len(reviews),
    }


def aggregate(
    s: Session, rnd: m.Round, *, rng: np.random.Generator, record: bool, actor: str, now: datetime
) -> RoundReview:
    """Trimmed means with bootstrap intervals, Krippendorff's alpha against the RuleSet's floor
    (flagging the round and naming submissions for additional review), outlier reviewers."""
    rules = _rules(s, rnd)
    pol, rubric = policy(rules), rubric_of(rules)
    ids = (
        s.execute(select(em.ReviewAssignment).where(em.ReviewAssignment.round_id == rnd.id))
        .scalars()
        .all()
    )
    submitted = []
    for a in ids:
        row, form = _form(s, a)
        if row is not None and form.status == "submitted":
            submitted.append(form.as_submitted())
    if not submitted:
        raise NotFoundError(f"round {rnd.number} has no submitted reviews")
    aggs = aggregate_round(submitted, rubric, trim=float(pol["trim"]), rng=rng)
    agreement = assess_agreement(
        submitted,
        rubric,
        level=pol["level"],
        floor=rules.min_expert_agreement,
        max_additional=int(pol["max_additional"]),
    )
    outliers = tuple(
        o.expert_id
        for o in outlier_reviewers(submitted, rubric, z_threshold=float(pol["outlier_z"]))
    )
    totals = {int(x.submission_id): (x.total.estimate, x.total.low, x.total.high) for x in aggs}
    if record:
        for sid, (v, lo, hi) in totals.items():
            svc.record_result(
                s,
                svc.get_submission(s, sid),
                "expert",
                Measurement(v, lo, hi),
                source=f"expert review: trimmed mean of {sum(1 for r in submitted if r.submission_id == str(sid))} reviews",
                actor=actor,
                now=now,
            )
    append(
        s,
        actor=actor,
        kind="review.aggregated",
        body={
            "round": rnd.number,
            "alpha": agreement.alpha,
            "floor": agreement.floor,
            "flagged": agreement.flagged,
            "additional_review": list(agreement.decision.submissions) if agreement.decision else [],
            "outlier_reviewers": list(outliers),
        },
        at=now,
    )
    return RoundReview(totals, agreement, outliers, review_status(s, rnd))
