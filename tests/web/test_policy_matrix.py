"""Every route of the app against every role, from the app's own route list: no gaps.

For each route the policy table must have a rule; for each (route, role) pair the request is
made with that role's credentials and the answer must match the rule: refused (401, 403, or a
redirect to the login form for a signed-out page visit) when the role is not listed, and not
refused when it is. Subject rules are checked too: an expert with no assignment gets 404 on
every submission route.
"""

from __future__ import annotations

import re

import pytest

from sovereval.web.app import iter_routes
from sovereval.web.policy import POLICY, ROLES
from tests.web.conftest import WebEnv

NON_API = {"static", "openapi"}  # not APIRoutes: no dependency can run, so they must be public


def _params(env: WebEnv) -> dict[str, int]:
    return {
        "programme_id": env.ids["programme"],
        "number": 1,
        "round_id": env.ids["round1"],
        "ruleset_id": env.ids["ruleset"],
        "submission_id": env.ids["Gyeol Consortium"],  # the team user's own submission
        "appeal_id": 1,
        "call_id": 1,
        "user_id": env.ids["user_gyeol"],
        "battle_id": 1,
        "token_id": 1,
        "code": "ko",
    }


def _url(path: str, params: dict[str, int]) -> str:
    if path.startswith("/static"):
        return "/static/style.css"
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(params[m.group(1)]), path)


def test_every_route_has_exactly_one_rule(web: WebEnv) -> None:
    routes = iter_routes(web.app)
    names = [n for n, _p, _m in routes]
    assert len(names) == len(set(names)), "route names must be unique (they key the policy)"
    assert set(names) == set(POLICY), (
        f"routes without a rule: {set(names) - set(POLICY)}; rules without a route: "
        f"{set(POLICY) - set(names)}"
    )
    # 91 = 15 public pages + 7 team + 5 expert + 6 panel + 29 organiser + 27 API + openapi + static
    assert len(names) == 91
    for name in NON_API:
        assert POLICY[name].roles == frozenset(ROLES)


def test_unknown_route_name_fails_closed(web: WebEnv) -> None:
    """A route added without a rule is refused for everyone, even the admin."""
    web.app.add_api_route("/unlisted", lambda: {"ok": True}, name="unlisted")
    token = web.session_for("minister")
    assert web.client.get("/unlisted", headers=web.cookie(token)).status_code == 403
    assert web.client.get("/unlisted").status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_role_against_every_route(web: WebEnv, role: str, usernames: dict[str, str]) -> None:
    params = _params(web)
    # A signed-out visitor carries the anonymous CSRF cookie the login form would have set.
    headers = {"cookie": "sov_csrf=matrix-anon"}
    form = {"csrf_token": web.form_token("matrix-anon")}
    headers["x-csrf-token"] = form["csrf_token"]
    if role != "public":
        token = web.session_for(usernames[role])
        headers = web.cookie(token)
        form = {"csrf_token": web.form_token(token)}
        headers["x-csrf-token"] = form["csrf_token"]
    checked = 0
    # Sign-out last: it ends the session the other requests use.
    for name, path, methods in sorted(iter_routes(web.app), key=lambda r: r[0] == "logout"):
        rule = POLICY[name]
        url = _url(path, params)
        for method in sorted(methods - {"HEAD"}) or ["GET"]:
            if method == "GET":
                r = web.client.get(url, headers=headers)
            else:
                r = web.client.request(method, url, headers=headers, data=form)
            checked += 1
            where = f"{role} {method} {url} ({name}) -> {r.status_code}"
            assert r.status_code < 500, where
            if role not in rule.roles:
                if role == "public":
                    signed_out = r.status_code == 401 or (
                        r.status_code == 303 and r.headers["location"].startswith("/login")
                    )
                    assert signed_out, where
                else:
                    assert r.status_code == 403, where
            elif rule.subject == "submission" and role == "expert":
                # No assignment exists for this expert, so every submission is invisible.
                assert r.status_code == 404, where
            else:
                assert r.status_code not in (401, 403), where
    assert checked >= 91
