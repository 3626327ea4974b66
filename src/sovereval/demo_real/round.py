"""The real demo's model work and how its results enter the round.

:func:`prepare` does everything that needs the models (checkpoints, the model server and the
benchmark runs, the forensics) against the demo cache, outside the database; the ``record_*``
functions then put the results into the round through the services, with the demo's clock.
So the database and its ledger are rebuilt identically on every run, and an interrupted run
resumes from the cache (journals, response cache, built checkpoints, forensic reports).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy.orm import Session

from sovereval.competition.scoring import Measurement
from sovereval.demo_real import bench as dbench
from sovereval.demo_real import forensics, models, server
from sovereval.demo_real.models import TINY_INIT_STD, Checkpoints

EVALUATOR = "agency-evaluator"


def default_cache() -> Path:
    """``$SOVEREVAL_DEMO_CACHE``, else the user cache directory's ``demo`` folder."""
    env = os.environ.get("SOVEREVAL_DEMO_CACHE")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("sovereval", appauthor=False)) / "demo"


def shared_benchmarks(start: Path | None = None) -> Path | None:
    """The shared benchmark folder (``../shared/benchmarks`` beside the repository), if any."""
    env = os.environ.get("SOVEREVAL_SHARED_BENCHMARKS")
    if env:
        p = Path(env)
        return p if (p / "click").is_dir() else None
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "benchmarks"
        if (cand / "click").is_dir():
            return cand
    cand = Path.cwd().parent / "shared" / "benchmarks"
    return cand if (cand / "click").is_dir() else None


@dataclass
class RealInputs:
    spec: dict[str, Any]
    checkpoints: Checkpoints
    bench: dbench.BenchOutcome
    served_as: dict[str, str]
    """Team -> the name its model is served and journaled under."""
    compare: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Team -> reference -> provenance report."""
    chains: dict[str, dict[str, Any]] = field(default_factory=dict)
    shared: Path | None = None
    battle_prompts: list[str] = field(default_factory=list)

    def part(self, team: str, part: str, seed: int) -> tuple[Measurement, str, int]:
        return dbench.part_measurement(self.bench.models[self.served_as[team]], part, seed)

    def gate_failed(self, team: str) -> bool:
        """Whether any reference shows an undeclared reused component (``gate_findings``)."""
        from sovereval.provenance.analysis import gate_findings

        comps = self.spec["teams"][team]["components"]
        return any(
            failed
            for ref, report in self.compare[team].items()
            for _, failed, _ in gate_findings(report, comps, ref)
        )

    def bench_mean(self, team: str, seed: int) -> float:
        vals = [self.part(team, p, seed)[0].value for p in ("government", "common", "team")]
        return float(sum(vals) / len(vals))


def prepare(
    cache: Path,
    spec: dict[str, Any],
    *,
    seed: int,
    step: Callable[[str], None],
    detail: Callable[[str], None] = lambda _m: None,
    prompts: tuple[str, ...] = (),
) -> RealInputs:
    """Build the checkpoints, run every benchmark on the model server, run the forensics."""
    teams = spec["teams"]
    step("Checkpoints: public models, a from-scratch chain, a fine-tune, a copied encoder")
    ck = models.build_all(cache, {t: v["role"] for t, v in teams.items()}, seed=seed, step=detail)
    served_as = {t: v["model"] for t, v in teams.items()}
    dirs: dict[str, Path] = {}
    for team, name in served_as.items():
        dirs[name] = ck.serve_dirs[team]
    shared = shared_benchmarks()
    battle_prompts = list(prompts[: int(spec.get("battle_prompts", 3))])
    step("Benchmarks on a real model server (transformers serve), judges, battle answers")
    with server.serve(cache / "logs") as srv:
        backends = {
            n: (
                d,
                server.served(
                    srv,
                    d,
                    n,
                    server.revision_of(d, cache),
                    timeout_s=600.0,
                    max_retries=1,
                ),
            )
            for n, d in dirs.items()
        }
        try:
            outcome = dbench.run_all_blocking(
                backends,
                list(spec["judge_pool"]),
                battle_prompts,
                shared=shared,
                journal_dir=cache / "journals",
                cache_dir=cache / "responses",
                seed=seed,
                cache_root=cache,
                on_item=detail,
            )
        finally:
            import asyncio

            async def _close() -> None:
                for _, b in backends.values():
                    await b.aclose()

            asyncio.run(_close())
    real = RealInputs(spec, ck, outcome, served_as, shared=shared, battle_prompts=battle_prompts)
    step("Forensics: every submission against every public reference; checkpoint chain")
    rc = forensics.ReportCache(cache / "forensics", seed)
    for team in teams:
        real.compare[team] = {}
        for ref, path in ck.references.items():
            detail(f"{team} vs {ref}")
            real.compare[team][ref] = forensics.compare_report(rc, ck.artefacts[team], path)
        if team in ck.chains:
            detail(f"{team}: checkpoint chain")
            real.chains[team] = forensics.chain_report(
                rc, ck.chains[team], ck.references, TINY_INIT_STD
            )
    return real


def record_forensics(s: Session, prog: Any, rnd: Any, real: RealInputs, *, now: datetime) -> None:
    """Record each (submission, reference) verdict and the chain evidence, as ``provenance
    run`` and ``provenance checkpoints`` do."""
    from sovereval.competition import service as svc
    from sovereval.provenance.analysis import gate_findings

    for team, reports in real.compare.items():
        cons = svc.get_consortium(s, prog, team)
        sub = svc.submission_of(s, rnd, cons)
        for ref, report in reports.items():
            findings = gate_findings(report, sub.components, ref)
            failed = [r for _, f, r in findings if f]
            svc.record_provenance(
                s,
                sub,
                reference=ref,
                verdict=report["verdict"],
                gate_failed=bool(failed),
                reason="; ".join(failed) or "; ".join(r for _, _, r in findings),
                report=report,
                actor=EVALUATOR,
                now=now,
            )
        chain = real.chains.get(team)
        if chain is not None:
            ok = bool(chain["from_scratch"])
            svc.record_provenance(
                s,
                sub,
                reference="checkpoint chain",
                verdict="from-scratch" if ok else "not-shown",
                gate_failed=False,
                reason=(
                    f"checkpoint chain of {len(real.checkpoints.chains[team])}: earliest looks "
                    f"initialised = {chain['earliest_looks_initialised']}, independent of "
                    f"{sum(1 for x in chain['independence'] if x['verdict'] == 'independent')}/"
                    f"{len(chain['independence'])} references, continuous = "
                    f"{all(c['continuous'] for c in chain['continuity'])}"
                ),
                report=chain,
                actor=EVALUATOR,
                now=now,
            )


def record_benchmarks(
    s: Session,
    prog: Any,
    rnd: Any,
    real: RealInputs,
    users: dict[str, Measurement],
    *,
    seed: int,
    now: datetime,
) -> None:
    """Each team's government, common and team parts, its target model's team part, and the
    user score, computed from the journaled model calls."""
    from sovereval.competition import service as svc

    for team, info in real.spec["teams"].items():
        cons = svc.get_consortium(s, prog, team)
        sub = svc.submission_of(s, rnd, cons)
        run = real.bench.models[real.served_as[team]]
        for part in ("government", "common", "team"):
            meas, digest, n = real.part(team, part, seed)
            journal = run.journals[part].name
            svc.record_result(
                s,
                sub,
                part,
                meas,
                source=f"journal {journal}: {n} scored items, sha256 {digest[:16]}",
                actor=EVALUATOR,
                now=now,
            )
        target = real.bench.models[info["target_model"]]
        meas, digest, n = dbench.part_measurement(target, "team", seed)
        svc.record_result(
            s,
            sub,
            "team",
            meas,
            subject="target",
            source=(
                f"target model {info['target_model']}, journal {target.journals['team'].name}: "
                f"{n} scored items, sha256 {digest[:16]}"
            ),
            actor=EVALUATOR,
            now=now,
        )
        svc.record_result(
            s,
            sub,
            "user",
            users[team],
            source="blind battles on real answers, simulated panel (Bradley-Terry)",
            actor=EVALUATOR,
            now=now,
        )
