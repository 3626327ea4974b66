"""The ``ray`` executor: units run as Ray tasks on a cluster (``ray start`` on every node).

Ray is imported only when this executor is opened (``pip install 'sovereval[ray]'``). Each unit
is one task whose argument and return value are JSON text, so nothing user-controlled is ever
unpickled by the driver. Every node must have the same sovereval version installed and see the
same model files and benchmark data at the same paths (shared storage); the payload carries the
version and a worker with another one refuses the unit.

Two layers of retry: Ray re-executes a task whose worker process or node died
(``max_retries``, system failures only), and if Ray gives up the unit comes back here as
lost and the executor's own loop (:class:`~sovereval.execution.base.Executor`) resubmits it.
Application errors are answered as data by the worker, so ``retry_exceptions`` stays off:
the executor decides which of them are worth another attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sovereval.errors import BackendError, InputError, require
from sovereval.execution.base import Executor, Handle, Payload, WorkerLost
from sovereval.execution.units import execute


def _ray() -> Any:
    return require("ray", "ray")


def _run_unit(payload: str) -> str:
    """The Ray task body (module level, so workers import it by name, not by value)."""
    return execute(payload)


class RayExecutor(Executor):
    """Runs units as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        max_retries: int = 3,
        max_in_flight: int | None = None,
        namespace: str = "sovereval",
        workers: int | None = None,
    ) -> None:
        super().__init__(max_retries=max_retries, max_in_flight=max_in_flight)
        if num_cpus <= 0:
            raise InputError(f"num_cpus per unit must be positive, got {num_cpus}")
        ray = _ray()
        self._ray = ray
        self.address = address
        self.num_cpus = num_cpus
        self._owns = False
        if not ray.is_initialized():
            try:
                if address is None:
                    # A private single-machine cluster; ``workers`` caps its CPUs.
                    ray.init(
                        num_cpus=workers,
                        include_dashboard=False,
                        log_to_driver=False,
                        namespace=namespace,
                    )
                else:
                    ray.init(address=address, log_to_driver=False, namespace=namespace)
            except (ConnectionError, RuntimeError, TimeoutError) as exc:
                raise BackendError(
                    f"cannot connect to the Ray cluster at {address}: {exc}; start it with "
                    "'ray start --head' and pass its address (host:port)"
                ) from exc
            self._owns = True
        self._task = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(
            _run_unit
        )
        self._lost_errors: tuple[type[BaseException], ...] = tuple(
            getattr(ray.exceptions, n)
            for n in (
                "WorkerCrashedError",
                "NodeDiedError",
                "ObjectLostError",
                "OwnerDiedError",
                "TaskUnschedulableError",
                "RayActorError",
                "LocalRayletDiedError",
            )
            if hasattr(ray.exceptions, n)
        )

    @property
    def parallelism(self) -> int:
        cpus = float(self._ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.num_cpus))

    def _submit(self, payload: Payload) -> Handle:
        ref: Handle = self._task.remote(payload.text)
        return ref

    def _wait_any(
        self, handles: Sequence[Handle], timeout: float | None
    ) -> list[tuple[Handle, str | WorkerLost]]:
        ready, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        out: list[tuple[Handle, str | WorkerLost]] = []
        for ref in ready:
            try:
                out.append((ref, str(self._ray.get(ref))))
            except self._lost_errors as exc:
                out.append((ref, WorkerLost(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")))
            except self._ray.exceptions.RayError as exc:
                # A system error Ray could not classify (the task body never raises).
                out.append((ref, WorkerLost(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")))
        return out

    def describe(self) -> dict[str, Any]:
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        return {
            "executor": self.name,
            "address": self.address or "private",
            "nodes": len(nodes),
            "cpus": float(self._ray.cluster_resources().get("CPU", 0.0)),
            "parallelism": self.parallelism,
        }

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False
