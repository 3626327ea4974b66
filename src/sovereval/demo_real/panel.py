"""The demo's simulated people: 500 panelists voting on real answers, and the experts' levels.

These are the only scripted inputs of the real demo, and they are marked "simulated" wherever
they show. Their behaviour is a documented model of the real outputs:

- **A panelist's vote** on a battle between answers ``a`` and ``b`` follows Bradley-Terry with
  ``P(a wins) = expit(s_a - s_b)``, ties with a fixed probability, where an answer's strength is
  ``s = BENCH_WEIGHT * (team benchmark mean - mean over teams) + ANSWER_WEIGHT * quality``
  and ``quality`` in [0, 1] is read from the real answer text: the share of its letters written
  in the prompt's script (Hangul for a Korean prompt, Latin otherwise) times the share of its
  words that are not repeats (degenerate, looping answers score low).
- **An expert's level** for a team is ``3 + 6 * benchmark mean``, minus 3 when the forensics
  found an undeclared reused component (the reviewers read the same evidence), clipped to
  [1, 10]; each expert adds a personal bias and per-criterion noise (see ``demo_inputs``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
from scipy.special import expit
from sqlalchemy.orm import Session

from sovereval.arena import service as arena
from sovereval.arena.panel import reference_quotas
from sovereval.arena.sampling import scale_quotas
from sovereval.arena.simulate import simulate_panel
from sovereval.store import models as m

BENCH_WEIGHT = 4.0
ANSWER_WEIGHT = 2.0
SIMULATED = "simulated"

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[\uac00-\ud7a3A-Za-z]")


def answer_quality(prompt: str, answer: str) -> float:
    """In [0, 1]: script match with the prompt times the share of non-repeated words."""
    letters = _LETTER.findall(answer)
    if not letters:
        return 0.0
    korean = bool(_HANGUL.search(prompt))
    same = len((_HANGUL if korean else _LATIN).findall(answer)) / len(letters)
    words = answer.split()
    fresh = len(set(words)) / len(words) if words else 0.0
    return float(same * fresh)


def team_strengths(bench_means: Mapping[str, float]) -> dict[str, float]:
    mean = float(np.mean(list(bench_means.values())))
    return {t: BENCH_WEIGHT * (v - mean) for t, v in bench_means.items()}


def expert_levels(bench_means: Mapping[str, float], reused: Mapping[str, bool]) -> dict[str, float]:
    return {
        t: float(np.clip(3.0 + 6.0 * v - (3.0 if reused.get(t) else 0.0), 1.0, 10.0))
        for t, v in bench_means.items()
    }


def simulate_battles(
    s: Session,
    rnd: m.Round,
    answers: Mapping[str, Mapping[str, str]],
    bench_means: Mapping[str, float],
    prompts: Sequence[str],
    *,
    panel_size: int,
    battles: int,
    tie_prob: float,
    rng: np.random.Generator,
    start: datetime,
    daily_cap: int = 50,
) -> int:
    """Enrol a quota-balanced simulated panel, freeze the roster, and run ``battles`` blind
    battles whose two answers are the teams' real answers (``answers[team][prompt]``) and whose
    votes follow the model in the module docstring. Returns the number of votes."""
    quotas = scale_quotas(reference_quotas(), panel_size)
    people = simulate_panel(quotas, rng)
    panel = [
        arena.enrol_panelist(
            s,
            rnd,
            f"sim{i:04d}",
            gender=p.gender,
            region=p.region,
            age_band=p.age_band,
            proficiency=p.proficiency,
            actor="panel-office (simulated panel)",
            now=start,
        )
        for i, p in enumerate(people)
    ]
    models = arena.freeze_roster(s, rnd, rng=rng, actor="panel-office", now=start)
    team_of = {r.id: arena.identity(s, r.id)["team"] for r in models}
    counts = arena.exposure_counts(s, rnd, models)
    strength = team_strengths(bench_means)
    for k in range(battles):
        who = panel[int(rng.integers(len(panel)))]
        now = start + timedelta(minutes=3 * k)
        prompt = prompts[k % len(prompts)]
        b = arena.start_battle(
            s,
            rnd,
            who,
            prompt,
            prompt_source="curated",
            rng=rng,
            now=now,
            models=models,
            counts=counts,
        )
        ta, tb = team_of[b.model_a], team_of[b.model_b]
        ans_a, ans_b = answers[ta][prompt], answers[tb][prompt]
        arena.record_answers(s, b, ans_a, ans_b, now=now)
        sa = strength[ta] + ANSWER_WEIGHT * answer_quality(prompt, ans_a)
        sb = strength[tb] + ANSWER_WEIGHT * answer_quality(prompt, ans_b)
        u = rng.random()
        outcome = "tie" if u < tie_prob else ("a" if rng.random() < expit(sa - sb) else "b")
        centre = float(np.mean([sa, sb]))
        rel = np.clip(
            np.rint(3 + np.array([sa, sa, sb, sb]) - centre + rng.normal(0, 0.8, 4)), 1, 5
        ).astype(int)
        vote = arena.VoteInput(outcome, int(rel[0]), int(rel[1]), int(rel[2]), int(rel[3]))
        arena.cast_vote(s, b, who, vote, daily_cap=daily_cap, now=now)
    return battles
