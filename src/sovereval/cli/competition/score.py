"""``sovereval score``: raw results in, scorecards out: record, import, compute, publish, show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.cli.competition._shared import ProgOpt, RoundOpt, read_json
from sovereval.competition import formats
from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import InputError, SovereValError

app = typer.Typer(
    help="Raw results in, scorecards out: import, compute, publish, show.", no_args_is_help=True
)


@app.command("record")
def score_record(
    ctx: typer.Context,
    submission_id: int,
    part: str,
    value: float,
    lo: float = typer.Option(...),
    hi: float = typer.Option(...),
    subject: str = typer.Option("model", help="model | target"),
    source: str = typer.Option("", help="Where the number comes from."),
) -> None:
    """Record one raw result (value with its 95% interval) for a part."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.record_result(
            s,
            svc.get_submission(s, submission_id),
            part,
            Measurement(value, lo, hi),
            subject=subject,
            source=source,
            actor=c.actor,
            now=c.now(),
        )
    console.print("recorded")


@app.command("import")
def score_import(ctx: typer.Context, file: Path) -> None:
    """Import raw results: a JSON list of {submission, part, value, lo, hi, subject?, source?}
    (see: sovereval schema results). All or nothing: one bad entry imports none."""
    c = ctx_of(ctx)
    entries = formats.parse("results", read_json(file), label=file.name)
    with c.store.session() as s:
        for i, r in enumerate(entries):
            try:
                svc.record_result(
                    s,
                    svc.get_submission(s, r.submission),
                    r.part,
                    Measurement(r.value, r.lo, r.hi),
                    subject=r.subject,
                    source=r.source or file.name,
                    actor=c.actor,
                    now=c.now(),
                )
            except SovereValError as exc:
                raise type(exc)(f"{file.name}: entry {i}: {exc}") from exc
    console.print(f"imported {len(entries)} results")


@app.command("compute")
def score_compute(ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Compute the round's scorecard under its rules in force (not yet published)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        card = rs.compute_scorecard(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), actor=c.actor, now=c.now()
        )
        console.print(f"scorecard issue {card.issue} computed")


@app.command("publish")
def score_publish(ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Publish the latest scorecard; decisions take effect and the appeal window starts."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        card = rs.publish_results(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), actor=c.actor, now=c.now()
        )
        console.print(f"published issue {card.issue}")


@app.command("show")
def score_show(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    as_json: bool = JsonOpt,
    draft: bool = typer.Option(False, help="Show the latest issue even if unpublished."),
) -> None:
    """Show the leaderboard with intervals, rank upper bounds and decisions."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        card = rs.latest_scorecard(s, r, published_only=not draft)
        if card is None:
            raise InputError(f"round {rnd} has no {'computed' if draft else 'published'} results")
        content = dict(card.content)
        stale = rs.results_staleness(s, r) if card.published else []
        content["stale"] = stale
    if as_json:
        emit_json(content)
    else:
        print_leaderboard(content)
        for why in stale:
            console.print(f"[bold red]STALE:[/] {why}", highlight=False)
        if stale:
            console.print(
                f"the published results no longer follow from the recorded inputs; run: "
                f"sovereval score compute -r {rnd} && sovereval score publish -r {rnd}"
            )


def print_leaderboard(content: dict[str, Any]) -> None:
    r = content["rules"]
    title = f"Round {content['round']} · rules {r['name']} v{r['version']}"
    maxima = r.get("category_points") or {}

    def head(label: str, cat: str) -> str:
        return f"{label} /{maxima[cat]:g}" if cat in maxima else label

    t = Table(
        "Rank",
        "≤",
        "Team",
        head("Bench", "benchmark"),
        head("Expert", "expert"),
        head("User", "user"),
        "Total [95% CI]",
        "Decision",
        title=title,
    )
    for x in sorted(content["teams"], key=lambda x: x["rank"]):
        cat = x["categories"]
        colour = {"advance": "green", "eliminate": "yellow", "disqualify": "red"}[x["decision"]]
        t.add_row(
            str(x["rank"]),
            str(x["rank_upper"]),
            x["team"],
            f"{cat['benchmark']['points']:.1f}",
            f"{cat['expert']['points']:.1f}",
            f"{cat['user']['points']:.1f}",
            f"{x['total']:.2f} [{x['total_lo']:.1f}, {x['total_hi']:.1f}]",
            f"[{colour}]{x['decision']}[/]",
        )
    console.print(t)
    if r["amended"]:
        for a in r["amendments"]:
            console.print(
                f"[bold red]rules amended after the round opened[/] (v{a['version']}): {a['rationale']}"
            )
    for x in sorted(content["teams"], key=lambda x: x["rank"]):
        console.print(f"  {x['team']}: {x['reason']}", highlight=False)
    for x in r.get("reopenings", []):
        console.print(
            f"[bold red]round reopened after its close[/] on {x['at']} until {x['closes_at']}: "
            f"{x['rationale']}",
            highlight=False,
        )
    adv = content.get("advancement")
    if adv:
        console.print(f"advancement decided by {adv['note']}", highlight=False)
