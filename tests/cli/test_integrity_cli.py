"""The competition CLI as a new user meets it: README's "A round, by hand" copy-pasted, missing
databases, offset-less times, malformed input files, schemas, backdated events."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A shell where ``sovereval`` is this interpreter's module (as an installed script is)."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "sovereval"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sovereval "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREVAL_")}
    return {**env, "PATH": f"{bindir}:{env['PATH']}", "COLUMNS": "200", **extra}


def sv(
    tmp: Path, *args: str, db: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    e = _env(tmp, **env)
    if db is not None:
        e["SOVEREVAL_DB"] = str(db)
    return subprocess.run(
        [sys.executable, "-m", "sovereval", *args],
        capture_output=True, text=True, env=e, cwd=tmp, timeout=300,
    )  # fmt: skip


def one_line_error(r: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    return r.stderr


def readme_round_by_hand() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("```sh\n", text.index("A round, by hand")) + len("```sh\n")
    return text[start : text.index("```\n", start)]


@pytest.fixture(scope="module")
def readme_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """README's "A round, by hand", run once, copy-pasted into bash -e in an empty folder."""
    tmp = tmp_path_factory.mktemp("readme")
    r = subprocess.run(
        ["bash", "-e", "-c", readme_round_by_hand()],
        capture_output=True, text=True, env=_env(tmp), cwd=tmp, timeout=600,
    )  # fmt: skip
    return tmp, r


def test_readme_round_by_hand_runs_as_written(
    readme_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    assert "sovereval schema results --example > results.json" in readme_round_by_hand()
    tmp_path, r = readme_run
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    board = json.loads(r.stdout[r.stdout.index('{\n  "round": 1') :].split("\n}\n")[0] + "\n}")
    (team,) = board["teams"]
    assert team["team"] == "Team A" and team["submission"] == 1
    assert board["advancement"]["decided_by"] == "advancement.eliminate_lowest"
    assert board["stale"] == []
    assert (tmp_path / "report.html").stat().st_size > 1000
    assert "appeal 1 filed" in r.stdout
    audit = sv(tmp_path, "audit", "verify", db=tmp_path / "competition.db")
    assert audit.returncode == 0 and audit.stdout.startswith("OK: ")


@pytest.mark.parametrize(
    "args",
    [("audit", "verify"), ("team", "list", "-p", "P"), ("score", "show", "-p", "P", "-r", "1")],
)
def test_a_missing_database_is_refused_not_created(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "typo" / "demo.db"
    err = one_line_error(sv(tmp_path, *args, db=db))
    assert f"no database at {db}" in err and "db init" in err
    assert not db.exists() and not db.parent.exists()


def test_db_init_and_programme_create_may_create(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b" / "b.db"
    assert sv(tmp_path, "db", "init", db=a).returncode == 0 and a.exists()
    assert sv(tmp_path, "programme", "create", "P", db=b).returncode == 0 and b.exists()
    assert sv(tmp_path, "audit", "verify", db=a).stdout.startswith("OK: 0 events")


@pytest.fixture(scope="module")
def round_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An open round 1 with team A, built once by the CLI and copied per test."""
    tmp = tmp_path_factory.mktemp("round")
    db = tmp / "c.db"
    for cmd in (
        ("programme", "create", "P"),
        ("team", "add", "A", "--lead", "A", "-p", "P"),
        ("rules", "draft", "-p", "P"),
        ("rules", "publish", "1"),
        ("round", "create", "1", "--opens", "2026-01-01T00:00:00Z", "--closes",
         "2030-01-01T00:00:00Z", "--ruleset", "1", "-p", "P"),
        ("round", "open", "1", "-p", "P"),
    ):  # fmt: skip
        r = sv(tmp, *cmd, db=db)
        assert r.returncode == 0, r.stderr
    return db


def _round(tmp: Path, src: Path) -> Path:
    """A private copy of the module's open round."""
    import shutil

    db = tmp / "c.db"
    shutil.copy(src, db)
    return db


def test_time_without_offset_is_refused(tmp_path: Path, round_db: Path) -> None:
    db = _round(tmp_path, round_db)
    err = one_line_error(
        sv(tmp_path, "round", "create", "2", "--opens", "2027-01-01T00:00:00", "--closes",
           "2027-06-01T00:00:00+09:00", "--ruleset", "1", "-p", "P", db=db)
    )  # fmt: skip
    assert "'2027-01-01T00:00:00' has no UTC offset" in err


def test_explicit_clock_refused_on_a_live_database(tmp_path: Path, round_db: Path) -> None:
    db = _round(tmp_path, round_db)  # written by the real clock
    err = one_line_error(
        sv(tmp_path, "--at", "2020-01-01T00:00:00Z", "team", "add", "B", "--lead", "B",
           "-p", "P", db=db)
    )  # fmt: skip
    assert "only on an empty or replay database" in err


def test_replay_database_accepts_forward_times_and_refuses_backdating(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    ok = sv(tmp_path, "--at", "2026-01-02T00:00:00Z", "programme", "create", "P", db=db)
    assert ok.returncode == 0, ok.stderr
    ok = sv(tmp_path, "--at", "2026-01-03T00:00:00Z", "team", "add", "A", "--lead", "A",
            "-p", "P", db=db)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    err = one_line_error(
        sv(tmp_path, "--at", "2026-01-01T00:00:00Z", "team", "add", "B", "--lead", "B",
           "-p", "P", db=db)
    )  # fmt: skip
    assert "before the previous ledger event" in err


def test_audit_verify_reports_times_running_backwards_in_older_data(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sovereval.ledger.chain import make_event
    from sovereval.store.db import Store
    from sovereval.store.models import LedgerEvent, LedgerHead

    db = tmp_path / "old.db"
    st = Store(f"sqlite:///{db}")
    prev = None
    with st.session() as s:  # older data: a valid chain, written before times were checked
        for i, at in enumerate(("2026-01-02", "2026-01-03", "2001-01-01", "2026-01-04")):
            ev = make_event(
                prev, datetime.fromisoformat(at).replace(tzinfo=UTC), "a", "t", {"i": i}
            )
            s.add(LedgerEvent(seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind,
                              payload=ev.payload, prev_hash=ev.prev_hash, hash=ev.hash))  # fmt: skip
            prev = ev
        assert prev is not None
        s.add(LedgerHead(id=1, seq=prev.seq, hash=prev.hash))
    st.dispose()
    r = sv(tmp_path, "audit", "verify", db=db)
    assert r.returncode == 1 and "TIMES NOT MONOTONIC" in r.stdout
    assert "event 3 at 2001-01-01T00:00:00+00:00" in r.stdout
    js = json.loads(sv(tmp_path, "audit", "verify", "--json", db=db).stdout)
    assert [x["seq"] for x in js["times_backwards"]] == [3]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"name": "decoder"}', "expected a JSON list of components entries, got a JSON object"),
        ("[1, 2]", "entry 0: expected a JSON object, got number"),
        ('[{"name": "d", "kind": "brain"}]', "entry 0: field 'kind'"),
        (None, "is a folder"),
    ],
)
def test_bad_components_file_is_one_line(
    tmp_path: Path, round_db: Path, content: str | None, expected: str
) -> None:
    db = _round(tmp_path, round_db)
    comp = tmp_path / "components.json"
    if content is None:
        comp.mkdir()
    else:
        comp.write_text(content)
    (tmp_path / "m.bin").write_bytes(b"w")
    err = one_line_error(
        sv(tmp_path, "submission", "register", "-r", "1", "-p", "P", "--team", "A",
           "--model", "A-1", "--artefact", "m.bin", "--components", str(comp), db=db)
    )  # fmt: skip
    assert expected in err


def test_nonexistent_artefact_is_refused(tmp_path: Path, round_db: Path) -> None:
    db = _round(tmp_path, round_db)
    comp = tmp_path / "c.json"
    comp.write_text("[]")
    err = one_line_error(
        sv(tmp_path, "submission", "register", "-r", "1", "-p", "P", "--team", "A",
           "--model", "A-1", "--artefact", "./nope_dir", "--components", str(comp), db=db)
    )  # fmt: skip
    assert "artefact './nope_dir' does not exist" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"submission": 1}', "expected a JSON list of results entries, got a JSON object"),
        ("[0.5]", "entry 0: expected a JSON object, got number"),
        (
            '[{"submission": 1, "part": "common", "lo": 0, "hi": 1}]',
            "entry 0: field 'value': is required",
        ),
        (
            '[{"submission": 1, "part": "common", "value": 0.5, "lo": 0.4, "hi": 0.6},'
            ' {"submission": 1, "part": "expret", "value": 5, "lo": 4, "hi": 6}]',
            "results.json: entry 1: part 'expret' is not in rule set phase-1 v1 "
            "(government, common, team, expert, user)",
        ),
        (None, "is a folder"),
    ],
)
def test_bad_results_file_is_one_line_naming_the_field(
    tmp_path: Path, round_db: Path, content: str | None, expected: str
) -> None:
    db = _round(tmp_path, round_db)
    comp = tmp_path / "c.json"
    comp.write_text("[]")
    assert sv(tmp_path, "submission", "register", "-r", "1", "-p", "P", "--team", "A",
              "--model", "A-1", "--artefact", "s3://b/a", "--components", str(comp),
              db=db).returncode == 0  # fmt: skip
    res = tmp_path / "results.json"
    if content is None:
        res.mkdir()
    else:
        res.write_text(content)
    err = one_line_error(sv(tmp_path, "score", "import", str(res), db=db))
    assert expected in err
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM results").fetchone() == (0,)  # all or nothing
    con.close()


def test_bad_rule_set_file_names_the_field(tmp_path: Path, round_db: Path) -> None:
    db = _round(tmp_path, round_db)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"parts": []}))
    err = one_line_error(sv(tmp_path, "rules", "draft", str(rules), "-p", "P", db=db))
    assert "rules.json: field 'name': is required; see: sovereval schema ruleset" in err
    d = json.loads((REPO / "src/sovereval/examples/round/ruleset.json").read_text())
    d["parts"][0]["points"] = 60
    rules.write_text(json.dumps(d))
    err = one_line_error(sv(tmp_path, "rules", "draft", str(rules), "-p", "P", db=db))
    assert "parts sum to 150 points" in err


def test_bad_ballots_file_is_one_line(tmp_path: Path, round_db: Path) -> None:
    db = _round(tmp_path, round_db)
    b = tmp_path / "ballots.json"
    b.write_text('[{"application": 1, "approve": "perhaps"}]')
    err = one_line_error(sv(tmp_path, "wildcard", "ballots", str(b), db=db))
    assert "entry 0: field 'approve'" in err


@pytest.mark.parametrize("name", ["ballots", "components", "results", "ruleset"])
def test_schema_prints_json_schema_and_the_example_validates(tmp_path: Path, name: str) -> None:
    from sovereval.competition import formats

    r = sv(tmp_path, "schema", name)
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema["title"] == f"sovereval {name}"
    ex = sv(tmp_path, "schema", name, "--example")
    formats.parse(name, json.loads(ex.stdout), label=name)  # raises on any mismatch
    assert (REPO / "docs" / "formats.md").read_text().count(f"sovereval schema {name}") >= 1


def test_provenance_gate_exit_code_is_documented() -> None:
    from sovereval.cli import provenance

    assert "3 when ``run`` stored a result that fails" in (provenance.__doc__ or "")


def test_score_show_marks_stale_results(
    tmp_path: Path, readme_run: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """A late originality failure shows as STALE in ``score show`` and its JSON."""
    import shutil
    from datetime import UTC, datetime

    from sovereval.competition import service as svc
    from sovereval.store.db import Store

    assert readme_run[1].returncode == 0
    db = tmp_path / "competition.db"
    shutil.copy(readme_run[0] / "competition.db", db)
    st = Store(f"sqlite:///{db}")
    with st.session() as s:
        svc.record_provenance(
            s, svc.get_submission(s, 1), reference="public", verdict="derived",
            gate_failed=True, reason="decoder derived from an undeclared parent", report={},
            actor="evaluator", now=datetime.now(UTC),
        )  # fmt: skip
    st.dispose()
    env = {"SOVEREVAL_PROGRAMME": "My Programme"}
    shown = sv(tmp_path, "score", "show", "-r", "1", db=db, **env)
    assert shown.returncode == 0 and "STALE:" in shown.stdout
    assert "sovereval score compute -r 1 && sovereval score publish -r 1" in shown.stdout
    js = json.loads(sv(tmp_path, "score", "show", "-r", "1", "--json", db=db, **env).stdout)
    assert len(js["stale"]) == 1 and "disqualify" in js["stale"][0]
