"""CSRF protection: a synchronizer token derived from the caller's session.

The token is ``HMAC-SHA256(secret_key, "csrf|" + binding)`` where the binding is the session
cookie's value for a signed-in user, or a random ``sov_csrf`` cookie for an anonymous visitor
(only the login form needs one). Nothing extra is stored: the server recomputes the token from
the cookie it receives. A cross-site page can neither read the cookie nor compute the HMAC, so it
cannot forge the form field or the ``X-CSRF-Token`` header. Requests authenticated with a bearer
token carry no ambient credential and are exempt. ``SameSite=Lax`` on the cookies is a second,
independent guard.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ANON_COOKIE = "sov_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token_for(secret_key: str, binding: str) -> str:
    mac = hmac.new(secret_key.encode("utf-8"), b"csrf|" + binding.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def check(secret_key: str, binding: str | None, presented: str | None) -> bool:
    """Constant-time comparison of the presented token with the one the binding implies."""
    if not binding or not presented:
        return False
    return hmac.compare_digest(token_for(secret_key, binding), presented)


def new_anon_binding() -> str:
    return secrets.token_urlsafe(24)
