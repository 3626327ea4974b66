"""Hardening: security headers, no inline script, cookies, CSRF, rate limits, size limits,
clear errors, no open redirect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sovereval.web import views
from sovereval.web.ratelimit import BucketSpec, RateLimits, TokenBuckets
from tests.web.conftest import PASSWORD, WebEnv, make_env

PAGES = (
    "/",
    "/programmes/{p}",
    "/programmes/{p}/leaderboard",
    "/programmes/{p}/rounds/1",
    "/programmes/{p}/rounds/1/rules",
    "/ledger",
    "/login",
)


def _login_form(web: WebEnv) -> str:
    r = web.client.get("/login")
    m = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', r.text)
    assert m is not None
    return m.group(1)


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/ledger/head", "/static/app.js", "/does-not-exist", "/openapi.json"]
)
def test_security_headers_on_every_kind_of_response(web: WebEnv, path: str) -> None:
    r = web.client.get(path)
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # only when served over TLS


def test_pages_have_no_inline_script_and_no_external_assets(web: WebEnv) -> None:
    pid = web.ids["programme"]
    token = web.session_for("minister")
    pages = [p.format(p=pid) for p in PAGES] + ["/admin", f"/admin/rounds/{web.ids['round1']}"]
    for path in pages:
        html = web.client.get(path, headers=web.cookie(token)).text
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
        assert scripts, path
        for attrs, body in scripts:
            assert 'src="/static/' in attrs and body.strip() == "", (path, attrs)
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {path}"
        assert "javascript:" not in html
        assert not re.search(r'(src|href)="(https?:)?//', html), f"external asset in {path}"


def test_session_cookie_flags(web: WebEnv) -> None:
    token = _login_form(web)
    r = web.client.post(
        "/login", data={"username": "gyeol", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 303 and r.headers["location"] == "/team"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("sov_session="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags


def test_secure_cookies_use_host_prefix(demo_db: Path, tmp_path: Path) -> None:
    env = make_env(demo_db, tmp_path, secure_cookies=True)
    env.client = env.client.__class__(
        env.app, base_url="https://testserver", follow_redirects=False
    )
    try:
        token = _login_form(env)
        anon = next(c for c in env.client.get("/login").headers.get_list("set-cookie"))
        assert "secure" in anon.lower()
        r = env.client.post(
            "/login", data={"username": "gyeol", "password": PASSWORD, "csrf_token": token}
        )
        cookie = next(c for c in r.headers.get_list("set-cookie") if "sov_session" in c)
        assert cookie.startswith("__Host-sov_session=") and "secure" in cookie.lower()
        assert "strict-transport-security" in r.headers
    finally:
        env.client.close()
        env.store.dispose()


def test_wrong_password_is_a_clear_401_and_same_for_unknown_user(web: WebEnv) -> None:
    token = _login_form(web)
    a = web.client.post(
        "/login", data={"username": "gyeol", "password": "x" * 12, "csrf_token": token}
    )
    b = web.client.post(
        "/login", data={"username": "nobody", "password": "x" * 12, "csrf_token": token}
    )
    assert a.status_code == b.status_code == 401
    assert "wrong username or password" in a.text and "wrong username or password" in b.text
    assert "set-cookie" not in a.headers or "sov_session" not in a.headers["set-cookie"]


def test_csrf_required_on_forms(web: WebEnv) -> None:
    session = web.session_for("minister")
    other = web.session_for("evaluator1")
    url = "/admin/programmes"
    data = {"name": "CSRF test", "description": ""}
    no_token = web.client.post(url, data=data, headers=web.cookie(session))
    assert no_token.status_code == 403 and "security token" in no_token.text
    wrong = web.client.post(
        url, data={**data, "csrf_token": web.form_token(other)}, headers=web.cookie(session)
    )
    assert wrong.status_code == 403  # a token from another session is useless
    ok = web.client.post(
        url, data={**data, "csrf_token": web.form_token(session)}, headers=web.cookie(session)
    )
    assert ok.status_code == 303 and ok.headers["location"].startswith("/admin/programmes/")
    # Login without the anonymous CSRF cookie is refused too (login CSRF).
    r = web.client.post("/login", data={"username": "gyeol", "password": PASSWORD})
    assert r.status_code == 403


def test_bearer_token_writes_need_no_csrf(web: WebEnv) -> None:
    token = web.bearer("evaluator1")
    r = web.client.post(
        f"/api/v1/submissions/{web.ids['Gyeol Consortium']}/results",
        json={"part": "common", "value": 0.5, "lo": 0.4, "hi": 0.6},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422  # reached the service: round 1 is published, edits need an appeal
    assert "appeal" in r.json()["error"]["message"]
    bad = web.client.get("/api/v1/me", headers={"authorization": "Bearer sov_not-a-token"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Bearer")


def test_login_rate_limit(demo_db: Path, tmp_path: Path) -> None:
    env = make_env(demo_db, tmp_path, limits=RateLimits(login=BucketSpec(1, 3)))
    try:
        token = _login_form(env)
        codes = [
            env.client.post(
                "/login", data={"username": "gyeol", "password": "w" * 12, "csrf_token": token}
            ).status_code
            for _ in range(4)
        ]
        # burst 3: three answered (wrong password), the fourth refused before any hashing
        assert codes == [401, 401, 401, 429]
        r = env.client.post(
            "/login", data={"username": "gyeol", "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        env.client.close()
        env.store.dispose()


def test_write_rate_limit_is_per_user(demo_db: Path, tmp_path: Path) -> None:
    env = make_env(demo_db, tmp_path, limits=RateLimits(write=BucketSpec(1, 2)))
    try:
        a, b = env.bearer("evaluator1"), env.bearer("minister")
        url = f"/api/v1/rounds/{env.ids['round2']}/scorecard"
        codes = [
            env.client.post(url, headers={"authorization": f"Bearer {a}"}).status_code
            for _ in range(3)
        ]
        assert codes == [422, 422, 429]  # 422: round 2 has no submissions yet
        assert env.client.post(url, headers={"authorization": f"Bearer {b}"}).status_code == 422
        # Reads are not write-limited.
        assert (
            env.client.get("/api/v1/me", headers={"authorization": f"Bearer {a}"}).status_code
            == 200
        )
    finally:
        env.client.close()
        env.store.dispose()


def test_token_bucket_refills_at_its_rate() -> None:
    b = TokenBuckets(BucketSpec(rate_per_minute=60, burst=2))  # one token per second
    assert b.take("k", 0.0) == 0.0 and b.take("k", 0.0) == 0.0
    assert b.take("k", 0.0) == pytest.approx(1.0)  # empty: the next token in 1 s
    assert b.take("k", 0.5) == pytest.approx(0.5)  # half a token back after 0.5 s
    assert b.take("k", 1.0) == 0.0  # 0.5 + 0.5 s * 1/s = 1 token
    assert b.take("other", 1.0) == 0.0  # keys are independent


def test_upload_limit(demo_db: Path, tmp_path: Path) -> None:
    env = make_env(demo_db, tmp_path, max_upload_bytes=1000)
    try:
        big = {"username": "x", "password": "y" * 2000}
        r = env.client.post("/login", data=big)
        assert r.status_code == 413 and "limit of 1000 bytes" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(5):
                yield b"a" * 400

        r = env.client.post(
            "/login",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413
        assert (
            env.client.post("/login", data={"username": "x"}).status_code == 403
        )  # small: on to CSRF
    finally:
        env.client.close()
        env.store.dispose()


def test_error_pages_are_clear(web: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    page = web.client.get("/programmes/999")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no programme with id 999" in page.text
    api = web.client.get("/api/v1/programmes/999/leaderboard")
    assert api.status_code == 404
    assert api.json() == {
        "error": {"status": 404, "type": "NotFoundError", "message": "no programme with id 999"}
    }
    bad = web.client.get("/api/v1/programmes/abc/leaderboard")
    assert bad.status_code == 422 and bad.json()["error"]["type"] == "ValidationError"
    huge = web.client.get("/api/v1/programmes/99999999999999999999/leaderboard")
    assert huge.status_code == 422

    def boom(*_a: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views, "programmes", boom)
    client = web.client.__class__(web.app, raise_server_exceptions=False)
    r = client.get("/")
    assert r.status_code == 500 and "incident" in r.text
    assert "secret internal detail" not in r.text and "Traceback" not in r.text


def test_signed_out_page_visit_redirects_to_login_and_back(web: WebEnv) -> None:
    r = web.client.get("/team")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/team"
    for nxt, expect in (
        ("/team/rounds/1/appeal", "/team/rounds/1/appeal"),
        ("//evil.example", "/team"),
        ("https://evil.example/", "/team"),
    ):
        web.client.cookies.clear()  # each attempt starts signed out
        token = _login_form(web)
        r = web.client.post(
            "/login",
            data={"username": "gyeol", "password": PASSWORD, "csrf_token": token, "next": nxt},
        )
        assert r.headers["location"] == expect


def test_logout_ends_the_session(web: WebEnv) -> None:
    session = web.session_for("gyeol")
    assert web.client.get("/team", headers=web.cookie(session)).status_code == 200
    r = web.client.post(
        "/logout", data={"csrf_token": web.form_token(session)}, headers=web.cookie(session)
    )
    assert r.status_code == 303
    assert web.client.get("/team", headers=web.cookie(session)).status_code == 303  # to login


def test_nul_bytes_in_forms_are_refused(web: WebEnv) -> None:
    session = web.session_for("minister")
    r = web.client.post(
        "/admin/programmes",
        data={"name": "bad\x00name", "csrf_token": web.form_token(session)},
        headers=web.cookie(session),
    )
    assert r.status_code == 400 and "NUL" in r.text


def test_signed_in_user_can_switch_accounts(web: WebEnv) -> None:
    session = web.session_for("gyeol")
    form = web.client.get("/login", headers=web.cookie(session)).text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', form)
    assert token is not None and token.group(1) == web.form_token(session)
    r = web.client.post(
        "/login",
        data={"username": "minister", "password": PASSWORD, "csrf_token": token.group(1)},
        headers=web.cookie(session),
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin"


def test_health_and_readiness(web: WebEnv) -> None:
    assert web.client.get("/healthz").status_code == 200
    r = web.client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_readiness_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sovereval.settings import Settings
    from sovereval.store.db import Store
    from sovereval.web.app import create_app

    db = tmp_path / "empty.db"
    store = Store(f"sqlite:///{db}", migrate=False)  # the schema was never created
    app = create_app(
        Settings.from_env(db_url=str(db), data_dir=tmp_path), store=store, migrate=False
    )
    with TestClient(app) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "migrating"
        assert client.get("/healthz").status_code == 200  # alive, just not ready
    store.dispose()
