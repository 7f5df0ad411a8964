"""Cross-site requests: every state-changing route of the JSON API refuses a body not declared JSON (a form or
text/plain POST is what another site's page may send with our cookies without asking), and every state-changing
route of the service, the portal's forms included, refuses a foreign Origin (SPEC §4): the JSON error under /v1 and
/access, the portal's Dutch 403 page elsewhere. The routes are walked from the route tables, so a new route is
covered the day it is added."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

import admin_ui
from admin_ui import texts
from authz.app import all_routes
from authz.store.db import Database
from authz.store.schema import Account, Product
from tests.conftest import login
from tests.factories import World
from tests.mailbox import error_of, footprint
from tests.ui.helpers import csrf_of, post_form

KVK = "11111111"
BEH, ALICE = "beh@a.nl", "alice@a.nl"
EVIL = "https://evil.example"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = {"kvk": KVK, "afnemer_kvk": KVK, "intermediair_kvk": "22222222", "email": ALICE, "code": "polis",
          "id": "1", "token": "a" * 32, "intermediair": "22222222", "step": "deactiveren"}
FOREIGN = (EVIL, "null", "http://testserver.evil.example", "https://testserver")


def _writes() -> list[tuple[str, str]]:
    out = []
    for r in all_routes():
        if isinstance(r, Route) and r.path.startswith(("/v1/", "/access/")):
            for method in sorted((r.methods or set()) & WRITES):
                out.append((method, re.sub(r"{(\w+)}", lambda m: SAMPLE[m.group(1)], r.path)))
    return out


WRITE_ROUTES = _writes()


def _portal_writes() -> list[tuple[str, str]]:
    out = []
    for r in admin_ui.routes():
        if isinstance(r, Route):
            for method in sorted((r.methods or set()) & WRITES):
                out.append((method, re.sub(r"{(\w+)}", lambda m: SAMPLE[m.group(1)], r.path)))
    return out


PORTAL_WRITES = _portal_writes()


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
    for origin in FOREIGN:
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


def test_the_walk_finds_the_portals_forms() -> None:
    paths = {p for _, p in PORTAL_WRITES}
    assert len(PORTAL_WRITES) > 30
    for path in ("/inloggen", "/operator/producten", f"/toegangsrechten/{ALICE}/deactiveren", "/uitloggen"):
        assert path in paths, path


@pytest.mark.parametrize(("method", "path"), PORTAL_WRITES)
def test_every_portal_form_refuses_a_foreign_origin_with_its_dutch_page(client: TestClient, world: World,
                                                                        db: Database, org: None, method: str,
                                                                        path: str) -> None:
    """With a valid CSRF token (what a page elsewhere cannot have, but the guard must not lean on that alone)."""
    login(client, world.operator())
    token = csrf_of(client.get("/operator/producten").text)
    before = footprint(db)
    for origin in FOREIGN:
        r = client.request(method, path, data={"csrf": token}, headers={"Origin": origin}, follow_redirects=False)
        assert r.status_code == 403, (origin, r.text)
        assert r.headers["content-type"].startswith("text/html"), r.headers
        assert texts.FOREIGN_ORIGIN in r.text and "Geen toegang" in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert footprint(db) == before


def test_an_operator_form_with_a_valid_token_from_another_site_changes_nothing(client: TestClient, world: World,
                                                                                db: Database) -> None:
    """The finding: a POST to an operator form with a valid CSRF token and Origin: https://evil.example was
    carried out. Without Origin (an old browser, a script) the token alone still decides."""
    login(client, world.operator())
    body = {"code": "polis", "name": "Polis"}
    for origin in (EVIL, "null"):
        r = post_form(client, "/operator/producten", "/operator/producten", body, headers={"Origin": origin})
        assert r.status_code == 403 and texts.FOREIGN_ORIGIN in r.text, r.text
    with db.read() as s:
        assert s.query(Product).count() == 0
    r = post_form(client, "/operator/producten", "/operator/producten", body)  # no Origin
    assert r.status_code == 200, r.text
    r = post_form(client, "/operator/producten", "/operator/producten", {"code": "verzuim", "name": "Verzuim"},
                  headers={"Origin": "http://127.0.0.1:8000"})  # AUTHZ_BASE_URL's
    assert r.status_code == 200, r.text
    with db.read() as s:
        assert sorted(s.query(Product.code).all()) == [("polis",), ("verzuim",)]


def test_a_foreign_log_in_form_is_refused(client: TestClient, org: None) -> None:
    """A page elsewhere that logs the browser in to an account of its choosing (login CSRF)."""
    token = csrf_of(client.get("/inloggen").text)
    r = client.post("/inloggen", data={"csrf": token, "email": BEH, "password": "whatever it is"},
                    headers={"Origin": EVIL}, follow_redirects=False)
    assert r.status_code == 403 and texts.FOREIGN_ORIGIN in r.text
    assert "authz_session" not in r.cookies


def test_a_write_the_router_does_not_know_stays_a_404(client: TestClient) -> None:
    r = client.post("/geen-pagina", data={"x": "1"}, headers={"Origin": EVIL})
    assert r.status_code in (404, 405) and texts.FOREIGN_ORIGIN not in r.text


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
