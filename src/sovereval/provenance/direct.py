"""Direct checks on a few mapped layer pairs: what kind of derivation, and the matching test.

After the residual bases are aligned, a fine-tuned or quantised copy agrees with its parent
position by position (high Pearson, regression slope ~1); a permuted copy does not (Pearson
~0) although its Grams agree; a LoRA update leaves a low-rank difference; a quantised copy
differs by at most half a step of its quantisation grid. The Zhu et al. (2025) style
matching test adds an exact-tail p-value that does not depend on any null bank.
"""

from __future__ import annotations

import math

import numpy as np

from sovereval.provenance.canonical import CanonicalIndex
from sovereval.provenance.formats.base import TensorSource
from sovereval.provenance.reading import LayerTensors, read_layer
from sovereval.provenance.stats import (
    F64,
    low_rank_energy,
    match_test,
    pearson,
    quant_grid,
    regression_split,
    within_half_step,
)
from sovereval.provenance.verdict import DirectChecks

DIRECT_ROLES = ("v", "o", "gate", "up", "down", "proj")
"""q and k are left out: checkpoint converters reorder their rows within heads (rotary)."""


def _align(q: F64, x: np.ndarray) -> F64 | None:
    """B's residual-first matrix in A's basis; components without a residual basis
    (projectors) are compared in their stored basis."""
    if q.shape[1] == 0:
        return np.asarray(x)
    if q.shape[1] == x.shape[0]:
        return np.asarray(q.astype(np.float32) @ x)
    return None


def _rotation_matters(ta: LayerTensors, tb: LayerTensors, q: F64) -> bool:
    """Whether B's blocks agree with A's clearly better in the Procrustes basis than as stored
    (a residual rotation), judged on one writer matrix of the first mapped pair."""
    if np.allclose(q, np.eye(q.shape[0]), atol=1e-6):
        return False
    for role in ("down", "o", "v", "up"):
        xa, xb = ta.mats.get(role), tb.mats.get(role)
        if xa is not None and xb is not None and xa.shape == xb.shape:
            stored = pearson(xa, xb)
            aligned = pearson(xa, q.astype(np.float32) @ xb)
            return aligned > stored + 0.2
    return False


def _spread(pairs: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    if len(pairs) <= n:
        return list(pairs)
    idx = np.linspace(0, len(pairs) - 1, n).round().astype(int)
    return [pairs[i] for i in sorted(set(idx.tolist()))]


def direct_checks(
    ia: CanonicalIndex,
    sa: TensorSource,
    ib: CanonicalIndex,
    sb: TensorSource,
    comp: str,
    mapped: list[tuple[int, int]],
    q: F64,
    n_layers: int,
    n_neurons: int,
    rng: np.random.Generator,
) -> tuple[DirectChecks, float]:
    """(direct checks, matching-test p-value Bonferroni-combined over the checked pairs)."""
    d_a, d_b = q.shape
    rotation = (
        float(np.linalg.norm(q - np.eye(d_a)) / math.sqrt(d_a)) if d_a == d_b and d_a else 0.0
    )
    prs: list[float] = []
    upd: list[float] = []
    slopes: list[float] = []
    lre: list[float] = []
    qerr: list[float] = []
    quarter: list[float] = []
    grids_a: list[str] = []
    grids_b: list[str] = []
    agree: list[float] = []
    rescaled = 0
    log_ps: list[float] = []
    chosen = _spread(mapped, n_layers)

    def pair(i: int, j: int) -> tuple[LayerTensors, LayerTensors]:
        return (
            read_layer(ia, sa, comp, i, roles=DIRECT_ROLES),
            read_layer(ib, sb, comp, j, roles=DIRECT_ROLES),
        )

    # the first pair is read once: for the rotation check and then for its own checks
    first = pair(*chosen[0]) if chosen else None
    if d_a == d_b and first is not None and not _rotation_matters(*first, q):
        q = np.zeros((d_a, 0))  # the stored basis fits as well: compare as stored (saves d^2 m)
        rotation = 0.0
    for n_pair, (i, j) in enumerate(chosen):
        if n_pair == 0 and first is not None:
            (ta, tb), first = first, None
        else:
            ta, tb = pair(i, j)
        aligned = {r: _align(q, x) for r, x in tb.mats.items()}
        for role in DIRECT_ROLES:
            xa, xb = ta.mats.get(role), aligned.get(role)
            if xa is None or xb is None or xa.shape != xb.shape:
                continue
            prs.append(pearson(xa, xb))
            slope, u = regression_split(xa, xb)
            slopes.append(slope)
            upd.append(u)
            rescaled += int(u < 0.01 and abs(slope - 1.0) > 0.01)
            if role in ("down", "o", "proj") and len(lre) < 2 and math.isfinite(u) and u > 1e-3:
                resid = np.asarray(xb, np.float32) - np.float32(slope) * xa  # float32 Gram
                lre.append(low_rank_energy(resid, 16))
            ra, rb = ta.raw.get(role), tb.raw.get(role)
            if ra is not None and rb is not None and ra.shape == rb.shape and len(grids_a) < 4:
                ga, gb = quant_grid(ra), quant_grid(rb)
                grids_a.append(ga)
                grids_b.append(gb)
                if ga != "none" or gb != "none":
                    gridded = rb if gb != "none" else ra
                    g = gb if gb != "none" else ga
                    qerr.append(within_half_step(ra, rb, g, gridded))
                    quarter.append(within_half_step(ra, rb, g, gridded, 0.25))
        read_role = "up" if "up" in ta.mats else "gate"
        ra_, rb_ = ta.mats.get(read_role), aligned.get(read_role)
        wa_, wb_ = ta.mats.get("down"), aligned.get("down")
        if (
            ra_ is not None
            and rb_ is not None
            and wa_ is not None
            and wb_ is not None
            and ra_.shape[0] == rb_.shape[0]
        ):
            mt = match_test(ra_.T, rb_.T, wa_.T, wb_.T, n_sub=n_neurons, rng=rng)
            if mt.n:
                agree.append(mt.agreements / mt.n)
                log_ps.append(mt.log10_p)
        # release this pair before the next is read (peak: one block pair)
        ta = tb = None  # type: ignore[assignment]
        aligned = ra_ = rb_ = wa_ = wb_ = None  # type: ignore[assignment]
    match_p = 1.0
    if log_ps:
        match_p = min(1.0, len(log_ps) * 10.0 ** min(log_ps))
    checks = DirectChecks(
        pearson=float(np.mean(prs)) if prs else 0.0,
        relative_update=float(np.median(upd)) if upd else math.inf,
        slope=float(np.median(slopes)) if slopes else 0.0,
        low_rank_energy=float(np.mean(lre)) if lre else 0.0,
        quant_grid_error=float(np.mean(qerr)) if qerr else 0.0,
        quant_quarter=float(np.mean(quarter)) if quarter else 0.0,
        grid_a=max(set(grids_a), key=grids_a.count) if grids_a else "none",
        grid_b=max(set(grids_b), key=grids_b.count) if grids_b else "none",
        rotation=rotation,
        match_agreement=float(np.mean(agree)) if agree else 0.0,
        pairs=len(chosen),
        roles=len(prs),
        rescaled=rescaled,
    )
    return checks, match_p
