"""Merkle commitments (RFC 6962), verification naming mismatches, inclusion proofs, rotation."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from sovereval.bench.commitment import (
    Commitment,
    commit,
    inclusion_proof,
    merkle_root,
    rotate,
    verify,
    verify_inclusion,
)
from sovereval.bench.items import Item
from sovereval.bench.loaders import load
from sovereval.errors import InputError
from tests.bench._shared import shared_bench

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _items(n: int) -> list[Item]:
    return [
        Item(id=f"gov-{i}", kind="numeric", prompt=f"{i} 더하기 {i}는?", target=str(2 * i))
        for i in range(n)
    ]


def test_empty_and_single_leaf() -> None:
    assert merkle_root([]) == H(b"")  # RFC 6962: MTH({}) = SHA-256()
    d = b"\x11" * 32
    assert merkle_root([d]) == H(b"\x00" + d)


def test_four_leaf_root_step_by_step() -> None:
    items = _items(4)
    d = sorted(bytes.fromhex(it.content_hash()) for it in items)  # leaves: sorted content hashes
    l0, l1, l2, l3 = (H(b"\x00" + x) for x in d)  # leaf hashes, 0x00 prefix
    n01 = H(b"\x01" + l0 + l1)  # inner nodes, 0x01 prefix
    n23 = H(b"\x01" + l2 + l3)
    root = H(b"\x01" + n01 + n23)
    c = commit(items, NOW)
    assert c.root == root.hex() and c.n == 4


def test_three_leaf_root_splits_at_largest_power_of_two() -> None:
    # n = 3: k = 2, so MTH = H(01 || H(01 || L0 || L1) || L2) (unbalanced right side).
    leaves = [bytes([i]) * 32 for i in range(3)]
    l0, l1, l2 = (H(b"\x00" + x) for x in leaves)
    assert merkle_root(leaves) == H(b"\x01" + H(b"\x01" + l0 + l1) + l2)


def test_root_ignores_order_and_json_round_trips() -> None:
    items = _items(7)
    a = commit(items, NOW, label="round-2 maths")
    b = commit(list(reversed(items)), NOW, label="round-2 maths")
    assert a == b
    again = Commitment.model_validate_json(a.model_dump_json())
    assert again == a and verify(items, again).ok


def test_tampered_set_names_the_item() -> None:
    items = _items(6)
    c = commit(items, NOW)
    tampered = [replace(it, target="13") if it.id == "gov-3" else it for it in items]
    res = verify(tampered, c)
    assert not res.ok and res.altered == ("gov-3",) and not res.missing and not res.unexpected
    assert "altered: gov-3" in res.summary()


def test_missing_and_unexpected_items() -> None:
    items = _items(5)
    c = commit(items, NOW)
    res = verify([*items[:4], Item(id="gov-99", kind="numeric", prompt="?", target="1")], c)
    assert res.missing == ("gov-4",) and res.unexpected == ("gov-99",)
    short = verify(items[:4], c)
    assert not short.ok and short.actual_n == 4 and short.expected_n == 5


def test_root_only_commitment_detects_but_cannot_name() -> None:
    items = _items(5)
    c = commit(items, NOW, publish_leaves=False)
    assert c.leaves is None and verify(items, c).ok
    res = verify([replace(items[0], prompt="바뀐 문제")], c)
    assert not res.ok and res.altered == () and res.summary().startswith("MISMATCH")


def test_duplicate_ids_and_naive_time_refused() -> None:
    with pytest.raises(InputError, match="appears twice"):
        commit([*_items(2), _items(1)[0]], NOW)
    with pytest.raises(InputError, match="timezone"):
        commit(_items(2), datetime(2026, 1, 1))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_inclusion_proofs_verify_for_every_leaf(n: int) -> None:
    items = _items(n)
    root = commit(items, NOW).root
    for it in items:
        proof = inclusion_proof(items, it)
        assert verify_inclusion(it, proof, root)
        # The same proof must not verify a changed item or another root.
        assert not verify_inclusion(replace(it, target="x"), proof, root)
        assert not verify_inclusion(it, proof, "00" * 32)
    # Path length is ceil(log2 n) or one less.
    assert len(inclusion_proof(items, items[0]).path) <= max(0, (n - 1).bit_length())


def test_inclusion_proof_for_absent_item() -> None:
    with pytest.raises(InputError, match="not in the set"):
        inclusion_proof(_items(3), _items(4)[3])


def test_rotation_disjoint_deterministic_order_free() -> None:
    pool = _items(30)
    a = rotate(pool, 3, 8, np.random.default_rng(2026))
    b = rotate(list(reversed(pool)), 3, 8, np.random.default_rng(2026))
    assert a == b
    ids = [it.id for s in a for it in s]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert rotate(pool, 3, 8, np.random.default_rng(2027)) != a
    with pytest.raises(InputError, match="cannot fill 4 rounds of 8"):
        rotate(pool, 4, 8, np.random.default_rng(0))


def test_real_click_set_tamper_detected() -> None:
    items = load("click", shared_bench() / "click" / "Dataset")
    c = commit(items, NOW)
    assert c.n == 1995 and verify(items, c).ok
    victim = items[1000]
    tampered = [
        *items[:1000],
        replace(victim, target="A" if victim.target != "A" else "B"),
        *items[1001:],
    ]
    res = verify(tampered, c)
    assert not res.ok and res.altered == (victim.id,)
