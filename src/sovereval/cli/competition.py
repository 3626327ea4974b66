"""CLI groups for the competition core: programme, team, round, rules, submission, score,
appeal and wildcard. Each command parses, calls one service function, and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json, parse_time
from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.errors import DeadlinePassedError, InputError
from sovereval.store import models as m

programme = typer.Typer(help="Create and list programmes.", no_args_is_help=True)
team = typer.Typer(help="Consortia: a lead and member organisations.", no_args_is_help=True)
round_ = typer.Typer(help="Rounds: create, open, close, allocate resources.", no_args_is_help=True)
rules = typer.Typer(help="Versioned rule sets: draft, publish, amend, diff.", no_args_is_help=True)
submission = typer.Typer(
    help="Model submissions with artefact digests and declared components.", no_args_is_help=True
)
score = typer.Typer(
    help="Raw results in, scorecards out: import, compute, publish, show.", no_args_is_help=True
)
appeal = typer.Typer(
    help="Appeals inside the window counted from publication.", no_args_is_help=True
)
wildcard = typer.Typer(help="Wild-card calls, applications and panel votes.", no_args_is_help=True)

ProgOpt = typer.Option(
    ..., "--programme", "-p", envvar="SOVEREVAL_PROGRAMME", help="Programme name."
)
RoundOpt = typer.Option(..., "--round", "-r", help="Round number.")


def register(app: typer.Typer) -> None:
    for name, sub in (
        ("programme", programme),
        ("team", team),
        ("round", round_),
        ("rules", rules),
        ("submission", submission),
        ("score", score),
        ("appeal", appeal),
        ("wildcard", wildcard),
    ):
        app.add_typer(sub, name=name)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc


# -- programme ----------------------------------------------------------------


@programme.command("create")
def programme_create(
    ctx: typer.Context, name: str, description: str = typer.Option("", help="Free text.")
) -> None:
    """Create a programme."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.create_programme(s, name, description, actor=c.actor, now=c.now())
    console.print(f"created programme [bold]{name}[/]")


@programme.command("list")
def programme_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List programmes."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        rows = [
            {"name": p.name, "description": p.description}
            for p in s.execute(select(m.Programme)).scalars()
        ]
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            console.print(f"{r['name']}: {r['description']}")


# -- team ---------------------------------------------------------------------


@team.command("add")
def team_add(
    ctx: typer.Context,
    name: str,
    lead: str = typer.Option(..., help="Lead organisation."),
    member: list[str] = typer.Option([], "--member", "-m", help="Member organisation (repeat)."),
    status: str = typer.Option("selected", help="selected | applicant | wildcard"),
    prog: str = ProgOpt,
) -> None:
    """Register a consortium."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.add_consortium(
            s,
            svc.get_programme(s, prog),
            name,
            lead,
            member,
            status=status,
            actor=c.actor,
            now=c.now(),
        )
    console.print(f"added consortium [bold]{name}[/]")


@team.command("list")
def team_list(ctx: typer.Context, prog: str = ProgOpt, as_json: bool = JsonOpt) -> None:
    """List consortia and their status."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        rows: list[dict[str, Any]] = [
            {"name": x.name, "lead": x.lead, "members": x.members, "status": x.status}
            for x in s.execute(
                select(m.Consortium).where(m.Consortium.programme_id == p.id)
            ).scalars()
        ]
    if as_json:
        emit_json(rows)
        return
    t = Table("Consortium", "Lead", "Members", "Status")
    for r in rows:
        t.add_row(r["name"], r["lead"], ", ".join(r["members"]), r["status"])
    console.print(t)


# -- rules --------------------------------------------------------------------


@rules.command("draft")
def rules_draft(
    ctx: typer.Context,
    file: Path | None = typer.Argument(None, help="Rule set JSON; omit for the Phase-1 default."),
    name: str = typer.Option("phase-1", help="Rule set name when using the default."),
    prog: str = ProgOpt,
) -> None:
    """Store a draft rule set (content-hashed)."""
    c = ctx_of(ctx)
    r = RuleSet.from_dict(_read_json(file)) if file else default_ruleset(name)
    with c.store.session() as s:
        row = svc.create_ruleset(s, svc.get_programme(s, prog), r, actor=c.actor, now=c.now())
        console.print(
            f"draft rule set {row.name} v{row.version} (id {row.id}) hash {row.content_hash}"
        )


@rules.command("publish")
def rules_publish(ctx: typer.Context, ruleset_id: int) -> None:
    """Publish a draft rule set; it freezes when its round opens."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        row = s.get(m.RuleSetRow, ruleset_id)
        if row is None:
            raise InputError(f"no rule set with id {ruleset_id}")
        svc.publish_ruleset(s, row, actor=c.actor, now=c.now())
    console.print(f"published rule set {ruleset_id}")


@rules.command("amend")
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
            RuleSet.from_dict(_read_json(file)),
            rationale=rationale,
            actor=c.actor,
            now=c.now(),
        )
        console.print(
            f"round {rnd} now under {row.name} v{row.version}{' (amendment)' if row.is_amendment else ''}"
        )


@rules.command("show")
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


# -- rounds -------------------------------------------------------------------


@round_.command("create")
def round_create(
    ctx: typer.Context,
    number: int,
    opens: str = typer.Option(..., help="ISO time."),
    closes: str = typer.Option(..., help="ISO time."),
    slots: int = typer.Option(..., help="Teams that advance."),
    ruleset_id: int = typer.Option(..., "--ruleset", help="Rule set id."),
    prog: str = ProgOpt,
) -> None:
    """Create a round under a rule set."""
    c = ctx_of(ctx)
    o, cl = parse_time(opens), parse_time(closes)
    assert o and cl
    with c.store.session() as s:
        row = s.get(m.RuleSetRow, ruleset_id)
        if row is None:
            raise InputError(f"no rule set with id {ruleset_id}")
        svc.create_round(
            s,
            svc.get_programme(s, prog),
            number,
            opens_at=o,
            closes_at=cl,
            advance_slots=slots,
            ruleset=row,
            actor=c.actor,
            now=c.now(),
        )
    console.print(f"created round {number}")


@round_.command("open")
def round_open(ctx: typer.Context, number: int, prog: str = ProgOpt) -> None:
    """Open a round: its published rule set is frozen."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.open_round(
            s, svc.get_round(s, svc.get_programme(s, prog), number), actor=c.actor, now=c.now()
        )
    console.print(f"round {number} is open; its rules are frozen")


@round_.command("close")
def round_close(ctx: typer.Context, number: int, prog: str = ProgOpt) -> None:
    """Close a round to submissions."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        svc.close_round(
            s, svc.get_round(s, svc.get_programme(s, prog), number), actor=c.actor, now=c.now()
        )
    console.print(f"round {number} is closed")


@round_.command("allocate")
def round_allocate(
    ctx: typer.Context,
    number: int,
    team_name: str = typer.Option(..., "--team"),
    resource: str = typer.Option(..., help="E.g. gpu_b200."),
    amount: float = typer.Option(...),
    unit: str = typer.Option(""),
    prog: str = ProgOpt,
) -> None:
    """Allocate a resource to a team for a round."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        sup.allocate(
            s,
            svc.get_round(s, p, number),
            svc.get_consortium(s, p, team_name),
            resource,
            amount,
            unit,
            actor=c.actor,
            now=c.now(),
        )
    console.print("allocated")


@round_.command("resources")
def round_resources(
    ctx: typer.Context, number: int, prog: str = ProgOpt, as_json: bool = JsonOpt
) -> None:
    """Check that every active team receives equal support (exit 2 if not)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        rep = sup.check_resources(s, svc.get_round(s, svc.get_programme(s, prog), number))
    if as_json:
        emit_json({"equal": rep.equal, "issues": list(rep.issues)})
    elif rep.equal:
        console.print("[green]equal support[/] for every active team")
    else:
        for i in rep.issues:
            console.print(f"[red]unequal:[/] {i}")
    if not rep.equal:
        raise typer.Exit(2)


# -- submissions ----------------------------------------------------------------


@submission.command("register")
def submission_register(
    ctx: typer.Context,
    team_name: str = typer.Option(..., "--team"),
    model: str = typer.Option(...),
    artefact: str = typer.Option(
        ..., help="Path (digested file by file) or URI of the model artefact."
    ),
    components: Path = typer.Option(
        ..., help="JSON list of {name, kind, declared_origin, licence}."
    ),
    endpoint: str = typer.Option("", help="Serving endpoint (model URI)."),
    target: str = typer.Option("", help="Declared global target model."),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
) -> None:
    """Register a submission; local artefact files are recorded with their SHA-256."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        sub = svc.register_submission(
            s,
            svc.get_round(s, p, rnd),
            svc.get_consortium(s, p, team_name),
            model,
            artefact=artefact,
            components=_read_json(components),
            endpoint=endpoint,
            target_model=target,
            actor=c.actor,
            now=c.now(),
        )
        console.print(f"submission {sub.id} registered with {len(sub.files)} file digest(s)")


@submission.command("list")
def submission_list(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """List a round's submissions."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        rows: list[dict[str, Any]] = []
        for x in s.execute(select(m.Submission).where(m.Submission.round_id == r.id)).scalars():
            cons = s.get(m.Consortium, x.consortium_id)
            rows.append(
                {
                    "id": x.id,
                    "team": cons.name if cons else "?",
                    "model": x.model_name,
                    "status": x.status,
                    "components": x.components,
                    "files": x.files,
                    "target_model": x.target_model,
                }
            )
    if as_json:
        emit_json(rows)
        return
    t = Table("Id", "Team", "Model", "Status", "Components", "Files")
    for r_ in rows:
        t.add_row(
            str(r_["id"]),
            r_["team"],
            r_["model"],
            r_["status"],
            ", ".join(f"{x['name']}({x['declared_origin']})" for x in r_["components"]),
            str(len(r_["files"])),
        )
    console.print(t)


# -- scores ---------------------------------------------------------------------


@score.command("record")
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


@score.command("import")
def score_import(ctx: typer.Context, file: Path) -> None:
    """Import raw results: JSON list of {submission, part, value, lo, hi, subject?, source?}."""
    c = ctx_of(ctx)
    rows = _read_json(file)
    if not isinstance(rows, list):
        raise InputError(f"{file}: expected a JSON list of results")
    with c.store.session() as s:
        for i, r in enumerate(rows):
            try:
                meas = Measurement(float(r["value"]), float(r["lo"]), float(r["hi"]))
                sub = svc.get_submission(s, int(r["submission"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{file}: entry {i}: {exc}") from exc
            svc.record_result(
                s,
                sub,
                str(r["part"]),
                meas,
                subject=str(r.get("subject", "model")),
                source=str(r.get("source", file.name)),
                actor=c.actor,
                now=c.now(),
            )
    console.print(f"imported {len(rows)} results")


@score.command("compute")
def score_compute(ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Compute the round's scorecard under its rules in force (not yet published)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        card = rs.compute_scorecard(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), actor=c.actor, now=c.now()
        )
        console.print(f"scorecard issue {card.issue} computed")


@score.command("publish")
def score_publish(ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt) -> None:
    """Publish the latest scorecard; decisions take effect and the appeal window starts."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        card = rs.publish_results(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), actor=c.actor, now=c.now()
        )
        console.print(f"published issue {card.issue}")


@score.command("show")
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
        card = rs.latest_scorecard(
            s, svc.get_round(s, svc.get_programme(s, prog), rnd), published_only=not draft
        )
        if card is None:
            raise InputError(f"round {rnd} has no {'computed' if draft else 'published'} results")
        content = card.content
    if as_json:
        emit_json(content)
    else:
        print_leaderboard(content)


def print_leaderboard(content: dict[str, Any]) -> None:
    r = content["rules"]
    title = f"Round {content['round']} · rules {r['name']} v{r['version']}"
    t = Table(
        "Rank",
        "≤",
        "Team",
        "Bench /40",
        "Expert /35",
        "User /25",
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


# -- appeals ----------------------------------------------------------------------


@appeal.command("file")
def appeal_file(
    ctx: typer.Context,
    team_name: str = typer.Option(..., "--team"),
    text: str = typer.Option(..., help="The appeal statement."),
    prog: str = ProgOpt,
    rnd: int = RoundOpt,
) -> None:
    """File an appeal; a late one is recorded as rejected and the command exits 2 with the reason."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        a = rs.file_appeal(
            s,
            svc.get_round(s, p, rnd),
            svc.get_consortium(s, p, team_name),
            text,
            actor=c.actor,
            now=c.now(),
        )
        status, reason, aid = a.status, a.reason, a.id
    if status == "rejected_late":
        raise DeadlinePassedError(f"appeal {aid} rejected: {reason}")
    console.print(f"appeal {aid} filed: {reason}")


@appeal.command("decide")
def appeal_decide(
    ctx: typer.Context,
    appeal_id: int,
    upheld: bool = typer.Option(..., "--upheld/--dismissed"),
    resolution: str = typer.Option(..., help="Written resolution."),
    change: list[str] = typer.Option([], help="Score change SUBMISSION:PART:VALUE:LO:HI (repeat)."),
) -> None:
    """Decide an appeal; score changes are recorded as edits and the results are reissued."""
    c = ctx_of(ctx)
    changes = []
    for ch in change:
        try:
            sid, part, v, lo, hi = ch.split(":")
            changes.append((int(sid), part, Measurement(float(v), float(lo), float(hi))))
        except ValueError as exc:
            raise InputError(f"--change '{ch}': expected SUBMISSION:PART:VALUE:LO:HI") from exc
    with c.store.session() as s:
        a = s.get(m.Appeal, appeal_id)
        if a is None:
            raise InputError(f"no appeal with id {appeal_id}")
        card = rs.decide_appeal(
            s,
            a,
            upheld=upheld,
            resolution=resolution,
            score_changes=changes,
            actor=c.actor,
            now=c.now(),
        )
        console.print(
            f"appeal {appeal_id} {a.status}"
            + (f"; results reissued as issue {card.issue}" if card else "")
        )


@appeal.command("list")
def appeal_list(
    ctx: typer.Context, prog: str = ProgOpt, rnd: int = RoundOpt, as_json: bool = JsonOpt
) -> None:
    """List appeals of a round."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        r = svc.get_round(s, svc.get_programme(s, prog), rnd)
        rows = rs.appeal_rows(s, r, with_text=True)
    if as_json:
        emit_json(rows)
    else:
        for x in rows:
            console.print(f"#{x['id']} {x['team']} {x['status']}: {x['reason']} {x['resolution']}")


# -- wild card ----------------------------------------------------------------------


@wildcard.command("open")
def wildcard_open(
    ctx: typer.Context,
    next_round: int = typer.Option(..., "--next-round"),
    eligible: list[str] = typer.Option(
        ["eliminated", "earlier_applicant", "new"], help="Eligible kinds (repeat)."
    ),
    panel: list[str] = typer.Option(..., help="Panel expert (repeat)."),
    closes: str = typer.Option(...),
    slots: int = typer.Option(1),
    prog: str = ProgOpt,
) -> None:
    """Open a wild-card call for the next round."""
    c = ctx_of(ctx)
    cl = parse_time(closes)
    assert cl
    with c.store.session() as s:
        p = svc.get_programme(s, prog)
        call = sup.open_wildcard_call(
            s,
            p,
            svc.get_round(s, p, next_round),
            eligible_kinds=eligible,
            panel=panel,
            opens_at=c.now(),
            closes_at=cl,
            slots=slots,
            actor=c.actor,
            now=c.now(),
        )
        console.print(f"wild-card call {call.id} open until {cl.isoformat()}")


@wildcard.command("apply")
def wildcard_apply(
    ctx: typer.Context,
    call_id: int,
    team_name: str = typer.Option(..., "--team"),
    kind: str | None = typer.Option(None, help="new | earlier_applicant (eliminated is detected)."),
    prog: str = ProgOpt,
) -> None:
    """Apply to a wild-card call."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        call = s.get(m.WildcardCall, call_id)
        if call is None:
            raise InputError(f"no wild-card call {call_id}")
        app_ = sup.apply_wildcard(
            s,
            call,
            svc.get_consortium(s, svc.get_programme(s, prog), team_name),
            actor=c.actor,
            now=c.now(),
            kind=kind,
        )
        console.print(f"application {app_.id} ({app_.kind})")


@wildcard.command("vote")
def wildcard_vote(
    ctx: typer.Context, application_id: int, approve: bool = typer.Option(..., "--approve/--reject")
) -> None:
    """Cast a panel vote (the actor is the expert)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        a = s.get(m.WildcardApplication, application_id)
        if a is None:
            raise InputError(f"no application {application_id}")
        sup.vote_wildcard(s, a, c.actor, approve, now=c.now())
    console.print("vote recorded")


@wildcard.command("decide")
def wildcard_decide(ctx: typer.Context, call_id: int, as_json: bool = JsonOpt) -> None:
    """Close the call: a strict majority of the panel selects; nobody may be selected."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        call = s.get(m.WildcardCall, call_id)
        if call is None:
            raise InputError(f"no wild-card call {call_id}")
        out = sup.decide_wildcard(s, call, actor=c.actor, now=c.now())
    res = {
        "selected": list(out.selected),
        "approvals": dict(out.approvals),
        "majority": out.majority,
        "reason": out.reason,
    }
    if as_json:
        emit_json(res)
    else:
        console.print(f"selected: {', '.join(out.selected) or 'nobody'} — {out.reason}")
