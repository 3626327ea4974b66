"""Per-application state: settings, store, clock, templates, rate limiters and caches.

One :class:`WebContext` is built by ``create_app`` and hung on ``app.state.ctx``; nothing here
is global, so two apps in one process (tests) never share a database, a cache or a bucket.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.requests import Request

from sovereval.settings import Settings
from sovereval.store.db import Store
from sovereval.web import csrf, i18n
from sovereval.web.ratelimit import RateLimits, TokenBuckets

Clock = Callable[[], datetime]


class LruCache:
    """A small thread-safe LRU for immutable things (published scorecards, rendered pages)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _when(t: Any) -> str:
    from sovereval.web.views import when

    return when(t)


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("sovereval.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # the request's catalogue is looked up per call (a context variable), so one environment
    # serves Korean and English requests at once
    env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = lambda x, d=2: f"{float(x):.{int(d)}f}"
    env.filters["when"] = _when
    env.filters["attrjson"] = lambda obj: json.dumps(obj, separators=(",", ":"))
    return env


@dataclass
class WebContext:
    settings: Settings
    store: Store
    clock: Clock
    limits: RateLimits
    owns_store: bool = True
    cache: LruCache = field(default_factory=LruCache)
    env: Environment = field(default_factory=_env)
    login_buckets: TokenBuckets = field(init=False)
    write_buckets: TokenBuckets = field(init=False)

    def __post_init__(self) -> None:
        self._write_lock = threading.Lock()
        self.login_buckets = TokenBuckets(self.limits.login)
        self.write_buckets = TokenBuckets(self.limits.write)

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix pins the cookie to this host and path "/" and requires Secure.
        return "__Host-sov_session" if self.settings.secure_cookies else "sov_session"

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A unit of work that writes (commits on success, rolls back on error).

        SQLite admits one writer per database; threads that collide fall into its busy
        handler, which sleeps in steps of up to 100 ms. Queueing the process's writers on a lock
        first leaves at most one contender per process and cuts the tail latency. PostgreSQL
        needs no such lock: the ledger head's row lock orders the appends.
        """
        if self.store.url.startswith("sqlite"):
            with self._write_lock, self.store.session() as s:
                yield s
        else:
            with self.store.session() as s:
                yield s

    def render(self, request: Request, template: str, data: dict[str, Any]) -> str:
        principal = getattr(request.state, "principal", None)
        user = principal.user if principal is not None else None
        token = None
        if principal is not None and principal.binding:
            token = csrf.token_for(self.settings.secret_key, principal.binding)
        lang = i18n.negotiate(
            request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", "")
        )
        values: dict[str, Any] = {
            "lang": lang,
            "user": user,
            "role": user.role if user else "public",
            "csrf_token": token,
            "path": request.url.path,
        }
        values.update(data)
        token_ = i18n.activate(lang)
        try:
            return self.env.get_template(template).render(**values)
        finally:
            i18n.reset(token_)
