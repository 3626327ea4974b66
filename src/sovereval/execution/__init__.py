"""Where heavy work runs: one executor interface, ``local`` (default) and ``ray``.

Units of work (:mod:`.units`) are JSON records with stable keys; a job (:mod:`.job`) runs them
through an executor (:mod:`.base`), journals every reply (:mod:`.journal`) and hands it to the
caller, which writes it through the service layer. :mod:`.plans` turns benchmark suites and
provenance scans into units. See design/execution.md.
"""

from __future__ import annotations

from typing import Any

from sovereval.execution.base import (
    Completion,
    Executor,
    open_executor,
    register_executor,
    registered_executors,
)
from sovereval.execution.job import JobReport, UnitOutcome, run_job
from sovereval.execution.units import BenchShard, ProvenanceCompare, Unit


def _local(**options: Any) -> Executor:
    from sovereval.execution.local import LocalExecutor

    options.pop("address", None)
    return LocalExecutor(**options)


def _ray(**options: Any) -> Executor:
    from sovereval.execution.ray_backend import RayExecutor

    options.pop("processes", None)
    return RayExecutor(**options)


register_executor("local", _local)
register_executor("ray", _ray)


def executor_for(
    name: str | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
    max_retries: int = 3,
    settings: Any = None,
) -> Executor:
    """The executor the command line or the settings ask for (``SOVEREVAL_EXECUTOR``,
    ``SOVEREVAL_RAY_ADDRESS``); explicit arguments win over ``settings``."""
    chosen = name or (settings.executor if settings is not None else None) or "local"
    addr = address or (settings.ray_address if settings is not None else None)
    options: dict[str, Any] = {"workers": workers, "max_retries": max_retries}
    if chosen == "ray":
        options["address"] = addr
    return open_executor(chosen, **options)


__all__ = [
    "BenchShard",
    "Completion",
    "Executor",
    "JobReport",
    "ProvenanceCompare",
    "Unit",
    "UnitOutcome",
    "executor_for",
    "open_executor",
    "register_executor",
    "registered_executors",
    "run_job",
]
