"""Korean and English pages from gettext message catalogues.

Templates mark text with ``{% trans %}`` / ``_()`` (Jinja's i18n extension); Babel extracts them
(``babel.cfg``) into ``web/locale/messages.pot``, translators fill ``web/locale/ko/LC_MESSAGES/
messages.po``, and the compiled ``messages.mo`` ships in the package, read with the standard
library's :mod:`gettext` (no Babel at run time). The language comes from the ``sov_lang``
cookie (set by the switch in the page header), else the browser's ``Accept-Language``, else
English. The current request's catalogue sits in a context variable, so one shared Jinja
environment serves concurrent requests in different languages.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
from pathlib import Path

LOCALES = ("en", "ko")
DEFAULT = "en"
COOKIE = "sov_lang"
LOCALE_DIR = Path(__file__).parent / "locale"

_ENGLISH = gettext.NullTranslations()
_current: contextvars.ContextVar[gettext.NullTranslations | None] = contextvars.ContextVar(
    "sovereval_translations", default=None
)


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == DEFAULT:
        return _ENGLISH
    return gettext.translation("messages", LOCALE_DIR, languages=[lang], fallback=True)


def negotiate(cookie: str | None, accept_language: str) -> str:
    """The page language: an explicit choice first, then the browser's preference order."""
    if cookie in LOCALES:
        return str(cookie)
    prefs: list[tuple[float, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        prefs.append((q - i * 1e-6, tag.strip().lower().split("-")[0]))
    for _q, lang in sorted(prefs, reverse=True):
        if lang in LOCALES:
            return lang
    return DEFAULT


def activate(lang: str) -> contextvars.Token[gettext.NullTranslations | None]:
    return _current.set(translations(lang))


def reset(token: contextvars.Token[gettext.NullTranslations | None]) -> None:
    _current.reset(token)


def gettext_(message: str) -> str:
    return (_current.get() or _ENGLISH).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return (_current.get() or _ENGLISH).ngettext(singular, plural, n)
