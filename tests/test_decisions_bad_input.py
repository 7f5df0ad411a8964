"""Bad input on the decision API: the spec's error shape, a fitting 4xx, and nothing changes (R13 stays 200)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import sync
from tests.factories import World

GOOD = {"user": "a@korenschoof.nl", "product": "polisadministratie"}


def error_of(r: object) -> str:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    code: str = body["error"]["code"]
    return code


@pytest.mark.parametrize(("body", "status", "code"), [
    ({**GOOD, "extra": 1}, 422, "unknown_field"),
    ({"product": "polisadministratie"}, 422, "missing_field"),
    ({**GOOD, "user": 42}, 422, "invalid_email"),
    ({**GOOD, "user": "no-at-sign"}, 422, "invalid_email"),
    ({**GOOD, "user": "a" * 250 + "@x.nl"}, 422, "invalid_email"),
    ({**GOOD, "product": "Polis Administratie"}, 422, "invalid_product_code"),
    ({**GOOD, "product": "-x"}, 422, "invalid_product_code"),
    ({**GOOD, "afnemer": "1234567"}, 422, "invalid_kvk"),
    ({**GOOD, "afnemer": "12345678a"}, 422, "invalid_kvk"),
    ({**GOOD, "afnemer": 12345678}, 422, "invalid_kvk"),
    ({**GOOD, "min_revision": -1}, 422, "invalid_field"),
    ({**GOOD, "min_revision": "3"}, 422, "invalid_field"),
    ({**GOOD, "min_revision": True}, 422, "invalid_field"),
    ([GOOD], 422, "invalid_body"),
])
def test_check_refuses_bad_bodies(api: TestClient, body: object, status: int, code: str) -> None:
    r = api.post("/v1/check", json=body)
    assert r.status_code == status
    assert error_of(r) == code


def test_check_refuses_non_json(api: TestClient) -> None:
    r = api.post("/v1/check", content=b"user=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and error_of(r) == "unsupported_media_type"
    r = api.post("/v1/check", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r) == "invalid_json"


def test_oversized_body_is_refused(api: TestClient) -> None:
    big = b'{"user": "' + b"a" * 1_100_000 + b'"}'
    r = api.post("/v1/check", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and error_of(r) == "body_too_large"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-key", "Basic abc", "bearer "])
def test_missing_or_wrong_key_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for method, path, body in [("POST", "/v1/check", GOOD), ("POST", "/v1/check/batch", {"checks": []}),
                               ("GET", "/v1/users/a@b.nl/products", None),
                               ("GET", "/v1/products/polis/users", None),
                               ("POST", "/access/v1/evaluation", {})]:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert error_of(r) == "unauthorized"


def test_batch_limits(api: TestClient) -> None:
    r = api.post("/v1/check/batch", json={"checks": [GOOD] * 1001})
    assert r.status_code == 422 and error_of(r) == "batch_too_large"
    assert api.post("/v1/check/batch", json={"checks": [GOOD] * 1000}).status_code == 200
    r = api.post("/v1/check/batch", json={"checks": [GOOD, {**GOOD, "product": "BAD"}]})
    assert r.status_code == 422 and error_of(r) == "invalid_product_code"
    r = api.post("/v1/check/batch", json={"checks": GOOD})
    assert r.status_code == 422 and error_of(r) == "invalid_field"
    r = api.post("/v1/check/batch", json={"checks": [], "more": 1})
    assert r.status_code == 422 and error_of(r) == "unknown_field"


def test_product_users_bad_query(api: TestClient, world: World) -> None:
    world.org("11111111")
    sync(api)
    for params, code in [({"afnemer": "x"}, "invalid_kvk"),  # (a well-formed unknown one finds nobody, R13)
                         ({"limit": "0"}, "invalid_limit"), ({"limit": "abc"}, "invalid_limit"),
                         ({"cursor": "!!!"}, "invalid_cursor"), ({"sort": "x"}, "unknown_parameter")]:
        r = api.get("/v1/products/polisadministratie/users", params=params)
        assert r.status_code == 422 and error_of(r) == code, (params, r.text)
    r = api.get("/v1/products/NOT A CODE/users")
    assert r.status_code == 422 and error_of(r) == "invalid_product_code"


def test_authzen_refuses_malformed_shapes_with_400_and_denies_the_rest(api: TestClient) -> None:
    # The standard: a missing or mistyped member is a 400; another action or type, or an unknown field, is not.
    base = {"subject": {"type": "user", "id": "a@b.nl"}, "resource": {"type": "product", "id": "polis"},
            "action": {"name": "view"}}
    for broken, code in [({**base, "resource": {"type": "product", "id": "polis", "properties": {"afnemer": "1"}}},
                          "invalid_kvk"), ({k: v for k, v in base.items() if k != "action"}, "missing_field"),
                         ({**base, "subject": "a@b.nl"}, "invalid_field")]:
        r = api.post("/access/v1/evaluation", json=broken)
        assert (r.status_code, error_of(r)) == (400, code), broken
    for denied, reason in [({**base, "action": {"name": "edit"}}, "unsupported_action"),
                           ({**base, "subject": {"type": "group", "id": "x"}}, "unknown_subject_type"),
                           ({**base, "extra": True}, "unknown_user")]:
        r = api.post("/access/v1/evaluation", json=denied)
        assert r.status_code == 200 and r.json()["decision"] is False, denied
        assert r.json()["context"]["reason"] == reason


def test_unknown_route_and_method_use_the_error_shape(api: TestClient) -> None:
    r = api.get("/v1/nothing-here")
    assert r.status_code == 404 and error_of(r) == "not_found"
    r = api.get("/v1/check")
    assert r.status_code == 405 and error_of(r) == "method_not_allowed"


def test_bad_input_changes_nothing(api: TestClient) -> None:
    before = api.post("/v1/check", json=GOOD).json()["revision"]
    api.post("/v1/check", json={**GOOD, "afnemer": "99999999"})
    api.post("/v1/check/batch", json={"checks": [GOOD] * 1001})
    assert sync(api) == before


def test_min_revision_waits_then_answers_stale(api: TestClient, world: World) -> None:
    now = sync(api)
    assert api.post("/v1/check", json={**GOOD, "min_revision": now}).status_code == 200
    r = api.post("/v1/check", json={**GOOD, "min_revision": now + 5})
    assert r.status_code == 503 and error_of(r) == "stale"
    world.org("11111111")  # written by "another instance": min_revision makes this one catch up first
    r = api.post("/v1/check", json={**GOOD, "min_revision": now + 1})
    assert r.status_code == 200 and r.json()["revision"] >= now + 1
