"""Small helpers shared by the page routers: render a template, redirect after a form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sovereval.web.auth import Principal, ctx_of

HOME_OF_ROLE = {
    "admin": "/admin",
    "evaluator": "/admin",
    "team": "/team",
    "expert": "/expert",
    "panelist": "/arena",
}


def who(request: Request) -> Principal:
    p: Principal = request.state.principal
    return p


def page(request: Request, template: str, status: int = 200, **data: Any) -> HTMLResponse:
    """Render a page. Pages for a signed-in user are never stored by shared caches."""
    data.setdefault("flash", flash(request))
    html = ctx_of(request).render(request, template, data)
    p = getattr(request.state, "principal", None)
    private = p is not None and p.user is not None
    headers = {
        "Cache-Control": "private, no-store" if private else "public, max-age=30",
        "Vary": "Accept-Language, Cookie",  # the page language follows both
    }
    return HTMLResponse(html, status_code=status, headers=headers)


FLASH = {
    "programme": "Programme created.",
    "consortium": "Consortium added.",
    "drafted": "Rule set drafted.",
    "published": "Rule set published.",
    "draft_deleted": "Draft rule set deleted.",
    "round": "Round created.",
    "opened": "Round opened; its rule set is frozen.",
    "closed": "Round closed.",
    "amended": "Amendment recorded; it is flagged wherever this round's results appear.",
    "computed": "Scorecard computed (not yet published).",
    "results": "Results published; the appeal window is open.",
    "results_closed": "Results published. The appeal window has closed (it runs from the first publication), so no new appeal can be filed.",
    "decided": "Appeal decided.",
    "allocated": "Allocation recorded.",
    "wildcard": "Wild-card call opened.",
    "wildcard_decided": "Wild-card call decided.",
    "user": "User created.",
    "provenance_requested": "Provenance run requested; the request is in the ledger and on the organisers' round page.",
    "result": "Result recorded.",
    "roster": "Arena roster frozen: the round's models now sit behind random aliases; battles run while the round is open.",
    "enrolled": "Panelist enrolled in this round's panel.",
    "submission": "Submission registered. Upload the technical report, training logs and checkpoint list below.",
    "evidence": "Evidence uploaded; its SHA-256 digest is listed below and recorded in the ledger.",
    "token_revoked": "API token revoked; it no longer works.",
    "activated": "User activated.",
    "deactivated": "User deactivated; their sessions ended and their API tokens stopped working.",
    "password_reset": "Password reset; the user's open sessions ended.",
}
"""Fixed confirmation messages, selected by code, so a crafted link cannot put words on a page."""


def back(url: str, code: str = "") -> RedirectResponse:
    """Post/redirect/get: answer a form with a 303 to the page that shows the new state."""
    sep = "&" if "?" in url else "?"
    target = f"{url}{sep}done={code}" if code in FLASH else url
    return RedirectResponse(target, status_code=303)


def flash(request: Request) -> str:
    return FLASH.get(request.query_params.get("done", ""), "")


def safe_next(target: str | None, default: str) -> str:
    """Only local absolute paths are accepted as a redirect target (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
"""A database id in a path: bounded so no client can overflow a 32-bit integer column."""
