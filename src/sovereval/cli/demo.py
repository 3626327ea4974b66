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
    as_json: bool = JsonOpt,
) -> None:
    """Re-enact a Phase-1 evaluation on the embedded database: five consortia, frozen and amended
    rules, scores with intervals, a disqualification on originality, an elimination on points,
    appeals (one late), a wild card, and an HTML transparency report."""
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
        result = run_demo(
            db, report, seed=seed, step=lambda msg: progress.update(task, description=msg)
        )
    if as_json:
        emit_json(
            {
                "db": result.db_url,
                "report": str(result.report_path),
                "ledger_head": result.head,
                "events": result.events,
                "leaderboard": result.leaderboard,
            }
        )
        return
    print_leaderboard({"round": 1, "rules": _rules_of(result), "teams": result.leaderboard})
    console.print(f"\nTransparency report: [bold]{result.report_path}[/]")
    console.print(f"Ledger: {result.events} events, head {result.head}")
    console.print(f"Verify it: sovereval --db {db} audit verify")


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
