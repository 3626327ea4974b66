"""Settings, built once at the entry point and passed down.

Every field can be set from a ``SOVEREVAL_*`` environment variable (for example
``SOVEREVAL_DB``), and every CLI option that mirrors a field reads the same variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("sovereval", appauthor=False))


def default_db_url() -> str:
    return f"sqlite:///{default_data_dir() / 'sovereval.db'}"


def normalise_db_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (taken as an SQLite file)."""
    if "://" in db:
        if db.startswith("postgresql://"):
            # psycopg 3 is the driver the postgres extra installs.
            return "postgresql+psycopg://" + db[len("postgresql://") :]
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=default_db_url)
    """SQLAlchemy URL of the store; SQLite file by default, PostgreSQL by URL in production."""
    data_dir: Path = field(default_factory=default_data_dir)
    """Where reports, caches and uploads go."""
    secret_key: str = "change-me-in-production"
    """Signs session cookies and CSRF tokens. Must be set in production."""
    secure_cookies: bool = False
    """Mark cookies Secure (set when served over TLS)."""
    executor: str = "local"
    """Engine for heavy work: ``local`` or ``ray``."""
    ray_address: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    """Largest upload the web app accepts."""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if "SOVEREVAL_DB" in env:
            values["db_url"] = normalise_db_url(env["SOVEREVAL_DB"])
        if "SOVEREVAL_DATA_DIR" in env:
            values["data_dir"] = Path(env["SOVEREVAL_DATA_DIR"])
        if "SOVEREVAL_SECRET_KEY" in env:
            values["secret_key"] = env["SOVEREVAL_SECRET_KEY"]
        if "SOVEREVAL_SECURE_COOKIES" in env:
            values["secure_cookies"] = env["SOVEREVAL_SECURE_COOKIES"].lower() in {
                "1",
                "true",
                "yes",
            }
        if "SOVEREVAL_EXECUTOR" in env:
            values["executor"] = env["SOVEREVAL_EXECUTOR"]
        if "SOVEREVAL_RAY_ADDRESS" in env:
            values["ray_address"] = env["SOVEREVAL_RAY_ADDRESS"]
        if "SOVEREVAL_MAX_UPLOAD_BYTES" in env:
            values["max_upload_bytes"] = int(env["SOVEREVAL_MAX_UPLOAD_BYTES"])
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        if "db_url" not in values and "data_dir" in values:
            # A chosen data directory also holds the default database.
            values["db_url"] = f"sqlite:///{Path(str(values['data_dir'])) / 'sovereval.db'}"
        if "db_url" in values:
            values["db_url"] = normalise_db_url(str(values["db_url"]))
        return cls(**values)  # type: ignore[arg-type]
