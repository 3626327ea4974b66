"""Re-enact a Phase-1 evaluation end to end on the embedded database.

Five fictional consortia, a published and frozen rule set with one flagged amendment, scored
inputs for all three categories, one disqualification on originality despite a top-four total,
one elimination on points, a 10-day appeal window with one late appeal, an upheld appeal that
reissues the results, and a wild-card call that admits one new team with equal resources.
Everything goes through the service layer, so the ledger records all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sovereval import demo_inputs
from sovereval.arena import populate
from sovereval.arena import service as arena
from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition import support_service as sup
from sovereval.competition.rules import RuleSet, default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.ledger.log import head_hash, verify_store
from sovereval.store.db import Store

ADMIN = "ministry-admin"
EVALUATOR = "agency-evaluator"
Step = Callable[[str], None]


@dataclass(frozen=True)
class DemoOutcome:
    db_url: str
    programme: str
    report_path: Path
    leaderboard: list[dict[str, Any]]
    head: str
    events: int


def run_demo(
    db_path: Path, report_path: Path, *, seed: int = 20250815, step: Step = lambda _m: None
) -> DemoOutcome:
    if db_path.exists():
        db_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    store = Store(f"sqlite:///{db_path}")
    rng = np.random.default_rng(seed)
    teams = demo_inputs.example("teams.json")
    t0 = datetime(2025, 8, 4, 9, 0, tzinfo=UTC)

    step("Programme, consortia and the Phase-1 rule set")
    with store.session() as s:
        prog = svc.create_programme(
            s, teams["programme"]["name"], teams["programme"]["description"], actor=ADMIN, now=t0
        )
        for c in teams["consortia"]:
            svc.add_consortium(s, prog, c["name"], c["lead"], c["members"], actor=ADMIN, now=t0)
        rules = RuleSet.from_dict(
            {
                **default_ruleset("phase-1").to_dict(),
                "advancement": {
                    "eliminate_lowest": 1,
                    "tie_breaks": ["benchmark", "expert", "user"],
                },
                "review": {
                    "reviewers_per_submission": 6,
                    "max_load": 4,
                    "max_probability": 0.8,
                    "programme_ties": [
                        {
                            "company": "Gaon Robotics",
                            "consortia": ["Hanbit AI"],
                            "kind": "GPU supplier",
                        }
                    ],
                },
            }
        )
        row = svc.create_ruleset(s, prog, rules, actor=ADMIN, now=t0)
        svc.publish_ruleset(s, row, actor=ADMIN, now=t0 + timedelta(days=1))
        rnd = svc.create_round(
            s,
            prog,
            1,
            opens_at=t0 + timedelta(days=7),
            closes_at=t0 + timedelta(days=150),
            advance_slots=4,
            ruleset=row,
            name="Phase 1",
            actor=ADMIN,
            now=t0 + timedelta(days=1),
        )
        arena.mark_simulation(s, rnd, actor=ADMIN, now=t0 + timedelta(days=1))
        svc.open_round(s, rnd, actor=ADMIN, now=t0 + timedelta(days=7))
        for c in teams["consortia"]:
            cons = svc.get_consortium(s, prog, c["name"])
            for r in teams["resources"]:
                sup.allocate(
                    s,
                    rnd,
                    cons,
                    r["resource"],
                    r["amount"],
                    r["unit"],
                    actor=ADMIN,
                    now=t0 + timedelta(days=7),
                )
        equal = sup.check_resources(s, rnd)
        assert equal.equal, equal.issues

    step("Submissions with artefact digests and declared components")
    models = demo_inputs.build_models(db_path.parent / "models", teams, rng)
    t_sub = t0 + timedelta(days=140)
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        for c in teams["consortia"]:
            cons = svc.get_consortium(s, prog, c["name"])
            svc.register_submission(
                s,
                rnd,
                cons,
                c["model"],
                artefact=str(models[c["name"]]),
                components=c["components"],
                endpoint=c["endpoint"],
                target_model=c["target_model"],
                actor=c["name"],
                now=t_sub,
            )

    step("User evaluation: quota-balanced panel, blind battles, Bradley-Terry")
    spec = demo_inputs.example("user_eval.json")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        populate.simulate_round(
            s,
            rnd,
            spec["strengths"],
            panel_size=int(spec["panel_size"]),
            battles=int(spec["battles"]),
            tie_prob=float(spec["tie_probability"]),
            rng=rng,
            start=t_sub + timedelta(days=1),
        )
        fit = arena.fit_round(s, rnd, rng=rng, n_boot=200)
        users = {team: Measurement(*fit.field_win[team]) for team in fit.models}

    step("Mid-round amendment (flagged wherever results appear)")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
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
            rationale=(
                "Tie-break order changed so that expert review decides exact ties first, after the "
                "government set's long-context items were found to be partially public."
            ),
            actor=ADMIN,
            now=t0 + timedelta(days=148),
        )

    step("Originality: provenance verdicts per component (real weight forensics)")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        demo_inputs.run_provenance(
            s,
            svc.get_round(s, prog, 1),
            models["_reference"],
            seed=seed,
            now=t0 + timedelta(days=149),
        )
    step("Benchmarks, expert review and user evaluation inputs")
    bench = demo_inputs.example("benchmark_results.json")
    t_eval = t0 + timedelta(days=160)
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        svc.close_round(s, rnd, actor=ADMIN, now=t0 + timedelta(days=150))
        for c in teams["consortia"]:
            cons = svc.get_consortium(s, prog, c["name"])
            sub = svc.submission_of(s, rnd, cons)
            b = bench[c["name"]]
            for part in ("government", "common", "team"):
                svc.record_result(
                    s,
                    sub,
                    part,
                    Measurement(*b[part]),
                    source="examples/demo/benchmark_results.json",
                    actor=EVALUATOR,
                    now=t_eval,
                )
            svc.record_result(
                s,
                sub,
                "team",
                Measurement(*b["team_target"]),
                subject="target",
                source=f"target model {c['target_model']}",
                actor=EVALUATOR,
                now=t_eval,
            )
            svc.record_result(
                s,
                sub,
                "user",
                users[c["name"]],
                source="blind battles (Bradley-Terry)",
                actor=EVALUATOR,
                now=t_eval,
            )

    step("Expert review: conflict-free randomized assignment, reviews, agreement")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        demo_inputs.run_expert_review(
            s, prog, rnd, rng, registered=t0 + timedelta(days=161), now=t0 + timedelta(days=161)
        )

    step("Scoring, decisions and publication")
    t_pub = t0 + timedelta(days=165)
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        rs.compute_scorecard(s, rnd, actor=EVALUATOR, now=t_pub)
        rs.publish_results(s, rnd, actor=ADMIN, now=t_pub)

    step("Appeal window: one upheld appeal reissues results, one late appeal is rejected")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        gyeol = svc.get_consortium(s, prog, "Gyeol Consortium")
        a = rs.file_appeal(
            s,
            rnd,
            gyeol,
            "Two items of the common set were graded against a wrong answer key; "
            "we ask for re-grading of those items.",
            actor="Gyeol Consortium",
            now=t_pub + timedelta(days=3),
        )
        sub = svc.submission_of(s, rnd, gyeol)
        rs.decide_appeal(
            s,
            a,
            upheld=True,
            resolution="Answer key corrected for items C-117 and C-342; "
            "common-set accuracy re-computed.",
            score_changes=[(sub.id, "common", Measurement(0.709, 0.690, 0.728))],
            actor=ADMIN,
            now=t_pub + timedelta(days=6),
        )
        nuri = svc.get_consortium(s, prog, "Nuri Systems")
        late = rs.file_appeal(
            s,
            rnd,
            nuri,
            "We contest the originality finding for our vision encoder.",
            actor="Nuri Systems",
            now=t_pub + timedelta(days=12),
        )
        assert late.status == "rejected_late"

    step("Wild-card call for Phase 2")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        r1 = svc.get_round(s, prog, 1)
        r1_rules = svc.get_ruleset(s, r1.ruleset_id)
        rnd2 = svc.create_round(
            s,
            prog,
            2,
            opens_at=t0 + timedelta(days=200),
            closes_at=t0 + timedelta(days=380),
            advance_slots=3,
            ruleset=r1_rules,
            name="Phase 2",
            actor=ADMIN,
            now=t_pub + timedelta(days=15),
        )
        for c in teams["consortia"]:
            cons = svc.get_consortium(s, prog, c["name"])
            if cons.status == "selected":
                for r in teams["resources"]:
                    sup.allocate(
                        s,
                        rnd2,
                        cons,
                        r["resource"],
                        r["amount"],
                        r["unit"],
                        actor=ADMIN,
                        now=t_pub + timedelta(days=15),
                    )
        for w in teams["wildcard_applicants"]:
            # Earlier applicants are on record already; new consortia register to apply.
            svc.add_consortium(
                s,
                prog,
                w["name"],
                w["lead"],
                w["members"],
                status="applicant",
                actor=ADMIN,
                now=t_pub + timedelta(days=15),
            )
        call = sup.open_wildcard_call(
            s,
            prog,
            rnd2,
            eligible_kinds=["eliminated", "earlier_applicant", "new"],
            panel=teams["experts"],
            opens_at=t_pub + timedelta(days=16),
            closes_at=t_pub + timedelta(days=30),
            actor=ADMIN,
            now=t_pub + timedelta(days=16),
        )
        apps = {}
        for name in ("Saebyeok Research", "Mirae Compute", "Onnuri AI"):
            cons = svc.get_consortium(s, prog, name)
            new = next(
                (
                    w
                    for w in teams["wildcard_applicants"]
                    if w["name"] == name and w["status"] == "new"
                ),
                None,
            )
            apps[name] = sup.apply_wildcard(
                s,
                call,
                cons,
                actor=name,
                now=t_pub + timedelta(days=20),
                kind="new" if new else None,
            )
        ballots = {
            "Mirae Compute": [True, True, True, False, True],
            "Saebyeok Research": [False, True, False, False, True],
            "Onnuri AI": [True, False, False, True, False],
        }
        for name, votes in ballots.items():
            for expert, ok in zip(teams["experts"], votes, strict=True):
                sup.vote_wildcard(s, apps[name], expert, ok, now=t_pub + timedelta(days=28))
        sup.decide_wildcard(s, call, actor=ADMIN, now=t_pub + timedelta(days=30))
        equal = sup.check_resources(s, rnd2)
        assert equal.equal, equal.issues

    step("Transparency report and ledger check")
    from sovereval.report.transparency import write_report

    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        write_report(s, prog, report_path)
        card = rs.latest_scorecard(s, svc.get_round(s, prog, 1), published_only=True)
        assert card is not None
        check = verify_store(s)
        seq, head = head_hash(s)
    store.dispose()
    if not check.ok:
        raise RuntimeError(f"ledger does not verify after the demo: {check.problem}")
    return DemoOutcome(
        f"sqlite:///{db_path}",
        teams["programme"]["name"],
        report_path,
        card.content["teams"],
        head,
        seq,
    )
