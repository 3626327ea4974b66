"""``sovereval arena``: simulate, fit and report the blind user evaluation of a round."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import InputError

app = typer.Typer(no_args_is_help=True)
ProgOpt = typer.Option(
    ..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME", help="Programme name."
)
RoundOpt = typer.Option(..., "--round", "-r", help="Round number.")


@app.command("fit")
def fit_cmd(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    seed: int = typer.Option(0, help="Bootstrap seed."),
    n_boot: int = typer.Option(200, help="Bootstrap rounds."),
    record: bool = typer.Option(
        False, help="Record each team's field win rate as its 'user' result."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Bradley-Terry ratings with bootstrap intervals and rank upper bounds; identity leaks and
    flagged panelists (sequential outlier test) are excluded and counted."""
    from sovereval.arena import service as arena

    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        fit = arena.fit_round(s, r, rng=np.random.default_rng(seed), n_boot=n_boot)
        if record:
            p = svc.get_programme(s, prog)
            for team, (v, lo, hi) in fit.field_win.items():
                sub = svc.submission_of(s, r, svc.get_consortium(s, p, team))
                svc.record_result(
                    s,
                    sub,
                    "user",
                    Measurement(v, lo, hi),
                    source=f"arena fit seed {seed}",
                    actor=c.actor,
                    now=c.now(),
                )
    out = {
        "models": list(fit.models),
        "ratings": list(fit.rows),
        "field_win": fit.field_win,
        "votes": fit.n_votes,
        "leaks_excluded": fit.n_leaks,
        "panelists_flagged": fit.n_flagged,
        "likert": fit.likert,
        "seed": seed,
    }
    if as_json:
        emit_json(out)
        return
    t = Table(
        "Rank",
        "≤",
        "Model",
        "Rating [95% CI]",
        "Win vs field",
        "Reliability",
        "Practicality",
        title=f"Round {rnd}: {fit.n_votes} votes, {fit.n_leaks} leaks and {fit.n_flagged} panelists excluded",
    )
    for row in sorted(fit.rows, key=lambda x: int(x["rank"])):
        name = str(row["model"])
        w = fit.field_win[name]
        lk = fit.likert.get(name, {})
        t.add_row(
            str(row["rank"]),
            str(row["rank_upper"]),
            name,
            f"{row['rating']:.0f} [{row['low']:.0f}, {row['high']:.0f}]",
            f"{w[0]:.3f} [{w[1]:.3f}, {w[2]:.3f}]",
            *(f"{lk[k][0]:.2f}" if k in lk else "-" for k in ("reliability", "practicality")),
        )
    console.print(t)


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    out: Path = typer.Option(Path("arena-report.html"), "--out", "-o"),
    seed: int = typer.Option(0),
) -> None:
    """Write an HTML page with the rating intervals as a figure."""
    from sovereval.arena import service as arena
    from sovereval.report.arena_report import write_arena_report

    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        fit = arena.fit_round(s, r, rng=np.random.default_rng(seed))
    write_arena_report(fit, out)
    console.print(f"wrote {out}")


@app.command("mark-simulation")
def mark_simulation_cmd(ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Mark a newly created round (planned, no submissions) as a simulation, so that
    'arena simulate' may fill it. A real round can never be marked."""
    from sovereval.arena import service as arena

    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        arena.mark_simulation(s, r, actor=c.actor, now=c.now())
    console.print(f"round {rnd} is marked a simulation")


@app.command("simulate")
def simulate_cmd(
    ctx: typer.Context,
    strengths: Path = typer.Argument(..., help="JSON {team: log-strength}."),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    panel_size: int = typer.Option(500),
    battles: int = typer.Option(3000),
    tie_prob: float = typer.Option(0.15),
    seed: int = typer.Option(0),
) -> None:
    """Fill a round marked a simulation with a simulated quota-balanced panel and votes from
    known strengths (a real round is refused: the ledger would keep the simulated votes)."""
    from sovereval.arena import populate

    c = ctx_of(ctx)
    try:
        spec = json.loads(strengths.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{strengths}: {exc}") from exc
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        n = populate.simulate_round(
            s,
            r,
            spec,
            panel_size=panel_size,
            battles=battles,
            tie_prob=tie_prob,
            rng=np.random.default_rng(seed),
            start=c.now(),
        )
    console.print(f"simulated {n} votes")
