"""``sovereval review``: experts, conflict-free randomized assignment, status and aggregation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.competition import service as svc
from sovereval.errors import InputError

app = typer.Typer(no_args_is_help=True)
ProgOpt = typer.Option(
    ..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME", help="Programme name."
)
RoundOpt = typer.Option(..., "--round", "-r", help="Round number.")


@app.command("expert")
def expert_cmd(
    ctx: typer.Context,
    name: str,
    record: Path = typer.Option(
        ...,
        help="JSON: email, affiliations [{organisation, email_domains, start, end}], relations, declared_conflicts.",
    ),
    prog: str = ProgOpt,
) -> None:
    """Register an expert with affiliations and declared conflicts."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{record}: {exc}") from exc
    with c.store.session() as s:
        review.register_expert(
            s, svc.get_programme(s, prog), name, data, actor=c.actor, now=c.now()
        )
    console.print(f"registered expert {name}")


@app.command("conflicts")
def conflicts_cmd(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """List detected and self-declared conflicts for the round, with reasons."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    with c.store.session() as s:
        found = review.round_conflicts(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), review_date=c.now().date()
        )
    rows: list[dict[str, Any]] = [
        {
            "expert": x.expert_id,
            "consortium": x.consortium_id,
            "reasons": [
                {"kind": r.kind, "source": r.source, "detail": r.detail} for r in x.reasons
            ],
        }
        for x in found
    ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['expert']} × {r['consortium']}: " + "; ".join(x["detail"] for x in r["reasons"])
        )


@app.command("assign")
def assign_cmd(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    seed: int = typer.Option(
        ..., help="Seed of the randomized assignment (recorded in the ledger)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Assign k reviewers per submission: conflict-free, load-bounded, each pair's probability capped."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    with c.store.session() as s:
        rows = review.assign_round(
            s,
            svc.get_round(s, svc.get_programme(s, prog), rnd),
            seed=seed,
            actor=c.actor,
            now=c.now(),
        )
        out = [
            {"expert": r.expert, "submission": r.submission_id, "probability": r.probability}
            for r in rows
        ]
    if as_json:
        emit_json(out)
    else:
        console.print(f"{len(out)} assignments (seed {seed})")


@app.command("status")
def status_cmd(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """How many reviews are assigned, drafted and submitted."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    with c.store.session() as s:
        st = review.review_status(s, svc.get_round(s, svc.get_programme(s, prog), rnd))
    if as_json:
        emit_json(st)
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in st.items()))


@app.command("aggregate")
def aggregate_cmd(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    seed: int = typer.Option(0),
    record: bool = typer.Option(
        False, help="Record each total as the submission's 'expert' result."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Trimmed means with bootstrap intervals, Krippendorff's alpha against the floor, outliers.
    Exits 2 when agreement is below the RuleSet's floor (additional review is triggered)."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    with c.store.session() as s:
        res = review.aggregate(
            s,
            svc.get_round(s, svc.get_programme(s, prog), rnd),
            rng=np.random.default_rng(seed),
            record=record,
            actor=c.actor,
            now=c.now(),
        )
    a = res.agreement
    out = {
        "totals": {str(k): v for k, v in res.totals.items()},
        "alpha": a.alpha,
        "floor": a.floor,
        "flagged": a.flagged,
        "additional_review": list(a.decision.submissions) if a.decision else [],
        "outlier_reviewers": list(res.outliers),
        "status": dict(res.status),
    }
    if as_json:
        emit_json(out)
    else:
        t = Table(
            "Submission",
            "Total (1-10)",
            "95% interval",
            title=f"alpha = {a.alpha:.3f} (floor {a.floor})",
        )
        for k, (v, lo, hi) in sorted(res.totals.items()):
            t.add_row(str(k), f"{v:.2f}", f"[{lo:.2f}, {hi:.2f}]")
        console.print(t)
        if res.outliers:
            console.print("outlier reviewers: " + ", ".join(res.outliers))
        if a.flagged:
            console.print(
                f"[red]agreement below the floor[/]: additional review for {out['additional_review']}"
            )
    if a.flagged:
        raise typer.Exit(2)


@app.command("evidence")
def evidence_cmd(
    ctx: typer.Context,
    submission_id: int = typer.Argument(
        ..., help="Submission id (see: sovereval submission list)."
    ),
    file: Path = typer.Argument(..., help="UTF-8 text file: report, log or checkpoint list."),
    kind: str = typer.Option(
        ..., "--kind", help="technical_report, training_log, checkpoint_list or other."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Upload a team's technical report, training log or checkpoint list for the reviewers."""
    from sovereval.review import service as review

    c = ctx_of(ctx)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: {exc.strerror or exc}") from exc
    with c.store.session() as s:
        row = review.upload_evidence(
            s,
            svc.get_submission(s, submission_id),
            kind,
            file.name,
            data,
            actor=c.actor,
            now=c.now(),
        )
        out = {
            "key": f"evidence-{row.id}",
            "kind": row.kind,
            "sha256": row.sha256,
            "bytes": row.size,
        }
    if as_json:
        emit_json(out)
        return
    console.print(
        f"{out['key']} {out['kind']} {out['bytes']} bytes sha256 {out['sha256']}", highlight=False
    )
