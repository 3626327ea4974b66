"""Inputs of the demo round: example files shipped in the package, turned into measurements.

Each function stands where a slice of the system produces the real input (benchmark runs,
expert review, blind battles, provenance scans); they read the package's example files and
use the slices' own statistics where those exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition.scoring import Measurement
from sovereval.store import evaluation_models as em
from sovereval.store import models as m


def example(name: str) -> Any:
    return json.loads(
        resources.files("sovereval.examples").joinpath("demo").joinpath(name).read_text("utf-8")
    )


def mean_interval(values: list[float], rng: np.random.Generator, n_boot: int = 2000) -> Measurement:
    """Mean with a seeded percentile-bootstrap 95% interval."""
    arr = np.asarray(values, dtype=float)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    lo, hi = np.percentile(arr[idx].mean(axis=1), [2.5, 97.5])
    mean = float(arr.mean())
    return Measurement(mean, float(min(lo, mean)), float(max(hi, mean)))


def run_expert_review(
    s: Session,
    prog: Any,
    rnd: Any,
    rng: np.random.Generator,
    *,
    registered: datetime,
    now: datetime,
    quality: Mapping[str, float] | None = None,
) -> Any:
    """Ten simulated experts (one with a past affiliation inside the conflict window, one tied to
    a GPU supplier's consortium) review through the service: evidence uploads, conflict-free
    randomized assignment, drafts, submissions, aggregation recorded as each team's result.
    ``quality`` (team -> level 1-10) replaces the example file's levels (the real demo derives
    them from the benchmark runs and the forensics: ``demo_real.panel.expert_levels``)."""
    from sovereval.competition import service as svc
    from sovereval.review import service as review
    from sovereval.review.rubric import CriterionScore

    spec = example("expert_review.json")
    for e in spec["experts"]:
        review.register_expert(
            s, prog, e["name"], e["record"], actor="ministry-admin", now=registered
        )
    level = {}
    for team, q in (quality if quality is not None else spec["quality"]).items():
        sub = svc.submission_of(s, rnd, svc.get_consortium(s, prog, team))
        level[sub.id] = float(q)
        report = (
            f"# {sub.model_name} technical report\n\nData, architecture, training and evaluation.\n"
        )
        review.upload_evidence(
            s,
            sub,
            "technical_report",
            "technical-report.md",
            report.encode(),
            actor=team,
            now=registered,
        )
        log = "".join(f'{{"step": {k * 1000}, "loss": {3.2 * 0.93**k:.4f}}}\n' for k in range(20))
        review.upload_evidence(
            s, sub, "training_log", "train-log.jsonl", log.encode(), actor=team, now=registered
        )
    review.assign_round(s, rnd, seed=int(rng.integers(2**31)), actor="agency-evaluator", now=now)
    bias = {e["name"]: float(rng.normal(0, 0.25)) for e in spec["experts"]}
    rows = (
        s.execute(select(em.ReviewAssignment).where(em.ReviewAssignment.round_id == rnd.id))
        .scalars()
        .all()
    )
    criteria = ("development_strategy", "technical_capability", "originality", "ripple_effects")
    for i, a in enumerate(rows):
        keys = review.evidence_keys(s, a.submission_id)
        scores = []
        for crit in criteria:
            v = float(
                np.clip(
                    np.rint(level[a.submission_id] + bias[a.expert] + rng.normal(0, 0.6)), 1, 10
                )
            )
            cite = f" Evidence: {keys[0]}." if crit == "originality" and keys else ""
            text = f"Assessed {crit.replace('_', ' ')} from the technical report and the training logs.{cite}"
            scores.append(CriterionScore(crit, v, text))
        # Ledger times only move forward: each review is drafted, then submitted, in turn.
        at = now + timedelta(minutes=2 * i)
        review.save_draft(s, a.expert, a.submission_id, scores, now=at)
        review.submit_review(s, a.expert, a.submission_id, now=at + timedelta(minutes=1))
    return review.aggregate(
        s, rnd, rng=rng, record=True, actor="agency-evaluator", now=now + timedelta(days=1)
    )


def build_models(
    folder: Path, teams: Mapping[str, Any], rng: np.random.Generator
) -> dict[str, Path]:
    """Small stand-in checkpoints (safetensors) for the demo's submissions and one public
    vision-language reference. Every team trains its own weights, except the team whose
    vision tower (and its merger) is copied from the public model without being declared."""
    from safetensors.numpy import save_file

    from sovereval.provenance.synthetic import splice, synthetic_llama

    folder.mkdir(parents=True, exist_ok=True)

    def save(src: Any, name: str) -> Path:
        path = folder / f"{name}.safetensors"
        save_file({n: np.ascontiguousarray(src.read(n)) for n in src.infos()}, str(path))
        return path

    public = synthetic_llama(rng, layers=4, vision_layers=3)
    out = {"_reference": save(public, "PublicVL-2.5")}
    for c in teams["consortia"]:
        has_vision = any(x["kind"] == "vision" for x in c["components"])
        own = synthetic_llama(rng, layers=4, vision_layers=3 if has_vision else 0)
        if c["name"] == teams["copied_vision"]:
            own = splice(own, public, "visual.")
        out[c["name"]] = save(own, c["model"])
    return out


def run_provenance(s: Session, rnd: Any, reference: Path, *, seed: int, now: datetime) -> None:
    """Compare every submission with the public reference and record each verdict with the
    submission; an undeclared derived component fails the originality gate."""
    from sovereval.competition import service as svc
    from sovereval.provenance.analysis import analyse_paths, gate_findings

    subs = s.execute(
        select(m.Submission).where(m.Submission.round_id == rnd.id).order_by(m.Submission.id)
    ).scalars()
    for sub in subs:
        report = analyse_paths(reference, Path(sub.artefact_uri), seed=seed)
        findings = gate_findings(report, sub.components, reference.stem)
        failed = [r for _, f, r in findings if f]
        svc.record_provenance(
            s,
            sub,
            reference=reference.stem,
            verdict=report["verdict"],
            gate_failed=bool(failed),
            reason="; ".join(failed) or "; ".join(r for _, _, r in findings),
            report=report,
            actor="agency-evaluator",
            now=now,
        )
