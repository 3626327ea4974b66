"""Answers for blind battles, generated in the background so a page never waits on a model.

Starting a battle returns at once; :class:`AnswerRunner` then asks both models through the
benchmark backends (``bench.backends.open_backend`` on each roster entry's frozen endpoint,
concurrently, under the round's ``answer_timeout_s``) and stores the answers with the leak check
(``arena.battles.store_answers``): an answer pair that names a model is never shown and is
generated again, within the round's ``max_regenerations``. The page polls the battle's status
with htmx meanwhile.

The runner owns one event loop in a daemon thread per application. A task tied to the request's
own loop would not survive every server (a test client opens a loop per request); a dedicated
loop also keeps each backend's connection pool on the loop that created it. Database work runs
in worker threads (``asyncio.to_thread``), never on that loop.

Failure is a state, not a loss: if either model fails or times out the battle becomes
``failed`` and keeps its prompt, the page says so and offers a retry (a new pair on the same
prompt). The failure's detail goes to the log only: a backend's message can name the model or
its host, which a panelist must not learn.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from sovereval.arena import battles
from sovereval.bench.backends import Backend, GenerateParams, Message, open_backend
from sovereval.web.context import WebContext

log = logging.getLogger("sovereval.web.arena")

BackendOpener = Callable[[str], Backend]


class AnswerRunner:
    """Generate both answers of pending battles on a private event loop."""

    def __init__(self, ctx: WebContext, *, opener: BackendOpener | None = None) -> None:
        self.ctx = ctx
        self._open = opener or (lambda uri: open_backend(uri))
        self._backends: dict[str, Backend] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    # -- the loop ------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="sovereval-answers", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, None]) -> Future[None]:
        fut = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future[None]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def schedule(self, battle_id: int) -> Future[None]:
        """Start answering ``battle_id``; returns at once (the future is for tests and shutdown)."""
        return self._submit(self._run(battle_id))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every scheduled battle is answered or failed (tests, graceful shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for fut in pending:
            fut.result(timeout=timeout)

    def close(self) -> None:
        """Close the backends and stop the loop (pending generations are abandoned: their
        battles show as failed once stale and can be retried)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        backends = list(self._backends.values())
        self._backends.clear()

        async def shutdown() -> None:
            for b in backends:
                try:
                    await b.aclose()
                except Exception:  # closing is best effort
                    log.warning("closing a model backend failed", exc_info=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=10)
            loop.close()

    # -- one battle ----------------------------------------------------------------------

    def _backend(self, uri: str) -> Backend:
        b = self._backends.get(uri)
        if b is None:
            b = self._backends[uri] = self._open(uri)
        return b

    async def _answer(self, uri: str, prompt: str, params: GenerateParams) -> str:
        backend = self._backend(uri)
        done = await backend.generate([Message("user", prompt)], params)
        return done.text

    async def _run(self, battle_id: int) -> None:
        job = await asyncio.to_thread(self._read_job, battle_id)
        if job is None:
            return
        params = GenerateParams(temperature=job["temperature"], max_tokens=job["max_tokens"])
        outcome: object = "regenerate"
        while outcome == "regenerate":
            try:
                answer_a, answer_b = await asyncio.wait_for(
                    asyncio.gather(
                        self._answer(job["endpoint_a"], job["prompt"], params),
                        self._answer(job["endpoint_b"], job["prompt"], params),
                    ),
                    timeout=job["timeout_s"],
                )
            except Exception:  # any failure of a model call becomes the battle's failed state
                log.warning("battle %s: answer generation failed", battle_id, exc_info=True)
                await asyncio.to_thread(self._write, self._failed, battle_id)
                return
            outcome = await asyncio.to_thread(
                self._write, self._store, battle_id, answer_a, answer_b, job
            )

    def _failed(self, s: Any, battle_id: int) -> None:
        battles.mark_failed(s, battle_id, now=self.ctx.now())

    def _store(self, s: Any, battle_id: int, a: str, b: str, job: dict[str, Any]) -> str:
        return battles.store_answers(
            s,
            battle_id,
            a,
            b,
            job["names"],
            max_regenerations=job["max_regenerations"],
            now=self.ctx.now(),
        )

    def _read_job(self, battle_id: int) -> dict[str, Any] | None:
        with self.ctx.store.session() as s:
            return battles.generation_job(s, battle_id)

    def _write(self, fn: Callable[..., object], *args: Any) -> object:
        try:
            with self.ctx.write_session() as s:
                return fn(s, *args)
        except Exception:  # the battle stays pending, shows as failed once stale
            log.exception("battle %s: storing the generation outcome failed", args[0])
            return None
