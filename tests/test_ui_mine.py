"""Mijn producten (R16), /producten, through the Starlette TestClient on SQLite and PostgreSQL: per afnemer by name,
since when and given by whom, the operator's link, the inert grants with which contract or mandate ended when, the
empty state; the home after log-in of a gebruiker; a beheerder's change on the next load (R11); the operator's link
form."""

from __future__ import annotations

from datetime import date

import pytest
from starlette.testclient import TestClient

from authz.store import catalogue
from authz.store.db import Database
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.test_admin_grants import AFNEMER, ALICE, BEHEERDER, BOB, INTERMEDIAIR, TUSSEN, build, put, state_of
from tests.ui.helpers import check_page, post_form

OPERATOR = "operator@gegevensdiensten.nl"
BEA = "bea@korenschoof.nl"


@pytest.fixture
def built(world: World) -> World:
    build(world)
    world.operator(OPERATOR)
    world.account(BEA, AFNEMER, roles=("beheerder",), name="Bea Bakker")
    return world


def test_my_products_per_afnemer_with_since_granted_by_and_link(client: TestClient, built: World,
                                                                db: Database) -> None:
    with db.tx(OPERATOR) as t:
        catalogue.put_product(t, "verzuim", {"url": "https://download.example.nl/verzuim"})
    login(client, BEA)
    assert put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"]).status_code == 200
    client.cookies.clear()
    login(client, ALICE)
    r = client.get("/producten")
    assert r.status_code == 200
    check_page(r.text)
    html = r.text
    assert "<h1>Mijn producten</h1>" in html
    assert '<h2 id="afnemer-1">Bakkerij De Korenschoof</h2>' in html
    assert "Polisadministratie" in html and "Verzuimgegevens" in html
    assert '<a href="https://download.example.nl/verzuim">Verzuimgegevens' in html
    assert "15 juni 2026" in html and "Bea Bakker" in html
    assert AFNEMER not in html.split("<main")[1]  # afnemers by name, never by KvK number
    assert 'href="/producten" aria-current="page">Mijn producten' in html
    assert "Koppelingen die nu geen toegang geven" not in html and "nog geen producten" not in html


def test_inert_grants_say_which_contract_or_mandate_ended_and_when(client: TestClient, built: World,
                                                                   db: Database) -> None:
    built.grant(ALICE, AFNEMER, ["polisadministratie", "verzuim"])
    built.contract(AFNEMER, "verzuim", date(2026, 1, 1), date(2026, 5, 31))
    built.grant(BOB, AFNEMER, ["polisadministratie"])
    with db.tx(OPERATOR) as t:
        catalogue.end_mandate(t, AFNEMER, INTERMEDIAIR)
    sync(client)
    login(client, ALICE)
    html = client.get("/producten").text
    check_page(html)
    assert "Koppelingen die nu geen toegang geven" in html
    assert ("Het contract van Bakkerij De Korenschoof voor Verzuimgegevens is beëindigd; de laatste dag was 31 mei "
            "2026.") in html
    assert "Polisadministratie" in html.split("Koppelingen die nu geen toegang geven")[0]  # still viewable
    client.cookies.clear()
    login(client, BOB)
    html = client.get("/producten").text
    assert ("De opdracht van Bakkerij De Korenschoof aan uw organisatie is beëindigd; de laatste dag was 14 juni "
            "2026.") in html
    assert "U heeft nog geen producten." in html


def test_the_empty_state_says_what_to_do(client: TestClient, built: World) -> None:
    sync(client)
    login(client, ALICE)
    html = client.get("/producten").text
    check_page(html)
    assert "U heeft nog geen producten. Vraag uw beheerder" in html
    assert "<table" not in html


def test_a_gebruiker_lands_on_my_products_and_a_beheerder_gets_the_link(client: TestClient, built: World) -> None:
    sync(client)
    r = post_form(client, "/inloggen", "/inloggen", {"email": ALICE, "password": PASSWORD}, follow=False)
    assert r.status_code == 303 and r.headers["location"] == "/producten"
    assert client.get("/", follow_redirects=False).headers["location"] == "/producten"
    client.cookies.clear()
    r = post_form(client, "/inloggen", "/inloggen", {"email": BEHEERDER, "password": PASSWORD})
    assert "<h1>Toegangsrechten beheren</h1>" in r.text  # beheerders keep their home
    assert '<a href="/producten">Mijn producten</a>' in r.text
    client.cookies.clear()
    login(client, OPERATOR)  # no organisation: no grants, no link, no page
    assert 'href="/producten"' not in client.get("/operator/producten").text
    assert client.get("/producten").status_code == 403


def test_my_products_needs_a_log_in(client: TestClient, built: World) -> None:
    r = client.get("/producten", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inloggen?volgende=/producten"


def test_a_beheerders_change_shows_on_the_next_load_without_logging_in_again(client: TestClient, built: World,
                                                                              db: Database) -> None:
    sync(client)
    user = TestClient(client.app, base_url="http://testserver")
    login(user, ALICE)
    assert "nog geen producten" in user.get("/producten").text
    login(client, BEHEERDER)
    assert put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"]).status_code == 200
    html = user.get("/producten").text
    assert "Polisadministratie" in html and "Verzuimgegevens" in html
    assert put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"]).status_code == 200
    html = user.get("/producten").text
    assert "Polisadministratie" not in html and "Verzuimgegevens" in html


def test_the_intermediairs_gebruiker_sees_the_afnemer_by_name(client: TestClient, built: World) -> None:
    login(client, TUSSEN)
    assert put(client, INTERMEDIAIR, BOB, AFNEMER, ["polisadministratie"]).status_code == 200
    client.cookies.clear()
    login(client, BOB)
    html = client.get("/producten").text
    assert "Bakkerij De Korenschoof" in html and "Polisadministratie" in html
    assert AFNEMER not in html.split("<main")[1]


# -- the operator's link of a product ------------------------------------------------------------------------------

def test_the_operator_sets_and_removes_a_products_link_in_the_portal(client: TestClient, built: World) -> None:
    built.grant(ALICE, AFNEMER, ["verzuim"])
    sync(client)
    login(client, OPERATOR)
    page = client.get("/operator/producten")
    check_page(page.text)
    r = post_form(client, "/operator/producten", "/operator/producten/verzuim/link",
                  {"url": "https://download.example.nl/v"})
    assert "De link van Verzuimgegevens is nu https://download.example.nl/v." in r.text
    assert 'value="https://download.example.nl/v"' in r.text
    client.cookies.clear()
    login(client, ALICE)
    assert '<a href="https://download.example.nl/v">Verzuimgegevens' in client.get("/producten").text
    client.cookies.clear()
    login(client, OPERATOR)
    r = post_form(client, "/operator/producten", "/operator/producten/verzuim/link", {"url": ""})
    assert "Verzuimgegevens heeft nu geen link." in r.text
    r = post_form(client, "/operator/producten", "/operator/producten",
                  {"code": "loonstaat", "name": "Loonstaat", "url": "https://loon.example.nl/"})
    assert "Product Loonstaat (loonstaat) is toegevoegd." in r.text and 'value="https://loon.example.nl/"' in r.text


def test_a_bad_link_in_the_portal_is_refused_and_changes_nothing(client: TestClient, built: World,
                                                                 db: Database) -> None:
    sync(client)
    login(client, OPERATOR)
    before = state_of(db)
    for action, data in [("/operator/producten/verzuim/link", {"url": "javascript:alert(1)"}),
                         ("/operator/producten/verzuim/link", {"url": "http://download.example.nl/"}),
                         ("/operator/producten", {"code": "loonstaat", "name": "Loonstaat", "url": "ftp://x.nl/"})]:
        r = post_form(client, "/operator/producten", action, data)
        assert "Vul een link in die begint met https://" in r.text, action
    assert state_of(db) == before
    assert "javascript:" not in client.get("/operator/producten").text
