"""Seeded simulator: a quota-matching panel and votes from known model strengths.

Tests use it to check that the estimators recover what was put in; the demo uses it to fill a
round. Votes follow Bradley–Terry with a constant tie probability ``tau``:
``P(A) = (1 - tau) sigmoid(s_A - s_B)``, ``P(tie) = tau``. (The half-win fit then estimates
strengths shrunk towards zero by a factor that depends on ``tau`` — the order is preserved.)
Panelists are ``honest`` (the model above), ``random`` (a fair coin between A and B) or
``adversarial`` (votes for the weaker model with the honest probability of the stronger).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from sovereval.arena.bt import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from sovereval.arena.panel import CATEGORIES, Panelist, Quotas
from sovereval.arena.sampling import sample_invitations
from sovereval.errors import InputError

Kind = Literal["honest", "random", "adversarial"]
KINDS: tuple[Kind, ...] = ("honest", "random", "adversarial")


def simulate_pool(n: int, rng: np.random.Generator, *, prefix: str = "c") -> list[Panelist]:
    """A candidate pool with plausible, mildly associated attributes (older -> more novices)."""
    if n < 1:
        raise InputError("simulate: pool size must be positive")
    out: list[Panelist] = []
    ages = CATEGORIES["age_band"]
    for i in range(n):
        age = int(rng.choice(len(ages), p=[0.22, 0.22, 0.2, 0.19, 0.17]))
        adv = 0.30 - 0.05 * age
        prof_p = np.array([0.25 + 0.07 * age, 1.0, adv])
        prof_p[1] = 1.0 - prof_p[0] - prof_p[2]
        prof = ("novice", "intermediate", "advanced")[int(rng.choice(3, p=prof_p))]
        out.append(
            Panelist(
                panelist_id=f"{prefix}{i:06d}",
                gender=("female", "male")[int(rng.integers(2))],
                region=("capital", "other")[int(rng.random() < 0.49)],
                age_band=ages[age],  # type: ignore[arg-type]
                proficiency=prof,  # type: ignore[arg-type]
            )
        )
    return out


def simulate_panel(
    quotas: Quotas, rng: np.random.Generator, *, pool_factor: int = 6
) -> list[Panelist]:
    """A panel that meets ``quotas``: simulate a pool, then sample it by stratum."""
    pool = simulate_pool(quotas.total * pool_factor, rng)
    plan = sample_invitations(pool, quotas, rng)
    chosen = set(plan.invited)
    return [p for p in pool if p.panelist_id in chosen]


@dataclass(frozen=True)
class SimulatedVotes:
    """Votes in the order cast. ``panelist`` indexes ``kinds``."""

    panelist: NDArray[np.int64]
    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    outcome: NDArray[np.int64]
    kinds: tuple[Kind, ...]


def assign_kinds(
    n_panelists: int, rng: np.random.Generator, mix: Mapping[str, float] | None = None
) -> tuple[Kind, ...]:
    """Panelist kinds drawn with probabilities ``mix`` (default all honest)."""
    probs = {"honest": 1.0} if mix is None else dict(mix)
    if set(probs) - set(KINDS) or abs(sum(probs.values()) - 1.0) > 1e-9:
        raise InputError(f"simulate: mix must map {KINDS} to probabilities summing to 1")
    names = list(probs)
    draw = rng.choice(len(names), size=n_panelists, p=[probs[k] for k in names])
    return tuple(names[i] for i in draw)  # type: ignore[misc]


def simulate_votes(
    strengths: Sequence[float] | NDArray[np.float64],
    n_battles: int,
    rng: np.random.Generator,
    *,
    tie_prob: float = 0.1,
    kinds: Sequence[Kind] = ("honest",),
    pairs: NDArray[np.int64] | None = None,
) -> SimulatedVotes:
    """``n_battles`` votes; panelists take turns at random; pairs uniform unless given."""
    s = np.asarray(strengths, dtype=np.float64)
    n = s.size
    if n < 2 or n_battles < 0 or not 0 <= tie_prob < 1 or not kinds:
        raise InputError("simulate: need >= 2 models, n_battles >= 0, tie_prob in [0, 1)")
    if pairs is None:
        a = rng.integers(0, n, n_battles)
        b = (a + rng.integers(1, n, n_battles)) % n
    else:
        if pairs.shape != (n_battles, 2):
            raise InputError("simulate: pairs must have shape (n_battles, 2)")
        a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    who = rng.integers(0, len(kinds), n_battles)
    code = np.array([KINDS.index(k) for k in kinds])[who]
    p = expit(s[a] - s[b])
    p = np.where(code == 1, 0.5, np.where(code == 2, 1.0 - p, p))
    u, v = rng.random(n_battles), rng.random(n_battles)
    outcome = np.where(u < tie_prob, OUTCOME_TIE, np.where(v < p, OUTCOME_A, OUTCOME_B))
    return SimulatedVotes(who.astype(np.int64), a, b, outcome.astype(np.int64), tuple(kinds))


def simulate_likert(
    strengths: Sequence[float] | NDArray[np.float64],
    model: NDArray[np.int64],
    rng: np.random.Generator,
    *,
    n_criteria: int = 2,
    noise: float = 0.8,
) -> NDArray[np.int64]:
    """1–5 scores for ``model`` (one row per rating, one column per criterion)."""
    s = np.asarray(strengths, dtype=np.float64)
    latent = 3.0 + s[np.asarray(model)][:, None] + rng.normal(0, noise, (len(model), n_criteria))
    return np.clip(np.rint(latent), 1, 5).astype(np.int64)
