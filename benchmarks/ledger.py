"""Ledger and scoring speed.

Prints, measured in this run:
- time per event to append (one transaction per event, and batched in one transaction) on SQLite;
- time to verify 100,000 events from the database and from an exported JSONL file, against the
  baseline of simply hashing the same payload bytes with SHA-256 (the floor any verifier pays);
- time to score 50 teams under the default rules.

Usage: python benchmarks/ledger.py [--events 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sovereval.competition.rules import default_ruleset
from sovereval.competition.scoring import Measurement, TeamInputs, score_round
from sovereval.ledger.chain import from_jsonl, to_jsonl, verify
from sovereval.ledger.log import append, iter_events, verify_store
from sovereval.store.db import Store


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument(
        "--single", type=int, default=2_000, help="events appended one transaction each"
    )
    args = ap.parse_args()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{Path(d) / 'bench.db'}")
        body = {
            "submission": 12,
            "part": "common",
            "value": 0.7345,
            "lo": 0.71,
            "hi": 0.75,
            "source": "bench run 7f3a",
        }
        start = time.perf_counter()
        for i in range(args.single):
            with store.session() as s:
                append(
                    s,
                    actor="evaluator",
                    kind="result.recorded",
                    body={**body, "i": i},
                    at=t0 + timedelta(seconds=i),
                )
        single = (time.perf_counter() - start) / args.single
        rows.append(("append, one transaction per event", single * 1e6, "µs/event"))
        start = time.perf_counter()
        batch = 10_000
        n = args.single
        while n < args.events:
            with store.session() as s:
                for i in range(n, min(n + batch, args.events)):
                    append(
                        s,
                        actor="evaluator",
                        kind="result.recorded",
                        body={**body, "i": i},
                        at=t0 + timedelta(seconds=i),
                    )
            n = min(n + batch, args.events)
        batched = (time.perf_counter() - start) / max(args.events - args.single, 1)
        rows.append(("append, batched 10,000 per transaction", batched * 1e6, "µs/event"))
        with store.session() as s:
            start = time.perf_counter()
            r = verify_store(s)
            vdb = time.perf_counter() - start
            assert r.ok and r.count == args.events
            events = list(iter_events(s))
        buf = io.StringIO()
        for line in to_jsonl(events):
            buf.write(line)
        text = buf.getvalue().splitlines()
        start = time.perf_counter()
        rv = verify(from_jsonl(text))
        vfile = time.perf_counter() - start
        assert rv.ok
        start = time.perf_counter()
        for e in events:
            hashlib.sha256(e.payload.encode()).hexdigest()
        floor = time.perf_counter() - start
        store.dispose()
    rows.append((f"verify {args.events:,} events from SQLite", vdb, "s"))
    rows.append((f"verify {args.events:,} events from exported JSONL", vfile, "s"))
    rows.append(("baseline: SHA-256 of the same payloads only", floor, "s"))
    rng = np.random.default_rng(0)
    teams = []
    for i in range(50):
        v = rng.uniform(0.4, 0.9, size=5)
        teams.append(
            TeamInputs(
                f"team-{i:02d}",
                {
                    "government": Measurement(v[0], v[0] - 0.03, v[0] + 0.03),
                    "common": Measurement(v[1], v[1] - 0.02, v[1] + 0.02),
                    "team": Measurement(v[2], v[2] - 0.03, v[2] + 0.03),
                    "expert": Measurement(1 + 9 * v[3], 9 * v[3], 2 + 9 * v[3]),
                    "user": Measurement(v[4], v[4] - 0.02, v[4] + 0.02),
                },
                targets={"team": Measurement(0.8, 0.78, 0.82)},
            )
        )
    rules = default_ruleset()
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        score_round(rules, teams)
    rows.append(
        ("score 50 teams (default rules)", (time.perf_counter() - start) / reps * 1e3, "ms")
    )
    t = Table("measure", "value", "unit", "ratio to hash floor", title="Ledger and scoring")
    for name, val, unit in rows:
        ratio = f"{val / floor:.1f}x" if unit == "s" and "baseline" not in name else ""
        t.add_row(name, f"{val:,.3f}", unit, ratio)
    Console().print(t)
    print(
        f"per event: verify from DB {vdb / args.events * 1e6:.2f} µs, from JSONL {vfile / args.events * 1e6:.2f} µs"
    )


if __name__ == "__main__":
    main()
