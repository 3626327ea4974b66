"""``sovereval bench``: run a suite against a model, report a journal, verify a commitment.

Every option also reads a ``SOVEREVAL_*`` environment variable. Any sovereval error prints one
line to stderr and exits with code 2; a run stopped by a dead or slow server keeps its finished
items in the journal, and the same command resumes it.

The store integration is a hook: the lead registers a factory with
:func:`register_submission_sink`, and ``--submission ID`` then adds that sink to the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sovereval.bench.catalogue import SuiteSpec, load_suite
from sovereval.bench.journal import ItemResult, ItemSink, latest_by_key, read_journal
from sovereval.bench.runner import SuiteRun, run_suite
from sovereval.errors import InputError, SovereValError

app = typer.Typer(
    name="bench",
    help="Benchmarks: run suites against model servers or local weights, report, verify commitments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

SubmissionSinkFactory = Callable[[str, SuiteSpec, str], ItemSink]
"""``(submission_id, suite, model_uri) -> sink`` — built by the store layer."""

_submission_sink_factory: SubmissionSinkFactory | None = None


def register_submission_sink(factory: SubmissionSinkFactory | None) -> None:
    """Let ``--submission ID`` write every finished item through ``factory(...)``'s sink."""
    global _submission_sink_factory
    _submission_sink_factory = factory


def _fail(exc: SovereValError) -> typer.Exit:
    err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _summary_rows(run: SuiteRun, seed: int) -> list[dict[str, Any]]:
    from sovereval.bench.stats import bootstrap_ci

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    by_task = run.outcome.by_task()
    for s in run.summaries:
        scores = [r.score for r in by_task.get(s.task, []) if r.score is not None]
        low = high = None
        if scores:
            ci = bootstrap_ci(scores, rng)
            low, high = ci.low, ci.high
        rows.append(
            {
                "task": s.task,
                "skill": s.skill,
                "scorer": s.scorer,
                "n": s.n,
                "n_scored": s.n_scored,
                "mean": s.mean,
                "ci95": [low, high] if low is not None else None,
                "latency_mean_s": round(s.latency_mean_s, 4),
                "tokens_out": s.tokens_out,
            }
        )
    return rows


def _print_table(title: str, rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title=title)
    for col in ("task", "skill", "scorer", "n", "scored", "mean", "95% CI", "latency s"):
        table.add_column(col, justify="right" if col not in {"task", "skill", "scorer"} else "left")
    for r in rows:
        ci = r["ci95"]
        table.add_row(
            r["task"],
            r["skill"],
            r["scorer"],
            str(r["n"]),
            str(r["n_scored"]),
            "-" if r["mean"] is None else f"{r['mean']:.4f}",
            "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
            f"{r['latency_mean_s']:.3f}",
        )
    console.print(table)


def _judge_refusals(run: SuiteRun, judges: list[str], options: dict[str, object]) -> Any:
    import asyncio

    from sovereval.bench.backends import open_backend
    from sovereval.bench.refusal_panel import BackendJudge, resolve_unsure

    async def go() -> Any:
        panel = [BackendJudge(open_backend(uri, **options)) for uri in judges]
        try:
            return await resolve_unsure(run, panel)
        finally:
            for j in panel:
                await j.backend.aclose()

    return asyncio.run(go())


def _government_extras(run: SuiteRun, seed: int, panel: Any, report: Path | None) -> dict[str, Any]:
    """Categories with intervals, beyond-context counts and the panel's agreement; writes the
    HTML report when asked."""
    import dataclasses

    from sovereval.bench.breakdown import breakdown

    b = breakdown(
        run.suite,
        run.model,
        run.items,
        run.outcome.results,
        run.beyond_context,
        np.random.default_rng(seed),
        context_window=run.context_window,
        panel=panel,
    )
    extra: dict[str, Any] = {
        "categories": [dataclasses.asdict(c) for c in b.categories],
        "context_window": run.context_window,
        "beyond_context": {k: len(v) for k, v in run.beyond_context.items()},
    }
    if panel is not None:
        extra["refusal_panel"] = {
            "items": panel.n_items,
            "judges": panel.n_judges,
            "alpha_nominal": panel.alpha_nominal,
            "pairwise_agreement": panel.pairwise_agreement,
        }
    if b.ifeval:
        extra["ifeval"] = {k: dataclasses.asdict(v) for k, v in b.ifeval.items()}
    if report is not None:
        from sovereval.report.bench_report import write_bench_report

        extra["report"] = str(write_bench_report(b, report))
    return extra


def _print_extras(extra: dict[str, Any], console: Console) -> None:
    if (
        any(c["category"] != c["tasks"][0] for c in extra["categories"])
        or len(extra["categories"]) > 1
    ):
        table = Table(title="categories")
        for col in ("category", "n", "scored", "mean", "95% CI", "beyond context"):
            table.add_column(col)
        for c in extra["categories"]:
            table.add_row(
                c["category"],
                str(c["n"]),
                str(c["n_scored"]),
                "-" if c["mean"] is None else f"{c['mean']:.4f}",
                "-" if c["low"] is None else f"[{c['low']:.3f}, {c['high']:.3f}]",
                str(c["beyond_context"] or ""),
            )
        console.print(table)
    if "refusal_panel" in extra:
        p = extra["refusal_panel"]
        alpha = "-" if p["alpha_nominal"] is None else f"{p['alpha_nominal']:.3f}"
        agree = "-" if p["pairwise_agreement"] is None else f"{p['pairwise_agreement']:.3f}"
        console.print(
            f"refusal panel: {p['judges']} judges on {p['items']} unsure answers; "
            f"alpha (nominal) {alpha}, pairwise agreement {agree}",
            highlight=False,
        )
    if "report" in extra:
        console.print(f"report: {extra['report']}", markup=False, highlight=False)


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    suite: Annotated[
        str,
        typer.Option(
            "--suite", envvar="SOVEREVAL_BENCH_SUITE", help="Suite YAML file or shipped suite name."
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            envvar="SOVEREVAL_BENCH_MODEL",
            help="Model URI: openai-compat:URL#name, hf:DIR[?gguf_file=F], mock:",
        ),
    ],
    submission: Annotated[
        str | None,
        typer.Option(
            "--submission",
            envvar="SOVEREVAL_BENCH_SUBMISSION",
            help="Record results for this submission id.",
        ),
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root",
            envvar="SOVEREVAL_BENCH_DATA_ROOT",
            help="Folder the suite's task paths are relative to.",
        ),
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(
            "--journal",
            envvar="SOVEREVAL_BENCH_JOURNAL",
            help="Journal folder (resume); default: <data dir>/bench/journals.",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            envvar="SOVEREVAL_BENCH_CACHE",
            help="Response cache folder; default: <data dir>/bench/cache.",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the response cache.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", envvar="SOVEREVAL_BENCH_CONCURRENCY", min=1, max=1024)
    ] = 8,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", envvar="SOVEREVAL_BENCH_MAX_TOKENS", min=1)
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", envvar="SOVEREVAL_BENCH_TIMEOUT", help="Per-request timeout, seconds."
        ),
    ] = 120.0,
    retries: Annotated[int, typer.Option("--retries", envvar="SOVEREVAL_BENCH_RETRIES", min=0)] = 4,
    seed: Annotated[
        int, typer.Option("--seed", envvar="SOVEREVAL_BENCH_SEED", help="Bootstrap seed.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    subject: Annotated[
        str,
        typer.Option(
            "--subject",
            help="With --submission: 'model' (the team's model) or 'target' (its declared target model).",
        ),
    ] = "model",
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            envvar="SOVEREVAL_BENCH_JUDGE",
            help="Judge model URI for refusal answers the rules leave unsure (repeat; at least 2).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            envvar="SOVEREVAL_BENCH_REPORT",
            help="Write an HTML report (categories, long-context heatmap, refusal table).",
        ),
    ] = None,
    context_window: Annotated[
        int | None,
        typer.Option(
            "--context-window",
            envvar="SOVEREVAL_BENCH_CONTEXT_WINDOW",
            min=1,
            help="Declared context window in tokens (default: what the backend declares).",
        ),
    ] = None,
) -> None:
    """Run SUITE against MODEL; re-running the same command resumes an interrupted run. With
    --submission, every item is stored with the submission and, once the run is complete, the
    suite's part score (mean with a bootstrap 95% interval) is recorded for scoring."""
    from sovereval.cli.common import ctx_of

    cli = ctx_of(ctx)
    settings = cli.settings
    journal_dir = journal or settings.data_dir / "bench" / "journals"
    cache_dir = None if no_cache else (cache or settings.data_dir / "bench" / "cache")
    try:
        spec = load_suite(suite)
        sinks: list[ItemSink] = []
        store_sink = None
        if submission is not None:
            if _submission_sink_factory is not None:
                sinks.append(_submission_sink_factory(submission, spec, model))
            else:
                from sovereval.bench.store_sink import StoreSink

                if not submission.isdigit():
                    raise InputError(f"--submission must be a submission id, not '{submission}'")
                store_sink = StoreSink(cli.store, int(submission), spec, model, actor=cli.actor)
                sinks.append(store_sink)
        options: dict[str, object] = {
            "timeout_s": timeout,
            "max_retries": retries,
            "concurrency": concurrency,
        }
        if model.startswith(("hf:", "mock:")):
            options = {}
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=as_json,
            transient=False,
        )
        bar: list[Any] = []

        def on_plan(total: int, done: int) -> None:
            bar.append(progress.add_task(f"{spec.name} on {model}", total=total, completed=done))

        def on_item(_result: ItemResult) -> None:
            if bar:
                progress.advance(bar[0])

        with progress:
            run = run_suite(
                spec,
                model,
                data_root=data_root,
                journal_dir=journal_dir,
                cache_dir=cache_dir,
                concurrency=concurrency,
                max_tokens=max_tokens,
                sinks=sinks,
                on_item=on_item,
                on_plan=on_plan,
                backend_options=options,
                context_window=context_window,
            )
        panel = _judge_refusals(run, judge or [], options) if judge else None
        extra = _government_extras(run, seed, panel, report)
    except SovereValError as exc:
        raise _fail(exc) from None
    rows = _summary_rows(run, seed)
    out = Console()
    if as_json:
        payload = {
            "suite": spec.name,
            "suite_version": spec.version,
            "part": spec.part,
            "model": run.model,
            "journal": str(run.journal) if run.journal else None,
            "items": run.total_items,
            "finished": len(run.outcome.results),
            "resumed": run.outcome.resumed,
            "executed": run.outcome.executed,
            "cached": run.outcome.cached,
            "elapsed_s": round(run.outcome.elapsed_s, 3),
            "error": str(run.outcome.error) if run.outcome.error else None,
            "tasks": rows,
            **extra,
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
    else:
        _print_table(f"{spec.name} v{spec.version} — {run.model}", rows, out)
        out.print(
            f"{len(run.outcome.results)}/{run.total_items} items finished "
            f"({run.outcome.resumed} resumed, {run.outcome.executed} run, {run.outcome.cached} from cache) "
            f"in {run.outcome.elapsed_s:.1f} s; journal: {run.journal}",
            markup=False,
            highlight=False,
        )
        _print_extras(extra, out)
    if run.outcome.error is not None:
        raise _fail(run.outcome.error)
    if store_sink is not None and len(run.outcome.results) == run.total_items:
        from sovereval.bench.store_sink import record_part

        # Items resumed from the journal never passed through the sink; the sink is idempotent.
        store_sink.write(list(run.outcome.results))

        meas = record_part(
            cli.store,
            int(store_sink.submission_id),
            spec,
            model,
            seed=seed,
            actor=cli.actor,
            subject=subject,
        )
        if not as_json:
            out.print(
                f"recorded part '{spec.part}' = {meas.value:.4f} [{meas.lo:.4f}, {meas.hi:.4f}] "
                f"for submission {submission}",
                highlight=False,
            )


@app.command("report")
def report_cmd(
    journal: Annotated[list[Path], typer.Argument(help="Journal file(s) written by 'bench run'.")],
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", envvar="SOVEREVAL_BENCH_SUITE", help="Suite spec, for skills and task order."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", envvar="SOVEREVAL_BENCH_SEED")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per-task mean with a seeded bootstrap 95% interval, from journal files."""
    from sovereval.bench.stats import bootstrap_ci

    try:
        results: list[ItemResult] = []
        for path in journal:
            if not path.is_file():
                raise InputError(
                    f"journal {path} does not exist; give the file 'bench run' printed"
                )
            results.extend(latest_by_key(read_journal(path)).values())
        order = [t.name for t in load_suite(suite).tasks] if suite else []
    except SovereValError as exc:
        raise _fail(exc) from None
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[ItemResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.task), []).append(r)
    keys = sorted(
        groups, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else len(order), k[1])
    )
    rows: list[dict[str, Any]] = []
    for model, task in keys:
        rs = groups[(model, task)]
        scores = [r.score for r in rs if r.score is not None]
        ci = bootstrap_ci(scores, rng) if scores else None
        rows.append(
            {
                "model": model,
                "task": task,
                "n": len(rs),
                "n_scored": len(scores),
                "mean": ci.estimate if ci else None,
                "ci95": [ci.low, ci.high] if ci else None,
                "latency_mean_s": sum(r.latency_s for r in rs) / len(rs),
                "tokens_out": sum(r.completion_tokens for r in rs),
            }
        )
    out = Console()
    if as_json:
        out.print_json(json.dumps({"tasks": rows}, ensure_ascii=False))
        return
    table = Table(title="benchmark report")
    for col in ("model", "task", "n", "scored", "mean", "95% CI", "latency s"):
        table.add_column(col)
    for row in rows:
        ci95 = row["ci95"]
        table.add_row(
            row["model"],
            row["task"],
            str(row["n"]),
            str(row["n_scored"]),
            "-" if row["mean"] is None else f"{row['mean']:.4f}",
            "-" if ci95 is None else f"[{ci95[0]:.3f}, {ci95[1]:.3f}]",
            f"{row['latency_mean_s']:.3f}",
        )
    out.print(table)


@app.command("verify-commitment")
def verify_commitment_cmd(
    commitment: Annotated[
        Path, typer.Option("--commitment", help="Published commitment JSON file.")
    ],
    suite: Annotated[
        str,
        typer.Option(
            "--suite", envvar="SOVEREVAL_BENCH_SUITE", help="Suite spec of the revealed set."
        ),
    ],
    data_root: Annotated[
        Path | None, typer.Option("--data-root", envvar="SOVEREVAL_BENCH_DATA_ROOT")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task of the suite.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a revealed item set against its published Merkle-root commitment (exit 1 on mismatch)."""
    from pydantic import ValidationError

    from sovereval.bench.catalogue import load_suite_items
    from sovereval.bench.commitment import Commitment, verify

    try:
        try:
            published = Commitment.model_validate_json(commitment.read_bytes())
        except OSError as exc:
            raise InputError(f"cannot read commitment {commitment}: {exc.strerror}") from None
        except ValidationError as exc:
            raise InputError(
                f"{commitment} is not a commitment JSON file ({exc.error_count()} errors)"
            ) from None
        spec = load_suite(suite)
        items_by_task = load_suite_items(spec, data_root)
        if task is not None and task not in items_by_task:
            raise InputError(f"suite {spec.name} has no task {task!r}")
        items = [it for name, its in items_by_task.items() if task in (None, name) for it in its]
        result = verify(items, published)
    except SovereValError as exc:
        raise _fail(exc) from None
    out = Console()
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "ok": result.ok,
                    "expected_root": result.expected_root,
                    "actual_root": result.actual_root,
                    "expected_n": result.expected_n,
                    "actual_n": result.actual_n,
                    "altered": list(result.altered),
                    "missing": list(result.missing),
                    "unexpected": list(result.unexpected),
                },
                ensure_ascii=False,
            )
        )
    else:
        out.print(result.summary(), markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(code=1)


if __name__ == "__main__":  # pragma: no cover - ``python -m sovereval.cli.bench``
    app()
