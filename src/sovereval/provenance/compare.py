"""``compare(a, b)``: was B derived from A (or A from B)? One verdict per component.

Pipeline (design/provenance-method.md has the full method and its sources):

1. canonical form of both checkpoints (names, fused splits, buffers excluded);
2. per component, the residual basis of B in A's (Procrustes on shared anchors);
3. one streaming pass, a block of each model at a time: norm gains folded into the readers,
   every matrix sketched as the ``k x k`` Gram of its responses to ``k`` random orthonormal
   residual probes (``Z`` for A, ``Q^T Z`` for B) -- the debiased-CKA "examples" -- plus exact
   bf16 identity on same-named tensors;
4. the layer x layer similarity (mean debiased CKA over roles), the component statistic
   (best-match mean), its permutation null, random-initialisation and perturbed-copy controls;
5. the layer map, then direct checks and the Zhu et al. matching test on a few mapped pairs;
6. per-component verdicts with Holm across components, and the derivation kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sovereval.provenance.align import (
    anchors,
    anchors_determine,
    classify_layer_map,
    layer_map,
    residual_map,
)
from sovereval.provenance.calibration import (
    NullSummary,
    best_match_score,
    bonferroni_min,
    holm,
    summarize,
)
from sovereval.provenance.canonical import CanonicalIndex, canonicalize
from sovereval.provenance.components import (
    decide_component,
    located,
    source_by_kind,
    summary_sentence,
)
from sovereval.provenance.direct import direct_checks
from sovereval.provenance.exact import ExactTally
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.locate import LocateOptions, LocateResult, locate
from sovereval.provenance.reading import closed_form, read_canonical
from sovereval.provenance.sketch import ComponentSketch, sketch_pair
from sovereval.provenance.stats import procrustes_fits
from sovereval.provenance.structure import Component, group_components
from sovereval.provenance.verdict import (
    CompareResult,
    ComponentResult,
    Evidence,
    classify_derivation,
    decide,
    most_serious,
)


@dataclass(frozen=True)
class _Partial:
    result: ComponentResult
    identical: bool
    pattern: str | None
    vocab_changed: bool


@dataclass(frozen=True)
class CompareOptions:
    probes: int = 96
    """Residual probe directions ``k``; the debiased CKA has ``k`` examples per matrix."""
    permutations: int = 48
    alpha: float = 1e-4
    """Per-component significance after Holm (the verdict's false-positive budget)."""
    min_effect: float = 0.15
    """Minimum best-match debiased CKA above its null mean for ``derived``."""
    anchor_rows: int = 2048
    anchor_permutations: int = 6
    anchor_min_effect: float = 0.5
    anchor_min_fit: float = 0.9
    """Embedding fit (and effect above the shuffle null) needed before the anchor statistic may
    count as weight evidence: independently trained models share semantic structure (measured:
    all-MiniLM-L6-v2 vs SmolLM2-135M on 4,313 shared tokens fit 0.61 against a shuffle null of
    0.47), so a fit above the shuffle null alone is not derivation."""
    match_neurons: int = 128
    direct_layers: int = 3
    control_strength: float = 0.2
    layer_z: float = 5.0
    layer_rel: float = 0.8
    components: tuple[str, ...] = field(default_factory=tuple)
    """Restrict to these components (empty: all)."""
    min_found: float = 0.01
    """Share of a component's values located in A that makes it ``derived`` on exact
    evidence alone (located values are never a coincidence: see ``locate``)."""
    locate: LocateOptions = field(default_factory=LocateOptions)
    blas_threads: int = 1
    """BLAS threads while comparing (0: leave the process setting alone). The products here
    are many and mid-sized; on a shared machine a multi-threaded BLAS spends its time
    waiting for busy cores (measured on 2 shared cores: a 135M pair 4.1 s with one thread,
    21.9 s with two). Needs ``threadpoolctl``; without it the setting is ignored."""


def compare(
    a: TensorSource,
    b: TensorSource,
    *,
    rng: np.random.Generator,
    options: CompareOptions | None = None,
) -> CompareResult:
    """Compare two checkpoints component by component; never holds either model in full."""
    opt = options or CompareOptions()
    with blas_limit(opt.blas_threads):
        return _compare(a, b, rng, opt)


@contextmanager
def blas_limit(threads: int) -> Iterator[None]:
    """Limit BLAS threads inside the block (``threads <= 0``: no change), restoring them after."""
    if threads <= 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def _compare(
    a: TensorSource, b: TensorSource, rng: np.random.Generator, opt: CompareOptions
) -> CompareResult:
    ia, ib = canonicalize(a), canonicalize(b)
    comps = [c for c in dict.fromkeys([*ia.components(), *ib.components()])]
    if opt.components:
        comps = [c for c in comps if c in opt.components]
    partial: list[tuple[_Partial, list[Evidence]]] = []
    notes: list[str] = []
    for comp in comps:
        if comp not in ia.components() or comp not in ib.components():
            side = "A" if comp in ia.components() else "B"
            notes.append(
                f"statistics: no {comp} component in {'B' if side == 'A' else 'A'} to align "
                f"{side}'s with (the located evidence compares it with every component)"
            )
            continue
        partial.append(_component(comp, ia, a, ib, b, opt, rng))
    adj = holm([c.result.p_raw for c, _ in partial])
    comps_out: list[ComponentResult] = []
    evidence: list[Evidence] = []
    for (c, ev), p in zip(partial, adj, strict=True):
        final = _finalise(c, p, opt)
        comps_out.append(final)
        evidence.extend(ev)
    excl_a = _excluded(ia, a)
    excl_b = _excluded(ib, b)
    flags = {"a": _norms_all_one(ia, a), "b": _norms_all_one(ib, b)}
    for side, fl in flags.items():
        for comp in fl:
            notes.append(
                f"model {side}: every {comp} norm gain is exactly 1.0 (untrained norms, or gains "
                "folded away as a residual-rotation trick would do)"
            )
    notes.append(
        "declared evidence (config architecture, tokenizer) is reported separately and is not weight derivation"
    )
    loc = locate(a, b, opt.locate)
    comps_a = _structure(a, ia, loc.numel_a)
    comps_b = _structure(b, ib, loc.numel_b)
    stats = {c.name: c for c in comps_out}
    by_kind = source_by_kind(comps_a, loc.numel_a)
    per_b = []
    for sc in comps_b:
        if opt.components and sc.kind not in opt.components:
            continue
        if not any(t in loc.numel_b for t in sc.tensors):
            notes.append(f"B's {sc.name} holds only excluded tensors (fixed buffers or too small)")
            continue
        per_b.append(
            decide_component(
                sc,
                located(sc, comps_a, loc),
                stats.get(sc.kind),
                quantised=loc.quantised_a or loc.quantised_b,
                min_located=opt.min_found,
                comparable=any(
                    len(b.infos()[t].shape) >= 2 and t in loc.numel_b for t in sc.tensors
                ),
                source_for_kind=by_kind,
            )
        )
    verdict = most_serious([c.verdict for c in per_b])
    pb, pa = sum(loc.numel_b.values()), sum(loc.numel_a.values())
    fb, fa = sum(loc.found_b.values()), sum(loc.found_a.values())
    if verdict == "identical" and pa and fa < 0.999 * pa:
        # every component of B is a copy, but part of A is missing from B: a cut
        verdict = "derived"
        notes.append(f"B holds {fa / pa:.1%} of A's compared parameters: a subset of A")
    lead = sorted(
        (c for c in per_b if c.verdict in ("identical", "derived")), key=lambda c: -c.parameters
    )
    derivation = lead[0].derivation if lead and verdict in ("identical", "derived") else "null"
    if (
        derivation == "copy"
        and verdict == "derived"
        and all(c.verdict == "identical" for c in per_b)
    ):
        derivation = "subset"
    a_label = model_label(a.meta.path)
    return CompareResult(
        verdict,
        derivation,
        tuple(per_b),
        tuple(evidence),
        flags,
        {
            "a": _merge_excluded(excl_a, loc.excluded_a),
            "b": _merge_excluded(excl_b, loc.excluded_b),
        },
        tuple(notes),
        summary=summary_sentence(per_b, a_label, pb, fb),
        found=_found_json(loc, pa, pb, fa, fb),
        tensor_map=tuple(m.to_json() for m in loc.matches),
        components_a=tuple(
            {
                "name": c.name,
                "kind": c.kind,
                "parameters": sum(loc.numel_a.get(t, 0) for t in c.tensors),
                "tensors": list(c.tensors),
            }
            for c in comps_a
        ),
        statistics=tuple(comps_out),
    )


GENERIC_FILES = ("model", "pytorch_model", "weights", "model_quantized", "model_int8")


def model_label(path: str) -> str:
    """A readable name for a checkpoint: its file stem, or its folder for generic file names."""
    p = Path(path)
    if p.stem in GENERIC_FILES and p.parent.name:
        return p.parent.name
    return p.stem if p.suffix else (p.name or "A")


def _structure(src: TensorSource, index: CanonicalIndex, numel: dict[str, int]) -> list[Component]:
    kinds = {ct.source_name: ct.key.component for ct in index.tensors.values()}
    infos = src.infos()
    return group_components(list(infos), numel, kinds, {n: len(i.shape) for n, i in infos.items()})


def _merge_excluded(
    old: list[tuple[str, str]], new: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    seen = {n for n, _ in old}
    return [*old, *((n, r) for n, r in new if n not in seen)]


def _found_json(loc: LocateResult, pa: int, pb: int, fa: float, fb: float) -> dict[str, object]:
    return {
        "b_in_a": fb / pb if pb else 0.0,
        "a_in_b": fa / pa if pa else 0.0,
        "parameters_a": pa,
        "parameters_b": pb,
        "located_b": int(fb),
        "located_a": int(fa),
        "exact_b": int(sum(loc.exact_b.values())),
        "tensors_compared_a": len(loc.numel_a),
        "tensors_compared_b": len(loc.numel_b),
        "tensors_excluded_a": len(loc.excluded_a),
        "tensors_excluded_b": len(loc.excluded_b),
        "settled_by": dict(loc.tiers),
    }


def _excluded(index: CanonicalIndex, src: TensorSource) -> list[tuple[str, str]]:
    out = list(index.excluded)
    infos = src.infos()
    for name in index.unmapped:
        info = infos[name]
        if info.numel <= 4_000_000:
            why = closed_form(np.asarray(src.read(name)))
            if why is not None:
                out.append((name, why))
    for ct in index.tensors.values():
        if ct.key.role in ("pos_embed",) and infos[ct.source_name].numel <= 4_000_000:
            why = closed_form(read_canonical(src, ct))
            if why is not None:
                out.append((ct.source_name, why))
    return out


def _norms_all_one(index: CanonicalIndex, src: TensorSource) -> list[str]:
    out = []
    for comp in index.components():
        keys = [
            k for k in index.tensors if k.component == comp and k.role in ("attn_norm", "mlp_norm")
        ]
        if keys and all(np.all(read_canonical(src, index.tensors[k]) == 1.0) for k in keys):
            out.append(comp)
    return out


def _component(
    comp: str,
    ia: CanonicalIndex,
    sa: TensorSource,
    ib: CanonicalIndex,
    sb: TensorSource,
    opt: CompareOptions,
    rng: np.random.Generator,
) -> tuple[_Partial, list[Evidence]]:
    ev: list[Evidence] = []
    notes: list[str] = []
    d_a = ia.residual_dim(comp) or 0
    d_b = ib.residual_dim(comp) or 0
    anc = anchors(ia, sa, ib, sb, comp, max_rows=opt.anchor_rows, rng=rng)
    determined = anchors_determine(anc, d_a, d_b)
    anchor_p = 1.0
    anchors_agree = False
    if anc.a.shape[0] >= 8 and anc.a.shape[1] == d_a and anc.b.shape[1] == d_b:
        # the test runs on at most 1024 anchors (observed and null alike): cheap, same n
        ta, tb = anc.a[:1024], anc.b[:1024]
        perms = [rng.permutation(tb.shape[0]) for _ in range(opt.anchor_permutations)]
        fits = procrustes_fits(ta, tb, [None, *perms])
        ns = summarize(fits[0], fits[1:])
        counts = (
            ns.observed >= opt.anchor_min_fit and ns.observed - ns.mean >= opt.anchor_min_effect
        )
        anchors_agree = ns.z > 5 and ns.observed - ns.mean >= 0.2
        anchor_p = ns.p_param if counts else 1.0
        ev.append(
            Evidence(
                comp,
                "anchor_procrustes_fit",
                ns.observed,
                ns.p_param,
                bool(counts),
                ns,
                {
                    "anchors": anc.how,
                    "n_anchors": int(anc.a.shape[0]),
                    "determined": determined,
                    "basis": "procrustes" if anchors_agree or d_a != d_b else "identity",
                    "vocab_a": anc.vocab_a,
                    "vocab_b": anc.vocab_b,
                    "shared_tokens": anc.shared_tokens,
                },
            )
        )
    if not anchors_agree and d_a == d_b:
        # unrelated anchors (e.g. copied blocks behind a new embedding) fix no basis: the
        # blocks are compared as stored; both choices are valid under the null
        q = np.eye(d_a)
        notes.append("anchors unrelated: blocks compared in the stored residual basis")
    else:
        # the d x d Procrustes SVD is only paid for when its rotation is used
        q = residual_map(anc, d_a, d_b)[0].q
        if not determined:
            notes.append(
                f"residual basis fixed by {anc.a.shape[0]} anchors for width {d_a}: "
                "unanchored directions compared in the identity basis"
            )
    tally = ExactTally()
    sk = sketch_pair(ia, sa, ib, sb, comp, q, opt.probes, opt.control_strength, tally, rng)
    _norm_context(sk, comp, ev)
    la, lb = sk.layers_a, sk.layers_b
    s, stat_fn = sk.similarity_fn()
    t_obs = best_match_score(s)
    null_vals: list[float] = []
    cells: list[float] = []
    for _ in range(opt.permutations if s.size else 0):
        t, sp = stat_fn(rng.permutation(sk.kmax))
        null_vals.append(t)
        cells.extend(sp.ravel()[:64].tolist())
    stat = summarize(t_obs, null_vals)
    pos = (
        summarize(best_match_score(sk.control_similarity("positive")), null_vals)
        if s.size
        else None
    )
    neg = (
        summarize(best_match_score(sk.control_similarity("negative")), null_vals)
        if s.size
        else None
    )
    cell_mean = float(np.mean(cells)) if cells else 0.0
    cell_sd = float(np.std(cells)) if cells else 1.0
    pairs = layer_map(s, cell_sd, cell_mean, z_min=opt.layer_z, rel=opt.layer_rel)
    pattern = classify_layer_map(pairs, len(la), len(lb))
    mapped = [(la[i], lb[j]) for i, j in pairs]
    shallow = min(len(la), len(lb))
    short_set = {p[1] for p in pairs} if len(lb) <= len(la) else {p[0] for p in pairs}
    matched_fraction = len(short_set) / shallow if shallow else 0.0
    direct, match_p = direct_checks(
        ia, sa, ib, sb, comp, mapped, q, opt.direct_layers, opt.match_neurons, rng
    )
    if direct.pairs:
        ev.append(
            Evidence(
                comp,
                "mlp_neuron_matching",
                direct.match_agreement,
                match_p,
                True,
                None,
                {
                    "test": "Zhu et al. 2025 style read/write matching agreement",
                    "pairs": direct.pairs,
                },
            )
        )
    ev.append(
        Evidence(
            comp,
            "layer_best_match_cka",
            t_obs,
            stat.p_param,
            True,
            stat,
            {
                "positive_control": None if pos is None else pos.to_json(),
                "negative_control": None if neg is None else neg.to_json(),
                "probes": sk.kmax,
                "roles": sk.roles,
            },
        )
    )
    p_raw = bonferroni_min([stat.p_param, match_p, anchor_p])
    vocab_changed = anc.vocab_a != anc.vocab_b and anc.vocab_a > 0 and anc.vocab_b > 0
    ident = (
        tally.compared > 0
        and tally.identical == tally.compared
        and tally.tensors_compared == len(sk.keys_a) == len(sk.keys_b)
    )
    ev.append(
        Evidence(comp, "bf16_identical_fraction", tally.fraction, 1.0, False, None, tally.to_json())
    )
    comparable = bool(s.size) and bool(sk.roles)
    if not comparable:
        notes.append("no shared matrix roles or layers: the weights cannot be compared")
    effect = stat.observed - stat.mean
    res = ComponentResult(
        comp,
        "inconclusive",
        "null",
        p_raw,
        p_raw,
        stat.z,
        matched_fraction,
        tuple(mapped),
        len(la),
        len(lb),
        tuple(tuple(float(v) for v in row) for row in s),
        tally.fraction,
        effect,
        stat,
        pos,
        neg,
        direct,
        tuple(notes),
    )
    return _Partial(res, ident, pattern, vocab_changed), ev


def _norm_context(sk: ComponentSketch, comp: str, ev: list[Evidence]) -> None:
    """Norm vectors are shown, never counted: raw cosine sits near 1 for ANY two models whose
    gains sit near 1 (the LayerNorm trap); the centred Pearson is the honest number."""
    if not sk.norm_pairs:
        return
    cos = float(np.mean([c for c, _ in sk.norm_pairs]))
    pr = float(np.mean([p for _, p in sk.norm_pairs]))
    ev.append(
        Evidence(
            comp,
            "norm_gain_similarity",
            pr,
            1.0,
            False,
            None,
            {
                "mean_cosine": cos,
                "mean_pearson": pr,
                "pairs": len(sk.norm_pairs),
                "why_not_evidence": "gains sit near 1.0; cosine is high for unrelated models",
            },
        )
    )


def _finalise(part: _Partial, p_adj: float, opt: CompareOptions) -> ComponentResult:
    c = part.result
    notes = c.notes
    pos_ok = c.positive_control is not None and c.positive_control.z > -math.log10(opt.alpha) + 2
    comparable = bool(c.similarity) and c.statistic is not None and c.statistic.n > 1
    verdict = decide(
        p_adj=p_adj,
        effect=c.effect,
        alpha=opt.alpha,
        min_effect=opt.min_effect,
        identical=part.identical,
        comparable=comparable,
        positive_ok=pos_ok,
    )
    deriv = classify_derivation(
        verdict=verdict,
        bf16_fraction=c.bf16_identical_fraction,
        layer_pattern=part.pattern,
        vocab_changed=part.vocab_changed,
        direct=c.direct,
    )
    if not pos_ok and verdict == "inconclusive" and comparable:
        notes = (*notes, "positive control not detected: too little comparable evidence")
    return ComponentResult(
        c.name,
        verdict,
        deriv,
        p_adj,
        c.p_raw,
        c.z,
        c.matched_fraction,
        c.layer_map,
        c.layers_a,
        c.layers_b,
        c.similarity,
        c.bf16_identical_fraction,
        c.effect,
        c.statistic,
        c.positive_control,
        c.negative_control,
        c.direct,
        notes,
    )


__all__ = ["CompareOptions", "CompareResult", "ComponentResult", "NullSummary", "compare"]
