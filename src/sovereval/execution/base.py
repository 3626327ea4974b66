"""The executor seam: one interface, implementations registered by name (``local``, ``ray``).

An executor only moves JSON payloads to workers and JSON replies back
(:func:`sovereval.execution.units.execute` runs on the worker). Each failure is retried at one
level only, so attempts never multiply:

- a *lost* unit (the worker process or its node died, the pool broke) is resubmitted here, at
  most ``max_retries`` times;
- a model server's failure is retried inside the backend, per request, where the status code
  and ``Retry-After`` are known (``bench.backends.openai_compat``: capped exponential back-off
  with full jitter); when the backend gives up, its ``BackendError`` reply is final for this run
  (``retryable`` in the reply says that re-running the job may succeed: done units are kept);
- any other error reply is final too, and is reported.
 Journaling, de-duplication and progress
are the job runner's (:mod:`sovereval.execution.job`), not the executor's.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sovereval.errors import InputError


class WorkerLost:
    """Marker reply: the unit's worker died before answering (the unit may be resubmitted)."""

    def __init__(self, why: str) -> None:
        self.why = why


@dataclass(frozen=True)
class Payload:
    key: str
    kind: str
    text: str
    """JSON text from :func:`sovereval.execution.units.encode`."""


@dataclass(frozen=True)
class Completion:
    """The final answer for one payload after retries."""

    key: str
    kind: str
    ok: bool
    result: dict[str, Any] | None
    error_type: str | None
    error: str | None
    attempts: int
    worker: str
    elapsed_s: float
    """Worker-side time of the last attempt."""


Handle = Hashable


class Executor(ABC):
    """Runs payloads somewhere and yields completions as they finish (any order)."""

    name: str = ""

    def __init__(
        self,
        *,
        max_retries: int = 3,
        max_in_flight: int | None = None,
    ) -> None:
        if max_retries < 0:
            raise InputError(f"max_retries must be >= 0, got {max_retries}")
        self.max_retries = max_retries
        self._max_in_flight = max_in_flight
        self.lost = 0
        """Units resubmitted because their worker died (for reports and tests)."""

    # -- what an engine implements -------------------------------------------------------------

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many units can run at once (pool size, or the cluster's CPUs)."""

    @abstractmethod
    def _submit(self, payload: Payload) -> Handle:
        """Start one payload; return a handle :meth:`_wait_any` understands."""

    @abstractmethod
    def _wait_any(
        self, handles: Sequence[Handle], timeout: float | None
    ) -> list[tuple[Handle, str | WorkerLost]]:
        """Block until at least one handle finished (or ``timeout``); reply JSON or lost."""

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "parallelism": self.parallelism}

    def close(self) -> None:
        """Release pools or the cluster connection (idempotent)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one retry loop ----------------------------------------------------------------------

    @property
    def max_in_flight(self) -> int:
        """Units submitted ahead of completions: enough to keep every slot busy, bounded so a
        million-unit job does not flood the scheduler."""
        return self._max_in_flight or max(2, 2 * self.parallelism)

    def map_unordered(self, payloads: Sequence[Payload]) -> Iterator[Completion]:
        queue: deque[tuple[Payload, int]] = deque((p, 1) for p in payloads)
        inflight: dict[Handle, tuple[Payload, int]] = {}
        while queue or inflight:
            while queue and len(inflight) < self.max_in_flight:
                payload, attempt = queue.popleft()
                inflight[self._submit(payload)] = (payload, attempt)
            for handle, reply in self._wait_any(list(inflight), None):
                payload, attempt = inflight.pop(handle)
                done = self._settle(payload, attempt, reply, queue)
                if done is not None:
                    yield done

    def _settle(
        self,
        payload: Payload,
        attempt: int,
        reply: str | WorkerLost,
        queue: deque[tuple[Payload, int]],
    ) -> Completion | None:
        if isinstance(reply, WorkerLost):
            self.lost += 1
            if attempt <= self.max_retries:
                queue.appendleft((payload, attempt + 1))
                return None
            return Completion(
                payload.key, payload.kind, False, None, "WorkerLost",
                f"worker died {attempt} times: {reply.why}", attempt, "", 0.0,
            )  # fmt: skip
        data = json.loads(reply)
        err = data.get("error") or {}
        if data.get("ok") and data.get("key") != payload.key:
            return Completion(
                payload.key, payload.kind, False, None, "InputError",
                "worker answered for another unit", attempt, str(data.get("worker", "")), 0.0,
            )  # fmt: skip
        return Completion(
            key=payload.key,
            kind=payload.kind,
            ok=bool(data.get("ok")),
            result=data.get("result") if data.get("ok") else None,
            error_type=None if data.get("ok") else str(err.get("type", "Error")),
            error=None if data.get("ok") else str(err.get("message", "")),
            attempts=attempt,
            worker=str(data.get("worker", "")),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
        )


ExecutorFactory = Callable[..., Executor]

_REGISTRY: dict[str, ExecutorFactory] = {}


def register_executor(name: str, factory: ExecutorFactory) -> None:
    """Register an engine; the factory takes keyword options (``address``, ``workers``, ...)."""
    _REGISTRY[name] = factory


def registered_executors() -> list[str]:
    return sorted(_REGISTRY)


def open_executor(name: str, **options: Any) -> Executor:
    """Build the named executor; unknown names fail with the list of known ones."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InputError(
            f"unknown executor {name!r}; choose one of: {', '.join(registered_executors())}"
        )
    return factory(**options)
