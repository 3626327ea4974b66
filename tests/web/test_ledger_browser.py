"""The ledger page's JavaScript verifier (Web Crypto SHA-256, RFC 8785 in JavaScript) agrees
with ``sovereval audit verify-file`` on the real export of the sample competition, and both
catch the same edited event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sovereval.cli.audit import app as audit_app
from sovereval.ledger.chain import to_jsonl
from sovereval.ledger.log import iter_events
from tests.web.conftest import WebEnv
from tests.web.test_browser import _page, _unexpected, browser, live  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cli(path: Path, head: str | None = None) -> dict[str, Any]:
    args = ["verify-file", str(path), "--json"] + (["--head", head] if head else [])
    res = CliRunner().invoke(audit_app, args)
    return dict(json.loads(res.stdout))


def _js(page: Any, path: Path) -> dict[str, Any]:
    page.set_input_files("#ledger-file", str(path))
    page.wait_for_function("document.getElementById('ledger-file-result').dataset.ok")
    el = page.locator("#ledger-file-result")
    return {
        "ok": el.get_attribute("data-ok") == "true",
        "events": int(el.get_attribute("data-count") or -1),
        "head": el.get_attribute("data-head"),
        "text": el.inner_text(),
    }


def test_browser_verifier_agrees_with_verify_file(
    live: tuple[WebEnv, str],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    env, base = live
    with env.store.session() as s:
        lines = list(to_jsonl(iter_events(s)))
    assert len(lines) > 50  # the sample competition's real ledger
    good = tmp_path / "ledger.jsonl"
    good.write_text("".join(lines), encoding="utf-8")
    # Edit one event's payload (a score) without touching its hash.
    k = next(i for i, ln in enumerate(lines) if '\\"round\\":1' in ln and i > 10)
    ev = json.loads(lines[k])
    ev["payload"] = ev["payload"].replace('"round":1', '"round":2', 1)
    assert ev["payload"] != json.loads(lines[k])["payload"]
    bad = tmp_path / "edited.jsonl"
    bad.write_text(
        "".join([*lines[:k], json.dumps(ev, ensure_ascii=False) + "\n", *lines[k + 1 :]])
    )

    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(f"{base}/ledger")
    head = page.locator("#ledger-head").inner_text().strip()

    cli_good, js_good = _cli(good, head), _js(page, good)
    assert cli_good["ok"] and js_good["ok"], js_good["text"]
    assert js_good["events"] == cli_good["events"] == len(lines)
    assert js_good["head"] == cli_good["head"] == head

    page.goto(f"{base}/ledger")
    cli_bad, js_bad = _cli(bad, head), _js(page, bad)
    assert not cli_bad["ok"] and not js_bad["ok"]
    assert cli_bad["first_bad_seq"] == ev["seq"]
    assert cli_bad["problem"] in js_bad["text"]  # the same message: same event, same reason
    assert _unexpected(errors) == []
