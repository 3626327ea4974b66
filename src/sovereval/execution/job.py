"""Running a job: de-duplicate units by key, skip the journaled ones, run the rest, journal
each reply before handing it to the caller, show progress.

The order of effects is what makes the job resumable and duplicate-free:

1. a reply is written to the job journal (fsync) — from then on the unit is done;
2. then ``on_result`` is called, which writes it through the service layer (the store and the
   ledger). Workers never write to the database.

A crash between 1 and 2 leaves a unit journaled but not stored; ``replay=True`` hands every
journaled unit to ``on_result`` again on the next run, so ``on_result`` must be idempotent by
unit key (the bench item table's unique (run, task, item) constraint is an example).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sovereval.errors import InputError
from sovereval.execution.base import Completion, Executor, Payload
from sovereval.execution.journal import JobJournal, job_id
from sovereval.execution.units import Unit, encode


@dataclass(frozen=True)
class UnitOutcome:
    """One finished (or finally failed) unit as the caller sees it."""

    key: str
    kind: str
    label: str
    ok: bool
    result: Any
    error: str | None = None
    attempts: int = 0
    worker: str = ""
    elapsed_s: float = 0.0
    resumed: bool = False
    """Taken from the journal of an earlier run, not executed now."""


@dataclass
class JobReport:
    job: str
    executor: dict[str, Any]
    journal: Path | None
    outcomes: list[UnitOutcome] = field(default_factory=list)
    """Every done unit, resumed ones included, in the order the units were given."""
    failed: list[UnitOutcome] = field(default_factory=list)
    resumed: int = 0
    executed: int = 0
    lost: int = 0
    """Attempts lost to dead workers and resubmitted."""
    elapsed_s: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed

    def results(self) -> dict[str, Any]:
        return {o.key: o.result for o in self.outcomes}


OnResult = Callable[[Unit, UnitOutcome], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def unique_units(units: Sequence[Unit]) -> list[Unit]:
    """Drop repeated units, first one wins. The key covers everything that decides a unit's
    result, so two units with one key are the same work (paths and concurrency may differ)."""
    seen: dict[str, Unit] = {}
    for u in units:
        seen.setdefault(u.key, u)
    return list(seen.values())


def _progress(console: Console | None, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def run_job(
    units: Sequence[Unit],
    executor: Executor,
    *,
    journal_dir: Path | None = None,
    name: str = "",
    on_result: OnResult | None = None,
    replay: bool = False,
    progress: bool = False,
    console: Console | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> JobReport:
    """Run ``units`` on ``executor``, resuming from ``journal_dir/<job id>.jsonl`` if given.

    Failed units do not stop the others; they are listed in ``report.failed`` (and journaled as
    failures, for ``sovereval jobs status``) and run again the next time the job is run.
    """
    started = time.perf_counter()
    todo = unique_units(units)
    if not todo:
        raise InputError("the job has no units of work")
    kinds = sorted({u.kind for u in todo})
    kind = kinds[0] if len(kinds) == 1 else "mixed"
    keys = [u.key for u in todo]
    jid = job_id(kind, keys)
    by_key = {u.key: u for u in todo}
    journal: JobJournal | None = None
    if journal_dir is not None:
        journal = JobJournal(
            journal_dir / f"{jid}.jsonl", kind=kind, keys=keys, name=name, clock=clock,
            meta={"labels": {u.key: u.label for u in todo[:1000]}},
        )  # fmt: skip
    report = JobReport(jid, executor.describe(), journal.path if journal else None)
    got: dict[str, UnitOutcome] = {}
    try:
        if journal is not None:
            for key, rec in journal.done.items():
                if key in by_key:
                    got[key] = UnitOutcome(
                        key, str(rec["kind"]), by_key[key].label, True, rec["result"], None,
                        int(rec.get("attempts", 0)), str(rec.get("worker", "")),
                        float(rec.get("elapsed_s", 0.0)), resumed=True,
                    )  # fmt: skip
            report.resumed = len(got)
            if replay and on_result is not None:
                for key, out in got.items():
                    on_result(by_key[key], out)
        pending = [Payload(u.key, u.kind, encode(u)) for u in todo if u.key not in got]
        lost_before = executor.lost
        with _progress(console, progress) as bar:
            task = bar.add_task(name or f"{kind} job {jid}", total=len(todo), completed=len(got))
            for c in executor.map_unordered(pending):
                unit = by_key[c.key]
                out = _outcome(c, unit)
                if c.ok:
                    if journal is not None and not journal.record_done(
                        c.key, kind=c.kind, result=c.result, attempts=c.attempts,
                        worker=c.worker, elapsed_s=c.elapsed_s,
                    ):  # fmt: skip
                        continue  # already done: never delivered twice
                    if c.key in got:
                        continue
                    got[c.key] = out
                    report.executed += 1
                    if on_result is not None:
                        on_result(unit, out)
                    bar.advance(task)
                else:
                    if journal is not None:
                        journal.record_failed(
                            c.key, kind=c.kind, error_type=c.error_type or "Error",
                            error=c.error or "", attempts=c.attempts,
                        )  # fmt: skip
                    report.failed.append(out)
        report.lost = executor.lost - lost_before
    finally:
        if journal is not None:
            journal.close()
    report.outcomes = [got[u.key] for u in todo if u.key in got]
    report.elapsed_s = time.perf_counter() - started
    return report


def _outcome(c: Completion, unit: Unit) -> UnitOutcome:
    error = None if c.ok else f"{c.error_type}: {c.error}"
    return UnitOutcome(
        c.key, c.kind, unit.label, c.ok, c.result, error, c.attempts, c.worker, c.elapsed_s
    )
