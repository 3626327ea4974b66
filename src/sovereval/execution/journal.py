"""The job journal: one JSON Lines file per job, keyed by unit key, fsync'ed per record.

Line 1 is the job header (id, name, kind, unit keys); every further line is one finished unit
(its reply) or one failure. A unit counts as done when its line is on disk, so a driver killed
at any moment loses at most the units in flight, and the same job re-run skips every done unit.
A key is written at most once (the writer checks, the reader keeps the first record), so no
unit is ever counted twice. The file is the one durable journal (``sovereval.journal.JsonlFile``):
exclusively locked, so two drivers cannot run the same job at once, and its torn last line (a
crash mid-write) is cut off before appending.

JSON only, never pickle; the job id is derived from the sorted unit keys, so planning the same
work again finds the same journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sovereval.errors import ConflictError, HostileInputError, InputError
from sovereval.journal import JsonlFile, read_records

JOURNAL_VERSION = 1


def job_id(kind: str, keys: Sequence[str]) -> str:
    """Stable id of a job: SHA-256 over its kind and sorted unit keys (first 16 hex digits)."""
    h = hashlib.sha256(kind.encode("utf-8"))
    for k in sorted(set(keys)):
        h.update(b"\x00" + k.encode("ascii"))
    return h.hexdigest()[:16]


@dataclass
class JobState:
    """What a journal says about a job (read without taking the lock, for ``jobs status``)."""

    path: Path
    header: dict[str, Any]
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Last failure per key, for keys that are not done."""

    @property
    def total(self) -> int:
        return int(self.header.get("units", 0))

    @property
    def complete(self) -> bool:
        return len(self.done) >= self.total


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _lines(path: Path) -> list[dict[str, Any]]:
    return read_records(path, what="job journal", fix="restore it or delete the job")


def read_state(path: Path) -> JobState:
    """Parse a journal: header, done units (first record per key wins), open failures."""
    records = _lines(path)
    if not records or records[0].get("type") != "job":
        raise HostileInputError(f"{path} is not a job journal (no header line)")
    header = records[0]
    if header.get("v") != JOURNAL_VERSION:
        raise InputError(
            f"job journal {path} has version {header.get('v')}, expected {JOURNAL_VERSION}"
        )
    state = JobState(path, header)
    for rec in records[1:]:
        key = str(rec.get("key", ""))
        if rec.get("type") == "unit":
            state.done.setdefault(key, rec)
            state.failed.pop(key, None)
        elif rec.get("type") == "failed" and key not in state.done:
            state.failed[key] = rec
    return state


class JobJournal:
    """The writer; use as a context manager. Raises :class:`ConflictError` if the job is
    already running in another process."""

    def __init__(
        self,
        path: Path,
        *,
        kind: str,
        keys: Sequence[str],
        name: str = "",
        meta: dict[str, Any] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.path = path
        self.clock = clock
        try:
            self._file = JsonlFile(path, what="job journal")
        except ConflictError:
            raise ConflictError(
                f"job {path.stem} is already running in another process; wait for it or stop it"
            ) from None
        jid = job_id(kind, keys)
        if self._file.empty:
            header = {
                "v": JOURNAL_VERSION,
                "type": "job",
                "job": jid,
                "name": name,
                "kind": kind,
                "units": len(set(keys)),
                "created": clock().isoformat(),
                "meta": meta or {},
            }
            self._append(header)
        self.state = read_state(path)
        if self.state.header.get("job") != jid:
            self.close()
            raise ConflictError(
                f"journal {path} belongs to job {self.state.header.get('job')}, not {jid}; "
                "use another journal folder or job name"
            )

    @property
    def done(self) -> dict[str, dict[str, Any]]:
        return self.state.done

    def _append(self, record: dict[str, Any]) -> None:
        self._file.append([record])

    def record_done(
        self, key: str, *, kind: str, result: Any, attempts: int, worker: str, elapsed_s: float
    ) -> bool:
        """Durably record a finished unit; ``False`` (and nothing written) if already done."""
        if key in self.state.done:
            return False
        rec = {
            "type": "unit",
            "key": key,
            "kind": kind,
            "result": result,
            "attempts": attempts,
            "worker": worker,
            "elapsed_s": round(elapsed_s, 6),
            "at": self.clock().isoformat(),
        }
        self._append(rec)
        self.state.done[key] = rec
        self.state.failed.pop(key, None)
        return True

    def record_failed(
        self, key: str, *, kind: str, error_type: str, error: str, attempts: int
    ) -> None:
        rec = {
            "type": "failed",
            "key": key,
            "kind": kind,
            "error_type": error_type,
            "error": error,
            "attempts": attempts,
            "at": self.clock().isoformat(),
        }
        self._append(rec)
        self.state.failed[key] = rec

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JobJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_jobs(folder: Path) -> list[JobState]:
    """Every job journal in ``folder``, newest first; unreadable files are skipped."""
    if not folder.is_dir():
        return []
    out: list[JobState] = []
    for p in folder.glob("*.jsonl"):
        try:
            out.append(read_state(p))
        except (InputError, OSError):
            continue
    return sorted(out, key=lambda s: str(s.header.get("created", "")), reverse=True)
