"""Pydantic models at the API edge: what goes in, what comes out, and the error body."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _clean(text: str) -> str:
    """Refuse NUL characters and unpaired surrogates: neither survives a database or a hash."""
    if "\x00" in text:
        raise ValueError("text may not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no unpaired surrogates)") from None
    return text


SafeText = Annotated[str, AfterValidator(_clean)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    status: int
    type: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Malformed input"),
        (401, "Sign-in or API token required"),
        (403, "Not allowed for this role"),
        (404, "Not found (or not visible to the caller)"),
        (409, "Conflicts with the current state"),
        (413, "Request body too large"),
        (422, "Rejected by validation or the competition rules"),
        (429, "Rate limited; see Retry-After"),
    )
}


class ProgrammeOut(BaseModel):
    id: int
    name: str
    description: str


class CategoryOut(BaseModel):
    points: float
    lo: float
    hi: float


class PartOut(BaseModel):
    key: str
    category: str
    points: float
    lo: float
    hi: float
    sigma: float
    max_points: float
    raw: float


class TeamResultOut(BaseModel):
    team: str
    model: str
    submission: int
    rank: int
    rank_upper: int = Field(
        description="Best rank consistent with the intervals: 1 + teams certainly ahead."
    )
    rank_best: int | None = Field(
        description="Same as rank_upper; null for a disqualified team (not ranked)."
    )
    rank_worst: int | None = Field(
        description="Eligible teams minus those certainly behind; null when disqualified."
    )
    total: float
    total_lo: float
    total_hi: float
    decision: Literal["advance", "eliminate", "disqualify"]
    reason: str
    categories: dict[str, CategoryOut]
    parts: list[PartOut]


class AmendmentOut(BaseModel):
    version: int
    hash: str
    rationale: str
    at: str


class RulesRefOut(BaseModel):
    name: str
    version: int
    hash: str
    amended: bool
    amendments: list[AmendmentOut]


class ResultsOut(BaseModel):
    programme_id: int
    round: int
    round_name: str
    issue: int
    published_at: str | None
    rules: RulesRefOut
    teams: list[TeamResultOut]


class ChangeOut(BaseModel):
    path: str
    old: str
    new: str


class RuleVersionOut(BaseModel):
    id: int
    name: str
    version: int
    status: str
    hash: str
    amendment: bool
    rationale: str
    at: str
    changes: list[ChangeOut]


class LedgerHeadOut(BaseModel):
    events: int
    head: str
    verify: str = Field(description="How to re-check the chain without trusting this server.")


class MeOut(BaseModel):
    username: str
    role: str
    consortium_id: int | None
    expert_name: str | None


class SubmissionSummaryOut(BaseModel):
    id: int
    model: str
    status: str
    round: int
    round_status: str


class MeasurementOut(BaseModel):
    part: str
    subject: str
    value: float
    lo: float
    hi: float
    source: str


class SubmissionOut(BaseModel):
    id: int
    model: str
    consortium: str
    status: str
    target_model: str
    components: list[dict[str, Any]]
    files: list[dict[str, Any]]
    results: list[MeasurementOut]
    provenance: list[dict[str, Any]]


class ComponentIn(Strict):
    name: SafeText = Field(min_length=1, max_length=200)
    kind: Literal["text", "vision", "audio", "projector", "other"] = "other"
    declared_origin: SafeText = Field("from-scratch", max_length=200)
    licence: SafeText = Field("", max_length=200)


class SubmissionIn(Strict):
    round: int = Field(ge=1, le=1000, description="Round number in the team's programme.")
    model: SafeText = Field(min_length=1, max_length=200)
    artefact: SafeText = Field(
        min_length=1, max_length=2000, description="URI the organisers fetch the weights from."
    )
    endpoint: SafeText = Field("", max_length=2000, description="OpenAI-compatible base URL.")
    target_model: SafeText = Field("", max_length=200)
    components: list[ComponentIn] = Field(min_length=1, max_length=16)


class SubmissionCreatedOut(BaseModel):
    id: int
    model: str
    round: int


class EvidenceIn(Strict):
    kind: Literal["technical_report", "training_log", "checkpoint_list", "other"]
    filename: SafeText = Field(min_length=1, max_length=300)
    content: str = Field(max_length=5_000_000, description="UTF-8 text of the file.")


class EvidenceOut(BaseModel):
    id: int
    key: str
    kind: str
    filename: str
    sha256: str
    bytes: int


class AppealIn(Strict):
    text: SafeText = Field(min_length=1, max_length=20_000)


class AppealOut(BaseModel):
    id: int
    round: int
    status: Literal["pending", "rejected_late"]
    reason: str
    filed_at: datetime


class ResultIn(Strict):
    part: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    value: Number
    lo: Number
    hi: Number
    subject: Literal["model", "target"] = "model"
    source: SafeText = Field("", max_length=2_000)


class ScorecardOut(BaseModel):
    round: int
    issue: int
    published: bool
    content: dict[str, Any]


class RulesetOut(BaseModel):
    id: int
    name: str
    version: int
    status: str
    hash: str
    amendment: bool
    rationale: str


class AmendIn(Strict):
    rules: dict[str, Any] = Field(description="The complete new rule set (RuleSet.to_dict form).")
    rationale: SafeText = Field("", max_length=20_000)
