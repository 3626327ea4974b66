"""Breakdowns of a finished run for reports: per category (with bootstrap intervals), the
long-context grid by length and depth, the refusal table and IFEval's four accuracies.

Pure functions of the run's results and items (and a seeded generator for the intervals);
the HTML and the heatmap are drawn in ``report/bench_report.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sovereval.bench.catalogue import SuiteSpec
from sovereval.bench.items import Item
from sovereval.bench.journal import ItemResult
from sovereval.bench.safety import PanelOutcome
from sovereval.bench.stats import bootstrap_ci

BEYOND = "beyond declared context"


@dataclass(frozen=True)
class CategoryRow:
    category: str
    tasks: tuple[str, ...]
    n: int
    n_scored: int
    mean: float | None
    low: float | None
    high: float | None
    beyond_context: int


def categories(
    suite: SuiteSpec,
    results: Sequence[ItemResult],
    beyond: Mapping[str, Sequence[Item]],
    rng: np.random.Generator,
) -> list[CategoryRow]:
    """One row per category in suite order: the mean of every scored item of its tasks, with
    a percentile-bootstrap 95% interval (``stats.bootstrap_ci``). Tasks without a category
    are grouped under their skill."""
    order: list[str] = []
    tasks: dict[str, list[str]] = {}
    for t in suite.tasks:
        cat: str = t.category or t.skill
        if cat not in tasks:
            order.append(cat)
            tasks[cat] = []
        tasks[cat].append(t.name)
    rows = []
    for cat in order:
        names = set(tasks[cat])
        rs = [r for r in results if r.task in names]
        scores = [r.score for r in rs if r.score is not None]
        ci = bootstrap_ci(scores, rng) if scores else None
        rows.append(
            CategoryRow(
                cat,
                tuple(tasks[cat]),
                len(rs),
                len(scores),
                ci.estimate if ci else None,
                ci.low if ci else None,
                ci.high if ci else None,
                sum(len(beyond.get(n, ())) for n in names),
            )
        )
    return rows


@dataclass(frozen=True)
class LongContextGrid:
    lengths: tuple[int, ...]
    depths: tuple[str, ...]
    cells: Mapping[tuple[str, int], tuple[int, int]]
    """(depth, length) -> (correct, scored) over the families that have a depth."""
    beyond: frozenset[tuple[str, int]]
    """Cells whose every item is beyond the declared context window."""
    by_family: Mapping[str, Mapping[int, tuple[int, int] | str]]
    """family -> length -> (correct, scored), or ``BEYOND``."""


def long_context_grid(
    items: Sequence[Item], results: Sequence[ItemResult], beyond: Sequence[Item]
) -> LongContextGrid:
    """Accuracy by length and depth of a long-context task's items."""
    by_id = {r.item_id: r for r in results}
    beyond_ids = {it.id for it in beyond}
    lengths = sorted({int(it.metadata["length"]) for it in items})
    depths = sorted({it.metadata["depth"] for it in items if it.metadata.get("depth")}, key=float)
    cells: dict[tuple[str, int], list[int]] = {}
    cell_beyond: dict[tuple[str, int], list[bool]] = {}
    fam: dict[str, dict[int, list[int]]] = {}
    fam_beyond: dict[str, dict[int, list[bool]]] = {}
    for it in items:
        length = int(it.metadata["length"])
        family = it.metadata["family"]
        is_beyond = it.id in beyond_ids
        fam_beyond.setdefault(family, {}).setdefault(length, []).append(is_beyond)
        r = by_id.get(it.id)
        ok = None if r is None or r.score is None else int(r.score == 1.0)
        acc = fam.setdefault(family, {}).setdefault(length, [0, 0])
        if ok is not None:
            acc[0] += ok
            acc[1] += 1
        depth = it.metadata.get("depth", "")
        if depth:
            cell_beyond.setdefault((depth, length), []).append(is_beyond)
            c = cells.setdefault((depth, length), [0, 0])
            if ok is not None:
                c[0] += ok
                c[1] += 1
    by_family: dict[str, dict[int, tuple[int, int] | str]] = {}
    for family, per in fam.items():
        by_family[family] = {
            length: BEYOND if all(fam_beyond[family][length]) else (c[0], c[1])
            for length, c in sorted(per.items())
        }
    return LongContextGrid(
        tuple(lengths),
        tuple(depths),
        {k: (v[0], v[1]) for k, v in cells.items()},
        frozenset(k for k, v in cell_beyond.items() if all(v)),
        by_family,
    )


@dataclass(frozen=True)
class RefusalRow:
    type: str
    expected: str
    n: int
    refused: int
    complied: int
    unsure: int
    """Left unsure by the rules (decided by the panel, or still unscored)."""
    judged: int
    correct: int
    scored: int


def refusal_table(items: Sequence[Item], results: Sequence[ItemResult]) -> list[RefusalRow]:
    """Per item type (harmful, benign look-alike, unanswerable, XSTest types): how often the
    model refused or complied, how many the rules left to the panel, and how many were right."""
    by_id = {r.item_id: r for r in results}
    groups: dict[tuple[str, str], list[Item]] = {}
    for it in items:
        groups.setdefault((it.metadata.get("type", "safety"), it.target), []).append(it)
    rows = []
    for (kind, expected), its in sorted(groups.items()):
        rs = [by_id[it.id] for it in its if it.id in by_id]
        labels = [str(r.extracted or "") for r in rs]
        final = [lbl.removeprefix("panel:") for lbl in labels]
        rows.append(
            RefusalRow(
                kind,
                expected,
                len(its),
                final.count("refused"),
                final.count("complied"),
                sum(lbl.endswith("unsure") or lbl.startswith("panel:") for lbl in labels),
                sum(lbl.startswith("panel:") for lbl in labels),
                int(sum(r.score for r in rs if r.score is not None)),
                sum(r.score is not None for r in rs),
            )
        )
    return rows


@dataclass(frozen=True)
class IfevalAccuracy:
    prompt_strict: float
    prompt_loose: float
    instruction_strict: float
    instruction_loose: float
    n_prompts: int
    n_instructions: int


def ifeval_accuracy(results: Sequence[ItemResult]) -> IfevalAccuracy | None:
    """IFEval's four numbers: prompt-level means, instruction-level ratios of sums."""
    rs = [r for r in results if "n_instructions" in r.metrics]
    if not rs:
        return None
    n_inst = sum(r.metrics["n_instructions"] for r in rs)
    return IfevalAccuracy(
        float(np.mean([r.score or 0.0 for r in rs])),
        float(np.mean([r.metrics["prompt_loose"] for r in rs])),
        sum(r.metrics["inst_strict"] for r in rs) / n_inst,
        sum(r.metrics["inst_loose"] for r in rs) / n_inst,
        len(rs),
        int(n_inst),
    )


@dataclass
class RunBreakdown:
    suite: str
    version: str
    part: str
    model: str
    context_window: int | None
    categories: list[CategoryRow]
    tasks: list[dict[str, Any]]
    long_context: dict[str, LongContextGrid] = field(default_factory=dict)
    refusals: dict[str, list[RefusalRow]] = field(default_factory=dict)
    panel: PanelOutcome | None = None
    ifeval: dict[str, IfevalAccuracy] = field(default_factory=dict)


def breakdown(
    suite: SuiteSpec,
    model: str,
    items: Mapping[str, Sequence[Item]],
    results: Sequence[ItemResult],
    beyond: Mapping[str, Sequence[Item]],
    rng: np.random.Generator,
    *,
    context_window: int | None = None,
    panel: PanelOutcome | None = None,
) -> RunBreakdown:
    """Everything the benchmark report shows for one run."""
    by_task: dict[str, list[ItemResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    task_rows = []
    for t in suite.tasks:
        rs = by_task.get(t.name, [])
        scores = [r.score for r in rs if r.score is not None]
        ci = bootstrap_ci(scores, rng) if scores else None
        task_rows.append(
            {
                "task": t.name,
                "category": t.category or t.skill,
                "scorer": t.scorer,
                "n": len(rs),
                "n_scored": len(scores),
                "mean": ci.estimate if ci else None,
                "ci95": [ci.low, ci.high] if ci else None,
                "beyond_context": len(beyond.get(t.name, ())),
            }
        )
    out = RunBreakdown(
        suite.name,
        suite.version,
        suite.part,
        model,
        context_window,
        categories(suite, results, beyond, rng),
        task_rows,
        panel=panel,
    )
    for t in suite.tasks:
        rs = by_task.get(t.name, [])
        if t.scorer == "longctx_match":
            out.long_context[t.name] = long_context_grid(
                items.get(t.name, []), rs, beyond.get(t.name, [])
            )
        elif t.scorer == "refusal":
            out.refusals[t.name] = refusal_table(items.get(t.name, []), rs)
        elif t.scorer == "ifeval":
            acc = ifeval_accuracy(rs)
            if acc is not None:
                out.ifeval[t.name] = acc
    return out
