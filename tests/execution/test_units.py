"""Units: stable keys, JSON round trips, errors as data, and the same results as a direct run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

import sovereval
from sovereval.bench.catalogue import load_suite
from sovereval.bench.runner import run_suite
from sovereval.execution.local import LocalExecutor
from sovereval.execution.plans import (
    plan_bench,
    plan_provenance,
    run_bench_job,
    run_provenance_scan,
    unit_seed,
)
from sovereval.execution.units import BenchShard, ProvenanceCompare, decode, encode, execute
from sovereval.provenance.compare import CompareOptions, compare
from sovereval.provenance.formats.open import open_source
from sovereval.provenance.synthetic import synthetic_llama

SMALL = {"probes": 24, "permutations": 6, "anchor_permutations": 4}
"""Comparison options small enough for a unit test (a ~64-wide 4-layer model)."""


def close_json(a: object, b: object, rel: float = 1e-9) -> bool:
    """Same JSON structure and values; floats equal to ``rel``. BLAS sums in another order
    with another thread count (the executors cap it per unit), which moves the last bits."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_json(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close_json(x, y, rel) for x, y in zip(a, b, strict=True))
    return a == b


def write_model(path: Path, seed: int) -> Path:
    src = synthetic_llama(np.random.default_rng(seed))
    save_file({n: np.asarray(src.read(n)) for n in src.infos()}, str(path))
    return path


def _shard(**kw: object) -> BenchShard:
    base: dict[str, object] = {
        "suite_json": json.dumps({"name": "s"}), "task": "t", "model_uri": "mock:", "start": 0,
        "stop": 4,
    }  # fmt: skip
    return BenchShard(**(base | kw))  # type: ignore[arg-type]


def test_keys_cover_what_decides_the_result_and_nothing_else() -> None:
    k = _shard().key
    assert _shard(concurrency=1, backend_options=(("timeout_s", 5.0),)).key == k
    assert _shard(stop=5).key != k and _shard(model_uri="mock:b").key != k
    p = ProvenanceCompare("sub-1", "ref-1", "/a/x.safetensors", "/a/y.safetensors", seed=3)
    moved = ProvenanceCompare("sub-1", "ref-1", "/b/x.safetensors", "/b/y.safetensors", seed=3)
    assert moved.key == p.key  # paths say where to read, not what is compared
    assert ProvenanceCompare("sub-1", "ref-2", "/a/x", "/a/y", seed=3).key != p.key


def test_payloads_round_trip_and_carry_the_version() -> None:
    u = _shard(backend_options=(("max_retries", 2),))
    payload = encode(u)
    assert json.loads(payload)["sovereval"] == sovereval.__version__
    assert decode(payload) == u


def test_errors_come_back_as_data() -> None:
    wrong = json.loads(encode(_shard()))
    wrong["sovereval"] = "0.0.0-other"
    reply = json.loads(execute(json.dumps(wrong)))
    assert not reply["ok"] and "install the same version" in reply["error"]["message"]
    tampered = json.loads(encode(_shard()))
    tampered["unit"]["stop"] = 9  # content no longer matches the key
    reply = json.loads(execute(json.dumps(tampered)))
    assert reply["error"]["type"] == "InputError" and not reply["error"]["retryable"]


def test_a_failing_model_server_is_a_retryable_error() -> None:
    suite = load_suite("example")
    shard = plan_bench(suite, ["mock:m?fail_after=0"], shard_size=2)[0]
    reply = json.loads(execute(encode(shard)))
    assert reply["error"]["type"] == "BackendError" and reply["error"]["retryable"]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=40), min_size=4, max_size=4),
    size=st.integers(min_value=1, max_value=17),
)
def test_shards_partition_every_task_exactly(counts: list[int], size: int) -> None:
    suite = load_suite("example")
    fake = {t.name: [None] * n for t, n in zip(suite.tasks, counts, strict=True)}
    shards = plan_bench(suite, ["mock:a", "mock:b"], shard_size=size, items_by_task=fake)
    for model in ("mock:a", "mock:b"):
        for t, n in zip(suite.tasks, counts, strict=True):
            covered = [
                i
                for s in shards
                if s.model_uri == model and s.task == t.name
                for i in range(s.start, s.stop)
            ]
            assert covered == list(range(n))  # each item once, in order
            assert all(s.stop - s.start <= size for s in shards)
    assert len({s.key for s in shards}) == len(shards)


def test_sharded_bench_equals_the_direct_run(tmp_path: Path) -> None:
    suite = load_suite("example")
    direct = run_suite(suite, "mock:m1").outcome.results
    with LocalExecutor(workers=2) as ex:
        job = run_bench_job(
            suite, ["mock:m1"], ex, shard_size=3, jobs_dir=tmp_path / "jobs",
            bench_journal_dir=tmp_path / "bench",
        )  # fmt: skip
    got = job.results["mock:m1"]
    assert len(got) == len(direct) == 20  # the example suite's tasks: 6 + 4 + 6 + 4 items
    assert all(a.same_outcome(b) for a, b in zip(got, direct, strict=True))
    journal = next((tmp_path / "bench").glob("*.jsonl"))
    assert len(journal.read_text().splitlines()) == 20  # the bench journal 'bench report' reads


def test_scan_equals_direct_comparisons_and_finds_the_copy(tmp_path: Path) -> None:
    a = write_model(tmp_path / "a.safetensors", 1)
    b = write_model(tmp_path / "b.safetensors", 2)
    with LocalExecutor(workers=2) as ex:
        scan = run_provenance_scan(
            {"cand": a}, {"copy": a, "other": b}, ex, seed=11, options=SMALL,
            jobs_dir=tmp_path / "jobs",
        )  # fmt: skip
    assert scan.results[("cand", "copy")]["verdict"] == "identical"
    assert scan.results[("cand", "other")]["verdict"] == "independent"
    expected = compare(  # the reference is A, the candidate B
        open_source(b), open_source(a),
        rng=np.random.default_rng(unit_seed(11, "cand", "other")), options=CompareOptions(**SMALL),  # type: ignore[arg-type]
    ).to_json()  # fmt: skip
    assert close_json(scan.results[("cand", "other")], json.loads(json.dumps(expected)))
    assert not close_json({"x": 1.0}, {"x": 1.0 + 1e-6})  # the tolerance is tight


def test_unknown_comparison_options_fail_the_unit(tmp_path: Path) -> None:
    a = write_model(tmp_path / "a.safetensors", 1)
    unit = plan_provenance({"c": a}, {"r": a}, seed=0, options={"probez": 3})[0]
    reply = json.loads(execute(encode(unit)))
    assert "unknown comparison option" in reply["error"]["message"]


def test_a_hostile_file_fails_the_unit_not_the_worker(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 64)
    good = write_model(tmp_path / "a.safetensors", 1)
    unit = plan_provenance({"c": bad}, {"r": good}, seed=0)[0]
    reply = json.loads(execute(encode(unit)))
    assert reply["ok"] is False and reply["error"]["type"] in {"HostileInputError", "InputError"}
    message = reply["error"]["message"]
    assert "bad.safetensors" in message and "\n" not in message  # one line naming the file
