"""Contamination: n-gram overlap between benchmark items and a team's training-data sample.

Method (after GPT-3, Brown et al. 2020, appendix C: an item is "dirty" if any of its
13-grams occurs in the training data), adapted to Korean:

- Text is normalised: NFKC, case-folded, punctuation and symbols turned into spaces.
- Items written mostly in CJK/Hangul script (share of such letters >= ``cjk_threshold``)
  use **character** n-grams (default 50) over the text with all whitespace removed, because
  Korean spacing (띄어쓰기) is inconsistent and word tokens would miss copies that differ only
  in spacing. Other items use whitespace-token n-grams (default 13).
- An item shorter than n but at least ``min_chars``/``min_tokens`` long is checked with one
  window of its own length rounded down to a bucket (multiples of 10 characters, or exact
  token counts); shorter items are reported as unchecked.

Memory stays bounded by the *items*: their n-gram hashes sit in a sorted ``uint64`` array,
and the training sample is streamed in chunks and never stored. Window hashes are a
polynomial rolling hash mod 2^64 computed with numpy prefix sums (Karp & Rabin 1987); every
hash hit is confirmed by comparing the actual characters/tokens, so collisions cannot flag
an item.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sovereval.bench.items import Item
from sovereval.bench.stats import Interval, bootstrap_ci
from sovereval.errors import InputError

_BASE = 0x100000001B3  # odd, so invertible mod 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)


@dataclass(frozen=True)
class NgramConfig:
    token_n: int = 13
    char_n: int = 50
    cjk_threshold: float = 0.3
    min_tokens: int = 8
    min_chars: int = 20
    min_matches: int = 1
    """An item is contaminated when at least this many of its distinct n-grams are found."""


_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """NFKC, case-fold, every run of non-alphanumeric characters to one space."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u4e00-\u9fff\uac00-\ud7a3]")
_LETTER = re.compile(r"[^\W\d_]")


def is_cjk(text: str, threshold: float = 0.3) -> bool:
    """True if at least ``threshold`` of the letters are Hangul, kana or CJK ideographs."""
    letters = len(_LETTER.findall(text))
    return letters > 0 and len(_CJK.findall(text)) / letters >= threshold


def item_segments(item: Item) -> list[str]:
    """The texts checked for an item: each turn (or the prompt), and the choices joined.

    Segments are indexed separately so that a short question followed by its choices still
    gets a window of its own instead of only windows straddling question and choices.
    """
    parts = list(item.turns) if item.turns else [item.prompt]
    if item.choices:
        parts.append("\n".join(item.choices))
    return parts


Rolling = tuple[np.ndarray, np.ndarray]


def _rolling(codes: np.ndarray) -> Rolling:
    """Prefix sums P[k] = sum_{t<k} codes[t] B^t and inverse powers B^-i, all mod 2^64."""
    with np.errstate(over="ignore"):
        pw = np.ones(codes.size, dtype=np.uint64)
        inv = np.ones(codes.size, dtype=np.uint64)
        if codes.size > 1:
            pw[1:] = np.cumprod(np.full(codes.size - 1, _BASE, dtype=np.uint64))
            inv[1:] = np.cumprod(np.full(codes.size - 1, _BASE_INV, dtype=np.uint64))
        prefix = np.zeros(codes.size + 1, dtype=np.uint64)
        prefix[1:] = np.cumsum(codes.astype(np.uint64) * pw, dtype=np.uint64)
    return prefix, inv


def _window_hashes(codes: np.ndarray, n: int, rolling: Rolling | None = None) -> np.ndarray:
    """h(i) = sum_j codes[i+j] B^j mod 2^64 for every window of length n:
    (P[i+n] - P[i]) * B^-i, so one prefix pass serves every window size."""
    m = codes.size - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    prefix, inv = rolling if rolling is not None else _rolling(codes)
    with np.errstate(over="ignore"):
        return (prefix[n : n + m] - prefix[:m]) * inv[:m]


def _token_codes(tokens: Sequence[str], cache: dict[str, int]) -> np.ndarray:
    out = np.empty(len(tokens), dtype=np.uint64)
    for i, tok in enumerate(tokens):
        code = cache.get(tok)
        if code is None:
            code = int.from_bytes(
                hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "little"
            )
            if len(cache) < 2_000_000:
                cache[tok] = code
        out[i] = code
    return out


def _char_codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


@dataclass(frozen=True)
class _Segment:
    item: int
    seq: tuple[str, ...] | str
    """Normalised characters (str, whitespace removed) or tokens (tuple)."""
    n: int


@dataclass
class ItemIndex:
    """Hashed n-grams of a set of items, grouped by (mode, n)."""

    config: NgramConfig
    item_ids: list[str]
    modes: list[str]
    """Per item ``char`` or ``token``."""
    segments: list[_Segment]
    tables: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    """(mode, n) -> (sorted hashes, segment index, offset in the segment)."""
    filters: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    """(mode, n) -> bitmap over the low hash bits: a cheap first test before the binary search."""
    n_ngrams: list[int] = field(default_factory=list)
    """Per item, distinct (n, hash) n-grams; 0 means unchecked (every segment too short)."""


def _window_size(length: int, full: int, minimum: int, mode: str) -> int | None:
    if length >= full:
        return full
    if length < minimum:
        return None
    return max(minimum, length // 10 * 10) if mode == "char" else length


def build_index(items: Sequence[Item], config: NgramConfig | None = None) -> ItemIndex:
    """Index the n-grams of ``items`` (memory: one uint64 + two int32 per item n-gram)."""
    cfg = config or NgramConfig()
    segments: list[_Segment] = []
    modes: list[str] = []
    groups: dict[tuple[str, int], list[tuple[np.ndarray, int]]] = {}
    n_ngrams: list[int] = []
    cache: dict[str, int] = {}
    for idx, item in enumerate(items):
        texts = [normalise(t) for t in item_segments(item)]
        mode = "char" if is_cjk(" ".join(texts), cfg.cjk_threshold) else "token"
        modes.append(mode)
        item_hashes: list[np.ndarray] = []
        for text in texts:
            if mode == "char":
                chars = text.replace(" ", "")
                seq: tuple[str, ...] | str = chars
                n = _window_size(len(chars), cfg.char_n, cfg.min_chars, mode)
                codes = _char_codes(chars)
            else:
                toks = tuple(text.split())
                seq = toks
                n = _window_size(len(toks), cfg.token_n, cfg.min_tokens, mode)
                codes = _token_codes(toks, cache)
            if n is None:
                continue
            hashes = _window_hashes(codes, n)
            item_hashes.append(hashes ^ np.uint64(n))  # count (n, hash) pairs as one key
            groups.setdefault((mode, n), []).append((hashes, len(segments)))
            segments.append(_Segment(idx, seq, n))
        n_ngrams.append(int(np.unique(np.concatenate(item_hashes)).size) if item_hashes else 0)
    tables = {}
    filters = {}
    for key, parts in groups.items():
        h = np.concatenate([p for p, _ in parts])
        seg = np.concatenate([np.full(p.size, i, dtype=np.int32) for p, i in parts])
        off = np.concatenate([np.arange(p.size, dtype=np.int32) for p, _ in parts])
        order = np.argsort(h, kind="stable")
        tables[key] = (h[order], seg[order], off[order])
        filters[key] = _bitmap(h)
    return ItemIndex(cfg, [it.id for it in items], modes, segments, tables, filters, n_ngrams)


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    """Boolean table of 2^k >= 16 x entries slots (k <= 26): ~1/16 false-positive rate."""
    bits = min(26, max(10, int(hashes.size * 16 - 1).bit_length()))
    table = np.zeros(1 << bits, dtype=np.bool_)
    table[(hashes & np.uint64((1 << bits) - 1)).astype(np.intp)] = True
    return table


@dataclass(frozen=True)
class ItemContamination:
    item_id: str
    mode: str
    n: int
    n_ngrams: int
    n_matched: int
    contaminated: bool


@dataclass(frozen=True)
class ContaminationReport:
    items: tuple[ItemContamination, ...]
    unchecked: tuple[str, ...]
    """Items too short to check."""
    chars_scanned: int

    @property
    def contaminated_ids(self) -> tuple[str, ...]:
        return tuple(r.item_id for r in self.items if r.contaminated)


class Scanner:
    """Streams training text through an :class:`ItemIndex`, in chunks, keeping only a carry."""

    def __init__(self, index: ItemIndex) -> None:
        self.index = index
        self.matched: list[set[int]] = [set() for _ in index.item_ids]
        self.chars = 0
        self._char_tail = ""
        self._tok_tail: list[str] = []
        self._cache: dict[str, int] = {}
        self._max = {
            m: max((n for (mm, n) in index.tables if mm == m), default=0) for m in ("char", "token")
        }

    def feed(self, text: str) -> None:
        self.chars += len(text)
        norm = normalise(text)
        if self._max["char"]:
            seq = self._char_tail + norm.replace(" ", "")
            self._scan("char", seq, _char_codes(seq))
            self._char_tail = seq[-(self._max["char"] - 1) :] if self._max["char"] > 1 else ""
        if self._max["token"]:
            toks = self._tok_tail + norm.split()
            self._scan("token", toks, _token_codes(toks, self._cache))
            self._tok_tail = toks[-(self._max["token"] - 1) :] if self._max["token"] > 1 else []

    def _scan(self, mode: str, seq: Sequence[str] | str, codes: np.ndarray) -> None:
        rolling = _rolling(codes)
        for (m, n), (hashes, seg_idx, offsets) in self.index.tables.items():
            if m != mode:
                continue
            win = _window_hashes(codes, n, rolling)
            if not win.size:
                continue
            bitmap = self.index.filters[(m, n)]
            cand = np.flatnonzero(bitmap[(win & np.uint64(bitmap.size - 1)).astype(np.intp)])
            if not cand.size:
                continue
            pos = np.searchsorted(hashes, win[cand])
            pos[pos == hashes.size] = 0
            sel = hashes[pos] == win[cand]
            hit, pos = cand[sel], pos[sel]
            if not hit.size:
                continue
            ends = np.searchsorted(hashes, win[hit], side="right")
            for w, lo, hi in zip(hit.tolist(), pos.tolist(), ends.tolist(), strict=True):
                gram = tuple(seq[w : w + n])
                for k in range(lo, hi):
                    segment = self.index.segments[int(seg_idx[k])]
                    off = int(offsets[k])
                    # Confirm on the text itself: a 64-bit hash hit alone never flags an item.
                    if tuple(segment.seq[off : off + n]) == gram:
                        self.matched[segment.item].add(int(hashes[k]) ^ n)

    def report(self) -> ContaminationReport:
        cfg = self.index.config
        rows, unchecked = [], []
        widest: dict[int, int] = {}
        for seg in self.index.segments:
            widest[seg.item] = max(widest.get(seg.item, 0), seg.n)
        for i, item_id in enumerate(self.index.item_ids):
            if not self.index.n_ngrams[i]:
                unchecked.append(item_id)
                continue
            k = len(self.matched[i])
            rows.append(
                ItemContamination(
                    item_id,
                    self.index.modes[i],
                    widest[i],
                    self.index.n_ngrams[i],
                    k,
                    k >= cfg.min_matches,
                )
            )
        return ContaminationReport(tuple(rows), tuple(unchecked), self.chars)


def scan_texts(
    items: Sequence[Item], texts: Iterable[str], config: NgramConfig | None = None
) -> ContaminationReport:
    """Check ``items`` against an iterable of training documents/chunks."""
    scanner = Scanner(build_index(items, config))
    for t in texts:
        scanner.feed(t)
    return scanner.report()


def iter_file_chunks(path: Path, chunk_chars: int = 1 << 20) -> Iterable[str]:
    """Yield ~``chunk_chars`` pieces of a UTF-8 text/JSONL file, split at line ends."""
    buf: list[str] = []
    size = 0
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                buf.append(line)
                size += len(line)
                if size >= chunk_chars:
                    yield "".join(buf)
                    buf, size = [], 0
    except OSError as exc:
        raise InputError(f"{path}: cannot read training sample ({exc.strerror})") from exc
    if buf:
        yield "".join(buf)


def scan_file(
    items: Sequence[Item], path: Path, config: NgramConfig | None = None
) -> ContaminationReport:
    """Check ``items`` against a training-data sample file, streamed (memory bounded by items)."""
    return scan_texts(items, iter_file_chunks(path), config)


@dataclass(frozen=True)
class CleanScore:
    all_items: Interval
    clean: Interval | None
    """The score with contaminated items removed (``None`` if every item was removed)."""
    removed: tuple[str, ...]


def clean_score(
    scores: Mapping[str, float],
    report: ContaminationReport,
    rng: np.random.Generator,
    level: float = 0.95,
) -> CleanScore:
    """Task score with and without the contaminated items, each with a bootstrap interval."""
    if not scores:
        raise InputError("no item scores given")
    dirty = set(report.contaminated_ids)
    ids = sorted(scores)
    all_ci = bootstrap_ci([scores[i] for i in ids], rng, level)
    kept = [scores[i] for i in ids if i not in dirty]
    clean = bootstrap_ci(kept, rng, level) if kept else None
    return CleanScore(all_ci, clean, tuple(i for i in ids if i in dirty))
