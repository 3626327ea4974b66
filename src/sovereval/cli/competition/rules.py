"""``sovereval rules``: versioned rule sets: draft, publish, amend, show."""

from __future__ import annotations

from pathlib import Path

import typer

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.cli.competition._shared import ProgOpt, RoundOpt, read_json
from sovereval.competition import formats
from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.errors import InputError
from sovereval.store import models as m

app = typer.Typer(help="Versioned rule sets: draft, publish, amend, diff.", no_args_is_help=True)


@app.command("draft")
def rules_draft(
    ctx: typer.Context,
    file: Path | None = typer.Argument(None, help="Rule set JSON; omit for the Phase-1 default."),
    name: str = typer.Option("phase-1", help="Rule set name when using the default."),
    prog: str = ProgOpt,
) -> None:
    """Store a draft rule set (content-hashed)."""
    c = ctx_of(ctx)
    r = _load(file) if file else default_ruleset(name)
    with c.store.session() as s:
        row = svc.create_ruleset(s, svc.get_programme(s, prog), r, actor=c.actor, now=c.now())
        console.print(
            f"draft rule set {row.name} v{row.version} (id {row.id}) hash {row.content_hash}"
        )


@app.command("publish")
def rules_publish(ctx: typer.Context, ruleset_id: int) -> None:
    """Publish a draft rule set; it freezes when its round opens."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        row = s.get(m.RuleSetRow, ruleset_id)
        if row is None:
            raise InputError(f"no rule set with id {ruleset_id}")
        svc.publish_ruleset(s, row, actor=c.actor, now=c.now())
    console.print(f"published rule set {ruleset_id}")


@app.command("amend")
def rules_amend(
    ctx: typer.Context,
    file: Path,
    rationale: str = typer.Option(..., help="Why (required once the round is open)."),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
) -> None:
    """Amend a round's rules: creates a new version, flagged wherever the round's results appear."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        row = svc.amend_rules(
            s,
            r,
            _load(file),
            rationale=rationale,
            actor=c.actor,
            now=c.now(),
        )
        console.print(
            f"round {rnd} now under {row.name} v{row.version}{' (amendment)' if row.is_amendment else ''}"
        )


@app.command("show")
def rules_show(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """Show every rule version of a round with readable diffs."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        out = [
            {
                **{k: v for k, v in x.items() if k not in ("id", "at", "name")},
                "changes": [[c["path"], c["old"], c["new"]] for c in x["changes"]],
            }
            for x in svc.rule_versions(s, r)
        ]
    if as_json:
        emit_json(out)
        return
    for v in out:
        flag = " [bold red]AMENDMENT[/]" if v["amendment"] else ""
        console.print(f"v{v['version']} {v['status']} {v['hash'][:16]}…{flag} {v['rationale']}")
        for p, a, b in v["changes"]:
            console.print(f"   {p}: {a} → {b}")


def _load(file: Path) -> RuleSet:
    """A rule set file, checked against its schema first so errors name the field."""
    data = read_json(file)
    formats.parse("ruleset", data, label=file.name)
    return RuleSet.from_dict(data)
