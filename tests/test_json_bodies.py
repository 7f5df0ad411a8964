"""Every JSON body is read by one reader: a key twice in any object (nested ones too) is a 422 ``duplicate_field``,
never "the last one wins" (a gateway that read the first would have judged another request)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import sync
from tests.factories import World
from tests.mailbox import error_of

KVK = "11111111"
JOOST = "joost.bakker@korenschoof.nl"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def granted(api: TestClient, world: World) -> None:
    world.org(KVK, "Korenschoof")
    world.product("polis")
    world.contract(KVK, "polis")
    world.account(JOOST, KVK)
    world.grant(JOOST, KVK, ["polis"])
    sync(api)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/check", f'{{"user": "nobody@x.nl", "product": "polis", "user": "{JOOST}"}}'),
    ("/v1/check", f'{{"user": "{JOOST}", "product": "polis", "product": "polis"}}'),
    ("/v1/check/batch", f'{{"checks": [{{"user": "nobody@x.nl", "user": "{JOOST}", "product": "polis"}}]}}'),
    ("/v1/check/batch", f'{{"checks": [{{"user": "{JOOST}", "product": "polis"}}], "checks": []}}'),
    ("/access/v1/evaluation", f'{{"subject": {{"type": "user", "id": "nobody@x.nl", "id": "{JOOST}"}}, '
                              '"resource": {"type": "product", "id": "polis"}, "action": {"name": "view"}}'),
    ("/v1/explain", f'{{"user": "nobody@x.nl", "user": "{JOOST}", "product": "polis"}}'),
])
def test_a_key_twice_is_refused(api: TestClient, granted: None, path: str, body: str) -> None:
    r = api.post(path, content=body.encode(), headers=JSON)
    status = 400 if path.startswith("/access/") else 422  # OpenID AuthZEN: every malformed body is a 400
    assert (r.status_code, error_of(r)) == (status, "duplicate_field"), r.text


def test_colons_in_values_are_no_duplicates(api: TestClient, granted: None) -> None:
    body = f'{{"user": "{JOOST}", "product": "polis", "afnemer": "{KVK}"}}'
    assert api.post("/v1/check", content=body.encode(), headers=JSON).json()["allowed"] is True
    r = api.post("/access/v1/evaluation", content=(
        f'{{"subject": {{"type": "user", "id": "{JOOST}", "properties": {{"a:b": "c:d", "e": ["f:g"]}}}}, '
        '"resource": {"type": "product", "id": "polis"}, "action": {"name": "view"}, '
        '"context": {"traceparent": "00:01:02"}}').encode(), headers=JSON)
    assert r.status_code == 200 and r.json()["decision"] is True, r.text


def test_a_key_twice_in_a_session_write_is_refused(client: TestClient) -> None:
    r = client.post("/v1/session", content=b'{"email": "a@b.nl", "password": "x", "password": "y"}', headers=JSON)
    assert (r.status_code, error_of(r)) == (422, "duplicate_field"), r.text


@pytest.mark.parametrize("path", ["/v1/check", "/access/v1/evaluation"])
def test_a_body_nested_deeper_than_the_key_check_reads_is_a_400(api: TestClient, path: str) -> None:
    # orjson reads 1 000 levels; the check for keys twice (Python's json, for a ':' inside a string) would overflow
    # Python's stack on them: a clear 400, never a 500.
    body = '{"user": "a:b", "deep": ' + "[" * 1000 + "]" * 1000 + "}"
    r = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, error_of(r)) == (400, "invalid_json"), r.text
