"""The CLI end to end: one-line errors with exit 2, JSON output, the demo, audit verify."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def run(
    *args: str, db: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if db is not None:
        env["SOVEREVAL_DB"] = str(db)
    return subprocess.run(
        [sys.executable, "-m", "sovereval", *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=600,
    )


def test_help_explains() -> None:
    r = run("--help")
    assert r.returncode == 0 and "tamper-evident ledger" in r.stdout
    for group in (
        "programme",
        "team",
        "round",
        "rules",
        "submission",
        "score",
        "appeal",
        "wildcard",
        "audit",
        "report",
        "demo",
    ):
        assert group in r.stdout


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    run("programme", "create", "P", db=db, check=True)
    r = run("team", "list", "-p", "nope", db=db)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no programme named 'nope'" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run("rules", "draft", str(bad), "-p", "P", db=db)
    assert r.returncode == 2 and "not valid JSON" in r.stderr


@pytest.mark.slow
def test_demo_then_audit_and_tamper(tmp_path: Path) -> None:
    r = run("demo", "--quick", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    board = {t["team"]: t for t in out["leaderboard"]}
    # The Phase-1 story: one team first in every category, one eliminated on points,
    # one disqualified on originality despite a top-four total, three advance.
    top = board["Hanbit AI"]
    for cat in ("benchmark", "expert", "user"):
        assert top["categories"][cat]["points"] == max(
            t["categories"][cat]["points"] for t in board.values()
        )
    decisions = sorted(t["decision"] for t in board.values())
    assert decisions == ["advance", "advance", "advance", "disqualify", "eliminate"]
    dq = next(t for t in board.values() if t["decision"] == "disqualify")
    by_points = sorted(board.values(), key=lambda t: -t["total"])
    assert by_points.index(dq) < 4 and "originality" in dq["reason"]
    report = Path(out["report"])
    html = report.read_text(encoding="utf-8")
    assert "Rules amended after this round opened" in html and out["ledger_head"] in html
    assert "rejected_late" in html and "Mirae Compute" in html
    db = tmp_path / "demo.db"
    ok = run("audit", "verify", db=db)
    assert ok.returncode == 0 and ok.stdout.startswith("OK")
    # Change one byte of one stored payload: verify must fail and name that event.
    con = sqlite3.connect(db)
    seq, payload = con.execute("SELECT seq, payload FROM ledger_events WHERE seq = 17").fetchone()
    i = payload.index(":") + 2
    con.execute(
        "UPDATE ledger_events SET payload = ? WHERE seq = ?",
        (payload[:i] + ("X" if payload[i] != "X" else "Y") + payload[i + 1 :], seq),
    )
    con.commit()
    con.close()
    bad = run("audit", "verify", db=db)
    assert bad.returncode == 2 and "event 17" in bad.stderr
