"""Property-based fuzzing of the JSON API from its own OpenAPI schema: no input makes a 500.

Runs every operation signed out and with an admin's bearer token (writes included, on a
throwaway copy of the sample competition).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, settings  # noqa: E402

from tests.web.conftest import WebEnv, make_env  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_env(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    env = make_env(demo_db, tmp_path_factory.mktemp("fuzz"))
    yield env
    env.client.close()
    env.store.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_env: WebEnv) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.app)


@pytest.fixture(scope="module")
def admin_token(fuzz_env: WebEnv) -> str:
    return fuzz_env.bearer("minister")


def _labels() -> list[str]:
    """Operation labels from the schema of a throwaway app (parametrises the test by operation)."""
    import tempfile

    from sovereval.settings import Settings
    from sovereval.web.app import create_app

    with tempfile.TemporaryDirectory() as d:
        app = create_app(Settings(db_url=f"sqlite:///{d}/schema.db"))
        labels = [
            r.ok().label
            for r in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations()
        ]
        app.state.ctx.store.dispose()
    return labels


@pytest.mark.parametrize("label", _labels())
def test_api_never_answers_500(label: str, api_schema: Any, admin_token: str) -> None:
    from hypothesis import given

    op = api_schema.find_operation_by_label(label)
    seen: list[int] = []

    @given(case=op.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        for headers in ({}, {"Authorization": f"Bearer {admin_token}"}):
            response = case.call(headers=headers)
            seen.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )
            if response.status_code >= 400:  # every error is the documented JSON shape
                body = response.json()
                assert set(body["error"]) == {"status", "type", "message"}

    fuzz()
    assert seen, "no request was generated"
