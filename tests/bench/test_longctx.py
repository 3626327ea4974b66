"""Long-context generator (RULER-style haystacks), its loader, scorer and the runner's
"beyond declared context" split."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from sovereval.bench import longctx
from sovereval.bench.catalogue import examples_root, parse_suite
from sovereval.bench.loaders import load
from sovereval.bench.runner import run_suite, split_beyond_context
from sovereval.bench.scorers import ModelOutput, get_scorer
from sovereval.errors import InputError

FILLER = examples_root() / "longctx"


def _gen(**kw: object) -> list:
    opts = {"seed": 7, "version": 1, "lengths": [512, 1024], "depths": [0.0, 0.5, 1.0]}
    opts.update(kw)
    return load("longctx", FILLER, opts)


def test_same_seed_and_version_rebuild_the_same_items() -> None:
    a, b = _gen(), _gen()
    assert [i.content_hash() for i in a] == [i.content_hash() for i in b]
    c = _gen(seed=8)
    assert {i.content_hash() for i in a}.isdisjoint(i.content_hash() for i in c)
    # 4 depth families x 2 languages x 2 lengths x 3 depths + cwe x 2 x 2 = 48 + 4
    assert len(a) == 52
    assert {i.metadata["generator"] for i in a} == {"longctx-v1"}


def test_unknown_version_and_missing_seed_are_refused() -> None:
    with pytest.raises(InputError, match="version 2 is not supported"):
        _gen(version=2)
    with pytest.raises(InputError, match="'seed'"):
        load("longctx", FILLER, {"version": 1, "lengths": [512]})


def test_lengths_are_met_by_the_estimate_within_ten_percent() -> None:
    for it in _gen():
        n, length = int(it.metadata["tokens"]), int(it.metadata["length"])
        assert n == longctx.estimate_tokens(it.prompt)
        assert 0.9 * length <= n <= length, it.id


def test_model_tokenizer_is_used_when_given() -> None:
    # A counter of one token per whitespace-separated word: the haystack must fit it.
    def words(text: str) -> int:
        return len(text.split())

    items = load(
        "longctx",
        FILLER,
        {
            "seed": 1,
            "version": 1,
            "lengths": [600],
            "families": ["niah_single"],
            "languages": ["en"],
            "_token_counter": words,
            "_counter_name": "tokenizer:w",
        },
    )
    for it in items:
        assert it.metadata["counted_by"] == "tokenizer:w"
        assert 540 <= words(it.prompt) == int(it.metadata["tokens"]) <= 600


def test_needle_sits_at_its_depth_and_distractors_are_present() -> None:
    items = {i.id: i for i in _gen(families=["niah_single", "niah_multikey"], languages=["en"])}
    for depth, where in (("000", "start"), ("100", "end")):
        it = items[f"niah_single-en-1024-d{depth}-r0"]
        body = it.prompt.split("\n")[1]
        needle = re.search(r"One of the special magic numbers for \w+ is: \d+\.", body)
        assert needle is not None
        if where == "start":
            assert body.startswith(needle.group(0))
        else:
            assert body.endswith(needle.group(0))
    mk = items["niah_multikey-en-1024-d050-r0"]
    spec = __import__("json").loads(mk.target)
    assert len(spec["refs"]) == 1 and len(spec["forbidden"]) == 3
    # every value appears exactly once in the haystack; the asked key is the ref's
    for v in spec["refs"] + spec["forbidden"]:
        assert mk.prompt.count(v) == 1
    key = re.search(r"magic number for (\w+) mentioned", mk.prompt).group(1)  # type: ignore[union-attr]
    assert f"for {key} is: {spec['refs'][0]}." in mk.prompt
    # the depth-0.5 needle is near the middle of the body (within 10% of its sentences)
    body = mk.prompt.split("\n")[1]
    pos = body.index(f"for {key} is:") / len(body)
    assert 0.4 < pos < 0.6


def test_variable_tracking_answer_is_what_following_the_chain_gives() -> None:
    for it in _gen(families=["vt"]):
        binds: dict[str, str] = {}
        for name, rhs in re.findall(r"VAR ([A-Z]{5}) = (VAR [A-Z]{5}|\d+)\.", it.prompt):
            binds[name] = binds[rhs[4:]] if rhs.startswith("VAR ") else rhs
        value = re.search(r"(?:value|값) (\d+)", it.prompt.split("\n")[-2]).group(1)  # type: ignore[union-attr]
        expected = sorted(n for n, v in binds.items() if v == value)
        spec = __import__("json").loads(it.target)
        assert sorted(spec["refs"]) == expected and len(expected) == 5
        assert sorted(spec["forbidden"]) == sorted(n for n, v in binds.items() if v != value)


def test_common_words_are_the_five_most_frequent() -> None:
    for it in _gen(families=["cwe"]):
        listing = it.prompt.split("\n")[1]
        words = re.findall(r"\d+\. (\S+)", listing)
        freq = Counter(words)
        spec = __import__("json").loads(it.target)
        assert {w for w, _ in freq.most_common(5)} == set(spec["refs"])
        assert all(freq[w] == 10 for w in spec["refs"])  # lists that fit keep 10 repeats
        assert all(c == 3 for w, c in freq.items() if w not in spec["refs"])


def test_match_needs_every_ref_and_no_distractor() -> None:
    target = '{"refs":["1234567"],"forbidden":["7654321"]}'
    assert longctx.match(target, "The number is 1234567.") == (1.0, 1.0)
    # a longer number containing the ref is not the ref
    assert longctx.match(target, "12345678") == (0.0, 0.0)
    # listing the distractor too is not rewarded (RULER's recall would be 1)
    assert longctx.match(target, "1234567 or 7654321") == (0.0, 1.0)
    multi = '{"refs":["11","22","33","44"],"forbidden":[]}'
    assert longctx.match(multi, "11, 22 and 44") == (0.0, 0.75)
    ko = '{"refs":["바나나","사과"],"forbidden":[]}'
    assert longctx.match(ko, "사과와 바나나는") == (1.0, 1.0)
    item = _gen(families=["niah_single"], languages=["ko"], lengths=[512], depths=[0.5])[0]
    ref = __import__("json").loads(item.target)["refs"][0]
    score = get_scorer("longctx_match")(item, ModelOutput(text=f"정답은 {ref}입니다."))
    assert score.value == 1.0 and score.metrics["recall"] == 1.0


def test_items_beyond_the_declared_window_are_set_apart() -> None:
    items = _gen(lengths=[512, 2048], families=["niah_single"])
    within, beyond = split_beyond_context(items, 1024, 64)
    assert {i.metadata["length"] for i in within} == {"512"}
    assert {i.metadata["length"] for i in beyond} == {"2048"}
    assert split_beyond_context(items, None, 64) == (items, [])


SUITE = """
name: lc
part: government
data: package
tasks:
  - name: longctx
    loader: longctx
    path: longctx
    options: {seed: 3, version: 1, lengths: [512, 2048], depths: [0.5], families: [niah_single, cwe]}
    kind: exact
    scorer: longctx_match
    prompt: plain
    skill: comprehension
    category: long_context
"""


def test_run_reports_beyond_context_instead_of_failing(tmp_path: Path) -> None:
    suite = parse_suite(SUITE)
    run = run_suite(suite, "mock:?context=1024", journal_dir=tmp_path, max_tokens=32)
    assert run.outcome.error is None
    assert run.context_window == 1024
    ran = {r.item_id for r in run.outcome.results}
    beyond = {i.id for i in run.beyond_context["longctx"]}
    # 2 families x 2 languages x 2 lengths = 8 items; the 4 at 2048 tokens are beyond 1024
    assert len(ran) == 4 and len(beyond) == 4 and ran.isdisjoint(beyond)
    assert all("-2048-" in i for i in beyond)
    assert all(r.score == 0.0 for r in run.outcome.results)  # the mock names a letter
