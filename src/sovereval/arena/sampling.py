"""Invitations by stratum: joint cell targets from marginal quotas, then stratified sampling.

Quotas fix only the margins (gender, region, age band, proficiency). To sample we need a count
for every joint stratum (2 x 2 x 5 x 3 = 60 cells). We take the candidate pool's own joint
distribution as the seed and rake it to the quota margins by iterative proportional fitting
(Deming & Stephan 1940; Bishop, Fienberg & Holland 1975, ch. 3): the result is the table closest
to the pool's association structure (minimum Kullback–Leibler divergence) that has the wanted
margins, and it never asks for a stratum the pool lacks (structural zeros stay zero). Cells
the pool cannot fill are capped at their availability and the rest re-raked ("capped raking").
The real-valued table is rounded to integers with a greedy controlled rounding that preserves
the total and keeps the margins as close as possible, then each stratum is sampled without
replacement with the caller's ``rng``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sovereval.arena.panel import CATEGORIES, DIMENSIONS, Panelist, QuotaReport, Quotas, check_panel
from sovereval.errors import InputError

SHAPE = tuple(len(CATEGORIES[d]) for d in DIMENSIONS)


def _cell_index(p: Panelist) -> tuple[int, ...]:
    return tuple(CATEGORIES[d].index(getattr(p, d)) for d in DIMENSIONS)


def _margin(table: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    other = tuple(a for a in range(table.ndim) if a != axis)
    out: NDArray[np.float64] = table.sum(axis=other)
    return out


def _expand(v: NDArray[np.float64], axis: int, ndim: int) -> NDArray[np.float64]:
    shape = [1] * ndim
    shape[axis] = v.size
    return v.reshape(shape)


def _targets(quotas: Quotas) -> dict[int, NDArray[np.float64]]:
    return {
        DIMENSIONS.index(dim): np.array([float(quotas.target(dim, c)) for c in CATEGORIES[dim]])
        for dim in quotas.targets
    }


def scale_quotas(quotas: Quotas, total: int) -> Quotas:
    """Quotas rescaled to ``total`` with largest-remainder rounding (Hamilton) per dimension."""
    out: dict[str, dict[str, int]] = {}
    for dim in quotas.targets:
        cats = CATEGORIES[dim]
        exact = np.array([quotas.target(dim, c) * total / quotas.total for c in cats])
        base = np.floor(exact + 1e-9).astype(np.int64)
        extra = total - int(base.sum())
        for k in np.argsort(-(exact - base), kind="stable")[:extra]:
            base[k] += 1
        out[dim] = {c: int(v) for c, v in zip(cats, base, strict=True)}
    return Quotas(out)


def rake_table(
    seed: NDArray[np.float64],
    margins: dict[int, NDArray[np.float64]],
    capacity: NDArray[np.float64] | None = None,
    *,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> NDArray[np.float64]:
    """IPF of ``seed`` to ``margins`` (axis -> target vector), never exceeding ``capacity``."""
    cap = np.full(seed.shape, np.inf) if capacity is None else capacity
    fixed = np.zeros_like(seed)
    free_seed = seed.astype(np.float64).copy()
    for _ in range(seed.size + 1):
        free = free_seed.copy()
        for _ in range(max_iter):
            worst = 0.0
            for ax, tgt in margins.items():
                want = np.maximum(tgt - _margin(fixed, ax), 0.0)
                have = _margin(free, ax)
                worst = max(worst, float(np.abs(have - want).max()))
                f = np.divide(want, have, out=np.zeros_like(want), where=have > 0)
                free *= _expand(f, ax, seed.ndim)
            if worst < tol:
                break
        table = fixed + free
        over = (table > cap + 1e-12) & (free_seed > 0)
        if not over.any():
            return table
        fixed[over] = cap[over]
        free_seed[over] = 0.0
    return fixed + free_seed


def round_table(
    table: NDArray[np.float64],
    margins: dict[int, NDArray[np.float64]],
    total: int,
    capacity: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Controlled rounding: floors, then add units where the margins' shortfall is largest."""
    out = np.minimum(np.floor(table + 1e-9), capacity).astype(np.int64)
    frac = table - np.floor(table + 1e-9)
    for _ in range(max(total - int(out.sum()), 0)):
        score = np.zeros(table.shape)
        for ax, tgt in margins.items():
            score = score + _expand(tgt - _margin(out.astype(np.float64), ax), ax, table.ndim)
        score = score + 0.5 * frac
        score[out >= capacity] = -np.inf
        if not np.isfinite(score.max()):
            break
        idx = np.unravel_index(int(np.argmax(score)), table.shape)
        out[idx] += 1
        frac[idx] = 0.0
    return out


@dataclass(frozen=True)
class InvitationPlan:
    invited: tuple[str, ...]
    """Panelist ids to invite, in pool order."""
    cell_targets: dict[tuple[str, str, str, str], int]
    """Invitations per joint stratum (gender, region, age band, proficiency); zero cells omitted."""
    expected: QuotaReport
    """The invited set checked against the quotas scaled by the response rate."""
    shortfall: dict[str, dict[str, int]]
    """Per margin, how many invitations the pool could not supply."""


def sample_invitations(
    pool: Sequence[Panelist],
    quotas: Quotas,
    rng: np.random.Generator,
    *,
    response_rate: float = 1.0,
) -> InvitationPlan:
    """Choose whom to invite so that the expected responders meet the quotas.

    With ``response_rate < 1`` every target is scaled by ``1 / response_rate`` (rounded up on the
    total), assuming equal response across strata; re-run on the remaining pool for a second wave.
    """
    if not 0 < response_rate <= 1:
        raise InputError("response_rate must be in (0, 1]")
    ids = [p.panelist_id for p in pool]
    if len(set(ids)) != len(ids):
        raise InputError("candidate pool has duplicate panelist ids")
    scale = 1.0 / response_rate
    total = math.ceil(quotas.total * scale - 1e-9)
    scaled = scale_quotas(quotas, total)
    margins = _targets(scaled)
    members: dict[tuple[int, ...], list[int]] = {}
    counts = np.zeros(SHAPE)
    for i, p in enumerate(pool):
        idx = _cell_index(p)
        members.setdefault(idx, []).append(i)
        counts[idx] += 1
    real = rake_table(counts, margins, capacity=counts)
    cells = round_table(real, margins, total, counts)
    chosen: list[int] = []
    targets: dict[tuple[str, str, str, str], int] = {}
    for idx, who in members.items():
        k = int(cells[idx])
        if k == 0:
            continue
        pick = rng.choice(len(who), size=k, replace=False)
        chosen.extend(who[j] for j in pick)
        names = tuple(CATEGORIES[d][i] for d, i in zip(DIMENSIONS, idx, strict=True))
        targets[(names[0], names[1], names[2], names[3])] = k
    chosen.sort()
    invited = [pool[i] for i in chosen]
    report = check_panel(invited, scaled)
    shortfall = {
        dim: {
            c: max(scaled.target(dim, c) - n, 0)
            for k, (c, n) in enumerate(_composition_counts(invited, dim))
        }
        for dim in quotas.targets
    }
    return InvitationPlan(tuple(p.panelist_id for p in invited), targets, report, shortfall)


def _composition_counts(panel: Sequence[Panelist], dim: str) -> list[tuple[str, int]]:
    return [(c, sum(1 for p in panel if getattr(p, dim) == c)) for c in CATEGORIES[dim]]
