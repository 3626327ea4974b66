"""Score ``compare`` on the corpus: each pair's expected relation against the verdict, the
found-fraction, and, for reused components, whether B's component is traced to the right
component of A. Components are located by a tensor *name they hold*, never by their label
(labels are the engine's to choose; tensor names are the file's).

The output contract read here (``CompareResult.to_json()``): ``verdict``, ``derivation``,
``found.b_in_a``, ``components`` [{``name``, ``tensors``, ``source``, ``verdict``, ``z``...}],
``components_a`` [{``name``, ``tensors``}]. Fields an engine does not give are reported as
missing, never guessed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sovereval.provenance.corpus import Manifest, Pair

FOUND = ("identical", "derived")
EXACT_KINDS = ("copy", "cast", "format-conversion", "subset", "fused-renamed")
"""Derivations in which every value of B occurs in A: ``identical`` is an acceptable verdict.
For the others (a fine-tune, a reused tower next to new parts) ``identical`` is wrong."""
CompareFn = Callable[[Path, Path], Mapping[str, Any]]


@dataclass(frozen=True)
class Row:
    a: str
    b: str
    relation: str
    kind: str | None
    verdict: str
    derivation: str | None
    found: float | None
    z: float | None
    seconds: float
    ok: bool | None
    """None for siblings (reported, not scored)."""
    problems: tuple[str, ...]


def engine_compare(a: Path, b: Path, *, seed: int = 0) -> Mapping[str, Any]:
    """The engine's Python entry point: ``compare(open A, open B).to_json()``."""
    from sovereval.provenance.compare import compare
    from sovereval.provenance.formats.open import open_source

    sa = open_source(a, allow_pytorch=True)
    sb = open_source(b, allow_pytorch=True)
    try:
        return compare(sa, sb, rng=np.random.default_rng(seed)).to_json()
    finally:
        sa.close()
        sb.close()


def _aliases(name: str) -> set[str]:
    """A tensor's name as stored and as the readers translate it (GGUF -> Hugging Face)."""
    out = {name}
    try:
        from sovereval.provenance.formats.gguf_io import hf_name
    except ImportError:  # the reader moved: stored names still match
        return out
    with contextlib.suppress(Exception):  # a name the GGUF table does not know stays as it is
        out.add(hf_name(name))
    return out


def holding(components: Sequence[Mapping[str, Any]], tensor: str) -> Mapping[str, Any] | None:
    """The component whose ``tensors`` contain ``tensor`` (by stored or translated name)."""
    for c in components:
        for t in c.get("tensors") or ():
            if tensor in _aliases(str(t)):
                return c
    return None


def component_problems(out: Mapping[str, Any], pair: Pair) -> list[str]:
    problems: list[str] = []
    comps_b = out.get("components") or []
    comps_a = out.get("components_a")
    for ce in pair.components:
        cb = holding(comps_b, ce.b_tensor)
        if cb is None:
            problems.append(f"no B component holds {ce.b_tensor}")
            continue
        src = cb.get("source", "<missing>")
        if ce.a_tensor is None:
            if src is not None:
                problems.append(
                    f"B component holding {ce.b_tensor} has source {src!r}, expected none"
                )
            continue
        if comps_a is None:
            problems.append("output has no components_a")
            continue
        ca = holding(comps_a, ce.a_tensor)
        if ca is None:
            problems.append(f"no A component holds {ce.a_tensor}")
        elif src != ca.get("name"):
            problems.append(
                f"B component holding {ce.b_tensor} has source {src!r}, expected {ca.get('name')!r}"
            )
        elif cb.get("verdict") not in FOUND:
            problems.append(f"B component holding {ce.b_tensor} is {cb.get('verdict')!r}")
    return problems


def _z(out: Mapping[str, Any]) -> float | None:
    vals = [out.get("z")] + [c.get("z") for c in out.get("components") or []]
    finite = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    return max(finite) if finite else None


def _found(out: Mapping[str, Any]) -> float | None:
    f = out.get("found")
    if isinstance(f, Mapping) and isinstance(f.get("b_in_a"), (int, float)):
        return float(f["b_in_a"])
    return None


def judge(out: Mapping[str, Any], pair: Pair, seconds: float) -> Row:
    verdict = str(out.get("verdict"))
    deriv = out.get("derivation")
    problems: list[str] = []
    ok: bool | None
    if pair.relation in FOUND:
        allowed = (
            FOUND if pair.relation == "identical" or pair.kind in EXACT_KINDS else ("derived",)
        )
        if verdict not in allowed:
            problems.append(f"verdict {verdict}, expected {pair.relation}")
        problems += component_problems(out, pair)
        ok = not problems
    elif pair.relation == "independent":
        if verdict != "independent":
            problems.append(f"verdict {verdict}, expected independent")
        ok = not problems
    else:
        ok = None
    return Row(
        pair.a,
        pair.b,
        pair.relation,
        pair.kind,
        verdict,
        None if deriv in (None, "null") else str(deriv),
        _found(out),
        _z(out),
        seconds,
        ok,
        tuple(problems),
    )


def evaluate(manifest: Manifest, pair: Pair, compare_fn: CompareFn | None = None) -> Row:
    fn = compare_fn or engine_compare
    t0 = time.perf_counter()
    try:
        out = fn(manifest.path(pair.a), manifest.path(pair.b))
    except Exception as exc:  # an engine failure is a row in the table, not a crash
        out = {"verdict": f"error: {type(exc).__name__}: {str(exc)[:80]}"}
    return judge(out, pair, time.perf_counter() - t0)


def format_table(rows: Sequence[Row]) -> str:
    head = (
        f"{'pair':<52} {'kind':<18} {'expected':<11} {'got':<13} {'found':>6} {'z':>8} {'s':>6}  ok"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        got = r.verdict if r.derivation is None else f"{r.verdict}/{r.derivation}"
        found = "-" if r.found is None else f"{r.found:.3f}"
        z = "-" if r.z is None else f"{r.z:.1f}"
        ok = "report" if r.ok is None else ("yes" if r.ok else "NO")
        lines.append(
            f"{r.a + ' -> ' + r.b:<52} {r.kind or '-':<18} {r.relation:<11} {got[:13]:<13} "
            f"{found:>6} {z:>8} {r.seconds:>6.1f}  {ok}"
        )
        lines += [f"{'':<4}! {p}" for p in r.problems]
    scored = [r for r in rows if r.ok is not None]
    lines.append(
        f"{sum(bool(r.ok) for r in scored)} of {len(scored)} scored pairs right; "
        f"{len(rows) - len(scored)} reported only"
    )
    return "\n".join(lines)
