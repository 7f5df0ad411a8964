"""X-Request-ID outside the AuthZEN endpoints: every answer carries it, a 500 included, and every log line a request
causes names it (``authz.requestid``). The echo on each kind of endpoint: ``tests/test_authzen_conformance.py``."""

from __future__ import annotations

import logging

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from authz import app as app_module
from authz import requestid
from authz.api.http import RequestIds

log = logging.getLogger("tests.request_ids")


async def logs(request: Request) -> PlainTextResponse:
    log.warning("answering %s", request.url.path)
    return PlainTextResponse(requestid.current())


async def fails(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def capture(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records of this test's phase, each given ``request_id`` by the filter (pytest's handler is per phase)."""
    requestid.install([caplog.handler])
    requestid.install([caplog.handler])  # twice changes nothing
    assert sum(isinstance(f, requestid.RequestIdFilter) for f in caplog.handler.filters) == 1
    caplog.set_level(logging.INFO)
    return caplog.records


def test_every_log_line_of_a_request_names_its_id(caplog: pytest.LogCaptureFixture) -> None:
    records = capture(caplog)
    from starlette.applications import Starlette

    with TestClient(RequestIds(Starlette(routes=[Route("/", logs)]))) as c:
        r = c.get("/", headers={"X-Request-ID": "req-1"})
        assert r.text == "req-1" and r.headers["x-request-id"] == "req-1"
        made = c.get("/").headers["x-request-id"]
    lines = [(rec.getMessage(), rec.request_id) for rec in records if rec.name == log.name]  # type: ignore[attr-defined]
    assert lines == [("answering /", "req-1"), ("answering /", made)]
    log.warning("outside any request")
    assert records[-1].request_id == "-" == requestid.current()  # type: ignore[attr-defined]
    formatted = logging.Formatter(requestid.FORMAT).format(records[-1])
    assert "[-]: outside any request" in formatted


def test_a_500_carries_its_request_id_and_its_log_line_names_it(caplog: pytest.LogCaptureFixture) -> None:
    records = capture(caplog)
    broken = app_module.AuthzApp(routes=[Route("/boom", fails), Route("/v1/check", fails, methods=["POST"])],
                                 exception_handlers={Exception: app_module._server_error})
    with TestClient(broken, raise_server_exceptions=False) as c:
        r = c.get("/boom", headers={"X-Request-ID": "req-500"})
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert r.headers.get_list("x-request-id") == ["req-500"]
        # On a decision endpoint, whose answers carry the id themselves, a 500 does too.
        r = c.post("/v1/check", json={}, headers={"X-Request-ID": "req-check"})
        assert (r.status_code, r.headers.get_list("x-request-id")) == (500, ["req-check"])
    errors = [rec for rec in records if rec.levelno == logging.ERROR and rec.name == "authz.app"]
    assert [rec.request_id for rec in errors] == ["req-500", "req-check"]  # type: ignore[attr-defined]
    assert "boom" not in r.text
