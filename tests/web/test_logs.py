"""Structured logs: one JSON object per line, request fields on access lines."""

from __future__ import annotations

import json
import logging

from sovereval.web.logs import JsonFormatter, log_config


def test_access_line_becomes_json_with_request_fields() -> None:
    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/readyz", "1.1", 200),
        None,
    )
    out = json.loads(JsonFormatter().format(rec))
    assert (out["level"], out["method"], out["path"], out["status"]) == (
        "info",
        "GET",
        "/readyz",
        200,
    )
    assert out["message"] == '127.0.0.1:5000 - "GET /readyz HTTP/1.1" 200'


def test_config_selects_formatter() -> None:
    assert log_config("json", "info")["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert "format" in log_config("text", "warning")["formatters"]["default"]
