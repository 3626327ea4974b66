"""No module in ``src/`` is reachable only from tests or benchmarks.

The walk starts at the entry points a user has: the CLI app (``sovereval.cli.main``, which
mounts its sub-apps by module name), ``python -m sovereval`` and the web app factory
(``sovereval.web.app``, which ``sovereval serve`` starts by import string). It follows every
``import`` / ``from ... import`` in each module's source, including the lazy ones inside
functions, plus string literals that name a ``sovereval`` module (import strings such as the
CLI's mount table), and importing a package imports its ``__init__``. The operator scripts in
``scripts/`` are entry points too (the modules they name). Alembic migrations are loaded by
Alembic from their folder and are exempt.

A module this finds nothing importing is dead code that still has to be read, tested and kept
in step: wire it into the CLI, the web or the scoring (with a test through that path), or
delete it, and record the decision in ``design/one-home.md``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ENTRY_POINTS = ("sovereval.cli.main", "sovereval.__main__", "sovereval.web.app")
EXEMPT = ("sovereval.store.migrations",)
PENDING = {
    "sovereval.provenance.variants": "seeded synthetic transforms used by the provenance unit "
    "tests and benchmarks/provenance.py; accuracy is now measured on the real-model corpus "
    "(provenance.corpus_transforms, reachable from `provenance corpus`)",
}
"""Modules kept unreachable on purpose, each with the reason (an entry here is a decision to
revisit, not a way around the test)."""
NAME = re.compile(r"^sovereval(\.[a-z_][a-z0-9_]*)+$")


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "sovereval").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports (resolved to known module names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and NAME.match(node.value)
        ):
            found.add(node.value)
    out = set()
    for mod in found:
        # Importing a.b.c imports a and a.b too.
        parts = mod.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            if prefix in known:
                out.add(prefix)
    return out


def reachable() -> tuple[set[str], dict[str, Path]]:
    known = _modules()
    seen: set[str] = set()
    todo = [e for e in ENTRY_POINTS if e in known]
    assert len(todo) == len(ENTRY_POINTS), "an entry point module is missing"
    for script in (SRC.parent / "scripts").glob("*"):
        if script.is_file():
            names = re.findall(r"sovereval(?:\.[a-z_][a-z0-9_]*)+", script.read_text("utf-8"))
            todo += [n for n in names if n in known]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(_imports(mod, known[mod], known) - seen)
    return seen, known


def test_pending_modules_are_still_orphans() -> None:
    seen, known = reachable()
    # Once wired in (or deleted) a module leaves the list.
    assert all(m in known and m not in seen for m in PENDING)


def test_the_walk_follows_lazy_and_string_imports() -> None:
    seen, _known = reachable()
    # Lazy imports inside functions and the CLI's mount table by module name are followed.
    assert {"sovereval.cli.arena", "sovereval.arena.votes", "sovereval.web.app"} <= seen
    assert "sovereval.execution.ray_backend" in seen  # imported inside a function


def test_no_orphan_modules() -> None:
    seen, known = reachable()
    orphans = sorted(
        m
        for m in known
        if m not in seen and m not in PENDING and not any(m.startswith(e) for e in EXEMPT)
    )
    assert not orphans, (
        f"{len(orphans)} module(s) in src/ are reachable from no entry point "
        f"({', '.join(ENTRY_POINTS)}); wire each into the CLI, web or scoring, or delete it:\n  "
        + "\n  ".join(f"{m}  ({known[m].relative_to(SRC.parent)})" for m in orphans)
    )
