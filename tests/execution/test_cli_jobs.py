"""``sovereval jobs``: bench and scan on the local executor, resume, list and status."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from sovereval.cli import jobs
from sovereval.cli.common import Context
from sovereval.errors import InputError
from sovereval.settings import Settings
from tests.execution.test_units import write_model


def _app(data_dir: Path) -> typer.Typer:
    """The jobs group under a root that builds the context like ``sovereval`` does."""
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Context(Settings(db_url="sqlite://", data_dir=data_dir), "test", None)

    root.add_typer(jobs.app, name="jobs")
    return root


def _json(out: str) -> dict:  # type: ignore[type-arg]
    return json.loads(out[out.index("{") :])


def test_bench_job_runs_resumes_and_reports_status(tmp_path: Path) -> None:
    app, runner = _app(tmp_path), CliRunner()
    args = ["jobs", "bench", "--suite", "example", "--model", "mock:a", "--model", "mock:b",
            "--shard-size", "3", "--workers", "2", "--json"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = _json(first.stdout)
    # tasks of 6, 4, 6, 4 items in shards of 3 -> 2 + 2 + 2 + 2 = 8 per model, 2 models
    assert data["executed"] == 16 and data["resumed"] == 0
    assert [r["n"] for r in data["models"]["mock:a"]] == [6, 4, 6, 4]
    again = _json(runner.invoke(app, args).stdout)
    assert again["executed"] == 0 and again["resumed"] == 16 and again["job"] == data["job"]
    listed = _json(runner.invoke(app, ["jobs", "list", "--json"]).stdout)
    assert [(j["job"], j["done"], j["pending"]) for j in listed["jobs"]] == [(data["job"], 16, 0)]
    status = _json(runner.invoke(app, ["jobs", "status", data["job"][:6], "--json"]).stdout)
    assert status["complete"] and status["done"] == 16 and status["failed"] == []
    assert sum(status["workers"].values()) == 16


def test_scan_prints_one_verdict_per_pair(tmp_path: Path) -> None:
    a = write_model(tmp_path / "a.safetensors", 1)
    b = write_model(tmp_path / "b.safetensors", 2)
    result = CliRunner().invoke(
        _app(tmp_path / "data"),
        ["jobs", "scan", "--candidate", f"sub={a}", "--reference", f"same={a}",
         "--reference", f"other={b}", "--option", "probes=24", "--option", "permutations=6",
         "--seed", "3", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = {(p["candidate"], p["reference"]): p["verdict"] for p in _json(result.stdout)["pairs"]}
    assert pairs == {("sub", "same"): "identical", ("sub", "other"): "independent"}


def test_a_malformed_pair_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(tmp_path), ["jobs", "scan", "--candidate", "nopath", "--reference", "r=x"]
    )
    assert isinstance(result.exception, InputError) and "NAME=PATH" in str(result.exception)


def test_status_of_an_unknown_job_is_not_found(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(tmp_path), ["jobs", "status", "feedbeef"])
    assert type(result.exception).__name__ == "NotFoundError"
