"""From a suite spec and a model URI to a finished, journaled run — the one call the CLI,
the web layer and the competition services make.

It joins the pieces: the catalogue (which items, which template, which scorer), the backend
registry (which model), the engine (how to run), the journal (resume) and the caller's sinks
(the store). Judge-scored writing tasks are generated here and left with ``score=None``; the
judge panel scores them afterwards from the journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sovereval.bench.backends import Backend, GenerateParams, open_backend
from sovereval.bench.cache import ResponseCache
from sovereval.bench.catalogue import SuiteSpec, TaskSpec, load_suite_items
from sovereval.bench.engine import Engine, EngineTask, Response, RunOutcome, ScoreFn, utc_now
from sovereval.bench.items import Item
from sovereval.bench.journal import (
    ItemResult,
    ItemSink,
    JsonlJournal,
    latest_by_key,
    read_journal,
    result_key,
)
from sovereval.bench.prompts import RenderedPrompt, render
from sovereval.bench.scorers import ItemScore, ModelOutput, get_scorer

DEFAULT_MAX_TOKENS = {"loglik": 0, "generate": 512, "judge": 1024}
"""Generation budget per requirement when the caller gives none; letter answers need few
tokens but chatty models write a sentence first, so ``mc_letter`` gets the generate budget."""


def task_budget(spec: TaskSpec, max_tokens: int | None) -> int:
    """Generation budget: the run's override, else the task's, else the requirement's default."""
    if max_tokens is not None:
        return max_tokens
    if spec.max_tokens is not None:
        return spec.max_tokens
    return DEFAULT_MAX_TOKENS[get_scorer(spec.scorer).requires]


def make_score_fn(spec: TaskSpec, model_uri: str) -> ScoreFn:
    """Adapt the task's registered scorer to the engine's (item, prompt, response) call."""
    scorer = get_scorer(spec.scorer)
    options = dict(spec.scorer_options)

    def score(item: Item, prompt: RenderedPrompt, response: Response) -> ItemScore:
        if scorer.requires == "judge":
            # Judged later by the panel; the answers are what this run records.
            return ItemScore(None, None)
        output = ModelOutput(
            text=response.text,
            turn_texts=response.turn_texts or ((response.text,) if response.text else ()),
            choice_logprobs=response.choice_logprobs if scorer.requires == "loglik" else None,
            continuations=prompt.continuations,
            model=model_uri,
        )
        return scorer(item, output, options)

    return score


def build_tasks(
    suite: SuiteSpec,
    items_by_task: Mapping[str, Sequence[Item]],
    *,
    model_uri: str,
    max_tokens: int | None = None,
) -> list[EngineTask]:
    """One :class:`EngineTask` per task spec, in suite order."""
    tasks: list[EngineTask] = []
    for spec in suite.tasks:
        budget = task_budget(spec, max_tokens)
        requires = get_scorer(spec.scorer).requires
        template = spec.prompt

        def render_item(item: Item, _template: str = template) -> RenderedPrompt:
            return render(item, _template)

        tasks.append(
            EngineTask(
                name=spec.name,
                items=tuple(items_by_task[spec.name]),
                render=render_item,
                method="loglik" if requires == "loglik" else "generate",
                score=make_score_fn(spec, model_uri),
                params=GenerateParams(temperature=0.0, max_tokens=max(1, budget)),
            )
        )
    return tasks


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "model"


def journal_path(journal_dir: Path, suite: SuiteSpec, model_uri: str) -> Path:
    """``<suite>-v<version>__<model slug>-<hash>.jsonl``: one journal per (suite, model)."""
    digest = hashlib.sha256(model_uri.encode("utf-8")).hexdigest()[:10]
    return journal_dir / f"{suite.name}-v{_slug(suite.version)}__{_slug(model_uri)}-{digest}.jsonl"


@dataclass
class SuiteRun:
    """The outcome of :func:`run_suite` plus where its journal lives."""

    suite: SuiteSpec
    model: str
    outcome: RunOutcome
    journal: Path | None
    total_items: int
    summaries: list[TaskTotals] = field(default_factory=list)
    items: dict[str, list[Item]] = field(default_factory=dict)
    """Every selected item by task, including those beyond the context window (the report
    reads their metadata: length, depth, family, expected behaviour)."""
    beyond_context: dict[str, list[Item]] = field(default_factory=dict)
    """Items not sent to the model because they are longer than its declared context window:
    reported as "beyond declared context", never as failures."""
    context_window: int | None = None


def split_beyond_context(
    items: Sequence[Item], context_window: int | None, answer_budget: int
) -> tuple[list[Item], list[Item]]:
    """``(within, beyond)``: an item with a measured ``tokens`` count (long-context items) is
    beyond when ``tokens + answer_budget`` exceeds the declared window. Without a declared
    window every item is within."""
    if context_window is None:
        return list(items), []
    within: list[Item] = []
    beyond: list[Item] = []
    for it in items:
        tokens = it.metadata.get("tokens")
        if tokens is not None and int(tokens) + answer_budget > context_window:
            beyond.append(it)
        else:
            within.append(it)
    return within, beyond


@dataclass(frozen=True)
class TaskTotals:
    """Per-task numbers for the CLI table and the JSON output (intervals: ``stats``)."""

    task: str
    skill: str
    scorer: str
    n: int
    n_scored: int
    mean: float | None
    latency_mean_s: float
    tokens_out: int


def summarise(suite: SuiteSpec, results: Sequence[ItemResult]) -> list[TaskTotals]:
    by_task: dict[str, list[ItemResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    out: list[TaskTotals] = []
    for spec in suite.tasks:
        rs = by_task.get(spec.name, [])
        scores = [r.score for r in rs if r.score is not None]
        out.append(
            TaskTotals(
                task=spec.name,
                skill=spec.skill,
                scorer=spec.scorer,
                n=len(rs),
                n_scored=len(scores),
                mean=sum(scores) / len(scores) if scores else None,
                latency_mean_s=sum(r.latency_s for r in rs) / len(rs) if rs else 0.0,
                tokens_out=sum(r.completion_tokens for r in rs),
            )
        )
    return out


async def run_suite_async(
    suite: SuiteSpec,
    model_uri: str,
    *,
    data_root: str | Path | None = None,
    journal_dir: Path | None = None,
    cache_dir: Path | None = None,
    concurrency: int = 8,
    max_tokens: int | None = None,
    sinks: Sequence[ItemSink] = (),
    on_item: Callable[[ItemResult], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    backend: Backend | None = None,
    backend_options: Mapping[str, object] | None = None,
    clock: Callable[[], datetime] = utc_now,
    context_window: int | None = None,
) -> SuiteRun:
    """Run ``suite`` against ``model_uri``, resuming from its journal in ``journal_dir``.

    ``on_item`` is called once per newly finished item, after it is durable in the journal and
    in ``sinks``; ``on_plan(total, already_done)`` once before the first model call. A
    :class:`BackendError` does not raise: it is returned in ``outcome.error`` with every
    finished item kept, so the caller can report it and the user can re-run to resume.

    ``context_window`` (tokens) overrides the backend's declared window
    (``backend.context_window``); long-context items beyond it are not run (see
    :func:`split_beyond_context`). A backend with ``count_tokens`` sizes generated haystacks
    with its own tokenizer.
    """
    own_backend = backend is None
    model = (
        backend if backend is not None else open_backend(model_uri, **dict(backend_options or {}))
    )
    try:
        runtime: dict[str, object] = {}
        count_tokens = getattr(model, "count_tokens", None)
        if callable(count_tokens):
            runtime = {"_token_counter": count_tokens, "_counter_name": f"tokenizer:{model.uri}"}
        all_items = load_suite_items(suite, data_root, runtime)
        window = (
            context_window if context_window is not None else getattr(model, "context_window", None)
        )
        items: dict[str, list[Item]] = {}
        beyond: dict[str, list[Item]] = {}
        for spec in suite.tasks:
            budget = task_budget(spec, max_tokens)
            items[spec.name], out = split_beyond_context(all_items[spec.name], window, budget)
            if out:
                beyond[spec.name] = out
        tasks = build_tasks(suite, items, model_uri=model.uri, max_tokens=max_tokens)
        all_sinks: list[ItemSink] = []
        journal: Path | None = None
        journal_sink: JsonlJournal | None = None
        finished: dict[str, ItemResult] = {}
        if journal_dir is not None:
            journal = journal_path(journal_dir, suite, model.uri)
            finished = latest_by_key(read_journal(journal))
            journal_sink = JsonlJournal(journal)
            all_sinks.append(journal_sink)
        all_sinks.extend(sinks)
        engine = Engine(
            model,
            concurrency=concurrency,
            sinks=all_sinks,
            cache=ResponseCache(cache_dir) if cache_dir is not None else None,
            clock=clock,
            on_item=on_item,
        )
        total = sum(len(t.items) for t in tasks)
        if on_plan is not None:
            keys = {result_key(w.task.name, w.item.id, w.prompt_hash) for w in engine.plan(tasks)}
            on_plan(total, len(keys & finished.keys()))
        try:
            outcome = await engine.run(tasks, finished=finished)
        finally:
            if journal_sink is not None:  # the caller's sinks are the caller's to close
                journal_sink.close()
    finally:
        if own_backend:
            await model.aclose()
    run = SuiteRun(suite, model.uri, outcome, journal, total)
    run.summaries = summarise(suite, outcome.results)
    run.items, run.beyond_context, run.context_window = all_items, beyond, window
    return run


def run_suite(suite: SuiteSpec, model_uri: str, **kwargs: object) -> SuiteRun:
    """Blocking wrapper of :func:`run_suite_async` (same keyword arguments)."""
    return asyncio.run(run_suite_async(suite, model_uri, **kwargs))  # type: ignore[arg-type]
