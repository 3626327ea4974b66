"""Artefact digests: every file of a submitted model is recorded with its SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sovereval.errors import InputError

CHUNK = 4 * 1024 * 1024


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def digest_artefact(path: Path) -> list[dict[str, Any]]:
    """``[{path, sha256, bytes}]`` for a file or every file under a directory (sorted)."""
    if not path.exists():
        raise InputError(f"artefact '{path}' does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise InputError(f"artefact directory '{path}' holds no files")
    base = path.parent if path.is_file() else path
    return [
        {
            "path": p.relative_to(base).as_posix(),
            "sha256": sha256_file(p),
            "bytes": p.stat().st_size,
        }
        for p in files
    ]
