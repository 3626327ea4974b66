"""The execution engine: items in, durable per-item results out, with bounded concurrency.

One asyncio loop runs ``concurrency`` workers over the pending items of every task. A worker
renders the item's prompt, consults the response cache, calls the backend (which does its
own retries and timeouts), scores the response and hands the result to the committer. The
committer writes everything finished since its last write to every :class:`ItemSink` in one
call (group commit: one fsync for many items) and only then reports the items as finished.
So an item is either durably recorded or will be re-run — never reported and lost.

Resume: the caller passes the results already in the journal; items whose key (task, item
id, prompt hash) is among them are not sent to the model again and their recorded results are
returned unchanged. The first :class:`BackendError` stops new work; items in flight finish
and are recorded, then the error is returned in the :class:`RunOutcome` for the caller to
report (the CLI exits with code 2).

Why this loop and not Inspect's ``eval()``: see design/bench-engine.md — Inspect has no
generic per-choice log-likelihood call, and its sample log is buffered rather than fsync'ed
per item.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sovereval.bench.backends.base import (
    Backend,
    GenerateParams,
    LoglikRequest,
    Message,
)
from sovereval.bench.cache import ResponseCache, request_key
from sovereval.bench.items import LETTERS, Item
from sovereval.bench.journal import ItemResult, ItemSink, result_key
from sovereval.bench.prompts import RenderedPrompt
from sovereval.bench.scorers import ItemScore
from sovereval.errors import BackendError, InputError

Method = Literal["loglik", "generate"]


@dataclass(frozen=True)
class Response:
    """What the model gave for one item, before scoring."""

    text: str = ""
    """Generated answer (the last turn's), or the best choice's letter."""
    turn_texts: tuple[str, ...] = ()
    """Every turn's answer of a multi-turn item."""
    choice_logprobs: tuple[float, ...] = ()
    choice_tokens: tuple[int, ...] = ()
    choice_greedy: tuple[bool, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "turn_texts": list(self.turn_texts),
            "choice_logprobs": list(self.choice_logprobs),
            "choice_tokens": list(self.choice_tokens),
            "choice_greedy": list(self.choice_greedy),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": self.latency_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Response:
        return cls(
            text=str(data["text"]),
            turn_texts=tuple(str(x) for x in data["turn_texts"]),
            choice_logprobs=tuple(float(x) for x in data["choice_logprobs"]),
            choice_tokens=tuple(int(x) for x in data["choice_tokens"]),
            choice_greedy=tuple(bool(x) for x in data["choice_greedy"]),
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            latency_s=float(data["latency_s"]),
        )


ScoreFn = Callable[[Item, RenderedPrompt, Response], ItemScore]
"""Turns a response into B1's :class:`ItemScore` (value ``None`` = not scorable yet)."""


@dataclass(frozen=True)
class EngineTask:
    """One task as the engine runs it: items, how to render them, how to ask, how to score."""

    name: str
    items: tuple[Item, ...]
    render: Callable[[Item], RenderedPrompt]
    method: Method
    score: ScoreFn
    params: GenerateParams = field(default_factory=GenerateParams)


@dataclass(frozen=True)
class Request:
    """A rendered, hashable request for one item."""

    method: Method
    messages: tuple[Message, ...] = ()
    followups: tuple[str, ...] = ()
    """Further user turns of a multi-turn item, sent after each answer."""
    context: str = ""
    continuations: tuple[str, ...] = ()
    params: GenerateParams = field(default_factory=GenerateParams)

    def as_dict(self) -> dict[str, Any]:
        if self.method == "loglik":
            return {"context": self.context, "continuations": list(self.continuations)}
        return {
            "messages": [[m.role, m.content] for m in self.messages],
            "followups": list(self.followups),
            "params": self.params.as_dict(),
        }


def build_request(task: EngineTask, item: Item, prompt: RenderedPrompt) -> Request:
    """Turn a rendered prompt into the request the backend receives (pure)."""
    if task.method == "loglik":
        if not prompt.continuations:
            raise InputError(
                f"task {task.name}: item {item.id} has no continuations; log-likelihood needs an "
                "MC template"
            )
        return Request("loglik", context=prompt.context, continuations=prompt.continuations)
    messages: list[Message] = []
    if prompt.system:
        messages.append(Message("system", prompt.system))
    messages.append(Message("user", prompt.context))
    followups = tuple(item.turns[1:]) if len(item.turns) > 1 else ()
    return Request("generate", messages=tuple(messages), followups=followups, params=task.params)


async def call_backend(backend: Backend, request: Request) -> Response:
    """Send one request; multi-turn items are answered turn by turn."""
    start = time.perf_counter()
    if request.method == "loglik":
        scored = await backend.loglikelihood(
            [LoglikRequest(request.context, c) for c in request.continuations]
        )
        logprobs = tuple(s.logprob for s in scored)
        best = max(range(len(logprobs)), key=lambda i: logprobs[i])
        return Response(
            text=LETTERS[best] if best < len(LETTERS) else str(best),
            choice_logprobs=logprobs,
            choice_tokens=tuple(s.n_tokens for s in scored),
            choice_greedy=tuple(s.is_greedy for s in scored),
            prompt_tokens=scored[0].context_tokens + sum(s.n_tokens for s in scored),
            latency_s=time.perf_counter() - start,
        )
    messages = list(request.messages)
    answers: list[str] = []
    prompt_tokens = completion_tokens = 0
    for turn in (None, *request.followups):
        if turn is not None:
            messages.append(Message("user", turn))
        completion = await backend.generate(messages, request.params)
        answers.append(completion.text)
        messages.append(Message("assistant", completion.text))
        prompt_tokens += completion.prompt_tokens
        completion_tokens += completion.completion_tokens
    return Response(
        text=answers[-1],
        turn_texts=tuple(answers) if len(answers) > 1 else (),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=time.perf_counter() - start,
    )


@dataclass
class RunOutcome:
    """Everything a run produced, resumed items included, in task then item order."""

    results: list[ItemResult]
    resumed: int = 0
    executed: int = 0
    cached: int = 0
    elapsed_s: float = 0.0
    error: BackendError | None = None

    @property
    def complete(self) -> bool:
        return self.error is None

    def by_task(self) -> dict[str, list[ItemResult]]:
        out: dict[str, list[ItemResult]] = {}
        for r in self.results:
            out.setdefault(r.task, []).append(r)
        return out


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Work:
    order: int
    task: EngineTask
    item: Item
    prompt: RenderedPrompt
    request: Request
    prompt_hash: str


class Engine:
    """Runs :class:`EngineTask` s against one backend; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        *,
        concurrency: int = 8,
        sinks: Sequence[ItemSink] = (),
        cache: ResponseCache | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_item: Callable[[ItemResult], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise InputError(f"concurrency must be at least 1, got {concurrency}")
        self.backend = backend
        self.concurrency = concurrency
        self.sinks = list(sinks)
        self.cache = cache
        self.clock = clock
        self.on_item = on_item

    def plan(self, tasks: Sequence[EngineTask]) -> list[_Work]:
        """Render and hash every item of every task (pure apart from the template calls)."""
        work: list[_Work] = []
        for task in tasks:
            for item in task.items:
                prompt = task.render(item)
                request = build_request(task, item, prompt)
                digest = request_key(self.backend.uri, request.method, request.as_dict())
                work.append(_Work(len(work), task, item, prompt, request, digest))
        return work

    async def run(
        self, tasks: Sequence[EngineTask], *, finished: Mapping[str, ItemResult] | None = None
    ) -> RunOutcome:
        started = time.perf_counter()
        done = dict(finished or {})
        work = self.plan(tasks)
        slots: list[ItemResult | None] = [None] * len(work)
        pending: list[_Work] = []
        for w in work:
            prior = done.get(result_key(w.task.name, w.item.id, w.prompt_hash))
            if prior is not None:
                slots[w.order] = prior
            else:
                pending.append(w)
        outcome = RunOutcome(results=[], resumed=len(work) - len(pending))
        queue = iter(pending)
        buffer: list[ItemResult] = []
        wake = asyncio.Event()
        stop = False
        errors: list[BaseException] = []

        async def worker() -> None:
            nonlocal stop
            for w in queue:
                if stop:
                    return
                try:
                    result = await self._one(w)
                except BaseException as exc:  # recorded and re-raised by run()
                    errors.append(exc)
                    stop = True
                    wake.set()
                    return
                slots[w.order] = result
                outcome.executed += 1
                outcome.cached += int(result.cached)
                buffer.append(result)
                wake.set()

        workers_done = False

        async def committer() -> None:
            while True:
                await wake.wait()
                wake.clear()
                if buffer:
                    batch = buffer[:]
                    del buffer[:]
                    for sink in self.sinks:
                        await asyncio.to_thread(sink.write, batch)
                    if self.on_item is not None:
                        for r in batch:
                            self.on_item(r)
                if workers_done and not buffer:
                    return

        commit_task = asyncio.create_task(committer())
        try:
            await asyncio.gather(
                *(worker() for _ in range(min(self.concurrency, max(1, len(pending)))))
            )
        finally:
            workers_done = True
            wake.set()
            await commit_task
        outcome.results = [r for r in slots if r is not None]
        outcome.elapsed_s = time.perf_counter() - started
        if errors:
            first = errors[0]
            if isinstance(first, BackendError):
                outcome.error = first
            else:
                raise first
        return outcome

    async def _one(self, w: _Work) -> ItemResult:
        response: Response | None = None
        cached = False
        if self.cache is not None:
            hit = self.cache.get(w.prompt_hash)
            if hit is not None:
                try:
                    response = Response.from_json(hit)
                    cached = True
                except (KeyError, TypeError, ValueError):
                    response = None
        if response is None:
            response = await call_backend(self.backend, w.request)
            if self.cache is not None:
                self.cache.put(w.prompt_hash, response.to_json())
        scored = w.task.score(w.item, w.prompt, response)
        score = None if scored.value is None else float(scored.value)
        if score is not None and not math.isfinite(score):
            raise InputError(f"task {w.task.name}: scorer returned {score} for item {w.item.id}")
        return ItemResult(
            task=w.task.name,
            item_id=w.item.id,
            item_hash=w.item.content_hash(),
            prompt_hash=w.prompt_hash,
            model=self.backend.uri,
            method=w.request.method,
            response=response.text,
            turn_texts=response.turn_texts,
            choice_logprobs=response.choice_logprobs,
            choice_tokens=response.choice_tokens,
            score=score,
            extracted=scored.extracted,
            metrics={str(k): float(v) for k, v in scored.metrics.items()},
            latency_s=response.latency_s,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            cached=cached,
            finished_at=self.clock().isoformat(),
        )
