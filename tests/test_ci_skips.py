"""The CI skip hook (tests/ci_skips.py), run on a tiny test tree in a subprocess, in both modes.

The tree skips in every way the suite does: in a test body, in a session fixture (like
``pg_template`` when PostgreSQL is down), with ``importorskip`` inside a test, and at module level
during collection (like the browser tests without Chromium). One test passes and one is an
expected failure, which must stay what it is in both modes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def service():
    pytest.skip("service not reachable at 127.0.0.1:1")
"""

TEST_BODY = """
import pytest

def test_passes():
    assert 1 + 1 == 2

def test_body_skip():
    pytest.skip("data folder ../shared/absent not found")

def test_fixture_skip(service):
    assert service

def test_importorskip():
    pytest.importorskip("no_such_module_for_ci_hook", reason="extra 'nope' is not installed")

@pytest.mark.xfail(reason="known gap", strict=True)
def test_expected_failure():
    assert False
"""

TEST_MODULE_SKIP = """
import pytest

pytest.skip("/nonexistent/chromium not found", allow_module_level=True)

def test_never_runs():
    assert False
"""


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_body.py").write_text(TEST_BODY)
    (tmp_path / "test_module_skip.py").write_text(TEST_MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_skips",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-q",
            "-rA",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_outside_ci_skips_pass_and_are_summarised_in_one_line(tmp_path: Path) -> None:
    proc = _run(tmp_path, ci=None)
    out = proc.stdout
    assert proc.returncode == 0, out
    # 1 passed, 3 skips in tests + 1 module skipped at collection = 4 skipped, 1 xfailed.
    assert "1 passed, 4 skipped, 1 xfailed" in out, out
    [line] = [ln for ln in out.splitlines() if "(CI=true makes these failures)" in ln]
    assert line.startswith("4 skipped")
    for why in ("service not reachable", "data folder", "extra 'nope'", "chromium not found"):
        assert why in line, line


@pytest.mark.parametrize("value", ["true", "1"])
def test_under_ci_every_skip_fails_with_its_reason(tmp_path: Path, value: str) -> None:
    proc = _run(tmp_path, ci=value)
    out = proc.stdout
    assert proc.returncode == 1, out
    # Skips in test bodies fail; a fixture's skip is an error at setup; the module-level skip
    # is a collection error, and the other module still runs (pass and xfail unchanged).
    assert "2 failed, 1 passed, 1 xfailed, 2 errors" in out, out
    for kind, test, why in (
        ("FAILED", "test_body_skip", "data folder ../shared/absent not found"),
        ("ERROR", "test_fixture_skip", "service not reachable at 127.0.0.1:1"),
        ("FAILED", "test_importorskip", "extra 'nope' is not installed"),
    ):
        assert f"{kind} test_body.py::{test} - skipped under CI=true" in out, out
        assert why in out
    assert "ERROR test_module_skip.py - skipped under CI=true" in out, out
    assert "/nonexistent/chromium not found" in out
    assert "CI=true: 4 would-be skips failed" in out, out
    assert "(CI=true makes these failures)" not in out


def test_ci_false_values_keep_skips_allowed(tmp_path: Path) -> None:
    proc = _run(tmp_path, ci="false")
    assert proc.returncode == 0, proc.stdout
    assert "4 skipped" in proc.stdout
