"""``sovereval arena simulate`` fills only a round marked a simulation when it was created."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.store.db import Store
from tests.cli.test_cli import run

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _round(store: Store, number: int) -> None:
    with store.session() as s:
        prog = svc.get_programme(s, "P")
        rules = svc.create_ruleset(s, prog, default_ruleset(f"r{number}"), actor="a", now=NOW)
        svc.publish_ruleset(s, rules, actor="a", now=NOW)
        svc.create_round(
            s, prog, number, opens_at=NOW, closes_at=NOW + timedelta(days=30),
            advance_slots=1, ruleset=rules, actor="a", now=NOW,
        )  # fmt: skip


def _fill(store: Store, number: int) -> None:
    with store.session() as s:
        prog = svc.get_programme(s, "P")
        rnd = svc.get_round(s, prog, number)
        svc.open_round(s, rnd, actor="a", now=NOW)
        for team in ("Alpha", "Beta"):
            c = svc.get_consortium(s, prog, team)
            svc.register_submission(
                s, rnd, c, f"{team}-{number}", artefact="x", files=[], components=[],
                endpoint=f"mock:{team.lower()}", actor=team, now=NOW,
            )  # fmt: skip


def test_simulate_refuses_a_real_round_and_fills_a_marked_one(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    # A replay database (created with --at), so the CLI below acts at the test's own times.
    at = ("--at", NOW.isoformat())
    created = run(*at, "programme", "create", "P", db=db)
    assert created.returncode == 0, created.stderr
    store = Store(f"sqlite:///{db}")
    with store.session() as s:
        prog = svc.get_programme(s, "P")
        for team in ("Alpha", "Beta"):
            svc.add_consortium(s, prog, team, team, [], actor="a", now=NOW)
    _round(store, 1)
    _round(store, 2)
    marked = run(*at, "arena", "mark-simulation", "-p", "P", "-r", "2", db=db)
    assert marked.returncode == 0, marked.stderr
    _fill(store, 1)
    _fill(store, 2)
    store.dispose()
    strengths = tmp_path / "s.json"
    strengths.write_text(json.dumps({"Alpha": 0.5, "Beta": -0.5}))
    args = ["--panel-size", "10", "--battles", "12"]
    at = ("--at", (NOW + timedelta(hours=1)).isoformat())
    real = run(*at, "arena", "simulate", str(strengths), "-p", "P", "-r", "1", *args, db=db)
    assert real.returncode == 2 and "not created as a simulation" in real.stderr
    late = run(*at, "arena", "mark-simulation", "-p", "P", "-r", "1", db=db)
    assert late.returncode == 2 and "only a newly created round" in late.stderr
    sim = run(*at, "arena", "simulate", str(strengths), "-p", "P", "-r", "2", *args, db=db)
    assert sim.returncode == 0 and "simulated 12 votes" in sim.stdout, sim.stderr
