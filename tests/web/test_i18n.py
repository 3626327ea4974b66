"""Korean and English pages from the gettext catalogue: chosen by Accept-Language or the
switch, and every marked template string has a Korean translation in the shipped catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.ext import babel_extract

from sovereval.web import i18n
from tests.web.conftest import WebEnv

TEMPLATES = Path(i18n.__file__).parent / "templates"


def test_negotiation_prefers_the_cookie_then_the_browser_order() -> None:
    assert i18n.negotiate(None, "ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert i18n.negotiate(None, "en-GB,ko;q=0.5") == "en"
    assert i18n.negotiate(None, "fr-FR, ko;q=0.4") == "ko"  # the first language we have
    assert i18n.negotiate(None, "de,fr;q=0.5") == "en"
    assert i18n.negotiate("en", "ko") == "en" and i18n.negotiate("xx", "ko") == "ko"


def test_pages_in_korean_by_accept_language_and_by_the_switch(web: WebEnv) -> None:
    ko = web.client.get("/", headers={"accept-language": "ko-KR,ko;q=0.9"})
    assert '<html lang="ko">' in ko.text and "경진대회" in ko.text and "순위표" in ko.text
    assert "Vary" in ko.headers and "Accept-Language" in ko.headers["vary"]
    en = web.client.get("/")
    assert '<html lang="en">' in en.text and "Competitions" in en.text
    r = web.client.get("/language/ko?next=/login")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = web.client.get("/login", headers={"cookie": f"{i18n.COOKIE}=ko"}).text
    assert "로그인" in page and 'id="lang-switch"' in page and "English" in page
    assert web.client.get("/language/xx").status_code == 404
    # the anonymous leaderboard cache keeps one copy per language
    web.client.cookies.clear()
    pid = web.ids["programme"]
    lb_ko = web.client.get(f"/programmes/{pid}/leaderboard", headers={"accept-language": "ko"})
    lb_en = web.client.get(f"/programmes/{pid}/leaderboard")
    assert '<html lang="ko">' in lb_ko.text and '<html lang="en">' in lb_en.text


def test_every_marked_string_has_a_korean_translation() -> None:
    extract = pytest.importorskip("babel.messages.extract")
    ko = i18n.translations("ko")
    found = []
    for path in sorted(TEMPLATES.glob("*.html")):
        with path.open("rb") as f:
            for _line, msg, _comments, _context in extract.extract(
                babel_extract, f, options={"extensions": "jinja2.ext.i18n", "trim_blocks": "1"}
            ):
                ids = msg if isinstance(msg, tuple) else (msg,)
                for m in ids:
                    if m:
                        found.append(m)
    assert len(found) >= 40
    untranslated = [m for m in found if ko.gettext(m) == m]
    assert untranslated == [], f"run pybabel extract/update/compile: {untranslated}"
