"""The demo's model server: ``transformers serve`` (OpenAI-compatible) on loopback.

Started as a child process that dies with the demo (Linux parent-death signal), stopped at the
end, on Ctrl-C and on errors. Model URIs name the served model, not the port, so the journal
and the response cache are reused across runs whatever port the server got.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sovereval.bench.backends.base import (
    Backend,
    Completion,
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
)
from sovereval.errors import BackendError

SERVED_PREFIX = "openai-compat:demo-server#"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ModelServer:
    """A running ``transformers serve`` process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _wait_ready(server: ModelServer, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            tail = server.log.read_text("utf-8", errors="replace")[-400:]
            raise BackendError(f"the model server exited at start-up: {tail.strip()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise BackendError(f"the model server did not answer within {timeout_s:g} s")


@contextlib.contextmanager
def serve(log_dir: Path, *, threads: int = 1, timeout_s: float = 120.0) -> Iterator[ModelServer]:
    """Run ``transformers serve`` on a free loopback port for the duration of the block."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = log_dir / "model-server.log"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    cmd = [
        sys.executable,
        "-c",
        "import sys; from transformers.cli.transformers import main; sys.exit(main())",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--model-timeout",
        "3600",
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    server = ModelServer(proc, port, log)
    try:
        _wait_ready(server, timeout_s)
        yield server
    finally:
        server.stop()


class ServedModel:
    """The OpenAI-compatible backend for one served model, named by the model and not by the
    port (the journal and cache key), delegating every call."""

    def __init__(self, inner: Backend, name: str, revision: str = "") -> None:
        self.inner, self.name, self.revision = inner, name, revision

    @property
    def uri(self) -> str:
        return SERVED_PREFIX + self.name + (f"@{self.revision}" if self.revision else "")

    @property
    def supports_loglik(self) -> bool:
        return False

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        return await self.inner.generate(messages, params)

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        raise BackendError(f"{self.uri}: the demo server is used for generation only")

    async def aclose(self) -> None:
        await self.inner.aclose()


def served(
    server: ModelServer, model_dir: Path, name: str, revision: str, **options: Any
) -> ServedModel:
    """A backend for ``model_dir`` on ``server``, known in journals as ``name@revision``."""
    from sovereval.bench.backends import open_backend

    inner = open_backend(f"openai-compat:{server.base_url}#{model_dir}", **options)
    return ServedModel(inner, name, revision)


def revision_of(model_dir: Path, root: Path) -> str:
    """A location-independent revision: the model folder's path inside the demo cache (which
    names the build recipe version and the seed), hashed."""
    return hashlib.sha256(cache_path(model_dir, root).encode()).hexdigest()[:8]


def cache_path(model_dir: Path, root: Path) -> str:
    """``model_dir`` relative to the demo cache ``root`` (symbolic links kept as named)."""
    try:
        return Path(os.path.abspath(model_dir)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return model_dir.name


class LocalModel:
    """The in-process transformers backend under a location-independent URI
    (``hf:demo-cache/<path in the cache>``), so journals and cache keys survive a moved cache."""

    def __init__(self, open_inner: Callable[[], Backend], model_dir: Path, root: Path) -> None:
        self._open = open_inner
        self._inner: Backend | None = None
        self._uri = f"hf:demo-cache/{cache_path(model_dir, root)}"

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def supports_loglik(self) -> bool:
        return True

    @property
    def inner(self) -> Backend:
        """Loaded on the first call: a run whose items are all journaled loads no weights."""
        if self._inner is None:
            self._inner = self._open()
        return self._inner

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        return await self.inner.generate(messages, params)

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        return await self.inner.loglikelihood(requests)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
