"""The public transparency report: every number traceable to its inputs, rules and ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.ledger.log import head_hash, verify_store
from sovereval.report.figures import breakdown_svg, rank_interval_svg
from sovereval.store import models as m


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("sovereval.report", "templates"), autoescape=select_autoescape()
    )


def report_data(s: Session, prog: m.Programme) -> dict[str, Any]:
    """Everything the report shows, as plain data (also served as JSON)."""
    rounds = []
    for rnd in s.execute(
        select(m.Round).where(m.Round.programme_id == prog.id).order_by(m.Round.number)
    ).scalars():
        card = rs.latest_scorecard(s, rnd, published_only=True)
        versions = [
            {k: v for k, v in x.items() if k not in ("content", "id", "name")}
            for x in svc.rule_versions(s, rnd)
        ]
        appeals = rs.appeal_rows(s, rnd)
        edits = []
        for e in s.execute(
            select(m.ScoreEdit)
            .join(m.Submission, m.Submission.id == m.ScoreEdit.submission_id)
            .where(m.Submission.round_id == rnd.id)
            .order_by(m.ScoreEdit.id)
        ).scalars():
            edits.append(
                {
                    "submission": e.submission_id,
                    "part": e.part,
                    "before": e.before,
                    "after": e.after,
                    "actor": e.actor,
                    "reason": e.reason,
                    "at": e.at.isoformat(),
                }
            )
        calls = []
        for call in s.execute(
            select(m.WildcardCall).where(m.WildcardCall.round_id == rnd.id)
        ).scalars():
            calls.append(
                {
                    "id": call.id,
                    "eligible": call.eligible_kinds,
                    "panel": call.panel,
                    "status": call.status,
                    "outcome": call.outcome,
                }
            )
        rounds.append(
            {
                "number": rnd.number,
                "name": rnd.name,
                "status": rnd.status,
                "published_at": rnd.published_at.isoformat() if rnd.published_at else None,
                "scorecard": card.content if card else None,
                "issue": card.issue if card else None,
                "rules": versions,
                "appeals": appeals,
                "edits": edits,
                "wildcard_calls": calls,
            }
        )
    seq, head = head_hash(s)
    check = verify_store(s)
    return {
        "programme": prog.name,
        "description": prog.description,
        "rounds": rounds,
        "ledger": {"events": seq, "head": head, "verified": check.ok, "problem": check.problem},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def render_report(data: dict[str, Any], appendix: dict[str, Any] | None = None) -> str:
    figures = {}
    for r in data["rounds"]:
        if r["scorecard"]:
            teams = sorted(r["scorecard"]["teams"], key=lambda t: t["rank"])
            figures[r["number"]] = {
                "breakdown": breakdown_svg(teams),
                "ranks": rank_interval_svg(teams),
            }
    return (
        _env()
        .get_template("transparency.html.j2")
        .render(data=data, figures=figures, appendix=appendix)
    )


def write_report(
    s: Session, prog: m.Programme, path: Path, appendix: dict[str, Any] | None = None
) -> Path:
    """Write the report; ``appendix`` (the demo's evidence: sample battles, benchmark items,
    forensic evidence, what is simulated) is rendered after the rounds when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(report_data(s, prog), appendix), encoding="utf-8")
    return path
