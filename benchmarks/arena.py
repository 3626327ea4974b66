"""Arena benchmark: Bradley–Terry fit speed, and vote throughput through a ``post_vote`` seam.

Part 1 — fit. 1,000,000 simulated battles among 50 models (10% ties). We time

- ours: dedup by ``bincount`` -> 50 x 50 win matrix -> batched Newton (``sovereval.arena.bt``),
  plus 100 bootstrap replicates drawn at once by ``rng.multinomial`` and refitted as one batch;
- the FastChat-style baseline, written here from its description (Chiang et al. 2024; FastChat's
  ``compute_mle_elo``): deduplicate battles with ``np.unique(..., axis=0)``, then weighted
  logistic regression on the Elo scale (``alpha = ln 10 / 400``) with scipy L-BFGS-B, one fit per
  bootstrap replicate (sequential here; FastChat spreads replicates over processes).

Both bootstraps resample the same way (multinomial over unique cells); the table gives the time
of each step, the ratio baseline / ours, and the largest rating difference between the methods.

Part 2 — votes. ``run_vote_load(post_vote, count_stored, ...)`` posts votes from several threads
for a fixed time and reports votes/s, p50/p99 latency, and the accepted count against the
stored count (lost votes). The default target is the real thing: ``sovereval serve`` with two
workers on a temporary PostgreSQL database, votes posted over loopback HTTP to
``POST /api/v1/arena/battles/{id}/vote`` with each panelist's API token, every vote on its own
battle that is already answered (battles are pre-created in bulk, so the run measures vote
acceptance: the duplicate and daily-cap checks, the vote row and its ledger event). The stored
count is read from the database (votes and ``arena.vote`` ledger events), not from the server.
The baseline is the same server with group commit turned off (one transaction per vote,
``SOVEREVAL_WEB_VOTE_BATCH=1``), measured in the same run, and the ceiling is an authenticated
``GET /api/v1/me`` on the same server in the same run (the goal is >= 0.5 of it).
``--vote-db sqlite`` targets a SQLite file.

Run: ``python benchmarks/arena.py [--battles 1000000] [--models 50] [--vote-seconds 60]``
(``--vote-seconds 0`` skips the vote load; PostgreSQL from ``SOVEREVAL_TEST_PG``, default
postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from sovereval.arena.bt import (
    ELO_SCALE,
    bootstrap_bradley_terry,
    deduplicate_battles,
    elo_scale,
    fit_bradley_terry,
    win_matrix,
)
from sovereval.arena.simulate import simulate_votes

# ----------------------------------------------------------------------------------------------
# Part 1: fit time against the FastChat-style baseline
# ----------------------------------------------------------------------------------------------

ALPHA = math.log(10.0) / 400.0


def baseline_dedup(a: np.ndarray, b: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (a, b, outcome) rows and their counts, the way FastChat preprocesses battles."""
    rows, counts = np.unique(np.stack([a, b, np.minimum(o, 2)], axis=1), axis=0, return_counts=True)
    return rows, counts.astype(np.float64)


def _bt_loss_and_grad(
    r: np.ndarray, ia: np.ndarray, ib: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted binary cross-entropy of ``P(A) = sigmoid(alpha (r_a - r_b))``; y = 1, 0 or 0.5."""
    d = ALPHA * (r[ia] - r[ib])
    loss = -float(np.sum(w * (y * log_expit(d) + (1.0 - y) * log_expit(-d))))
    coef = ALPHA * w * (expit(d) - y)
    grad = np.bincount(ia, weights=coef, minlength=r.size) - np.bincount(
        ib, weights=coef, minlength=r.size
    )
    return loss, grad


def baseline_fit(
    rows: np.ndarray, weights: np.ndarray, n: int, x0: np.ndarray | None = None
) -> np.ndarray:
    """L-BFGS-B on the deduplicated battles (gtol 1e-6, at most 100 iterations); centred Elo."""
    ia, ib = rows[:, 0], rows[:, 1]
    y = np.where(rows[:, 2] == 0, 1.0, np.where(rows[:, 2] == 1, 0.0, 0.5))
    res = minimize(
        _bt_loss_and_grad,
        np.zeros(n) if x0 is None else x0,
        args=(ia, ib, y, weights),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    r = np.asarray(res.x, dtype=np.float64)
    out: np.ndarray = r - r.mean() + 1000.0
    return out


def baseline_bootstrap(
    rows: np.ndarray, weights: np.ndarray, n: int, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    total = int(weights.sum())
    draws = rng.multinomial(total, weights / total, size=n_boot)
    return np.array([baseline_fit(rows, d.astype(np.float64), n) for d in draws])


def _best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def fit_benchmark(n_battles: int, n_models: int, n_boot: int, seed: int, repeats: int) -> None:
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, 1.0, n_models)
    v = simulate_votes(strengths, n_battles, rng, tie_prob=0.1)
    a, b, o = v.model_a, v.model_b, v.outcome

    t_dedup, cells_obj = _best_of(lambda: deduplicate_battles(a, b, o, n_models), repeats)
    cells = deduplicate_battles(a, b, o, n_models)
    t_fit, fit_obj = _best_of(lambda: fit_bradley_terry(win_matrix(cells)), repeats)
    fit = fit_bradley_terry(win_matrix(cells))
    t_boot, _ = _best_of(
        lambda: bootstrap_bradley_terry(cells, np.random.default_rng(1), n_boot, init=fit.beta),
        repeats,
    )
    del cells_obj, fit_obj

    t_bdedup, _ = _best_of(lambda: baseline_dedup(a, b, o), 1)
    rows, weights = baseline_dedup(a, b, o)
    t_bfit, _ = _best_of(lambda: baseline_fit(rows, weights, n_models), 1)
    base = baseline_fit(rows, weights, n_models)
    t_bboot, _ = _best_of(
        lambda: baseline_bootstrap(rows, weights, n_models, np.random.default_rng(1), n_boot), 1
    )

    ours = elo_scale(fit.beta)
    max_diff = float(np.abs(ours - base).max())
    ours_total = t_dedup + t_fit + t_boot
    base_total = t_bdedup + t_bfit + t_bboot
    print(
        f"Bradley-Terry: {n_battles:,} battles, {n_models} models, {len(rows)} unique cells, {n_boot} bootstraps"
    )
    print(f"{'step':<28} {'ours (s)':>10} {'baseline (s)':>13} {'ratio':>8}")
    for name, x, y in (
        ("dedup", t_dedup, t_bdedup),
        ("fit", t_fit, t_bfit),
        ("dedup + fit", t_dedup + t_fit, t_bdedup + t_bfit),
        (f"{n_boot} bootstraps", t_boot, t_bboot),
        (f"dedup + fit + {n_boot} boots", ours_total, base_total),
    ):
        print(f"{name:<28} {x:>10.4f} {y:>13.4f} {y / x:>7.1f}x")
    print(
        f"max |rating difference| (Elo scale): {max_diff:.2e}; Newton iterations: {fit.iterations}"
    )
    goal = ours_total < 1.0 and base_total / ours_total >= 3.0
    print(f"goal (< 1 s and >= 3x faster): {'met' if goal else 'NOT met'}")
    print(f"(Elo scale factor 400/ln 10 = {ELO_SCALE:.3f})")


# ----------------------------------------------------------------------------------------------
# Part 2: vote throughput through the real API (group commit vs one transaction per vote)
# ----------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("SOVEREVAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Vote:
    panelist_id: str
    battle_id: str
    outcome: str
    reliability_a: int
    reliability_b: int
    practicality_a: int
    practicality_b: int


def http_seam(url: str, count_url: str) -> tuple[Callable[[Vote], bool], Callable[[], int]]:
    """``post_vote`` and ``count_stored`` over HTTP: POST the vote as JSON (2xx = accepted)."""
    import httpx

    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(timeout=10.0)
        return local.c  # type: ignore[no-any-return]

    def post(v: Vote) -> bool:
        return client().post(url, json=asdict(v)).is_success

    def count() -> int:
        return int(httpx.get(count_url, timeout=30.0).json()["count"])

    return post, count


class PoolExhausted(RuntimeError):
    """Every pre-created battle has been voted on; size the pool for a longer run."""


class ApiVoteTarget:
    """``post_vote`` against the arena API: each thread votes as one panelist at a time, each
    vote on that panelist's next ready battle (the load's own ids only pick outcome and ratings).
    ``count`` reads the database: votes and ``arena.vote`` ledger events of the load round."""

    def __init__(self, base: str, pool: list[tuple[str, list[int]]], db_url: str, round_id: int):
        self.base = base
        self.db_url = db_url
        self.round_id = round_id
        self._pool: queue.Queue[tuple[str, list[int]]] = queue.Queue()
        for item in pool:
            self._pool.put(item)
        self._local = threading.local()

    def _next(self) -> tuple[Any, str, int]:
        import httpx

        loc = self._local
        if not hasattr(loc, "client"):
            loc.client = httpx.Client(timeout=30.0)
            loc.token, loc.battles = "", []
        if not loc.battles:
            try:
                loc.token, battles = self._pool.get_nowait()
            except queue.Empty:
                raise PoolExhausted("no ready battle left") from None
            loc.battles = list(battles)
        return loc.client, loc.token, loc.battles.pop()

    def probe(self, _v: Vote) -> bool:
        """An authenticated read (``GET /api/v1/me``) with a panelist's token: the baseline."""
        import httpx

        loc = self._local
        if not hasattr(loc, "client"):
            loc.client = httpx.Client(timeout=30.0)
            loc.token, loc.battles = "", []
        if not loc.token:
            loc.token, loc.battles = self._pool.get_nowait()
        r = loc.client.get(
            f"{self.base}/api/v1/me", headers={"authorization": f"Bearer {loc.token}"}
        )
        return bool(r.status_code == 200)

    def post_vote(self, v: Vote) -> bool:
        client, token, battle = self._next()
        body = {
            "outcome": v.outcome.lower(),
            "reliability_a": v.reliability_a,
            "practicality_a": v.practicality_a,
            "reliability_b": v.reliability_b,
            "practicality_b": v.practicality_b,
        }
        r = client.post(
            f"{self.base}/api/v1/arena/battles/{battle}/vote",
            json=body,
            headers={"authorization": f"Bearer {token}"},
        )
        return bool(r.status_code == 201)

    def counts(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from sovereval.store import evaluation_models as em
        from sovereval.store.db import Store
        from sovereval.store.models import LedgerEvent

        store = Store(self.db_url, migrate=False)
        try:
            with store.session() as s:
                votes = s.execute(
                    select(func.count(em.Vote.id))
                    .join(em.Battle, em.Battle.id == em.Vote.battle_id)
                    .where(em.Battle.round_id == self.round_id)
                ).scalar_one()
                events = s.execute(
                    select(func.count(LedgerEvent.seq)).where(LedgerEvent.kind == "arena.vote")
                ).scalar_one()
        finally:
            store.dispose()
        return int(votes), int(events)

    def count(self) -> int:
        return self.counts()[0]


def run_vote_load(
    post_vote: Callable[[Vote], bool],
    count_stored: Callable[[], int],
    *,
    duration_s: float,
    workers: int,
    seed: int = 0,
) -> dict[str, float]:
    """Post unique votes from ``workers`` threads for ``duration_s``; report rate, latency, losses."""
    start_count = count_stored()
    deadline = time.perf_counter() + duration_s
    outcomes = ("A", "B", "tie", "both_bad")

    def worker(k: int) -> tuple[int, int, list[float]]:
        rng = np.random.default_rng([seed, k])
        ok = errors = 0
        lat: list[float] = []
        i = 0
        while time.perf_counter() < deadline:
            s = rng.integers(1, 6, 4)
            vote = Vote(
                f"w{k}-p{i % 500}", f"w{k}-b{i}", outcomes[int(rng.integers(4))], *map(int, s)
            )
            t = time.perf_counter()
            try:
                accepted = post_vote(vote)
            except PoolExhausted:
                break
            except Exception:  # the load test counts failures, whatever they are
                accepted = False
                errors += 1
            lat.append(time.perf_counter() - t)
            ok += int(accepted)
            errors += int(not accepted)
            i += 1
        return ok, errors, lat

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(worker, range(workers)))
    elapsed = time.perf_counter() - t0
    accepted = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    stored = count_stored() - start_count
    return {
        "seconds": elapsed,
        "posted": float(len(lat)),
        "accepted": float(accepted),
        "errors": float(errors),
        "stored": float(stored),
        "lost": float(accepted - stored),
        "votes_per_s": accepted / elapsed,
        "p50_ms": 1000 * statistics.median(lat) if lat else math.nan,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else math.nan,
    }


def prepare_vote_round(
    db_url: str, *, panelists: int, per_panelist: int, seed: int = 0
) -> tuple[int, list[tuple[str, list[int]]]]:
    """The sample competition plus an open round whose panelists each have ``per_panelist``
    answered battles (daily cap = ``per_panelist``) and an API token. Returns the round id and
    ``(token, battle ids)`` per panelist. Everything but the battles goes through the services;
    the battles are inserted in bulk (pairs from ``choose_pair``, answers already in)."""
    sys.path.insert(0, str(REPO))  # the sample competition lives with the web tests
    from argon2 import PasswordHasher
    from sqlalchemy import insert, select
    from tests.web.sample import PROGRAMME, TEAMS, build

    from sovereval.arena import service as arena
    from sovereval.arena.pairing import choose_pair
    from sovereval.competition import service as svc
    from sovereval.competition.rules import RuleSet, default_ruleset
    from sovereval.store import evaluation_models as em
    from sovereval.store.db import Store
    from sovereval.web import users_service as users

    # Setup only: panelists authenticate the load with API tokens (SHA-256), not passwords.
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    store = Store(db_url)
    build(store)
    now = datetime.now(UTC)
    rng = np.random.default_rng(seed)
    with store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rules = default_ruleset("vote-load").to_dict()
        rules["arena"] = {"daily_cap": per_panelist}
        row = svc.create_ruleset(s, prog, RuleSet.from_dict(rules), actor="bench", now=now)
        svc.publish_ruleset(s, row, actor="bench", now=now)
        rnd = svc.create_round(
            s,
            prog,
            3,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=30),
            advance_slots=2,
            ruleset=row,
            actor="bench",
            now=now,
        )
        svc.open_round(s, rnd, actor="bench", now=now)
        for team, (model, *_rest) in TEAMS.items():
            if svc.get_consortium(s, prog, team).status in ("eliminated", "disqualified"):
                continue  # disqualified or eliminated in round 1
            svc.register_submission(
                s,
                rnd,
                svc.get_consortium(s, prog, team),
                f"{model}-arena",
                artefact="x",
                components=[],
                endpoint=f"mock:{model.lower()}",
                files=[],
                actor="bench",
                now=now,
            )
        panel, tokens = [], []
        for i in range(panelists):
            code = f"load{i:04d}"
            user = users.create_user(
                s, code, "load-test-password", "panelist", actor="bench", now=now
            )
            panel.append(
                arena.enrol_panelist(
                    s,
                    rnd,
                    code,
                    gender="female" if i % 2 else "male",
                    region="capital" if i % 3 else "other",
                    age_band=("20s", "30s", "40s", "50s", "60+")[i % 5],
                    proficiency=("novice", "intermediate", "advanced")[i % 3],
                    actor="bench",
                    now=now,
                    user_id=user.id,
                )
            )
            tokens.append(users.issue_token(s, user, "vote load", actor="bench", now=now)[1])
        roster = arena.freeze_roster(s, rnd, rng=rng, actor="bench", now=now)
        n = len(roster)
        app, pc = np.zeros(n, dtype=np.int64), np.zeros((n, n), dtype=np.int64)
        rows = []
        for p in panel:
            for _ in range(per_panelist):
                i, j = choose_pair(app, pc, rng)
                app[[i, j]] += 1
                pc[i, j] += 1
                pc[j, i] += 1
                rows.append(
                    {
                        "round_id": rnd.id,
                        "panelist_id": p.id,
                        "model_a": roster[i].id,
                        "model_b": roster[j].id,
                        "prompt": "Summarise the causes of inflation in three sentences.",
                        "prompt_source": "curated",
                        "answer_a": "Demand, costs and expectations.",
                        "answer_b": "Money supply, wages and energy prices.",
                        "status": "ready",
                        "leak": False,
                        "created_at": now,
                    }
                )
        for k in range(0, len(rows), 10_000):
            s.execute(insert(em.Battle), rows[k : k + 10_000])
        round_id = rnd.id
        by_panelist: dict[int, list[int]] = {p.id: [] for p in panel}
        for bid, pid in s.execute(
            select(em.Battle.id, em.Battle.panelist_id).where(em.Battle.round_id == round_id)
        ):
            by_panelist[pid].append(bid)
    store.dispose()
    return round_id, [(tok, by_panelist[p.id]) for tok, p in zip(tokens, panel, strict=True)]


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A temporary PostgreSQL database (dropped afterwards), or None when none is reachable."""
    try:
        import psycopg
    except ImportError:
        print("PostgreSQL skipped: psycopg is not installed (pip install 'sovereval[postgres]')")
        yield None
        return
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {PG_ADMIN} not reachable ({exc})")
        yield None
        return
    name = f"sovereval_votes_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


POOL_PATCH = """\
# Written by benchmarks/arena.py for a what-if run: a larger PostgreSQL connection pool.
import functools, os
import sovereval.store.db as _db
_n = int(os.environ["SOVEREVAL_BENCH_POOL_SIZE"])
_db.make_engine = functools.partial(_db.make_engine, pool_size=_n, max_overflow=_n)
"""


def serve_and_load(
    db_url: str,
    round_id: int,
    pool: list[tuple[str, list[int]]],
    *,
    batch: int,
    seconds: float,
    workers: int,
    server_workers: int,
    db_pool: int | None = None,
    probe_s: float = 0.0,
) -> dict[str, float]:
    """Start ``sovereval serve`` (rate limiting off, vote batch size ``batch``), load it, stop it.

    ``db_pool`` is a what-if: the store's engine (pool of 5 + 10 overflow, closed again on
    return beyond 5) is given a larger pool in every server process through a ``sitecustomize``
    module on the servers' ``PYTHONPATH``; nothing else changes. ``probe_s`` first measures
    ``GET /api/v1/me`` with the panelists' tokens: the ceiling of any authenticated request.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import web_load  # the same server start/stop as the web load benchmark

    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as patch_dir:
        os.environ["SOVEREVAL_WEB_VOTE_BATCH"] = str(batch)
        if db_pool:
            Path(patch_dir, "sitecustomize.py").write_text(POOL_PATCH)
            os.environ["SOVEREVAL_BENCH_POOL_SIZE"] = str(db_pool)
            os.environ["PYTHONPATH"] = os.pathsep.join(
                x for x in (patch_dir, str(REPO / "src"), saved.get("PYTHONPATH", "")) if x
            )
        port = web_load.free_port()
        proc = web_load.start(db_url, port, server_workers)
        try:
            target = ApiVoteTarget(f"http://127.0.0.1:{port}", pool, db_url, round_id)
            if probe_s > 0:  # the same server's ceiling for an authenticated request
                probe = run_vote_load(target.probe, lambda: 0, duration_s=probe_s, workers=workers)
            before = target.counts()
            r = run_vote_load(target.post_vote, target.count, duration_s=seconds, workers=workers)
            after = target.counts()
            r["ledger_events"] = float(after[1] - before[1])
            r["battles_left"] = float(sum(len(b) for _t, b in pool) - (after[0] - before[0]))
            if probe_s > 0:
                r["probe_per_s"] = probe["votes_per_s"]
                r["probe_p50_ms"] = probe["p50_ms"]
                r["probe_p99_ms"] = probe["p99_ms"]
        finally:
            web_load.stop(proc)
            os.environ.clear()
            os.environ.update(saved)
    return r


def vote_benchmark(
    seconds: float,
    baseline_seconds: float,
    workers: int,
    db: str,
    rate_guess: float,
    db_pool: int = 0,
    probe_s: float = 5.0,
) -> None:
    # Enough ready battles for the run at up to ``rate_guess`` votes/s, plus the baseline.
    need = int(rate_guess * (seconds + 2 * baseline_seconds) * 1.3) + 1000
    panelists = 400
    per = need // panelists + 1
    with contextlib.ExitStack() as stack:
        if db == "postgres":
            url = stack.enter_context(postgres_database())
            if url is None:
                return
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite:///{tmp}/votes.db"
        t = time.perf_counter()
        round_id, pool = prepare_vote_round(url, panelists=panelists, per_panelist=per)
        print(
            f"\nVote load on {db}: {panelists} panelists x {per} ready battles prepared in "
            f"{time.perf_counter() - t:.0f} s; 2 server workers, {workers} client threads"
        )
        # Baseline and main run, plus the what-if run with a larger connection pool.
        third = len(pool) // 4
        runs = [
            ("one transaction per vote", 1, baseline_seconds, pool[:third], None),
            ("group commit (batches <= 256)", 256, seconds, pool[third : 3 * third], None),
            (f"group commit, db pool {db_pool}", 256, baseline_seconds, pool[3 * third :], db_pool),
        ]
        rows = []
        for label, batch, secs, part, dbp in runs:
            if secs <= 0 or (dbp is not None and dbp <= 0):
                continue
            r = serve_and_load(
                url,
                round_id,
                part,
                batch=batch,
                seconds=secs,
                workers=workers,
                server_workers=2,
                db_pool=dbp,
                probe_s=probe_s if batch > 1 and dbp is None else 0.0,
            )
            rows.append((label, r))
            if "probe_per_s" in r:
                probe = {
                    "seconds": probe_s,
                    "votes_per_s": r["probe_per_s"],
                    "p50_ms": r["probe_p50_ms"],
                    "p99_ms": r["probe_p99_ms"],
                }
                rows.insert(0, ("auth GET /api/v1/me (ceiling)", probe))
    base = next(r["votes_per_s"] for label, r in rows if label.startswith("one transaction"))
    print(
        f"{'mode':<31}{'s':>5}{'votes/s':>9}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'accepted':>10}{'stored':>8}{'ledger':>8}{'lost':>6}{'refused':>8}"
    )
    for label, r in rows:
        if "accepted" not in r:  # the authenticated-read probe
            print(
                f"{label:<31}{r['seconds']:>5.0f}{r['votes_per_s']:>9.0f}"
                f"{r['votes_per_s'] / base:>6.1f}x{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
            )
            continue
        print(
            f"{label:<31}{r['seconds']:>5.0f}{r['votes_per_s']:>9.0f}{r['votes_per_s'] / base:>6.1f}x"
            f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['accepted']:>10.0f}{r['stored']:>8.0f}"
            f"{r['ledger_events']:>8.0f}{r['lost']:>6.0f}{r['errors']:>8.0f}"
        )
        if r["battles_left"] <= 0:
            print(f"  ({label}: the battle pool ran out; raise --vote-rate-guess)")
    g = next(r for label, r in rows if label.startswith("group commit (batches"))
    ceiling = next((r["votes_per_s"] for label, r in rows if label.startswith("auth GET")), 0.0)
    share = g["votes_per_s"] / ceiling if ceiling else float("nan")
    ok = g["votes_per_s"] >= 300 and g["lost"] == 0 and g["ledger_events"] == g["accepted"]
    ok = ok and share >= 0.5
    print(f"group commit / authenticated-GET ceiling: {share:.2f}")
    print(
        f"goal (>= 300 votes/s and >= 0.5 of the ceiling on {db}, zero lost, ledger = accepted):"
        f" {'met' if ok else 'NOT met'}"
    )
    print("lost = accepted (201 answers) - votes in the database; ledger = arena.vote events")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--battles", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--boot", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for our (fast) steps")
    ap.add_argument("--skip-fit", action="store_true", help="only the vote load")
    ap.add_argument("--vote-seconds", type=float, default=60.0, help="0 skips the vote load test")
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=16, help="client threads posting votes")
    ap.add_argument("--vote-db", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument(
        "--vote-rate-guess", type=float, default=1000.0, help="sizes the pool of ready battles"
    )
    ap.add_argument(
        "--db-pool",
        type=int,
        default=32,
        help="what-if run with this PostgreSQL pool size per server process (0 skips it)",
    )
    args = ap.parse_args()
    if not args.skip_fit:
        fit_benchmark(args.battles, args.models, args.boot, args.seed, args.repeats)
    if args.vote_seconds > 0:
        vote_benchmark(
            args.vote_seconds,
            args.baseline_seconds,
            args.workers,
            args.vote_db,
            args.vote_rate_guess,
            args.db_pool,
        )


if __name__ == "__main__":
    main()
