"""Verdicts: records of a comparison, the per-component decision and the derivation kind.

Verdicts are per component (text decoder, vision encoder, audio encoder, projector); the
model's verdict is the most serious component verdict. A component is

* ``identical`` -- every compared value equal after a bf16 cast and nothing else differs;
* ``derived``   -- the Holm-adjusted p-value of its weight evidence is below ``alpha`` AND the
  effect (statistic minus null mean) is at least ``min_effect`` (a tiny p on a tiny effect
  is how naive tools accuse unrelated models);
* ``independent`` -- enough comparable evidence, and neither of the above;
* ``inconclusive`` -- too little comparable evidence (no shared roles or layers, or the
  positive control failed, so the test could not have detected a derivation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sovereval.provenance.calibration import NullSummary, _f

SEVERITY = {"identical": 3, "derived": 2, "inconclusive": 1, "independent": 0}
DERIVATIONS = (
    "copy",
    "quantized",
    "fine-tuned",
    "low-rank",
    "permuted",
    "layer-subset",
    "pruned",
    "depth-upscaled",
    "vocab-changed",
    "merged",
    "cast",
    "subset",
    "partial",
    "null",
)


@dataclass(frozen=True)
class Evidence:
    component: str
    name: str
    value: float
    p_value: float
    weight_evidence: bool
    """False for facts shown for context only (norm-vector cosines, digests of buffers)."""
    null: NullSummary | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component": self.component,
            "name": self.name,
            "value": _f(self.value),
            "p_value": _f(self.p_value),
            "weight_evidence": self.weight_evidence,
        }
        if self.null is not None:
            out["null"] = self.null.to_json()
            out["z"] = _f(self.null.z)
        out.update(_jsonable(dict(self.detail)))
        return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return _f(x)
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        return _jsonable(x.item())
    return x


@dataclass(frozen=True)
class DirectChecks:
    """Same-position comparisons on a few mapped layer pairs (residual basis aligned)."""

    pearson: float = 0.0
    relative_update: float = math.inf
    slope: float = 0.0
    low_rank_energy: float = 0.0
    quant_grid_error: float = 0.0
    """Fraction of positions whose difference fits within half a quantisation step."""
    quant_quarter: float = 0.0
    """Share within a quarter step: ~0.5 for rounding error (uniform), higher for small updates."""
    grid_a: str = "none"
    grid_b: str = "none"
    rotation: float = 0.0
    """``||Q - I||_F / sqrt(d)``: 0 for the same basis, ~1.4 for an unrelated rotation."""
    match_agreement: float = 0.0
    pairs: int = 0
    roles: int = 0
    """Position-by-position comparisons made (matrix roles x layer pairs)."""
    rescaled: int = 0
    """Comparisons that differ by a pure rescaling (slope != 1, no residual update)."""


@dataclass(frozen=True)
class ComponentResult:
    name: str
    verdict: str
    derivation: str
    p_value: float
    """Holm-adjusted across components (and candidate parents when scanning)."""
    p_raw: float
    z: float
    matched_fraction: float
    """Layers of the shallower model with a significant partner in ``layer_map``."""
    layer_map: tuple[tuple[int, int], ...]
    layers_a: int
    layers_b: int
    similarity: tuple[tuple[float, ...], ...]
    bf16_identical_fraction: float
    effect: float
    statistic: NullSummary | None
    positive_control: NullSummary | None
    negative_control: NullSummary | None
    direct: DirectChecks
    notes: tuple[str, ...] = ()
    kind: str = ""
    """text / vision / audio / projector / unknown: a label from names and shapes, never evidence."""
    tensors: tuple[str, ...] = ()
    """Stored names of B's tensors in this component."""
    parameters: int = 0
    """Compared values of B in this component (excluded buffers not counted)."""
    found_fraction: float = 0.0
    """Share of ``parameters`` whose values were located in A (exactly or near)."""
    exact_fraction: float = 0.0
    """Share located exactly (equal at bf16)."""
    source: str | None = None
    """The component of A it came from (``None`` when nothing points to one)."""
    why: str = ""
    how: Mapping[str, int] = field(default_factory=dict)
    """Located values by tier: copy, cast, transposed, rows, columns, near, near-rows."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "verdict": self.verdict,
            "derivation": None if self.derivation == "null" else self.derivation,
            "found_fraction": _f(self.found_fraction),
            "exact_fraction": _f(self.exact_fraction),
            "source": self.source,
            "why": self.why,
            "parameters": self.parameters,
            "how": dict(self.how),
            "tensors": list(self.tensors),
            "p_value": _f(self.p_value),
            "p_raw": _f(self.p_raw),
            "z": _f(self.z),
            "matched_fraction": _f(self.matched_fraction),
            "layer_map": [[int(i), int(j)] for i, j in self.layer_map],
            "layers_a": self.layers_a,
            "layers_b": self.layers_b,
            "effect": _f(self.effect),
            "bf16_identical_fraction": _f(self.bf16_identical_fraction),
            "statistic": None if self.statistic is None else self.statistic.to_json(),
            "positive_control": None
            if self.positive_control is None
            else self.positive_control.to_json(),
            "negative_control": None
            if self.negative_control is None
            else self.negative_control.to_json(),
            "direct": _jsonable(self.direct.__dict__),
            "similarity": [[_f(v) for v in row] for row in self.similarity],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class CompareResult:
    verdict: str
    derivation: str
    components: tuple[ComponentResult, ...]
    evidence: tuple[Evidence, ...]
    norms_all_one: Mapping[str, Sequence[str]]
    """Model (``a``/``b``) -> components whose norm gains are all exactly 1.0."""
    excluded: Mapping[str, Sequence[tuple[str, str]]]
    """Model -> (tensor, reason) never used as weight evidence."""
    notes: tuple[str, ...] = ()
    summary: str = ""
    """One sentence a minister could read."""
    found: Mapping[str, Any] = field(default_factory=dict)
    """``b_in_a`` / ``a_in_b`` fractions of compared parameters, counts and tiers."""
    tensor_map: tuple[Mapping[str, Any], ...] = ()
    components_a: tuple[Mapping[str, Any], ...] = ()
    statistics: tuple[ComponentResult, ...] = ()
    """The per-kind statistical comparisons behind the components (for the report)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "derivation": None if self.derivation == "null" else self.derivation,
            "summary": self.summary,
            "found": _jsonable(dict(self.found)),
            "components": [c.to_json() for c in self.components],
            "components_a": [_jsonable(dict(c)) for c in self.components_a],
            "tensor_map": [_jsonable(dict(m)) for m in self.tensor_map],
            "statistics": [c.to_json() for c in self.statistics],
            "evidence": [e.to_json() for e in self.evidence],
            "norms_all_one": {k: list(v) for k, v in self.norms_all_one.items()},
            "excluded": {k: [[n, r] for n, r in v] for k, v in self.excluded.items()},
            "similarity": {
                c.name: [[_f(v) for v in row] for row in c.similarity] for c in self.statistics
            },
            "notes": list(self.notes),
        }


def decide(
    *,
    p_adj: float,
    effect: float,
    alpha: float,
    min_effect: float,
    identical: bool,
    comparable: bool,
    positive_ok: bool,
) -> str:
    if identical:
        return "identical"
    if not comparable:
        return "inconclusive"
    if p_adj < alpha and effect >= min_effect:
        return "derived"
    if not positive_ok:
        return "inconclusive"
    return "independent"


def classify_derivation(
    *,
    verdict: str,
    bf16_fraction: float,
    layer_pattern: str | None,
    vocab_changed: bool,
    direct: DirectChecks,
) -> str:
    """Derivation kind from the evidence, most specific first (see design/provenance-method.md)."""
    if verdict == "identical":
        return "copy"
    if verdict != "derived":
        return "null"
    if layer_pattern is not None:
        return layer_pattern
    if vocab_changed:
        return "vocab-changed"
    if bf16_fraction >= 0.8:
        return "copy"
    if direct.roles and (direct.pearson < 0.5 or direct.rotation > 0.3):
        return "permuted"
    if direct.rescaled and direct.relative_update < 0.01:
        return "permuted"  # paired rescaling: another function-preserving reparametrisation
    gridded = [g for g in (direct.grid_a, direct.grid_b) if g != "none"]
    if (
        direct.quant_grid_error >= 0.98
        and direct.relative_update < 0.5
        and (
            len(gridded) == 2  # re-quantised: both sides on grids
            or (len(gridded) == 1 and 0.3 <= direct.quant_quarter <= 0.7)  # rounding is uniform
        )
    ):
        return "quantized"
    if direct.low_rank_energy >= 0.9 and direct.relative_update < 1.0:
        return "low-rank"
    if direct.relative_update >= 0.6 or (0.0 < direct.slope < 0.75):
        return "merged"
    return "fine-tuned"


def most_serious(verdicts: Sequence[str]) -> str:
    """Model-level verdict: ``identical`` only when every component is; otherwise a component
    that is identical or derived makes the model ``derived``; then ``inconclusive``."""
    if not verdicts:
        return "inconclusive"
    if all(v == "identical" for v in verdicts):
        return "identical"
    if any(v in ("identical", "derived") for v in verdicts):
        return "derived"
    return max(verdicts, key=lambda v: SEVERITY[v])
