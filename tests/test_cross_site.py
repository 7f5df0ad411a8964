"""Cross-site requests on the JSON API: every state-changing route refuses a body not declared JSON (a form or
text/plain POST is what another site's page may send with our cookies without asking) and a foreign Origin. The
routes are walked from the route table, so a new route is covered the day it is added."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from authz.app import all_routes
from authz.store.db import Database
from authz.store.schema import Account
from tests.conftest import login
from tests.factories import World
from tests.mailbox import error_of, footprint
from tests.ui.helpers import csrf_of

KVK = "11111111"
BEH, ALICE = "beh@a.nl", "alice@a.nl"
EVIL = "https://evil.example"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = {"kvk": KVK, "afnemer_kvk": KVK, "intermediair_kvk": "22222222", "email": ALICE, "code": "polis",
          "id": "1", "token": "a" * 32}


def _writes() -> list[tuple[str, str]]:
    out = []
    for r in all_routes():
        if isinstance(r, Route) and r.path.startswith(("/v1/", "/access/")):
            for method in sorted((r.methods or set()) & WRITES):
                out.append((method, re.sub(r"{(\w+)}", lambda m: SAMPLE[m.group(1)], r.path)))
    return out


WRITE_ROUTES = _writes()


@pytest.fixture
def org(world: World) -> None:
    world.org(KVK, "Org A")
    world.beheerder(BEH, KVK)
    world.account(ALICE, KVK)


def test_the_walk_finds_the_bodyless_writes_of_the_finding() -> None:
    paths = {p for _, p in WRITE_ROUTES}
    assert len(WRITE_ROUTES) > 30
    for path in (f"/v1/orgs/{KVK}/users/{ALICE}/deactivate", f"/v1/orgs/{KVK}/users/{ALICE}/reactivate",
                 f"/v1/orgs/{KVK}/requests/1/approve", "/v1/operator/requests/1/reject", "/v1/operator/mail/1/retry"):
        assert path in paths, path


@pytest.mark.parametrize(("method", "path"), [w for w in WRITE_ROUTES if w[0] != "DELETE"])
def test_every_write_needs_a_json_content_type(client: TestClient, world: World, db: Database, org: None,
                                               method: str, path: str) -> None:
    login(client, world.operator())
    before = footprint(db)
    status = 400 if path.startswith("/access/") else 415  # OpenID AuthZEN: 400 for a Content-Type other than JSON
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        r = client.request(method, path, headers=headers, content=b"")
        assert (r.status_code, error_of(r)) == (status, "unsupported_media_type"), (headers, r.text)
    assert footprint(db) == before


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_every_write_refuses_a_foreign_origin(client: TestClient, world: World, db: Database, org: None,
                                              method: str, path: str) -> None:
    login(client, world.operator())
    before = footprint(db)
    for origin in (EVIL, "null", "http://testserver.evil.example", "https://testserver"):
        r = client.request(method, path, json={} if method != "DELETE" else None, headers={"Origin": origin})
        assert (r.status_code, error_of(r)) == (403, "foreign_origin"), (origin, r.text)
    assert footprint(db) == before


def test_a_cookie_session_cannot_deactivate_a_user_from_another_site(client: TestClient, db: Database,
                                                                     org: None) -> None:
    login(client, BEH)
    url = f"/v1/orgs/{KVK}/users/{ALICE}/deactivate"
    assert client.post(url).status_code == 415  # no body, no Content-Type: what a page elsewhere could send
    assert client.post(url, json={}, headers={"Origin": EVIL}).status_code == 403
    with db.read() as s:
        assert s.query(Account.status).filter_by(email=ALICE).scalar() == "active"
    r = client.post(url, json={}, headers={"Origin": "http://testserver"})  # the request's own host
    assert r.status_code == 200, r.text
    r = client.post(url.replace("deactivate", "reactivate"), content=b"",  # AUTHZ_BASE_URL's; an empty JSON body
                    headers={"Origin": "http://127.0.0.1:8000", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_the_portal_forms_keep_working_with_their_own_origin(client: TestClient, org: None) -> None:
    login(client, BEH)
    page = client.get("/toegangsrechten")
    assert page.status_code == 200
    r = client.post("/uitloggen", data={"csrf": csrf_of(page.text)}, headers={"Origin": "http://testserver"},
                    follow_redirects=False)
    assert r.status_code == 303


def test_a_method_no_route_answers_is_a_405_not_a_refused_write(client: TestClient) -> None:
    """The guard refuses writes that a route would take; a method the path does not answer stays the router's 405
    (with every method it does answer), whatever its content type."""
    r = client.put("/v1/operator/mail", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 405 and "GET" in r.headers["allow"]
