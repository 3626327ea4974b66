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

Part 2 — votes. ``run_vote_load(post_vote, count_stored, ...)`` hammers any ``post_vote(vote)``
callable from several threads for a fixed time and reports votes/s, p50/p99 latency, and the
accepted count against the stored count (lost votes). By default it targets an in-process sink
(the integrity rules only); ``--url`` points it at an HTTP endpoint that accepts the vote as JSON
and ``--count-url`` at one that returns ``{"count": n}``.

Run: ``python benchmarks/arena.py [--battles 1000000] [--models 50] [--vote-seconds 60]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

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
from sovereval.arena.integrity import VoteGuard
from sovereval.arena.simulate import simulate_votes
from sovereval.errors import SovereValError

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
# Part 2: vote throughput against a post_vote seam
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    panelist_id: str
    battle_id: str
    outcome: str
    reliability_a: int
    reliability_b: int
    practicality_a: int
    practicality_b: int


class InProcessSink:
    """Default target: the integrity rules plus an append-only list (no web, no database)."""

    def __init__(self) -> None:
        self._guard = VoteGuard(daily_cap=10**9, tz=UTC)
        self._lock = threading.Lock()
        self._stored: list[Vote] = []

    def post_vote(self, vote: Vote) -> bool:
        with self._lock:
            try:
                self._guard.admit(vote.panelist_id, vote.battle_id, datetime.now(UTC))
            except SovereValError:
                return False
            self._stored.append(vote)
        return True

    def count(self) -> int:
        with self._lock:
            return len(self._stored)


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
            except Exception:  # the load test counts failures, whatever they are
                accepted = False
                errors += 1
            lat.append(time.perf_counter() - t)
            ok += int(accepted)
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


def vote_benchmark(seconds: float, workers: int, url: str | None, count_url: str | None) -> None:
    if url:
        if not count_url:
            raise SystemExit("--count-url is required with --url")
        post, count = http_seam(url, count_url)
        target = url
    else:
        sink = InProcessSink()
        post, count, target = sink.post_vote, sink.count, "in-process sink (integrity rules only)"
    r = run_vote_load(post, count, duration_s=seconds, workers=workers)
    print(f"\nVote throughput: {target}, {workers} threads, {r['seconds']:.1f} s")
    print(
        f"{'votes/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'accepted':>9} {'stored':>8} {'lost':>5} {'errors':>6}"
    )
    print(
        f"{r['votes_per_s']:>10.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} {r['accepted']:>9.0f} "
        f"{r['stored']:>8.0f} {r['lost']:>5.0f} {r['errors']:>6.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--battles", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--boot", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for our (fast) steps")
    ap.add_argument("--vote-seconds", type=float, default=5.0, help="0 skips the vote load test")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--url", default=None, help="POST endpoint for votes (JSON)")
    ap.add_argument("--count-url", default=None, help="GET endpoint returning {'count': n}")
    args = ap.parse_args()
    fit_benchmark(args.battles, args.models, args.boot, args.seed, args.repeats)
    if args.vote_seconds > 0:
        vote_benchmark(args.vote_seconds, args.workers, args.url, args.count_url)


if __name__ == "__main__":
    main()
