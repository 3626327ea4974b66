"""A real Ray cluster on loopback — a head node plus worker nodes, each its own ``ray start`` —
for tests, the scale benchmark and the deployment check.

Every node shares one private temporary folder and every port is chosen free, so several
clusters (and another user's Ray) can live on one machine. :meth:`LoopbackCluster.stop` ends
exactly the processes this cluster started — found by that folder or the head's port in their
command line, plus their descendants — never every Ray process as ``ray stop`` would.
Failure detection is tightened (0.5 s health checks) so a killed node is noticed in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from sovereval.errors import BackendError, MissingDependencyError, require

FAST_FAILURE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_cli() -> Path:
    """The ``ray`` command next to this interpreter (the venv's), else on ``PATH``."""
    local = Path(sys.executable).parent / "ray"
    if local.exists():
        return local
    found = shutil.which("ray")
    if found is None:
        raise MissingDependencyError(
            "the 'ray' command is not installed; install it with: pip install 'sovereval[ray]'"
        )
    return Path(found)


def cluster_processes(temp_dir: str | Path, port: int) -> list[Any]:
    """Processes of one cluster: those naming its temp folder or head port, and descendants."""
    psutil: Any = require("psutil", "ray")
    head = re.compile(rf":{port}(?!\d)")
    roots = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        if str(temp_dir) in cmd or head.search(cmd):
            roots.append(p)
    found = {p.pid: p for p in roots}
    for p in roots:
        try:
            for child in p.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def stop_processes(procs: list[Any]) -> None:
    """SIGTERM, then SIGKILL what is still alive after 5 s."""
    psutil: Any = require("psutil", "ray")
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)
    time.sleep(0.1)


def stop_cluster(temp_dir: str, port: int) -> int:
    """Stop the cluster started with ``--temp-dir temp_dir --port port``; returns how many
    processes were ended (the deployment check calls this instead of ``ray stop``)."""
    procs = cluster_processes(temp_dir, port)
    stop_processes(procs)
    return len(procs)


class LoopbackCluster:
    """``with LoopbackCluster(nodes=2) as c: RayExecutor(address=c.address)``."""

    def __init__(
        self, *, nodes: int = 2, cpus_per_node: int = 1, start_timeout_s: float = 120.0
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least the head node")
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.start_timeout_s = start_timeout_s
        self.temp_dir = Path(tempfile.mkdtemp(prefix="svray-"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **FAST_FAILURE_ENV}
        self.log = self.temp_dir / "start.log"

    def _start(self, args: list[str]) -> None:
        ports = [
            "--ray-client-server-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
        ]  # fmt: skip
        cmd = [
            str(ray_cli()), "start", *args, "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(self.cpus_per_node), "--temp-dir", str(self.temp_dir),
            "--disable-usage-stats", *ports,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            proc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                timeout=self.start_timeout_s, check=False,
            )  # fmt: skip
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise BackendError(f"'ray start' failed ({proc.returncode}): {' | '.join(tail)}")

    def start(self) -> LoopbackCluster:
        try:
            self._start(
                ["--head", "--port", str(self.port), "--include-dashboard=false",
                 "--dashboard-port", str(free_port())]
            )  # fmt: skip
            for _ in range(self.nodes - 1):
                self._start(["--address", self.address])
        except BaseException:
            self.stop()
            raise
        return self

    # -- processes ------------------------------------------------------------------------------

    def _ours(self) -> list[Any]:
        return cluster_processes(self.temp_dir, self.port)

    def raylets(self) -> dict[str, int]:
        """Node id (hex) -> raylet process id, for every live node of this cluster."""
        out: dict[str, int] = {}
        for p in self._ours():
            try:
                cmd = p.cmdline()
            except Exception:
                continue
            if cmd and cmd[0].endswith("raylet") and p.status() != "zombie":
                for arg in cmd:
                    if arg.startswith("--node_id="):
                        out[arg.split("=", 1)[1]] = p.pid
        return out

    def kill_node(self, node_id: str) -> list[int]:
        """SIGKILL a node's raylet and every process under it (its workers): a machine lost."""
        psutil: Any = require("psutil", "ray")
        pid = next((p for n, p in self.raylets().items() if n.startswith(node_id)), None)
        if pid is None:
            raise BackendError(f"no live node {node_id[:12]} in this cluster")
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
        for v in victims:
            try:
                v.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        return [v.pid for v in victims]

    def stop(self) -> None:
        stop_processes(self._ours())
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
