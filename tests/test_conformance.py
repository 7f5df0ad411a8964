"""The suite's own contract check (tests/conformance.py) refuses what the OpenAPI document does not describe."""

from __future__ import annotations

import pytest

from tests.conformance import Undeclared, check

JSON = "application/json"


def test_a_declared_answer_passes() -> None:
    check("GET", "/v1/session", 401, JSON, b'{"error": {"code": "not_logged_in", "message": "Log in."}}')
    check("GET", "/dashboard", 200, "text/html", b"<html></html>")  # not part of the JSON contract


@pytest.mark.parametrize(("status", "body", "says"), [
    (418, b"{}", "status 418 is not declared"),
    (200, b'{"email": "a@b.nl", "grants": {}, "selectable": {}, "version": 1, "extra": 1}', "'extra' was unexpected"),
    (404, b'{"error": {"code": "no_such_code", "message": "x"}}', "'no_such_code' is not one of"),
])
def test_an_undeclared_answer_is_refused(status: int, body: bytes, says: str) -> None:
    with pytest.raises(Undeclared, match=says):
        check("GET", "/v1/orgs/11111111/users/a@b.nl/grants", status, JSON, body)
