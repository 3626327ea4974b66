"""Backends: URI parsing and registry, the mock, the OpenAI-compatible client against the fake
server (retries, dead and slow servers, echo log-likelihood), and the pure packing logic."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.bench import loglik as packing
from sovereval.bench.backends import (
    GenerateParams,
    LoglikRequest,
    Message,
    ModelURI,
    open_backend,
    registered_schemes,
)
from sovereval.bench.backends.openai_compat import backoff_delay, parse_echo_logprobs
from sovereval.errors import BackendError, InputError
from tests.bench.fake_server import FakeServer, chat_answer, token_logprob


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fast(uri: str, **kw: object) -> object:
    opts: dict[str, object] = {
        "backoff_base_s": 0.001,
        "backoff_cap_s": 0.005,
        "rng": np.random.default_rng(0),
    }
    opts.update(kw)
    return open_backend(uri, **opts)


# -- URIs and registry ---------------------------------------------------------------


def test_uri_parsing_keeps_http_query_and_fragment() -> None:
    u = ModelURI.parse("openai-compat:http://10.0.0.1:8000/v1#Qwen/Qwen2.5-7B")
    assert (u.scheme, u.target, u.fragment) == (
        "openai-compat",
        "http://10.0.0.1:8000/v1",
        "Qwen/Qwen2.5-7B",
    )
    h = ModelURI.parse("hf:/models/smol?gguf_file=m.gguf&dtype=float32")
    assert h.target == "/models/smol"
    assert dict(h.options) == {"gguf_file": "m.gguf", "dtype": "float32"}
    assert ModelURI.parse("mock:").target == ""


@pytest.mark.parametrize("bad", ["", "no-scheme-here", ":x", "we ird:x"])
def test_uri_without_scheme_is_refused(bad: str) -> None:
    with pytest.raises(InputError):
        ModelURI.parse(bad)


def test_registry_knows_builtins_and_refuses_unknown() -> None:
    assert {"openai-compat", "hf", "mock"} <= set(registered_schemes())
    with pytest.raises(InputError, match="unknown model backend 'vllm2'"):
        open_backend("vllm2:whatever")
    with pytest.raises(InputError, match="names no model"):
        open_backend("openai-compat:http://127.0.0.1:1/v1")


# -- mock ----------------------------------------------------------------------------


def test_mock_is_deterministic_and_name_dependent() -> None:
    async def go(uri: str) -> tuple[str, float]:
        b = open_backend(uri)
        c = await b.generate([Message("user", "질문")], GenerateParams())
        ll = await b.loglikelihood([LoglikRequest("ctx", " A")])
        return c.text, ll[0].logprob

    a1, a2, b1 = (asyncio.run(go(u)) for u in ("mock:", "mock:", "mock:other"))
    assert a1 == a2
    assert a1 != b1  # different mock names behave like different models (hash differs)
    assert -20.0 < a1[1] <= 0.0


def test_mock_fail_after_raises_backend_error() -> None:
    b = open_backend("mock:?fail_after=2")

    async def go() -> None:
        for _ in range(3):
            await b.generate([Message("user", "x")], GenerateParams())

    with pytest.raises(BackendError, match="fail after 2"):
        asyncio.run(go())


# -- backoff ---------------------------------------------------------------------------


@given(
    attempt=st.integers(0, 20),
    base=st.floats(0.001, 2.0),
    cap=st.floats(0.001, 30.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_backoff_is_full_jitter_within_capped_exponential(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    d = backoff_delay(attempt, base_s=base, cap_s=cap, rng=np.random.default_rng(seed))
    assert 0.0 <= d <= min(cap, base * 2.0**attempt)


def test_backoff_mean_grows_until_cap() -> None:
    rng = np.random.default_rng(1)
    means = [
        np.mean([backoff_delay(k, base_s=1.0, cap_s=4.0, rng=rng) for _ in range(4000)])
        for k in range(4)
    ]
    # Uniform(0, c) has mean c/2: ceilings 1, 2, 4, 4 -> means ~0.5, 1, 2, 2.
    assert means == pytest.approx([0.5, 1.0, 2.0, 2.0], rel=0.08)


# -- OpenAI-compatible client against the fake server ----------------------------------


def test_chat_and_usage_through_fake_server() -> None:
    with FakeServer() as server:
        b = _fast(f"openai-compat:{server.url}#fake-model")

        async def go() -> str:
            c = await b.generate([Message("user", "hello there")], GenerateParams(max_tokens=5))  # type: ignore[attr-defined]
            await b.aclose()  # type: ignore[attr-defined]
            assert c.prompt_tokens == 3  # "user: hello there" -> 3 whitespace tokens
            return str(c.text)

        assert asyncio.run(go()) == chat_answer("user: hello there")
        assert server.requests == 1


def test_retries_transient_failures_then_succeeds() -> None:
    with FakeServer(fail_first=2, fail_status=429) as server:
        b = _fast(f"openai-compat:{server.url}#m", max_retries=3)

        async def go() -> None:
            await b.generate([Message("user", "q")], GenerateParams())  # type: ignore[attr-defined]
            await b.aclose()  # type: ignore[attr-defined]

        asyncio.run(go())
        assert server.by_prompt["user: q"] == 3  # two 429s, then the answer


def test_gives_up_with_one_line_error_naming_the_url() -> None:
    with FakeServer(fail_first=10, fail_status=503) as server:
        b = _fast(f"openai-compat:{server.url}#m", max_retries=2)

        async def go() -> None:
            try:
                await b.generate([Message("user", "q")], GenerateParams())  # type: ignore[attr-defined]
            finally:
                await b.aclose()  # type: ignore[attr-defined]

        with pytest.raises(BackendError) as info:
            asyncio.run(go())
        msg = str(info.value)
        assert "\n" not in msg
        assert f"{server.url}/chat/completions answered HTTP 503" in msg
        assert "3 attempts" in msg
        assert server.requests == 3


def test_client_errors_are_not_retried() -> None:
    with FakeServer(fail_first=10, fail_status=400) as server:
        b = _fast(f"openai-compat:{server.url}#m", max_retries=5)

        async def go() -> None:
            try:
                await b.generate([Message("user", "q")], GenerateParams())  # type: ignore[attr-defined]
            finally:
                await b.aclose()  # type: ignore[attr-defined]

        with pytest.raises(BackendError, match="HTTP 400"):
            asyncio.run(go())
        assert server.requests == 1


def test_dead_server_is_a_clear_backend_error() -> None:
    port = _free_port()  # nothing listens here
    b = _fast(f"openai-compat:http://127.0.0.1:{port}/v1#m", max_retries=1)

    async def go() -> None:
        try:
            await b.generate([Message("user", "q")], GenerateParams())  # type: ignore[attr-defined]
        finally:
            await b.aclose()  # type: ignore[attr-defined]

    with pytest.raises(BackendError) as info:
        asyncio.run(go())
    assert f"http://127.0.0.1:{port}/v1/chat/completions could not be reached" in str(info.value)
    assert "re-run to resume" in str(info.value)


def test_slow_server_times_out() -> None:
    with FakeServer(latency_s=2.0) as server:
        b = _fast(f"openai-compat:{server.url}#m", max_retries=0, timeout_s=0.2)

        async def go() -> None:
            try:
                await b.generate([Message("user", "q")], GenerateParams())  # type: ignore[attr-defined]
            finally:
                await b.aclose()  # type: ignore[attr-defined]

        with pytest.raises(BackendError, match=r"timed out after 0.2 s \(1 attempts\)"):
            asyncio.run(go())


def test_echo_loglik_sums_continuation_tokens() -> None:
    with FakeServer() as server:
        b = _fast(f"openai-compat:{server.url}#m")

        async def go() -> list[float]:
            res = await b.loglikelihood(
                [LoglikRequest("Question: x\nAnswer:", " B"), LoglikRequest("a b ", "c d")]
            )  # type: ignore[attr-defined]
            await b.aclose()  # type: ignore[attr-defined]
            return [r.logprob for r in res]

        got = asyncio.run(go())
    # Fake tokens are whitespace-attached pieces. "Question: x\nAnswer: B" -> the continuation
    # " B" is one token at offset 19. "a b c d" (trailing space moved) -> " c", " d".
    p1 = "Question: x\nAnswer: B"
    want1 = token_logprob(p1[:19], " B")
    p2 = "a b c d"
    want2 = token_logprob(p2[:3], " c") + token_logprob(p2[:5], " d")
    assert got == pytest.approx([want1, want2])


def test_parse_echo_logprobs_hand_example() -> None:
    body = {
        "choices": [
            {
                "logprobs": {
                    "tokens": ["Hi", " there", " you"],
                    "token_logprobs": [None, -1.5, -0.25],
                    "text_offset": [0, 2, 8],
                    "top_logprobs": [None, {" there": -1.5}, {" me": -0.1, " you": -0.25}],
                }
            }
        ]
    }
    r = parse_echo_logprobs(body, 2, "srv")
    # continuation = tokens at offset >= 2: -1.5 + -0.25 = -1.75; " you" is not the top token.
    assert (r.logprob, r.n_tokens, r.is_greedy, r.context_tokens) == (-1.75, 2, False, 1)
    with pytest.raises(BackendError, match="no echoed prompt logprobs"):
        parse_echo_logprobs({"choices": [{"text": "x"}]}, 0, "srv")


# -- packing (pure) ----------------------------------------------------------------------


def _toy_encode(text: str) -> list[int]:
    # One id per character, so splits are easy to compute by hand.
    return [ord(c) for c in text]


def test_encode_pair_moves_trailing_space_like_lm_eval() -> None:
    ctx, cont = packing.encode_pair(_toy_encode, "Q: ", "A")
    assert ctx == [ord("Q"), ord(":")]
    assert cont == [ord(" "), ord("A")]


def test_pack_layout_hand_computed() -> None:
    g = packing.Group(context=(10, 11, 12), continuations=((20,), (30, 31)), request_indices=(0, 1))
    row = packing.pack(g)
    assert row.tokens == (10, 11, 12, 20, 30, 31)
    assert row.positions == (0, 1, 2, 3, 3, 4)  # each continuation restarts at len(context)
    assert row.segments == (0, 0, 0, 1, 2, 2)
    # 20 is predicted from position 2 (last context token); 30 from 2; 31 from 30's slot (4).
    assert row.targets == ((2, 20, 0), (2, 30, 1), (4, 31, 1))
    # 31 (index 5) sees context and 30 but not 20 (index 3, other continuation).
    assert [packing.allowed(row.segments, 5, k) for k in range(6)] == [
        True,
        True,
        True,
        False,
        True,
        True,
    ]


def test_build_groups_shares_context_and_keeps_request_order() -> None:
    pairs = [("ab", "c"), ("ab", "d"), ("x", "y"), ("ab", "e")]
    groups = packing.build_groups(_toy_encode, pairs, prefix_token_id=0, max_length=100)
    assert [g.request_indices for g in groups] == [(0, 1, 3), (2,)]
    empty = packing.build_groups(_toy_encode, [("", "z")], prefix_token_id=7, max_length=100)
    assert empty[0].context == (7,)


def test_build_groups_splits_rows_over_max_length() -> None:
    pairs = [("abcd", "xyz"), ("abcd", "uvw"), ("abcd", "rst")]
    groups = packing.build_groups(_toy_encode, pairs, prefix_token_id=0, max_length=10)
    # 4 context + 3 + 3 = 10 fits; the third continuation needs a new row with the context again.
    assert [g.request_indices for g in groups] == [(0, 1), (2,)]
    assert all(g.length <= 10 for g in groups)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=40), budget=st.integers(300, 5000)
)
def test_batches_respect_token_budget_and_cover_all_rows(lengths: list[int], budget: int) -> None:
    rows = [packing.PackedRow(tuple(range(n)), tuple(range(n)), (0,) * n, ()) for n in lengths]
    batches = packing.batches_by_length(rows, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(rows)))
    for b in batches:
        padded = max(lengths[i] for i in b) * len(b)
        assert padded <= budget or len(b) == 1
