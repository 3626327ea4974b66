"""Locate B's values in A, blind to names: the exact (and near-exact) evidence.

For every tensor of B this finds where its values occur in A, whatever either side calls
them, in three tiers, cheapest first. Each tier runs only on what the previous ones left.

1. **Tensor digests.** CRC-32 of the stored bytes (confirmed byte for byte), and BLAKE2b of the bf16 bit patterns (round to
   nearest even, the cast every framework uses) in stored and transposed orientation. Equal
   digests settle a tensor: ``copy`` (same bytes), ``cast`` (same values at bf16, e.g. an
   fp32 -> bf16 re-save) or ``transposed``. Identical files are settled here at hashing speed.
2. **Row keys.** Every row of every matrix, in both orientations (rows of ``W`` and rows of
   ``W^T``), gets an exact key: its bf16 values, as integers, dotted with two fixed vectors of
   random integers below 2^20. The products and sums stay below 2^53, so the float64 BLAS
   result is exact whatever the summation order -- equal rows give equal keys on any machine.
   A hash join of B's keys against A's finds rows copied one by one: fused QKV or gate/up
   (rows of three tensors in one), splits and tensor-parallel shards along either axis,
   transposition, pruned or extended vocabularies, kept or repeated layers.
3. **Near matches.** What is still unlocated is compared with A's tensors of the same (or
   transposed) shape by the Pearson correlation of aligned rows (64 sampled rows), and --
   for reordered rows (neuron or head permutations, llama.cpp's rotary row order) -- by each
   sampled row's best correlation with any row of the candidate, estimated from 32-dimensional
   random projections of centred, unit rows (Johnson & Lindenstrauss 1984; the estimate of a
   correlation ``rho`` has s.d. ~ ``(1 - rho^2) / sqrt(32)``). A row counts as located when
   the correlation is at least ``near`` (0.9). Quantised exports (int8 with scales, GGUF Q4/Q5/
   Q8 and K-quants after dequantisation; row correlation >= 0.99) and updates of up to ~40% of
   a row's norm land here; independent rows correlate at ``N(0, 1/L)`` and the best of a few
   thousand projected candidates stays below ~0.7.

Fixed buffers (constant, ``arange``, sinusoidal tables, too small to mean anything) are
excluded before any tier and listed with the reason, so they never count as found.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sovereval.provenance.formats.base import DictSource, TensorSource
from sovereval.provenance.reading import closed_form

F32 = npt.NDArray[np.float32]
QUANTISED_PREFIXES = ("Q", "IQ", "INT", "UINT", "I8", "U8", "TQ")


@dataclass(frozen=True)
class LocateOptions:
    min_numel: int = 64
    """Tensors with fewer values are excluded (a bias of 16 values proves nothing)."""
    min_row: int = 32
    """Shortest row that gets a row key or a projection."""
    sample_rows: int = 64
    sig_dim: int = 32
    near: float = 0.9
    """Row correlation at which a row counts as located in tier 3."""
    set_candidates: int = 4
    """Same-shape tensors of A (closest in sorted row norms) given the reordered-rows check."""
    set_rows: int = 16
    """Sampled rows whose best correlation with any row of a candidate is estimated (the
    reordered-rows check costs ``set_rows x rows x sig_dim`` per candidate)."""
    closed_form_max: int = 4_000_000


@dataclass(frozen=True)
class TensorMatch:
    b: str
    a: str
    how: str
    """copy | cast | transposed | rows | columns | rows-permuted | columns-permuted | near |
    near-rows (see the module docstring)."""
    fraction: float
    """Share of B's tensor located in this A tensor."""
    rho: float = 1.0
    """Mean correlation of the located rows (1.0 for exact tiers)."""

    def to_json(self) -> dict[str, object]:
        return {
            "b": self.b,
            "a": self.a,
            "how": self.how,
            "fraction": round(self.fraction, 6),
            "rho": round(self.rho, 6),
        }


@dataclass(frozen=True)
class LocateResult:
    matches: tuple[TensorMatch, ...]
    numel_a: dict[str, int]
    """Compared tensors of A -> values."""
    numel_b: dict[str, int]
    found_b: dict[str, float]
    """B tensor -> values located in A (exact or near)."""
    exact_b: dict[str, float]
    """B tensor -> values located exactly (equal at bf16)."""
    found_a: dict[str, float]
    """A tensor -> values of it located in B."""
    excluded_a: tuple[tuple[str, str], ...]
    excluded_b: tuple[tuple[str, str], ...]
    quantised_a: bool
    quantised_b: bool
    tiers: dict[str, int] = field(default_factory=dict)
    """B tensors settled by each tier (digest / rows / near)."""


@dataclass
class _Orient:
    length: int
    n: int
    keys: npt.NDArray[np.uint64] | None = None
    sample_idx: npt.NDArray[np.intp] | None = None
    sample: F32 | None = None
    """Centred unit rows at ``sample_idx``."""
    sig: F32 | None = None
    """Unit projections of every centred row (A side) or of the sampled rows (B side)."""
    profile: F32 | None = None
    """Sorted row norms over their mean: unchanged by a permutation of the rows, nearly
    unchanged by a fine-tune; picks the few candidates worth the reordered-rows check."""


@dataclass
class _Sketch:
    name: str
    shape: tuple[int, int]
    numel: int
    dtype: str
    bf16: str
    """Digest of the bf16 values in stored orientation."""
    bf16_t: str | None
    """The same of the transpose."""
    orients: dict[str, _Orient] = field(default_factory=dict)


_KEY_SEED = 0x5EED_0F_0A11
_MAX_COEF = 1 << 20


@lru_cache(maxsize=64)
def _coefs(length: int) -> npt.NDArray[np.float64]:
    """Two fixed vectors of random integers for rows of ``length`` (same on both sides)."""
    g = np.random.default_rng([_KEY_SEED, length])
    return g.integers(1, _MAX_COEF, size=(length, 2)).astype(np.float64)


@lru_cache(maxsize=64)
def _proj(length: int, k: int) -> F32:
    """Fixed Gaussian projection with zero-sum columns (so it ignores a row's mean)."""
    g = np.random.default_rng([_KEY_SEED + 1, length, k])
    p = g.standard_normal((length, k)).astype(np.float32)
    p -= p.mean(axis=0, keepdims=True)
    return p


def _sample_idx(n: int, k: int) -> npt.NDArray[np.intp]:
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.intp))


def _unit_rows(x: F32) -> F32:
    c = x - x.mean(axis=1, keepdims=True)
    nrm = np.linalg.norm(c, axis=1, keepdims=True)
    return np.asarray(c / np.where(nrm > 0, nrm, 1.0), dtype=np.float32)


def _unit(s: F32) -> F32:
    nrm = np.linalg.norm(s, axis=1, keepdims=True)
    return np.asarray(s / np.where(nrm > 0, nrm, 1.0), dtype=np.float32)


def _digest(keys: npt.NDArray[np.uint64], shape: tuple[int, ...]) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(tuple(shape)).encode())
    h.update(keys.tobytes())
    return h.hexdigest()


def _bf16_bits(x: F32) -> npt.NDArray[np.uint16]:
    """bf16 bit patterns (round to nearest even) of a finite float32 array."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (b >> np.uint32(16)) & np.uint32(1)
    r += np.uint32(0x7FFF)
    r += b
    r >>= np.uint32(16)
    return r.astype(np.uint16)


class _Side:
    def __init__(self, src: TensorSource, opt: LocateOptions) -> None:
        self.src = src
        self.opt = opt
        self.sketches: dict[str, _Sketch] = {}
        self.excluded: list[tuple[str, str]] = []
        self.quantised = False

    def raw_pass(self) -> None:
        """SHA-256 of every tensor's stored bytes (tier 0: re-saved copies at hashing speed)."""
        self.raw: dict[str, str] = {}
        for name, info in self.src.infos().items():
            if info.dtype.upper().startswith(QUANTISED_PREFIXES):
                self.quantised = True
            if info.numel < self.opt.min_numel:
                self.excluded.append((name, f"too small ({info.numel} values)"))
                continue
            # CRC-32 keys the join (with dtype, shape and size); a match is confirmed byte
            # for byte before it counts, so a collision can never make a false copy
            raw = self.src.read_raw(name)
            self.raw[name] = f"{info.dtype}{info.shape}{len(raw)}:{zlib.crc32(raw):08x}"

    def exclusion(self, name: str, x: F32 | None = None) -> str | None:
        info = self.src.infos()[name]
        if x is None and info.numel > self.opt.closed_form_max:
            return None
        x = np.asarray(self.src.read(name), dtype=np.float32) if x is None else x
        if not np.isfinite(x).all():
            return "non-finite values"
        if x.size <= self.opt.closed_form_max:
            why = closed_form(x)
            if why is not None:
                return f"fixed buffer: {why}"
        return None

    def key_pass(self, names: list[str], full_sig: bool) -> None:
        """One read of each tensor: exclusions, exact row keys in both orientations, tensor
        digests made from those keys, and what the near tier needs (sampled unit rows, and
        projections of every row on the reference side, of the sampled rows on the other),
        so that no tensor is read or dequantised twice."""
        opt = self.opt
        for name in names:
            x = np.asarray(self.src.read(name), dtype=np.float32)
            why = self.exclusion(name, x)
            if why is not None:
                self.excluded.append((name, why))
                continue
            x2 = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)
            v = _bf16_bits(x2).astype(np.float64)
            shape = (int(x2.shape[0]), int(x2.shape[1]))
            row_keys = _keys(v, 0)
            dtype = self.src.infos()[name].dtype
            sk = _Sketch(name, shape, int(x2.size), dtype, _digest(row_keys, shape), None)
            if shape[1] >= opt.min_row:
                sk.orients["rows"] = _Orient(shape[1], shape[0], row_keys)
            if shape[0] > 1:
                col_keys = _keys(v, 1)
                sk.bf16_t = _digest(col_keys, shape[::-1])
                if shape[0] >= opt.min_row:
                    sk.orients["columns"] = _Orient(shape[0], shape[1], col_keys)
            del v
            if shape[0] > 1:  # vectors are never near-tier evidence
                for label, o in sk.orients.items():
                    xo = x2 if label == "rows" else x2.T
                    o.sample_idx = _sample_idx(o.n, opt.sample_rows)
                    o.sample = _unit_rows(np.ascontiguousarray(xo[o.sample_idx]))
                    rows = xo if full_sig else xo[o.sample_idx]
                    o.sig = _unit(np.asarray(rows @ _proj(o.length, opt.sig_dim), dtype=np.float32))
                    nrm = np.sort(np.linalg.norm(xo, axis=1)).astype(np.float32)
                    o.profile = nrm / max(float(nrm.mean()), 1e-30)
            self.sketches[name] = sk


def _keys(v: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.uint64]:
    """Exact keys of the rows (``axis=0``) or columns (``axis=1``) of bf16 values held as
    float64 integers (see tier 2 in the module docstring)."""
    h = v @ _coefs(v.shape[1]) if axis == 0 else (_coefs(v.shape[0]).T @ v).T
    k = h.astype(np.uint64)
    length = np.uint64(v.shape[1] if axis == 0 else v.shape[0])
    out: npt.NDArray[np.uint64] = (k[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ k[:, 1]
    with np.errstate(over="ignore"):
        out ^= length * np.uint64(0xC2B2AE3D27D4EB4F)
    return out


def locate(a: TensorSource, b: TensorSource, options: LocateOptions | None = None) -> LocateResult:
    """Where B's values occur in A (and A's in B), per tensor; reads each tensor at most
    twice and never holds a model in memory."""
    opt = options or LocateOptions()
    sa, sb = _Side(a, opt), _Side(b, opt)
    if _is_file_source(a) and _is_file_source(b) and _same_bytes(a.meta.path, b.meta.path):
        return _identical_files(a, b, opt)
    sa.raw_pass()
    sb.raw_pass()
    found_b: dict[str, float] = defaultdict(float)
    exact_b: dict[str, float] = defaultdict(float)
    found_a: dict[str, float] = defaultdict(float)
    matches: list[TensorMatch] = []
    tiers = {"digest": 0, "rows": 0, "near": 0}
    numel_a: dict[str, int] = {}
    numel_b: dict[str, int] = {}
    by_raw: dict[str, str] = {}
    for n, d in sa.raw.items():
        by_raw.setdefault(d, n)
    rest: list[str] = []
    for n, d in sb.raw.items():
        if d not in by_raw:
            rest.append(n)
            continue
        an = by_raw[d]
        if a.read_raw(an) != b.read_raw(n):
            rest.append(n)  # same CRC, other bytes
            continue
        why = sb.exclusion(n)
        if why is not None:
            sb.excluded.append((n, why))
            sa.excluded.append((an, why))
            continue
        k = b.infos()[n].numel
        numel_b[n] = k
        numel_a[an] = a.infos()[an].numel
        matches.append(TensorMatch(n, an, "copy", 1.0))
        found_b[n] = exact_b[n] = found_a[an] = float(k)
        tiers["digest"] += 1
    excluded_a = {n for n, _ in sa.excluded}
    if rest:
        sa.key_pass([n for n in sa.raw if n not in excluded_a], full_sig=True)
        sb.key_pass(rest, full_sig=False)
    else:  # every tensor of B settled by its bytes: A's others still count, unless buffers
        for n in sa.raw:
            if n in numel_a or n in excluded_a:
                continue
            why = sa.exclusion(n)
            if why is None:
                numel_a[n] = a.infos()[n].numel
            else:
                sa.excluded.append((n, why))
    numel_a.update({n: s.numel for n, s in sa.sketches.items()})
    numel_b.update({n: s.numel for n, s in sb.sketches.items()})

    by_bf: dict[str, str] = {}
    by_bft: dict[str, str] = {}
    for n, s in sa.sketches.items():
        by_bf.setdefault(s.bf16, n)
        if s.bf16_t is not None:
            by_bft.setdefault(s.bf16_t, n)
    open_b: list[str] = []
    for n, s in sb.sketches.items():
        if s.bf16 in by_bf:
            an, how = by_bf[s.bf16], "cast"
        elif s.bf16 in by_bft:
            an, how = by_bft[s.bf16], "transposed"
        else:
            open_b.append(n)
            continue
        matches.append(TensorMatch(n, an, how, 1.0))
        found_b[n] = exact_b[n] = s.numel
        found_a[an] = max(found_a[an], float(s.numel))
        tiers["digest"] += 1

    if open_b:
        still = _row_tier(sa, sb, open_b, matches, found_b, exact_b, found_a, tiers)
        if still:
            _near_tier(sa, sb, still, matches, found_b, found_a, tiers, opt)

    for an in list(found_a):
        found_a[an] = min(found_a[an], float(numel_a[an]))
    return LocateResult(
        tuple(matches),
        numel_a,
        numel_b,
        dict(found_b),
        dict(exact_b),
        dict(found_a),
        tuple(sa.excluded),
        tuple(sb.excluded),
        sa.quantised,
        sb.quantised,
        tiers,
    )


CHUNK = 1 << 24


def _is_file_source(src: TensorSource) -> bool:
    """A reader over one file on disk (an in-memory source may carry its parent's path)."""
    return not isinstance(src, DictSource) and Path(src.meta.path).is_file()


def _same_bytes(pa: str, pb: str) -> bool:
    """Are two checkpoint files byte-identical? Compared in 16 MiB chunks, so this costs one
    read of each file (and stops at the first difference)."""
    a, b = Path(pa), Path(pb)
    try:
        if not (a.is_file() and b.is_file()) or a.stat().st_size != b.stat().st_size:
            return False
        with a.open("rb") as fa, b.open("rb") as fb:
            ba, bb = bytearray(CHUNK), bytearray(CHUNK)
            while True:
                na, nb = fa.readinto(ba), fb.readinto(bb)
                if na != nb or memoryview(ba)[:na] != memoryview(bb)[:nb]:
                    return False
                if na == 0:
                    return True
    except OSError:
        return False


def _identical_files(a: TensorSource, b: TensorSource, opt: LocateOptions) -> LocateResult:
    """Byte-identical files: every tensor is a copy of the same tensor of A (tier 0)."""
    infos = b.infos()
    keep = {n: i.numel for n, i in infos.items() if i.numel >= opt.min_numel}
    small = tuple((n, f"too small ({i.numel} values)") for n, i in infos.items() if n not in keep)
    quant = any(i.dtype.upper().startswith(QUANTISED_PREFIXES) for i in infos.values())
    return LocateResult(
        tuple(TensorMatch(n, n, "copy", 1.0) for n in keep),
        dict(keep),
        dict(keep),
        {n: float(v) for n, v in keep.items()},
        {n: float(v) for n, v in keep.items()},
        {n: float(v) for n, v in keep.items()},
        small,
        small,
        quant,
        quant,
        {"digest": len(keep), "rows": 0, "near": 0, "identical_files": 1},
    )


def _row_tier(
    sa: _Side,
    sb: _Side,
    open_b: list[str],
    matches: list[TensorMatch],
    found_b: dict[str, float],
    exact_b: dict[str, float],
    found_a: dict[str, float],
    tiers: dict[str, int],
) -> list[str]:
    """Hash join of row keys; returns the B tensors still mostly unlocated."""
    keys, owner, orient_of, row_of = [], [], [], []
    names_a = list(sa.sketches)
    for i, n in enumerate(names_a):
        for label, o in sa.sketches[n].orients.items():
            assert o.keys is not None
            keys.append(o.keys)
            owner.append(np.full(o.n, i, dtype=np.int32))
            orient_of.append(np.full(o.n, 0 if label == "rows" else 1, dtype=np.int8))
            row_of.append(np.arange(o.n, dtype=np.int64))
    if not keys:
        return open_b
    allk = np.concatenate(keys)
    own = np.concatenate(owner)
    ori = np.concatenate(orient_of)
    rix = np.concatenate(row_of)
    order = np.argsort(allk, kind="stable")
    allk, own, ori, rix = allk[order], own[order], ori[order], rix[order]
    hit_pos: list[npt.NDArray[np.intp]] = []
    still = []
    for n in open_b:
        sk = sb.sketches[n]
        best: tuple[float, str, dict[int, int], bool] | None = None
        for label, o in sk.orients.items():
            assert o.keys is not None
            pos = np.minimum(np.searchsorted(allk, o.keys), allk.size - 1)
            ok = allk[pos] == o.keys
            if not ok.any():
                continue
            hp = pos[ok]
            hit_pos.append(hp)
            src, cnt = np.unique(own[hp], return_counts=True)
            located = float(ok.sum()) * o.length
            if best is None or located > best[0]:
                counts = {int(k): int(v) for k, v in zip(src, cnt, strict=True)}
                best = (located, label, counts, _reordered(own[hp], rix[hp]))
        if best is None:
            still.append(n)
            continue
        located, label, counts, reordered = best
        found_b[n] = exact_b[n] = min(located, float(sk.numel))
        length = sk.orients[label].length
        how = f"{label}-permuted" if reordered else label
        for ai, c in sorted(counts.items(), key=lambda kv: -kv[1]):
            matches.append(TensorMatch(n, names_a[ai], how, c * length / sk.numel))
        tiers["rows"] += 1
        if located < 0.5 * sk.numel:
            still.append(n)
    if hit_pos:
        hp = np.unique(np.concatenate(hit_pos))
        pairs, cnt = np.unique(own[hp].astype(np.int64) * 2 + ori[hp], return_counts=True)
        for code, c in zip(pairs.tolist(), cnt.tolist(), strict=True):
            an = names_a[code // 2]
            o = sa.sketches[an].orients["rows" if code % 2 == 0 else "columns"]
            found_a[an] = max(found_a.get(an, 0.0), float(c) * o.length)
    return still


def _reordered(owner: npt.NDArray[np.int32], rows: npt.NDArray[np.int64]) -> bool:
    """Do B's rows come from A's rows out of order (a permutation) rather than in order, with
    or without gaps (a subset, a fusion, a shard)? Reordering within small blocks, as format
    converters do to the rows of each attention head (llama.cpp's rotary layout), is not a
    permutation: a row must move by more than an eighth of its tensor's rows."""
    for src in np.unique(owner):
        r = rows[owner == src]
        if r.size < 8:
            continue
        rank = np.empty(r.size, dtype=np.int64)
        rank[np.argsort(r, kind="stable")] = np.arange(r.size)
        if np.abs(rank - np.arange(r.size)).max() > max(8, r.size // 8):
            return True
    return False


def _near_tier(
    sa: _Side,
    sb: _Side,
    open_b: list[str],
    matches: list[TensorMatch],
    found_b: dict[str, float],
    found_a: dict[str, float],
    tiers: dict[str, int],
    opt: LocateOptions,
) -> None:
    """Correlation of aligned rows, then best-row correlation for reordered rows, against all
    of A's orientations of the same shape at once (one product per B tensor orientation)."""
    groups: dict[tuple[int, int], list[tuple[str, _Orient]]] = defaultdict(list)
    for n, s in sa.sketches.items():
        for o in s.orients.values():
            if o.sample is not None and o.sig is not None:
                groups[(o.length, o.n)].append((n, o))
    stacked: dict[tuple[int, int], tuple[list[str], F32, F32, F32]] = {}
    for n in open_b:
        sk = sb.sketches[n]
        best: tuple[float, float, str, str] | None = None  # (located, rho, a, how)
        for o in sk.orients.values():
            if o.sample is None or o.sig is None:
                continue
            key = (o.length, o.n)
            if key not in groups:
                continue
            if key not in stacked:
                members = groups[key]
                stacked[key] = (
                    [m for m, _ in members],
                    # (sampled row, candidate, length): one batched gemv per B orientation
                    np.ascontiguousarray(
                        np.stack([x.sample for _, x in members if x.sample is not None]).transpose(
                            1, 0, 2
                        )
                    ),
                    np.stack([x.sig for _, x in members if x.sig is not None]),
                    np.stack([x.profile for _, x in members if x.profile is not None]),
                )
            names, samples, sigs, profiles = stacked[key]
            # aligned rows: (candidates, sampled rows) correlations
            r = (samples @ o.sample[:, :, None])[:, :, 0].T
            hit = r >= opt.near
            share = hit.mean(axis=1)
            c = int(np.argmax(share))
            if share[c] >= 0.5:
                loc = float(share[c]) * o.n * o.length
                rho = float(r[c][hit[c]].mean())
                if best is None or loc > best[0]:
                    best = (loc, rho, names[c], "near")
                continue
            # reordered rows: best correlation of a few sampled rows with any row
            few = o.sig[:: max(1, o.sig.shape[0] // opt.set_rows)]
            pick = np.arange(len(names))
            if o.profile is not None and len(names) > opt.set_candidates:
                gap = np.abs(profiles - o.profile[None]).mean(axis=1)
                pick = np.argsort(gap)[: opt.set_candidates]
            sub = sigs[pick]
            top = (sub.reshape(-1, sub.shape[2]) @ few.T).reshape(len(pick), -1, few.shape[0])
            top = top.max(axis=1)
            hit2 = top >= opt.near
            share2 = hit2.mean(axis=1)
            c = int(np.argmax(share2))
            if share2[c] >= 0.5:
                loc = float(share2[c]) * o.n * o.length
                rho = float(top[c][hit2[c]].mean())
                if best is None or loc > best[0]:
                    best = (loc, rho, names[int(pick[c])], "near-rows")
        if best is None:
            continue
        loc, rho, an, how = best
        loc = min(loc, float(sk.numel))
        if loc <= found_b.get(n, 0.0):
            continue
        found_b[n] = loc
        matches.append(TensorMatch(n, an, how, loc / sk.numel, rho))
        found_a[an] = max(found_a.get(an, 0.0), loc)
        tiers["near"] += 1


__all__ = ["LocateOptions", "LocateResult", "TensorMatch", "locate"]
