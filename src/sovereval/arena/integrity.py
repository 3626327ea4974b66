"""Vote integrity: a sequential outlier test of each panelist against the consensus.

(Daily caps and duplicate votes are decided in ``arena.votes``, with the store's unique
constraint as the durable guard; request rates are limited at the web edge.)

Outlier test: for each panelist, Wald's sequential probability ratio test (Wald 1945) of

    H0: the panelist votes like the consensus, P(vote A) = p          (p from the BT fit)
    H1: the panelist is contaminated,         P(vote A) = (1-t) p + t (1-p)

with contamination ``t`` (0.5 = a coin-flipping voter, 1.0 = an adversary voting against the
consensus). Each decisive vote adds ``log(q/p)`` (vote A) or ``log((1-q)/(1-p))`` (vote B) to
the log-likelihood ratio; a tie or "both bad" vote is given the same probability under both
hypotheses and adds nothing. The test flags when the sum reaches ``log((1-beta)/alpha)`` and
clears when it falls to ``log(beta/(1-alpha))``; Wald's bounds give a false-flag rate of at most
about ``alpha / (1 - beta)`` and a miss rate of at most about ``beta / (1 - alpha)``. A contaminated
voter with ``t >= 0.5`` drifts up whatever the consensus, so the one test catches both random and
adversarial voting, the adversary faster.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from sovereval.arena.bt import OUTCOME_A, OUTCOME_B
from sovereval.errors import InputError

Decision = Literal["flagged", "cleared", "undecided"]


def consensus_probabilities(beta: NDArray[np.float64]) -> NDArray[np.float64]:
    """``P[i, j] = sigmoid(beta_i - beta_j)``: consensus chance that ``i`` beats ``j``."""
    b = np.asarray(beta, dtype=np.float64)
    return np.asarray(expit(b[:, None] - b[None, :]), dtype=np.float64)


@dataclass(frozen=True)
class SPRTSettings:
    alpha: float = 0.01
    """Target false-flag rate (honest panelist flagged)."""
    beta: float = 0.05
    """Target miss rate (contaminated panelist cleared)."""
    contamination: float = 0.5
    """``t`` under H1: 0.5 = random voting, 1.0 = always against the consensus."""

    def bounds(self) -> tuple[float, float]:
        if not (0 < self.alpha < 1 and 0 < self.beta < 1 and 0 < self.contamination <= 1):
            raise InputError("SPRT: alpha, beta in (0, 1) and contamination in (0, 1] required")
        return math.log(self.beta / (1 - self.alpha)), math.log((1 - self.beta) / self.alpha)


@dataclass(frozen=True)
class PanelistScreen:
    panelist_id: str
    decision: Decision
    llr: float
    """Log-likelihood ratio when the test stopped (or after the last vote)."""
    n_votes: int
    """Votes read before the decision (all votes when undecided)."""


@dataclass(frozen=True)
class ScreenResult:
    screens: Mapping[str, PanelistScreen]
    settings: SPRTSettings

    @property
    def flagged(self) -> frozenset[str]:
        return frozenset(k for k, s in self.screens.items() if s.decision == "flagged")

    @property
    def n_flagged(self) -> int:
        return len(self.flagged)


def sprt_increments(
    model_a: NDArray[np.int64],
    model_b: NDArray[np.int64],
    outcome: NDArray[np.int64],
    beta: NDArray[np.float64],
    contamination: float,
) -> NDArray[np.float64]:
    """Per-vote log-likelihood-ratio increments (H1 vs H0) for votes in time order."""
    p = np.clip(expit(np.asarray(beta)[model_a] - np.asarray(beta)[model_b]), 1e-9, 1 - 1e-9)
    q = (1 - contamination) * p + contamination * (1 - p)
    inc = np.zeros(p.shape)
    a = outcome == OUTCOME_A
    b = outcome == OUTCOME_B
    inc[a] = np.log(q[a] / p[a])
    inc[b] = np.log((1 - q[b]) / (1 - p[b]))
    return inc


def sprt_decide(
    increments: NDArray[np.float64], settings: SPRTSettings
) -> tuple[Decision, float, int]:
    """Walk the cumulative LLR until it crosses a Wald boundary."""
    lower, upper = settings.bounds()
    path = np.cumsum(increments)
    hit = np.flatnonzero((path >= upper) | (path <= lower))
    if hit.size == 0:
        return "undecided", float(path[-1]) if path.size else 0.0, int(path.size)
    k = int(hit[0])
    return ("flagged" if path[k] >= upper else "cleared"), float(path[k]), k + 1


def screen_panelists(
    panelist: Sequence[str],
    model_a: NDArray[np.int64],
    model_b: NDArray[np.int64],
    outcome: NDArray[np.int64],
    beta: NDArray[np.float64],
    settings: SPRTSettings = SPRTSettings(),
) -> ScreenResult:
    """Run the SPRT for every panelist; votes must be in the order they were cast.

    ``beta`` are consensus log-strengths (fit on all votes; with many panelists one voter barely
    moves them). Exclude ``result.flagged`` before the final fit and report ``n_flagged``.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    who = np.asarray(panelist, dtype=object)
    if not (a.shape == b.shape == o.shape == who.shape):
        raise InputError("screen: panelist, model_a, model_b and outcome must have equal length")
    inc = sprt_increments(a, b, o, beta, settings.contamination)
    screens: dict[str, PanelistScreen] = {}
    order: dict[str, list[int]] = {}
    for i, pid in enumerate(who.tolist()):
        order.setdefault(str(pid), []).append(i)
    for pid, idx in order.items():
        decision, llr, used = sprt_decide(inc[np.array(idx)], settings)
        screens[pid] = PanelistScreen(pid, decision, llr, used)
    return ScreenResult(screens, settings)


def keep_mask(panelist: Sequence[str], flagged: Collection[str]) -> NDArray[np.bool_]:
    """True for votes to keep: those not cast by a flagged panelist."""
    bad = set(flagged)
    return np.fromiter((p not in bad for p in panelist), dtype=bool, count=len(panelist))
