"""Fill a round with a simulated quota-balanced panel and blind battles, through the service
layer (so every vote lands in the store and the ledger). Used by the demo and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
from scipy.special import expit
from sqlalchemy.orm import Session

from sovereval.arena import service as arena
from sovereval.arena.panel import reference_quotas
from sovereval.arena.sampling import scale_quotas
from sovereval.arena.simulate import simulate_panel
from sovereval.store import models as m

PROMPTS = (
    "서울에서 부산까지 KTX로 가는 가장 저렴한 방법을 알려 주세요.",
    "Explain the difference between a fixed and a variable-rate mortgage to a first-time buyer.",
    "초등학생에게 광합성을 쉽게 설명해 주세요.",
    "Write a polite email declining a meeting invitation.",
    "김치찌개를 맛있게 끓이는 방법을 단계별로 알려 주세요.",
    "Summarise the causes of inflation in three sentences.",
)


def simulate_round(
    s: Session,
    rnd: m.Round,
    strengths: Mapping[str, float],
    *,
    panel_size: int,
    battles: int,
    tie_prob: float,
    rng: np.random.Generator,
    start: datetime,
    daily_cap: int = 50,
) -> int:
    """Enrol a panel matching the reference quotas (scaled), freeze the roster and cast votes
    drawn from Bradley-Terry with the given team strengths. Returns the number of votes.
    Refuses a round not marked as a simulation when it was created."""
    arena.require_simulation(rnd)
    quotas = scale_quotas(reference_quotas(), panel_size)
    people = simulate_panel(quotas, rng)
    panel = [
        arena.enrol_panelist(
            s,
            rnd,
            f"p{i:04d}",
            gender=p.gender,
            region=p.region,
            age_band=p.age_band,
            proficiency=p.proficiency,
            actor="panel-office",
            now=start,
        )
        for i, p in enumerate(people)
    ]
    models = arena.freeze_roster(s, rnd, rng=rng, actor="panel-office", now=start)
    team_of = {r.id: arena.identity(s, r.id)["team"] for r in models}
    counts = arena.exposure_counts(s, rnd, models)
    for k in range(battles):
        who = panel[int(rng.integers(len(panel)))]
        now = start + timedelta(minutes=3 * k)
        b = arena.start_battle(
            s,
            rnd,
            who,
            PROMPTS[k % len(PROMPTS)],
            prompt_source="curated",
            rng=rng,
            now=now,
            models=models,
            counts=counts,
        )
        arena.record_answers(
            s, b, f"[answer from {b.model_a}]", f"[answer from {b.model_b}]", now=now
        )
        sa, sb = strengths[team_of[b.model_a]], strengths[team_of[b.model_b]]
        u = rng.random()
        outcome = "tie" if u < tie_prob else ("a" if rng.random() < expit(sa - sb) else "b")
        rel = np.clip(np.rint(3 + np.array([sa, sa, sb, sb]) + rng.normal(0, 0.8, 4)), 1, 5).astype(
            int
        )
        vote = arena.VoteInput(outcome, int(rel[0]), int(rel[1]), int(rel[2]), int(rel[3]))
        arena.cast_vote(s, b, who, vote, daily_cap=daily_cap, now=now)
    return battles
