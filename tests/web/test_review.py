"""Expert review on the web: assigned work only, a blind evidence packet, the form (draft,
submit, edit with reason and history) and the deadline lock, through the API and the pages.

Round 1 of the sample closes 2026-01-01 09:00 UTC and the default review period is 14 days,
so the form locks after 2026-01-15 09:00 UTC; the tests move the app's clock around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from sovereval.competition import service as svc
from sovereval.review import service as review
from sovereval.store import evaluation_models as em
from tests.web.conftest import WebEnv
from tests.web.sample import PROGRAMME, PUBLISHED

# Ledger times only move forward, and the sample's events run to PUBLISHED + 1 day: the review
# round is taken to close after them (its row is moved in review_setup).
CLOSES = PUBLISHED + timedelta(days=1)
DEADLINE = CLOSES + timedelta(days=14)
REPORT = "Technical report: a decoder trained from a fresh initialisation on 3T tokens."
LOG = '{"step": 1000, "loss": 2.31}\n{"step": 2000, "loss": 2.05}\n'
KEYS = ("development_strategy", "technical_capability", "originality", "ripple_effects")


@dataclass
class Review:
    env: WebEnv
    assigned: int
    """Gyeol's submission: assigned to Expert A (user expert1)."""
    other: int
    """Hanbit's submission: assigned to Expert B only."""
    evidence: list[str]

    def api(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.env.bearer('expert1')}"}


def review_setup(env: WebEnv) -> Review:
    env.clock.t = CLOSES + timedelta(days=2)
    now = env.clock()
    with env.store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        rnd = svc.get_round(s, prog, 1)
        rnd.closes_at = CLOSES
        for name in ("Expert A", "Expert B"):
            review.register_expert(s, prog, name, {"affiliations": []}, actor="t", now=now)
        sub_a, sub_b = env.ids["Gyeol Consortium"], env.ids["Hanbit AI"]
        sub = svc.get_submission(s, sub_a)
        files = [
            review.upload_evidence(
                s, sub, "technical_report", "report.md", REPORT.encode(), actor="t", now=now
            ),
            review.upload_evidence(
                s, sub, "training_log", "train.jsonl", LOG.encode(), actor="t", now=now
            ),
        ]
        for sid, expert in ((sub_a, "Expert A"), (sub_b, "Expert B")):
            s.add(
                em.ReviewAssignment(
                    round_id=rnd.id,
                    submission_id=sid,
                    expert=expert,
                    probability=0.5,
                    seed=1,
                    created_at=now,
                )
            )
        keys = [f"evidence-{f.id}" for f in files]
    return Review(env, sub_a, sub_b, keys)


@pytest.fixture
def rv(web: WebEnv) -> Iterator[Review]:
    yield review_setup(web)


def full_scores(rv: Review, base: int = 7) -> list[dict[str, Any]]:
    return [
        {
            "criterion": k,
            "score": base,
            "justification": f"{k}: the report and the training logs support this score in detail.",
            "evidence": [rv.evidence[0]] if k == "originality" else [],
        }
        for k in KEYS
    ]


def test_expert_lists_only_assigned_work_and_blind(rv: Review) -> None:
    r = rv.env.client.get("/api/v1/review/assignments", headers=rv.api())
    assert r.status_code == 200
    rows = r.json()
    assert [x["submission"] for x in rows] == [rv.assigned]
    assert rows[0]["label"] == f"Submission #{rv.assigned}" and rows[0]["locked"] is False
    home = rv.env.client.get("/expert", headers=rv.api()).text
    assert f"/expert/submissions/{rv.assigned}" in home
    assert f"/expert/submissions/{rv.other}" not in home
    for name in ("Gyeol", "Hanbit", "22B", "32B"):  # blind: neither team nor model
        assert name not in home and name not in r.text


def test_evidence_packet_is_complete_and_blind(rv: Review) -> None:
    r = rv.env.client.get(f"/api/v1/review/submissions/{rv.assigned}", headers=rv.api())
    assert r.status_code == 200
    st = r.json()
    packet = st["packet"]
    assert packet["team"] is None and packet["model"] is None
    assert {f["kind"] for f in packet["files"]} == {"technical_report", "training_log"}
    assert {b["part"] for b in packet["benchmarks"]} == {"government", "common", "team"}
    assert set(packet["evidence_keys"]) == set(rv.evidence)
    assert [c["key"] for c in st["rubric"]["criteria"]] == list(KEYS)
    page = rv.env.client.get(f"/expert/submissions/{rv.assigned}", headers=rv.api()).text
    assert "fresh initialisation on 3T tokens" in page and '"loss": 2.05' in page.replace(
        "&#34;", '"'
    )
    assert "Gyeol Consortium" not in page and "Gyeol-22B" not in page


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "/draft", {"scores": []}),
        ("POST", "/submit", {"scores": []}),
        ("POST", "/edits", {"criterion": "originality", "score": 5, "reason": "r"}),
    ],
)
def test_unassigned_submission_is_404_through_the_api(
    rv: Review, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    answers = []
    for sid in (rv.other, 987_654):  # assigned to someone else / does not exist
        r = rv.env.client.request(
            method, f"/api/v1/review/submissions/{sid}{suffix}", json=body, headers=rv.api()
        )
        assert r.status_code == 404
        answers.append(r.json()["error"]["message"].replace(str(sid), "N"))
    assert answers[0] == answers[1]  # the two cases cannot be told apart
    with rv.env.store.session() as s:
        assert s.query(em.Review).count() == 0


def test_unassigned_submission_is_404_through_the_pages(rv: Review) -> None:
    token = rv.env.session_for("expert1")
    headers, csrf = rv.env.cookie(token), rv.env.form_token(token)
    for sid in (rv.other, 987_654):
        page = rv.env.client.get(f"/expert/submissions/{sid}", headers=headers)
        assert page.status_code == 404 and "Hanbit" not in page.text
        for action in ("review", "edit"):
            r = rv.env.client.post(
                f"/expert/submissions/{sid}/{action}",
                data={"csrf_token": csrf, "action": "draft", "score_originality": "5"},
                headers=headers,
            )
            assert r.status_code == 404


def test_draft_submit_edit_with_history_through_the_api(rv: Review) -> None:
    c, h, sid = rv.env.client, rv.api(), rv.assigned
    url = f"/api/v1/review/submissions/{sid}"
    d = c.put(f"{url}/draft", json={"scores": full_scores(rv)[:1]}, headers=h)
    assert d.status_code == 200 and d.json()["status"] == "draft"
    assert d.json()["scores"]["development_strategy"]["score"] == 7
    incomplete = c.post(f"{url}/submit", json={"scores": []}, headers=h)
    assert incomplete.status_code in (400, 422)
    assert "originality" in incomplete.json()["error"]["message"]  # the missing ones are named
    rv.env.clock.t += timedelta(hours=1)
    done = c.post(f"{url}/submit", json={"scores": full_scores(rv)}, headers=h)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted"
    no_reason = c.post(f"{url}/edits", json={"criterion": "originality", "score": 4}, headers=h)
    assert no_reason.status_code == 422  # a reason is required
    edit = {**full_scores(rv)[2], "score": 5, "reason": "Re-read the training log: a data gap."}
    e = c.post(f"{url}/edits", json=edit, headers=h)
    assert e.status_code == 201, e.text
    st = e.json()
    assert st["scores"]["originality"]["score"] == 5
    last = st["history"][-1]
    # who, when, why, before and after
    assert last["editor"] == "Expert A" and last["reason"].startswith("Re-read")
    assert last["before"]["score"] == 7 and last["after"]["score"] == 5
    assert last["stage"] == "submitted" and last["at"].startswith("2026-01-19T10:00")
    # one draft entry + three on submitting the full form (the first criterion is unchanged)
    # + one edit (7 -> 5)
    assert len(st["history"]) == 1 + 3 + 1
    page = c.get(f"/expert/submissions/{sid}", headers=h).text
    assert "Re-read the training log" in page and 'id="score-originality">5<' in page


def test_review_form_through_the_pages_keeps_typed_text_on_refusal(rv: Review) -> None:
    token = rv.env.session_for("expert1")
    headers, csrf = rv.env.cookie(token), rv.env.form_token(token)
    url = f"/expert/submissions/{rv.assigned}"
    fields: dict[str, Any] = {"csrf_token": csrf}
    for s in full_scores(rv, base=8):
        fields[f"score_{s['criterion']}"] = str(s["score"])
        fields[f"justification_{s['criterion']}"] = s["justification"]
    fields["justification_ripple_effects"] = "Too short."
    r = rv.env.client.post(f"{url}/review", data={**fields, "action": "submit"}, headers=headers)
    assert r.status_code in (400, 422)
    assert "Not saved." in r.text and "ripple_effects" in r.text
    assert "Too short." in r.text  # what the expert typed is still in the form
    fields["justification_ripple_effects"] = full_scores(rv)[3]["justification"]
    fields["evidence_originality"] = rv.evidence[0]
    draft = rv.env.client.post(f"{url}/review", data={**fields, "action": "draft"}, headers=headers)
    assert draft.status_code == 303 and draft.headers["location"].endswith("done=draft")
    sub = rv.env.client.post(f"{url}/review", data={**fields, "action": "submit"}, headers=headers)
    assert sub.status_code == 303
    page = rv.env.client.get(sub.headers["location"], headers=headers).text
    assert "Review submitted." in page and 'id="review-status">submitted<' in page
    e = rv.env.client.post(
        f"{url}/edit",
        data={
            "csrf_token": csrf,
            "criterion": "technical_capability",
            "score": "6",
            "justification": fields["justification_technical_capability"],
            "reason": "Benchmarks below the declared target on two tasks.",
        },
        headers=headers,
    )
    assert e.status_code == 303
    page = rv.env.client.get(e.headers["location"], headers=headers).text
    assert (
        "Benchmarks below the declared target" in page
        and 'id="score-technical_capability">6<' in page
    )


def test_form_locks_after_the_deadline(rv: Review) -> None:
    c, h, url = rv.env.client, rv.api(), f"/api/v1/review/submissions/{rv.assigned}"
    assert c.put(f"{url}/draft", json={"scores": full_scores(rv)[:2]}, headers=h).status_code == 200
    rv.env.clock.t = DEADLINE  # the deadline instant itself is still open
    assert c.put(f"{url}/draft", json={"scores": full_scores(rv)[:3]}, headers=h).status_code == 200
    rv.env.clock.t = DEADLINE + timedelta(seconds=1)
    late = c.post(f"{url}/submit", json={"scores": full_scores(rv)}, headers=h)
    assert late.status_code == 422 and late.json()["error"]["type"] == "DeadlinePassedError"
    assert "has passed; the form is locked" in late.json()["error"]["message"]
    st = c.get(url, headers=h).json()
    assert st["locked"] is True and st["status"] == "draft" and len(st["scores"]) == 3
    page = c.get(f"/expert/submissions/{rv.assigned}", headers=h).text
    assert 'id="review-locked"' in page and "2026-01-31T09:00 UTC has passed" in page
    assert "<fieldset disabled>" in page
