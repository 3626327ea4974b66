"""The same tasks through Inspect AI: a model provider for our backends, Task builders, and a
runner that returns the engine's :class:`ItemResult` records.

- ``sovereval/<model URI>`` is an Inspect model: :class:`SoverevalModelAPI` wraps any
  registered backend, so ``inspect eval`` and Inspect's own tooling (log viewer, eval sets)
  reach vLLM/SGLang/TGI/llama.cpp servers, local transformers and the mock the same way the
  engine does.
- :func:`inspect_task` turns an :class:`EngineTask` into an Inspect ``Task``: samples carry
  the rendered prompt, generation uses Inspect's ``generate`` loop (one call per turn), and
  multiple-choice log-likelihood uses :func:`choice_loglik`, a solver that calls the backend's
  ``loglikelihood`` directly — Inspect's ModelAPI has no per-choice scoring call.
- :func:`run_inspect` runs tasks with ``inspect_ai.eval_async`` and converts the log's samples
  into journal records with the same prompt hashes, so engine and Inspect journals mix.

The engine (``engine.py``) stays the default executor; design/bench-engine.md says why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sovereval.bench.backends.base import (
    Backend,
    GenerateParams,
    LoglikRequest,
    Message,
    open_backend,
)
from sovereval.bench.cache import request_key
from sovereval.bench.engine import EngineTask, Request, Response, build_request, utc_now
from sovereval.bench.items import LETTERS, Item
from sovereval.bench.journal import ItemResult, result_key
from sovereval.errors import BackendError, InputError, missing_dependency

try:  # the optional "inspect" extra; without it, one line saying what to install
    from inspect_ai import Task, eval_async
    from inspect_ai.dataset import Sample
    from inspect_ai.model import (
        ChatMessage,
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageUser,
        GenerateConfig,
        ModelAPI,
        ModelOutput,
        ModelUsage,
        get_model,
        modelapi,
    )
    from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
    from inspect_ai.solver import Generate, Solver, TaskState, solver
    from inspect_ai.tool import ToolChoice, ToolInfo
except ImportError as exc:
    raise missing_dependency("inspect_ai", "inspect") from exc

PROVIDER = "sovereval"


def inspect_model_name(model_uri: str) -> str:
    """Inspect model string for a sovereval model URI (``sovereval/mock:``)."""
    return f"{PROVIDER}/{model_uri}"


class SoverevalModelAPI(ModelAPI):
    """Inspect ModelAPI backed by a sovereval :class:`Backend` (model name = model URI)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        backend = model_args.pop("backend", None)
        self.backend: Backend = (
            backend if backend is not None else open_backend(model_name, **model_args)
        )
        self._connections = int(model_args.get("concurrency", 8))

    def max_connections(self) -> int:
        return self._connections

    def connection_key(self) -> str:
        return self.backend.uri

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        del tools, tool_choice
        messages = [
            Message(m.role, m.text)  # type: ignore[arg-type]
            for m in input
            if m.role in ("system", "user", "assistant")
        ]
        params = GenerateParams(
            temperature=config.temperature if config.temperature is not None else 0.0,
            max_tokens=config.max_tokens if config.max_tokens is not None else 256,
            stop=tuple(config.stop_seqs or ()),
            seed=config.seed,
        )
        completion = await self.backend.generate(messages, params)
        output = ModelOutput.from_content(model=self.model_name, content=completion.text)
        output.usage = ModelUsage(
            input_tokens=completion.prompt_tokens,
            output_tokens=completion.completion_tokens,
            total_tokens=completion.prompt_tokens + completion.completion_tokens,
        )
        return output


@modelapi(name=PROVIDER)
def _provider() -> type[ModelAPI]:
    return SoverevalModelAPI


def _backend_of_active_model() -> Backend:
    api = get_model().api
    if not isinstance(api, SoverevalModelAPI):
        raise InputError("log-likelihood tasks need a sovereval/<model URI> model in Inspect")
    return api.backend


@solver
def choice_loglik() -> Solver:
    """Score every continuation in the sample's metadata by log-likelihood (no generation)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        del generate
        meta = state.metadata
        start = time.perf_counter()
        scored = await _backend_of_active_model().loglikelihood(
            [LoglikRequest(meta["context"], c) for c in meta["continuations"]]
        )
        logprobs = [s.logprob for s in scored]
        best = max(range(len(logprobs)), key=lambda i: logprobs[i])
        state.metadata = {
            **meta,
            "choice_logprobs": logprobs,
            "choice_tokens": [s.n_tokens for s in scored],
            "latency_s": time.perf_counter() - start,
            "prompt_tokens": scored[0].context_tokens + sum(s.n_tokens for s in scored),
        }
        state.output = ModelOutput.from_content(model=str(state.model), content=LETTERS[best])
        state.completed = True
        return state

    return solve


@solver
def answer_turns() -> Solver:
    """Generate the first answer, then each follow-up turn in the sample's metadata."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        start = time.perf_counter()
        answers: list[str] = []
        usage_in = usage_out = 0
        for turn in [None, *state.metadata.get("followups", [])]:
            if turn is not None:
                state.messages.append(ChatMessageUser(content=turn))
            state = await generate(state)
            answers.append(state.output.completion)
            if state.output.usage is not None:
                usage_in += state.output.usage.input_tokens
                usage_out += state.output.usage.output_tokens
        state.metadata = {
            **state.metadata,
            "turn_texts": answers if len(answers) > 1 else [],
            "latency_s": time.perf_counter() - start,
            "prompt_tokens": usage_in,
            "completion_tokens": usage_out,
        }
        return state

    return solve


def _response_of(state: TaskState) -> Response:
    meta = state.metadata
    return Response(
        text=state.output.completion,
        turn_texts=tuple(meta.get("turn_texts", ())),
        choice_logprobs=tuple(meta.get("choice_logprobs", ())),
        choice_tokens=tuple(meta.get("choice_tokens", ())),
        prompt_tokens=int(meta.get("prompt_tokens", 0)),
        completion_tokens=int(meta.get("completion_tokens", 0)),
        latency_s=float(meta.get("latency_s", 0.0)),
    )


def _task_scorer(task: EngineTask, items: Mapping[str, Item]) -> Scorer:
    @scorer(metrics=[mean(), stderr()], name=f"sovereval_{task.method}")
    def wrapped() -> Scorer:
        async def score(state: TaskState, target: Target) -> Score:
            del target
            item = items[str(state.sample_id)]
            scored = task.score(item, task.render(item), _response_of(state))
            if scored.value is None:
                raise InputError(
                    f"task {task.name}: judged tasks run through the engine, not Inspect"
                )
            return Score(
                value=float(scored.value),
                answer=scored.extracted,
                metadata={"metrics": dict(scored.metrics)},
            )

        return score

    return wrapped()


def _sample(request: Request, item: Item, prompt_hash: str) -> Sample:
    messages: list[ChatMessage] = []
    for m in request.messages:
        if m.role == "system":
            messages.append(ChatMessageSystem(content=m.content))
        elif m.role == "assistant":
            messages.append(ChatMessageAssistant(content=m.content))
        else:
            messages.append(ChatMessageUser(content=m.content))
    if request.method == "loglik":
        messages = [ChatMessageUser(content=request.context)]
    return Sample(
        id=item.id,
        input=messages,
        target=item.target,
        metadata={
            "item_hash": item.content_hash(),
            "prompt_hash": prompt_hash,
            "context": request.context,
            "continuations": list(request.continuations),
            "followups": list(request.followups),
        },
    )


def inspect_task(task: EngineTask, model_uri: str, *, skip: frozenset[str] = frozenset()) -> Task:
    """An Inspect ``Task`` for ``task``; items whose result key is in ``skip`` are left out."""
    items = {item.id: item for item in task.items}
    samples: list[Sample] = []
    for item in task.items:
        request = build_request(task, item, task.render(item))
        digest = request_key(model_uri, request.method, request.as_dict())
        if result_key(task.name, item.id, digest) in skip:
            continue
        samples.append(_sample(request, item, digest))
    solver_ = choice_loglik() if task.method == "loglik" else answer_turns()
    config = GenerateConfig(
        temperature=task.params.temperature,
        max_tokens=task.params.max_tokens,
        stop_seqs=list(task.params.stop) or None,
        seed=task.params.seed,
    )
    return Task(
        dataset=samples,
        solver=solver_,
        scorer=_task_scorer(task, items),
        config=config,
        name=task.name,
    )


async def run_inspect(
    tasks: Sequence[EngineTask],
    backend: Backend,
    *,
    log_dir: str,
    concurrency: int = 8,
    finished: Mapping[str, ItemResult] | None = None,
    now: datetime | None = None,
) -> list[ItemResult]:
    """Run ``tasks`` with ``inspect_ai.eval_async`` and return one result per new item."""
    skip = frozenset((finished or {}).keys())
    itasks = [inspect_task(t, backend.uri, skip=skip) for t in tasks]
    model = get_model(
        inspect_model_name(backend.uri), backend=backend, concurrency=concurrency, memoize=False
    )
    logs = await eval_async(
        itasks,
        model=model,
        log_dir=log_dir,
        max_samples=concurrency,
        max_connections=concurrency,
        fail_on_error=True,
        score_display=False,
    )
    stamp = (now or utc_now()).isoformat()
    by_name = {t.name: t for t in tasks}
    out: list[ItemResult] = []
    for log in logs:
        if log.status != "success":
            detail = log.error.message.splitlines()[0] if log.error else log.status
            raise BackendError(f"Inspect run of {log.eval.task} on {backend.uri} failed: {detail}")
        task = by_name[log.eval.task]
        for sample in log.samples or []:
            meta = sample.metadata
            scores = sample.scores or {}
            score = next(iter(scores.values())) if scores else None
            out.append(
                ItemResult(
                    task=task.name,
                    item_id=str(sample.id),
                    item_hash=str(meta["item_hash"]),
                    prompt_hash=str(meta["prompt_hash"]),
                    model=backend.uri,
                    method=task.method,
                    response=sample.output.completion,
                    turn_texts=tuple(str(x) for x in meta.get("turn_texts", ())),
                    choice_logprobs=tuple(float(x) for x in meta.get("choice_logprobs", ())),
                    choice_tokens=tuple(int(x) for x in meta.get("choice_tokens", ())),
                    score=float(score.value) if score is not None else None,  # type: ignore[arg-type]
                    extracted=score.answer if score is not None else None,
                    metrics=dict((score.metadata or {}).get("metrics", {}))
                    if score is not None
                    else {},
                    latency_s=float(meta.get("latency_s", sample.total_time or 0.0)),
                    prompt_tokens=int(meta.get("prompt_tokens", 0)),
                    completion_tokens=int(meta.get("completion_tokens", 0)),
                    cached=False,
                    finished_at=stamp,
                )
            )
    return out
