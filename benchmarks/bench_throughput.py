"""Throughput against an OpenAI-compatible server with a fixed per-request latency.

The server (tests/bench/fake_server.py) sleeps ``latency`` seconds per request, so a client
with ``concurrency`` requests in flight can reach at most ``concurrency / latency`` requests
per second ("ideal"). We measure, in the same run and against the same server:

- our engine (``sovereval.bench.engine.Engine`` + the ``openai-compat`` backend), and
- lm-evaluation-harness's ``local-chat-completions`` model with ``num_concurrent`` equal to
  our concurrency,

and print achieved requests/s, the fraction of ideal, and our ratio to lm-eval.
Goals: >= 0.9 of ideal, >= 1.0x lm-eval.

Run: ``python benchmarks/bench_throughput.py [--requests 400] [--latency 0.05] [--concurrency 8 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.bench.fake_server

from sovereval.bench.backends import GenerateParams, open_backend  # noqa: E402
from sovereval.bench.engine import Engine, EngineTask, Response  # noqa: E402
from sovereval.bench.items import Item  # noqa: E402
from sovereval.bench.prompts import RenderedPrompt  # noqa: E402
from sovereval.bench.scorers import ItemScore  # noqa: E402


class ServerProcess:
    """``python -m tests.bench.fake_server`` in a subprocess; yields its base URL."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        cmd = [sys.executable, "-m", "tests.bench.fake_server", "--latency", str(self.latency)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if line[:1] != ["READY"]:
            raise RuntimeError(f"fake server did not start: {line}")
        return f"http://127.0.0.1:{line[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def _items(n: int) -> tuple[Item, ...]:
    return tuple(
        Item(id=f"q{i}", kind="exact", prompt=f"질문 {i}: 1 + {i} = ?", target=str(i + 1))
        for i in range(n)
    )


def _score(item: Item, prompt: RenderedPrompt, response: Response) -> ItemScore:
    del prompt
    return ItemScore(float(item.target in response.text), None)


def run_ours(url: str, n: int, concurrency: int) -> float:
    task = EngineTask(
        name="throughput",
        items=_items(n),
        render=lambda it: RenderedPrompt(it.prompt),
        method="generate",
        score=_score,
        params=GenerateParams(max_tokens=8),
    )
    backend = open_backend(
        f"openai-compat:{url}#fake-model", concurrency=concurrency, max_retries=0
    )

    async def go() -> float:
        start = time.perf_counter()
        outcome = await Engine(backend, concurrency=concurrency).run([task])
        elapsed = time.perf_counter() - start
        await backend.aclose()
        assert outcome.complete and len(outcome.results) == n
        return elapsed

    return asyncio.run(go())


def run_lmeval(url: str, n: int, concurrency: int) -> float:
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion

    lm = LocalChatCompletion(
        model="fake-model",
        base_url=f"{url}/chat/completions",
        num_concurrent=concurrency,
        max_retries=1,
        tokenizer_backend=None,
        tokenized_requests=False,
    )
    requests = [
        Instance(
            request_type="generate_until",
            doc={},
            arguments=(
                JsonChatStr(
                    json.dumps([{"role": "user", "content": it.prompt}], ensure_ascii=False)
                ),
                {"until": [], "max_gen_toks": 8, "temperature": 0},
            ),
            idx=i,
        )
        for i, it in enumerate(_items(n))
    ]
    start = time.perf_counter()
    out = lm.generate_until(requests, disable_tqdm=True)
    elapsed = time.perf_counter() - start
    assert len(out) == n
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--skip-lmeval", action="store_true")
    args = parser.parse_args()
    logging.getLogger("lm-eval").setLevel(logging.ERROR)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)

    rows = []
    # The server runs in its own process, as a real one would: in-process it would compete
    # with the client for the GIL and the measurement would show the server.
    with ServerProcess(args.latency) as url:
        for c in args.concurrency:
            ideal = c / args.latency
            run_ours(url, min(args.requests, 2 * c), c)  # warm-up: connections, imports
            ours = args.requests / run_ours(url, args.requests, c)
            theirs = None
            if not args.skip_lmeval:
                run_lmeval(url, min(args.requests, 2 * c), c)
                theirs = args.requests / run_lmeval(url, args.requests, c)
            rows.append((c, ideal, ours, theirs))

    print(f"\nfake server latency {args.latency * 1000:.0f} ms, {args.requests} requests per run\n")
    header = f"{'concurrency':>11} {'ideal req/s':>12} {'ours req/s':>11} {'ours/ideal':>10} {'lm-eval req/s':>14} {'lm-eval/ideal':>13} {'ours/lm-eval':>12}"
    print(header)
    print("-" * len(header))
    for c, ideal, ours, theirs in rows:
        t = (
            f"{theirs:14.1f} {theirs / ideal:13.3f} {ours / theirs:12.2f}"
            if theirs
            else f"{'-':>14} {'-':>13} {'-':>12}"
        )
        print(f"{c:11d} {ideal:12.1f} {ours:11.1f} {ours / ideal:10.3f} {t}")


if __name__ == "__main__":
    main()
