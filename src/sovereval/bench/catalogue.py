"""The task catalogue: declarative suite specs (YAML) naming registered loaders, prompt
templates and scorers. Specs hold names and numbers only, never code.

A suite belongs to one part of the benchmark category (``government``, ``common`` or
``team``); each task names its loader, a ``path`` relative to a data root given at run time,
the item kind, scorer, prompt template, the skill it measures, and an optional selection
(``slice``, then ``limit`` drawn with ``seed``). Suites shipped in the package live in
``sovereval/bench/suites``; ``data: package`` suites read the package's own example items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sovereval.bench.items import Item, ItemKind
from sovereval.bench.loaders import load, loader_names
from sovereval.bench.prompts import template_names
from sovereval.bench.scorers import get_scorer, scorer_names
from sovereval.errors import InputError, NotFoundError, RuleViolation

Skill = Literal["comprehension", "problem_solving", "writing"]
Part = Literal["government", "common", "team"]

_SCORER_KINDS: dict[str, tuple[str, ...]] = {
    "mc_loglik": ("mc",),
    "mc_letter": ("mc",),
    "numeric": ("numeric",),
    "exact_match": ("exact", "numeric"),
    "judge_rubric": ("writing",),
    "longctx_match": ("exact",),
    "ifeval": ("instruction",),
    "refusal": ("safety",),
}
Category = Literal["maths", "knowledge", "long_context", "safety", "instruction_following"]


class TaskCommitment(BaseModel):
    """A private item set's published commitment (``bench.commitment``): until the items are
    revealed, the suite file holds only this; the runner refuses items that do not match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field(pattern=r"^[0-9a-f]{64}$")
    """RFC 6962 Merkle root over the sorted item content hashes of the *selected* items."""
    n: int = Field(ge=1)
    algorithm: str = "rfc6962-sha256;leaves=sorted(item.content_hash)"


class TaskSpec(BaseModel):
    """One task of a suite."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    loader: str
    path: str
    """Relative to the data root given at run time (POSIX separators, no ``..``)."""
    options: dict[str, Any] = Field(default_factory=dict)
    kind: ItemKind
    scorer: str
    scorer_options: dict[str, Any] = Field(default_factory=dict)
    prompt: str
    """Name of a registered prompt template (``prompts.py``)."""
    skill: Skill
    category: Category | None = None
    """Which government category the task scores in (report groups tasks by it)."""
    limit: int | None = Field(default=None, gt=0)
    slice: str | None = Field(default=None, pattern=r"^\d*:\d*$")
    """``start:stop`` over the loader's order, applied before ``limit``."""
    seed: int | None = None
    """When set with ``limit``, the ``limit`` items are a seeded random sample (kept in loader
    order); without it, the first ``limit`` items."""
    commitment: TaskCommitment | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    """Generation budget for this task (a run's ``--max-tokens`` overrides it)."""

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, v: str) -> str:
        if v not in loader_names():
            raise ValueError(f"unknown loader {v!r}; registered: {', '.join(loader_names())}")
        return v

    @field_validator("scorer")
    @classmethod
    def _known_scorer(cls, v: str) -> str:
        if v not in scorer_names():
            raise ValueError(f"unknown scorer {v!r}; registered: {', '.join(scorer_names())}")
        return v

    @field_validator("prompt")
    @classmethod
    def _known_prompt(cls, v: str) -> str:
        if v not in template_names():
            raise ValueError(
                f"unknown prompt template {v!r}; registered: {', '.join(template_names())}"
            )
        return v

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or ".." in p.parts or "\\" in v or (len(v) > 1 and v[1] == ":"):
            raise ValueError(f"path {v!r} must be relative to the data root, without '..'")
        return v

    @model_validator(mode="after")
    def _scorer_fits_kind(self) -> TaskSpec:
        allowed = _SCORER_KINDS.get(self.scorer)
        if allowed is not None and self.kind not in allowed:
            raise ValueError(f"scorer {self.scorer} cannot score {self.kind} items")
        return self

    @property
    def requires(self) -> str:
        """What the engine must produce: ``loglik``, ``generate`` or ``judge``."""
        return get_scorer(self.scorer).requires


class SuiteSpec(BaseModel):
    """A named, versioned set of tasks for one part of the benchmark category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str = "1"
    part: Part
    description: str = ""
    data: Literal["external", "package"] = "external"
    """``package``: paths are relative to the package's example items, no data root needed."""
    tasks: list[TaskSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tasks(self) -> SuiteSpec:
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate task names: {', '.join(dupes)}")
        return self

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise NotFoundError(
            f"suite {self.name} has no task {name!r}; tasks: {[t.name for t in self.tasks]}"
        )


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_suite(text: str, source: str = "<suite>") -> SuiteSpec:
    """Parse and validate a YAML suite spec (``yaml.safe_load``: no tags, no code)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: a suite spec is a mapping with name, part and tasks")
    try:
        return SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: invalid suite spec: {_one_line(exc)}") from None


def _suites_dir() -> Any:
    return resources.files("sovereval.bench").joinpath("suites")


def builtin_suites() -> list[str]:
    """Names of the suites shipped in the package."""
    return sorted(
        p.name.removesuffix(".yaml") for p in _suites_dir().iterdir() if p.name.endswith(".yaml")
    )


def load_suite(spec: str | Path) -> SuiteSpec:
    """A suite from a YAML file path, or a shipped suite by name (``korean-public``)."""
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return parse_suite(p.read_text(encoding="utf-8"), str(p))
    if str(spec) in builtin_suites():
        res = _suites_dir().joinpath(f"{spec}.yaml")
        return parse_suite(res.read_text(encoding="utf-8"), f"{spec}.yaml")
    raise NotFoundError(
        f"no suite file or shipped suite {str(spec)!r}; shipped: {', '.join(builtin_suites())}"
    )


def examples_root() -> Path:
    """Folder of the package's own example items (``sovereval/examples/bench``)."""
    return Path(str(resources.files("sovereval").joinpath("examples", "bench")))


def data_root_for(suite: SuiteSpec, data_root: str | Path | None) -> Path:
    """The folder the suite's task paths are relative to."""
    if suite.data == "package":
        return examples_root()
    if data_root is None:
        raise InputError(f"suite {suite.name} reads external data; give a data root (--data-root)")
    return Path(data_root)


def select_items(
    items: Sequence[Item],
    *,
    slice: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> list[Item]:
    """Apply ``slice`` then ``limit`` (seeded sample, loader order kept, if ``seed`` is set)."""
    out = list(items)
    if slice:
        start, _, stop = slice.partition(":")
        out = out[int(start) if start else None : int(stop) if stop else None]
    if limit is not None and limit < len(out):
        if seed is None:
            out = out[:limit]
        else:
            keep = np.sort(np.random.default_rng(seed).choice(len(out), size=limit, replace=False))
            out = [out[int(i)] for i in keep]
    return out


def load_task_items(
    task: TaskSpec, root: Path, runtime: Mapping[str, Any] | None = None
) -> list[Item]:
    """Load a task's items from ``root / task.path``, check their kind, apply the selection.

    ``runtime`` adds options that cannot live in a suite file (the model's token counter for
    the long-context generator, under ``_token_counter``)."""
    # Generic loaders take their item kind from the ``kind`` option; default it to the task's.
    items = load(
        task.loader, root / task.path, {"kind": task.kind} | task.options | dict(runtime or {})
    )
    wrong = [it.id for it in items if it.kind != task.kind]
    if wrong:
        raise InputError(
            f"task {task.name}: {len(wrong)} item(s) of another kind than {task.kind} (first {wrong[0]}); "
            "set the loader's kind option"
        )
    selected = select_items(items, slice=task.slice, limit=task.limit, seed=task.seed)
    if task.commitment is not None:
        check_commitment(task, selected)
    return selected


def check_commitment(task: TaskSpec, items: Sequence[Item]) -> None:
    """RuleViolation unless ``items`` are exactly the set ``task.commitment`` commits to."""
    from sovereval.bench.commitment import ALGORITHM, set_root

    c = task.commitment
    if c is None:
        return
    if c.algorithm != ALGORITHM:
        raise InputError(
            f"task {task.name}: commitment algorithm {c.algorithm!r} is not {ALGORITHM}"
        )
    root = set_root(items)
    if root != c.root or len(items) != c.n:
        raise RuleViolation(
            f"task {task.name}: the {len(items)} items given do not match the suite's commitment "
            f"({c.n} items, root {c.root[:16]}…; these hash to {root[:16]}…); "
            "run only the revealed set the commitment was published for"
        )


def load_suite_items(
    suite: SuiteSpec,
    data_root: str | Path | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> dict[str, list[Item]]:
    """Every task's selected items, by task name (``runtime``: see ``load_task_items``)."""
    root = data_root_for(suite, data_root)
    return {t.name: load_task_items(t, root, runtime) for t in suite.tasks}
