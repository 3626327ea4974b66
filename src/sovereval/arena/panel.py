"""Citizen panel: attributes, marginal quotas, quota checks and raking weights.

A round's quotas are *marginal* targets per dimension (the reference programme planned 250/250
by gender, 250/250 capital region vs elsewhere, 100 per age band in five bands and
100/250/150 advanced/intermediate/novice users). This module checks a panel against them
(per-cell deviation and a Pearson chi-square goodness-of-fit test per dimension) and computes
raking weights (Deming & Stephan 1940, iterative proportional fitting of unit weights to the
marginals) so that results can be weighted by stratum when a round's rules say so. Sampling
invitations from a candidate pool lives in ``sampling.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from sovereval.errors import InputError

Gender = Literal["female", "male"]
Region = Literal["capital", "other"]
AgeBand = Literal["20s", "30s", "40s", "50s", "60+"]
Proficiency = Literal["novice", "intermediate", "advanced"]

DIMENSIONS: tuple[str, ...] = ("gender", "region", "age_band", "proficiency")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male"),
    "region": ("capital", "other"),
    "age_band": ("20s", "30s", "40s", "50s", "60+"),
    "proficiency": ("novice", "intermediate", "advanced"),
}


@dataclass(frozen=True)
class Panelist:
    """One panel member. Attributes are self-reported at recruitment."""

    panelist_id: str
    gender: Gender
    region: Region
    """``capital`` = Seoul, Incheon and Gyeonggi (the capital area); ``other`` = elsewhere."""
    age_band: AgeBand
    proficiency: Proficiency
    """Self-rated experience with AI assistants."""

    def __post_init__(self) -> None:
        for dim in DIMENSIONS:
            if getattr(self, dim) not in CATEGORIES[dim]:
                raise InputError(
                    f"panelist '{self.panelist_id}': {dim} must be one of {CATEGORIES[dim]}"
                )

    def stratum(self) -> tuple[str, str, str, str]:
        return (self.gender, self.region, self.age_band, self.proficiency)


@dataclass(frozen=True)
class Quotas:
    """Marginal targets: ``targets[dimension][category]`` = wanted count. Totals must agree."""

    targets: Mapping[str, Mapping[str, int]]

    def __post_init__(self) -> None:
        if not self.targets:
            raise InputError("quotas: give targets for at least one dimension")
        totals = set()
        for dim, cats in self.targets.items():
            if dim not in CATEGORIES:
                raise InputError(f"quotas: unknown dimension '{dim}'; use one of {DIMENSIONS}")
            unknown = set(cats) - set(CATEGORIES[dim])
            if unknown:
                raise InputError(f"quotas: unknown {dim} categories {sorted(unknown)}")
            if any(int(v) < 0 for v in cats.values()):
                raise InputError(f"quotas: negative target in '{dim}'")
            totals.add(sum(int(v) for v in cats.values()))
        if len(totals) != 1 or 0 in totals:
            raise InputError(
                f"quotas: every dimension must sum to the same positive total, got {sorted(totals)}"
            )

    @property
    def total(self) -> int:
        return sum(int(v) for v in next(iter(self.targets.values())).values())

    def target(self, dim: str, cat: str) -> int:
        return int(self.targets[dim].get(cat, 0))

    def proportions(self, dim: str) -> dict[str, float]:
        return {c: self.target(dim, c) / self.total for c in CATEGORIES[dim]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, int]]) -> Quotas:
        """Build from the RuleSet's ``arena["quotas"]`` mapping."""
        return cls({k: {c: int(v) for c, v in cats.items()} for k, cats in d.items()})


def reference_quotas() -> Quotas:
    """The 500-person design the reference programme planned (an example, not a default)."""
    return Quotas(
        {
            "gender": {"female": 250, "male": 250},
            "region": {"capital": 250, "other": 250},
            "age_band": {"20s": 100, "30s": 100, "40s": 100, "50s": 100, "60+": 100},
            "proficiency": {"advanced": 100, "intermediate": 250, "novice": 150},
        }
    )


@dataclass(frozen=True)
class CellDeviation:
    dimension: str
    category: str
    target: int
    observed: int

    @property
    def deviation(self) -> int:
        """``observed - target`` (negative = shortfall)."""
        return self.observed - self.target

    @property
    def relative(self) -> float:
        if self.target:
            return self.deviation / self.target
        return float("inf") if self.observed else 0.0


@dataclass(frozen=True)
class DimensionTest:
    """Pearson chi-square goodness of fit of the panel's composition to the quota proportions."""

    dimension: str
    chi2: float
    dof: int
    p_value: float


@dataclass(frozen=True)
class QuotaReport:
    panel_size: int
    target_size: int
    cells: tuple[CellDeviation, ...]
    tests: tuple[DimensionTest, ...]

    @property
    def max_abs_deviation(self) -> int:
        return max((abs(c.deviation) for c in self.cells), default=0)

    def within(self, tolerance: int) -> bool:
        """True when every cell is within ``tolerance`` panelists of its target."""
        return self.max_abs_deviation <= tolerance

    def to_text(self) -> str:
        """A fixed-width deviation report for the CLI and the transparency report."""
        lines = [f"panel {self.panel_size} / target {self.target_size}"]
        lines.append(f"{'dimension':<12} {'category':<13} {'target':>6} {'observed':>8} {'dev':>5}")
        for c in self.cells:
            lines.append(
                f"{c.dimension:<12} {c.category:<13} {c.target:>6} {c.observed:>8} {c.deviation:>+5}"
            )
        for t in self.tests:
            lines.append(f"chi2 {t.dimension}: {t.chi2:.3f} on {t.dof} df, p = {t.p_value:.4f}")
        return "\n".join(lines)


def composition(panelists: Sequence[Panelist], dim: str) -> dict[str, int]:
    counts = dict.fromkeys(CATEGORIES[dim], 0)
    for p in panelists:
        counts[getattr(p, dim)] += 1
    return counts


def check_panel(panelists: Sequence[Panelist], quotas: Quotas) -> QuotaReport:
    """Per-cell deviations from the targets and a chi-square test per dimension.

    The test compares the observed counts with ``n * target proportion`` (expected counts for the
    panel's actual size ``n``), ``X^2 = sum (O - E)^2 / E`` on ``k - 1`` degrees of freedom over
    the categories with a positive target (Pearson 1900). A category with a zero target but
    observed members makes the fit impossible: ``chi2 = inf`` and ``p = 0``.
    """
    n = len(panelists)
    cells: list[CellDeviation] = []
    tests: list[DimensionTest] = []
    for dim in quotas.targets:
        obs = composition(panelists, dim)
        props = quotas.proportions(dim)
        for cat in CATEGORIES[dim]:
            cells.append(CellDeviation(dim, cat, quotas.target(dim, cat), obs[cat]))
        pos = [c for c in CATEGORIES[dim] if props[c] > 0]
        if any(obs[c] > 0 for c in CATEGORIES[dim] if props[c] == 0):
            tests.append(DimensionTest(dim, float("inf"), len(pos) - 1, 0.0))
            continue
        if n == 0 or len(pos) < 2:
            tests.append(DimensionTest(dim, 0.0, max(len(pos) - 1, 0), 1.0))
            continue
        o = np.array([obs[c] for c in pos], dtype=float)
        e = np.array([props[c] * n for c in pos])
        chi2 = float(((o - e) ** 2 / e).sum())
        dof = len(pos) - 1
        tests.append(DimensionTest(dim, chi2, dof, float(stats.chi2.sf(chi2, dof))))
    return QuotaReport(n, quotas.total, tuple(cells), tuple(tests))


def raking_weights(
    panelists: Sequence[Panelist],
    quotas: Quotas,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
    bounds: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Raking weights (mean 1) that make the weighted panel match the quota proportions.

    Iterative proportional fitting on unit weights (Deming & Stephan 1940): for each dimension in
    turn, multiply the weights in category ``c`` by ``target share / weighted share``. Converges
    to the minimum-discrimination-information weights when a solution exists. ``bounds`` trims
    the weights to ``[lo, hi]`` after each sweep (trimmed raking), trading exact margins for less
    variance. A category with a positive target but no panelist cannot be fixed by weighting.
    """
    if not panelists:
        raise InputError("raking: the panel is empty")
    dims = list(quotas.targets)
    codes = {
        dim: np.array([CATEGORIES[dim].index(getattr(p, dim)) for p in panelists]) for dim in dims
    }
    for dim in dims:
        props = quotas.proportions(dim)
        present = np.bincount(codes[dim], minlength=len(CATEGORIES[dim]))
        missing = [c for i, c in enumerate(CATEGORIES[dim]) if props[c] > 0 and present[i] == 0]
        if missing:
            raise InputError(f"raking: no panelist in {dim} {missing}; recruit before weighting")
    w = np.ones(len(panelists))
    for _ in range(max_iter):
        worst = 0.0
        for dim in dims:
            target = np.array(list(quotas.proportions(dim).values()))
            share = np.bincount(codes[dim], weights=w, minlength=target.size) / w.sum()
            factor = np.divide(target, share, out=np.zeros_like(target), where=share > 0)
            w = w * factor[codes[dim]]
            worst = max(worst, float(np.abs(share - target).max()))
        w = w / w.mean()
        if bounds is not None:
            w = np.clip(w, bounds[0], bounds[1])
            w = w / w.mean()
        if worst < tol:
            break
    return {p.panelist_id: float(x) for p, x in zip(panelists, w, strict=True)}
