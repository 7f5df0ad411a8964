"""The admin UI's Toegangsrechten screens through the Starlette TestClient, on SQLite and PostgreSQL: the overview,
one user's page (tick, Opslaan, the message, the decision at once), conflicts, lapsed grants, the intermediair path,
and that no other organisation's data can be reached by changing the URL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.service import grants
from authz.store.db import Database
from authz.store.schema import Outbox
from tests.conftest import login, sync
from tests.factories import World
from tests.mailbox import count, footprint
from tests.ui.helpers import as_data, check_page, csrf_of, post_form

OWN = "11111111"
AFNEMER = "22222222"
OTHER = "33333333"
BEHEERDER = "beheer@bakkerij.nl"
USER = "jan@bakkerij.nl"


@pytest.fixture
def built(world: World) -> World:
    world.org(OWN, "Bakkerij De Korenschoof")
    world.org(AFNEMER, "Zorgverzekeraar Noord")
    world.org(OTHER, "Ander Bedrijf")
    for code in ("polisadministratie", "loonaangifte", "verzuim"):
        world.product(code)
    world.contract(OWN, "polisadministratie")
    world.contract(OWN, "loonaangifte")
    world.contract(AFNEMER, "verzuim")
    world.contract(AFNEMER, "loonaangifte")
    world.mandate(AFNEMER, OWN, ["verzuim"])
    world.beheerder(BEHEERDER, OWN)
    world.account(USER, OWN, name="Jan Jansen")
    world.beheerder("baas@ander.nl", OTHER)
    world.account("piet@ander.nl", OTHER)
    return world


def check(api: TestClient, user: str, product: str) -> bool:
    r = api.post("/v1/check", json={"user": user, "product": product})
    assert r.status_code == 200, r.text
    allowed: bool = r.json()["allowed"]
    return allowed


def save(client: TestClient, email: str, afnemer: str, products: list[str], **extra: Any) -> Any:
    page = f"/toegangsrechten/{email}?afnemer={afnemer}"
    r = client.get(page)
    version = extra.pop("version", None)
    if version is None:
        version = r.text.split('name="version" value="')[1].split('"')[0]
    fields = [("csrf", csrf_of(r.text)), ("afnemer", afnemer), ("version", str(version))]
    return client.post(f"/toegangsrechten/{email}", data=as_data(fields + [("product", p) for p in products]),
                       **extra)


def test_overview_lists_the_organisations_users_with_search(client: TestClient, built: World) -> None:
    sync(client)
    login(client, BEHEERDER)
    r = client.get("/toegangsrechten")
    assert r.status_code == 200
    check_page(r.text)
    assert "Jan Jansen" in r.text and BEHEERDER in r.text
    assert "piet@ander.nl" not in r.text  # another organisation's user
    assert 'href="/organisaties-onder-beheer"' in r.text  # OWN acts for AFNEMER: the Intermediair button
    found = client.get("/toegangsrechten", params={"q": "JANSEN"})
    assert "Jan Jansen" in found.text and BEHEERDER not in found.text.split("<table")[1]


def test_user_page_ticks_products_then_saves_and_the_decision_follows_at_once(api: TestClient, built: World,
                                                                                 db: Database) -> None:
    sync(api)
    login(api, BEHEERDER)
    page = api.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    assert page.status_code == 200
    check_page(page.text)
    assert 'value="polisadministratie"' in page.text and 'value="loonaangifte"' in page.text
    assert 'value="verzuim"' not in page.text  # AFNEMER's product: not offered for OWN
    assert "Opslaan" in page.text

    r = save(api, USER, OWN, ["polisadministratie", "loonaangifte"])
    assert r.status_code == 200
    assert "Toegevoegd: Loonaangifte, Polisadministratie." in r.text
    assert "Jan Jansen heeft hierover een e-mail gekregen." in r.text
    assert check(api, USER, "polisadministratie") and check(api, USER, "loonaangifte")
    # The page shows them ticked now.
    assert 'value="polisadministratie" checked' in r.text

    r = save(api, USER, OWN, ["loonaangifte"])
    assert "Verwijderd: Polisadministratie." in r.text
    assert not check(api, USER, "polisadministratie")  # denied at once (R11)
    assert check(api, USER, "loonaangifte")
    assert count(db, Outbox) == 2  # one e-mail per saved change (R9)

    r = save(api, USER, OWN, ["loonaangifte"])
    assert "Er is niets gewijzigd." in r.text
    assert count(db, Outbox) == 2


def test_a_conflict_with_the_own_save_in_another_tab_blames_nobody_else(client: TestClient, built: World,
                                                                         db: Database) -> None:
    sync(client)
    login(client, BEHEERDER)
    page = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    version = page.text.split('name="version" value="')[1].split('"')[0]
    assert save(client, USER, OWN, ["loonaangifte"], version=version).status_code == 200  # the first tab
    r = save(client, USER, OWN, ["polisadministratie"], version=version)  # the second tab, on the old version
    assert r.status_code == 409
    assert "U heeft de rechten van deze gebruiker intussen zelf gewijzigd" in r.text
    assert "andere beheerder" not in r.text


def test_saving_over_another_beheerders_change_shows_the_conflict_and_overwrites_nothing(
        client: TestClient, built: World, db: Database) -> None:
    sync(client)
    login(client, BEHEERDER)
    page = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    version = page.text.split('name="version" value="')[1].split('"')[0]
    # Another beheerder saves the same user meanwhile.
    grants.save(db, "tweede@bakkerij.nl", OWN, USER, OWN, ["loonaangifte"], None, "http://x")
    before = footprint(db)
    r = save(client, USER, OWN, ["polisadministratie"], version=version)
    assert r.status_code == 409
    assert "tweede@bakkerij.nl heeft de rechten van deze gebruiker intussen gewijzigd" in r.text
    assert "U had aangevinkt: Polisadministratie" in r.text
    assert 'value="loonaangifte" checked' in r.text  # the current state is shown
    assert 'value="polisadministratie" checked' not in r.text
    assert footprint(db) == before
    with db.tx("test") as t:
        from authz.store import accounts
        from authz.store import grants as grant_store
        assert grant_store.of_account(t, accounts.get(t, USER).id) == {OWN: ["loonaangifte"]}


def test_a_lapsed_grant_says_which_contract_or_mandate_ran_out_and_when(client: TestClient, built: World,
                                                                         db: Database, clock: FrozenClock) -> None:
    built.grant(USER, OWN, ["loonaangifte"])
    built.grant(USER, AFNEMER, ["verzuim"])
    built.contract(OWN, "loonaangifte", valid_until=date(2026, 5, 31))
    built.mandate(AFNEMER, OWN, ["verzuim"], valid_until=date(2026, 6, 1))
    sync(client)
    login(client, BEHEERDER)
    own = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}").text
    assert ('<span class="flag">vervallen</span> Het contract van Bakkerij De Korenschoof voor Loonaangifte is '
            'beëindigd; de laatste dag was 31 mei 2026.') in own
    theirs = client.get(f"/toegangsrechten/{USER}?afnemer={AFNEMER}").text
    assert ('<span class="flag">vervallen</span> De opdracht van Zorgverzekeraar Noord aan uw organisatie is '
            'beëindigd; de laatste dag was 1 juni 2026.') in theirs


def test_a_lapsed_grant_is_flagged_and_can_be_removed(client: TestClient, built: World, db: Database,
                                                      clock: FrozenClock) -> None:
    built.grant(USER, OWN, ["polisadministratie"])
    with db.tx("test") as t:
        from authz.store import catalogue
        catalogue.end_contract(t, OWN, "polisadministratie")
    sync(client)
    login(client, BEHEERDER)
    page = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    assert ("vervallen</span> Het contract van Bakkerij De Korenschoof voor Polisadministratie is beëindigd; de "
            "laatste dag was 14 juni 2026." in page.text)
    assert 'value="polisadministratie" checked' in page.text
    r = save(client, USER, OWN, [])
    assert "Verwijderd: Polisadministratie." in r.text
    assert "vervallen" not in r.text.split("<h2>Huidige rechten</h2>")[1].split("<form")[0]


def test_intermediair_picks_the_afnemer_then_ticks_its_products(api: TestClient, built: World) -> None:
    sync(api)
    login(api, BEHEERDER)
    r = api.get("/organisaties-onder-beheer")
    assert r.status_code == 200
    check_page(r.text)
    assert "Zorgverzekeraar Noord" in r.text and "Ander Bedrijf" not in r.text
    # The users follow at once; the afnemer is picked on the user's page (the manual's order).
    assert f'href="/toegangsrechten/{USER.replace("@", "%40")}?terug=/organisaties-onder-beheer"' in r.text
    page = api.get(f"/toegangsrechten/{USER}")  # more than one afnemer: pick one first
    assert 'id="afnemer-keuze"' in page.text and 'name="product"' not in page.text
    page = api.get(f"/toegangsrechten/{USER}?afnemer={AFNEMER}")
    assert 'value="verzuim"' in page.text
    assert 'value="loonaangifte"' not in page.text  # outside the mandate's subset (R2)
    r = save(api, USER, AFNEMER, ["verzuim"])
    assert "Toegevoegd: Verzuim." in r.text
    assert check(api, USER, "verzuim")


def test_a_product_outside_the_offer_is_refused_and_nothing_changes(client: TestClient, built: World,
                                                                      db: Database) -> None:
    sync(client)
    login(client, BEHEERDER)
    before = footprint(db)
    r = save(client, USER, AFNEMER, ["loonaangifte"])
    assert r.status_code == 422
    assert "niet (meer) worden gekoppeld" in r.text
    assert footprint(db) == before


def test_another_organisations_user_cannot_be_reached_by_url(client: TestClient, built: World, db: Database) -> None:
    built.grant("piet@ander.nl", OTHER, [])
    sync(client)
    login(client, BEHEERDER)
    assert client.get("/toegangsrechten/piet@ander.nl").status_code == 404
    before = footprint(db)
    page = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    r = client.post("/toegangsrechten/piet@ander.nl", data={"csrf": csrf_of(page.text), "afnemer": OTHER,
                                                            "version": "0"})
    assert r.status_code == 404
    assert footprint(db) == before
    assert "piet@ander.nl" not in client.get("/organisaties-onder-beheer?afnemer=33333333").text
    assert "piet@ander.nl" not in client.get("/organisaties-onder-beheer?q=piet").text


def test_pages_need_a_beheerder(client: TestClient, built: World) -> None:
    sync(client)
    r = client.get("/toegangsrechten", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inloggen?volgende=/toegangsrechten"
    login(client, USER)
    r = client.get("/toegangsrechten")
    assert r.status_code == 403
    check_page(r.text)
    assert client.get(f"/toegangsrechten/{USER}").status_code == 403
    assert client.get("/account").status_code == 200


def test_the_save_form_is_labelled_and_carries_the_version(client: TestClient, built: World) -> None:
    sync(client)
    login(client, BEHEERDER)
    page = client.get(f"/toegangsrechten/{USER}?afnemer={OWN}")
    assert 'name="version" value="0"' in page.text
    assert '<label for="p-polisadministratie">' in page.text
    assert "<legend>Producten van Bakkerij De Korenschoof</legend>" in page.text


def test_post_form_helper_round_trip(client: TestClient, built: World) -> None:
    sync(client)
    login(client, BEHEERDER)
    r = post_form(client, f"/toegangsrechten/{USER}?afnemer={OWN}", f"/toegangsrechten/{USER}",
                  {"afnemer": OWN, "version": "0", "product": ["loonaangifte"]})
    assert "Toegevoegd: Loonaangifte." in r.text
