"""The demo's benchmark runs: real models through the backends a real round uses.

- log-likelihood multiple choice (``hf:`` local backend) on a seeded sample of the shared CLIcK
  items when the shared benchmark folder is there, else on the package's own Korean items;
- numeric problem solving and writing (generation on the OpenAI-compatible model server);
- the writing answers judged by a panel of two real models, never the model under test;
- the team part on the team's model and on its declared target model.

Every model call goes through the engine's journal and the response cache, so a re-run (or a
resumed run after a kill) asks the models nothing already answered.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.bench.backends import Backend, GenerateParams, open_backend
from sovereval.bench.cache import ResponseCache
from sovereval.bench.catalogue import SuiteSpec, load_suite_items
from sovereval.bench.engine import Engine, EngineTask, Response
from sovereval.bench.items import Item
from sovereval.bench.journal import ItemResult, JsonlJournal, latest_by_key, read_journal
from sovereval.bench.judges import (
    JudgeTemplate,
    aggregate_item,
    build_judge_prompt,
    parse_rating,
    verdict,
)
from sovereval.bench.prompts import RenderedPrompt, render
from sovereval.bench.runner import journal_path, run_suite_async
from sovereval.bench.scorers import ItemScore
from sovereval.bench.stats import bootstrap_ci
from sovereval.competition.scoring import Measurement
from sovereval.demo_real.server import LocalModel

GEN_TOKENS = 48
JUDGE_TOKENS = 8
CLICK_ITEMS = 10
MATH_ITEMS = 2
WRITING_ITEMS = 1
TEAM_ITEMS = 10
JUDGED_TURNS = (1,)
"""The panel judges the first turn's answer (the second is generated and shown)."""

JUDGE_TEMPLATE = JudgeTemplate(
    "demo-short-en",
    "",
    "Rate the assistant's answer to the user's question from 1 (useless) to 10 (excellent). "
    "Write only the rating in double brackets, for example [[4]].\n\n"
    "Question: {question}\nAnswer: {answer}\n\nRating:",
)
"""A short single-answer grading prompt: the demo's judges are 135M-270M models that answer a
short prompt in a few tokens (the full KoMT-Bench prompt is for real judge models)."""


def suites(shared: Path | None, seed: int) -> dict[str, tuple[SuiteSpec, Path | None]]:
    """The three parts' suites and the data root each reads (``None``: package items)."""
    if shared is not None:
        common = SuiteSpec.model_validate(
            {
                "name": "demo-common",
                "part": "common",
                "description": f"CLIcK, a seeded sample of {CLICK_ITEMS} items, log-likelihood",
                "tasks": [
                    {
                        "name": "click",
                        "loader": "click",
                        "path": "click/Dataset",
                        "kind": "mc",
                        "scorer": "mc_loglik",
                        "prompt": "click_lmeval",
                        "skill": "comprehension",
                        "limit": CLICK_ITEMS,
                        "seed": seed,
                    }
                ],
            }
        )
    else:
        common = SuiteSpec.model_validate(
            {
                "name": "demo-common",
                "part": "common",
                "data": "package",
                "description": "the package's Korean multiple-choice items, log-likelihood",
                "tasks": [
                    {
                        "name": "mc-ko",
                        "loader": "jsonl",
                        "path": "mc_ko.jsonl",
                        "options": {"kind": "mc", "answer_format": "letter"},
                        "kind": "mc",
                        "scorer": "mc_loglik",
                        "prompt": "mc_ko",
                        "skill": "comprehension",
                    }
                ],
            }
        )
    government = SuiteSpec.model_validate(
        {
            "name": "demo-government",
            "part": "government",
            "data": "package",
            "description": "numeric problem solving and judged writing",
            "tasks": [
                {
                    "name": "math",
                    "loader": "jsonl",
                    "path": "math.jsonl",
                    "options": {"kind": "numeric"},
                    "kind": "numeric",
                    "scorer": "numeric",
                    "prompt": "math_ko_boxed",
                    "skill": "problem_solving",
                    "limit": MATH_ITEMS,
                },
                {
                    "name": "writing",
                    "loader": "komt",
                    "path": "writing.jsonl",
                    "kind": "writing",
                    "scorer": "judge_rubric",
                    "prompt": "plain",
                    "skill": "writing",
                    "limit": WRITING_ITEMS,
                },
            ],
        }
    )
    if shared is not None:
        team = SuiteSpec.model_validate(
            {
                "name": "demo-team",
                "part": "team",
                "description": f"the teams' chosen set: another seeded CLIcK sample of {TEAM_ITEMS}",
                "tasks": [
                    {
                        "name": "click-team",
                        "loader": "click",
                        "path": "click/Dataset",
                        "kind": "mc",
                        "scorer": "mc_loglik",
                        "prompt": "click_lmeval",
                        "skill": "comprehension",
                        "limit": TEAM_ITEMS,
                        "seed": seed + 1,
                    }
                ],
            }
        )
    else:
        team = SuiteSpec.model_validate(
            {
                "name": "demo-team",
                "part": "team",
                "data": "package",
                "description": "the teams' chosen set: the package's English items",
                "tasks": [
                    {
                        "name": "mc-en",
                        "loader": "jsonl",
                        "path": "mc_en.jsonl",
                        "options": {"kind": "mc", "answer_format": "letter"},
                        "kind": "mc",
                        "scorer": "mc_loglik",
                        "prompt": "mc_en",
                        "skill": "comprehension",
                    }
                ],
            }
        )
    return {
        "common": (common, shared),
        "government": (government, None),
        "team": (team, shared),
    }


@dataclass
class ModelRuns:
    """One model's journaled results per part, and its judged writing scores."""

    name: str
    results: dict[str, list[ItemResult]] = field(default_factory=dict)
    journals: dict[str, Path] = field(default_factory=dict)
    judged: dict[str, float | None] = field(default_factory=dict)
    """Writing item id -> panel mean rating (1-10), ``None`` when no judge gave a valid one."""
    judges: list[str] = field(default_factory=list)
    judge_journals: list[Path] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BenchOutcome:
    suites: dict[str, tuple[SuiteSpec, Path | None]]
    models: dict[str, ModelRuns]
    battle_answers: dict[str, dict[str, str]]
    """Served model name -> battle prompt -> its answer."""
    items: dict[str, list[Item]] = field(default_factory=dict)


def part_scores(run: ModelRuns, part: str) -> list[tuple[str, str, float]]:
    """(task, item id, score in [0, 1]) of one part, from the journal (writing: judged)."""
    out = []
    for r in run.results.get(part, []):
        if r.task == "writing":
            rating = run.judged.get(r.item_id)
            if rating is not None:
                out.append((r.task, r.item_id, (rating - 1.0) / 9.0))
        elif r.score is not None:
            out.append((r.task, r.item_id, float(r.score)))
    return sorted(out)


def part_measurement(run: ModelRuns, part: str, seed: int) -> tuple[Measurement, str, int]:
    """Mean with a seeded bootstrap 95% interval, the SHA-256 of the scored items, and n."""
    scores = part_scores(run, part)
    digest = hashlib.sha256(json.dumps(scores, ensure_ascii=False).encode()).hexdigest()
    if not scores:
        return Measurement(0.0, 0.0, 0.0), digest, 0
    ci = bootstrap_ci([s for _, _, s in scores], np.random.default_rng(seed))
    est = float(ci.estimate)
    return Measurement(est, float(min(ci.low, est)), float(max(ci.high, est))), digest, len(scores)


async def _engine_run(
    backend: Backend,
    tasks: Sequence[EngineTask],
    journal: Path,
    cache: Path,
    on_item: Callable[[ItemResult], None] | None,
) -> list[ItemResult]:
    finished = latest_by_key(read_journal(journal))
    sink = JsonlJournal(journal)
    try:
        engine = Engine(
            backend, concurrency=1, sinks=[sink], cache=ResponseCache(cache), on_item=on_item
        )
        outcome = await engine.run(tasks, finished=finished)
    finally:
        sink.close()
    if outcome.error is not None:
        raise outcome.error
    return list(outcome.results)


def _no_score(_item: Item, _prompt: RenderedPrompt, _response: Response) -> ItemScore:
    return ItemScore(None, None)


def _rating(_item: Item, _prompt: RenderedPrompt, response: Response) -> ItemScore:
    r = parse_rating(response.text)
    return ItemScore(r, None if r is None else f"{r:g}")


def battle_items(prompts: Sequence[str]) -> list[Item]:
    return [Item(id=f"battle-{k}", kind="writing", prompt=p) for k, p in enumerate(prompts)]


async def run_all(
    models: Mapping[str, tuple[Path, Backend]],
    judge_pool: Sequence[str],
    battle_prompts: Sequence[str],
    *,
    shared: Path | None,
    journal_dir: Path,
    cache_dir: Path,
    seed: int,
    cache_root: Path,
    on_item: Callable[[str], None] = lambda _m: None,
) -> BenchOutcome:
    """Run every part for every model in ``models`` (served name -> (model dir, generation
    backend)); ``targets`` maps a team's model to its declared target model's name (run on the
    team suite too); the writing answers of each model are judged by the first two of
    ``judge_pool`` that are not that model."""
    spec = suites(shared, seed)
    out = BenchOutcome(spec, {}, {})
    for part, (suite, root) in spec.items():
        for task, items in load_suite_items(suite, root).items():
            out.items[f"{part}/{task}"] = items

    def tick(name: str) -> Callable[[ItemResult], None]:
        return lambda r: on_item(f"{name}: {r.task} {r.item_id}")

    for name, (folder, gen) in models.items():
        run = out.models.setdefault(name, ModelRuns(name))
        # Log-likelihood parts: the local transformers backend on the same weights.
        local: Backend = LocalModel(functools.partial(_open_local, folder), folder, cache_root)
        try:
            for part in ("common", "team"):
                suite, root = spec[part]
                res = await run_suite_async(
                    suite,
                    local.uri,
                    data_root=root,
                    journal_dir=journal_dir,
                    cache_dir=cache_dir,
                    concurrency=1,
                    backend=local,
                    on_item=tick(name),
                )
                if res.outcome.error is not None:
                    raise res.outcome.error
                run.results[part] = list(res.outcome.results)
                run.journals[part] = journal_path(journal_dir, suite, local.uri)
        finally:
            await local.aclose()
        # Generation: the model server.
        suite, root = spec["government"]
        res = await run_suite_async(
            suite,
            gen.uri,
            data_root=root,
            journal_dir=journal_dir,
            cache_dir=cache_dir,
            concurrency=1,
            max_tokens=GEN_TOKENS,
            backend=gen,
            on_item=tick(name),
        )
        if res.outcome.error is not None:
            raise res.outcome.error
        run.results["government"] = list(res.outcome.results)
        run.journals["government"] = journal_path(journal_dir, suite, gen.uri)
        battles = battle_items(battle_prompts)
        btask = EngineTask(
            name="battle-answers",
            items=tuple(battles),
            render=lambda it: render(it, "plain"),
            method="generate",
            score=_no_score,
            params=GenerateParams(temperature=0.0, max_tokens=GEN_TOKENS),
        )
        done = await _engine_run(
            gen,
            [btask],
            journal_dir / f"battles__{_slug(gen.uri)}.jsonl",
            cache_dir,
            tick(name),
        )
        by_id = {r.item_id: r.response for r in done}
        out.battle_answers[name] = {it.prompt: by_id.get(it.id, "") for it in battles}
    # The judge panel.
    writing = out.items["government/writing"]
    for name, run in out.models.items():
        panel = [j for j in judge_pool if j != name][:2]
        run.judges = panel
        answers = {
            r.item_id: (r.turn_texts or (r.response,))
            for r in run.results["government"]
            if r.task == "writing"
        }
        verdicts = []
        for judge in panel:
            backend = models[judge][1]
            tasks = []
            for turn in JUDGED_TURNS:
                turn_items = tuple(it for it in writing if len(it.turns or (it.prompt,)) >= turn)

                def rend(
                    it: Item, _turn: int = turn, _answers: dict[str, Any] = answers
                ) -> RenderedPrompt:
                    jp = build_judge_prompt(it, _answers[it.id], _turn, JUDGE_TEMPLATE)
                    return RenderedPrompt(context=jp.user, system=jp.system)

                tasks.append(
                    EngineTask(
                        name=f"judge-turn-{turn}",
                        items=turn_items,
                        render=rend,
                        method="generate",
                        score=_rating,
                        params=GenerateParams(temperature=0.0, max_tokens=JUDGE_TOKENS),
                    )
                )
            jpath = (
                journal_dir / f"judge__{_slug(backend.uri)}__on__{_slug(models[name][1].uri)}.jsonl"
            )
            run.judge_journals.append(jpath)
            for r in await _engine_run(backend, tasks, jpath, cache_dir, tick(judge)):
                turn = int(r.task.rsplit("-", 1)[1])
                it = next(x for x in writing if x.id == r.item_id)
                jp = build_judge_prompt(it, answers[it.id], turn, JUDGE_TEMPLATE)
                v = verdict(r.item_id, judge, backend.uri, jp, r.response, turn)
                verdicts.append(v)
                run.verdicts.append(
                    {"item": r.item_id, "judge": judge, "turn": turn, "rating": v.rating}
                )
        for it in writing:
            mine = [v for v in verdicts if v.item_id == it.id]
            run.judged[it.id] = aggregate_item(mine, name, min_judges=2).mean if mine else None
    return out


def _open_local(folder: Path) -> Backend:
    return open_backend(f"hf:{folder}", num_threads=1)


def _slug(text: str) -> str:
    text = text.removeprefix("openai-compat:demo-server#")
    return "".join(ch if ch.isalnum() or ch in "._-@" else "-" for ch in text)[:60]


def run_all_blocking(*args: Any, **kwargs: Any) -> BenchOutcome:
    return asyncio.run(run_all(*args, **kwargs))
