"""Pages and API answers for the main journeys, through the app (no browser)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from sovereval.competition import service as svc
from sovereval.ledger.log import head_hash
from sovereval.settings import Settings
from sovereval.store.db import Store
from sovereval.web import users_service as users
from sovereval.web.app import create_app
from tests.web.conftest import DEADLINE, PROGRAMME, WebEnv
from tests.web.sample import PUBLISHED, build


def test_leaderboard_shows_intervals_rank_bounds_and_reasons(web: WebEnv) -> None:
    pid = web.ids["programme"]
    html = web.client.get(f"/programmes/{pid}/leaderboard").text
    data = web.client.get(f"/api/v1/programmes/{pid}/leaderboard").json()
    teams = data["teams"]
    assert [t["rank"] for t in teams] == [1, 2, 3, 4, 5]
    decisions = {t["team"]: t["decision"] for t in teams}
    # Nuri's vision encoder failed the originality gate: disqualified whatever its points;
    # of the four eligible teams the lowest (Saebyeok) is eliminated (eliminate_lowest = 1).
    assert decisions["Nuri Systems"] == "disqualify"
    assert decisions["Saebyeok Research"] == "eliminate"
    assert [d for t, d in decisions.items() if d == "advance"] == ["advance"] * 3
    for t in teams:
        assert t["total_lo"] <= t["total"] <= t["total_hi"]
        if t["decision"] == "disqualify":  # out of the ranking: no plausible ranks shown
            assert t["rank_best"] is None and t["rank_worst"] is None
            assert "— (disqualified)" in html
            continue
        # four eligible teams: the worst plausible rank is at most 4
        assert t["rank_best"] == t["rank_upper"] <= t["rank"] <= t["rank_worst"] <= 4
        assert f"{t['rank_best']}–{t['rank_worst']}" in html
        assert f"{t['total']:.2f}" in html and f"[{t['total_lo']:.2f}, {t['total_hi']:.2f}]" in html
        assert t["reason"] and t["reason"].split(":")[0] in html
    # Hand check of the rank range for the leader: nobody is certainly ahead, so best = 1.
    assert teams[0]["rank_best"] == 1
    assert "Rules amended after this round opened" in html
    # Chart specs travel in data attributes (no inline script), as valid JSON.
    charts = re.findall(r"data-chart='([^']*)'", html)
    assert len(charts) == 2
    spec = json.loads(charts[0].replace("&#34;", '"').replace("&quot;", '"'))
    assert spec["layout"]["barmode"] == "stack"
    assert [d["name"] for d in spec["data"]] == ["benchmark", "expert", "user", "total [interval]"]


def test_anonymous_leaderboard_is_cached_per_scorecard_issue(web: WebEnv) -> None:
    pid = web.ids["programme"]
    a = web.client.get(f"/programmes/{pid}/leaderboard")
    b = web.client.get(f"/programmes/{pid}/leaderboard")
    assert a.content == b.content and a.headers["cache-control"] == "public, max-age=30"
    signed_in = web.client.get(
        f"/programmes/{pid}/leaderboard", headers=web.cookie(web.session_for("gyeol"))
    )
    assert signed_in.headers["cache-control"] == "private, no-store"
    assert "Sign out gyeol" in signed_in.text and "Sign out" not in a.text


def test_round_page_breaks_down_every_sub_part(web: WebEnv) -> None:
    pid = web.ids["programme"]
    html = web.client.get(f"/programmes/{pid}/rounds/1").text
    for key in ("government", "common", "team", "expert", "user"):
        assert f'<th class="num">{key}</th>' in html
    api = web.client.get(f"/api/v1/programmes/{pid}/rounds/1/results").json()
    parts = api["teams"][0]["parts"]
    assert [p["max_points"] for p in parts] == [10.0, 20.0, 10.0, 35.0, 25.0]  # 40/35/25


def test_rules_page_shows_the_diff_and_the_amendment(web: WebEnv) -> None:
    pid = web.ids["programme"]
    html = web.client.get(f"/programmes/{pid}/rounds/1/rules").text
    assert "amendment" in html and "expert review decides exact ties first" in html
    assert "advancement.tie_breaks" in html
    versions = web.client.get(f"/api/v1/programmes/{pid}/rounds/1/rules").json()
    assert [(v["version"], v["amendment"]) for v in versions] == [(1, False), (2, True)]
    assert versions[1]["changes"] == [
        {
            "path": "advancement.tie_breaks",
            "old": "['benchmark', 'expert', 'user']",
            "new": "['expert', 'benchmark', 'user']",
        }
    ]


def test_ledger_page_and_api_agree_with_the_store(web: WebEnv) -> None:
    with web.store.session() as s:
        _seq, head = head_hash(s)
    html = web.client.get("/ledger").text
    assert head in html and "The stored chain verifies" in html
    assert f"verify-file ledger.jsonl --head {head}" in html
    assert web.client.get("/api/v1/ledger/head").json()["head"] == head
    assert "result.recorded" in html and '"value"' not in html  # kinds, never payloads


def test_report_is_served_and_cached_by_ledger_head(web: WebEnv) -> None:
    pid = web.ids["programme"]
    a = web.client.get(f"/programmes/{pid}/report")
    assert a.status_code == 200 and "Transparency report" in a.text
    b = web.client.get(f"/programmes/{pid}/report")
    assert a.text == b.text  # same head, same cached page (generated_at unchanged)


def test_team_files_an_appeal_in_time_and_is_refused_late(web: WebEnv) -> None:
    web.clock.t = DEADLINE - timedelta(hours=1)
    session = web.session_for("gyeol")
    form = web.client.get("/team/rounds/1/appeal", headers=web.cookie(session)).text
    assert "2026-01-26 09:00 UTC" in form and "(open)" in form
    ok = web.client.post(
        "/team/rounds/1/appeal",
        data={
            "text": "The expert panel misread our report.",
            "csrf_token": web.form_token(session),
        },
        headers=web.cookie(session),
    )
    assert ok.status_code == 200 and "filed." in ok.text and "within the window" in ok.text
    web.clock.t = DEADLINE + timedelta(hours=3)
    session = web.session_for("gyeol")
    late = web.client.post(
        "/team/rounds/1/appeal",
        data={"text": "One more thing.", "csrf_token": web.form_token(session)},
        headers=web.cookie(session),
    )
    assert late.status_code == 422 and "Appeal refused." in late.text
    assert "late: the 10-day appeal window closed at 2026-01-26T09:00:00+00:00" in late.text
    # The API answers the same way, with the reason.
    token = web.bearer("gyeol")
    r = web.client.post(
        "/api/v1/team/rounds/1/appeals",
        json={"text": "Again."},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("late: the 10-day")
    # Both late filings are on record.
    listing = web.client.get("/team", headers=web.cookie(session)).text
    assert listing.count("rejected_late") == 2


def test_admin_publishes_then_amends_with_a_required_rationale(web: WebEnv) -> None:
    session = web.session_for("minister")
    h = web.cookie(session)
    tok = web.form_token(session)
    pid = web.ids["programme"]
    page = web.client.get(f"/admin/programmes/{pid}", headers=h).text
    rules = re.search(r'id="ruleset-json">(.*?)</textarea>', page, flags=re.S)
    assert rules is not None
    content = rules.group(1).replace("&#34;", '"').replace("&quot;", '"')
    r = web.client.post(
        f"/admin/programmes/{pid}/rulesets", data={"content": content, "csrf_token": tok}, headers=h
    )
    assert r.status_code == 303
    rid = int(r.headers["location"].split("/")[3].split("?")[0])
    assert (
        web.client.post(
            f"/admin/rulesets/{rid}/publish", data={"csrf_token": tok}, headers=h
        ).status_code
        == 303
    )
    r = web.client.post(
        f"/admin/programmes/{pid}/rounds",
        data={
            "number": 3,
            "name": "Phase 3",
            "ruleset_id": rid,
            "opens_at": "2026-03-01T09:00",
            "closes_at": "2026-06-01T09:00",
            "advance_slots": 2,
            "csrf_token": tok,
        },
        headers=h,
    )
    assert r.status_code == 303
    round_id = int(r.headers["location"].split("/")[3].split("?")[0])
    assert (
        web.client.post(
            f"/admin/rounds/{round_id}/open", data={"csrf_token": tok}, headers=h
        ).status_code
        == 303
    )
    amended = json.loads(content)
    amended["appeal_window_days"] = 14
    no_reason = web.client.post(
        f"/admin/rounds/{round_id}/amend",
        data={"content": json.dumps(amended), "rationale": "", "csrf_token": tok},
        headers=h,
    )
    assert no_reason.status_code == 422 and "needs a written rationale" in no_reason.text
    done = web.client.post(
        f"/admin/rounds/{round_id}/amend",
        data={
            "content": json.dumps(amended),
            "rationale": "Holiday week: two more days to appeal.",
            "csrf_token": tok,
        },
        headers=h,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("done=amended")
    public = web.client.get(f"/programmes/{pid}/rounds/3/rules").text
    assert "Changed after the round opened." in public and "Holiday week" in public
    assert "appeal_window_days" in public and ">10<" in public and ">14<" in public
    with web.store.session() as s:
        rnd = svc.get_round(s, svc.get_programme(s, PROGRAMME), 3)
        assert svc.get_ruleset(s, rnd.ruleset_id).is_amendment


def test_evaluator_cannot_publish_but_can_compute(web: WebEnv) -> None:
    session = web.session_for("evaluator1")
    h, tok = web.cookie(session), web.form_token(session)
    rid = web.ids["round1"]
    assert (
        web.client.post(
            f"/admin/rounds/{rid}/scorecard", data={"csrf_token": tok}, headers=h
        ).status_code
        == 303
    )
    assert (
        web.client.post(
            f"/admin/rounds/{rid}/publish", data={"csrf_token": tok}, headers=h
        ).status_code
        == 403
    )
    page = web.client.get(f"/admin/rounds/{rid}", headers=h).text
    assert "Issue 2" in page and "not published" in page  # the new issue waits for the admin


def test_admin_issues_an_api_token_shown_once(web: WebEnv) -> None:
    session = web.session_for("minister")
    r = web.client.post(
        f"/admin/users/{web.ids['user_gyeol']}/tokens",
        data={"name": "ci", "csrf_token": web.form_token(session)},
        headers=web.cookie(session),
    )
    # post/redirect/get: the token is shown by the GET the redirect leads to, once
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/users?shown=")
    shown = web.client.get(r.headers["location"], headers=web.cookie(session))
    token = re.search(r'id="new-token">(sov_[^<]+)<', shown.text)
    assert token is not None
    reload = web.client.get(r.headers["location"], headers=web.cookie(session)).text
    assert token.group(1) not in reload
    me = web.client.get("/api/v1/me", headers={"authorization": f"Bearer {token.group(1)}"}).json()
    assert me["username"] == "gyeol" and me["role"] == "team"
    again = web.client.get("/admin/users", headers=web.cookie(session)).text
    assert token.group(1) not in again and token.group(1)[:10] in again


def test_the_app_on_sqlite_and_postgresql(store: Store, tmp_path: Path) -> None:
    """The same read and write paths on both databases (the `store` fixture runs twice)."""
    from sovereval.competition.scoring import Measurement

    build(store)
    at = PUBLISHED + timedelta(days=2)  # after the sample's last event; ledger times move forward
    with store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rnd = svc.get_round(s, prog, 2)
        rnd.opens_at = at  # submissions only inside the round's dates
        svc.open_round(s, rnd, actor="t", now=at)
        sub = svc.register_submission(
            s,
            rnd,
            svc.get_consortium(s, prog, "Hanbit AI"),
            "H-2",
            artefact="x",
            components=[],
            files=[],
            actor="t",
            now=at,
        )
        svc.record_result(s, sub, "common", Measurement(0.5, 0.4, 0.6), actor="t", now=at)
        u = users.create_user(s, "ev", "evaluator password", "evaluator", actor="t", now=at)
        _r, token = users.issue_token(s, u, "t", actor="t", now=at)
        pid, sid = prog.id, sub.id
    app = create_app(Settings(db_url=store.url, data_dir=tmp_path), store=store, clock=lambda: at)
    client = TestClient(app)
    lb = client.get(f"/api/v1/programmes/{pid}/leaderboard").json()
    assert lb["teams"][0]["team"] == "Hanbit AI"
    assert "Hanbit-32B" in client.get(f"/programmes/{pid}/leaderboard").text
    r = client.post(
        f"/api/v1/submissions/{sid}/results",
        json={"part": "common", "value": 0.55, "lo": 0.5, "hi": 0.6},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201 and r.json()["value"] == 0.55
    mine = client.get(f"/api/v1/submissions/{sid}", headers={"authorization": f"Bearer {token}"})
    assert [x["value"] for x in mine.json()["results"]] == [0.55]
    client.close()
