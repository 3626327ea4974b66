"""The one durable journal: an append-only JSON Lines file, fsync'ed per write, under an
exclusive lock.

Benchmark item results (``bench.journal``) and job units (``execution.journal``) are both
written through :class:`JsonlFile`: a record counts as written when its line is on disk, so a
process killed at any moment loses at most the records in flight. The file is opened under an
exclusive ``flock``, so two processes can never append to one journal at once (the second gets a
``ConflictError``). A crash can leave a torn last line: it is cut off before appending, and
:func:`read_records` ignores it; a bad line anywhere else means the file was edited or
corrupted, and is refused. JSON only, never pickle.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sovereval.errors import ConflictError, HostileInputError


class JsonlFile:
    """An exclusively locked, append-only JSONL file."""

    def __init__(self, path: Path, *, what: str = "journal") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a+b")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ConflictError(
                f"{what} {path} is in use by another process; wait for it or stop it"
            ) from None
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        fh = self._fh
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        pos, keep = size, 0
        while pos > 0:  # walk back to the previous newline in blocks
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            nl = fh.read(step).rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())

    @property
    def empty(self) -> bool:
        return self._fh.seek(0, os.SEEK_END) == 0

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Write the records and fsync once."""
        blob = b"".join(
            json.dumps(dict(r), ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
            for r in records
        )
        if not blob:
            return
        self._fh.seek(0, os.SEEK_END)
        self._fh.write(blob)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()


def read_records(path: Path, *, what: str = "journal", fix: str = "") -> list[dict[str, Any]]:
    """Every complete JSON object in ``path`` (a missing file: none), torn last line skipped."""
    if not path.exists():
        return []
    raw = path.read_bytes().split(b"\n")
    out: list[dict[str, Any]] = []
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(raw):  # torn tail: the write a crash interrupted
                break
            raise HostileInputError(
                f"{what} {path} line {number} is not valid JSON; {fix or 'restore the file'}"
            ) from exc
        if not isinstance(data, dict):
            raise HostileInputError(f"{what} {path} line {number} is not a JSON object")
        out.append(data)
    return out
