"""Long-context items: a seeded, versioned generator of Korean and English haystacks.

After RULER (Hsieh et al. 2024, "RULER: What's the Real Context Size of Your Long-Context
Language Models?") and the needle-in-a-haystack test (Kamradt 2023). Five families:

- ``niah_single``: one needle ("the special magic number for KEY is N") in filler text;
- ``niah_multikey``: the needle plus three distractor needles with other keys and numbers of
  the same shape (RULER's NIAH multi-key);
- ``niah_multivalue``: four needles giving four numbers for the same key, all to be recalled
  (RULER's NIAH multi-value);
- ``vt``: multi-hop variable tracking, ``VAR A = 12345``, ``VAR B = VAR A``, ... plus a
  distractor chain with another value; the answer is every name bound to the value;
- ``cwe``: aggregation, common-words extraction -- a numbered list of pseudo-words where five
  appear ten times and the rest three times; the answer is the five most frequent.

The generator is a pure function of ``(seed, version, family, language, length, depth,
repeat)`` and the filler sentences (shipped in ``sovereval/examples/bench/longctx``): the
suite file names the seed and the version, so anyone can rebuild the exact items. Each item
draws from its own ``numpy`` PCG64 stream seeded with ``SeedSequence([seed, crc32(id)])``.

Lengths are counted in tokens of the model under test when its tokenizer is available (the
runner passes ``token_counter``); otherwise by :func:`estimate_tokens`, a documented
estimate. Which one was used is kept in the item's metadata (``counted_by``), and the
measured count in ``tokens``; the runner compares ``tokens`` with the model's declared
context window.

The target is JSON ``{"refs": [...], "forbidden": [...]}``: an answer scores 1 when every
ref occurs in it as a whole word and no forbidden string (a distractor's number, the other
chain's names) does -- RULER's ``string_match_all`` made strict, so that listing every
number in the text is not rewarded.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sovereval.bench.items import Item
from sovereval.errors import InputError

GENERATOR_VERSION = 1
"""Bump when any output of the generator changes for the same inputs."""
SUPPORTED_VERSIONS = (1,)
FAMILIES = ("niah_single", "niah_multikey", "niah_multivalue", "vt", "cwe")
LANGUAGES = ("en", "ko")
DEPTH_FAMILIES = frozenset({"niah_single", "niah_multikey", "niah_multivalue", "vt"})

TokenCounter = Callable[[str], int]

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_EN_ONSETS = tuple("bcdfghklmnprstvz")
_EN_VOWELS = tuple("aeiou")
_KO_SYLLABLES = (
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후"
    "기니디리미비시이지치키티피히게네데레메베세에제체케테페헤"
)


def estimate_tokens(text: str) -> int:
    """Token estimate when the model's tokenizer is not at hand.

    ``ceil(ascii_chars / 4 + hangul_syllables * 1.0 + other_chars * 1.0)``: about four
    characters per token is the usual figure for English BPE vocabularies (OpenAI's rule of
    thumb), and multilingual vocabularies spend roughly one token per Hangul syllable (Llama 3
    and Qwen 2.5 are close to it; English-only vocabularies spend more, so the estimate errs
    on the short side for them -- use the tokenizer when it matters).
    """
    ascii_n = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_n / 4 + (len(text) - ascii_n))


@dataclass(frozen=True)
class HaystackConfig:
    """What a suite's ``longctx`` task asks for (the loader's options)."""

    seed: int
    version: int
    lengths: tuple[int, ...]
    depths: tuple[float, ...] = (0.0, 0.5, 1.0)
    families: tuple[str, ...] = FAMILIES
    languages: tuple[str, ...] = LANGUAGES
    repeats: int = 1

    def __post_init__(self) -> None:
        if self.version not in SUPPORTED_VERSIONS:
            raise InputError(
                f"long-context generator version {self.version} is not supported "
                f"(this release builds {', '.join(map(str, SUPPORTED_VERSIONS))})"
            )
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise InputError(f"unknown long-context families {bad}; use {', '.join(FAMILIES)}")
        bad = [lang for lang in self.languages if lang not in LANGUAGES]
        if bad:
            raise InputError(f"unknown languages {bad}; use {', '.join(LANGUAGES)}")
        if not self.lengths or any(n < 256 for n in self.lengths):
            raise InputError("long-context lengths must be given, each at least 256 tokens")
        if any(not 0.0 <= d <= 1.0 for d in self.depths) or not self.depths:
            raise InputError("depths are fractions between 0 and 1")
        if self.repeats < 1:
            raise InputError("repeats must be at least 1")


@dataclass(frozen=True)
class _Text:
    intro: str
    needle: str
    question_single: str
    question_multi: str
    vt_intro: str
    vt_question: str
    cwe_intro: str
    cwe_question: str


_TEXTS = {
    "en": _Text(
        intro="Some special magic numbers are hidden within the following text. Make sure to "
        "memorize them. I will quiz you about the numbers afterwards.",
        needle="One of the special magic numbers for {key} is: {value}.",
        question_single="What is the special magic number for {key} mentioned in the provided "
        "text? Answer with the number only.",
        question_multi="What are all the special magic numbers for {key} mentioned in the "
        "provided text? Answer with the numbers only, separated by commas.",
        vt_intro="Memorize and track the chain(s) of variable assignment hidden in the "
        "following text.",
        vt_question="Find all variables that are assigned the value {value} in the text above. "
        "Answer with the variable names only, separated by commas.",
        cwe_intro="Below is a numbered list of words. In these words, some appear more often "
        "than others. Memorize the ones that appear most often.",
        cwe_question="What are the {k} most common words in the above list? Answer with the "
        "words only, separated by commas.",
    ),
    "ko": _Text(
        intro="다음 글 곳곳에 특별한 마법 숫자가 숨어 있습니다. 잘 기억해 두세요. 글을 읽은 뒤 "
        "그 숫자에 대해 묻겠습니다.",
        needle="{key}의 특별한 마법 숫자 가운데 하나는 {value}입니다.",
        question_single="위 글에 나온 {key}의 특별한 마법 숫자는 무엇입니까? 숫자만 답하세요.",
        question_multi="위 글에 나온 {key}의 특별한 마법 숫자를 모두 쓰세요. 숫자만 쉼표로 "
        "구분해 답하세요.",
        vt_intro="다음 글에 숨어 있는 변수 대입의 사슬을 기억하고 따라가세요.",
        vt_question="위 글에서 값 {value}이(가) 대입된 변수를 모두 찾으세요. 변수 이름만 쉼표로 "
        "구분해 답하세요.",
        cwe_intro="아래는 번호가 붙은 단어 목록입니다. 어떤 단어는 다른 단어보다 자주 나옵니다. "
        "가장 자주 나오는 단어를 기억하세요.",
        cwe_question="위 목록에서 가장 자주 나온 단어 {k}개는 무엇입니까? 단어만 쉼표로 구분해 "
        "답하세요.",
    ),
}


def read_filler(folder: Path, language: str) -> list[str]:
    """Sentences of ``filler_<language>.txt`` (one a line; blank and ``#`` lines skipped)."""
    path = folder / f"filler_{language}.txt"
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read haystack sentences ({exc.strerror})") from None
    out = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if len(out) < 5:
        raise InputError(f"{path}: needs at least 5 haystack sentences, found {len(out)}")
    return out


def _pseudo_word(rng: np.random.Generator, language: str) -> str:
    if language == "ko":
        n = int(rng.integers(2, 4))
        return "".join(_KO_SYLLABLES[int(i)] for i in rng.integers(0, len(_KO_SYLLABLES), n))
    n = int(rng.integers(2, 4))
    return "".join(
        _EN_ONSETS[int(rng.integers(len(_EN_ONSETS)))] + _EN_VOWELS[int(rng.integers(5))]
        for _ in range(n)
    )


def _distinct_words(rng: np.random.Generator, language: str, n: int, avoid: set[str]) -> list[str]:
    out: list[str] = []
    seen = set(avoid)
    while len(out) < n:
        w = _pseudo_word(rng, language)
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _number(rng: np.random.Generator, avoid: set[str]) -> str:
    while True:
        v = str(int(rng.integers(1_000_000, 10_000_000)))
        if v not in avoid:
            avoid.add(v)
            return v


def _var_name(rng: np.random.Generator, avoid: set[str]) -> str:
    while True:
        v = "".join(chr(65 + int(i)) for i in rng.integers(0, 26, 5))
        if v not in avoid:
            avoid.add(v)
            return v


class _Counter:
    """Counts tokens, caching per distinct string (the filler repeats)."""

    def __init__(self, fn: TokenCounter | None) -> None:
        self.fn = fn or estimate_tokens
        self.cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = self.cache.get(text)
        if n is None:
            n = self.cache[text] = int(self.fn(text))
        return n


def _fill(
    pieces: Sequence[str],
    budget: int,
    reserved: int,
    count: _Counter,
    rng: np.random.Generator,
    make: Callable[[list[str]], str],
    total_for: Callable[[str], int],
) -> tuple[str, int, list[str]]:
    """Draw filler pieces until ``make(chosen)`` is as close to ``budget`` tokens as possible
    without exceeding it; returns (text, token count, chosen pieces)."""
    chosen: list[str] = []
    est = reserved
    while True:
        p = pieces[int(rng.integers(len(pieces)))]
        est += count(p) + 1
        if est > budget:
            break
        chosen.append(p)
    text = make(chosen)
    n = total_for(text)
    for _ in range(12):  # trim: the per-piece estimate can overshoot the joined text
        if n <= budget or not chosen:
            break
        avg = max(1.0, sum(count(p) for p in chosen) / len(chosen))
        del chosen[-max(1, math.ceil((n - budget) / avg)) :]
        text = make(chosen)
        n = total_for(text)
    shrink = False
    for _ in range(16):  # top up: add pieces while the exact count stays within the budget
        avg = max(1.0, n / max(1, len(chosen)))
        if budget - n < 1:
            break
        add = 1 if shrink else max(1, math.floor((budget - n) / avg) - 1)
        trial = chosen + [pieces[int(rng.integers(len(pieces)))] for _ in range(add)]
        t_text = make(trial)
        t_n = total_for(t_text)
        if t_n > budget:
            if add == 1:
                break
            shrink = True
            continue
        chosen, text, n = trial, t_text, t_n
    return text, n, chosen


def _insert_at(sentences: list[str], depth: float, needle: str) -> list[str]:
    i = round(depth * len(sentences))
    return [*sentences[:i], needle, *sentences[i:]]


def _needle_item(
    family: str,
    lang: str,
    length: int,
    depth: float,
    rng: np.random.Generator,
    filler: Sequence[str],
    count: _Counter,
    total_for: Callable[[str], int],
) -> tuple[str, list[str], list[str]]:
    t = _TEXTS[lang]
    numbers: set[str] = set()
    words = _distinct_words(rng, lang, 4, set())
    key = words[0]
    needles: list[tuple[str, bool]] = []  # (text, is the needle the depth refers to)
    forbidden: list[str] = []
    if family == "niah_single":
        refs = [_number(rng, numbers)]
        needles.append((t.needle.format(key=key, value=refs[0]), True))
        question = t.question_single.format(key=key)
    elif family == "niah_multikey":
        refs = [_number(rng, numbers)]
        needles.append((t.needle.format(key=key, value=refs[0]), True))
        for other in words[1:]:
            v = _number(rng, numbers)
            forbidden.append(v)
            needles.append((t.needle.format(key=other, value=v), False))
        question = t.question_single.format(key=key)
    else:  # niah_multivalue
        refs = [_number(rng, numbers) for _ in range(4)]
        needles.extend((t.needle.format(key=key, value=v), i == 0) for i, v in enumerate(refs))
        question = t.question_multi.format(key=key)
    pos_seed = int(rng.integers(2**32))
    main = needles[0][0]
    extras = [n for n, _ in needles[1:]]

    def make(chosen: list[str]) -> str:
        # extra needles at seeded positions, then the first needle at the asked depth
        local = np.random.default_rng([pos_seed, len(chosen)])
        body = list(chosen)
        for text in extras:
            body.insert(int(local.integers(0, len(body) + 1)), text)
        body = _insert_at(body, depth, main)
        return f"{t.intro}\n{' '.join(body)}\n{question}\nAnswer:"

    reserved = count(t.intro) + count(question) + sum(count(n) + 1 for n, _ in needles) + 4
    if length - reserved < 20:
        raise InputError(f"length {length} is too short for {family}")
    text, _, _ = _fill(filler, length, reserved, count, rng, make, total_for)
    return text, refs, forbidden


def _vt_item(
    lang: str,
    length: int,
    depth: float,
    rng: np.random.Generator,
    filler: Sequence[str],
    count: _Counter,
    total_for: Callable[[str], int],
    hops: int = 4,
) -> tuple[str, list[str], list[str]]:
    t = _TEXTS[lang]
    numbers: set[str] = set()
    names: set[str] = set()
    value = str(int(rng.integers(10_000, 100_000)))
    other = value
    while other == value:
        other = str(int(rng.integers(10_000, 100_000)))
    numbers.update({value, other})
    chain = [_var_name(rng, names) for _ in range(hops + 1)]
    decoy = [_var_name(rng, names) for _ in range(hops + 1)]

    def statements(vars_: list[str], v: str) -> list[str]:
        out = [f"VAR {vars_[0]} = {v}."]
        out += [f"VAR {vars_[i]} = VAR {vars_[i - 1]}." for i in range(1, len(vars_))]
        return out

    main = statements(chain, value)
    dec = statements(decoy, other)
    question = t.vt_question.format(value=value)

    def make(chosen: list[str]) -> str:
        n = len(chosen)
        # the chain starts at the depth and its links follow, in order, through the rest;
        # the decoy chain is spread evenly over the whole text
        start = round(depth * n)
        inserts = [
            (int(p), 0, k, main[k]) for k, p in enumerate(np.linspace(start, n, len(main)).round())
        ]
        inserts += [
            (int(p), 1, k, dec[k])
            for k, p in enumerate(np.linspace(0, n, len(dec) + 2).round()[1:-1])
        ]
        inserts.sort()
        body: list[str] = []
        j = 0
        for i in range(n + 1):
            while j < len(inserts) and inserts[j][0] == i:
                body.append(inserts[j][3])
                j += 1
            if i < n:
                body.append(chosen[i])
        return f"{t.vt_intro}\n{' '.join(body)}\n{question}\nAnswer:"

    reserved = count(t.vt_intro) + count(question) + sum(count(x) + 1 for x in main + dec) + 4
    text, _, _ = _fill(filler, length, reserved, count, rng, make, total_for)
    return text, chain, decoy


def _cwe_item(
    lang: str,
    length: int,
    rng: np.random.Generator,
    count: _Counter,
    total_for: Callable[[str], int],
    k: int = 5,
    freq_common: int = 10,
    freq_rare: int = 3,
) -> tuple[str, list[str], list[str]]:
    t = _TEXTS[lang]
    common = _distinct_words(rng, lang, k, set())
    question = t.cwe_question.format(k=k)
    per_entry = count(f"{100}. {common[0]}") + 1
    slots = max(0, (length - count(t.cwe_intro) - count(question) - 8) // max(1, per_entry))
    if slots < k * freq_common + 2 * freq_rare:
        # a short list in an expensive tokenisation: fewer repeats of the common words, still
        # at least two more than the rare ones (outputs of lists that fit are unchanged)
        freq_common = max(freq_rare + 2, (slots - 2 * freq_rare) // k)
    n_rare = (slots - k * freq_common) // freq_rare
    if n_rare < 2:
        raise InputError(f"length {length} is too short for cwe ({slots} word slots)")
    rare = _distinct_words(rng, lang, n_rare, set(common))

    pos_seed = int(rng.integers(2**32))

    def make_n(n: int) -> str:
        words = common * freq_common + rare[:n] * freq_rare
        order = np.random.default_rng([pos_seed, n]).permutation(len(words))
        listing = " ".join(f"{i + 1}. {words[int(j)]}" for i, j in enumerate(order))
        return f"{t.cwe_intro}\n{listing}\n{question}\nAnswer:"

    n = n_rare
    text = make_n(n)
    total = total_for(text)
    for _ in range(24):  # re-size from the measured tokens per entry, ending within the length
        per = total / (k * freq_common + n * freq_rare)
        step = math.floor((length - total) / (per * freq_rare))
        if total > length:
            step = min(step, -1)
        elif step <= 0:
            break
        while True:
            n_new = max(2, n + step)
            if n_new > len(rare):
                rare += _distinct_words(rng, lang, n_new - len(rare), set(common) | set(rare))
            t_text = make_n(n_new)
            t_total = total_for(t_text)
            if t_total > length and total <= length and step > 1:
                step //= 2
                continue
            break
        if t_total > length and total <= length:
            break
        n, text, total = n_new, t_text, t_total
        if n == 2:
            break
    return text, common, rare[:n]


def item_id(family: str, lang: str, length: int, depth: float | None, repeat: int) -> str:
    d = "na" if depth is None else f"{round(depth * 100):03d}"
    return f"{family}-{lang}-{length}-d{d}-r{repeat}"


def generate(
    config: HaystackConfig,
    filler: Mapping[str, Sequence[str]],
    token_counter: TokenCounter | None = None,
    counter_name: str = "estimate",
) -> list[Item]:
    """Every (family, language, length, depth, repeat) cell of ``config``, in that order.

    ``filler`` maps a language to its haystack sentences. ``cwe`` has no depth and is built
    once per (language, length, repeat).
    """
    count = _Counter(token_counter)
    total_for = token_counter or estimate_tokens
    items: list[Item] = []
    for family in config.families:
        for lang in config.languages:
            if lang not in filler:
                raise InputError(f"no haystack sentences for language {lang!r}")
            for length in config.lengths:
                depths: Sequence[float | None] = (
                    config.depths if family in DEPTH_FAMILIES else (None,)
                )
                for depth in depths:
                    for rep in range(config.repeats):
                        iid = item_id(family, lang, length, depth, rep)
                        ss = np.random.SeedSequence([config.seed, zlib.crc32(iid.encode())])
                        rng = np.random.default_rng(ss)
                        if family == "cwe":
                            text, refs, forbid = _cwe_item(lang, length, rng, count, total_for)
                        elif family == "vt":
                            assert depth is not None
                            text, refs, forbid = _vt_item(
                                lang, length, depth, rng, filler[lang], count, total_for
                            )
                        else:
                            assert depth is not None
                            text, refs, forbid = _needle_item(
                                family, lang, length, depth, rng, filler[lang], count, total_for
                            )
                        target = json.dumps(
                            {"refs": refs, "forbidden": forbid},
                            ensure_ascii=False,
                            separators=(",", ":"),
                        )
                        items.append(
                            Item(
                                id=iid,
                                kind="exact",
                                prompt=text,
                                target=target,
                                metadata={
                                    "subject": family,
                                    "family": family,
                                    "language": lang,
                                    "length": str(length),
                                    "depth": "" if depth is None else f"{depth:g}",
                                    "tokens": str(total_for(text)),
                                    "counted_by": counter_name,
                                    "generator": f"longctx-v{config.version}",
                                    "seed": str(config.seed),
                                },
                            )
                        )
    return items


class _Words:
    """An answer's words, for whole-word lookups in O(1): runs of ASCII letters/digits
    (case-blind; "1234567입니다" holds 1234567) and every prefix of each Hangul run (Korean
    attaches particles: "바나나는" holds 바나나)."""

    def __init__(self, text: str) -> None:
        self.ascii = {w.lower() for w in re.findall(r"[0-9A-Za-z]+", text)}
        self.hangul = {
            run[:k] for run in re.findall(r"[\uac00-\ud7a3]+", text) for k in range(1, len(run) + 1)
        }

    def __contains__(self, ref: object) -> bool:
        r = str(ref)
        return r in self.hangul if _HANGUL.search(r) else r.lower() in self.ascii


def match(target: str, text: str) -> tuple[float, float]:
    """``(score, recall)``: score 1 when every ref is found and no forbidden string is;
    recall is RULER's ``string_match_all`` (fraction of refs found)."""
    try:
        spec = json.loads(target)
        refs = [str(r) for r in spec["refs"]]
        forbidden = [str(f) for f in spec.get("forbidden", [])]
    except (ValueError, KeyError, TypeError):
        raise InputError(
            f"long-context target {target[:60]!r} is not refs/forbidden JSON"
        ) from None
    words = _Words(text)
    hits = [r in words for r in refs]
    recall = sum(hits) / len(refs) if refs else 0.0
    clean = not any(f in words for f in forbidden)
    return float(all(hits) and clean and bool(refs)), recall
