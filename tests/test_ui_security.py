"""The admin UI's protections: CSRF on every POST, security headers on every page, the cookies' flags, HSTS on
https, log-in and log-out through the shared session, no open redirect, and that UI pages stay out of the JSON
contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import footprint
from tests.ui.helpers import check_page, csrf_of

ORG = "11111111"
BEHEERDER = "beheer@bakkerij.nl"
USER = "jan@bakkerij.nl"


@pytest.fixture
def built(world: World) -> World:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.product("polisadministratie")
    world.contract(ORG, "polisadministratie")
    world.beheerder(BEHEERDER, ORG)
    world.account(USER, ORG)
    world.operator()
    return world


PAGES = ["/inloggen", "/account-aanvragen", "/toegangsrechten", f"/toegangsrechten/{USER}",
         "/organisaties-onder-beheer", "/aanvragen", "/beheerders", "/audit", "/account"]


def test_every_page_sends_the_security_headers_and_no_hsts_on_http(client: TestClient, built: World) -> None:
    sync(client)
    login(client, BEHEERDER)
    for path in [*PAGES, "/activeren/" + "a" * 20]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp, path
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"  # no Referer elsewhere; a real Origin on our forms
        assert "strict-transport-security" not in r.headers
        check_page(r.text)


def test_hsts_when_the_base_url_is_https(settings: Settings, clock: FrozenClock, built: World) -> None:
    https = dataclasses.replace(settings, base_url="https://portaal.example.nl")
    with TestClient(create_app(https, clock), base_url="http://testserver") as c:
        r = c.get("/inloggen")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in r.headers["set-cookie"].lower()


def test_hsts_when_the_request_is_https(client: TestClient, built: World) -> None:
    with TestClient(client.app, base_url="https://testserver") as c:
        assert "strict-transport-security" in c.get("/inloggen").headers


def test_log_in_sets_the_shared_httponly_samesite_session_and_log_out_ends_it(client: TestClient,
                                                                              built: World) -> None:
    sync(client)
    page = client.get("/inloggen")
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()
    r = client.post("/inloggen", data={"csrf": csrf_of(page.text), "email": BEHEERDER.upper(), "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/toegangsrechten"
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("authz_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # The same session serves the JSON API.
    assert client.get("/v1/session").json()["email"] == BEHEERDER
    page = client.get("/toegangsrechten")
    r = client.post("/uitloggen", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inloggen"
    assert client.get("/v1/session").status_code == 401


def test_a_wrong_password_shows_the_form_again(client: TestClient, built: World) -> None:
    page = client.get("/inloggen")
    r = client.post("/inloggen", data={"csrf": csrf_of(page.text), "email": BEHEERDER, "password": "fout" * 4})
    assert r.status_code == 401
    assert "Het e-mailadres of wachtwoord klopt niet" in r.text
    assert f'value="{BEHEERDER}"' in r.text


def test_after_log_in_the_page_asked_for_and_never_another_site(client: TestClient, built: World) -> None:
    sync(client)
    for asked, lands in [("/audit", "/audit"), ("//evil.example/x", "/toegangsrechten"),
                         ("https://evil.example/", "/toegangsrechten")]:
        client.cookies.clear()
        page = client.get("/inloggen", params={"volgende": asked})
        r = client.post("/inloggen", data={"csrf": csrf_of(page.text), "email": BEHEERDER, "password": PASSWORD,
                                           "volgende": asked}, follow_redirects=False)
        assert r.headers["location"] == lands


@pytest.mark.parametrize("token", [None, "", "0" * 64, "wrong"])
def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(client: TestClient, built: World,
                                                                          token: str | None) -> None:
    sync(client)
    login(client, BEHEERDER)
    client.get("/beheerders")  # the CSRF cookie exists
    db = client.app.state.authz.db  # type: ignore[attr-defined]
    before = footprint(db)
    data = {"email": USER}
    if token is not None:
        data["csrf"] = token
    r = client.post("/beheerders/aanwijzen", data=data)
    assert r.status_code == 403
    assert "Dit formulier is verlopen" in r.text
    assert footprint(db) == before


def test_a_token_of_another_session_is_refused(client: TestClient, built: World) -> None:
    sync(client)
    login(client, BEHEERDER)
    stolen = csrf_of(client.get("/beheerders").text)
    login(client, BEHEERDER)  # a new session: the old token is no longer good
    db = client.app.state.authz.db  # type: ignore[attr-defined]
    before = footprint(db)
    r = client.post("/beheerders/aanwijzen", data={"csrf": stolen, "email": USER})
    assert r.status_code == 403
    assert footprint(db) == before
    fresh = csrf_of(client.get("/beheerders").text)
    assert client.post("/beheerders/aanwijzen", data={"csrf": fresh, "email": USER}).status_code == 200
    assert footprint(db) != before


def test_a_post_without_the_csrf_cookie_is_refused(client: TestClient, built: World) -> None:
    page = client.get("/inloggen")
    token = csrf_of(page.text)
    client.cookies.delete("authz_csrf")
    r = client.post("/inloggen", data={"csrf": token, "email": BEHEERDER, "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 403
    assert "authz_session" not in client.cookies


def test_ui_pages_are_not_in_the_json_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/check" in paths
    assert not [p for p in paths if not p.startswith(("/v1/", "/access/", "/healthz", "/readyz", "/metrics",
                                                       "/.well-known/authzen-configuration"))]


def test_static_css_is_served_and_has_a_visible_focus_style(client: TestClient) -> None:
    r = client.get("/static/style.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in r.text and "@media (max-width" in r.text


@pytest.fixture
def anonymous(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock)) as c:
        yield c


def test_the_start_page_sends_each_to_their_place(anonymous: TestClient, built: World) -> None:
    sync(anonymous)
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/inloggen"
    login(anonymous, BEHEERDER)
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/toegangsrechten"
    login(anonymous, "operator@gegevensdiensten.nl")
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/operator/aanvragen"
    login(anonymous, USER)
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/producten"  # R16: Mijn producten
