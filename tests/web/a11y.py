"""axe-core for the browser tests: the npm package, installed once into a cache, run in the page.

The package comes from the npm registry through npm itself (``npm install axe-core@VERSION``)
into ``$SOVEREVAL_TEST_CACHE`` (default ``~/.cache/sovereval-tests``); nothing is vendored and no
checker is hand-written. The rules are axe's WCAG 2.0/2.1 level A and AA set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.10.3"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_source() -> str:
    cache = Path(os.environ.get("SOVEREVAL_TEST_CACHE") or Path.home() / ".cache/sovereval-tests")
    target = cache / f"axe-core-{AXE_VERSION}"
    js = target / "node_modules" / "axe-core" / "axe.min.js"
    if not js.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm not found: cannot install axe-core for the accessibility checks")
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(target),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return js.read_text(encoding="utf-8")


def violations(page: Any, source: str) -> list[str]:
    """axe's WCAG A/AA violations on the page as it is now, one line per failing node."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # evaluated over DevTools, so the page's CSP does not block it
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    out = []
    for v in result["violations"]:
        for node in v["nodes"]:
            out.append(
                f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '')[:200]}"
            )
    return out
