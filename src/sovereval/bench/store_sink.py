"""Benchmark results into the store: every finished item as a row (resumable, idempotent by
``(run_key, task, item_id)``), one ledger event per batch with a digest of the rows, and at the
end of a complete run the suite's part score (mean with a seeded bootstrap interval) recorded
as the submission's raw result for that part."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from sovereval.bench.catalogue import SuiteSpec
from sovereval.bench.journal import ItemResult
from sovereval.bench.stats import bootstrap_ci
from sovereval.competition import service as svc
from sovereval.competition.scoring import Measurement
from sovereval.errors import InputError
from sovereval.ledger.log import append
from sovereval.store import models as m
from sovereval.store.db import Store


def run_key(submission_id: int, suite: SuiteSpec, model: str) -> str:
    raw = f"{submission_id}|{suite.name}|{suite.version}|{model}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


class StoreSink:
    """An ``ItemSink`` writing to the store in the service layer's transaction discipline."""

    def __init__(
        self, store: Store, submission_id: int, suite: SuiteSpec, model: str, *, actor: str
    ) -> None:
        self.store, self.submission_id, self.suite, self.model, self.actor = (
            store,
            submission_id,
            suite,
            model,
            actor,
        )
        self.key = run_key(submission_id, suite, model)
        with store.session() as s:
            # fail early on a wrong id; a local artefact must still match its digests
            svc.verify_artefact(svc.get_submission(s, submission_id))

    def write(self, results: Sequence[ItemResult]) -> None:
        if not results:
            return
        now = datetime.now(UTC)
        with self.store.session() as s:
            have = set(
                s.execute(
                    select(m.BenchItem.task, m.BenchItem.item_id).where(
                        m.BenchItem.run_key == self.key
                    )
                ).all()
            )
            fresh = [r for r in results if (r.task, r.item_id) not in have]
            for r in fresh:
                s.add(
                    m.BenchItem(
                        run_key=self.key,
                        submission_id=self.submission_id,
                        model=r.model,
                        task=r.task,
                        item_id=r.item_id,
                        prompt_hash=r.prompt_hash,
                        response=r.response,
                        score=None if r.score is None else float(r.score),
                        latency_s=r.latency_s,
                        tokens_in=r.prompt_tokens,
                        tokens_out=r.completion_tokens,
                        created_at=now,
                    )
                )
            if fresh:
                digest = hashlib.sha256(
                    json.dumps(
                        sorted((r.task, r.item_id, r.prompt_hash, r.score) for r in fresh),
                        default=str,
                    ).encode()
                ).hexdigest()
                append(
                    s,
                    actor=self.actor,
                    kind="bench.items",
                    body={
                        "submission": self.submission_id,
                        "suite": self.suite.name,
                        "run_key": self.key,
                        "items": len(fresh),
                        "sha256": digest,
                    },
                    at=now,
                )

    def close(self) -> None:
        return None


def record_part(
    store: Store,
    submission_id: int,
    suite: SuiteSpec,
    model: str,
    *,
    seed: int,
    actor: str,
    subject: str = "model",
) -> Measurement:
    """The suite's part score from the stored items: mean of scored items, bootstrap 95% CI."""
    key = run_key(submission_id, suite, model)
    with store.session() as s:
        scores = [
            x
            for x in s.execute(
                select(m.BenchItem.score).where(m.BenchItem.run_key == key)
            ).scalars()
            if x is not None
        ]
        if not scores:
            raise InputError(f"suite {suite.name}: no scored items for submission {submission_id}")
        ci = bootstrap_ci(scores, np.random.default_rng(seed))
        meas = Measurement(
            float(ci.estimate), float(min(ci.low, ci.estimate)), float(max(ci.high, ci.estimate))
        )
        svc.record_result(
            s,
            svc.get_submission(s, submission_id),
            suite.part,
            meas,
            subject=subject,
            source=f"bench suite {suite.name} v{suite.version} on {model} ({len(scores)} items, run {key})",
            actor=actor,
            now=datetime.now(UTC),
        )
    return meas
