"""The input file formats of the competition, as pydantic models at the edge.

Each format (``components``, ``results``, ``ruleset``, ``ballots``) has one model; its JSON Schema
is what ``sovereval schema NAME`` prints, ``docs/formats.md`` shows a worked example of each, and
the same examples ship in ``sovereval/examples/round/``. :func:`parse` turns any validation
failure into one line that names the file, the entry and the field, says what was expected, and
points at the schema.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sovereval.errors import InputError

ComponentKind = Literal["text", "vision", "audio", "projector", "other"]
COMPONENT_KINDS: tuple[str, ...] = ("text", "vision", "audio", "projector", "other")


class Component(BaseModel):
    """One part of a submitted model, as its team declares it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="The component's name, e.g. 'decoder'.")
    kind: ComponentKind = Field("other", description="text | vision | audio | projector | other.")
    declared_origin: str = Field(
        "from-scratch",
        min_length=1,
        description=(
            "'from-scratch' for weights the team initialised and trained itself, or the name "
            "of the parent model it was derived from (e.g. 'Qwen2.5-VL-7B ViT'). Originality "
            "runs compare this declaration with the evidence."
        ),
    )
    licence: str = Field("", description="Licence of borrowed weights or code (SPDX id).")


class ResultEntry(BaseModel):
    """One raw result of one submission on one part of the rule set, with its interval."""

    model_config = ConfigDict(extra="forbid")
    submission: int = Field(
        ge=1,
        description="The submission id printed by 'submission register' (not the team name).",
    )
    part: str = Field(
        min_length=1,
        description="A part key of the round's rule set: government, common, team, expert, user.",
    )
    value: float = Field(description="The raw result: a fraction in 0-1, or the part's scale.")
    lo: float = Field(description="Lower end of its 95% interval (lo <= value).")
    hi: float = Field(description="Upper end of its 95% interval (value <= hi).")
    subject: Literal["model", "target"] = Field(
        "model",
        description=(
            "'model' for the team's own model; 'target' for the global target model the team "
            "declared, against which a target_ratio part (the team part) is measured."
        ),
    )
    source: str = Field("", description="Where the number comes from (run id, file).")


class Ballot(BaseModel):
    """One panel expert's vote on one wild-card application (the actor is the expert)."""

    model_config = ConfigDict(extra="forbid")
    application: int = Field(ge=1, description="Application id printed by 'wildcard apply'.")
    approve: bool = Field(description="true to approve the applicant, false to reject.")


class PointMappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["absolute", "target_ratio", "relative_best"] = "absolute"
    lo: float = 0.0
    hi: float = 1.0
    goal: float = 0.95


class PartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1)
    category: Literal["benchmark", "expert", "user"]
    points: float = Field(ge=0)
    mapping: PointMappingIn = Field(default_factory=lambda: PointMappingIn())
    title: str = ""


class AdvancementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eliminate_lowest: int | None = Field(default=1, ge=0)
    advance_count: int | None = Field(default=None, ge=0)
    tie_breaks: list[str] = ["benchmark", "expert", "user"]
    min_total: float | None = None


class GatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    originality_disqualifies: bool = True
    licence_restriction_disqualifies: bool = False


class RuleSetIn(BaseModel):
    """A rule set: parts with points (summing to ``total_points``), advancement, gates."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    version: int = Field(1, ge=1)
    parts: list[PartIn]
    advancement: AdvancementIn = Field(default_factory=lambda: AdvancementIn())
    gates: GatesIn = Field(default_factory=lambda: GatesIn())
    appeal_window_days: int = Field(10, ge=0)
    min_expert_agreement: float = 0.667
    review_rubric: dict[str, Any] = {}
    review: dict[str, Any] = {}
    arena: dict[str, Any] = {}
    interval_level: float = Field(0.95, gt=0, lt=1)
    lot_seed: str = "sovereval"
    total_points: float = Field(100.0, gt=0)


FORMATS: dict[str, tuple[Any, str]] = {
    "components": (list[Component], "components.json"),
    "results": (list[ResultEntry], "results.json"),
    "ruleset": (RuleSetIn, "ruleset.json"),
    "ballots": (list[Ballot], "ballots.json"),
}
"""``name -> (type, example file)``; the examples live in ``sovereval/examples/round/``."""


def _adapter(name: str) -> TypeAdapter[Any]:
    if name not in FORMATS:
        raise InputError(f"unknown format '{name}'; known: {', '.join(FORMATS)}")
    return TypeAdapter(FORMATS[name][0])


def json_schema(name: str) -> dict[str, Any]:
    schema = _adapter(name).json_schema()
    schema["title"] = f"sovereval {name}"
    return schema


def example_text(name: str) -> str:
    _adapter(name)
    return (
        resources.files("sovereval.examples")
        .joinpath("round", FORMATS[name][1])
        .read_text(encoding="utf-8")
    )


def _where(loc: tuple[int | str, ...], is_list: bool) -> str:
    parts: list[str] = []
    rest = list(loc)
    if is_list and rest and isinstance(rest[0], int):
        parts.append(f"entry {rest.pop(0)}")
    if rest:
        parts.append("field '" + ".".join(str(x) for x in rest) + "'")
    return ": ".join(parts)


def parse(name: str, data: Any, *, label: str) -> Any:
    """Validate ``data`` as format ``name``; one line naming the entry and field on failure."""
    adapter = _adapter(name)
    is_list = name != "ruleset"
    if isinstance(data, tuple):
        data = list(data)
    if is_list and not isinstance(data, list):
        raise InputError(
            f"{label}: expected a JSON list of {name} entries, got a JSON "
            f"{_json_kind(data)}; see: sovereval schema {name}"
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(tuple(err["loc"]), is_list)
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        elif err["type"] in ("model_type", "dict_type"):
            msg = f"expected a JSON object, got {_json_kind(err.get('input'))}"
        got = err.get("input")
        shown = (
            ""
            if err["type"] in ("missing", "model_type", "dict_type")
            else f" (got {json.dumps(got, default=str)[:60]})"
        )
        more = f" and {exc.error_count() - 1} more problem(s)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{label}: {where + ': ' if where else ''}{msg}{shown}{more}; see: sovereval schema {name}"
        ) from exc


def _json_kind(x: Any) -> str:
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, dict):
        return "object"
    if isinstance(x, list):
        return "list"
    if isinstance(x, str):
        return "string"
    if isinstance(x, int | float):
        return "number"
    return "null" if x is None else type(x).__name__
