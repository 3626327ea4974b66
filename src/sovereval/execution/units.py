"""Units of work: small JSON records with a stable key, and the code a worker runs for each.

A unit crosses the wire as JSON text and its reply comes back as JSON text, so nothing a worker
returns is ever unpickled by the driver and nothing the driver sends is code. The key is the
SHA-256 of the canonical JSON of the fields that decide the result (never of paths or settings
that only decide *how* it is computed, such as the concurrency), so the same work planned twice
gets the same key: that is what makes resume and de-duplication exact.

Two kinds are registered:

- :class:`BenchShard` — benchmark task x model x slice of items; the reply is the list of
  :class:`~sovereval.bench.journal.ItemResult` records of the slice;
- :class:`ProvenanceCompare` — candidate (submission or component) x reference model; the reply
  is :meth:`~sovereval.provenance.verdict.CompareResult.to_json`.

Workers never touch the database: the driver writes replies through the service layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import sovereval
from sovereval.errors import BackendError, InputError, SovereValError

PAYLOAD_VERSION = 1

Scalar = str | int | float | bool | None


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the one encoding keys are hashed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


class Unit(Protocol):
    """What every unit kind provides."""

    kind: ClassVar[str]

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


def _pairs(options: Mapping[str, Scalar] | None) -> tuple[tuple[str, Scalar], ...]:
    return tuple(sorted((str(k), v) for k, v in (options or {}).items()))


@dataclass(frozen=True)
class BenchShard:
    """Items ``[start, stop)`` of one task of a suite, run against one model."""

    kind: ClassVar[str] = "bench.shard"

    suite_json: str
    """The suite spec as canonical JSON (workers need no suite file, only the item data)."""
    task: str
    model_uri: str
    start: int
    stop: int
    data_root: str | None = None
    """Folder the suite's task paths are relative to; must be readable on every worker."""
    max_tokens: int | None = None
    concurrency: int = 8
    """Requests in flight inside the shard; does not change results, so not in the key."""
    backend_options: tuple[tuple[str, Scalar], ...] = ()
    """Timeouts and retries of the backend; never secrets (units are journaled)."""

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise InputError(
                f"bench shard of {self.task}: bad item range [{self.start}, {self.stop})"
            )

    @property
    def key(self) -> str:
        return digest(
            {
                "kind": self.kind,
                "suite": digest(json.loads(self.suite_json)),
                "task": self.task,
                "model": self.model_uri,
                "range": [self.start, self.stop],
                "data_root": self.data_root,
                "max_tokens": self.max_tokens,
            }
        )

    @property
    def label(self) -> str:
        return f"{self.task}[{self.start}:{self.stop}] on {self.model_uri}"

    def to_json(self) -> dict[str, Any]:
        return {
            "suite_json": self.suite_json,
            "task": self.task,
            "model_uri": self.model_uri,
            "start": self.start,
            "stop": self.stop,
            "data_root": self.data_root,
            "max_tokens": self.max_tokens,
            "concurrency": self.concurrency,
            "backend_options": [list(p) for p in self.backend_options],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchShard:
        return cls(
            suite_json=str(data["suite_json"]),
            task=str(data["task"]),
            model_uri=str(data["model_uri"]),
            start=int(data["start"]),
            stop=int(data["stop"]),
            data_root=None if data["data_root"] is None else str(data["data_root"]),
            max_tokens=None if data["max_tokens"] is None else int(data["max_tokens"]),
            concurrency=int(data["concurrency"]),
            backend_options=tuple((str(k), v) for k, v in data["backend_options"]),
        )


@dataclass(frozen=True)
class ProvenanceCompare:
    """Compare a candidate checkpoint (or one component of it) with one reference model."""

    kind: ClassVar[str] = "provenance.compare"

    candidate_id: str
    """Stable identity of the candidate (submission id and artefact digest); in the key."""
    reference_id: str
    """Stable identity of the reference (library name and digest); in the key."""
    candidate_path: str
    """Where a worker reads the candidate (shared storage); not in the key."""
    reference_path: str
    seed: int
    """Seeds the comparison's generator, so every executor gives the same numbers."""
    options: tuple[tuple[str, Scalar], ...] = ()
    """Overrides of :class:`~sovereval.provenance.compare.CompareOptions` fields."""
    components: tuple[str, ...] = field(default_factory=tuple)
    """Restrict to these components (empty: every component both models have)."""

    @property
    def key(self) -> str:
        return digest(
            {
                "kind": self.kind,
                "candidate": self.candidate_id,
                "reference": self.reference_id,
                "seed": self.seed,
                "options": [list(p) for p in self.options],
                "components": list(self.components),
            }
        )

    @property
    def label(self) -> str:
        return f"{self.candidate_id} vs {self.reference_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "reference_id": self.reference_id,
            "candidate_path": self.candidate_path,
            "reference_path": self.reference_path,
            "seed": self.seed,
            "options": [list(p) for p in self.options],
            "components": list(self.components),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProvenanceCompare:
        return cls(
            candidate_id=str(data["candidate_id"]),
            reference_id=str(data["reference_id"]),
            candidate_path=str(data["candidate_path"]),
            reference_path=str(data["reference_path"]),
            seed=int(data["seed"]),
            options=tuple((str(k), v) for k, v in data["options"]),
            components=tuple(str(c) for c in data["components"]),
        )


def run_bench_shard(unit: BenchShard) -> dict[str, Any]:
    """Run one shard with the bench engine and no sinks; the driver journals the items."""
    import asyncio

    from sovereval.bench.backends import open_backend
    from sovereval.bench.catalogue import SuiteSpec, data_root_for, load_task_items
    from sovereval.bench.engine import Engine
    from sovereval.bench.runner import build_tasks

    suite = SuiteSpec.model_validate(json.loads(unit.suite_json))
    spec = suite.task(unit.task)
    items = load_task_items(spec, data_root_for(suite, unit.data_root))
    if unit.stop > len(items):
        raise InputError(
            f"task {unit.task} has {len(items)} items, the shard asks for [{unit.start}, {unit.stop}); "
            "the item data differs between driver and worker"
        )
    one = suite.model_copy(update={"tasks": [spec]})

    async def go() -> list[dict[str, Any]]:
        backend = open_backend(unit.model_uri, **dict(unit.backend_options))
        try:
            tasks = build_tasks(
                one,
                {spec.name: items[unit.start : unit.stop]},
                model_uri=backend.uri,
                max_tokens=unit.max_tokens,
            )
            outcome = await Engine(backend, concurrency=unit.concurrency).run(tasks)
        finally:
            await backend.aclose()
        if outcome.error is not None:
            raise outcome.error
        return [r.to_json() for r in outcome.results]

    return {"items": asyncio.run(go())}


def run_provenance_compare(unit: ProvenanceCompare) -> dict[str, Any]:
    """Open both checkpoints (hostile-safe readers, never pickle) and compare them."""
    from dataclasses import fields
    from pathlib import Path

    import numpy as np

    from sovereval.provenance.compare import CompareOptions, compare
    from sovereval.provenance.formats.open import open_source

    allowed = {f.name for f in fields(CompareOptions)}
    unknown = sorted(k for k, _ in unit.options if k not in allowed)
    if unknown:
        raise InputError(f"unknown comparison option(s) {unknown}; known: {sorted(allowed)}")
    overrides: dict[str, Any] = dict(unit.options)
    if unit.components:
        overrides["components"] = unit.components
    options = CompareOptions(**overrides)
    a = open_source(Path(unit.reference_path))  # A: the reference; B: the candidate
    try:
        b = open_source(Path(unit.candidate_path))
        try:
            result = compare(a, b, rng=np.random.default_rng(unit.seed), options=options)
        finally:
            b.close()
    finally:
        a.close()
    return result.to_json()


@dataclass(frozen=True)
class UnitKind:
    decode: Callable[[Mapping[str, Any]], Any]
    run: Callable[[Any], dict[str, Any]]


UNIT_KINDS: dict[str, UnitKind] = {
    BenchShard.kind: UnitKind(BenchShard.from_json, run_bench_shard),  # type: ignore[arg-type]
    ProvenanceCompare.kind: UnitKind(ProvenanceCompare.from_json, run_provenance_compare),  # type: ignore[arg-type]
}


def register_unit_kind(
    kind: str, decode: Callable[[Mapping[str, Any]], Any], run: Callable[[Any], dict[str, Any]]
) -> None:
    """Add a unit kind (the function must be importable on every worker)."""
    UNIT_KINDS[kind] = UnitKind(decode, run)


def encode(unit: Unit) -> str:
    """The payload a worker receives: JSON text naming the kind, the key and the version."""
    return canonical_json(
        {
            "v": PAYLOAD_VERSION,
            "sovereval": sovereval.__version__,
            "kind": unit.kind,
            "key": unit.key,
            "unit": unit.to_json(),
        }
    )


def decode(payload: str) -> Any:
    """The unit a payload carries (raises :class:`InputError` on anything unexpected)."""
    try:
        data = json.loads(payload)
        kind = UNIT_KINDS[str(data["kind"])]
        unit = kind.decode(data["unit"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed unit payload: {exc}") from exc
    if unit.key != data["key"]:
        raise InputError(f"unit payload key {data['key'][:12]} does not match its content")
    return unit


def worker_name() -> str:
    node = ""
    # Inside a Ray worker (ray already imported) the node id names the machine better than the
    # host name; elsewhere ray is not imported just to find that out.
    ray: Any = sys.modules.get("ray")
    try:
        if ray is not None and ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except Exception:
        node = ""
    return f"{socket.gethostname()}:{os.getpid()}" + (f"@{node}" if node else "")


def execute(payload: str) -> str:
    """Run one unit and answer in JSON; errors are answered as data, never raised or pickled.

    ``retryable`` marks errors worth another attempt (a model server that failed); anything
    else (a bad file, a bad option, a bug) would fail again and is reported at once.
    """
    started = time.perf_counter()
    reply: dict[str, Any] = {"v": PAYLOAD_VERSION, "worker": worker_name()}
    try:
        data = json.loads(payload)
        if data.get("v") != PAYLOAD_VERSION or data.get("sovereval") != sovereval.__version__:
            raise InputError(
                f"worker runs sovereval {sovereval.__version__} (payload v{PAYLOAD_VERSION}) but the "
                f"driver sent sovereval {data.get('sovereval')} (payload v{data.get('v')}); install the "
                "same version on every node"
            )
        unit = decode(payload)
        reply.update(key=unit.key, ok=True, result=UNIT_KINDS[unit.kind].run(unit))
    except SovereValError as exc:
        reply.update(
            ok=False,
            error={
                "type": type(exc).__name__,
                "message": str(exc),
                "retryable": isinstance(exc, BackendError),
            },
        )
    except Exception as exc:  # a bug or an environment fault: reported, never swallowed silently
        reply.update(
            ok=False,
            error={"type": type(exc).__name__, "message": str(exc), "retryable": False},
        )
    reply["elapsed_s"] = time.perf_counter() - started
    return canonical_json(reply)
