"""Expert review's shared policy look-ups: the RuleSet's ``review`` section over
``DEFAULT_POLICY``, the rubric, and content digests for the ledger."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet
from sovereval.review.rubric import Rubric
from sovereval.store import models as m

DEFAULT_POLICY: dict[str, Any] = {
    "reviewers_per_submission": 3,
    "min_load": 0,
    "max_load": 5,
    "max_probability": 0.75,
    "conflict_window_years": 3,
    "programme_ties": [],
    "trim": 0.1,
    "outlier_z": 3.5,
    "level": "interval",
    "max_additional": 2,
    "deadline_days": 14,
    "max_evidence_bytes": 5_000_000,
}


def policy(rules: RuleSet) -> dict[str, Any]:
    """The review policy in force: the RuleSet's ``review`` section over the defaults."""
    return {**DEFAULT_POLICY, **dict(rules.review)}


def rubric_of(rules: RuleSet) -> Rubric:
    return Rubric.from_dict(dict(rules.review_rubric))


def _rules(s: Session, rnd: m.Round) -> RuleSet:
    return svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
