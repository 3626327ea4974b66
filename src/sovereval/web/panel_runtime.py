"""Per-application arena machinery: the answer runner, the vote writer and the vote rate limit.

Built lazily on first use and hung on ``app.state`` (nothing global), so two apps in one
process never share a writer thread or a bucket. ``close_runtime`` stops the threads (tests,
shutdown). ``SOVEREVAL_WEB_VOTE_BATCH`` caps the votes per group commit (default 256; 1 turns
group commit off, which the load benchmark uses as its baseline).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from sovereval.web.context import WebContext
from sovereval.web.errors import RateLimitedError
from sovereval.web.panel_answers import AnswerRunner
from sovereval.web.ratelimit import BucketSpec, TokenBuckets
from sovereval.web.vote_writer import MAX_BATCH, VoteWriter

VOTE_LIMIT = BucketSpec(rate_per_minute=20, burst=10)
"""Per panelist: reading two answers and rating them takes a person well over three seconds, so
a faster stream of votes is automation. Per worker process, like every bucket (design/web.md)."""

_LOCK = threading.Lock()


@dataclass
class PanelRuntime:
    ctx: WebContext
    answers: AnswerRunner
    votes: VoteWriter
    vote_buckets: TokenBuckets = field(default_factory=lambda: TokenBuckets(VOTE_LIMIT))

    def take_vote_token(self, username: str) -> None:
        """Refuse a vote beyond the panelist's rate (429 with Retry-After)."""
        if not self.ctx.limits.enabled:
            return
        wait = self.vote_buckets.take(f"vote:{username}", time.monotonic())
        if wait > 0:
            raise RateLimitedError(
                f"votes are coming too fast; wait {int(wait) + 1} s and vote again", wait
            )

    def close(self) -> None:
        self.votes.close()
        self.answers.close()


def runtime_of_app(app: FastAPI) -> PanelRuntime:
    rt: PanelRuntime | None = getattr(app.state, "panel_runtime", None)
    if rt is None:
        with _LOCK:
            rt = getattr(app.state, "panel_runtime", None)
            if rt is None:
                ctx: WebContext = app.state.ctx
                batch = int(os.environ.get("SOVEREVAL_WEB_VOTE_BATCH", MAX_BATCH))
                rt = PanelRuntime(ctx, AnswerRunner(ctx), VoteWriter(ctx, max_batch=max(1, batch)))
                app.state.panel_runtime = rt
    return rt


def runtime_of(request: Request) -> PanelRuntime:
    return runtime_of_app(request.app)


def close_runtime(app: FastAPI) -> None:
    rt: PanelRuntime | None = getattr(app.state, "panel_runtime", None)
    if rt is not None:
        rt.close()
        app.state.panel_runtime = None
