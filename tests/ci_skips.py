"""Under ``CI=true`` a skip is a failure; elsewhere skips are allowed and summarised in one line.

A test skips when the machine lacks something it needs: the PostgreSQL service, Chromium, the
shared benchmark folder, a model package or an optional library. On a developer's machine that
is allowed. In CI it would hide a hole in coverage behind a green run, so every skip -- from a
test body, a fixture (``pg_template``), ``pytest.importorskip`` or a module-level skip at
collection -- is reported as a failure carrying the skip's reason. ``xfail`` is left alone.

``tests/conftest.py`` imports these hooks; they are kept here so that a tiny test run can load
them alone with ``-p tests.ci_skips`` (see ``tests/test_ci_skips.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator

import pytest

PREFIX = "skipped under CI=true (provision it, see .ci/run)"


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything but a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _reason(longrepr: object) -> str:
    # A skip's longrepr is (path, lineno, "Skipped: reason").
    ok = isinstance(longrepr, tuple) and len(longrepr) == 3
    text = str(longrepr[2]) if ok else str(longrepr)  # type: ignore[index]
    return text.removeprefix("Skipped: ").strip()


def _short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"{longrepr[0]}:{longrepr[1]}"
    return ""


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    where = _where(report.longrepr)
    report.longrepr = f"{PREFIX}: {_reason(report.longrepr)}" + (f" [{where}]" if where else "")
    report.outcome = "failed"


def pytest_configure(config: pytest.Config) -> None:
    if in_ci():
        # A module-level skip becomes a collection error; keep running the other modules so one
        # CI run lists every missing piece, while the exit status still reports the error.
        config.option.continue_on_collection_errors = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        _fail(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: how many tests skipped and why (grouped), or under CI how many were failed."""
    if in_ci():
        failed = [
            r
            for key in ("failed", "error")
            for r in terminalreporter.stats.get(key, [])
            if isinstance(r.longrepr, str) and r.longrepr.startswith(PREFIX)
        ]
        if failed:
            terminalreporter.write_line(
                f"CI=true: {len(failed)} would-be skips failed; provision what they need"
            )
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if not skipped:
        return
    reasons = Counter(_short(_reason(r.longrepr)) for r in skipped)
    parts = "; ".join(f"{n}x {why}" for why, n in reasons.most_common())
    terminalreporter.write_line(
        f"{len(skipped)} skipped (CI=true makes these failures): {parts}", yellow=True
    )
