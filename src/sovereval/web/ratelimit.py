"""In-process token-bucket rate limiting (login per client address, writes per user).

Each key owns a bucket of ``burst`` tokens that refills at ``rate_per_minute / 60`` tokens per
second; a request takes one token or is refused with the time until the next token. The state
lives in this process: with N workers a client can get up to N times the budget, so a
multi-worker or multi-host deployment that needs a hard limit should put the buckets in a
shared store (Redis, or the reverse proxy's own limiter). See design/web.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketSpec:
    rate_per_minute: float
    burst: int


@dataclass(frozen=True)
class RateLimits:
    login: BucketSpec = BucketSpec(rate_per_minute=10, burst=5)
    """Per client address: slows password guessing to a few tries a minute."""
    write: BucketSpec = BucketSpec(rate_per_minute=600, burst=60)
    """Per user: generous for people and scripts, a brake on runaway automation."""
    enabled: bool = True


class TokenBuckets:
    """Thread-safe buckets keyed by string; ``now`` is a monotonic time in seconds."""

    def __init__(self, spec: BucketSpec, *, max_keys: int = 100_000) -> None:
        if spec.rate_per_minute <= 0 or spec.burst < 1:
            raise ValueError("a bucket needs a positive rate and a burst of at least 1")
        self.spec = spec
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        """Take one token; return 0.0 if allowed, else the seconds to wait before retrying."""
        rate = self.spec.rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._state.get(key, (float(self.spec.burst), now))
            tokens = min(float(self.spec.burst), tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                if len(self._state) > self.max_keys:
                    self._prune(now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no information)."""
        full_after = self.spec.burst / (self.spec.rate_per_minute / 60.0)
        stale = [k for k, (_t, last) in self._state.items() if now - last >= full_after]
        for k in stale:
            del self._state[k]
        if len(self._state) > self.max_keys:  # still too many: forget the oldest half
            for k, _v in sorted(self._state.items(), key=lambda kv: kv[1][1])[
                : len(self._state) // 2
            ]:
                del self._state[k]
