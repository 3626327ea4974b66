"""Planning the two kinds of heavy work into units, and running them as jobs.

- :func:`plan_bench` cuts a suite into shards (task x model x slice of items);
  :func:`run_bench_job` runs them and writes every item into the per-(suite, model) bench
  journal (so ``sovereval bench report`` reads it) and into the caller's sinks (the store).
- :func:`plan_provenance` pairs every candidate with every reference;
  :func:`run_provenance_scan` runs the comparisons and returns one result per pair.

Every per-unit seed is derived from the scan seed and the pair's identities (SHA-256), so the
local and the Ray executor, and a resumed run, produce the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from sovereval.bench.catalogue import SuiteSpec, load_suite_items
from sovereval.bench.journal import (
    ItemResult,
    ItemSink,
    JsonlJournal,
    latest_by_key,
    read_journal,
)
from sovereval.bench.runner import journal_path
from sovereval.errors import InputError
from sovereval.execution.base import Executor
from sovereval.execution.job import JobReport, UnitOutcome, run_job
from sovereval.execution.units import BenchShard, ProvenanceCompare, Scalar, Unit


def plan_bench(
    suite: SuiteSpec,
    model_uris: Sequence[str],
    *,
    data_root: str | Path | None = None,
    shard_size: int = 32,
    max_tokens: int | None = None,
    concurrency: int = 8,
    backend_options: Mapping[str, Scalar] | None = None,
    items_by_task: Mapping[str, Sequence[object]] | None = None,
) -> list[BenchShard]:
    """Shards in (model, task, slice) order. Items are loaded once here only to count them."""
    if shard_size < 1:
        raise InputError(f"shard size must be at least 1, got {shard_size}")
    if not model_uris:
        raise InputError("a benchmark job needs at least one model")
    counts = {
        name: len(items)
        for name, items in (items_by_task or load_suite_items(suite, data_root)).items()
    }
    suite_json = json.dumps(suite.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    root = None if data_root is None else str(Path(data_root).resolve())
    options = tuple(sorted((backend_options or {}).items()))
    shards: list[BenchShard] = []
    for model in model_uris:
        for spec in suite.tasks:
            n = counts[spec.name]
            for start in range(0, n, shard_size):
                shards.append(
                    BenchShard(
                        suite_json=suite_json,
                        task=spec.name,
                        model_uri=model,
                        start=start,
                        stop=min(n, start + shard_size),
                        data_root=root,
                        max_tokens=max_tokens,
                        concurrency=concurrency,
                        backend_options=options,
                    )
                )
    return shards


def shard_items(outcome: UnitOutcome) -> list[ItemResult]:
    return [ItemResult.from_json(d) for d in outcome.result["items"]]


@dataclass
class BenchJob:
    report: JobReport
    results: dict[str, list[ItemResult]] = field(default_factory=dict)
    """Model URI (as the backend names it) -> item results in task, item order."""


def run_bench_job(
    suite: SuiteSpec,
    model_uris: Sequence[str],
    executor: Executor,
    *,
    data_root: str | Path | None = None,
    jobs_dir: Path | None = None,
    bench_journal_dir: Path | None = None,
    sinks: Sequence[ItemSink] = (),
    shard_size: int = 32,
    max_tokens: int | None = None,
    concurrency: int = 8,
    backend_options: Mapping[str, Scalar] | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> BenchJob:
    """Run a suite on many models through ``executor``; see the module docstring.

    ``sinks`` receive each finished shard's items once per run (and again on a resumed run
    for shards journaled but possibly not stored), so they must ignore item keys they hold.
    """
    shards = plan_bench(
        suite, model_uris, data_root=data_root, shard_size=shard_size, max_tokens=max_tokens,
        concurrency=concurrency, backend_options=backend_options,
    )  # fmt: skip
    journals: dict[str, tuple[JsonlJournal, set[str]]] = {}

    def to_bench_journal(items: list[ItemResult]) -> None:
        if bench_journal_dir is None or not items:
            return
        model = items[0].model
        if model not in journals:
            path = journal_path(bench_journal_dir, suite, model)
            have = set(latest_by_key(read_journal(path)))
            journals[model] = (JsonlJournal(path), have)
        sink, have = journals[model]
        fresh = [r for r in items if r.key not in have]
        sink.write(fresh)
        have.update(r.key for r in fresh)

    def on_result(_unit: Unit, outcome: UnitOutcome) -> None:
        items = shard_items(outcome)
        to_bench_journal(items)
        for s in sinks:
            s.write(items)

    try:
        report = run_job(
            shards, executor, journal_dir=jobs_dir, name=f"bench {suite.name}",
            on_result=on_result, replay=True, progress=progress, console=console,
        )  # fmt: skip
    finally:
        for sink, _ in journals.values():
            sink.close()
    job = BenchJob(report)
    for outcome in report.outcomes:
        for r in shard_items(outcome):
            job.results.setdefault(r.model, []).append(r)
    return job


def unit_seed(seed: int, *parts: str) -> int:
    """A 63-bit seed from the scan seed and the pair (SHA-256), identical on every machine."""
    h = hashlib.sha256(str(seed).encode())
    for p in parts:
        h.update(b"\x00" + p.encode("utf-8"))
    return int.from_bytes(h.digest()[:8], "big") >> 1


def plan_provenance(
    candidates: Mapping[str, str | Path],
    references: Mapping[str, str | Path],
    *,
    seed: int,
    options: Mapping[str, Scalar] | None = None,
    components: Sequence[str] = (),
) -> list[ProvenanceCompare]:
    """One comparison per (candidate, reference); ids are the mapping keys and should name
    content (artefact digests), because they, not the paths, identify the unit."""
    if not candidates or not references:
        raise InputError("a provenance scan needs at least one candidate and one reference")
    opts = tuple(sorted((options or {}).items()))
    comps = tuple(components)
    return [
        ProvenanceCompare(
            candidate_id=cid,
            reference_id=rid,
            candidate_path=str(Path(cpath).resolve()),
            reference_path=str(Path(rpath).resolve()),
            seed=unit_seed(seed, cid, rid, *comps),
            options=opts,
            components=comps,
        )
        for cid, cpath in candidates.items()
        for rid, rpath in references.items()
    ]


@dataclass
class ProvenanceScan:
    report: JobReport
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(candidate id, reference id) -> ``CompareResult.to_json()``."""


def run_provenance_scan(
    candidates: Mapping[str, str | Path],
    references: Mapping[str, str | Path],
    executor: Executor,
    *,
    seed: int,
    options: Mapping[str, Scalar] | None = None,
    components: Sequence[str] = (),
    jobs_dir: Path | None = None,
    on_pair: Callable[[str, str, dict[str, Any]], None] | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> ProvenanceScan:
    """Compare every candidate with every reference; ``on_pair`` stores each result (it is
    called again for journaled pairs on a resumed run, so it must be idempotent)."""
    units = plan_provenance(
        candidates, references, seed=seed, options=options, components=components
    )
    by_key = {u.key: u for u in units}

    def on_result(unit: Unit, outcome: UnitOutcome) -> None:
        if on_pair is not None:
            u = by_key[unit.key]
            on_pair(u.candidate_id, u.reference_id, outcome.result)

    report = run_job(
        units, executor, journal_dir=jobs_dir, name="provenance scan", on_result=on_result,
        replay=True, progress=progress, console=console,
    )  # fmt: skip
    scan = ProvenanceScan(report)
    for o in report.outcomes:
        u = by_key[o.key]
        scan.results[(u.candidate_id, u.reference_id)] = o.result
    return scan
