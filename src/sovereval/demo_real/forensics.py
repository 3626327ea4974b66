"""The demo's originality forensics, through the same calls as ``sovereval provenance run``
and ``sovereval provenance checkpoints``.

Every submission is compared with every public reference (``analyse_paths`` then
``gate_findings``, recorded with ``record_provenance``); the from-scratch team's checkpoint
chain is checked with ``check_chain``. Reports are cached as JSON, keyed by the inputs (path,
size, modification time), the seed and a digest of the provenance code, so a warm run reuses
them and a changed engine recomputes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np


def engine_digest() -> str:
    """SHA-256 over the provenance package's source files (the cache's engine version)."""
    h = hashlib.sha256()
    root = resources.files("sovereval.provenance")
    stack = [root]
    files = []
    while stack:
        node = stack.pop()
        for child in node.iterdir():
            if child.is_dir():
                stack.append(child)
            elif child.name.endswith((".py", ".json")):
                files.append(child)
    for f in sorted(files, key=lambda x: str(x)):
        h.update(str(f).rsplit("provenance", 1)[-1].encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _identity(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path.resolve()), st.st_size, int(st.st_mtime)]


class ReportCache:
    def __init__(self, root: Path, seed: int) -> None:
        self.root, self.seed, self.engine = root, seed, engine_digest()

    def _path(self, kind: str, inputs: Sequence[Path]) -> Path:
        key = json.dumps([kind, self.seed, self.engine, [_identity(p) for p in inputs]])
        return self.root / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def get_or(self, kind: str, inputs: Sequence[Path], make: Callable[[], Any]) -> Any:
        path = self._path(kind, inputs)
        try:
            return json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            pass
        value = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False, default=float)
        os.replace(tmp, path)
        return value


def compare_report(cache: ReportCache, artefact: Path, reference: Path) -> dict[str, Any]:
    from sovereval.provenance.analysis import analyse_paths

    out: dict[str, Any] = cache.get_or(
        "compare-reference-first",  # A = the public reference, B = the submission
        [artefact, reference],
        lambda: json.loads(
            json.dumps(analyse_paths(reference, artefact, seed=cache.seed), default=float)
        ),
    )
    return out


def chain_report(
    cache: ReportCache, chain: Sequence[Path], references: Mapping[str, Path], std: float
) -> dict[str, Any]:
    from sovereval.provenance.checkpoints import Initialiser, check_chain
    from sovereval.provenance.formats import open_source

    def make() -> dict[str, Any]:
        sources = [open_source(p) for p in chain]
        refs = {n: open_source(p) for n, p in references.items()}
        try:
            rep = check_chain(
                sources,
                refs,
                Initialiser(kind="normal", std=std),
                rng=np.random.default_rng(cache.seed),
            )
        finally:
            for s in [*sources, *refs.values()]:
                s.close()
        out: dict[str, Any] = json.loads(json.dumps(rep.to_json(), default=float))
        return out

    result: dict[str, Any] = cache.get_or("chain", [*chain, *references.values()], make)
    return result
