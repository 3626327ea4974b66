"""``sovereval --version``: the package version and the newest migration of the packaged schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import sovereval

MIGRATIONS = Path(sovereval.__file__).parent / "store" / "migrations" / "versions"


def _head_from_files() -> str:
    """The revision no other migration names as its ``down_revision`` (read from the files)."""
    revisions, parents = set(), set()
    for path in MIGRATIONS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*=\s*"([^"]+)"', text, re.M)
        down = re.search(r'^down_revision\s*=\s*"([^"]+)"', text, re.M)
        assert rev is not None, path
        revisions.add(rev.group(1))
        if down is not None:
            parents.add(down.group(1))
    [head] = revisions - parents
    return head


def test_version_prints_package_version_and_schema_head() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sovereval", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        f"sovereval {sovereval.__version__} (database schema {_head_from_files()})"
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", sovereval.__version__)
