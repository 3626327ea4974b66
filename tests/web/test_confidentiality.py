"""The hard rules: teams see only their own confidential data, experts only their assignments,
panelists no identities before voting, and the public nothing unpublished."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.competition.scoring import Measurement
from sovereval.store.web_models import User
from sovereval.web import policy
from sovereval.web import users_service as users
from tests.web.conftest import PROGRAMME, WebEnv

PUBLIC_PAGES = (
    "/",
    "/programmes/{p}",
    "/programmes/{p}/leaderboard",
    "/programmes/{p}/rounds/1",
    "/programmes/{p}/rounds/1/rules",
    "/programmes/{p}/rounds/2/rules",
    "/programmes/{p}/report",
    "/ledger",
    "/api/v1/programmes",
    "/api/v1/programmes/{p}/leaderboard",
    "/api/v1/programmes/{p}/rounds/1/rules",
    "/api/v1/ledger/head",
)


def _public_text(web: WebEnv, pid: int) -> str:
    out = []
    for path in PUBLIC_PAGES:
        r = web.client.get(path.format(p=pid))
        assert r.status_code == 200, path
        out.append(r.text)
    return "\n".join(out)


def _round2_submissions(web: WebEnv) -> dict[str, int]:
    """Round 2 is planned: register two submissions and record raw (unpublished) results."""
    ids = {}
    with web.store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rnd = svc.get_round(s, prog, 2)
        rnd.opens_at = web.clock()  # submissions are accepted only inside the round's dates
        svc.open_round(s, rnd, actor="a", now=web.clock())
        for team, model, value in (
            ("Gyeol Consortium", "Gyeol-40B-secret", 0.6173),
            ("Hanbit AI", "Hanbit-70B-secret", 0.8291),
        ):
            c = svc.get_consortium(s, prog, team)
            sub = svc.register_submission(
                s,
                rnd,
                c,
                model,
                artefact="s3://x",
                components=[],
                files=[],
                actor=team,
                now=web.clock(),
            )
            svc.record_result(
                s,
                sub,
                "common",
                Measurement(value, value - 0.01, value + 0.01),
                actor="agency",
                now=web.clock(),
            )
            ids[team] = sub.id
    return ids


def test_team_sees_own_raw_results_and_never_another_teams(web: WebEnv) -> None:
    ids = _round2_submissions(web)
    gyeol = web.cookie(web.session_for("gyeol"))
    own = web.client.get(f"/team/submissions/{ids['Gyeol Consortium']}", headers=gyeol)
    assert own.status_code == 200
    assert "Gyeol-40B-secret" in own.text and "0.617" in own.text  # raw value, 3 decimals
    for url in (
        f"/team/submissions/{ids['Hanbit AI']}",
        f"/api/v1/submissions/{ids['Hanbit AI']}",
        f"/team/submissions/{web.ids['Hanbit AI']}",
    ):
        r = web.client.get(url, headers=gyeol)
        # The same answer as for an id that does not exist: nothing about the other team leaks.
        assert r.status_code == 404, url
        assert "Hanbit-70B-secret" not in r.text and "0.829" not in r.text
    missing = web.client.get("/api/v1/submissions/999999", headers=gyeol)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no submission with id 999999"
    listing = web.client.get("/api/v1/team/submissions", headers=gyeol).json()
    assert {x["model"] for x in listing} == {"Gyeol-22B", "Gyeol-40B-secret"}
    dashboard = web.client.get("/team", headers=gyeol).text
    assert "Hanbit" not in dashboard
    # ... and the public sees neither team's unpublished round-2 work.
    public = _public_text(web, web.ids["programme"])
    assert "secret" not in public and "0.829" not in public and "0.617" not in public


def test_team_sees_its_appeal_and_not_anothers(web: WebEnv) -> None:
    appeal_text = "Two items of the common set were graded against a wrong answer key."
    own = web.client.get("/team", headers=web.cookie(web.session_for("gyeol")))
    assert appeal_text in own.text
    other = web.client.get("/team", headers=web.cookie(web.session_for("hanbit")))
    assert other.status_code == 200 and appeal_text not in other.text
    other_form = web.client.get(
        "/team/rounds/1/appeal", headers=web.cookie(web.session_for("hanbit"))
    )
    assert appeal_text not in other_form.text
    assert appeal_text not in _public_text(web, web.ids["programme"])


def test_expert_sees_only_assigned_submissions(web: WebEnv) -> None:
    expert = web.cookie(web.session_for("expert1"))
    sub_a, sub_b = web.ids["Gyeol Consortium"], web.ids["Hanbit AI"]
    with web.store.session() as s:
        user = users.get_user(s, "expert1")
        assert policy.expert_can_see(s, user, sub_a) is False  # no assignment yet
    assert web.client.get(f"/expert/submissions/{sub_a}", headers=expert).status_code == 404
    # One assignment for this expert (and one for somebody else) in the review slice's table.
    with web.store.session() as s:
        if inspect(s.get_bind()).has_table("review_assignments"):
            s.execute(
                text(
                    "INSERT INTO review_assignments "
                    "(round_id, submission_id, expert, probability, seed, created_at) VALUES "
                    "(:r, :sid, 'Expert A', 0.5, 1, '2026-01-18 09:00:00'), "
                    "(:r, :other, 'Expert B', 0.5, 1, '2026-01-18 09:00:00')"
                ),
                {"r": web.ids["round1"], "sid": sub_a, "other": sub_b},
            )
        else:  # before the review slice's migration: the minimal contract
            s.execute(text("CREATE TABLE review_assignments (submission_id INTEGER, expert TEXT)"))
            s.execute(
                text(
                    "INSERT INTO review_assignments VALUES (:sid, 'Expert A'), (:other, 'Expert B')"
                ),
                {"sid": sub_a, "other": sub_b},
            )
    with web.store.session() as s:
        user = users.get_user(s, "expert1")
        assert policy.expert_can_see(s, user, sub_a) is True
        assert policy.expert_can_see(s, user, sub_b) is False
    assert web.client.get(f"/expert/submissions/{sub_a}", headers=expert).status_code == 200
    # Experts read submissions only through the (blind) review packet, never the general API,
    # which names the team and the model.
    assert web.client.get(f"/api/v1/submissions/{sub_a}", headers=expert).status_code in (403, 404)
    for url in (f"/expert/submissions/{sub_b}", f"/api/v1/submissions/{sub_b}"):
        assert web.client.get(url, headers=expert).status_code in (403, 404)
    home = web.client.get("/expert", headers=expert).text
    assert f"/expert/submissions/{sub_a}" in home and f"/expert/submissions/{sub_b}" not in home
    assert "Gyeol-22B" not in home and "Hanbit-32B" not in home  # blind review


def test_expert_check_fails_closed_without_an_assignment_table() -> None:
    with Session(create_engine("sqlite://")) as s:
        expert = User(username="e", role="expert", expert_name="Expert A", password_hash="x")
        assert policy.expert_can_see(s, expert, 1) is False
        team = User(username="t", role="team", consortium_id=1, password_hash="x")
        assert policy.expert_can_see(s, team, 1) is False


def test_panelist_never_sees_model_identities_before_voting(web: WebEnv) -> None:
    page = web.client.get("/arena", headers=web.cookie(web.session_for("panel1")))
    assert page.status_code == 200
    for model in ("Hanbit-32B", "Gyeol-22B", "Nuri-VL-30B"):
        assert model not in page.text
    with web.store.session() as s:
        panelist = users.get_user(s, "panel1")
        admin = users.get_user(s, "minister")
    assert policy.panelist_can_see_identities(panelist, has_voted=False) is False
    assert policy.panelist_can_see_identities(panelist, has_voted=True) is True
    assert policy.panelist_can_see_identities(admin, has_voted=True) is False


def test_public_never_sees_drafts_or_unpublished_scorecards(web: WebEnv) -> None:
    with web.store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        draft = svc.create_ruleset(
            s, prog, default_ruleset("draft-rules"), actor="a", now=web.clock()
        )
        draft_hash = draft.content_hash  # (a round cannot be created on a draft rule set)
        # A second programme whose round is scored but not published.
        p2 = svc.create_programme(s, "Hidden", "", actor="a", now=web.clock())
        rules = svc.create_ruleset(s, p2, default_ruleset("p2"), actor="a", now=web.clock())
        svc.publish_ruleset(s, rules, actor="a", now=web.clock())
        rnd = svc.create_round(
            s,
            p2,
            1,
            opens_at=web.clock(),
            closes_at=web.clock() + timedelta(days=1),
            advance_slots=1,
            ruleset=rules,
            actor="a",
            now=web.clock(),
        )
        svc.open_round(s, rnd, actor="a", now=web.clock())
        for name, v in (("Alpha", 0.4321), ("Beta", 0.8765)):
            c = svc.add_consortium(s, p2, name, name, [], actor="a", now=web.clock())
            sub = svc.register_submission(
                s,
                rnd,
                c,
                f"{name}-unpublished-model",
                artefact="x",
                components=[],
                files=[],
                actor="a",
                now=web.clock(),
            )
            for part in ("government", "common", "team", "user"):
                svc.record_result(
                    s, sub, part, Measurement(v, v - 0.01, v + 0.01), actor="a", now=web.clock()
                )
            svc.record_result(
                s,
                sub,
                "team",
                Measurement(0.9, 0.89, 0.91),
                subject="target",
                actor="a",
                now=web.clock(),
            )
            svc.record_result(
                s, sub, "expert", Measurement(6.0, 5.5, 6.5), actor="a", now=web.clock()
            )
        svc.close_round(s, rnd, actor="a", now=web.clock())
        rs.compute_scorecard(s, rnd, actor="a", now=web.clock())
        p2_id, round2_id = p2.id, rnd.id
    pid = web.ids["programme"]
    rules1 = web.client.get(f"/programmes/{pid}/rounds/1/rules")
    assert rules1.status_code == 200 and draft_hash not in rules1.text
    api_rules = web.client.get(f"/api/v1/programmes/{pid}/rounds/1/rules").json()
    assert draft_hash not in str(api_rules)
    assert draft_hash not in _public_text(web, pid)
    assert draft_hash not in web.client.get(f"/programmes/{pid}/report").text
    # Unpublished scorecard: invisible on every public surface.
    lb = web.client.get(f"/programmes/{p2_id}/leaderboard")
    assert lb.status_code == 200 and "No results have been published yet" in lb.text
    assert web.client.get(f"/api/v1/programmes/{p2_id}/leaderboard").status_code == 404
    assert web.client.get(f"/api/v1/programmes/{p2_id}/rounds/1/results").status_code == 404
    for path in (
        f"/programmes/{p2_id}",
        f"/programmes/{p2_id}/rounds/1",
        f"/programmes/{p2_id}/report",
    ):
        body = web.client.get(path).text
        assert "unpublished-model" not in body and "0.876" not in body, path
    # Staff do see it.
    staff = {"authorization": f"Bearer {web.bearer('evaluator1')}"}
    draft_card = web.client.get(f"/api/v1/rounds/{round2_id}/scorecard", headers=staff)
    assert draft_card.status_code == 200 and draft_card.json()["published"] is False


def test_every_write_lands_in_the_ledger(web: WebEnv) -> None:
    """A web write goes through the service layer: one more ledger event, naming the actor."""
    before = web.client.get("/api/v1/ledger/head").json()["events"]
    token = web.bearer("evaluator1")  # issuing the token is itself an event
    r = web.client.post(
        f"/api/v1/rounds/{web.ids['round2']}/scorecard",
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422  # round 2 has no submissions: refused by the rules, not a 500
    # opening round 2 + 2 registrations + 2 results = 5 events
    sub = _round2_submissions(web)["Gyeol Consortium"]
    r = web.client.post(
        f"/api/v1/submissions/{sub}/results",
        json={"part": "government", "value": 0.5, "lo": 0.45, "hi": 0.55, "source": "run 7"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    after = web.client.get("/api/v1/ledger/head").json()["events"]
    assert after == before + 1 + 5 + 1
    with web.store.session() as s:
        from sovereval.store.models import LedgerEvent

        last = s.get(LedgerEvent, after)
        assert last is not None and last.actor == "evaluator1" and last.kind == "result.recorded"
