"""The job journal: one JSON Lines file per job, keyed by unit key, fsync'ed per record.

Line 1 is the job header (id, name, kind, unit keys); every further line is one finished unit
(its reply) or one failure. A unit counts as done when its line is on disk, so a driver killed
at any moment loses at most the units in flight, and the same job re-run skips every done unit.
A key is written at most once (the writer checks, the reader keeps the first record), so no
unit is ever counted twice. The file is opened under an exclusive ``flock``: two drivers cannot
run the same job at once. A torn last line (a crash mid-write) is cut off before appending.

JSON only, never pickle; the job id is derived from the sorted unit keys, so planning the same
work again finds the same journal.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sovereval.errors import ConflictError, HostileInputError, InputError

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
    raw = path.read_bytes().split(b"\n")
    out: list[dict[str, Any]] = []
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(raw):  # torn tail of a crashed write
                break
            raise HostileInputError(
                f"job journal {path} line {number} is not valid JSON; restore it or delete the job"
            ) from exc
        if not isinstance(data, dict):
            raise HostileInputError(f"job journal {path} line {number} is not a JSON object")
        out.append(data)
    return out


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


def _cut_torn_tail(fh: IO[bytes]) -> None:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return
    fh.seek(0)
    data = fh.read()
    keep = data.rfind(b"\n") + 1
    fh.truncate(keep)
    fh.flush()
    os.fsync(fh.fileno())


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
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a+b")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ConflictError(
                f"job {path.stem} is already running in another process; wait for it or stop it"
            ) from None
        _cut_torn_tail(self._fh)
        jid = job_id(kind, keys)
        if path.stat().st_size == 0:
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
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        self._fh.seek(0, os.SEEK_END)
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())

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
        if not self._fh.closed:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()

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
