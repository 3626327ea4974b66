"""Expert review on the store, one module per stage of its lifecycle:

- ``review.registry``: the expert registry, conflicts of interest, conflict-free randomized
  assignment;
- ``review.evidence``: teams' evidence uploads and the blind packet an expert reads;
- ``review.forms``: drafts, submission before the deadline, score edits with history;
- ``review.results``: status, aggregation, agreement and outliers;
- ``review.common``: the RuleSet's review policy and rubric.

Policy comes from the round's RuleSet (``review_rubric`` and ``review``). The ledger records
assignments in full (seed and fractional matrix, so anyone can re-check the cap) but review
*content* only as a SHA-256 commitment until results are published, so nothing confidential
leaks through the public ledger. This module is the slice's public face: callers import it.
"""

from __future__ import annotations

from sovereval.review.common import DEFAULT_POLICY, policy, rubric_of
from sovereval.review.evidence import (
    EVIDENCE_KINDS,
    evidence_keys,
    evidence_packet,
    upload_evidence,
)
from sovereval.review.forms import edit_review_score, save_draft, submit_review
from sovereval.review.registry import (
    assign_round,
    assignment_for,
    register_expert,
    round_conflicts,
)
from sovereval.review.results import RoundReview, aggregate, review_status

__all__ = [
    "DEFAULT_POLICY",
    "EVIDENCE_KINDS",
    "RoundReview",
    "aggregate",
    "assign_round",
    "assignment_for",
    "edit_review_score",
    "evidence_keys",
    "evidence_packet",
    "policy",
    "register_expert",
    "review_status",
    "round_conflicts",
    "rubric_of",
    "save_draft",
    "submit_review",
    "upload_evidence",
]
