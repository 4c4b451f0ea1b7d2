"""Every answer carries a request id (the caller's, when sane), and the log lines written while it ran —
the access line among them — are JSON objects carrying it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.logs import JsonFormatter, RequestIdFilter, log_config


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("fieldvisit.access")
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)  # setLevel, not .level =: it clears the logger's cached verdicts
    try:
        yield stream
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_has_an_id_in_the_answer_and_in_its_log_line(
    client: TestClient, lines: io.StringIO
) -> None:
    mine = client.get("/api/health/live", headers={"X-Request-ID": "phone-42.retry-3"})
    assert mine.headers["x-request-id"] == "phone-42.retry-3"
    fresh = client.get("/api/v1/visits/not-a-uuid")  # refused before any endpoint runs: still an id
    generated = fresh.headers["x-request-id"]
    assert len(generated) == 32 and generated != "phone-42.retry-3"
    hostile = client.get("/api/health/live", headers={"X-Request-ID": "a b;" + "x" * 80})
    assert hostile.headers["x-request-id"] != "a b;" + "x" * 80  # not echoed into our logs as is

    first, second, _third = _records(lines)
    assert first["request_id"] == "phone-42.retry-3" and first["route"] == "/api/health/live"
    assert first["status"] == 200 and first["level"] == "info" and first["logger"] == "fieldvisit.access"
    assert second["request_id"] == generated and second["status"] == 401
    assert isinstance(second["duration_ms"], float)


def test_the_text_format_reads_on_a_terminal() -> None:
    config = log_config("text")
    assert "%(request_id)s" in config["formatters"]["main"]["format"]
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # ours replaces uvicorn's access log
    assert config["handlers"]["main"]["filters"] == ["request_id"]
