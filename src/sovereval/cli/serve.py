"""``sovereval serve``: run the web application with uvicorn."""

from __future__ import annotations

import ipaddress
import os

import typer

from sovereval.cli.common import ctx_of, err_console
from sovereval.errors import InputError
from sovereval.store.db import make_engine, upgrade

DEFAULT_SECRET = "change-me-in-production"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", "--host", envvar="SOVEREVAL_HOST", help="Address to bind."
    ),
    port: int = typer.Option(8000, "--port", envvar="SOVEREVAL_PORT", help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", envvar="SOVEREVAL_WORKERS", min=1, max=64, help="Worker processes."
    ),
    secure_cookies: bool = typer.Option(
        False,
        "--secure-cookies/--no-secure-cookies",
        envvar="SOVEREVAL_SECURE_COOKIES",
        help="Mark cookies Secure and send HSTS (set when served over TLS).",
    ),
    proxy_headers: bool = typer.Option(
        False,
        "--proxy-headers/--no-proxy-headers",
        envvar="SOVEREVAL_PROXY_HEADERS",
        help="Trust X-Forwarded-For/Proto from --forwarded-allow-ips (behind a reverse proxy).",
    ),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1", "--forwarded-allow-ips", envvar="SOVEREVAL_FORWARDED_ALLOW_IPS"
    ),
    rate_limit: bool = typer.Option(
        True,
        "--rate-limit/--no-rate-limit",
        envvar="SOVEREVAL_WEB_RATE_LIMIT",
        help="Per-process token buckets on login and writes (turn off only for load tests).",
    ),
    write_rate: float = typer.Option(
        600.0, "--write-rate", envvar="SOVEREVAL_WEB_WRITE_RATE", help="Writes per user per minute."
    ),
    log_level: str = typer.Option("warning", "--log-level", envvar="SOVEREVAL_LOG_LEVEL"),
    log_format: str = typer.Option(
        "text",
        "--log-format",
        envvar="SOVEREVAL_LOG_FORMAT",
        help="text or json (one JSON object per line).",
    ),
) -> None:
    """Serve the web application: public results, team and organiser workspaces, JSON API.

    The database is migrated once here, then each worker opens it without migrating. Settings
    reach the workers through SOVEREVAL_* environment variables. Outside loopback a secret key
    (SOVEREVAL_SECRET_KEY) is required. Rate limits live in each worker process: with N workers
    a client gets up to N times the budget (see design/web.md for a shared store).
    """
    c = ctx_of(ctx)
    settings = c.settings
    if settings.secret_key == DEFAULT_SECRET:
        if not _loopback(host):
            raise InputError(
                "set SOVEREVAL_SECRET_KEY to a long random value before serving beyond loopback"
            )
        err_console.print("[yellow]warning:[/] using the default secret key (loopback only)")
    engine = make_engine(settings.db_url)
    upgrade(engine)
    engine.dispose()
    os.environ.update(
        {
            "SOVEREVAL_DB": settings.db_url,
            "SOVEREVAL_DATA_DIR": str(settings.data_dir),
            "SOVEREVAL_SECRET_KEY": settings.secret_key,
            "SOVEREVAL_SECURE_COOKIES": "1" if secure_cookies else "0",
            "SOVEREVAL_MAX_UPLOAD_BYTES": str(settings.max_upload_bytes),
            "SOVEREVAL_WEB_MIGRATE": "0",
            "SOVEREVAL_WEB_RATE_LIMIT": "1" if rate_limit else "0",
            "SOVEREVAL_WEB_WRITE_RATE": str(write_rate),
        }
    )
    err_console.print(f"serving on http://{host}:{port} with {workers} worker(s)")
    import uvicorn

    from sovereval.web.logs import log_config
    from sovereval.web.server import NoDelayConfig

    if log_format not in ("text", "json"):
        raise InputError(f"--log-format must be text or json, not '{log_format}'")

    config = NoDelayConfig(
        "sovereval.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level,
        log_config=log_config(log_format, log_level),
        access_log=log_level in ("debug", "info"),
        server_header=False,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[config.bind_socket()]).run()
