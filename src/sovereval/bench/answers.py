"""Extracting answers from generated text: letters, numbers, normalised strings.

Pure string functions, shared by the scorers and the loaders. They are deliberately
conservative: when a response names two different letters with equal authority the parse
fails (``None``) and the item is scored wrong, rather than guessing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from fractions import Fraction

from sovereval.bench.items import LETTERS

_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_KEYWORD = r"(?i:정답|답변|답|answer|final answer|correct answer|the answer)"
_MARKER = re.compile(
    # capital letter: the separator is optional ("정답 B", "Answer B")
    _KEYWORD + r"\s*(?:은|는|이|:|=|(?i:is))?\s*(?:(?i:is)\s*)?[:=]?\s*"
    r"(?:(?i:option|choice)\s*|보기\s*)?[\(\[]?\s*([A-J])(?![A-Za-z])"
    # small letter: only after an explicit separator ("answer: b", "the answer is (b)"),
    # so that "answer a question" does not read as A
    r"|" + _KEYWORD + r"\s*(?:은|는|:|=|(?i:is))\s*[:=]?\s*[\(\[]?\s*([a-j])(?![A-Za-z])"
)
_ALONE = re.compile(r"^\s*[\(\[]?([A-J])[\)\]]?\s*[.:)]?\s*$")
_LEADING = re.compile(r"^\s*[\(\[]?([A-J])(?:[\)\]]|[.:](?!\d))")
_BRACKETED = re.compile(r"[\(\[]([A-J])[\)\]]|(?<![A-Za-z])([A-J])[.)](?![A-Za-z0-9])")
_KO_NUMBER = re.compile(r"(?<!\d)(\d{1,2})\s*번")


def _nfkc(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.replace("**", "").replace("__", "").replace("`", "")


def normalise_text(text: str) -> str:
    """NFKC, case-fold, drop punctuation and symbols, collapse whitespace.

    The normalisation of SQuAD's ``normalize_answer`` (Rajpurkar et al. 2016) minus the
    English article removal, which would be wrong for Korean.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = [" " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in text]
    return " ".join("".join(kept).split())


def parse_letter(text: str, choices: Sequence[str] = ()) -> str | None:
    """The choice letter a response gives, or ``None`` when absent or ambiguous.

    Tried in order: the last explicit marker (``정답: B``, ``정답은 (B)``, ``Answer: b``,
    ``The answer is B``); a response that is only a letter (``B``, ``(B)``, ``B.``); a response
    starting with one (``B. 서울``); Korean numbering (``②``, ``2번``); the text of exactly one
    choice echoed back; finally exactly one distinct bracketed/dotted letter (``(B)``, ``B)``).
    Letters beyond ``len(choices)`` are ignored when ``choices`` is given.
    """
    n = len(choices) if choices else len(LETTERS)
    valid = LETTERS[:n]
    t = _nfkc(text).strip()
    if not t:
        return None
    marked = [
        letter.upper()
        for m in _MARKER.finditer(t)
        if (letter := m.group(1) or m.group(2)).upper() in valid
    ]
    if marked:
        return marked[-1]
    for pattern in (_ALONE, _LEADING):
        m = pattern.match(t)
        if m and m.group(1) in valid:
            return m.group(1)
    circled = {_CIRCLED.index(ch) for ch in text if ch in _CIRCLED}  # NFKC turns ② into 2
    numbered = {int(m.group(1)) - 1 for m in _KO_NUMBER.finditer(t)}
    idx = {i for i in circled | numbered if 0 <= i < n}
    if len(idx) == 1:
        return LETTERS[idx.pop()]
    if choices:
        echoed = _echoed_choice(t, choices)
        if echoed is not None:
            return LETTERS[echoed]
    found: set[str] = {str(a or b) for a, b in _BRACKETED.findall(t)} & set(valid)
    if len(found) == 1:
        return found.pop()
    return None


def _echoed_choice(text: str, choices: Sequence[str]) -> int | None:
    """Index of the one choice whose normalised text appears in ``text``; longest wins ties
    of containment (``서울`` inside ``서울특별시``), otherwise ``None`` when two appear."""
    t = normalise_text(text)
    hits = [i for i, c in enumerate(choices) if (nc := normalise_text(c)) and nc in t]
    if not hits:
        return None
    norm = {i: normalise_text(choices[i]) for i in hits}
    maximal = [i for i in hits if not any(j != i and norm[i] in norm[j] for j in hits)]
    distinct = {norm[i] for i in maximal}
    return maximal[0] if len(distinct) == 1 else None


_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+"
_FRAC_TEX = re.compile(r"(-?)\\[dt]?frac\s*\{\s*(" + _NUM + r")\s*\}\s*\{\s*(" + _NUM + r")\s*\}")
_NUMBER = re.compile(r"(" + _NUM + r")(?:\s*/\s*(" + _NUM + r"))?")
_BOXED = re.compile(r"\\boxed\s*\{")
_ANSWER_MARK = re.compile(r"(?:정답|최종\s*답|답|answer)\s*(?:은|는|:|=|is)?", re.IGNORECASE)


def _to_fraction(s: str) -> Fraction:
    return Fraction(s.replace(",", "").replace("+", ""))


def _boxed_contents(text: str) -> list[str]:
    out = []
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append(text[m.end() : i - 1])
    return out


def _numbers_in(text: str) -> list[Fraction]:
    values: list[tuple[int, Fraction]] = []
    spans: list[tuple[int, int]] = []
    for m in _FRAC_TEX.finditer(text):
        den = _to_fraction(m.group(3))
        if den != 0:
            sign = -1 if m.group(1) else 1
            values.append((m.start(), sign * _to_fraction(m.group(2)) / den))
            spans.append(m.span())
    for m in _NUMBER.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        value = _to_fraction(m.group(1))
        if m.group(2):
            den = _to_fraction(m.group(2))
            if den == 0:
                continue
            value /= den
        values.append((m.start(), value))
    return [v for _, v in sorted(values, key=lambda p: p[0])]


def parse_number(text: str) -> Fraction | None:
    """The final numeric answer in ``text`` as an exact fraction, or ``None``.

    Preference: the last ``\\boxed{...}`` (the format HRM8K and MATH prompts ask for); else
    the first number after the last answer marker (``정답:``, ``Answer:``); else the last
    number. Thousands separators (``1,234``), decimals, exponents, ``a/b`` and ``\\frac{a}{b}``
    are understood; the Unicode minus (U+2212) is read as ``-``.
    """
    t = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace("$", " ")
    boxed = _boxed_contents(t)
    if boxed:
        nums = _numbers_in(boxed[-1])
        if nums:
            return nums[-1]
    marks = list(_ANSWER_MARK.finditer(t))
    if marks:
        nums = _numbers_in(t[marks[-1].end() :])
        if nums:
            return nums[0]
    nums = _numbers_in(t)
    return nums[-1] if nums else None
