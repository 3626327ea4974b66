"""Identity leaks: answers that reveal which model or vendor wrote them.

A blind battle is only blind if the answers do not name their authors ("I am ChatGPT, developed
by OpenAI", "저는 LG AI연구원이 개발한 EXAONE입니다"). Chatbot Arena drops such battles from
scoring (Chiang et al. 2024, sec. 4); so do we. Two kinds of evidence:

- ``self_identification``: a first-person claim next to a known name ("I am X", "developed by
  X", "저는 X", "X가 개발한/만든"). Always a leak.
- ``name_mention``: a known model or vendor name anywhere in the answer. A leak unless the
  prompt itself mentions that name (the user asked about it), so "compare OpenAI and Google"
  does not discard every answer.

Names come from the round's roster (model and vendor names) plus a default list of well-known
vendors and models in English and Korean. Matching is Unicode-normalised (NFKC) and
case-insensitive; Latin names must stand alone (no letter or digit on either side) while Hangul
names must start a word and end it or be followed by a particle ("오픈AI가", but not the
"라마" inside "드라마"), because Korean particles attach to nouns. Separators
inside a name are optional ("ChatGPT" = "Chat GPT" = "chat-gpt").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

LeakKind = Literal["self_identification", "name_mention"]

DEFAULT_NAMES: tuple[str, ...] = (
    # Vendors and models, English spelling.
    "OpenAI",
    "Chat GPT",
    "GPT-3.5",
    "GPT-4",
    "GPT-4o",
    "GPT-5",
    "Anthropic",
    "Claude",
    "Google DeepMind",
    "DeepMind",
    "Gemini",
    "Gemma",
    "Bard",
    "Meta AI",
    "Llama",
    "Mistral AI",
    "Mistral",
    "Mixtral",
    "Qwen",
    "Alibaba",
    "Tongyi",
    "Deep Seek",
    "Microsoft",
    "Copilot",
    "Phi-3",
    "xAI",
    "Grok",
    "Naver",
    "Hyper CLOVA",
    "HyperCLOVA X",
    "CLOVA X",
    "LG AI Research",
    "EXAONE",
    "Upstage",
    "Solar Pro",
    "Kakao",
    "Kanana",
    "SK Telecom",
    "A.X",
    "KT Mi:dm",
    "Mi:dm",
    "NC AI",
    "VARCO",
    "Moonshot",
    "Kimi",
    "Zhipu",
    "GLM",
    # Korean spelling.
    "오픈AI",
    "오픈에이아이",
    "챗GPT",
    "챗지피티",
    "지피티",
    "앤트로픽",
    "클로드",
    "구글",
    "딥마인드",
    "제미나이",
    "제미니",
    "젬마",
    "메타",
    "라마",
    "미스트랄",
    "큐웬",
    "알리바바",
    "통의천문",
    "딥시크",
    "마이크로소프트",
    "네이버",
    "하이퍼클로바",
    "클로바",
    "엘지",
    "LG AI연구원",
    "엑사원",
    "업스테이지",
    "솔라",
    "카카오",
    "카나나",
    "SK텔레콤",
    "에이닷",
    "엔씨소프트",
    "바르코",
)

_SELF_BEFORE = re.compile(
    # Text right before a name: "I am (an AI called) X", "developed by X", "저는 (…) X", "제 이름은 X".
    r"(?:\b(?:i\s*am|i'm|i\s+was|as)\s+(?:an?\s+)?(?:ai\s+|language\s+model\s+|assistant\s+)?"
    r"(?:called\s+|named\s+)?"
    r"|\b(?:developed|created|made|trained|built|designed)\s+by\s+"
    r"|저는\s*(?:\S+\s+){0,4}\S*?"
    r"|제\s*이름은\s*)$"
)
_SELF_AFTER = re.compile(
    # Text right after a name: "X's language model", "X가 개발한", "X에서 만든".
    r"(?:(?:'s)?\s+(?:language\s+)?model\b"
    r"|\s*(?:에서|이|가|의|사에서|사가)?\s*(?:개발한|개발된|개발했|만든|만들었|학습시킨|훈련시킨|제작한))"
)
_WINDOW = 60


_HANGUL = re.compile(r"[가-힣]")
_PARTICLES = (
    "입니다|이에요|예요|이다|이며|이라는|이라고|라는|라고|에서|에게|한테|께서|으로서|로서|으로|"
    "처럼|보다|와의|과의|은|는|이|가|을|를|의|에|와|과|도|로|만|사|측"
)
_KO_END = f"(?=(?:{_PARTICLES})?(?![가-힣]))"
"""A Hangul name ends at a word end or before a particle, so "메타" never matches "메타데이터"."""


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _name_pattern(name: str) -> str:
    """Regex for one name: optional separators between chunks, standalone if Latin at an edge."""
    norm = _normalise(name).strip()
    chunks = [c for c in re.split(r"[\s\-_.:]+", norm) if c]
    pieces: list[str] = []
    for chunk in chunks:
        # Allow an optional separator where letters meet digits ("gpt4" = "gpt-4").
        parts = re.findall(r"[a-z]+|[0-9]+|[^a-z0-9]+", chunk)
        pieces.append(r"[\s\-_.:]?".join(re.escape(p) for p in parts))
    body = r"[\s\-_.:]*".join(pieces)
    left = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", norm) else ""
    right = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", norm) else ""
    if _HANGUL.match(norm):
        left = r"(?<![가-힣a-z0-9])"
    if _HANGUL.match(norm[-1]):
        right = _KO_END
    return f"{left}{body}{right}"


def _key(name: str) -> str:
    """Separator-free form, so "Chat GPT" in a prompt excuses "ChatGPT" in an answer."""
    return re.sub(r"[\s\-_.:]+", "", name)


@lru_cache(maxsize=64)
def _compile(names: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation over all names, longest first so "HyperCLOVA X" beats "CLOVA X"."""
    alternation = "|".join(
        _name_pattern(n) for n in sorted(set(names), key=lambda s: (-len(s), s)) if n.strip()
    )
    return re.compile(f"(?P<name>{alternation})")


def _self_identifies(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _WINDOW) : start]
    if "저는" in before:
        # "저는" claims identity only within the same sentence.
        before = re.split(r"[.!?。\n]", before)[-1]
    return bool(_SELF_BEFORE.search(before) or _SELF_AFTER.match(text, end))


@dataclass(frozen=True)
class LeakFinding:
    kind: LeakKind
    name: str
    """The matched text as it appears in the answer."""
    start: int
    end: int
    """Span in the NFKC-normalised, case-folded answer."""


def find_leaks(
    answer: str,
    roster_names: Iterable[str] = (),
    *,
    prompt: str = "",
    include_defaults: bool = True,
) -> list[LeakFinding]:
    """All identity leaks in one answer (empty list = clean)."""
    names = tuple(roster_names) + (DEFAULT_NAMES if include_defaults else ())
    if not names:
        return []
    mention = _compile(names)
    text = _normalise(answer)
    asked = {_key(m.group("name")) for m in mention.finditer(_normalise(prompt))}
    findings: list[LeakFinding] = []
    for m in mention.finditer(text):
        if _self_identifies(text, m.start(), m.end()):
            findings.append(LeakFinding("self_identification", m.group("name"), m.start(), m.end()))
        elif _key(m.group("name")) not in asked:
            findings.append(LeakFinding("name_mention", m.group("name"), m.start(), m.end()))
    return sorted(findings, key=lambda f: f.start)


@dataclass(frozen=True)
class AnswerPair:
    battle_id: str
    prompt: str
    answer_a: str
    answer_b: str


@dataclass(frozen=True)
class LeakReport:
    kept: tuple[str, ...]
    """Battle ids fit for scoring."""
    leaked: dict[str, tuple[LeakFinding, ...]]
    """Battle id -> findings in either answer; these battles are excluded from scoring."""

    @property
    def n_leaked(self) -> int:
        return len(self.leaked)


def filter_leaks(
    battles: Sequence[AnswerPair],
    roster_names: Iterable[str] = (),
    *,
    include_defaults: bool = True,
) -> LeakReport:
    """Split battles into those fit for scoring and those whose answers reveal an identity."""
    names = tuple(roster_names)
    kept: list[str] = []
    leaked: dict[str, tuple[LeakFinding, ...]] = {}
    for b in battles:
        found = find_leaks(b.answer_a, names, prompt=b.prompt, include_defaults=include_defaults)
        found += find_leaks(b.answer_b, names, prompt=b.prompt, include_defaults=include_defaults)
        if found:
            leaked[b.battle_id] = tuple(found)
        else:
            kept.append(b.battle_id)
    return LeakReport(tuple(kept), leaked)
