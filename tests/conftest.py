"""Shared fixtures: a fresh store on SQLite and on PostgreSQL, fixed clocks, repository paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sovereval.store.db import Store, make_engine, upgrade

# Under CI=true every skip fails with its reason; elsewhere skips are summarised in one line.
from tests.ci_skips import (  # noqa: F401
    pytest_configure,
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ADMIN = os.environ.get(
    "SOVEREVAL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _pg_admin_conn():  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    try:
        conn = _pg_admin_conn()
    except Exception as exc:  # the service truly is not there
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    name = f"sovereval_tmpl_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
    upgrade(engine)
    engine.dispose()
    yield name
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests run against both databases."""
    if request.param == "sqlite":
        st = Store(f"sqlite:///{tmp_path / 'test.db'}")
        yield st
        st.dispose()
        return
    tmpl = request.getfixturevalue("pg_template")
    name = f"sovereval_t_{uuid.uuid4().hex[:12]}"
    conn = _pg_admin_conn()
    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{tmpl}"')
    st = Store(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
    try:
        yield st
    finally:
        st.dispose()
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'test.db'}")
    yield st
    st.dispose()


@pytest.fixture
def now() -> datetime:
    return T0
