"""Instruction following by verifiable constraints, after IFEval (Zhou et al. 2023,
"Instruction-Following Evaluation for Large Language Models").

An instruction is ``{"id": ..., "kwargs": {...}}``; its checker is a pure function of the
response. The ids are IFEval's where the constraint is IFEval's (``length_constraints:
number_words``, ``detectable_format:json_format`` ...) and ``sovereval:...`` for the ones
written here for Korean (register endings, no Latin letters, length in characters).

Scoring follows IFEval's ``evaluation_lib``: *strict* checks the response as is; *loose*
passes an instruction when any of eight variants passes -- the response with its first line,
last line or both removed, each with and without markdown ``*`` -- which forgives a chatty
preamble or a closing line. Prompt-level accuracy counts a prompt when all its instructions
pass; instruction-level accuracy counts instructions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sovereval.errors import InputError

Checker = Callable[[str, Mapping[str, Any]], bool]
_CHECKERS: dict[str, Checker] = {}
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _register(name: str) -> Callable[[Checker], Checker]:
    def deco(fn: Checker) -> Checker:
        _CHECKERS[name] = fn
        return fn

    return deco


def instruction_ids() -> list[str]:
    """Every instruction id a checker exists for."""
    return sorted(_CHECKERS)


def _relation(kwargs: Mapping[str, Any], value: int, key: str) -> bool:
    """IFEval's comparison: ``relation`` is ``"less than"`` (strict) or ``"at least"``."""
    n = int(kwargs[key])
    relation = kwargs.get("relation", "at least")
    if relation == "less than":
        return value < n
    if relation == "at least":
        return value >= n
    raise InputError(f"relation {relation!r}; use 'less than' or 'at least'")


def count_words(text: str) -> int:
    """Words as IFEval counts them (NLTK's ``\\w+`` tokens), Hangul included."""
    return len(re.findall(r"\w+", text))


@_register("length_constraints:number_words")
def _number_words(text: str, kw: Mapping[str, Any]) -> bool:
    return _relation(kw, count_words(text), "num_words")


@_register("sovereval:number_characters")
def _number_characters(text: str, kw: Mapping[str, Any]) -> bool:
    """Characters without whitespace (Korean length limits are usually in characters)."""
    return _relation(kw, len(re.sub(r"\s", "", text)), "num_chars")


@_register("length_constraints:number_sentences")
def _number_sentences(text: str, kw: Mapping[str, Any]) -> bool:
    """Sentences end at ``. ! ? 。`` or a line break. IFEval splits English sentences with
    abbreviation rules; this simpler split also serves Korean, and can count an English
    abbreviation ("Dr.") as a sentence end."""
    sentences = [s for s in re.split(r"(?<=[.!?。])\s+|\n+", text.strip()) if s.strip()]
    return _relation(kw, len(sentences), "num_sentences")


@_register("length_constraints:number_paragraphs")
def _number_paragraphs(text: str, kw: Mapping[str, Any]) -> bool:
    """IFEval: paragraphs separated by the markdown divider ``***``; none may be empty."""
    parts = re.split(r"\s?\*\*\*\s?", text)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip() and i not in (0, len(parts) - 1):
            return False
        if not p.strip():
            n -= 1
    return n == int(kw["num_paragraphs"])


@_register("detectable_format:number_bullet_lists")
def _number_bullets(text: str, kw: Mapping[str, Any]) -> bool:
    """IFEval: lines starting with ``* `` or ``- ``, exactly ``num_bullets``."""
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    return len(stars) + len(dashes) == int(kw["num_bullets"])


def _has_word(word: str, text: str) -> bool:
    # Korean attaches particles to words ("사과를"), so a Hangul keyword is a substring test;
    # other keywords are IFEval's whole-word, case-blind test.
    if _HANGUL.search(word):
        return word in text
    return re.search(r"\b" + re.escape(word) + r"\b", text, flags=re.IGNORECASE) is not None


@_register("keywords:existence")
def _keywords(text: str, kw: Mapping[str, Any]) -> bool:
    return all(_has_word(str(k), text) for k in kw["keywords"])


@_register("keywords:forbidden_words")
def _forbidden(text: str, kw: Mapping[str, Any]) -> bool:
    return not any(_has_word(str(k), text) for k in kw["forbidden_words"])


@_register("keywords:frequency")
def _frequency(text: str, kw: Mapping[str, Any]) -> bool:
    word = str(kw["keyword"])
    if _HANGUL.search(word):
        n = text.count(word)
    else:
        n = len(re.findall(r"\b" + re.escape(word) + r"\b", text, flags=re.IGNORECASE))
    return _relation(kw, n, "frequency")


@_register("detectable_format:json_format")
def _json(text: str, kw: Mapping[str, Any]) -> bool:
    """IFEval: the whole response, minus a ```json fence, parses as JSON."""
    del kw
    value = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        value = value.removeprefix(prefix)
    value = value.removesuffix("```").strip()
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


@_register("punctuation:no_comma")
def _no_comma(text: str, kw: Mapping[str, Any]) -> bool:
    del kw
    return "," not in text


@_register("startend:end_checker")
def _ends_with(text: str, kw: Mapping[str, Any]) -> bool:
    return text.strip().lower().endswith(str(kw["end_phrase"]).strip().lower())


@_register("startend:quotation")
def _quotation(text: str, kw: Mapping[str, Any]) -> bool:
    del kw
    t = text.strip()
    return len(t) > 1 and t[0] == '"' and t[-1] == '"'


@_register("detectable_content:postscript")
def _postscript(text: str, kw: Mapping[str, Any]) -> bool:
    """IFEval's patterns: ``P.S.`` and ``P.P.S`` allow a space after each dot."""
    marker = str(kw.get("postscript_marker", "P.S."))
    if marker == "P.P.S":
        pat = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pat = r"\s*p\.\s?s\..*$"
    else:
        pat = r"\s*" + re.escape(marker.lower()) + r".*$"
    return re.search(pat, text.lower(), flags=re.MULTILINE) is not None


@_register("detectable_format:title")
def _title(text: str, kw: Mapping[str, Any]) -> bool:
    del kw
    return any(t.strip() for t in re.findall(r"<<[^\n]+>>", text))


@_register("change_case:english_lowercase")
def _lower(text: str, kw: Mapping[str, Any]) -> bool:
    del kw
    return text == text.lower()


@_register("sovereval:no_latin")
def _no_latin(text: str, kw: Mapping[str, Any]) -> bool:
    """No Latin letters at all, full-width forms included (NFKC first)."""
    del kw
    return re.search(r"[A-Za-z]", unicodedata.normalize("NFKC", text)) is None


_HAPSYO = ("니다", "니까", "시오", "십시다", "ㅂ시다")
_HAEYO = ("요", "죠")


def korean_sentence_endings(text: str) -> list[str]:
    """The last Hangul run of every sentence that has one (sentences end at ``. ! ? 。``
    or a line break; list markers, numbers and trailing punctuation are ignored)."""
    out = []
    for sent in re.split(r"[.!?。…]+|\n+", text):
        runs = _HANGUL.findall(sent)
        if not runs:
            continue
        words = re.findall(r"[\uac00-\ud7a3]+", sent)
        out.append(words[-1])
    return out


@_register("sovereval:korean_register")
def _register_check(text: str, kw: Mapping[str, Any]) -> bool:
    """Every Korean sentence ends in the asked register: ``hapsyo`` (합쇼체: -습니다,
    -ㅂ니까, -십시오 ...) or ``haeyo`` (해요체: -요, -죠). At least one sentence is needed."""
    register = kw.get("register")
    if register not in ("hapsyo", "haeyo"):
        raise InputError(f"korean_register register={register!r}; use hapsyo or haeyo")
    endings = korean_sentence_endings(text)
    if not endings:
        return False
    if register == "hapsyo":
        return all(e.endswith(_HAPSYO) for e in endings)
    return all(e.endswith(_HAEYO) and not e.endswith(_HAPSYO) for e in endings)


@dataclass(frozen=True)
class Instruction:
    id: str
    kwargs: Mapping[str, Any]


def parse_instructions(target: str) -> list[Instruction]:
    """The item's target: JSON list of ``{"id", "kwargs"}``."""
    try:
        raw = json.loads(target)
        out = [Instruction(str(r["id"]), dict(r.get("kwargs") or {})) for r in raw]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"instruction target {target[:60]!r} is not a list of id/kwargs") from None
    unknown = [i.id for i in out if i.id not in _CHECKERS]
    if unknown:
        raise InputError(f"unsupported instructions {unknown}; supported: {instruction_ids()}")
    return out


def encode_instructions(ids: Sequence[str], kwargs: Sequence[Mapping[str, Any]]) -> str:
    """Canonical JSON target (``None`` arguments dropped, as IFEval's scorer does)."""
    if len(ids) != len(kwargs):
        raise InputError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs")
    rows = [
        {"id": i, "kwargs": {k: v for k, v in (kw or {}).items() if v is not None}}
        for i, kw in zip(ids, kwargs, strict=True)
    ]
    return json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def loose_variants(text: str) -> list[str]:
    """IFEval's eight loose variants: first/last/both lines removed, each with ``*`` kept
    or removed (the response itself first)."""
    lines = text.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    base = [text, first, last, both]
    return base + [v.replace("*", "") for v in base]


@dataclass(frozen=True)
class FollowResult:
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)


def check(instructions: Sequence[Instruction], response: str) -> FollowResult:
    """Strict and loose outcome of each instruction on ``response``."""
    variants = [v for v in loose_variants(response) if v.strip()]
    strict = []
    loose = []
    for ins in instructions:
        fn = _CHECKERS[ins.id]
        strict.append(bool(response.strip()) and fn(response, ins.kwargs))
        loose.append(any(fn(v, ins.kwargs) for v in variants))
    return FollowResult(tuple(strict), tuple(loose))
