"""An expert completes a review in Chromium and is refused after the deadline.

The app's injectable clock is moved past the review deadline (round close + 14 days) between
the two halves: the page then shows the form locked with its reason, and a form posted from a
page opened before the deadline is refused by the server (422), its text kept on the page.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import WebEnv
from tests.web.test_browser import _login, _page, _unexpected, browser, live, shots  # noqa: F401
from tests.web.test_review import DEADLINE, KEYS, review_setup

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _fill(page: Any, prefix: str, score: int) -> None:
    for key in KEYS:
        page.select_option(f"select[name=score_{key}]", str(score))
        page.fill(
            f"textarea[name=justification_{key}]",
            f"{prefix}: the technical report and training logs support {score} on {key}.",
        )


def test_expert_completes_a_review_and_is_refused_after_the_deadline(
    live: tuple[WebEnv, str],  # noqa: F811
    browser: Any,  # noqa: F811
    shots: Path,  # noqa: F811
) -> None:
    env, base = live
    rv = review_setup(env)
    env.clock.t = DEADLINE - timedelta(hours=2)  # sessions last 12 h: review on the last day
    errors: list[str] = []
    page = _page(browser, errors, viewport={"width": 1200, "height": 900})
    _login(page, base, "expert1")
    assert page.url.endswith("/expert")
    rows = page.locator("#assigned tbody tr")
    assert rows.count() == 1 and f"Submission #{rv.assigned}" in rows.inner_text()
    page.screenshot(path=str(shots / "expert-home.png"), full_page=True)
    page.click(f"a[href='/expert/submissions/{rv.assigned}']")
    assert "fresh initialisation" in page.content()
    assert "Gyeol" not in page.content()  # blind review
    _fill(page, "First reading", 7)
    page.click("#save-draft")
    assert "Draft saved" in page.locator("#review-notice").inner_text()
    # Submitting without citing the provenance evidence for originality is refused in place.
    page.click("#submit-review")
    assert "originality" in page.locator("#review-problem").inner_text()
    page.check(f"input[name=evidence_originality][value={rv.evidence[0]}]")
    page.click("#submit-review")
    assert page.locator("#review-status").inner_text() == "submitted"
    page.click("#criterion-originality summary")
    form = page.locator("#criterion-originality form")
    form.locator("select[name=score]").select_option("6")
    form.locator("input[name=reason]").fill("The training log shows a restart from a checkpoint.")
    form.locator("button[type=submit]").click()
    assert page.locator("#score-originality").inner_text() == "6"
    history = page.locator("#history").inner_text()
    assert "restart from a checkpoint" in history and "Expert A" in history
    page.screenshot(path=str(shots / "expert-review-submitted.png"), full_page=True)
    # The review opened in a second tab before the deadline...
    other = _page(browser, errors, viewport={"width": 1200, "height": 900})
    _login(other, base, "expert1")
    other.goto(f"{base}/expert/submissions/{rv.assigned}")
    env.clock.t = DEADLINE + timedelta(hours=1)
    # ...the edit form posted after the deadline is refused by the server.
    other.click("#criterion-ripple_effects summary")
    edit = other.locator("#criterion-ripple_effects form")
    edit.locator("input[name=reason]").fill("Late change.")
    edit.locator("button[type=submit]").click()
    assert "has passed; the form is locked" in other.locator("#review-problem").inner_text()
    assert other.locator("#review-locked").is_visible()
    other.screenshot(path=str(shots / "expert-review-locked.png"), full_page=True)
    page.reload()
    assert "2026-01-31T09:00 UTC has passed" in page.locator("#review-locked").inner_text()
    assert page.locator("#criterion-originality form").count() == 0  # no edit forms when locked
    assert _unexpected(errors) == []
