"""Every page of every role has zero axe-core WCAG 2.1 A/AA violations at 1280 px and 390 px,
no page scrolls sideways on a phone, and each page is saved as a screenshot for review.

Screenshots go to ``$SOVEREVAL_SCREENSHOTS`` (else the test's temporary directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.a11y import axe_source, violations
from tests.web.conftest import WebEnv
from tests.web.test_browser import _login, _page, _unexpected, browser, live, shots  # noqa: F401
from tests.web.test_review import review_setup

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


def _pages(env: WebEnv, role: str) -> list[str]:
    pid, sub = env.ids["programme"], env.ids["Gyeol Consortium"]
    if role == "public":
        return [
            "/",
            f"/programmes/{pid}",
            f"/programmes/{pid}/leaderboard",
            f"/programmes/{pid}/rounds/1",
            f"/programmes/{pid}/rounds/1/rules",
            f"/programmes/{pid}/report",
            "/ledger",
            "/login",
        ]
    if role == "team":
        return ["/team", "/team/submit", f"/team/submissions/{sub}", "/team/rounds/1/appeal"]
    if role == "expert":
        return ["/expert", f"/expert/submissions/{sub}"]
    if role == "panelist":
        return ["/arena"]
    return [
        "/admin",
        f"/admin/programmes/{pid}",
        f"/admin/rulesets/{env.ids['ruleset']}",
        f"/admin/rounds/{env.ids['round1']}",
        f"/admin/rounds/{env.ids['round2']}",
        "/admin/users",
        "/ledger",
    ]


USERS = {"team": "gyeol", "expert": "expert1", "panelist": "panel1", "admin": "minister"}


@pytest.mark.parametrize(
    "role", ["public", "team", "expert", "panelist", "admin", "public@ko", "panelist@ko", "team@ko"]
)
def test_every_page_passes_axe_at_desktop_and_phone_width(
    live: tuple[WebEnv, str],  # noqa: F811
    browser: Any,  # noqa: F811
    shots: Path,  # noqa: F811
    axe: str,
    role: str,
) -> None:
    env, base = live
    role, _, lang = role.partition("@")
    if role == "expert":
        review_setup(env)
    errors: list[str] = []
    found: list[str] = []
    for label, viewport in WIDTHS.items():
        page = _page(
            browser,
            errors,
            viewport=viewport,
            is_mobile=label == "phone",
            locale="ko-KR" if lang == "ko" else "en-GB",
        )
        if role != "public":
            _login(page, base, USERS[role])
        for path in _pages(env, role):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            name = f"{role}-{path.strip('/').replace('/', '-') or 'home'}-{label}{lang and '-' + lang}.png"
            if lang == "ko" and not path.endswith("/report"):  # the report is English only
                assert page.locator("html").get_attribute("lang") == "ko", path
            page.screenshot(path=str(shots / name), full_page=True)
            found += [f"{role} {label} {path}: {v}" for v in violations(page, axe)]
            if label == "phone":
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if overflow > 1:
                    found.append(f"{role} phone {path}: page scrolls sideways by {overflow} px")
        page.context.close()
    assert found == [], "\n".join(found)
    assert _unexpected(errors) == []
