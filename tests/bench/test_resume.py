"""Kill-and-resume: a ``bench run`` killed with SIGKILL mid-way and restarted finishes with
exactly the per-item results of an uninterrupted run, without asking the model again for any
item that was already journaled. The fake server counts requests per prompt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovereval.bench.journal import ItemResult, JsonlJournal, latest_by_key, read_journal
from tests.bench.fake_server import FakeServer

REPO = Path(__file__).resolve().parents[2]
N_ITEMS = 30

SUITE = """
name: resume-test
version: "1"
part: common
tasks:
  - name: chat
    loader: jsonl
    path: mc.jsonl
    options: {kind: mc, answer_format: letter}
    kind: mc
    scorer: mc_letter
    prompt: mc_ko_generate
    skill: comprehension
  - name: loglik
    loader: jsonl
    path: mc.jsonl
    options: {kind: mc, answer_format: letter}
    kind: mc
    scorer: mc_loglik
    prompt: mc_ko
    skill: comprehension
"""


def _write_suite(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    with (data / "mc.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(N_ITEMS):
            rec = {
                "id": f"q{i}",
                "prompt": f"문제 {i}: 다음 중 {i % 4 + 1}번째는?",
                "choices": ["가", "나", "다", "라"],
                "answer": "ABCD"[i % 4],
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    spec = root / "suite.yaml"
    spec.write_text(SUITE, encoding="utf-8")
    return spec


def _cmd(spec: Path, root: Path, url: str, journal: Path) -> list[str]:
    return [
        sys.executable, "-m", "sovereval.cli.bench", "run",
        "--suite", str(spec), "--data-root", str(root / "data"), "--model", f"openai-compat:{url}#fake-model",
        "--journal", str(journal), "--no-cache", "--concurrency", "2", "--json",
    ]  # fmt: skip


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SOVEREVAL_DATA_DIR"] = str(root / "home")
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _journal_file(journal_dir: Path) -> Path | None:
    files = list(journal_dir.glob("*.jsonl"))
    return files[0] if files else None


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    spec = _write_suite(tmp_path)
    env = _env(tmp_path)
    with FakeServer(latency_s=0.03) as server:
        # 1. Uninterrupted reference run.
        ref_dir = tmp_path / "ref"
        done = subprocess.run(
            _cmd(spec, tmp_path, server.url, ref_dir),
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        reference = latest_by_key(read_journal(_journal_file(ref_dir)))  # type: ignore[arg-type]
        assert len(reference) == 2 * N_ITEMS
        server.reset()

        # 2. Start a run, SIGKILL it once at least 12 items are journaled.
        run_dir = tmp_path / "run"
        proc = subprocess.Popen(
            _cmd(spec, tmp_path, server.url, run_dir),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                path = _journal_file(run_dir)
                if path is not None and path.exists() and path.read_bytes().count(b"\n") >= 12:
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        path = _journal_file(run_dir)
        assert path is not None
        before = latest_by_key(read_journal(path))
        assert 12 <= len(before) < 2 * N_ITEMS, "the run must be killed mid-way"
        calls_before = dict(server.by_prompt)

        # 3. Restart: it finishes the rest.
        again = subprocess.run(
            _cmd(spec, tmp_path, server.url, run_dir),
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stderr.decode()
        summary = json.loads(again.stdout)
        assert summary["resumed"] == len(before)
        assert summary["finished"] == 2 * N_ITEMS

    after = latest_by_key(read_journal(path))
    assert after.keys() == reference.keys()
    assert all(after[k].same_outcome(reference[k]) for k in reference)
    # The journal has no duplicate: every item was recorded exactly once.
    assert len(read_journal(path)) == 2 * N_ITEMS
    # No finished item was sent again: the restart did not request any journaled prompt.
    restarted = {p: n - calls_before.get(p, 0) for p, n in server.by_prompt.items()}
    journaled_prompts = _server_prompts(tmp_path, before.values())
    assert journaled_prompts <= calls_before.keys()  # each was asked before the kill...
    assert all(restarted.get(p, 0) == 0 for p in journaled_prompts)  # ...and never after


def _server_prompts(root: Path, results: Iterable[ItemResult]) -> set[str]:
    """The exact prompt strings the fake server counted for these items."""
    from sovereval.bench.loaders import load
    from sovereval.bench.prompts import render

    items = {
        it.id: it
        for it in load(
            "jsonl", root / "data" / "mc.jsonl", {"kind": "mc", "answer_format": "letter"}
        )
    }
    out: set[str] = set()
    for r in results:
        item = items[r.item_id]
        if r.method == "generate":  # chat: the fake server keys on "role: content" lines
            out.add("user: " + render(item, "mc_ko_generate").context)
        else:  # completions: context + continuation, one request per choice
            p = render(item, "mc_ko")
            out.update(p.context + c for c in p.continuations)
    return out


def test_torn_tail_is_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    import asyncio

    from sovereval.bench.backends.mock import MockBackend
    from sovereval.bench.engine import Engine
    from tests.bench.test_engine import _task  # a tiny generate task on the mock

    path = tmp_path / "j.jsonl"
    journal = JsonlJournal(path)
    outcome = asyncio.run(Engine(MockBackend("m"), sinks=[journal]).run([_task(3)]))
    journal.close()
    with path.open("ab") as fh:
        fh.write(b'{"task": "t", "item_id": "q3", "trunc')  # what SIGKILL mid-write leaves
    assert [r.item_id for r in read_journal(path)] == ["q0", "q1", "q2"]
    reopened = JsonlJournal(path)  # cuts the torn line off
    reopened.write(outcome.results[:1])
    reopened.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)


def test_corrupt_middle_line_is_refused(tmp_path: Path) -> None:
    from sovereval.errors import HostileInputError

    path = tmp_path / "j.jsonl"
    path.write_bytes(b"{not json}\n{}\n")
    with pytest.raises(HostileInputError, match="line 1"):
        read_journal(path)


_text = st.text(max_size=30)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    response=_text,
    turns=st.lists(_text, max_size=3),
    logprobs=st.lists(_floats, max_size=5),
    score=st.one_of(st.none(), _floats),
    metrics=st.dictionaries(st.text(min_size=1, max_size=8), _floats, max_size=3),
)
def test_item_result_json_round_trip(
    response: str,
    turns: list[str],
    logprobs: list[float],
    score: float | None,
    metrics: dict[str, float],
) -> None:
    r = ItemResult(
        task="t", item_id="i", item_hash="h", prompt_hash="p", model="mock:", method="generate",
        response=response, turn_texts=tuple(turns), choice_logprobs=tuple(logprobs),
        choice_tokens=tuple(range(len(logprobs))), score=score, extracted=None, metrics=metrics,
        latency_s=0.5, prompt_tokens=3, completion_tokens=4, cached=False, finished_at="2026-01-15T09:00:00+00:00",
    )  # fmt: skip
    line = json.dumps(r.to_json(), ensure_ascii=False)
    assert ItemResult.from_json(json.loads(line)) == r


def test_damaged_cache_entry_is_a_miss(tmp_path: Path) -> None:
    from sovereval.bench.cache import ResponseCache, request_key

    cache = ResponseCache(tmp_path)
    key = request_key("m", "generate", {"x": 1})
    cache.put(key, {"text": "ok"})
    assert cache.get(key) == {"text": "ok"}
    (tmp_path / key[:2] / f"{key}.json").write_text("{trunc", encoding="utf-8")
    assert cache.get(key) is None
    assert (cache.hits, cache.misses) == (1, 1)
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd")  # keys are hex digests, never paths
