"""Tables of the human evaluations: the user panel's blind battles and the expert reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sovereval.store.models import Base


class Panelist(Base):
    __tablename__ = "panelists"
    __table_args__ = (UniqueConstraint("round_id", "code"), UniqueConstraint("round_id", "user_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    code: Mapped[str] = mapped_column(String(64))
    """Pseudonymous panelist code, unique within the round."""
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("web_users.id"), nullable=True, index=True
    )
    """The web user who is this round's panelist (membership is per round; none for a
    simulated or offline panelist)."""
    gender: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(16))
    age_band: Mapped[str] = mapped_column(String(16))
    proficiency: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    """Raking weight towards the round's quotas (used when the rules ask for weighting)."""
    status: Mapped[str] = mapped_column(String(16), default="active")
    """invited | active | excluded"""
    created_at: Mapped[datetime]


class ArenaModel(Base):
    """A round's frozen roster entry: a submission behind an anonymous alias."""

    __tablename__ = "arena_models"
    __table_args__ = (
        UniqueConstraint("round_id", "submission_id"),
        UniqueConstraint("round_id", "alias"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    alias: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(Text, default="")
    """Model URI the answers come from; frozen with the roster (no mid-round variant swaps)."""
    endpoint_digest: Mapped[str] = mapped_column(String(64), default="")


class Battle(Base):
    __tablename__ = "battles"
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    panelist_id: Mapped[int] = mapped_column(ForeignKey("panelists.id"))
    model_a: Mapped[int] = mapped_column(ForeignKey("arena_models.id"))
    """Shown on the left (side A) after the random swap."""
    model_b: Mapped[int] = mapped_column(ForeignKey("arena_models.id"))
    prompt: Mapped[str] = mapped_column(Text)
    prompt_source: Mapped[str] = mapped_column(String(16), default="own")
    answer_a: Mapped[str] = mapped_column(Text, default="")
    answer_b: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending (answers being generated) | ready | voted | failed | retried"""
    leak: Mapped[bool] = mapped_column(Boolean, default=False)
    """The last answer pair revealed a model's identity (never shown; generated again)."""
    regenerations: Mapped[int] = mapped_column(Integer, default=0)
    """Answer pairs discarded because they named a model."""
    created_at: Mapped[datetime]


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("battle_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[int] = mapped_column(ForeignKey("battles.id"))
    panelist_id: Mapped[int] = mapped_column(ForeignKey("panelists.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    """a | b | tie | both_bad"""
    reliability_a: Mapped[int] = mapped_column(Integer)
    practicality_a: Mapped[int] = mapped_column(Integer)
    reliability_b: Mapped[int] = mapped_column(Integer)
    practicality_b: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (UniqueConstraint("programme_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    name: Mapped[str] = mapped_column(String(200))
    """Also the web user's ``expert_name``."""
    record: Mapped[dict[str, Any]]
    """Affiliations (with dates and email domains), declared relations, self-declared conflicts."""
    created_at: Mapped[datetime]


class ReviewAssignment(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("submission_id", "expert"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    expert: Mapped[str] = mapped_column(String(200))
    probability: Mapped[float] = mapped_column(Float)
    """Marginal probability of this pair under the randomized assignment."""
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("assignment_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("review_assignments.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    """draft | submitted"""
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """criterion -> {score, justification}"""
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ReviewEdit(Base):
    __tablename__ = "review_edits"
    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]


class EvidenceFile(Base):
    """A team's technical report or training log, uploaded for the expert reviewers."""

    __tablename__ = "evidence_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    kind: Mapped[str] = mapped_column(String(32))
    """technical_report | training_log | other"""
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    """Text content (reports and logs are stored as text; binaries are refused)."""
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime]
