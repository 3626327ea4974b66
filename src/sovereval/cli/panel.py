"""``sovereval panel``: quotas, invitations by stratum, enrolment and the deviation report."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

if TYPE_CHECKING:
    from sovereval.arena.panel import Panelist, Quotas
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.competition import service as svc
from sovereval.errors import InputError
from sovereval.store import evaluation_models as em

app = typer.Typer(no_args_is_help=True)
ProgOpt = typer.Option(
    ..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME", help="Programme name."
)
RoundOpt = typer.Option(..., "--round", "-r", help="Round number.")
QuotaOpt = typer.Option(
    None,
    "--quotas",
    help="Quotas JSON {dimension: {category: count}}; default: the planned 500-person design.",
)


def _quotas(path: Path | None) -> Quotas:
    from sovereval.arena.panel import Quotas, reference_quotas

    if path is None:
        return reference_quotas()
    try:
        return Quotas.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read quotas ({exc})") from exc


def _read_people(path: Path) -> list[Panelist]:
    """CSV with columns id, gender, region, age_band, proficiency."""
    from sovereval.arena.panel import Panelist

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise InputError(f"{path}: {exc}") from exc
    out = []
    for i, r in enumerate(rows, 2):
        try:
            out.append(Panelist(r["id"], r["gender"], r["region"], r["age_band"], r["proficiency"]))  # type: ignore[arg-type]
        except (KeyError, ValueError, InputError) as exc:
            raise InputError(f"{path}:{i}: {exc}") from exc
    return out


@app.command("quotas")
def quotas_cmd(quotas: Path | None = QuotaOpt, as_json: bool = JsonOpt) -> None:
    """Show the quota design (default: gender 250/250, region 250/250, 100 per age band, 100/250/150 proficiency)."""
    q = _quotas(quotas)
    if as_json:
        emit_json({k: dict(v) for k, v in q.targets.items()})
        return
    for dim, cats in q.targets.items():
        console.print(f"{dim}: " + ", ".join(f"{c} {n}" for c, n in cats.items()))


@app.command("invite")
def invite_cmd(
    pool: Path = typer.Argument(
        ..., help="CSV of candidates: id, gender, region, age_band, proficiency."
    ),
    quotas: Path | None = QuotaOpt,
    response_rate: float = typer.Option(1.0, help="Expected share of invitees who take part."),
    seed: int = typer.Option(0, help="Seed of the stratified draw (recorded for audit)."),
    as_json: bool = JsonOpt,
) -> None:
    """Sample invitations by stratum so the expected panel meets the quotas."""
    from sovereval.arena.sampling import sample_invitations

    plan = sample_invitations(
        _read_people(pool),
        _quotas(quotas),
        np.random.default_rng(seed),
        response_rate=response_rate,
    )
    if as_json:
        emit_json({"invited": list(plan.invited), "shortfall": plan.shortfall, "seed": seed})
        return
    console.print(f"invite {len(plan.invited)} candidates (seed {seed})")
    console.print(plan.expected.to_text(), highlight=False)
    for dim, short in plan.shortfall.items():
        for cat, n in short.items():
            if n:
                console.print(f"[yellow]pool short[/] {dim}={cat}: {n}")


@app.command("enrol")
def enrol_cmd(ctx: typer.Context, people: Path, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Enrol panelists for a round from a CSV (id, gender, region, age_band, proficiency, and
    optionally user: the web account that votes as this panelist in this round only)."""
    from sovereval.arena import service as arena
    from sovereval.store.web_models import User

    c = ctx_of(ctx)
    rows = _read_people(people)
    accounts = _read_accounts(people)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        for p in rows:
            user_id = None
            if name := accounts.get(p.panelist_id):
                u = s.execute(select(User).where(User.username == name)).scalar_one_or_none()
                if u is None or u.role != "panelist":
                    raise InputError(f"{people}: '{name}' is not a panelist account")
                user_id = u.id
            arena.enrol_panelist(
                s,
                r,
                p.panelist_id,
                gender=p.gender,
                region=p.region,
                age_band=p.age_band,
                proficiency=p.proficiency,
                actor=c.actor,
                now=c.now(),
                user_id=user_id,
            )
    console.print(f"enrolled {len(rows)} panelists")


def _read_accounts(path: Path) -> dict[str, str]:
    """The optional ``user`` column: panelist id -> web username."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {
            r["id"]: r["user"].strip() for r in csv.DictReader(f) if (r.get("user") or "").strip()
        }


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
    quotas: Path | None = QuotaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report how the round's panel deviates from the quotas, with raking weights."""
    from sovereval.arena.panel import (
        Panelist,
        check_panel,
        raking_weights,
    )

    c = ctx_of(ctx)
    q = _quotas(quotas)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        people = [
            Panelist(p.code, p.gender, p.region, p.age_band, p.proficiency)  # type: ignore[arg-type]
            for p in s.execute(select(em.Panelist).where(em.Panelist.round_id == r.id)).scalars()
        ]
    if not people:
        raise InputError(f"round {rnd} has no panelists")
    rep = check_panel(people, q)
    weights = raking_weights(people, q)
    if as_json:
        emit_json(
            {
                "panel_size": rep.panel_size,
                "target_size": rep.target_size,
                "max_abs_deviation": rep.max_abs_deviation,
                "cells": [
                    {
                        "dimension": x.dimension,
                        "category": x.category,
                        "target": x.target,
                        "observed": x.observed,
                        "deviation": x.deviation,
                    }
                    for x in rep.cells
                ],
                "tests": [
                    {"dimension": t.dimension, "chi2": t.chi2, "dof": t.dof, "p": t.p_value}
                    for t in rep.tests
                ],
                "weights": weights,
            }
        )
        return
    console.print(rep.to_text(), highlight=False)
    w = np.array(list(weights.values()))
    console.print(
        f"raking weights: min {w.min():.3f}, max {w.max():.3f}, design effect {(w**2).mean() / w.mean() ** 2:.3f}"
    )
