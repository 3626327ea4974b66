"""Blind review: find where uploaded evidence names its team or model, and redact it.

A technical report usually opens with the model's own name ("Gyeol-22B: a bilingual ...").
When the rubric is blind, experts must not read it. This module is pure: it takes the text and
the identifying names and returns the mentions found and a redacted copy; the review service
decides when to apply it (blind rubrics) and the organisers' page shows the warnings.

Names are matched case-insensitively on word boundaries, longest first, so "Gyeol-22B" is
redacted whole before "Gyeol". Besides the full team and model names, the distinctive words of
the team name (not generic words such as "Consortium" or "AI") and the model's family name
(the part before a size or version suffix, e.g. "Gyeol" of "Gyeol-22B") are identifying too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

REDACTED = "[redacted]"

GENERIC_WORDS = frozenset(
    {
        "ai",
        "lab",
        "labs",
        "consortium",
        "systems",
        "system",
        "team",
        "group",
        "inc",
        "co",
        "corp",
        "ltd",
        "model",
        "models",
        "the",
        "and",
        "of",
        "research",
        "technologies",
        "tech",
        "university",
    }
)
"""Words of a team name that identify nobody on their own."""

_SPLIT = re.compile(r"[\s_/]+")
_SUFFIX = re.compile(r"[-_. ]?(v?\d[\w.]*|\d+(\.\d+)?[bBmMkK])$")


@dataclass(frozen=True)
class Mention:
    name: str
    """The identifying name as given (team, model or a distinctive part of one)."""
    count: int
    first_line: int
    """1-based line of the first occurrence."""


def identifying_names(
    team: str | None, model: str | None, members: Sequence[str] = ()
) -> list[str]:
    """The names whose appearance in evidence breaks blindness, longest first."""
    names: set[str] = set()
    for full in (team, model, *members):
        if not full or not full.strip():
            continue
        full = full.strip()
        names.add(full)
        for word in _SPLIT.split(full):
            w = word.strip(".,;:()[]")
            if len(w) >= 3 and w.lower() not in GENERIC_WORDS:
                names.add(w)
    if model:
        family = _SUFFIX.sub("", model.strip())
        if len(family) >= 3 and family.lower() not in GENERIC_WORDS:
            names.add(family)
    return sorted(names, key=lambda n: (-len(n), n.lower()))


def _pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alts = [re.escape(n) for n in names if n]
    if not alts:
        return None
    return re.compile(r"(?<![\w-])(" + "|".join(alts) + r")(?![\w])", re.IGNORECASE)


def mentions(text: str, names: Sequence[str]) -> list[Mention]:
    """Every identifying name that occurs in ``text``, with its count and first line."""
    pat = _pattern(names)
    if pat is None:
        return []
    found: dict[str, list[int]] = {}
    canon = {n.lower(): n for n in names}
    for m in pat.finditer(text):
        key = canon.get(m.group(1).lower(), m.group(1))
        found.setdefault(key, []).append(text.count("\n", 0, m.start()) + 1)
    return [Mention(n, len(lines), lines[0]) for n, lines in found.items()]


def redact(text: str, names: Sequence[str]) -> str:
    """``text`` with every identifying name replaced by ``[redacted]``."""
    pat = _pattern(names)
    return text if pat is None else pat.sub(REDACTED, text)
