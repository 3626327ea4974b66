"""OpenAI-compatible HTTP backend (vLLM, SGLang, TGI, llama.cpp ``server``, ``transformers serve``).

Generation goes through ``/chat/completions``. Log-likelihood goes through ``/completions``
with ``echo=true, logprobs=1, max_tokens=0`` where the server supports it (vLLM, llama.cpp):
the echoed prompt tokens carry their log-probabilities and character offsets, and the
continuation is every token that starts at or after the end of the context — the same
context/continuation split lm-evaluation-harness's ``local-completions`` makes with
token ids.

Transport: aiohttp (a core dependency). httpx was measured first: its
connection pool scans every connection on each request, which capped the client at 110-330
requests/s with 32 connections against a 50 ms server (ideal 640); aiohttp reached ~550.

Failures: 429, 5xx, timeouts and connection errors are retried with capped exponential
backoff and full jitter (Brooker, "Exponential Backoff and Jitter", AWS Architecture Blog,
2015); other 4xx fail at once. When retries are exhausted the backend raises one
:class:`BackendError` line naming the URL, what happened and what to do.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import numpy as np

from sovereval.bench.backends.base import (
    Completion,
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
    ModelURI,
)
from sovereval.errors import BackendError, InputError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: np.random.Generator) -> float:
    """Full-jitter backoff: uniform in ``[0, min(cap, base * 2**attempt)]``.

    Full jitter spreads retries of many concurrent clients so they do not hammer a recovering
    server in lock-step (Brooker 2015).
    """
    ceiling = min(cap_s, base_s * (2.0**attempt))
    return float(rng.uniform(0.0, ceiling))


class OpenAICompatBackend:
    """Talks to one model on one OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        concurrency: int = 16,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"server URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng if rng is not None else np.random.default_rng()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._concurrency = max(1, concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP session of the running event loop (aiohttp sessions are loop-bound)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._concurrency),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers=self._headers,
            )
            self._session_loop = loop
        return self._session

    @property
    def uri(self) -> str:
        return f"openai-compat:{self.base_url}#{self.model}"

    @property
    def supports_loglik(self) -> bool:
        # Only servers that echo prompt logprobs can; the first request tells (BackendError).
        return True

    async def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(
                    backoff_delay(
                        attempt - 1,
                        base_s=self.backoff_base_s,
                        cap_s=self.backoff_cap_s,
                        rng=self._rng,
                    )
                )
            try:
                async with self._client().post(url, json=payload) as resp:
                    status = resp.status
                    raw = await resp.read()
            except TimeoutError:
                problem = f"timed out after {self.timeout_s:g} s"
                continue
            except aiohttp.ClientError as exc:
                problem = f"could not be reached ({type(exc).__name__})"
                continue
            if status in RETRYABLE_STATUS:
                problem = f"answered HTTP {status}"
                continue
            if status >= 400:
                detail = raw.decode("utf-8", "replace").replace("\n", " ")[:200]
                raise BackendError(
                    f"model server {url} rejected the request with HTTP {status}: {detail}; "
                    "check the model name and request parameters"
                )
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise BackendError(
                    f"model server {url} returned a body that is not JSON; check that it is an "
                    "OpenAI-compatible endpoint"
                ) from exc
            if not isinstance(body, dict):
                raise BackendError(f"model server {url} returned JSON that is not an object")
            return body
        raise BackendError(
            f"model server {url} {problem} ({self.max_retries + 1} attempts); check that it is "
            "running and reachable, or raise the timeout; finished items are kept, re-run to resume"
        )

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.seed is not None:
            payload["seed"] = params.seed
        body = await self._post("/chat/completions", payload)
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(
                f"model server {self.base_url} returned a chat completion without choices[0].message"
            ) from exc
        usage = body.get("usage") or {}
        return Completion(
            text=str(text),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )

    async def _loglik_one(self, req: LoglikRequest) -> LoglikResult:
        # lm-eval moves trailing whitespace of the context into the continuation.
        context, continuation = req.context, req.continuation
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        payload = {
            "model": self.model,
            "prompt": context + continuation,
            "max_tokens": 0,
            "echo": True,
            "logprobs": 1,
            "temperature": 0.0,
        }
        body = await self._post("/completions", payload)
        return parse_echo_logprobs(body, len(context), self.base_url)

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        return list(await asyncio.gather(*(self._loglik_one(r) for r in requests)))

    async def aclose(self) -> None:
        session = self._session
        if (
            session is not None
            and not session.closed
            and self._session_loop is asyncio.get_running_loop()
        ):
            await session.close()
        self._session = None


def parse_echo_logprobs(body: Mapping[str, Any], context_chars: int, where: str) -> LoglikResult:
    """Sum the echoed log-probabilities of tokens that start at or after ``context_chars``.

    ``is_greedy`` holds when each continuation token is the arg-max of its ``top_logprobs``.
    """
    try:
        lp = body["choices"][0]["logprobs"]
        tokens: list[str] = list(lp["tokens"])
        token_logprobs: list[float | None] = list(lp["token_logprobs"])
        offsets: list[int] = [int(o) for o in lp["text_offset"]]
        top: list[Mapping[str, float] | None] = list(lp.get("top_logprobs") or [None] * len(tokens))
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError(
            f"model server {where} returned no echoed prompt logprobs; this endpoint cannot score "
            "log-likelihood, use a letter-answer (mc_letter) task instead"
        ) from exc
    total = 0.0
    greedy = True
    n = 0
    first = len(tokens)
    for i, (tok, logprob, offset) in enumerate(zip(tokens, token_logprobs, offsets, strict=False)):
        if offset < context_chars:
            continue
        first = min(first, i)
        if logprob is None or not math.isfinite(logprob):
            raise BackendError(
                f"model server {where} returned a null logprob for a continuation token"
            )
        total += float(logprob)
        n += 1
        candidates = top[i] if i < len(top) else None
        if candidates:
            best = max(candidates.items(), key=lambda kv: kv[1])[0]
            greedy = greedy and best == tok
    if n == 0:
        raise BackendError(f"model server {where} echoed no continuation tokens; cannot score")
    return LoglikResult(logprob=total, is_greedy=greedy, n_tokens=n, context_tokens=first)


def make_openai_compat(uri: ModelURI, options: Mapping[str, object]) -> OpenAICompatBackend:
    if not uri.fragment:
        raise InputError(
            f"model URI {uri.raw!r} names no model; append '#model-name' (as the server lists it)"
        )
    kwargs: dict[str, Any] = {}
    for key in ("timeout_s", "backoff_base_s", "backoff_cap_s"):
        if options.get(key) is not None:
            kwargs[key] = float(options[key])  # type: ignore[arg-type]
    for key in ("max_retries", "concurrency"):
        if options.get(key) is not None:
            kwargs[key] = int(options[key])  # type: ignore[call-overload]
    if options.get("api_key"):
        kwargs["api_key"] = str(options["api_key"])
    if isinstance(options.get("rng"), np.random.Generator):
        kwargs["rng"] = options["rng"]
    return OpenAICompatBackend(uri.target, uri.fragment, **kwargs)
