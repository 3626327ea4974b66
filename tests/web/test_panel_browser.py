"""A panelist completes a blind battle in Chromium: prompt, progress, answers A/B, vote, reveal.

Same launch options and console-error rule as ``test_browser.py`` (any console error, CSP
violations included, fails the test). The models are ``mock:`` backends with a small latency,
so the page shows its progress state and htmx polls until the answers are in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import WebEnv
from tests.web.test_browser import _login, _page, _unexpected, browser, live, shots  # noqa: F401
from tests.web.test_panel import ARENA_TEAMS, Arena, arena_round

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def arena_live(live: tuple[WebEnv, str]) -> Iterator[tuple[Arena, str]]:  # noqa: F811
    env, base = live
    eps = [f"mock:{m.lower()}?latency=1.5" for m in ARENA_TEAMS.values()]
    yield arena_round(env, endpoints=eps), base
    from sovereval.web.panel_runtime import close_runtime

    close_runtime(env.app)


def test_panelist_completes_a_battle(
    arena_live: tuple[Arena, str],
    browser: Any,  # noqa: F811
    shots: Path,  # noqa: F811
) -> None:
    a, base = arena_live
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 1200, "height": 900})
    _login(page, base, "panel1")
    assert page.url.endswith("/arena")
    assert page.locator("#votes-today").inner_text() == "0"
    page.fill("textarea[name=prompt]", "서울에서 가 볼 만한 박물관 세 곳을 추천해 주세요.")
    page.click("#start-own")
    page.wait_for_selector("#battle-panel[data-status=pending]")  # the progress state
    page.screenshot(path=str(shots / "arena-progress.png"), full_page=True)
    page.wait_for_selector("#vote-form", timeout=20_000)  # htmx polled until both answers came
    html = page.content()
    for name in list(ARENA_TEAMS) + list(ARENA_TEAMS.values()) + a.aliases:
        assert name not in html, f"{name} shown before the vote"
    assert page.locator("#answer-A .answer-text").inner_text().strip()
    assert page.locator("#answer-B .answer-text").inner_text().strip()
    page.screenshot(path=str(shots / "arena-answers.png"), full_page=True)
    page.check("input[name=outcome][value=b]")
    for field, value in (
        ("reliability_a", "3"),
        ("practicality_a", "2"),
        ("reliability_b", "5"),
        ("practicality_b", "4"),
    ):
        page.select_option(f"select[name={field}]", value)
    page.fill("textarea[name=comment]", "B listed opening hours.")
    page.click("#vote-submit")
    page.wait_for_selector("#reveal-A")
    assert "Vote recorded" in page.locator("#battle-notice").inner_text()
    revealed = page.locator("#reveal-A").inner_text() + page.locator("#reveal-B").inner_text()
    assert sum(model in revealed for model in ARENA_TEAMS.values()) == 2
    assert "B is better" in page.locator("#your-vote").inner_text()
    page.screenshot(path=str(shots / "arena-revealed.png"), full_page=True)
    phone = _page(browser, errors, viewport={"width": 390, "height": 844}, is_mobile=True)
    _login(phone, base, "panel1")
    phone.goto(page.url)
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, "the battle page scrolls sideways on a phone"
    phone.screenshot(path=str(shots / "arena-revealed-phone.png"), full_page=True)
    page.goto(f"{base}/arena")
    assert page.locator("#votes-today").inner_text() == "1"
    assert _unexpected(errors) == []
