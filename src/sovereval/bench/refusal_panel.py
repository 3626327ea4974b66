"""The judge panel for refusal labels the rules left unsure, applied to a finished run.

Judges are models reached through the same backends as the model under test
(:class:`BackendJudge`). The journal keeps the model's answers as first recorded (its resume
contract: the first record of a key wins), so the panel's verdicts -- raw judge answers,
labels, prompt hash -- go to a side file ``<journal>.refusal-panel.jsonl`` for audit, and the
run's results in memory carry the panel's scores.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from sovereval.bench import safety
from sovereval.bench.backends import Backend, GenerateParams
from sovereval.bench.backends.base import Message
from sovereval.bench.journal import ItemResult
from sovereval.bench.runner import SuiteRun, summarise


class BackendJudge:
    """A :class:`~sovereval.bench.judges.Judge` over a backend (temperature 0)."""

    def __init__(
        self, backend: Backend, name: str | None = None, version: str = "1", max_tokens: int = 32
    ) -> None:
        self.backend = backend
        self.name = name or backend.uri
        self.version = version
        self.max_tokens = max_tokens

    async def generate(self, prompt: str, system: str = "") -> str:
        messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
        out = await self.backend.generate(
            messages, GenerateParams(temperature=0.0, max_tokens=self.max_tokens)
        )
        return out.text


def panel_path(journal: Path) -> Path:
    """Where the panel's verdicts for a journal are kept."""
    return journal.with_name(journal.stem + ".refusal-panel.jsonl")


async def resolve_unsure(
    run: SuiteRun, judges: Sequence[BackendJudge], min_judges: int = 2
) -> safety.PanelOutcome | None:
    """Send every ``refusal``-scored result the rules left unsure to the panel, update
    ``run`` in place (results and summaries; the journal gets the new records) and return the
    panel's outcome, or ``None`` when nothing was unsure."""
    refusal_tasks = {t.name for t in run.suite.tasks if t.scorer == "refusal"}
    items = {(task, it.id): it for task, its in run.items.items() for it in its}
    unsure = [
        r
        for r in run.outcome.results
        if r.task in refusal_tasks and r.score is None and r.extracted in ("unsure", "panel:unsure")
    ]
    if not unsure:
        return None
    cases = [
        (f"{r.task}/{r.item_id}", items[(r.task, r.item_id)].prompt, r.response) for r in unsure
    ]
    panel = await safety.judge_unsure(cases, judges, run.model, min_judges)
    updated: dict[str, ItemResult] = {}
    for r in unsure:
        label = panel.labels[f"{r.task}/{r.item_id}"]
        expected = items[(r.task, r.item_id)].target
        metrics = dict(r.metrics) | {"judged": 1.0}
        updated[r.key] = dataclasses.replace(
            r,
            score=safety.score_label(expected, label),
            extracted=f"panel:{label}",
            metrics=metrics,
        )
    run.outcome.results = [updated.get(r.key, r) for r in run.outcome.results]
    if run.journal is not None:
        with panel_path(run.journal).open("a", encoding="utf-8") as fh:
            for v in panel.verdicts:
                fh.write(json.dumps(dataclasses.asdict(v), ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    run.summaries = summarise(run.suite, run.outcome.results)
    return panel
