"""Scale benchmark: the same benchmark suite and the same provenance scan on the ``local``
executor and on a two-node Ray cluster started on this machine (``ray start`` twice, loopback).

Workloads (each run once per executor, same units, same results checked):

- bench: a generated multiple-choice suite against the fixed-latency OpenAI-compatible test
  server (``tests/bench/fake_server.py``), sharded into units of ``--shard`` items;
- provenance: every candidate against every reference, synthetic Llama-shaped checkpoints
  written as safetensors, default comparison options;
- overhead: many one-item shards against the zero-latency mock model, so the time is almost all
  scheduling — the per-unit cost of each executor;
- votes: ``arena.service.cast_vote`` through the store, one transaction each (SQLite, and
  PostgreSQL if ``SOVEREVAL_TEST_PG`` or the default local server answers).

The table gives each time, the ratio Ray / local threads (the baseline, measured in the same run)
and the difference per unit on one slot; on the overhead line that difference is the Ray
scheduling overhead per unit. Run from the repository root: ``python benchmarks/scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safetensors.numpy import save_file

from sovereval.bench.catalogue import parse_suite
from sovereval.execution.base import Executor
from sovereval.execution.local import LocalExecutor
from sovereval.execution.plans import run_bench_job, run_provenance_scan
from sovereval.provenance.synthetic import synthetic_llama


def make_suite(folder: Path, n: int) -> tuple[object, Path]:
    rng = np.random.default_rng(0)
    with (folder / "mc.jsonl").open("w") as fh:
        for i in range(n):
            choices = [f"option {i}-{k}" for k in range(4)]
            item = {"id": f"q{i}", "subject": "synthetic", "prompt": f"Question {i}: pick one.",
                    "choices": choices, "answer": "ABCD"[int(rng.integers(4))]}  # fmt: skip
            fh.write(json.dumps(item) + "\n")
    spec = """
name: scale
version: "1"
part: common
tasks:
  - name: scale-mc
    loader: jsonl
    path: mc.jsonl
    options: {kind: mc, answer_format: letter, subject_field: subject}
    kind: mc
    scorer: mc_letter
    prompt: mc_en_generate
    skill: comprehension
"""
    return parse_suite(spec, "scale.yaml"), folder


def make_models(folder: Path, n: int, *, hidden: int, layers: int) -> list[Path]:
    paths = []
    for i in range(n):
        src = synthetic_llama(
            np.random.default_rng(100 + i), layers=layers, hidden=hidden,
            intermediate=hidden * 11 // 4, heads=8, kv_heads=4, vocab=4096,
        )  # fmt: skip
        p = folder / f"model{i}.safetensors"
        save_file({k: np.asarray(src.read(k)) for k in src.infos()}, str(p))
        paths.append(p)
    return paths


def timed(fn: object) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - t, out


def workloads(ex: Executor, ctx: dict[str, object]) -> dict[str, tuple[float, int, object]]:
    out: dict[str, tuple[float, int, object]] = {}
    suite, root, url = ctx["suite"], ctx["root"], ctx["url"]
    t, job = timed(
        lambda: run_bench_job(
            suite, [f"openai-compat:{url}#fake-model"], ex, data_root=root,  # type: ignore[arg-type]
            shard_size=int(ctx["shard"]), concurrency=int(ctx["conc"]),  # type: ignore[call-overload]
            backend_options={"timeout_s": 30.0, "max_retries": 2},
        )
    )  # fmt: skip
    assert job.report.complete, job.report.failed[:1]  # type: ignore[attr-defined]
    items = sum(len(v) for v in job.results.values())  # type: ignore[attr-defined]
    out["bench"] = (t, len(job.report.outcomes), items)  # type: ignore[attr-defined]
    cands, refs = ctx["cands"], ctx["refs"]
    t, scan = timed(lambda: run_provenance_scan(cands, refs, ex, seed=1))  # type: ignore[arg-type]
    assert scan.report.complete, scan.report.failed[:1]  # type: ignore[attr-defined]
    out["provenance"] = (t, len(scan.results), scan.results)  # type: ignore[attr-defined]
    t, tiny = timed(
        lambda: run_bench_job(
            ctx["tiny_suite"], ["mock:o"], ex, data_root=ctx["tiny_root"], shard_size=1
        )  # type: ignore[arg-type]
    )
    out["overhead"] = (t, len(tiny.report.outcomes), None)  # type: ignore[attr-defined]
    return out


def vote_rate(url: str, n: int) -> float:
    from sovereval.arena import service as arena
    from sovereval.competition import service as svc
    from sovereval.competition.rules import default_ruleset
    from sovereval.store.db import Store

    now = datetime(2026, 1, 15, 9, tzinfo=UTC)
    store = Store(url)
    rng = np.random.default_rng(0)
    with store.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(s, p, 1, opens_at=now, closes_at=now + timedelta(days=9),
                             advance_slots=2, ruleset=row, actor="a", now=now)  # fmt: skip
        svc.open_round(s, r, actor="a", now=now)
        for name in ("A", "B", "C"):
            c = svc.add_consortium(s, p, name, name, [], actor="a", now=now)
            svc.register_submission(s, r, c, f"{name}-LM", artefact="x", files=[], components=[],
                                    endpoint=f"openai-compat:http://{name}/v1", actor="a", now=now)  # fmt: skip
        arena.freeze_roster(s, r, rng=rng, actor="a", now=now)
        pan = arena.enrol_panelist(s, r, "p", gender="male", region="other", age_band="40s",
                                   proficiency="advanced", actor="a", now=now)  # fmt: skip
        ids = []
        for i in range(n):
            b = arena.start_battle(s, r, pan, f"q{i}", rng=rng, now=now)
            arena.record_answers(s, b, "x", "y")
            ids.append((b.id, pan.id))
    from sovereval.store import evaluation_models as em

    t = time.perf_counter()
    for bid, pid in ids:
        with store.session() as s:
            b, pa = s.get(em.Battle, bid), s.get(em.Panelist, pid)
            arena.cast_vote(s, b, pa, arena.VoteInput("a", 3, 3, 3, 3), daily_cap=10**6, now=now)  # type: ignore[arg-type]
    rate = n / (time.perf_counter() - t)
    store.dispose()
    return rate


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="svscale-"))
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=480)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--shard", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--references", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--tiny-units", type=int, default=200)
    ap.add_argument("--votes", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.items, args.hidden, args.layers, args.tiny_units, args.votes = 80, 128, 4, 40, 50
    from tests.bench.fake_server import FakeServer

    from sovereval.execution.localcluster import LoopbackCluster
    from sovereval.execution.ray_backend import RayExecutor

    suite, root = make_suite(tmp, args.items)
    tiny_dir = tmp / "tiny"
    tiny_dir.mkdir()
    tiny_suite, tiny_root = make_suite(tiny_dir, args.tiny_units)
    models = make_models(
        tmp, args.candidates + args.references, hidden=args.hidden, layers=args.layers
    )
    cands = {f"cand{i}": p for i, p in enumerate(models[: args.candidates])}
    refs = {f"ref{i}": p for i, p in enumerate(models[args.candidates :])}
    pair_bytes = np.mean(
        [os.path.getsize(c) + os.path.getsize(r) for c in cands.values() for r in refs.values()]
    )
    with FakeServer(latency_s=args.latency) as server:
        ctx: dict[str, object] = {
            "suite": suite, "root": root, "url": server.url, "shard": args.shard,
            "conc": args.concurrency, "cands": cands, "refs": refs,
            "tiny_suite": tiny_suite, "tiny_root": tiny_root,
        }  # fmt: skip
        with LocalExecutor(workers=2) as local:
            base = workloads(local, ctx)
        with LocalExecutor(workers=2, processes=True) as local_procs:
            procs = workloads(local_procs, ctx)
        t_start, cluster = timed(lambda: LoopbackCluster(nodes=2, cpus_per_node=1).start())
        try:
            with RayExecutor(address=cluster.address) as rex:  # type: ignore[attr-defined]
                ray_out = workloads(rex, ctx)
        finally:
            cluster.stop()  # type: ignore[attr-defined]
    same_verdicts = all(
        base["provenance"][2][k]["verdict"] == v["verdict"]  # type: ignore[index]
        for k, v in ray_out["provenance"][2].items()  # type: ignore[union-attr]
    )
    print(f"\nscale benchmark — {os.cpu_count()} CPUs; local = 2 threads (baseline), 2 processes; ray = 2 nodes x 1 CPU "
          f"(cluster start-up {t_start:.1f} s, not counted)")  # fmt: skip
    head = f"{'workload':<44}{'units':>7}{'local s':>10}{'procs s':>10}{'ray s':>10}{'ray/local':>11}{'(ray-local)/unit':>19}"
    print(head)
    print("-" * len(head))
    labels = {
        "bench": f"bench: {args.items} items @ {args.latency * 1000:.0f} ms, shards of {args.shard}",
        "provenance": f"provenance: {len(cands)}x{len(refs)} pairs, {pair_bytes / 1e6:.0f} MB/pair",
        "overhead": f"overhead: {args.tiny_units} one-item shards, mock model",
    }
    for name, label in labels.items():
        tl, units, _ = base[name]
        tr = ray_out[name][0]
        over = (tr - tl) / units * 2  # two slots on each side: per-unit cost on one slot
        tp = procs[name][0]
        print(
            f"{label:<44}{units:>7}{tl:>10.2f}{tp:>10.2f}{tr:>10.2f}{tr / tl:>11.2f}{over * 1000:>16.1f} ms"
        )
    tl, _, items = base["bench"]
    print(f"\nbench items/s: local {items / tl:.1f}, ray {items / ray_out['bench'][0]:.1f}"  # type: ignore[operator]
          f" (ideal with {args.concurrency} in flight per shard and 2 shards at once: "
          f"{2 * args.concurrency / args.latency:.0f}/s)")  # fmt: skip
    gb = pair_bytes / 1e9
    for name, res in (("local threads", base), ("local processes", procs), ("ray", ray_out)):
        per_pair = res["provenance"][0] * 2 / res["provenance"][1]
        print(
            f"provenance {name}: {per_pair:.2f} s per pair on one slot = {per_pair / gb:.1f} s per GB of weights (f32 pair)"
        )
    print(f"provenance verdicts identical across executors: {same_verdicts}")
    sqlite_rate = vote_rate(f"sqlite:///{tmp / 'votes.db'}", args.votes)
    print(f"votes/s through cast_vote (one transaction each): SQLite {sqlite_rate:.0f}", end="")
    try:
        import psycopg

        admin = os.environ.get("SOVEREVAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
        admin = admin.replace("postgresql+psycopg://", "postgresql://")
        name = f"svscale_{os.getpid()}"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = (
                    admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                    + "/"
                    + name
                )
                print(f", PostgreSQL {vote_rate(url, args.votes):.0f}")
            finally:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # PostgreSQL is optional here
        print(f" (PostgreSQL skipped: {type(exc).__name__})")


if __name__ == "__main__":
    main()
