"""One provenance analysis of a pair: weight evidence (``compare``) plus the declared evidence
(config tags, tokenizer overlap) and licences, kept apart in the output as the method requires.

This is the edge that opens files; ``compare`` and the declared-evidence functions stay pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.provenance.compare import CompareOptions, compare
from sovereval.provenance.declared import DECLARED_NOTE, compare_declared, declared_evidence
from sovereval.provenance.formats import open_source
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.licence import read_licences
from sovereval.provenance.tokenizer_evidence import tokenizer_evidence


def declared_json(a: TensorSource, b: TensorSource) -> dict[str, Any]:
    """Declared evidence for a pair; never part of the weight verdict."""
    da, db = declared_evidence(a.meta), declared_evidence(b.meta)
    out: dict[str, Any] = {
        "kind": "declared",
        "note": DECLARED_NOTE,
        "a": da.to_json(),
        "b": db.to_json(),
        "shared": compare_declared(da, db).to_json(),
    }
    if a.meta.tokenizer.get("vocab") and b.meta.tokenizer.get("vocab"):
        out["tokenizer"] = tokenizer_evidence(a.meta.tokenizer, b.meta.tokenizer).to_json()
    out["licences"] = {
        side: [f.to_json() for f in read_licences(src.meta)] for side, src in (("a", a), ("b", b))
    }
    return out


def analyse_sources(
    a: TensorSource, b: TensorSource, *, seed: int = 0, options: CompareOptions | None = None
) -> dict[str, Any]:
    result = compare(a, b, rng=np.random.default_rng(seed), options=options)
    out = result.to_json()
    out["declared"] = declared_json(a, b)
    out["inputs"] = {
        "a": {"path": a.meta.path, "format": a.meta.format},
        "b": {"path": b.meta.path, "format": b.meta.format},
    }
    out["seed"] = seed
    return out


def analyse_paths(
    a: Path,
    b: Path,
    *,
    allow_pytorch: bool = False,
    seed: int = 0,
    options: CompareOptions | None = None,
) -> dict[str, Any]:
    """Open both checkpoints (hostile-safe readers) and analyse them."""
    sa = open_source(a, allow_pytorch=allow_pytorch)
    try:
        sb = open_source(b, allow_pytorch=allow_pytorch)
        try:
            return analyse_sources(sa, sb, seed=seed, options=options)
        finally:
            sb.close()
    finally:
        sa.close()


def gate_findings(
    report: Mapping[str, Any], declared_components: Sequence[Mapping[str, Any]], reference: str
) -> list[tuple[str, bool, str]]:
    """Per component of the submission: (component, gate_failed, reason).

    The originality gate fails when a component is derived from (or identical to) the reference
    and the team did not declare that reference as the component's origin.
    """
    declared = {
        str(c.get("kind") or c.get("name")): str(c.get("declared_origin", "from-scratch"))
        for c in declared_components
    }
    out: dict[str, tuple[str, bool, str]] = {}
    for comp in report.get("components", []):
        kind = str(comp.get("kind") or comp["name"])
        where = f" ({comp['name']})" if comp["name"] != kind else ""
        name, verdict = kind, str(comp["verdict"])
        origin = declared.get(str(comp["name"]), declared.get(kind, "undeclared"))
        related = verdict in ("derived", "identical")
        honest = (
            related
            and origin not in ("from-scratch", "undeclared")
            and reference.lower() in origin.lower()
        )
        failed = related and not honest
        found = comp.get("found_fraction") or 0.0
        evidence = (
            f"{found:.1%} of its parameters found in {reference}'s {comp.get('source')}"
            if found >= 0.005
            else f"p = {_p(comp.get('p_value'))}"
        )
        if failed:
            said = (
                "no such component was declared"
                if origin == "undeclared"
                else f"declared '{origin}'"
            )
            reason = (
                f"{name}{where} component {verdict} from {reference} (derivation "
                f"{comp.get('derivation')}, {evidence}) but {said}"
            )
        elif related:
            reason = f"{name}{where} component {verdict} from {reference} ({evidence}), as declared ('{origin}')"
        else:
            reason = f"{name}{where} component {verdict} with respect to {reference}"
        prev = out.get(name)
        if (
            prev is None
            or (failed and not prev[1])
            or (related and not prev[1] and "from" not in prev[2])
        ):
            out[name] = (name, failed, reason)
    return list(out.values())


def _p(p: object) -> str:
    return "undefined" if p is None else f"{float(p):.3g}"  # type: ignore[arg-type]
