"""``sovereval demo`` and ``sovereval report``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sovereval.demo import DemoOutcome
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json


def demo(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Directory for the demo database and report."
    ),
    seed: int = typer.Option(20250815, help="Seed of every simulated input."),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="Scripted inputs and synthetic checkpoints (seconds, no model extras needed).",
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        envvar="SOVEREVAL_DEMO_CACHE",
        help="Demo cache: checkpoints, journals, responses (default: the user cache directory).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Re-enact a Phase-1 evaluation on the embedded database: five consortia with real
    checkpoints (public models, a from-scratch chain, an undeclared fine-tune, a copied vision
    encoder), benchmarks on a real model server, real forensics, simulated panelists and
    experts, frozen and amended rules, appeals, a wild card and an HTML transparency report."""
    from sovereval.cli.competition import print_leaderboard
    from sovereval.demo import run_demo

    c = ctx_of(ctx)
    folder = out or c.settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    db, report = folder / "demo.db", folder / "transparency-report.html"
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
        disable=as_json,
    ) as progress:
        task = progress.add_task("starting", total=None)
        sub = progress.add_task("", total=None)

        def stage(msg: str) -> None:
            progress.update(task, description=msg)
            progress.update(sub, description="")

        result = run_demo(
            db,
            report,
            seed=seed,
            step=stage,
            real=not quick,
            cache=cache,
            detail=lambda msg: progress.update(sub, description=f"  [dim]{msg}[/]"),
        )
    if as_json:
        emit_json(
            {
                "db": result.db_url,
                "report": str(result.report_path),
                "ledger_head": result.head,
                "events": result.events,
                "leaderboard": result.leaderboard,
                "mode": "real" if result.real else "quick",
                "cache": str(result.cache) if result.cache else None,
                "stage_times_s": [[n, round(t, 2)] for n, t in result.stage_times],
            }
        )
        return
    print_leaderboard({"round": 1, "rules": _rules_of(result), "teams": result.leaderboard})
    console.print(f"\nTransparency report: [bold]{result.report_path}[/]")
    console.print(f"Ledger: {result.events} events, head {result.head}")
    console.print(f"Verify it: sovereval --db {db} audit verify")
    if result.real:
        console.print(
            "Real: checkpoints, model server, benchmarks, judges, answers, forensics. "
            "Simulated: the 500 panelists' votes and the 10 experts' reviews."
        )
        console.print(f"Demo cache: {result.cache}")
    console.print("\nStage times:")
    for name, secs in result.stage_times:
        console.print(f"  {secs:7.1f} s  {name}", highlight=False)
    console.print(f"  {sum(t for _, t in result.stage_times):7.1f} s  total", highlight=False)


def _rules_of(result: DemoOutcome) -> dict[str, object]:
    from sovereval.competition import results_service as rs
    from sovereval.competition import service as svc
    from sovereval.store.db import Store

    url = result.db_url
    st = Store(url)
    with st.session() as s:
        prog = svc.get_programme(s, result.programme)
        card = rs.latest_scorecard(s, svc.get_round(s, prog, 1), published_only=True)
        assert card is not None
        rules = dict(card.content["rules"])
    st.dispose()
    return rules


def report(
    ctx: typer.Context,
    prog: str = typer.Option(..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME"),
    out: Path = typer.Option(Path("transparency-report.html"), "--out", "-o"),
    as_json: bool = JsonOpt,
) -> None:
    """Write the HTML transparency report (or print its data as JSON)."""
    from sovereval.competition import service as svc
    from sovereval.report.transparency import report_data, write_report

    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        if as_json:
            emit_json(report_data(s, p))
            return
        write_report(s, p, out)
    console.print(f"wrote {out}")
