"""Anonymity of blind battles: before the vote, no model name, team name, roster alias,
endpoint or endpoint host reaches a panelist, on any page or API answer.

The models sit behind realistic endpoints (OpenAI-compatible servers on named hosts); the
answer runner's backend opener is replaced by the deterministic mock so no network is used,
while the endpoints stored in the roster (and everything derived from them) are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from sovereval.bench.backends.mock import MockBackend
from sovereval.web.panel_answers import AnswerRunner
from sovereval.web.panel_runtime import close_runtime, runtime_of_app
from tests.web.conftest import WebEnv
from tests.web.test_panel import ARENA_TEAMS, Arena, arena_round, ready, start, vote

ENDPOINTS = [
    "openai-compat:http://hanbit-serve.internal:8001/v1#hanbit-32b-chat",
    "openai-compat:http://10.20.30.41:8000/v1#gyeol-22b-chat",
    "openai-compat:http://daedong-gpu-7.example.net:9000/v1#daedong-omni",
]


@pytest.fixture
def anon(web: WebEnv) -> Iterator[Arena]:
    a = arena_round(web, endpoints=ENDPOINTS)
    rt = runtime_of_app(web.app)
    # Answers from a mock named after nothing in the roster: only the transport is faked.
    rt.answers = AnswerRunner(rt.ctx, opener=lambda uri: MockBackend("neutral"))
    yield a
    close_runtime(web.app)


def _secrets(a: Arena) -> list[str]:
    out = list(ARENA_TEAMS) + list(ARENA_TEAMS.values()) + a.aliases + list(a.endpoints)
    for ep in a.endpoints:
        url = ep.split(":", 1)[1]
        host = urlsplit(url).hostname
        assert host
        out += [host, url, ep.rsplit("#", 1)[1]]
    return out


def _raw(a: Arena, battle_id: int) -> dict[str, str]:
    c, h = a.env.client, a.api()
    page_headers = {**h, "accept": "text/html"}
    return {
        "home": c.get("/arena", headers=page_headers).text,
        "page": c.get(f"/arena/battles/{battle_id}", headers=page_headers).text,
        "panel": c.get(f"/arena/battles/{battle_id}/panel", headers=page_headers).text,
        "api": c.get(f"/api/v1/arena/battles/{battle_id}", headers=h).text,
        "rounds": c.get("/api/v1/arena/rounds", headers=h).text,
    }


def _leaks(texts: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(where, x) for where, t in texts.items() for x in secrets if x.lower() in t.lower()]


def test_nothing_identifies_a_model_before_the_vote(anon: Arena) -> None:
    secrets = _secrets(anon)
    assert len(secrets) == 3 + 3 + 3 + 3 + 9  # teams, models, aliases, endpoints, host/url/name
    b = start(anon, "Which of you is better at Korean poetry?")
    pending = _raw(anon, b["id"])  # may still be generating: the progress state
    b = ready(anon, b["id"])
    assert b["status"] == "ready" and b["answers"]["A"]
    shown = _raw(anon, b["id"])
    assert "Answer A" in shown["page"] and "Answer B" in shown["page"]
    assert _leaks(pending, secrets) == [] and _leaks(shown, secrets) == []
    r = vote(anon, b["id"])
    assert r.status_code == 201
    after = _raw(anon, b["id"])
    # After the vote the two models that fought are named on the page and in the API...
    revealed = [r.json()["revealed"][s]["model"] for s in ("A", "B")]
    for model in revealed:
        assert model in after["page"] and model in after["api"]
    # ...but still never the endpoints or their hosts.
    hosts = [x for x in secrets if "." in x or "/" in x]
    assert _leaks(after, hosts) == []
