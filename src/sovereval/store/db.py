"""Engine, sessions and migrations.

SQLite (a file in the user's data directory) is the embedded default; PostgreSQL is reached
by URL. The schema is owned by Alembic migrations shipped in the package; ``upgrade`` applies
them, and every entry point calls it so a new database is ready on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sovereval.errors import InputError
from sovereval.store import evaluation_models, models, web_models

# Every table module is imported here so the ORM knows all mappings before first use.
_TABLE_MODULES = (models, web_models, evaluation_models)

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10) -> Engine:
    """Create an engine with sane defaults for each backend.

    SQLite: WAL journal, foreign keys on, a busy timeout so concurrent writers wait instead
    of failing. PostgreSQL: a bounded connection pool with pre-ping.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        try:
            return create_engine(
                url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
        except ModuleNotFoundError as exc:
            raise InputError(
                "PostgreSQL needs the driver: pip install 'sovereval[postgres]'"
            ) from exc
    raise InputError(f"unsupported database URL '{url}'; use sqlite:///PATH or postgresql://...")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the packaged Alembic migrations up to ``revision``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise InputError(f"cannot open the database: {str(exc.orig).splitlines()[0]}") from exc


def schema_head() -> str:
    """The newest revision of the packaged migrations (what ``upgrade`` brings a database to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head() or "none"


class Store:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
