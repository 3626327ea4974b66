"""Schema fuzzing of the arena and review APIs as the roles that use them: no input makes a 500.

``test_schemathesis.py`` fuzzes every operation signed out and as an admin, which these
endpoints refuse before reading any input; here a panelist (with an open round, battles and
votes to hit) and an assigned expert send the generated requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from sovereval.web.panel_runtime import close_runtime  # noqa: E402
from tests.web.conftest import WebEnv, make_env  # noqa: E402
from tests.web.test_panel import arena_round, ready, start, vote  # noqa: E402
from tests.web.test_review import review_setup  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env: WebEnv = make_env(demo_db, tmp_path_factory.mktemp("fuzz-panel"))
    rv = review_setup(env)
    a = arena_round(env)
    b = ready(a, start(a, "fuzz target")["id"])
    ready(a, start(a, "second")["id"])
    assert vote(a, b["id"]).status_code == 201
    yield {
        "env": env,
        "schema": schemathesis.openapi.from_asgi("/openapi.json", env.app),
        "panelist": a.tokens["panel1"],
        "expert": rv.env.bearer("expert1"),
    }
    close_runtime(env.app)
    env.client.close()
    env.store.dispose()


OPS = [
    ("GET /api/v1/arena/rounds", "panelist"),
    ("POST /api/v1/arena/rounds/{round_id}/battles", "panelist"),
    ("GET /api/v1/arena/battles/{battle_id}", "panelist"),
    ("POST /api/v1/arena/battles/{battle_id}/vote", "panelist"),
    ("POST /api/v1/arena/battles/{battle_id}/retry", "panelist"),
    ("GET /api/v1/review/assignments", "expert"),
    ("GET /api/v1/review/submissions/{submission_id}", "expert"),
    ("PUT /api/v1/review/submissions/{submission_id}/draft", "expert"),
    ("POST /api/v1/review/submissions/{submission_id}/submit", "expert"),
    ("POST /api/v1/review/submissions/{submission_id}/edits", "expert"),
]


@pytest.mark.parametrize(("label", "role"), OPS)
def test_role_api_never_answers_500(label: str, role: str, fuzz: dict[str, Any]) -> None:
    op = fuzz["schema"].find_operation_by_label(label)
    seen: list[int] = []

    @given(case=op.as_strategy())
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {fuzz[role]}"})
        seen.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"status", "type", "message"}

    run()
    assert seen, "no request was generated"
