"""Per-component verdicts of B from located values and the statistics, with their reasons.

Every component of B (found from structure, :mod:`sovereval.provenance.structure`) is
compared with every component of A: the located values (:mod:`sovereval.provenance.locate`)
say how much of it occurs in A and in which of A's components; the rotation- and
fine-tune-robust statistics (``compare``'s per-kind CKA pipeline) speak where values were not
located. Exact evidence is sufficient on its own: a component whose values are found in A is
``identical`` or ``derived`` whatever the statistics say.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sovereval.provenance.locate import LocateResult
from sovereval.provenance.structure import Component
from sovereval.provenance.verdict import ComponentResult, DirectChecks

POSITIONAL_HOWS = ("copy", "cast", "transposed", "rows", "columns")
"""Located with every value in its place (or a whole row/column moved as one)."""
EXACT_HOWS = (*POSITIONAL_HOWS, "rows-permuted", "columns-permuted")


@dataclass(frozen=True)
class Located:
    """What the located values say about one component of B."""

    parameters: int
    found: float
    exact: float
    source: str | None
    """The component of A that most of the located values come from."""
    source_parameters: int
    source_found: float
    """Values of the source component located in B."""
    how: Counter[str]
    """Located values by how they were found."""
    rho: float
    """Value-weighted mean correlation of the located values."""
    sources: int
    """Distinct A tensors the located values come from."""
    matched_tensors: int

    @property
    def fraction(self) -> float:
        return self.found / self.parameters if self.parameters else 0.0


def located(comp: Component, comps_a: Sequence[Component], loc: LocateResult) -> Located:
    owner = {t: c.name for c in comps_a for t in c.tensors}
    members = set(comp.tensors)
    params = sum(loc.numel_b.get(t, 0) for t in comp.tensors)
    found = sum(loc.found_b.get(t, 0.0) for t in comp.tensors)
    exact = sum(loc.exact_b.get(t, 0.0) for t in comp.tensors)
    by_source: Counter[str] = Counter()
    how: Counter[str] = Counter()
    rho_w = 0.0
    a_tensors: set[str] = set()
    matched: set[str] = set()
    for m in loc.matches:
        if m.b not in members:
            continue
        v = m.fraction * loc.numel_b.get(m.b, 0)
        by_source[owner.get(m.a, "?")] += int(v)
        how[m.how] += int(v)
        rho_w += v * m.rho
        a_tensors.add(m.a)
        matched.add(m.b)
    source = by_source.most_common(1)[0][0] if by_source else None
    src_params = src_found = 0.0
    if source is not None:
        sc = next(c for c in comps_a if c.name == source)
        src_params = sum(loc.numel_a.get(t, 0) for t in sc.tensors)
        src_found = sum(loc.found_a.get(t, 0.0) for t in sc.tensors)
    total = sum(how.values())
    return Located(
        params,
        found,
        exact,
        source,
        int(src_params),
        src_found,
        how,
        rho_w / total if total else math.nan,
        len(a_tensors),
        len(matched),
    )


def located_kind(lc: Located, quantised: bool) -> str:
    """Derivation kind from located values alone (most specific first)."""
    total = sum(lc.how.values()) or 1
    exact_share = sum(lc.how[h] for h in EXACT_HOWS) / total
    b_full = lc.fraction >= 0.98
    a_full = lc.source_parameters > 0 and lc.source_found / lc.source_parameters >= 0.98
    if lc.matched_tensors > 1.2 * max(lc.sources, 1):
        return "depth-upscaled"
    permuted = lc.how["rows-permuted"] + lc.how["columns-permuted"] + lc.how["near-rows"]
    if permuted >= 0.2 * total:
        return "permuted"
    if exact_share >= 0.5:
        if b_full and not a_full:
            return "subset"
        if not b_full:
            return "partial"
        return "cast" if lc.how["cast"] > lc.how["copy"] else "copy"
    if lc.rho >= 0.99:
        return "quantized" if quantised else "cast"
    return "fine-tuned"


def _nice(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}"


def decide_component(
    comp: Component,
    lc: Located,
    stat: ComponentResult | None,
    *,
    quantised: bool,
    min_located: float,
    comparable: bool,
    source_for_kind: Mapping[str, str],
) -> ComponentResult:
    """The component's verdict, derivation, source and one-line reason. ``comparable``: the
    component holds at least one matrix that the near tier and the statistics can use."""
    base = stat or ComponentResult(
        comp.name, "inconclusive", "null", math.nan, math.nan, math.nan, 0.0, (), 0, 0, (),
        0.0, math.nan, None, None, None, DirectChecks(),
    )  # fmt: skip
    frac = lc.fraction
    base = replace(
        base,
        name=comp.name,
        kind=comp.kind,
        tensors=comp.tensors,
        parameters=lc.parameters,
        found_fraction=frac,
        exact_fraction=lc.exact / lc.parameters if lc.parameters else 0.0,
        how=dict(lc.how),
    )
    if lc.parameters == 0:
        return replace(
            base,
            verdict="inconclusive",
            derivation="null",
            source=None,
            why="every tensor of this component was excluded (fixed buffers or too small)",
        )
    if frac >= min_located and lc.source is not None:
        exact_all = lc.exact >= 0.999 * lc.parameters
        a_all = lc.source_parameters > 0 and lc.source_found >= 0.999 * lc.source_parameters
        one_to_one = lc.matched_tensors <= lc.sources
        in_place = sum(lc.how[h] for h in POSITIONAL_HOWS) >= 0.999 * sum(lc.how.values())
        verdict = "identical" if exact_all and a_all and one_to_one and in_place else "derived"
        stat_kind = (
            stat.derivation
            if stat is not None and stat.verdict == "derived" and stat.derivation != "null"
            else None
        )
        kind = "copy" if verdict == "identical" else stat_kind or located_kind(lc, quantised)
        total = max(1, sum(lc.how.values()))
        ways = ", ".join(
            f"{h} {v / total:.0%}" for h, v in lc.how.most_common() if v >= 0.005 * total
        )
        why = (
            f"{frac:.1%} of {_nice(lc.parameters)} parameters found in A's {lc.source} "
            f"({ways}; mean correlation {lc.rho:.4f})"
        )
        return replace(
            base,
            verdict=verdict,
            derivation=kind,
            source=lc.source,
            why=why,
            p_value=base.p_value if stat and stat.verdict in ("identical", "derived") else math.nan,
        )
    if not comparable:
        return replace(
            base,
            verdict="inconclusive",
            derivation="null",
            source=None,
            why=(
                f"{frac:.1%} of its values found in A; it holds only vectors (norm gains, "
                "biases) or tiny tensors, which are never statistical evidence"
            ),
        )
    if stat is not None and stat.verdict != "inconclusive":
        src = source_for_kind.get(comp.kind) if stat.verdict in ("derived", "identical") else None
        if stat.verdict in ("derived", "identical"):
            why = (
                f"values not located ({frac:.1%}), but the aligned statistics show derivation: "
                f"debiased CKA effect {stat.effect:.2f}, z = {stat.z:.1f}, p (Holm) = {stat.p_value:.2g}"
            )
        elif stat.verdict == "independent":
            why = (
                f"{frac:.1%} of {_nice(lc.parameters)} parameters found in A; aligned statistics "
                f"within the null (effect {stat.effect:.2f}, z = {stat.z:.1f})"
            )
        return replace(base, source=src, why=why)
    head = (
        f"{frac:.1%} of {_nice(lc.parameters)} parameters found in A (digests, row keys and "
        "near matches against every tensor of A)"
    )
    tail = (
        "no recognised layer roles, so the rotation-robust statistics did not run"
        if stat is None
        else "the aligned statistics were inconclusive: "
        + ("; ".join(stat.notes) or "no comparable layers")
    )
    return replace(
        base,
        verdict="independent",
        derivation="null",
        source=None,
        why=f"{head}; {tail}",
    )


def source_by_kind(comps_a: Sequence[Component], numel_a: Mapping[str, int]) -> dict[str, str]:
    """For each kind, A's largest component of that kind (where the statistics point)."""
    best: dict[str, tuple[int, str]] = {}
    for c in comps_a:
        size = sum(numel_a.get(t, 0) for t in c.tensors)
        if c.kind not in best or size > best[c.kind][0]:
            best[c.kind] = (size, c.name)
    return {k: v[1] for k, v in best.items()}


def summary_sentence(
    comps: Sequence[ComponentResult], a_label: str, b_params: int, b_found: float
) -> str:
    """One sentence a minister could read."""
    hits = [c for c in comps if c.verdict in ("identical", "derived")]
    if not hits:
        share = b_found / b_params if b_params else 0.0
        return (
            f"No component of this model was found in {a_label}: {share:.1%} of "
            f"{_nice(b_params)} compared parameters located, and no statistical sign of derivation."
        )
    parts = []
    for c in sorted(hits, key=lambda c: -c.parameters):
        label = c.kind if c.kind not in ("", "unknown") else c.name
        if c.found_fraction >= 0.005:
            parts.append(
                f"{label}: {c.found_fraction:.1%} of {_nice(c.parameters)} parameters found in "
                f"{a_label}'s {c.source} ({c.derivation})"
            )
        else:
            parts.append(
                f"{label}: derived from {a_label}'s {c.source or 'model'} "
                f"(aligned statistics, z = {c.z:.1f})"
            )
    return "; ".join(parts) + "."
