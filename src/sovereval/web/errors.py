"""Errors to HTTP answers, in one place.

Every :class:`~sovereval.errors.SovereValError` carries its HTTP status (``http_status``);
this module turns it, Starlette's HTTP errors and request-validation errors into a JSON body
for the API (``/api/...`` or a client that asks for JSON) and a readable HTML page otherwise.
Unexpected exceptions become a 500 that reveals nothing but an incident id (the traceback goes
to the log). A signed-out visitor asking for a protected page is sent to the login form.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sovereval.errors import AuthenticationError, PermissionDeniedError, SovereValError

log = logging.getLogger("sovereval.web")

TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Not accepted",
    429: "Too many requests",
    500: "Internal error",
    501: "Not available",
    502: "Upstream service failed",
}


class RateLimitedError(SovereValError):
    """Too many requests from one client or user in a short time."""

    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


class CsrfError(PermissionDeniedError):
    """A form or cookie-authenticated request came without a valid CSRF token."""


class PayloadTooLargeError(SovereValError):
    http_status = 413


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: Request, status: int, message: str, *, kind: str, headers: dict[str, str] | None = None
) -> Response:
    if wants_json(request):
        return JSONResponse(
            {"error": {"status": status, "type": kind, "message": message}},
            status_code=status,
            headers=headers,
        )
    ctx = getattr(request.app.state, "ctx", None)
    title = TITLES.get(status, "Error")
    if ctx is None:  # pragma: no cover - only before the app is configured
        return HTMLResponse(f"<h1>{title}</h1><p>{message}</p>", status_code=status)
    html = ctx.render(request, "error.html", {"status": status, "title": title, "message": message})
    return HTMLResponse(html, status_code=status, headers=headers)


async def _sovereval_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SovereValError)
    status = exc.http_status
    if (
        isinstance(exc, AuthenticationError)
        and not wants_json(request)
        and request.method in ("GET", "HEAD")
    ):
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="sovereval"'
    return error_response(request, status, str(exc), kind=type(exc).__name__, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail) if exc.detail else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404:
        message = "nothing here; check the address or start from the home page"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, message, kind="HTTPError", headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    message = "invalid request: " + "; ".join(parts) if parts else "invalid request"
    return error_response(request, 422, message, kind="ValidationError")


async def _integrity(request: Request, exc: Exception) -> Response:
    """A uniqueness or reference the database refused: the request clashed with stored data.

    Services check what they know first; this is the net under a race or an unchecked clash,
    so the answer is a 409 naming the problem rather than a 500."""
    log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        request,
        409,
        "this clashes with something already stored (a name or version in use, or a record "
        "still referred to); nothing was changed. Reload the page to see the current state.",
        kind="ConflictError",
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    incident = secrets.token_hex(6)
    log.exception("incident %s on %s %s", incident, request.method, request.url.path)
    return error_response(
        request,
        500,
        f"something went wrong on our side (incident {incident}); nothing was changed",
        kind="InternalError",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(SovereValError, _sovereval_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(Exception, _unexpected)


def status_of(exc: BaseException) -> int:
    """The status an exception answers with (used by tests and logs)."""
    if isinstance(exc, SovereValError):
        return exc.http_status
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    return 500


__all__: list[Any] = [
    "CsrfError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "error_response",
    "install",
    "status_of",
    "wants_json",
]
