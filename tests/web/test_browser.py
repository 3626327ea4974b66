"""Browser journeys with Playwright driving Chromium against a live server on loopback.

The public reads the leaderboard; a team files an appeal in time and is refused late; an admin
publishes a rule set, opens a round and amends its rules (a rationale is required, and the flag
shows publicly). Any console error (CSP violations included) fails the test. Screenshots go to
``$SOVEREVAL_SCREENSHOTS`` if set, else to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import DEADLINE, PASSWORD, WebEnv, make_env

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    print(f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} not found", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(demo_db: Path, tmp_path: Path) -> Iterator[tuple[WebEnv, str]]:
    import uvicorn

    env = make_env(demo_db, tmp_path)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield env, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    env.store.dispose()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("SOVEREVAL_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield b
        b.close()


def _page(browser: Any, errors: list[str], dialogs: list[str] | None = None, **kw: Any) -> Any:
    """A page that fails on console errors and external requests, and accepts every
    confirmation dialog (recording its question in ``dialogs`` when given)."""
    ctx = browser.new_context(**kw)
    page = ctx.new_page()

    def _dialog(d: Any) -> None:
        if dialogs is not None:
            dialogs.append(d.message)
        d.accept()

    page.on("dialog", _dialog)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Offline proof: any request leaving loopback is an error.
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("http://127.0.0.1")
            else (errors.append(f"external request {route.request.url}"), route.abort())
        ),
    )
    return page


def _unexpected(errors: list[str]) -> list[str]:
    """Console errors other than the browser's note on an intended 422 refusal."""
    return [e for e in errors if "status of 422" not in e]


def _login(page: Any, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_public_reads_the_leaderboard(live: tuple[WebEnv, str], browser: Any, shots: Path) -> None:
    env, base = live
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    page.click("a.button:has-text('Leaderboard')")
    page.wait_for_selector(".chart .main-svg")  # Plotly drew the chart from bundled JS
    rows = page.locator("table.results tbody tr")
    assert rows.count() == 5
    assert page.locator("#amended-flag").is_visible()
    assert page.locator("table.results").inner_text().count("disqualify") == 1
    assert page.locator(".chart .main-svg").count() >= 2
    page.screenshot(path=str(shots / "leaderboard-desktop.png"), full_page=True)
    phone = _page(browser, errors, viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(page.url)
    phone.wait_for_selector(".chart .main-svg")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, "the page scrolls sideways on a phone"
    phone.screenshot(path=str(shots / "leaderboard-phone.png"), full_page=True)
    phone.goto(f"{base}/programmes/{env.ids['programme']}/rounds/1")
    phone.wait_for_selector(".chart .main-svg")
    phone.screenshot(path=str(shots / "round-phone.png"), full_page=True)
    page.goto(f"{base}/ledger")
    page.screenshot(path=str(shots / "ledger.png"), full_page=True)
    assert errors == []


def test_team_files_an_appeal_in_time_and_is_refused_late(
    live: tuple[WebEnv, str], browser: Any, shots: Path
) -> None:
    env, base = live
    env.clock.t = DEADLINE - timedelta(hours=1)
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 1100, "height": 900})
    _login(page, base, "gyeol")
    assert page.url.endswith("/team")
    page.screenshot(path=str(shots / "team-dashboard.png"), full_page=True)
    page.click("a:has-text('File or view appeals')")
    assert "2026-01-26 09:00 UTC" in page.locator("#deadline").inner_text()
    page.fill("textarea[name=text]", "Our expert-review score used an outdated rubric version.")
    page.click("button:has-text('File appeal')")  # htmx posts and swaps <main>
    page.wait_for_selector("#appeal-accepted")
    assert "within the window" in page.locator("#appeal-accepted").inner_text()
    page.screenshot(path=str(shots / "appeal-accepted.png"), full_page=True)
    env.clock.t = DEADLINE + timedelta(hours=3)
    page.reload()
    assert "(closed)" in page.content()
    page.fill("textarea[name=text]", "Filed after the deadline.")
    page.click("button:has-text('File appeal')")
    page.wait_for_selector("#appeal-refused")
    refused = page.locator("#appeal-refused").inner_text()
    assert "Appeal refused." in refused and "late: the 10-day appeal window closed" in refused
    page.screenshot(path=str(shots / "appeal-refused.png"), full_page=True)
    assert _unexpected(errors) == []


def test_admin_publishes_then_amends_with_rationale(
    live: tuple[WebEnv, str], browser: Any, shots: Path
) -> None:
    env, base = live
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 1200, "height": 900})
    _login(page, base, "minister")
    assert page.url.endswith("/admin")
    page.click(f"a[href='/admin/programmes/{env.ids['programme']}']")
    page.click("summary:has-text('Draft a rule set')")
    page.click("button:has-text('Save draft')")
    assert page.locator("#ruleset-status").inner_text() == "draft"
    page.click("#publish-ruleset")
    assert page.locator("#ruleset-status").inner_text() == "published"
    assert "Rule set published." in page.content()
    page.click("a:has-text('Back to the programme')")
    page.click("summary:has-text('Create a round')")
    page.fill("input[name=number]", "3")
    page.fill("input[name=name]", "Phase 3")
    page.select_option(
        "select[name=ruleset_id]", index=page.locator("select[name=ruleset_id] option").count() - 1
    )
    page.fill("form[action$='/rounds'] input[name=opens_at]", "2026-03-01T09:00")
    page.fill("form[action$='/rounds'] input[name=closes_at]", "2026-06-01T09:00")
    page.fill("input[name=advance_slots]", "2")
    page.click("button:has-text('Create round')")
    page.click("#open-round")
    assert page.locator("#round-status").inner_text() == "open"
    round_url = page.url.split("?")[0]
    page.click("#amend summary")
    rules = json.loads(page.input_value("#amend-json"))
    rules["appeal_window_days"] = 14
    page.fill("#amend-json", json.dumps(rules, indent=2))
    page.click("#amend-submit")
    assert "needs a written rationale" in page.content()  # refused without one
    page.screenshot(path=str(shots / "amend-refused.png"), full_page=True)
    page.goto(round_url)
    page.click("#amend summary")
    page.fill("#amend-json", json.dumps(rules, indent=2))
    page.fill("#amend-rationale", "Holiday week: two more days to file an appeal.")
    page.click("#amend-submit")
    assert "Amendment recorded" in page.content()
    page.screenshot(path=str(shots / "admin-round.png"), full_page=True)
    page.goto(f"{base}/programmes/{env.ids['programme']}/rounds/3/rules")
    amendment = page.locator(".version.amendment")
    assert amendment.count() == 1 and "Holiday week" in amendment.inner_text()
    assert "appeal_window_days" in amendment.inner_text()
    page.screenshot(path=str(shots / "rules-amended.png"), full_page=True)
    assert _unexpected(errors) == []
