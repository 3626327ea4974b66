"""A small, complete competition built through the service layer (so the ledger has it all).

Independent of ``sovereval.demo`` (whose inputs come from other slices) so the web tests and
the load benchmark only depend on the competition service layer. Five teams: one disqualified
on originality despite its points, one eliminated on points; one mid-round amendment; results
published at ``PUBLISHED``; round 2 planned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.store.db import Store

PROGRAMME = "National Foundation Model Challenge (sample)"
T0 = datetime(2025, 8, 4, 9, 0, tzinfo=UTC)
PUBLISHED = T0 + timedelta(days=165)  # 2026-01-16 09:00 UTC; appeal window closes 01-26 09:00
ADMIN = "ministry-admin"
EVALUATOR = "agency-evaluator"

# team -> (model, government, common, team, team target, expert 1-10, user strength)
TEAMS = {
    "Hanbit AI": ("Hanbit-32B", 0.812, 0.774, 0.701, 0.722, 8.6, 0.92),
    "Daedong Labs": ("Daedong-Omni-14B", 0.745, 0.712, 0.655, 0.731, 7.4, 0.81),
    "Gyeol Consortium": ("Gyeol-22B", 0.731, 0.705, 0.612, 0.722, 7.1, 0.77),
    "Nuri Systems": ("Nuri-VL-30B", 0.768, 0.729, 0.668, 0.735, 7.9, 0.84),
    "Saebyeok Research": ("Saebyeok-8B", 0.654, 0.641, 0.598, 0.689, 5.9, 0.58),
}


def _m(x: float, half: float) -> Measurement:
    return Measurement(x, x - half, x + half)


def build(store: Store) -> None:
    with store.session() as s:
        prog = svc.create_programme(
            s,
            PROGRAMME,
            "A fictional programme: every team, model and number is invented.",
            actor=ADMIN,
            now=T0,
        )
        for name in TEAMS:
            svc.add_consortium(s, prog, name, f"{name} Co.", [f"{name} Co."], actor=ADMIN, now=T0)
        row = svc.create_ruleset(s, prog, default_ruleset("phase-1"), actor=ADMIN, now=T0)
        svc.publish_ruleset(s, row, actor=ADMIN, now=T0 + timedelta(days=1))
        rnd = svc.create_round(
            s,
            prog,
            1,
            opens_at=T0 + timedelta(days=7),
            closes_at=T0 + timedelta(days=150),
            advance_slots=4,
            ruleset=row,
            name="Phase 1",
            actor=ADMIN,
            now=T0 + timedelta(days=1),
        )
        svc.open_round(s, rnd, actor=ADMIN, now=T0 + timedelta(days=7))
        for name in TEAMS:
            c = svc.get_consortium(s, prog, name)
            sup.allocate(
                s, rnd, c, "gpu_b200", 1024, "GPUs", actor=ADMIN, now=T0 + timedelta(days=7)
            )
        for name, (model, *_rest) in TEAMS.items():
            c = svc.get_consortium(s, prog, name)
            svc.register_submission(
                s,
                rnd,
                c,
                model,
                artefact=f"s3://submissions/{model}",
                components=[{"name": "decoder", "kind": "text", "licence": "Apache-2.0"}]
                + ([{"name": "vision", "kind": "vision"}] if name == "Nuri Systems" else []),
                target_model="FrontierChat-4",
                files=[],
                actor=name,
                now=T0 + timedelta(days=140),
            )
        cur = svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))
        amended = RuleSet.from_dict(
            {
                **cur.to_dict(),
                "advancement": {
                    **cur.to_dict()["advancement"],
                    "tie_breaks": ["expert", "benchmark", "user"],
                },
            }
        )
        svc.amend_rules(
            s,
            rnd,
            amended,
            rationale="Tie-break order changed so that expert review decides exact ties first.",
            actor=ADMIN,
            now=T0 + timedelta(days=145),
        )
        svc.close_round(s, rnd, actor=ADMIN, now=T0 + timedelta(days=150))
        t_eval = T0 + timedelta(days=160)
        for name, (_model, gov, com, team, target, expert, user) in TEAMS.items():
            sub = svc.submission_of(s, rnd, svc.get_consortium(s, prog, name))
            for part, v in (("government", gov), ("common", com), ("team", team)):
                svc.record_result(
                    s, sub, part, _m(v, 0.03), source="sample", actor=EVALUATOR, now=t_eval
                )
            svc.record_result(
                s,
                sub,
                "team",
                _m(target, 0.03),
                subject="target",
                source="sample",
                actor=EVALUATOR,
                now=t_eval,
            )
            svc.record_result(
                s, sub, "expert", _m(expert, 0.4), source="sample", actor=EVALUATOR, now=t_eval
            )
            svc.record_result(
                s, sub, "user", _m(user, 0.04), source="sample", actor=EVALUATOR, now=t_eval
            )
            if name == "Nuri Systems":
                svc.record_provenance(
                    s,
                    sub,
                    reference="Qwen2.5-VL-7B vision encoder",
                    verdict="derived",
                    gate_failed=True,
                    reason="vision encoder matches the reference (Pearson 0.99 after alignment)",
                    report={"component": "vision", "pearson": 0.9898},
                    actor=EVALUATOR,
                    now=t_eval,
                )
        rs.compute_scorecard(s, rnd, actor=EVALUATOR, now=PUBLISHED)
        rs.publish_results(s, rnd, actor=ADMIN, now=PUBLISHED)
        gyeol = svc.get_consortium(s, prog, "Gyeol Consortium")
        rs.file_appeal(
            s,
            rnd,
            gyeol,
            "Two items of the common set were graded against a wrong answer key.",
            actor="Gyeol Consortium",
            now=PUBLISHED + timedelta(days=1),
        )
        svc.create_round(
            s,
            prog,
            2,
            opens_at=T0 + timedelta(days=200),
            closes_at=T0 + timedelta(days=380),
            advance_slots=3,
            ruleset=svc.get_ruleset(s, rnd.ruleset_id),
            name="Phase 2",
            actor=ADMIN,
            now=PUBLISHED + timedelta(days=1),
        )
