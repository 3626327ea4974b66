"""On-disk response cache keyed by (model, prompt, parameters).

One JSON file per key under a two-level fan-out (``ab/abcdef....json``), written to a
temporary file and renamed, so concurrent runs and crashes never leave a half-written entry.
JSON only: a cache directory may be shared, and unpickling a shared file is code execution.
The journal makes a single run resumable; the cache additionally spares the model when a
different suite or a re-run asks the same question again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def request_key(model: str, method: str, request: Mapping[str, Any]) -> str:
    """SHA-256 over canonical JSON (sorted keys, no whitespace, UTF-8) of the request."""
    payload = {"model": model, "method": method, "request": request}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A directory of JSON responses; ``get`` returns ``None`` on a miss or a damaged entry."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} is not a SHA-256 hex digest")
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            self.misses += 1
            return None
        self.hits += 1
        value = data.get("value")
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = json.dumps({"key": key, "value": dict(value)}, ensure_ascii=False, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
