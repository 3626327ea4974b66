"""Commitments to private item sets: Merkle roots published before a round, checked after.

The tree is RFC 6962's Merkle Tree Hash (Certificate Transparency, section 2.1) with its
domain separation, which stops a leaf from being passed off as an inner node:

    MTH({})      = SHA-256()
    MTH({d0})    = SHA-256(0x00 || d0)                       (leaf)
    MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = largest power of 2 < n

The leaves ``d_i`` are the 32-byte item content hashes (``Item.content_hash``) sorted in
ascending order, so the root depends on the set, not on file order. Inclusion proofs are
RFC 6962's audit paths, verified with RFC 9162 section 2.1.3.2's algorithm.

A commitment may also publish its leaf list (item id -> content hash); then verification
names each altered, missing or unexpected item. Publishing the leaves reveals nothing of
the items' text (SHA-256 is preimage resistant) but lets a holder of a leaked copy confirm
it; with ``publish_leaves=False`` only the root and size are public and a failed check
can say only that the set differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sovereval.bench.items import Item
from sovereval.errors import InputError

ALGORITHM = "rfc6962-sha256;leaves=sorted(item.content_hash)"


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(content_hash: bytes) -> bytes:
    return _h(b"\x00" + content_hash)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH over ``leaves`` (already in order)."""
    if not leaves:
        return _h(b"")
    level = [leaf_hash(d) for d in leaves]
    return _mth(level)


def _mth(hashed: Sequence[bytes]) -> bytes:
    if len(hashed) == 1:
        return hashed[0]
    k = _split(len(hashed))
    return node_hash(_mth(hashed[:k]), _mth(hashed[k:]))


def _sorted_leaves(items: Sequence[Item]) -> list[tuple[str, str]]:
    """``(content_hash, id)`` sorted by hash; InputError on duplicate ids or duplicate items."""
    pairs = sorted((it.content_hash(), it.id) for it in items)
    ids = [i for _, i in pairs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"item id {dup!r} appears twice in the set; ids must be unique")
    return pairs


class LeafEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    hash: str


class Commitment(BaseModel):
    """What is published before a round (JSON via ``model_dump_json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: str = Field(pattern=r"^[0-9a-f]{64}$")
    n: int = Field(ge=0)
    algorithm: str = ALGORITHM
    created: datetime
    label: str = ""
    leaves: list[LeafEntry] | None = None
    """Sorted by hash; present only when the organiser chose to publish them."""


def set_root(items: Sequence[Item]) -> str:
    """The Merkle root (hex) a commitment to ``items`` would publish."""
    return merkle_root([bytes.fromhex(h) for h, _ in _sorted_leaves(items)]).hex()


def commit(
    items: Sequence[Item], now: datetime, label: str = "", publish_leaves: bool = True
) -> Commitment:
    """Commit to ``items``: Merkle root, size, and optionally the leaf list."""
    if now.tzinfo is None:
        raise InputError("commit needs a timezone-aware 'now'")
    pairs = _sorted_leaves(items)
    root = merkle_root([bytes.fromhex(h) for h, _ in pairs]).hex()
    leaves = [LeafEntry(id=i, hash=h) for h, i in pairs] if publish_leaves else None
    return Commitment(root=root, n=len(pairs), created=now, label=label, leaves=leaves)


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    expected_root: str
    actual_root: str
    expected_n: int
    actual_n: int
    altered: tuple[str, ...] = ()
    """Ids committed and revealed whose content differs."""
    missing: tuple[str, ...] = ()
    """Ids committed but not revealed."""
    unexpected: tuple[str, ...] = ()
    """Ids revealed but not committed."""

    def summary(self) -> str:
        if self.ok:
            return f"verified: {self.actual_n} items match root {self.expected_root[:16]}…"
        parts = [f"root {self.actual_root[:16]}… != committed {self.expected_root[:16]}…"]
        if self.expected_n != self.actual_n:
            parts.append(f"{self.actual_n} items revealed, {self.expected_n} committed")
        for label, ids in (
            ("altered", self.altered),
            ("missing", self.missing),
            ("unexpected", self.unexpected),
        ):
            if ids:
                parts.append(f"{label}: {', '.join(ids[:10])}" + (" …" if len(ids) > 10 else ""))
        return "MISMATCH: " + "; ".join(parts)


def verify(revealed: Sequence[Item], commitment: Commitment) -> VerificationResult:
    """Check a revealed set against its commitment; name the mismatching items if possible."""
    if commitment.algorithm != ALGORITHM:
        raise InputError(
            f"commitment algorithm {commitment.algorithm!r} is not supported ({ALGORITHM})"
        )
    pairs = _sorted_leaves(revealed)
    root = merkle_root([bytes.fromhex(h) for h, _ in pairs]).hex()
    ok = root == commitment.root and len(pairs) == commitment.n
    altered: list[str] = []
    missing: list[str] = []
    unexpected: list[str] = []
    if not ok and commitment.leaves is not None:
        committed = {e.id: e.hash for e in commitment.leaves}
        got = {i: h for h, i in pairs}
        altered = sorted(i for i in committed.keys() & got.keys() if committed[i] != got[i])
        missing = sorted(committed.keys() - got.keys())
        unexpected = sorted(got.keys() - committed.keys())
    return VerificationResult(
        ok,
        commitment.root,
        root,
        commitment.n,
        len(pairs),
        tuple(altered),
        tuple(missing),
        tuple(unexpected),
    )


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    path: tuple[str, ...]
    """Sibling hashes, hex, from the leaf up (RFC 6962 audit path)."""


def _path(m: int, hashed: Sequence[bytes]) -> list[bytes]:
    n = len(hashed)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, hashed[:k]), _mth(hashed[k:])]
    return [*_path(m - k, hashed[k:]), _mth(hashed[:k])]


def inclusion_proof(items: Sequence[Item], item: Item) -> InclusionProof:
    """Audit path proving ``item`` is in the committed set built from ``items``."""
    pairs = _sorted_leaves(items)
    target = item.content_hash()
    hashes = [h for h, _ in pairs]
    try:
        m = hashes.index(target)
    except ValueError:
        raise InputError(f"item {item.id} (content as given) is not in the set") from None
    hashed = [leaf_hash(bytes.fromhex(h)) for h in hashes]
    return InclusionProof(m, len(hashes), tuple(p.hex() for p in _path(m, hashed)))


def verify_inclusion(item: Item, proof: InclusionProof, root: str) -> bool:
    """RFC 9162 section 2.1.3.2: recompute the root from the leaf and its audit path."""
    if not 0 <= proof.leaf_index < proof.tree_size:
        return False
    fn, sn = proof.leaf_index, proof.tree_size - 1
    r = leaf_hash(bytes.fromhex(item.content_hash()))
    for p_hex in proof.path:
        p = bytes.fromhex(p_hex)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r.hex() == root


def rotate(
    pool: Sequence[Item], n_rounds: int, per_round: int, rng: np.random.Generator
) -> list[list[Item]]:
    """Split a pool into ``n_rounds`` disjoint sets of ``per_round`` items.

    The pool is first put in content-hash order, so the split depends only on the set and on
    ``rng`` (pass ``numpy.random.default_rng(published_seed)`` to make it re-checkable).
    Each round's set keeps content-hash order.
    """
    if n_rounds < 1 or per_round < 1:
        raise InputError("n_rounds and per_round must be positive")
    need = n_rounds * per_round
    if need > len(pool):
        raise InputError(f"pool of {len(pool)} items cannot fill {n_rounds} rounds of {per_round}")
    ordered = [it for _, it in sorted(((it.content_hash(), it) for it in pool), key=lambda p: p[0])]
    _sorted_leaves(ordered)
    perm = rng.permutation(len(ordered))[:need]
    return [
        sorted(
            (ordered[int(i)] for i in perm[r * per_round : (r + 1) * per_round]),
            key=Item.content_hash,
        )
        for r in range(n_rounds)
    ]
