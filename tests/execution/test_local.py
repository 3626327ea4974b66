"""The local executor and the job runner: retries, lost workers, resume without duplicates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sovereval.errors import ConflictError, InputError
from sovereval.execution import executor_for, open_executor, registered_executors, run_job
from sovereval.execution.job import JobReport, UnitOutcome
from sovereval.execution.journal import JobJournal, read_state
from sovereval.execution.local import LocalExecutor
from sovereval.execution.units import Unit
from tests.execution._units import ScriptedUnit


def _units(n: int, tmp: Path, behaviour: str = "ok") -> list[ScriptedUnit]:
    return [ScriptedUnit(i, behaviour, str(tmp)) for i in range(n)]


def _unit_lines(path: Path) -> list[str]:
    return [
        json.loads(line)["key"]
        for line in path.read_text().splitlines()
        if json.loads(line).get("type") == "unit"
    ]


def test_registry_names_both_engines_and_refuses_unknown() -> None:
    assert registered_executors() == ["local", "ray"]
    with pytest.raises(InputError, match="choose one of: local, ray"):
        open_executor("spark")


def test_runs_every_unit_and_reports_in_unit_order(tmp_path: Path) -> None:
    units = _units(7, tmp_path)
    with LocalExecutor(workers=3) as ex:
        report = run_job(units, ex)
    # squares of 0..6 in the order given, whatever order the pool finished them in
    assert [o.result["square"] for o in report.outcomes] == [0, 1, 4, 9, 16, 25, 36]
    assert report.complete and report.executed == 7 and report.resumed == 0


def test_repeated_units_run_once(tmp_path: Path) -> None:
    units = _units(3, tmp_path) * 2  # the same three units planned twice
    calls: list[str] = []
    with LocalExecutor(workers=2) as ex:
        report = run_job(units, ex, on_result=lambda u, o: calls.append(o.key))
    assert len(report.outcomes) == 3 and sorted(calls) == sorted({u.key for u in units})


def test_a_model_server_failure_is_retried_at_one_level_only(tmp_path: Path) -> None:
    # The backend retries its own requests; the executor does not retry the BackendError it
    # gives up with (no 5 x 4 nesting): one attempt, reported, and a re-run of the job retries.
    units = [ScriptedUnit(5, "flaky:1", str(tmp_path))]
    with LocalExecutor(workers=1, max_retries=3) as ex:
        first = run_job(units, ex, journal_dir=tmp_path / "jobs")
        assert first.outcomes == [] and first.failed[0].attempts == 1
        assert "BackendError" in str(first.failed[0].error)
        again = run_job(units, ex, journal_dir=tmp_path / "jobs")
    assert again.outcomes[0].result["square"] == 25 and again.outcomes[0].attempts == 1


def test_a_bad_unit_fails_once_and_the_others_finish(tmp_path: Path) -> None:
    units = [*_units(4, tmp_path), ScriptedUnit(99, "bad", str(tmp_path))]
    with LocalExecutor(workers=2, max_retries=3) as ex:
        report = run_job(units, ex, journal_dir=tmp_path / "jobs")
    assert [o.result["n"] for o in report.outcomes] == [0, 1, 2, 3]
    assert len(report.failed) == 1 and report.failed[0].attempts == 1  # not worth a retry
    state = read_state(report.journal)  # type: ignore[arg-type]
    assert len(state.done) == 4 and list(state.failed) == [units[-1].key]


def test_a_dead_worker_process_is_replaced_and_its_unit_resubmitted(tmp_path: Path) -> None:
    units = [*_units(3, tmp_path), ScriptedUnit(7, "crash", str(tmp_path))]
    with LocalExecutor(workers=2, processes=True, max_retries=2) as ex:
        report = run_job(units, ex)
        lost = ex.lost
    assert report.complete
    assert sorted(o.result["n"] for o in report.outcomes) == [0, 1, 2, 7]
    assert lost >= 1  # the crashed attempt (and any unit sharing the broken pool)
    crashed = next(o for o in report.outcomes if o.result["n"] == 7)
    assert crashed.attempts == 2


class _Stop(Exception):
    pass


def test_resume_runs_only_unfinished_units_and_never_duplicates(tmp_path: Path) -> None:
    units = _units(10, tmp_path)
    jobs = tmp_path / "jobs"
    seen: list[int] = []

    def stop_after_four(_u: Unit, o: UnitOutcome) -> None:
        seen.append(o.result["n"])
        if len(seen) == 4:
            raise _Stop  # the driver dies after 4 units are journaled

    with LocalExecutor(workers=2) as ex, pytest.raises(_Stop):
        run_job(units, ex, journal_dir=jobs, on_result=stop_after_four)
    again: list[int] = []
    with LocalExecutor(workers=2) as ex:
        report: JobReport = run_job(
            units, ex, journal_dir=jobs, on_result=lambda u, o: again.append(o.result["n"])
        )
    assert report.resumed == 4 and report.executed == 6  # 10 - 4
    assert sorted(again) == sorted(set(range(10)) - set(seen))  # none re-run, none skipped
    assert [o.result["n"] for o in report.outcomes] == list(range(10))
    lines = _unit_lines(report.journal)  # type: ignore[arg-type]
    assert len(lines) == len(set(lines)) == 10  # one journal line per unit


def test_replay_hands_journaled_units_to_the_caller_again(tmp_path: Path) -> None:
    units = _units(3, tmp_path)
    with LocalExecutor(workers=1) as ex:
        run_job(units, ex, journal_dir=tmp_path / "jobs")
        got: list[tuple[int, bool]] = []
        run_job(
            units, ex, journal_dir=tmp_path / "jobs", replay=True,
            on_result=lambda u, o: got.append((o.result["n"], o.resumed)),
        )  # fmt: skip
    assert sorted(got) == [(0, True), (1, True), (2, True)]


def test_a_running_job_cannot_be_started_twice(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    with (
        JobJournal(path, kind="k", keys=["a"]),
        pytest.raises(ConflictError, match="already running"),
    ):
        JobJournal(path, kind="k", keys=["a"])


def test_a_journal_of_another_job_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    with JobJournal(path, kind="k", keys=["a"]):
        pass
    with pytest.raises(ConflictError, match="belongs to job"):
        JobJournal(path, kind="k", keys=["b"])


def test_a_torn_last_line_is_cut_and_a_key_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    with JobJournal(path, kind="k", keys=["a", "b"]) as j:
        assert j.record_done("a", kind="k", result=1, attempts=1, worker="w", elapsed_s=0.1)
        assert not j.record_done("a", kind="k", result=2, attempts=1, worker="w", elapsed_s=0.1)
    with path.open("ab") as fh:
        fh.write(b'{"type": "unit", "key": "b", "res')  # a crash mid-write
    with JobJournal(path, kind="k", keys=["a", "b"]) as j:
        assert set(j.done) == {"a"} and j.done["a"]["result"] == 1  # first record wins
        j.record_done("b", kind="k", result=3, attempts=1, worker="w", elapsed_s=0.1)
    state = read_state(path)
    assert state.complete and {k: r["result"] for k, r in state.done.items()} == {"a": 1, "b": 3}


def test_executor_for_reads_the_settings(tmp_path: Path) -> None:
    from sovereval.settings import Settings

    ex = executor_for(settings=Settings(db_url="sqlite://", data_dir=tmp_path), workers=2)
    cores = os.cpu_count() or 1
    assert ex.describe() == {
        "executor": "local", "parallelism": 2, "mode": "threads",
        "blas_threads": max(1, cores // 2),  # the cores shared among 2 workers
    }  # fmt: skip
    ex.close()
