"""On a REAL Ray cluster: a head node and a second node, each started with ``ray start`` on
loopback. The same benchmark suite and provenance scan give the same results as the local
executor, and killing a node mid-job loses nothing and duplicates nothing.

Each test owns its cluster (killing a node spoils it for anyone else) and stops exactly the
processes it started.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sovereval.bench.catalogue import load_suite
from sovereval.bench.journal import ItemResult
from sovereval.execution.job import UnitOutcome
from sovereval.execution.local import LocalExecutor
from sovereval.execution.plans import run_bench_job, run_provenance_scan, shard_items
from sovereval.execution.units import Unit
from tests.execution.test_units import SMALL, close_json, write_model

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from sovereval.execution.localcluster import LoopbackCluster  # noqa: E402
from sovereval.execution.ray_backend import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[LoopbackCluster]:
    with LoopbackCluster(nodes=2, cpus_per_node=1) as c:
        try:
            yield c
        finally:
            if ray.is_initialized():
                ray.shutdown()


def _node(outcome: UnitOutcome) -> str:
    return outcome.worker.rsplit("@", 1)[-1]


def _same(a: list[ItemResult], b: list[ItemResult]) -> bool:
    return len(a) == len(b) and all(x.same_outcome(y) for x, y in zip(a, b, strict=True))


def test_bench_suite_and_provenance_scan_match_the_local_executor(
    cluster: LoopbackCluster, tmp_path: Path
) -> None:
    suite = load_suite("example")
    models = ["mock:m1?latency=0.02", "mock:m2?latency=0.02"]
    a = write_model(tmp_path / "a.safetensors", 1)
    b = write_model(tmp_path / "b.safetensors", 2)
    cands, refs = {"cand": a}, {"copy": a, "other": b}
    with LocalExecutor(workers=2) as local:
        bench_local = run_bench_job(suite, models, local, shard_size=2)
        scan_local = run_provenance_scan(cands, refs, local, seed=5, options=SMALL)
    with RayExecutor(address=cluster.address) as rex:
        assert rex.describe()["nodes"] == 2
        bench_ray = run_bench_job(suite, models, rex, shard_size=2, jobs_dir=tmp_path / "jobs")
        scan_ray = run_provenance_scan(cands, refs, rex, seed=5, options=SMALL)
    # tasks of 6, 4, 6, 4 items in shards of 2 -> 3 + 2 + 3 + 2 = 10 shards per model, 2 models
    assert len(bench_ray.report.outcomes) == 20 and bench_ray.report.complete
    for m in bench_local.results:
        assert _same(bench_ray.results[m], bench_local.results[m])
    assert len({_node(o) for o in bench_ray.report.outcomes}) == 2  # both nodes did work
    assert scan_ray.results.keys() == scan_local.results.keys()
    for pair, res in scan_ray.results.items():
        assert close_json(res, scan_local.results[pair])  # same verdicts, statistics to 1e-9
    assert scan_ray.results[("cand", "copy")]["verdict"] == "identical"
    assert scan_ray.results[("cand", "other")]["verdict"] == "independent"


def test_killing_a_node_mid_job_loses_nothing_and_duplicates_nothing(
    cluster: LoopbackCluster, tmp_path: Path
) -> None:
    suite = load_suite("example")
    model = "mock:k?latency=0.15"
    with LocalExecutor(workers=2) as local:
        expected = run_bench_job(suite, [model], local, shard_size=1, concurrency=1).results
    delivered: list[str] = []
    killed: dict[str, object] = {}
    after_kill: list[str] = []

    with RayExecutor(address=cluster.address, max_retries=3) as rex:
        driver_node = ray.get_runtime_context().get_node_id()

        def on_result(_unit: Unit, outcome: UnitOutcome) -> None:
            delivered.append(outcome.key)
            node = _node(outcome)
            if killed:
                after_kill.append(node)
            elif node != driver_node:
                # the other node just finished a unit and is leasing the next: kill it now
                killed["node"] = node
                killed["pids"] = cluster.kill_node(node)

        jobs = tmp_path / "jobs"
        from sovereval.execution.job import run_job
        from sovereval.execution.plans import plan_bench

        shards = plan_bench(suite, [model], shard_size=1, concurrency=1)
        report = run_job(shards, rex, journal_dir=jobs, on_result=on_result)
    # 6 + 4 + 6 + 4 items, one item per shard = 20 units
    assert killed, "the second node never ran a unit; the kill did not happen"
    assert report.complete and len(report.outcomes) == 20
    assert sorted(delivered) == sorted(s.key for s in shards)  # each unit delivered exactly once
    assert after_kill and killed["node"] not in after_kill  # the rest ran on the surviving node
    lines = [json.loads(x) for x in report.journal.read_text().splitlines()[1:]]  # type: ignore[union-attr]
    done = [x["key"] for x in lines if x["type"] == "unit"]
    assert len(done) == len(set(done)) == 20  # no duplicate in the journal
    got = [r for o in report.outcomes for r in shard_items(o)]
    assert _same(got, expected[got[0].model])  # identical to the undisturbed local run
