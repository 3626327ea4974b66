"""The engine, runner and CLI on the mock and the fake server: bounded concurrency, cache,
sinks, error handling, the ``sovereval bench`` commands, and the Inspect AI path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sovereval.bench.backends import (
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
)
from sovereval.bench.backends.base import Completion
from sovereval.bench.backends.mock import MockBackend
from sovereval.bench.cache import ResponseCache, request_key
from sovereval.bench.catalogue import load_suite, load_suite_items
from sovereval.bench.engine import Engine, EngineTask, Response
from sovereval.bench.items import Item
from sovereval.bench.journal import ItemResult, JsonlJournal, MemorySink, read_journal
from sovereval.bench.prompts import RenderedPrompt
from sovereval.bench.runner import run_suite
from sovereval.bench.scorers import ItemScore
from sovereval.cli.bench import app
from sovereval.errors import BackendError
from tests.bench.fake_server import FakeServer

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _items(n: int) -> tuple[Item, ...]:
    return tuple(
        Item(
            id=f"q{i}",
            kind="mc",
            prompt=f"문제 {i}",
            choices=("가", "나", "다", "라"),
            target="ABCD"[i % 4],
        )
        for i in range(n)
    )


def _letter_score(item: Item, prompt: RenderedPrompt, response: Response) -> ItemScore:
    del prompt
    return ItemScore(float(response.text == item.target), response.text)


def _task(n: int, method: str = "generate") -> EngineTask:
    return EngineTask(
        name="t",
        items=_items(n),
        render=lambda it: RenderedPrompt(it.prompt, (" A", " B", " C", " D")),
        method=method,  # type: ignore[arg-type]
        score=_letter_score,
        params=GenerateParams(max_tokens=4),
    )


class CountingBackend(MockBackend):
    """Mock that records the peak number of calls in flight."""

    def __init__(self, latency_s: float) -> None:
        super().__init__("count", latency_s=latency_s, answer="A")
        self.in_flight = 0
        self.peak = 0

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super().generate(messages, params)
        finally:
            self.in_flight -= 1

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        return await super().loglikelihood(requests)


def test_concurrency_is_bounded_and_results_keep_item_order() -> None:
    backend = CountingBackend(latency_s=0.01)
    outcome = asyncio.run(Engine(backend, concurrency=3, clock=lambda: T0).run([_task(12)]))
    assert backend.peak == 3  # 12 items, 3 workers: never more than 3 calls at once
    assert [r.item_id for r in outcome.results] == [f"q{i}" for i in range(12)]
    # The backend always answers "A": items q0, q4, q8 have target A -> 3 of 12 correct.
    assert sum(r.score or 0 for r in outcome.results) == 3
    assert outcome.results[0].finished_at == T0.isoformat()


def test_loglik_method_records_choice_logprobs_and_best_letter() -> None:
    backend = MockBackend("m")
    outcome = asyncio.run(Engine(backend, concurrency=2).run([_task(4, "loglik")]))
    for r in outcome.results:
        assert len(r.choice_logprobs) == 4
        best = max(range(4), key=lambda i: r.choice_logprobs[i])
        assert r.response == "ABCD"[best]


def test_cache_spares_the_model_on_a_second_run(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    first = MockBackend("m")
    a = asyncio.run(Engine(first, cache=cache).run([_task(5)]))
    second = MockBackend("m")
    b = asyncio.run(Engine(second, cache=cache).run([_task(5)]))
    assert first.calls == 5
    assert second.calls == 0
    assert b.cached == 5 and all(r.cached for r in b.results)
    assert all(x.same_outcome(y) for x, y in zip(a.results, b.results, strict=True))
    # Cache entries are plain JSON named by the request hash.
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 5
    assert json.loads(files[0].read_text(encoding="utf-8"))["key"] == files[0].stem


def test_request_key_depends_on_model_and_params() -> None:
    base = request_key("m", "generate", {"messages": [["user", "x"]], "params": {"t": 0}})
    assert base != request_key("m2", "generate", {"messages": [["user", "x"]], "params": {"t": 0}})
    assert base != request_key("m", "generate", {"messages": [["user", "x"]], "params": {"t": 1}})
    assert base == request_key("m", "generate", {"params": {"t": 0}, "messages": [["user", "x"]]})


def test_sinks_are_written_before_items_are_reported(tmp_path: Path) -> None:
    journal = JsonlJournal(tmp_path / "j.jsonl")
    seen: list[int] = []

    def on_item(result: ItemResult) -> None:
        # Durable first: by the time we hear of an item, the journal already holds it.
        keys = {r.key for r in read_journal(tmp_path / "j.jsonl")}
        seen.append(int(result.key in keys))

    outcome = asyncio.run(
        Engine(
            MockBackend("m", latency_s=0.001), concurrency=4, sinks=[journal], on_item=on_item
        ).run([_task(10)])
    )
    journal.close()
    assert seen == [1] * 10
    assert len(read_journal(tmp_path / "j.jsonl")) == len(outcome.results) == 10


def test_backend_error_stops_run_and_keeps_finished_items(tmp_path: Path) -> None:
    sink = MemorySink()
    outcome = asyncio.run(
        Engine(MockBackend("m", fail_after=5), concurrency=1, sinks=[sink]).run([_task(10)])
    )
    assert isinstance(outcome.error, BackendError)
    assert not outcome.complete
    assert [r.item_id for r in sink.results] == ["q0", "q1", "q2", "q3", "q4"]
    # Resume with a healthy model: the five finished items are not asked again.
    healthy = MockBackend("m")
    done = {r.key: r for r in sink.results}
    again = asyncio.run(Engine(healthy, concurrency=2).run([_task(10)], finished=done))
    assert again.resumed == 5 and again.executed == 5 and healthy.calls == 5
    assert again.complete and len(again.results) == 10


def test_run_suite_resumes_from_journal(tmp_path: Path) -> None:
    suite = load_suite("example")
    first = run_suite(suite, "mock:", journal_dir=tmp_path, concurrency=3)
    assert first.outcome.executed == first.total_items == 20
    again = run_suite(suite, "mock:", journal_dir=tmp_path, concurrency=3)
    assert (again.outcome.resumed, again.outcome.executed) == (20, 0)
    assert [r.key for r in again.outcome.results] == [r.key for r in first.outcome.results]
    writing = next(s for s in again.summaries if s.scorer == "judge_rubric")
    assert writing.n == 4 and writing.n_scored == 0  # judged later, not by the engine


# -- CLI ---------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_run_example_suite_on_mock(tmp_path: Path) -> None:
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    res = runner.invoke(app, ["run", "--suite", "example", "--model", "mock:", "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["finished"] == data["items"] == 20
    assert {t["task"] for t in data["tasks"]} == {
        "example-mc-ko",
        "example-mc-en",
        "example-math",
        "example-writing",
    }
    journal = Path(data["journal"])
    assert journal.parent == tmp_path / "bench" / "journals"
    rep = runner.invoke(app, ["report", str(journal), "--suite", "example", "--json"])
    assert rep.exit_code == 0, rep.output
    rows = {r["task"]: r for r in json.loads(rep.stdout)["tasks"]}
    mc = next(t for t in data["tasks"] if t["task"] == "example-mc-ko")
    assert rows["example-mc-ko"]["mean"] == pytest.approx(mc["mean"])
    lo, hi = rows["example-mc-ko"]["ci95"]
    assert lo <= mc["mean"] <= hi


def test_cli_dead_server_exits_2_with_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    args = [
        "run",
        "--suite",
        "example",
        "--model",
        f"openai-compat:http://127.0.0.1:{port}/v1#m",
        "--retries",
        "0",
        "--no-cache",
    ]
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert f"http://127.0.0.1:{port}/v1" in lines[0] and "could not be reached" in lines[0]


def test_cli_stops_on_failing_server_and_resumes(tmp_path: Path) -> None:
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    with FakeServer(fail_every=7, fail_status=500) as server:
        uri = f"openai-compat:{server.url}#fake-model"
        args = [
            "run",
            "--suite",
            "example",
            "--model",
            uri,
            "--retries",
            "0",
            "--concurrency",
            "1",
            "--no-cache",
            "--json",
        ]
        first = runner.invoke(app, args, env=env)
        assert first.exit_code == 2
        data = json.loads(first.stdout)
        assert 0 < data["finished"] < data["items"]  # request 7 failed; earlier items kept
        server.fail_every = 0
        second = runner.invoke(app, args, env=env)
        assert second.exit_code == 0, second.output
        again = json.loads(second.stdout)
        assert again["resumed"] == data["finished"]
        assert again["finished"] == again["items"]


def test_cli_verify_commitment_detects_tampering(tmp_path: Path) -> None:
    from sovereval.bench.commitment import commit

    suite = load_suite("example")
    items = [it for its in load_suite_items(suite).values() for it in its]
    good = tmp_path / "c.json"
    good.write_text(commit(items, T0).model_dump_json(), encoding="utf-8")
    ok = runner.invoke(app, ["verify-commitment", "--commitment", str(good), "--suite", "example"])
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.stdout
    tampered = [
        Item(
            id=items[0].id,
            kind=items[0].kind,
            prompt=items[0].prompt + "!",
            choices=items[0].choices,
            target=items[0].target,
        ),
        *items[1:],
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(commit(tampered, T0).model_dump_json(), encoding="utf-8")
    res = runner.invoke(
        app, ["verify-commitment", "--commitment", str(bad), "--suite", "example", "--json"]
    )
    assert res.exit_code == 1
    assert json.loads(res.stdout)["altered"] == [items[0].id]


def test_cli_refuses_a_bad_submission_id(tmp_path: Path) -> None:
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    res = runner.invoke(
        app, ["run", "--suite", "example", "--model", "mock:", "--submission", "s1"], env=env
    )
    assert res.exit_code == 2
    assert "must be a submission id" in res.stderr
    args = ["run", "--suite", "example", "--model", "mock:", "--submission", "7"]
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2  # a missing database is refused, not created
    assert "no database at" in res.stderr and not (tmp_path / "sovereval.db").exists()
    from sovereval.cli.main import app as main_app

    assert runner.invoke(main_app, ["db", "init"], env=env).exit_code == 0
    assert (tmp_path / "sovereval.db").exists()  # the store lives in the data directory
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2
    assert "no submission with id 7" in res.stderr
