"""SQLAlchemy 2 tables. The database is the single source of truth.

Times are stored as UTC and always returned timezone-aware (SQLite keeps no zone, so the
``UTCDateTime`` type normalises on the way in and out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass a timezone-aware time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Programme(Base):
    __tablename__ = "programmes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class Consortium(Base):
    __tablename__ = "consortia"
    __table_args__ = (UniqueConstraint("programme_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    name: Mapped[str] = mapped_column(String(200))
    lead: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[Any]] = mapped_column(default=list)
    """Member organisations (the lead included)."""
    status: Mapped[str] = mapped_column(String(32), default="selected")
    """applicant | selected | eliminated | disqualified | wildcard | withdrawn"""
    created_at: Mapped[datetime]


class RuleSetRow(Base):
    __tablename__ = "rulesets"
    __table_args__ = (UniqueConstraint("programme_id", "name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    """draft | published | frozen | superseded"""
    content: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("rulesets.id"), nullable=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    """Required for an amendment made after the round opened."""
    is_amendment: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("programme_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    advance_slots: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    """planned | open | closed | published"""
    ruleset_id: Mapped[int | None] = mapped_column(ForeignKey("rulesets.id"), nullable=True)
    """The rule set currently in force (the latest amendment)."""
    opened_ruleset_id: Mapped[int | None] = mapped_column(ForeignKey("rulesets.id"), nullable=True)
    """The rule set frozen when the round opened."""
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    simulation: Mapped[bool] = mapped_column(default=False)
    """Marked a simulation when created: only such a round takes simulated panels and votes."""
    reopenings: Mapped[list[Any]] = mapped_column(default=list)
    """Each reasoned reopening of the closed round: ``{at, actor, rationale, closes_at}``."""


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("round_id", "consortium_id", "model_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    model_name: Mapped[str] = mapped_column(String(200))
    artefact_uri: Mapped[str] = mapped_column(Text)
    files: Mapped[list[Any]] = mapped_column(default=list)
    """[{path, sha256, bytes}] of every artefact file."""
    components: Mapped[list[Any]] = mapped_column(default=list)
    """[{name, kind, declared_origin, licence}] as declared by the team."""
    endpoint: Mapped[str] = mapped_column(Text, default="")
    target_model: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(32), default="registered")
    created_at: Mapped[datetime]


class Result(Base):
    """A raw input to scoring: one part's measurement for one submission (or its target model)."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("submission_id", "part", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    part: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(16), default="model")
    """``model`` (the team's model) or ``target`` (its declared target model)."""
    value: Mapped[float] = mapped_column(Float)
    lo: Mapped[float] = mapped_column(Float)
    hi: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text, default="")
    """Where the number came from: a benchmark run id, an example file, an aggregation."""
    created_at: Mapped[datetime]


class ProvenanceRun(Base):
    __tablename__ = "provenance_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    reference: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(32))
    gate_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Scorecard(Base):
    """One issue of a round's results; an appeal that changes a score creates the next issue."""

    __tablename__ = "scorecards"
    __table_args__ = (UniqueConstraint("round_id", "issue"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    issue: Mapped[int] = mapped_column(Integer)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("rulesets.id"))
    content: Mapped[dict[str, Any]]
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ScoreEdit(Base):
    __tablename__ = "score_edits"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    part: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class Appeal(Base):
    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    filed_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    """pending | upheld | dismissed | rejected_late"""
    reason: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WildcardCall(Base):
    __tablename__ = "wildcard_calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    """The round the admitted team enters."""
    eligible_kinds: Mapped[list[Any]] = mapped_column(default=list)
    panel: Mapped[list[Any]] = mapped_column(default=list)
    slots: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    """open | decided"""
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]


class WildcardApplication(Base):
    __tablename__ = "wildcard_applications"
    __table_args__ = (UniqueConstraint("call_id", "consortium_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("wildcard_calls.id"))
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    filed_at: Mapped[datetime]


class WildcardVote(Base):
    __tablename__ = "wildcard_votes"
    __table_args__ = (UniqueConstraint("application_id", "expert"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("wildcard_applications.id"))
    expert: Mapped[str] = mapped_column(String(200))
    approve: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("round_id", "consortium_id", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortia.id"))
    resource: Mapped[str] = mapped_column(String(64))
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), default="")


class BenchItem(Base):
    """One benchmark item's result, written as soon as the item finishes (resumable runs)."""

    __tablename__ = "bench_items"
    __table_args__ = (UniqueConstraint("run_key", "task", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_key: Mapped[str] = mapped_column(String(128))
    """Identifies (suite, model, settings); the same key resumes the same run."""
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), nullable=True)
    model: Mapped[str] = mapped_column(String(300))
    task: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[str] = mapped_column(String(300))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    """None until judged (writing tasks) or when the scorer could not score the answer."""
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class LedgerEvent(Base):
    __tablename__ = "ledger_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Base):
    """Single row locked by every append, so two writers can never fork the chain."""

    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    replay: Mapped[bool] = mapped_column(Boolean, default=False)
    """A replay database: its events are timed by ``--at``; a live one refuses ``--at``."""
