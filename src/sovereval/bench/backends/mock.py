"""A deterministic fake model: same prompt, same answer, on every machine, with no network.

Used by tests, the demo and ``sovereval bench run --model mock:``. Answers are derived from
SHA-256 of the model name and the prompt, so two runs (or a killed and resumed run) give
identical results, and different mock names behave like different models.

URI options (``mock:name?latency=0.01&fail_after=5``):

- ``latency`` — seconds to sleep per call (to exercise concurrency);
- ``fail_after`` — raise :class:`BackendError` on every call after this many (a server that dies);
- ``answer`` — a fixed reply text instead of the hashed letter.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence

from sovereval.bench.backends.base import (
    Completion,
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
    ModelURI,
)
from sovereval.errors import BackendError, InputError

_LETTERS = "ABCD"


def _digest(*parts: str) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.digest()


class MockBackend:
    """Deterministic fake backend; counts calls per prompt so tests can prove caching."""

    def __init__(
        self,
        name: str = "mock",
        *,
        latency_s: float = 0.0,
        fail_after: int | None = None,
        answer: str | None = None,
        context_window: int | None = None,
    ) -> None:
        self._name = name or "mock"
        self.context_window = context_window
        """Declared context window in tokens (URI option ``context``); ``None``: unlimited."""
        self.latency_s = latency_s
        self.fail_after = fail_after
        self.answer = answer
        self.calls = 0
        self.calls_by_prompt: dict[str, int] = {}

    @property
    def uri(self) -> str:
        return f"mock:{self._name}" if self._name != "mock" else "mock:"

    @property
    def supports_loglik(self) -> bool:
        return True

    async def _tick(self, key: str) -> None:
        self.calls += 1
        self.calls_by_prompt[key] = self.calls_by_prompt.get(key, 0) + 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise BackendError(
                f"mock model {self.uri} is configured to fail after {self.fail_after} calls; "
                "remove fail_after from the model URI"
            )
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        prompt = "\n".join(f"{m.role}: {m.content}" for m in messages)
        await self._tick(prompt)
        if self.answer is not None:
            text = self.answer
        else:
            letter = _LETTERS[_digest(self._name, prompt)[0] % len(_LETTERS)]
            text = f"The answer is ({letter})."
        return Completion(
            text=text,
            prompt_tokens=len(prompt.split()),
            completion_tokens=len(text.split()),
        )

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        out: list[LoglikResult] = []
        for req in requests:
            await self._tick(req.context + req.continuation)
            raw = int.from_bytes(_digest(self._name, req.context, req.continuation)[:4], "big")
            n_tokens = max(1, len(req.continuation.split()))
            # A log-probability in (-20, 0], deterministic in (model, context, continuation).
            logprob = -20.0 * raw / 2**32
            out.append(
                LoglikResult(
                    logprob=logprob,
                    is_greedy=raw % 7 == 0,
                    n_tokens=n_tokens,
                    context_tokens=len(req.context.split()),
                )
            )
        return out

    async def aclose(self) -> None:
        return None


def _float(options: Mapping[str, object], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"mock option {key}={value!r} is not a number") from exc


def make_mock(uri: ModelURI, options: Mapping[str, object]) -> MockBackend:
    merged: dict[str, object] = {**uri.options, **options}
    fail_after = merged.get("fail_after")
    answer = merged.get("answer")
    return MockBackend(
        uri.target or "mock",
        latency_s=_float(merged, "latency", 0.0),
        fail_after=int(str(fail_after)) if fail_after not in (None, "") else None,
        answer=str(answer) if answer is not None else None,
        context_window=int(_float(merged, "context", 0)) or None,
    )
