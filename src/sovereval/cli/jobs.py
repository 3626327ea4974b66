"""``sovereval jobs``: run benchmark suites and provenance scans on an executor, and inspect jobs.

``--executor ray --ray-address HOST:PORT`` sends the units to a Ray cluster; the default is
the local pool. Every job is journaled in ``<data dir>/jobs``: re-running the same command
resumes it, and ``sovereval jobs status`` shows what is done, failed or pending.

Other command groups take the same options with :data:`ExecutorOpt`, :data:`RayAddressOpt`,
:data:`WorkersOpt` and build the executor with :func:`cli_executor`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sovereval.cli.common import ctx_of, emit_json, err_console
from sovereval.errors import InputError, NotFoundError
from sovereval.execution import Executor, executor_for
from sovereval.execution.journal import list_jobs, read_state
from sovereval.settings import Settings

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

ExecutorOpt = typer.Option(
    None, "--executor", envvar="SOVEREVAL_EXECUTOR", help="Where units run: local (default) or ray."
)
RayAddressOpt = typer.Option(
    None,
    "--ray-address",
    envvar="SOVEREVAL_RAY_ADDRESS",
    help="Ray cluster address HOST:PORT (ray executor; default: a private local Ray).",
)
WorkersOpt = typer.Option(
    None, "--workers", envvar="SOVEREVAL_WORKERS_LOCAL", min=1, help="Local pool size."
)
RetriesOpt = typer.Option(
    3, "--max-retries", envvar="SOVEREVAL_MAX_RETRIES", min=0, help="Attempts after the first."
)


def cli_executor(
    settings: Settings,
    executor: str | None,
    ray_address: str | None,
    workers: int | None = None,
    max_retries: int = 3,
) -> Executor:
    """The executor a command's ``--executor/--ray-address/--workers`` options ask for."""
    return executor_for(
        executor, address=ray_address, workers=workers, max_retries=max_retries, settings=settings
    )


def jobs_dir(settings: Settings) -> Path:
    return settings.data_dir / "jobs"


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{what} must be NAME=PATH, not {v!r}")
        if name in out:
            raise InputError(f"{what} name {name!r} given twice")
        out[name] = path
    return out


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every journaled job, newest first: done, failed and pending units."""
    states = list_jobs(jobs_dir(ctx_of(ctx).settings))
    rows = [
        {
            "job": s.header.get("job"),
            "name": s.header.get("name", ""),
            "kind": s.header.get("kind"),
            "units": s.total,
            "done": len(s.done),
            "failed": len(s.failed),
            "pending": s.total - len(s.done) - len(s.failed),
            "created": s.header.get("created"),
        }
        for s in states
    ]
    if as_json:
        emit_json({"jobs": rows})
        return
    table = Table(title="jobs")
    for col in ("job", "name", "kind", "done", "failed", "pending", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["job"]), r["name"], str(r["kind"]), f"{r['done']}/{r['units']}",
            str(r["failed"]), str(r["pending"]), str(r["created"]),
        )  # fmt: skip
    Console().print(table)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="Job id (a prefix is enough)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One job: progress, failures with their errors, which workers did the work."""
    folder = jobs_dir(ctx_of(ctx).settings)
    matches = sorted(folder.glob(f"{job}*.jsonl")) if folder.is_dir() else []
    if len(matches) != 1:
        raise NotFoundError(
            f"no job {job!r} in {folder}" if not matches else f"job prefix {job!r} is ambiguous"
        )
    s = read_state(matches[0])
    labels = dict(s.header.get("meta", {}).get("labels", {}))
    workers: dict[str, int] = {}
    for rec in s.done.values():
        w = str(rec.get("worker", ""))
        workers[w] = workers.get(w, 0) + 1
    data: dict[str, Any] = {
        "job": s.header.get("job"),
        "name": s.header.get("name"),
        "kind": s.header.get("kind"),
        "journal": str(s.path),
        "units": s.total,
        "done": len(s.done),
        "complete": s.complete,
        "retried": sum(1 for r in s.done.values() if int(r.get("attempts", 1)) > 1),
        "failed": [
            {
                "unit": labels.get(k, k),
                "error": f"{r.get('error_type')}: {r.get('error')}",
                "attempts": r.get("attempts"),
            }
            for k, r in s.failed.items()
        ],
        "workers": workers,
    }
    if as_json:
        emit_json(data)
        return
    out = Console()
    out.print(
        f"job {data['job']} ({data['kind']}, {data['name']}): {data['done']}/{data['units']} done, "
        f"{len(data['failed'])} failed, {data['retried']} needed a retry",
        highlight=False,
    )
    for f in data["failed"]:
        out.print(
            f"  failed {f['unit']}: {f['error']} after {f['attempts']} attempt(s)", highlight=False
        )
    for w, n in sorted(workers.items()):
        out.print(f"  worker {w}: {n} unit(s)", highlight=False)


@app.command("bench")
def bench_cmd(
    ctx: typer.Context,
    suite: str = typer.Option(
        ..., "--suite", envvar="SOVEREVAL_BENCH_SUITE", help="Suite file or name."
    ),
    model: list[str] = typer.Option(..., "--model", help="Model URI; repeat for several models."),
    data_root: Path | None = typer.Option(None, "--data-root", envvar="SOVEREVAL_BENCH_DATA_ROOT"),
    shard_size: int = typer.Option(32, "--shard-size", min=1, help="Items per unit of work."),
    concurrency: int = typer.Option(
        8, "--concurrency", min=1, help="Requests in flight per shard."
    ),
    executor: str | None = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    workers: int | None = WorkersOpt,
    max_retries: int = RetriesOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run SUITE on every MODEL, sharded over the executor; re-run to resume."""
    from sovereval.bench.catalogue import load_suite
    from sovereval.bench.runner import summarise
    from sovereval.execution.plans import run_bench_job

    settings = ctx_of(ctx).settings
    spec = load_suite(suite)
    with cli_executor(settings, executor, ray_address, workers, max_retries) as ex:
        job = run_bench_job(
            spec, model, ex, data_root=data_root, jobs_dir=jobs_dir(settings),
            bench_journal_dir=settings.data_dir / "bench" / "journals", shard_size=shard_size,
            concurrency=concurrency, progress=not as_json, console=err_console,
        )  # fmt: skip
    rep = job.report
    payload: dict[str, Any] = {
        "job": rep.job,
        "executor": rep.executor,
        "units": len(rep.outcomes) + len(rep.failed),
        "resumed": rep.resumed,
        "executed": rep.executed,
        "lost": rep.lost,
        "failed": [o.error for o in rep.failed],
        "elapsed_s": round(rep.elapsed_s, 3),
        "models": {
            m: [s.__dict__ for s in summarise(spec, rs)] for m, rs in sorted(job.results.items())
        },
    }
    if as_json:
        emit_json(payload)
    else:
        table = Table(title=f"{spec.name} v{spec.version} — job {rep.job}")
        for col in ("model", "task", "n", "scored", "mean"):
            table.add_column(col)
        for m, rows in payload["models"].items():
            for r in rows:
                mean = "-" if r["mean"] is None else f"{r['mean']:.4f}"
                table.add_row(m, r["task"], str(r["n"]), str(r["n_scored"]), mean)
        Console().print(table)
        err_console.print(
            f"{rep.executed} unit(s) run, {rep.resumed} resumed, {rep.lost} lost and retried, "
            f"{len(rep.failed)} failed in {rep.elapsed_s:.1f} s",
            highlight=False,
        )
    if rep.failed:
        raise InputError(
            f"{len(rep.failed)} unit(s) failed; first: {rep.failed[0].error}; re-run to retry"
        )


@app.command("scan")
def scan_cmd(
    ctx: typer.Context,
    candidate: list[str] = typer.Option(
        ..., "--candidate", help="NAME=PATH of a submission; repeatable."
    ),
    reference: list[str] = typer.Option(
        ..., "--reference", help="NAME=PATH of a reference model; repeatable."
    ),
    seed: int = typer.Option(0, "--seed", envvar="SOVEREVAL_SEED"),
    option: list[str] = typer.Option(
        [], "--option", help="Comparison option KEY=VALUE (probes=64)."
    ),
    component: list[str] = typer.Option([], "--component", help="Only this component; repeatable."),
    executor: str | None = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    workers: int | None = WorkersOpt,
    max_retries: int = RetriesOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compare every candidate with every reference over the executor; re-run to resume."""
    from sovereval.execution.plans import run_provenance_scan

    settings = ctx_of(ctx).settings
    opts = {k: _option_value(v) for k, v in _pairs(option, "--option").items()}
    with cli_executor(settings, executor, ray_address, workers, max_retries) as ex:
        scan = run_provenance_scan(
            _pairs(candidate, "--candidate"), _pairs(reference, "--reference"), ex, seed=seed,
            options=opts, components=component, jobs_dir=jobs_dir(settings),
            progress=not as_json, console=err_console,
        )  # fmt: skip
    rows = [
        {"candidate": c, "reference": r, "verdict": res["verdict"], "derivation": res["derivation"]}
        for (c, r), res in sorted(scan.results.items())
    ]
    rep = scan.report
    if as_json:
        emit_json({"job": rep.job, "executor": rep.executor, "pairs": rows,
                   "failed": [o.error for o in rep.failed]})  # fmt: skip
    else:
        table = Table(title=f"provenance scan — job {rep.job}")
        for col in ("candidate", "reference", "verdict", "derivation"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["candidate"], r["reference"], r["verdict"], r["derivation"])
        Console().print(table)
    if rep.failed:
        raise InputError(f"{len(rep.failed)} comparison(s) failed; first: {rep.failed[0].error}")
