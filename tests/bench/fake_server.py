"""A small OpenAI-compatible server with fixed latency and failure modes, for tests and benchmarks.

Plain asyncio HTTP/1.1 with keep-alive — no framework — so the server itself adds well under a
millisecond per request and throughput measurements show the client, not the server.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions`` (``echo`` + ``logprobs``
supported: whitespace "tokens" with deterministic log-probabilities), ``GET /v1/models``,
``GET /stats`` (requests per prompt) and ``POST /reset``.

Answers are deterministic functions of the prompt (SHA-256), so two runs agree exactly.

With ``backend=`` it instead serves a real :class:`sovereval.bench.backends.Backend` (for
example the local transformers model) on ``/v1/chat/completions`` — the loopback server of the
real-model test. (``transformers serve`` would be the natural choice, but it needs
``accelerate`` to place the model, which this environment does not have.)

Failure modes (constructor arguments or command-line flags):
- ``latency_s``: sleep before every answer;
- ``fail_first``: answer the first N requests for each prompt with ``fail_status`` (retry tests);
- ``fail_every``: answer every k-th request with ``fail_status``;
- ``hang``: never answer (timeout tests).

Run standalone: ``python -m tests.bench.fake_server --port 0 --latency 0.05`` prints
``READY <port>`` on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import threading
from collections import Counter
from typing import Any

LETTERS = "ABCD"


def _h(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def chat_answer(prompt: str) -> str:
    """Deterministic reply: a letter chosen by the prompt's hash."""
    return f"정답: {LETTERS[_h(prompt)[0] % 4]}"


def token_logprob(prefix: str, token: str) -> float:
    raw = int.from_bytes(_h(prefix + "\x00" + token)[:4], "big")
    return -8.0 * raw / 2**32


class FakeServer:
    """The server; use as a context manager (runs on its own thread and event loop)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        fail_first: int = 0,
        fail_every: int = 0,
        fail_status: int = 503,
        hang: bool = False,
        model: str = "fake-model",
        backend: Any = None,
    ) -> None:
        self.backend = backend
        self.latency_s = latency_s
        self.fail_first = fail_first
        self.fail_every = fail_every
        self.fail_status = fail_status
        self.hang = hang
        self.model = model
        self.requests = 0
        self.by_prompt: Counter[str] = Counter()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start_async(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self, port: int = 0) -> FakeServer:
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start_async(port))
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), loop)
        with contextlib.suppress(Exception):
            fut.result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        self.requests = 0
        self.by_prompt.clear()

    # -- HTTP ------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, payload = await self._handle(method, path, body)
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path.endswith("/models"):
            return 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        if method == "GET" and path == "/stats":
            return 200, {"requests": self.requests, "by_prompt": dict(self.by_prompt)}
        if method == "POST" and path == "/reset":
            self.reset()
            return 200, {"ok": True}
        if method != "POST" or not path.endswith(("/chat/completions", "/completions")):
            return 404, {"error": {"message": f"no route {method} {path}"}}
        req = json.loads(body or b"{}")
        chat = path.endswith("/chat/completions")
        if chat:
            msgs = req.get("messages") or []
            prompt = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in msgs)
        else:
            raw = req.get("prompt", "")
            prompt = raw if isinstance(raw, str) else json.dumps(raw)
        self.requests += 1
        self.by_prompt[prompt] += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.by_prompt[prompt] <= self.fail_first or (
            self.fail_every and self.requests % self.fail_every == 0
        ):
            return self.fail_status, {"error": {"message": "injected failure"}}
        if chat:
            text = chat_answer(prompt)
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
            if self.backend is not None:
                text, usage = await self._delegate(req)
            return 200, {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    **usage,
                    "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
                },
            }
        return 200, self._completion(prompt, req)

    async def _delegate(self, req: dict[str, Any]) -> tuple[str, dict[str, int]]:
        from sovereval.bench.backends import GenerateParams, Message

        messages = [Message(m["role"], m["content"]) for m in req.get("messages") or []]
        params = GenerateParams(
            temperature=float(req.get("temperature") or 0.0),
            max_tokens=int(req.get("max_tokens") or 256),
            stop=tuple(req.get("stop") or ()),
            seed=req.get("seed"),
        )
        completion = await self.backend.generate(messages, params)
        usage = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }
        return completion.text, usage

    def _completion(self, prompt: str, req: dict[str, Any]) -> dict[str, Any]:
        tokens: list[str] = []
        offsets: list[int] = []
        i = 0
        # Whitespace-attached tokens: " word" pieces, like a BPE vocabulary with a space marker.
        while i < len(prompt):
            j = i + 1
            while j < len(prompt) and prompt[j] not in " \n":
                j += 1
            tokens.append(prompt[i:j])
            offsets.append(i)
            i = j
        lps: list[float | None] = [None] + [
            token_logprob(prompt[: offsets[k]], tokens[k]) for k in range(1, len(tokens))
        ]
        top = [None] + [{tokens[k]: lps[k]} for k in range(1, len(tokens))]
        choice: dict[str, Any] = {
            "index": 0,
            "text": prompt if req.get("echo") else "",
            "finish_reason": "length",
        }
        if req.get("logprobs") is not None and req.get("echo"):
            choice["logprobs"] = {
                "tokens": tokens,
                "token_logprobs": lps,
                "text_offset": offsets,
                "top_logprobs": top,
            }
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "model": self.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": len(tokens),
                "completion_tokens": 0,
                "total_tokens": len(tokens),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    server = FakeServer(
        latency_s=args.latency,
        fail_first=args.fail_first,
        fail_every=args.fail_every,
        hang=args.hang,
    )

    async def serve() -> None:
        await server.start_async(args.port)
        print(f"READY {server.port}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
