"""Tokenizer overlap between two checkpoints: declared evidence, not weight evidence.

Teams routinely adopt an open tokenizer, so a shared vocabulary is legitimate and says nothing
by itself about copied weights. It is still worth reporting: a vocabulary, merge list and
special-token set that are identical to a foreign model's tell reviewers which model to compare
weights with, and the token ids two vocabularies agree on let the weight engine line up
embedding rows of shared tokens (design section 3, step 3).

Statistics (each a plain set computation, so 150k-token vocabularies take milliseconds):

- vocabulary Jaccard ``|A ∩ B| / |A ∪ B|`` (Jaccard 1901);
- identical prefix of the BPE merge list: BPE applies merges in rank order (Sennrich et al.
  2016), so two tokenizers that share the first *k* merges segment text identically as far as
  those merges go; a long common prefix means the merge table was copied, not re-learned;
- merge-set Jaccard and merge-rank agreement (shared merges at the same rank);
- special-token overlap (Jaccard over the special-token strings);
- token-id agreement: the fraction of shared tokens that have the same id in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, filterfalse, islice, takewhile
from operator import eq, itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from sovereval.errors import InputError
from sovereval.provenance.declared import DECLARED_NOTE

TOKENIZER_NOTE = (
    DECLARED_NOTE + " Teams often adopt an open tokenizer; overlap tells reviewers which "
    "model to compare weights with, it does not show that weights were taken."
)
#: How many example tokens only one side has are listed in a report.
_EXAMPLES = 10


def _str_list(items: Any, what: str) -> list[str]:
    """``items`` as a list of str, checked with C-level ``map(type, ...)`` (no per-item bytecode)."""
    out = list(items)
    if out and not set(map(type, out)) <= {str}:
        raise InputError(f"tokenizer {what} must contain only strings")
    return out


class _Vocab:
    """A vocabulary in the cheapest form for set comparisons.

    ``tokens`` are ordered by id; when ids are positions and no token repeats (the usual
    case) only a hash set is built; the token -> id dict is built on demand.
    """

    def __init__(self, tokens: list[str], ids: list[int] | None) -> None:
        self.tokens = tokens
        self._ids = ids
        self.keys: set[str] = set(tokens)
        self.positional = ids is None and len(self.keys) == len(tokens)
        self._index: dict[str, int] | None = None

    @property
    def index(self) -> dict[str, int]:
        """Token -> id; a repeated token keeps its first id."""
        if self._index is None:
            ids = self._ids if self._ids is not None else range(len(self.tokens))
            self._index = dict(zip(reversed(self.tokens), reversed(ids), strict=True))
        return self._index

    def lookup(self) -> Sequence[str] | Mapping[str, int]:
        return self.tokens if self.positional else self.index


def _vocab(vocab: Any) -> _Vocab:
    if isinstance(vocab, Mapping):
        if vocab and not (
            set(map(type, vocab.keys())) <= {str} and set(map(type, vocab.values())) <= {int}
        ):
            raise InputError("tokenizer vocab mapping must be token (str) -> id (int)")
        items = sorted(vocab.items(), key=itemgetter(1, 0))
        ids = [v for _, v in items]
        return _Vocab([k for k, _ in items], None if ids == list(range(len(ids))) else ids)
    if isinstance(vocab, Sequence) and not isinstance(vocab, str | bytes):
        return _Vocab(_str_list(vocab, "vocab list"), None)
    raise InputError("tokenizer vocab must be a list of tokens or a token -> id mapping")


def vocab_index(vocab: Any) -> dict[str, int]:
    """Token -> id from a vocabulary given as a list (index = id) or a token->id mapping.

    A token listed twice (GGUF vocabularies sometimes repeat padding tokens) keeps its first id.
    """
    return _vocab(vocab).index


def _pair_key(m: Any) -> str:
    if isinstance(m, Sequence) and not isinstance(m, str | bytes) and len(m) == 2:
        left, right = m
        if isinstance(left, str) and isinstance(right, str):
            # "a b" is the string form of ("a", "b"); a left part containing a space cannot be
            # written in string form, so it gets an unambiguous separator instead.
            return f"{left}\x00{right}" if " " in left else f"{left} {right}"
    raise InputError("tokenizer merge entries must be 'a b' strings or [a, b] pairs")


def normalise_merges(merges: Any) -> list[str]:
    """BPE merges as canonical keys, from either ``"a b"`` strings or ``["a", "b"]`` pairs.

    The two forms appear in ``tokenizer.json`` (older and newer ``tokenizers`` releases) and in
    GGUF ``tokenizer.ggml.merges``; ``["a", "b"]`` maps to ``"a b"`` so a GGUF and a
    safetensors copy compare equal. All-string lists (the common case) are taken as they are.
    """
    if merges is None:
        return []
    if not isinstance(merges, Sequence) or isinstance(merges, str | bytes):
        raise InputError("tokenizer merges must be a list of 'a b' strings or [a, b] pairs")
    out = list(merges)
    if out and not set(map(type, out)) <= {str}:
        out = [m if type(m) is str else _pair_key(m) for m in out]
    return out


def special_tokens(
    tokenizer: Mapping[str, Any], vocab: Sequence[str] | Mapping[str, int] | None = None
) -> frozenset[str]:
    """Special-token strings of a tokenizer.

    ``special_tokens`` may map names to strings (``special_tokens_map.json``), to
    ``{"content": ...}`` objects, to lists (``additional_special_tokens``) or to ids (GGUF
    ``tokenizer.ggml.bos_token_id``); ids are resolved through ``vocab`` (a list indexed by
    id, or a token -> id mapping).
    """
    raw = tokenizer.get("special_tokens") or {}
    if not isinstance(raw, Mapping):
        raise InputError("tokenizer special_tokens must be a mapping")
    by_id: Sequence[str] | Mapping[int, str] | None = None
    found: set[str] = set()

    def add(v: Any, depth: int) -> None:
        nonlocal by_id
        if isinstance(v, str):
            found.add(v)
        elif isinstance(v, Mapping) and isinstance(v.get("content"), str):
            found.add(v["content"])
        elif isinstance(v, list | tuple) and depth < 2:
            for x in v[:4096]:
                add(x, depth + 1)
        elif isinstance(v, int) and not isinstance(v, bool) and vocab is not None:
            if by_id is None:
                by_id = {i: t for t, i in vocab.items()} if isinstance(vocab, Mapping) else vocab
            if isinstance(by_id, Mapping):
                if v in by_id:
                    found.add(by_id[v])
            elif 0 <= v < len(by_id):
                found.add(by_id[v])

    for v in raw.values():
        add(v, 0)
    return frozenset(found)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class TokenizerEvidence:
    """Overlap of two tokenizers. Fractions are ``None`` where the denominator is empty."""

    vocab_size_a: int
    vocab_size_b: int
    shared_tokens: int
    vocab_jaccard: float | None
    """``|A ∩ B| / |A ∪ B|`` over token strings."""
    same_id_tokens: int
    id_agreement: float | None
    """Fraction of shared tokens whose id is the same in both vocabularies."""
    merges_a: int
    merges_b: int
    merge_prefix: int
    """Length of the identical leading run of the two merge lists."""
    merge_prefix_fraction: float | None
    """``merge_prefix / min(merges_a, merges_b)``."""
    merges_jaccard: float | None
    merge_rank_agreement: float | None
    """Fraction of shared merges that sit at the same rank in both lists."""
    special_a: tuple[str, ...]
    special_b: tuple[str, ...]
    special_shared: tuple[str, ...]
    special_jaccard: float | None
    only_in_a_examples: tuple[str, ...]
    """Up to ten tokens only A has, lowest id first (shows pruning)."""
    only_in_b_examples: tuple[str, ...]
    """Up to ten tokens only B has, lowest id first (shows extension)."""
    kind: str = "declared"
    note: str = TOKENIZER_NOTE

    @property
    def identical(self) -> bool:
        """Same tokens at the same ids, same merge list, same special tokens."""
        return (
            self.vocab_size_a == self.vocab_size_b == self.same_id_tokens
            and self.merges_a == self.merges_b == self.merge_prefix
            and self.special_a == self.special_b
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "note": self.note, "identical": self.identical}
        for name in self.__dataclass_fields__:
            if name in ("kind", "note"):
                continue
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, tuple) else v
        return out


def tokenizer_evidence(a: Mapping[str, Any], b: Mapping[str, Any]) -> TokenizerEvidence:
    """Compare two ``SourceMeta.tokenizer`` mappings (``vocab``, ``merges``, ``special_tokens``).

    Every step is a hash-set or C-level iterator operation: O(|A| + |B|), no Python loop over
    token pairs.
    """
    va, vb = _vocab(a.get("vocab") or []), _vocab(b.get("vocab") or [])
    shared = len(va.keys & vb.keys)
    union = len(va.keys) + len(vb.keys) - shared
    # Shared tokens with the same id. A token at the same id in both is necessarily shared;
    # when ids are positions that is a C-level position-wise comparison.
    if va.positional and vb.positional:
        same_id = sum(map(eq, va.tokens, vb.tokens))
    else:
        same_id = len(va.index.items() & vb.index.items())

    ma, mb = normalise_merges(a.get("merges")), normalise_merges(b.get("merges"))
    prefix = len(list(takewhile(bool, map(eq, ma, mb))))
    set_a, set_b = set(ma), set(mb)
    m_shared = len(set_a & set_b)
    if len(set_a) == len(ma) and len(set_b) == len(mb):
        m_same_rank = sum(map(eq, ma, mb))
    else:  # repeated merges: rank of first occurrence
        ra = dict(zip(reversed(ma), range(len(ma) - 1, -1, -1), strict=True))
        rb = dict(zip(reversed(mb), range(len(mb) - 1, -1, -1), strict=True))
        m_same_rank = len(ra.items() & rb.items())

    sa, sb = special_tokens(a, va.lookup()), special_tokens(b, vb.lookup())
    s_shared = sa & sb
    only_a = list(islice(filterfalse(vb.keys.__contains__, va.tokens), _EXAMPLES))
    only_b = list(islice(filterfalse(va.keys.__contains__, vb.tokens), _EXAMPLES))
    return TokenizerEvidence(
        vocab_size_a=len(va.keys),
        vocab_size_b=len(vb.keys),
        shared_tokens=shared,
        vocab_jaccard=_ratio(shared, union),
        same_id_tokens=same_id,
        id_agreement=_ratio(same_id, shared),
        merges_a=len(ma),
        merges_b=len(mb),
        merge_prefix=prefix,
        merge_prefix_fraction=_ratio(prefix, min(len(ma), len(mb))),
        merges_jaccard=_ratio(m_shared, len(set_a) + len(set_b) - m_shared),
        merge_rank_agreement=_ratio(m_same_rank, m_shared),
        special_a=tuple(sorted(sa)),
        special_b=tuple(sorted(sb)),
        special_shared=tuple(sorted(s_shared)),
        special_jaccard=_ratio(len(s_shared), len(sa | sb)),
        only_in_a_examples=tuple(only_a),
        only_in_b_examples=tuple(only_b),
    )


def shared_token_ids(
    vocab_a: Any, vocab_b: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ids of the tokens both vocabularies contain, as two aligned arrays sorted by A's id.

    Row ``ids_a[i]`` of A's embedding matrix and row ``ids_b[i]`` of B's embed the same token
    string; the weight engine uses these pairs to align embeddings across vocabulary pruning,
    extension or reordering.
    """
    va, vb = _vocab(vocab_a), _vocab(vocab_b)
    if va.positional:  # ids are positions: a C-level membership mask gives them directly
        mask = np.fromiter(map(vb.keys.__contains__, va.tokens), dtype=bool, count=len(va.tokens))
        ids_a = np.flatnonzero(mask).astype(np.int64)
        toks = list(compress(va.tokens, mask.tolist()))
    else:
        toks = list(dict.fromkeys(filter(vb.keys.__contains__, va.tokens)))
        ids_a = np.fromiter(map(va.index.__getitem__, toks), dtype=np.int64, count=len(toks))
    ids_b = np.fromiter(map(vb.index.__getitem__, toks), dtype=np.int64, count=len(toks))
    order = np.argsort(ids_a, kind="stable")
    return ids_a[order], ids_b[order]
