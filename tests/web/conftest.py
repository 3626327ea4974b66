"""Web fixtures: the demo competition (built once), users for every role, a movable clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sovereval.competition import service as svc
from sovereval.settings import Settings
from sovereval.store.db import Store
from sovereval.web import csrf
from sovereval.web import users_service as users
from sovereval.web.app import create_app
from sovereval.web.ratelimit import RateLimits
from tests.web.sample import PROGRAMME, PUBLISHED, build

PASSWORD = "correct horse battery staple"
# Results are published at 2026-01-16 09:00 UTC; the 10-day appeal window closes 01-26 09:00.
DEADLINE = PUBLISHED + timedelta(days=10)
SECRET = "test-secret-key-0123456789"

ROLE_USERS = {
    "admin": ("minister", {}),
    "evaluator": ("evaluator1", {}),
    "expert": ("expert1", {"expert_name": "Expert A"}),
    "team": ("gyeol", {"consortium": "Gyeol Consortium"}),
    "panelist": ("panel1", {}),
}


@dataclass
class Clock:
    """A clock tests can move; the app reads it on every request."""

    t: datetime = PUBLISHED + timedelta(days=2)

    def __call__(self) -> datetime:
        return self.t


@dataclass
class WebEnv:
    app: FastAPI
    client: TestClient
    store: Store
    clock: Clock
    settings: Settings
    ids: dict[str, int] = field(default_factory=dict)

    def session_for(self, username: str) -> str:
        """Open a login session through the service (no HTTP, no rate limit); the cookie value."""
        with self.store.session() as s:
            _row, token = users.login(s, username, PASSWORD, now=self.clock())
        return token

    def cookie(self, token: str) -> dict[str, str]:
        return {"cookie": f"sov_session={token}"}

    def form_token(self, session_token: str) -> str:
        return csrf.token_for(self.settings.secret_key, session_token)

    def bearer(self, username: str) -> str:
        with self.store.session() as s:
            _row, token = users.issue_token(
                s, users.get_user(s, username), "tests", actor="tests", now=self.clock()
            )
        return token


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing() -> Iterator[None]:
    """Cheap argon2id parameters for tests (the production defaults cost ~64 MiB and tens of
    ms per hash, which adds up over hundreds of sign-ins on a shared 2-core machine)."""
    from argon2 import PasswordHasher

    saved = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = saved


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample competition, built once per test session and copied per test."""
    d = tmp_path_factory.mktemp("sample")
    store = Store(f"sqlite:///{d / 'demo.db'}")
    build(store)
    with store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        for role, (name, extra) in ROLE_USERS.items():
            kw: dict[str, object] = {}
            if "consortium" in extra:
                kw["consortium"] = svc.get_consortium(s, prog, str(extra["consortium"]))
            if "expert_name" in extra:
                kw["expert_name"] = extra["expert_name"]
            users.create_user(
                s, name, PASSWORD, role, actor="setup", now=PUBLISHED + timedelta(days=1), **kw
            )  # type: ignore[arg-type]
        users.create_user(
            s,
            "hanbit",
            PASSWORD,
            "team",
            consortium=svc.get_consortium(s, prog, "Hanbit AI"),
            actor="setup",
            now=PUBLISHED + timedelta(days=1),
        )
    store.dispose()
    return d / "demo.db"


def make_env(
    db: Path, tmp: Path, *, limits: RateLimits | None = None, **settings: object
) -> WebEnv:
    path = tmp / "web.db"
    shutil.copy(db, path)
    st = Store(f"sqlite:///{path}")
    conf = Settings(db_url=f"sqlite:///{path}", data_dir=tmp, secret_key=SECRET, **settings)  # type: ignore[arg-type]
    clock = Clock()
    app = create_app(conf, store=st, clock=clock, limits=limits or RateLimits(enabled=False))
    client = TestClient(app, follow_redirects=False)
    env = WebEnv(app, client, st, clock, conf)
    with st.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rnd = svc.get_round(s, prog, 1)
        env.ids["programme"] = prog.id
        env.ids["round1"] = rnd.id
        env.ids["round2"] = svc.get_round(s, prog, 2).id
        env.ids["ruleset"] = int(rnd.ruleset_id or 0)
        for team in ("Gyeol Consortium", "Hanbit AI"):
            c = svc.get_consortium(s, prog, team)
            env.ids[team] = svc.submission_of(s, rnd, c).id
        env.ids["user_admin"] = users.get_user(s, "minister").id
        env.ids["user_gyeol"] = users.get_user(s, "gyeol").id
    return env


@pytest.fixture
def web(demo_db: Path, tmp_path: Path) -> Iterator[WebEnv]:
    env = make_env(demo_db, tmp_path)
    yield env
    env.client.close()
    env.store.dispose()


@pytest.fixture
def usernames() -> dict[str, str]:
    return {role: name for role, (name, _x) in ROLE_USERS.items()}
