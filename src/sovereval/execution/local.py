"""The ``local`` executor: a ``concurrent.futures`` pool on this machine (the default).

Threads by default: benchmark shards wait on model servers and the provenance kernels spend
their time in NumPy/BLAS, which releases the GIL, so threads give most of the speed with no
start-up cost. ``processes=True`` isolates units in worker processes (a unit that crashes its
process does not take the driver down); a broken pool is rebuilt and the units that were in it
are resubmitted, exactly like a lost Ray worker.

BLAS threads: with ``w`` units at once, each unit's BLAS gets ``cpus // w`` threads while the
pool is open (``threadpoolctl``, if installed). Without the cap every unit's BLAS starts one
thread per core, ``w`` times over, and the provenance kernels ran 6x slower on 2 cores
(benchmarks/scale.py). Ray workers get the same cap from Ray (``OMP_NUM_THREADS = num_cpus``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures import Executor as _Pool
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sovereval.errors import InputError
from sovereval.execution.base import Executor, Handle, Payload, WorkerLost
from sovereval.execution.units import execute


def default_workers() -> int:
    return max(1, min(32, os.cpu_count() or 1))


def limit_blas(threads: int) -> Any:
    """Cap BLAS/OpenMP threads of this process; returns a handle to restore them (or None)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it units merely oversubscribe the cores
        return None
    return threadpool_limits(limits=threads)


class LocalExecutor(Executor):
    """In-process pool; see the module docstring."""

    name = "local"

    def __init__(
        self,
        *,
        workers: int | None = None,
        processes: bool = False,
        blas_threads: int | None = None,
        max_retries: int = 3,
        max_in_flight: int | None = None,
    ) -> None:
        super().__init__(max_retries=max_retries, max_in_flight=max_in_flight)
        n = workers if workers is not None else default_workers()
        if n < 1:
            raise InputError(f"the local executor needs at least one worker, got {n}")
        self.workers = n
        self.processes = processes
        self.blas_threads = blas_threads or max(1, (os.cpu_count() or 1) // n)
        self._pool: _Pool | None = None
        self._limits: Any = None

    @property
    def parallelism(self) -> int:
        return self.workers

    def _ensure_pool(self) -> _Pool:
        if self._pool is None:
            if self.processes:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, initializer=limit_blas, initargs=(self.blas_threads,)
                )
            else:
                if self._limits is None:
                    self._limits = limit_blas(self.blas_threads)
                self._pool = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="sovereval-unit"
                )
        return self._pool

    def _submit(self, payload: Payload) -> Handle:
        try:
            return self._ensure_pool().submit(execute, payload.text)
        except BrokenProcessPool:
            self._rebuild()
            return self._ensure_pool().submit(execute, payload.text)

    def _rebuild(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def _wait_any(
        self, handles: Sequence[Handle], timeout: float | None
    ) -> list[tuple[Handle, str | WorkerLost]]:
        futures: list[Future[str]] = list(handles)  # type: ignore[arg-type]
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[tuple[Handle, str | WorkerLost]] = []
        broken = False
        for fut in done:
            exc = fut.exception()
            if exc is None:
                out.append((fut, fut.result()))
            elif isinstance(exc, BrokenProcessPool):
                broken = True
                out.append((fut, WorkerLost(f"local worker process died ({exc})")))
            else:  # execute() answers errors as data; this is the pool itself failing
                out.append((fut, WorkerLost(f"{type(exc).__name__}: {exc}")))
        if broken:
            self._rebuild()
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "parallelism": self.workers,
            "mode": "processes" if self.processes else "threads",
            "blas_threads": self.blas_threads,
        }

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
