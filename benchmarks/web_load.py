"""Load benchmark of the web app: ``sovereval serve`` with 2 workers on loopback, driven by wrk.

For each database (the embedded SQLite default and PostgreSQL on 127.0.0.1:5432, in a temporary
database) it builds the sample competition through the service layer, starts the server, and
measures requests/s and latency percentiles for:

- ``/healthz``: the baseline, the whole middleware and policy stack around an empty answer;
- the public leaderboard page (HTML) and its JSON twin (published scorecards are cached per issue);
- an authenticated write: ``POST /api/v1/submissions/{id}/results`` with a bearer token, one
  result row upsert and one ledger event per request (rate limiting off for the measurement).

Each endpoint is measured twice: flat out (closed loop, the most requests/s the server gives)
and paced at a fixed offered rate (500 req/s for reads, 100 req/s for the write) with wrk's
``delay()`` hook, which is where the latency goal applies: a saturated server's p99 is queueing
time, not service time. Goals (issue 5): leaderboard >= 500 req/s with p99 < 50 ms on both
databases. The table prints each endpoint's throughput as a ratio of the baseline (``/healthz``)
measured in the same run.

Run from the repository root: ``python benchmarks/web_load.py [--duration 10] [--connections 16]``.
Needs ``wrk`` (apt-get install wrk) and, for PostgreSQL, psycopg and a reachable server
(``SOVEREVAL_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the sample competition lives with the web tests

PG_ADMIN = os.environ.get("SOVEREVAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "benchmark-secret-key-not-for-production"


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def prepare(db_url: str) -> dict[str, object]:
    """Sample competition + an evaluator with an API token + a round-2 submission to write to."""
    from tests.web.sample import PROGRAMME, PUBLISHED, build

    from sovereval.competition import service as svc
    from sovereval.store.db import Store
    from sovereval.web import users_service as users

    store = Store(db_url)
    build(store)
    now = PUBLISHED + timedelta(days=20)
    with store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rnd = svc.get_round(s, prog, 2)
        team = svc.get_consortium(s, prog, "Hanbit AI")
        sub = svc.register_submission(
            s,
            rnd,
            team,
            "Hanbit-70B",
            artefact="s3://x",
            components=[],
            files=[],
            actor="Hanbit AI",
            now=now,
        )
        user = users.create_user(
            s, "loadtest", "load-test-password", "evaluator", actor="bench", now=now
        )
        _row, token = users.issue_token(s, user, "load test", actor="bench", now=now)
        out: dict[str, object] = {"programme": prog.id, "submission": sub.id, "token": token}
    store.dispose()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOVEREVAL_DB": db_url,
        "SOVEREVAL_SECRET_KEY": SECRET,
        "SOVEREVAL_WEB_RATE_LIMIT": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sovereval",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-rate-limit",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
    proc.terminate()
    raise RuntimeError("server did not answer /healthz within 60 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"cannot read latency '{text}'")
    return float(m.group(1)) * _UNITS[m.group(2)]


def pacing(tmp: Path, name: str, rate: float, connections: int, body: str = "") -> Path:
    """A wrk script that spaces each connection's requests so all together offer ``rate``/s."""
    path = tmp / f"{name}.lua"
    path.write_text(body + f"function delay() return {connections * 1000.0 / rate:.3f} end\n")
    return path


def wrk(url: str, *, duration: int, connections: int, script: Path | None = None) -> Measured:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in errs.groups()) if errs else 0
    )
    return Measured(rps, p50, p99, errors)


Row = tuple[str, str, Measured, Measured]
"""(database, endpoint, flat out, paced)"""


def run_backend(name: str, db_url: str, args: argparse.Namespace, tmp: Path) -> list[Row]:
    info = prepare(db_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    c = args.connections
    post = (
        'wrk.method = "POST"\n'
        'wrk.body = \'{"part":"government","value":0.5,"lo":0.45,"hi":0.55,"source":"load"}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {info["token"]}"\n'
    )
    write = tmp / "write.lua"
    write.write_text(post)
    lb = f"/programmes/{info['programme']}/leaderboard"
    reads = pacing(tmp, "r", args.read_rate, c)
    targets = [
        ("baseline /healthz", f"{base}/healthz", None, reads),
        ("leaderboard (HTML)", base + lb, None, reads),
        ("leaderboard (JSON API)", f"{base}/api/v1{lb}", None, reads),
        (
            "write: POST result (bearer)",
            f"{base}/api/v1/submissions/{info['submission']}/results",
            write,
            pacing(tmp, "w", args.write_rate, c, post),
        ),
    ]
    proc = start(db_url, port, args.workers)
    rows: list[Row] = []
    try:
        for label, url, flat, paced in targets:
            wrk(url, duration=2, connections=c, script=flat)  # warm caches and pools
            full = wrk(url, duration=args.duration, connections=c, script=flat)
            slow = wrk(url, duration=args.duration, connections=c, script=paced)
            rows.append((name, label, full, slow))
    finally:
        stop(proc)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="Seconds per measurement.")
    ap.add_argument("--connections", type=int, default=16, help="Concurrent connections.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--read-rate", type=float, default=500.0, help="Paced reads per second.")
    ap.add_argument("--write-rate", type=float, default=100.0, help="Paced writes per second.")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows += run_backend("sqlite", f"sqlite:///{tmp / 'load.db'}", args, tmp)
        if not args.skip_postgres:
            rows += run_postgres(args, tmp)
    print(f"\n{args.workers} workers, {args.connections} connections, {args.duration} s per run")
    print(f"paced runs offer {args.read_rate:.0f} reads/s or {args.write_rate:.0f} writes/s\n")
    head = ("max req/s", "p99@max", "vs base", "paced r/s", "p50 ms", "p99 ms", "errors")
    print(f"{'db':<9}{'endpoint':<30}" + "".join(f"{h:>10}" for h in head))
    base: dict[str, float] = {}
    for db, label, full, slow in rows:
        if label.startswith("baseline"):
            base[db] = full.rps
        ratio = full.rps / base[db] if base.get(db) else float("nan")
        print(
            f"{db:<9}{label:<30}{full.rps:>10.0f}{full.p99_ms:>10.1f}{ratio:>10.2f}"
            f"{slow.rps:>10.0f}{slow.p50_ms:>10.2f}{slow.p99_ms:>10.2f}"
            f"{full.errors + slow.errors:>10}"
        )
    print(f"\ngoal: leaderboard >= 500 req/s, and p99 < 50 ms at {args.read_rate:.0f} req/s")
    for db, label, full, slow in rows:
        if label == "leaderboard (HTML)":
            ok = full.rps >= 500 and slow.p99_ms < 50
            print(
                f"  {db}: {'met' if ok else 'NOT met'} (max {full.rps:.0f} req/s; "
                f"p99 {slow.p99_ms:.1f} ms at {slow.rps:.0f} req/s)"
            )


def run_postgres(args: argparse.Namespace, tmp: Path) -> list[Row]:
    try:
        import psycopg
    except ImportError:
        print("PostgreSQL skipped: psycopg is not installed (pip install 'sovereval[postgres]')")
        return []
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {PG_ADMIN} not reachable ({exc})")
        return []
    name = f"sovereval_load_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return run_backend("postgres", PG_ADMIN.rsplit("/", 1)[0] + "/" + name, args, tmp)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
