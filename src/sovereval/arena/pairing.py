"""Pair scheduling with equal exposure, random sides, and a frozen roster per round.

Equal exposure is a balanced incomplete design. A fresh round is scheduled in *cycles*, each of
which contains every unordered pair exactly once, ordered so that after every battle all
appearance counts differ by at most one:

- even ``n``: a 1-factorisation of the complete graph by the circle method (Kirkman 1847;
  Lucas 1883): ``n - 1`` rounds, each a perfect matching, so every round raises all counts by 1;
- odd ``n``: Walecki's decomposition of ``K_n`` into ``(n - 1) / 2`` Hamiltonian cycles (Lucas
  1883; Alspach 2008). A cycle ``v1 .. vn`` is played as the matching ``v1v2, v3v4, ..,
  v(n-2)v(n-1)``, then ``v(n-1)vn``, then the remaining edges: counts never spread beyond one.

Models are relabelled at random in every cycle and the order of rounds and of disjoint pairs is
shuffled, so the schedule is unpredictable but still exact: pair counts also differ by at most
one at every point. ``choose_pair`` is the online fallback for a round whose state was changed
from outside (battles voided for identity leaks, say): a greedy rule that keeps counts within
``{m, m + 1}`` — if two or more models share the lowest count both come from there, else the
single lowest is paired with a model at ``m + 1`` — and prefers the least used pair. Sides are a
fair coin, so position bias (Zheng et al. 2023) averages out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sovereval.errors import InputError, RuleViolation

IntArray = NDArray[np.int64]


def choose_pair(
    appearances: IntArray, pair_counts: IntArray, rng: np.random.Generator
) -> tuple[int, int]:
    """Next pair ``(a, b)`` (sides already randomised) given the round's exposure so far.

    ``appearances[i]`` counts battles of model ``i``; ``pair_counts`` is the symmetric matrix of
    battles per unordered pair. Neither is modified.
    """
    app = np.asarray(appearances)
    pc = np.asarray(pair_counts)
    n = app.size
    if n < 2 or pc.shape != (n, n):
        raise InputError("pairing: need at least two models and an n x n pair-count matrix")
    low = app.min()
    at_min = np.flatnonzero(app == low)
    if at_min.size >= 2:
        rows = cols = at_min
    else:
        rows = at_min
        cols = np.flatnonzero(app == low + 1)
        if cols.size == 0:
            cols = np.flatnonzero(app > low)
    sub = pc[np.ix_(rows, cols)].astype(np.float64)
    same = rows[:, None] == cols[None, :]
    sub[same] = np.inf
    best = np.argwhere(sub == sub.min())
    r, c = best[rng.integers(best.shape[0])]
    a, b = int(rows[r]), int(cols[c])
    if rng.random() < 0.5:
        a, b = b, a
    return a, b


def _circle_rounds(n: int) -> list[list[tuple[int, int]]]:
    """Circle method for even ``n``: ``n - 1`` perfect matchings covering every pair once."""
    m = n - 1
    return [[(r, m)] + [((r + i) % m, (r - i) % m) for i in range(1, n // 2)] for r in range(m)]


def _walecki_cycles(n: int) -> list[list[int]]:
    """Walecki: ``(n - 1) / 2`` Hamiltonian cycles of ``K_n`` (odd ``n``), as vertex sequences."""
    k = (n - 1) // 2
    m = 2 * k
    zigzag = [0]
    for i in range(1, k + 1):
        zigzag += [i, (m - i) % m] if i < k else [i]
    return [[n - 1] + [(z + j) % m for z in zigzag] for j in range(k)]


def _cycle_blocks(n: int) -> list[list[list[tuple[int, int]]]]:
    """One cycle as blocks; each block is a list of phases of disjoint pairs, played in order."""
    if n % 2 == 0:
        return [[rnd] for rnd in _circle_rounds(n)]
    blocks = []
    for v in _walecki_cycles(n):
        edges = [(v[i], v[(i + 1) % n]) for i in range(n)]  # e_1 .. e_n
        first = edges[0 : n - 1 : 2]  # v1v2, v3v4, ..: everyone but vn plays once
        bridge = [edges[n - 2]]  # v(n-1)vn: vn catches up
        rest = [*edges[1 : n - 2 : 2], edges[n - 1]]  # v2v3, .., vnv1: all reach +2
        blocks.append([first, bridge, rest])
    return blocks


def _one_cycle(n: int, rng: np.random.Generator) -> IntArray:
    label = rng.permutation(n)
    out: list[tuple[int, int]] = []
    blocks = _cycle_blocks(n)
    for b in rng.permutation(len(blocks)):
        for phase in blocks[int(b)]:
            for k in rng.permutation(len(phase)):
                a, c = phase[int(k)]
                out.append((int(label[a]), int(label[c])))
    pairs = np.array(out, dtype=np.int64).reshape(-1, 2)
    flip = rng.random(len(pairs)) < 0.5
    pairs[flip] = pairs[flip][:, ::-1]
    return pairs


def schedule_pairs(
    n_models: int,
    n_battles: int,
    rng: np.random.Generator,
    *,
    appearances: IntArray | None = None,
    pair_counts: IntArray | None = None,
) -> IntArray:
    """Schedule ``n_battles`` pairs (shape (n_battles, 2), columns A and B) with equal exposure.

    A fresh round uses whole design cycles (exact: appearance and pair counts each differ by at
    most one after every battle). Passing the round's ``appearances`` and ``pair_counts``
    continues a running round with the greedy rule of :func:`choose_pair`.
    """
    if n_models < 2:
        raise InputError("pairing: need at least two models")
    if n_battles < 0:
        raise InputError("pairing: n_battles must be non-negative")
    if appearances is None and pair_counts is None:
        per_cycle = n_models * (n_models - 1) // 2
        chunks = [_one_cycle(n_models, rng) for _ in range(-(-n_battles // per_cycle))]
        return np.concatenate(chunks)[:n_battles] if chunks else np.empty((0, 2), np.int64)
    app = np.zeros(n_models, np.int64) if appearances is None else np.array(appearances, np.int64)
    pc = (
        np.zeros((n_models, n_models), np.int64)
        if pair_counts is None
        else np.array(pair_counts, np.int64)
    )
    out = np.empty((n_battles, 2), dtype=np.int64)
    for k in range(n_battles):
        a, b = choose_pair(app, pc, rng)
        out[k] = (a, b)
        app[a] += 1
        app[b] += 1
        pc[a, b] += 1
        pc[b, a] += 1
    return out


def exposure(pairs: IntArray, n_models: int) -> tuple[IntArray, IntArray]:
    """Appearance counts and the symmetric pair-count matrix of a schedule."""
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    app = np.bincount(p.ravel(), minlength=n_models).astype(np.int64)
    pc = np.zeros((n_models, n_models), np.int64)
    np.add.at(pc, (p[:, 0], p[:, 1]), 1)
    return app, pc + pc.T


@dataclass(frozen=True)
class FrozenRoster:
    """The models of a round, fixed when the round opens.

    ``variants`` maps each model id to the digest of the exact artefact being served (weights
    hash, or endpoint plus revision). Serving a different variant mid-round would compare a
    moving target, so :meth:`check` raises :class:`RuleViolation`.
    """

    round_id: str
    variants: Mapping[str, str]
    order: tuple[str, ...] = field(default=())

    @property
    def models(self) -> tuple[str, ...]:
        return self.order

    def index(self, model_id: str) -> int:
        try:
            return self.order.index(model_id)
        except ValueError:
            raise RuleViolation(
                f"round '{self.round_id}': model '{model_id}' is not on the frozen roster"
            ) from None

    def check(self, model_id: str, variant: str) -> None:
        """Raise unless ``model_id`` is on the roster and served as the frozen ``variant``."""
        self.index(model_id)
        if self.variants[model_id] != variant:
            raise RuleViolation(
                f"round '{self.round_id}': model '{model_id}' is frozen at variant "
                f"{self.variants[model_id]!r}, got {variant!r}; swapping variants mid-round is not allowed"
            )


def freeze_roster(
    round_id: str, variants: Mapping[str, str] | Sequence[tuple[str, str]]
) -> FrozenRoster:
    """Freeze a round's roster: model id -> served variant digest, order as given."""
    items = list(variants.items()) if isinstance(variants, Mapping) else list(variants)
    names = [m for m, _ in items]
    if len(names) < 2:
        raise InputError(f"round '{round_id}': a roster needs at least two models")
    if len(set(names)) != len(names):
        raise InputError(f"round '{round_id}': duplicate model ids in the roster")
    if any(not v for _, v in items):
        raise InputError(f"round '{round_id}': every model needs a variant digest")
    return FrozenRoster(round_id, dict(items), tuple(names))
