"""Locate the shared benchmark files (repo_root.parent / "shared"); skip when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_BENCH = REPO_ROOT.parent / "shared" / "benchmarks"


def shared_bench() -> Path:
    """The shared benchmark folder, or skip the test with the reason printed."""
    if not SHARED_BENCH.is_dir():
        reason = f"shared benchmark files not found at {SHARED_BENCH} (present in CI only)"
        print(reason)
        pytest.skip(reason)
    return SHARED_BENCH
