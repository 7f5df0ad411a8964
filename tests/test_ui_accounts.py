"""The admin UI's account screens through the TestClient, on SQLite and PostgreSQL: account request, the operator's
approval, activation, log-in; a beheerder's requests, beheerders (with the advice to appoint a second) and the
audit trail; the operator's products, organisations, contracts and mandates."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.config import Settings
from authz.store.db import Database
from authz.store.schema import AccountRequest, Contract, Mandate, Organisation, Outbox, Product
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import count, footprint
from tests.ui.helpers import check_page, csrf_of, post_form

ORG = "11111111"
OTHER = "22222222"
OPERATOR = "operator@gegevensdiensten.nl"
BEHEERDER = "beheer@bakkerij.nl"


def outbox_to(db: Database, to: str) -> list[str]:
    with db.engine.connect() as c:
        return [t for (t,) in c.execute(sa.select(Outbox.body_text).where(Outbox.to_addr == to).order_by(Outbox.id))]


def register(client: TestClient, email: str, kvk: str = ORG, **extra: str) -> object:
    fields = {"name": "Anna de Vries", "email": email, "kvk": kvk, "organisation_name": "Bakkerij De Korenschoof",
              "password": PASSWORD, "password2": PASSWORD, **extra}
    return post_form(client, "/account-aanvragen", "/account-aanvragen", fields)


def test_first_account_request_operator_approval_activation_and_log_in(client: TestClient, world: World,
                                                                      db: Database) -> None:
    world.operator()
    page = client.get("/account-aanvragen")
    check_page(page.text)
    r = register(client, "anna@bakkerij.nl")
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert "Wij controleren uw gegevens" in r.text  # type: ignore[attr-defined]

    login(client, OPERATOR)
    listing = client.get("/operator/aanvragen")
    check_page(listing.text)
    assert "anna@bakkerij.nl" in listing.text and "Bakkerij De Korenschoof" in listing.text
    request_id = re.search(r'/operator/aanvragen/(\d+)/goedkeuren', listing.text)
    assert request_id is not None
    r = post_form(client, "/operator/aanvragen", f"/operator/aanvragen/{request_id[1]}/goedkeuren", {})
    assert "is goedgekeurd" in r.text and "anna@bakkerij.nl" not in r.text.split("<main")[1].split("</div>", 1)[1]

    mail = outbox_to(db, "anna@bakkerij.nl")[-1]
    token = re.search(r"/activeren/([A-Za-z0-9_-]+)", mail)
    assert token is not None
    client.cookies.clear()
    page = client.get(f"/activeren/{token[1]}")
    check_page(page.text)
    r = post_form(client, f"/activeren/{token[1]}", f"/activeren/{token[1]}", {})
    assert "is geactiveerd" in r.text and "<h1>Inloggen</h1>" in r.text
    again = client.get(f"/activeren/{token[1]}")  # the used link: the account is active, log in
    check_page(again.text)
    assert again.status_code == 200 and "<h1>Uw account is al actief</h1>" in again.text
    assert 'href="/inloggen"' in again.text and "Account activeren</button>" not in again.text
    twice = client.post(f"/activeren/{token[1]}", data={"csrf": csrf_of(page.text)})  # a second tab's button
    assert "<h1>Uw account is al actief</h1>" in twice.text

    r = post_form(client, "/inloggen", "/inloggen", {"email": "anna@bakkerij.nl", "password": PASSWORD})
    assert "<h1>Toegangsrechten beheren</h1>" in r.text  # the first account is the beheerder (R5)


def test_registration_errors_are_shown_in_dutch_and_change_nothing(client: TestClient, world: World,
                                                                    db: Database) -> None:
    before = footprint(db)
    r = register(client, "anna@gmail.com")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "zakelijke e-mailadres" in r.text  # type: ignore[attr-defined]
    assert 'value="anna@gmail.com"' in r.text  # type: ignore[attr-defined]
    r = register(client, "anna@bakkerij.nl", password2="iets anders dan dat")
    assert "De twee wachtwoorden zijn niet gelijk." in r.text  # type: ignore[attr-defined]
    r = register(client, "anna@bakkerij.nl", kvk="123")
    assert "precies 8 cijfers" in r.text  # type: ignore[attr-defined]
    assert footprint(db) == before


def test_a_taken_address_gets_the_same_page_and_the_address_an_e_mail(client: TestClient, world: World,
                                                                       db: Database) -> None:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.beheerder(BEHEERDER, ORG)
    world.operator()
    pages = [register(client, address) for address in ("kees@bakkerij.nl", "kees@bakkerij.nl", BEHEERDER)]
    assert [p.status_code for p in pages] == [200] * 3  # type: ignore[attr-defined]
    assert all("De beheerder van uw organisatie beoordeelt uw aanvraag" in p.text  # type: ignore[attr-defined]
               for p in pages)
    with db.engine.connect() as c:
        assert c.execute(sa.select(AccountRequest.email)).scalars().all() == ["kees@bakkerij.nl"]
    assert len(outbox_to(db, BEHEERDER)) == 2  # one new request; the second line is hers
    assert len(outbox_to(db, "kees@bakkerij.nl")) == 1
    assert "Bent u uw wachtwoord vergeten" in outbox_to(db, BEHEERDER)[-1]
    r = register(client, OPERATOR, kvk=OTHER, organisation_name="Elders")
    assert "Wij controleren uw gegevens" in r.text  # type: ignore[attr-defined]
    assert count(db, Organisation) == 1  # nothing made for the operator's address


def test_the_portal_throttles_registrations_with_retry_after(settings: Settings, clock: FrozenClock,
                                                            world: World) -> None:
    import dataclasses

    from authz.app import create_app

    world.org(ORG, "Bakkerij De Korenschoof")
    world.beheerder(BEHEERDER, ORG)
    few = dataclasses.replace(settings, registrations_per_kvk=1)
    with TestClient(create_app(few, clock), base_url="http://testserver") as c:
        assert register(c, "kees@bakkerij.nl").status_code == 200  # type: ignore[attr-defined]
        r = register(c, "bep@bakkerij.nl")
        assert r.status_code == 429  # type: ignore[attr-defined]
        assert "Te veel aanvragen in korte tijd" in r.text  # type: ignore[attr-defined]
        assert 1 <= int(r.headers["Retry-After"]) <= 3600  # type: ignore[attr-defined]


def test_beheerder_approves_and_rejects_requests_of_their_own_organisation_only(client: TestClient, world: World,
                                                                                db: Database) -> None:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.org(OTHER, "Ander Bedrijf")
    world.beheerder(BEHEERDER, ORG)
    world.beheerder("baas@ander.nl", OTHER)
    register(client, "kees@bakkerij.nl")
    register(client, "bep@bakkerij.nl")
    register(client, "piet@ander.nl", kvk=OTHER)
    with db.engine.connect() as c:
        ids = dict(c.execute(sa.select(AccountRequest.email, AccountRequest.id)).all())
    sync(client)
    login(client, BEHEERDER)
    listing = client.get("/aanvragen")
    check_page(listing.text)
    assert "kees@bakkerij.nl" in listing.text and "piet@ander.nl" not in listing.text
    before = footprint(db)
    r = post_form(client, "/aanvragen", f"/aanvragen/{ids['piet@ander.nl']}/goedkeuren", {})
    assert r.status_code == 404
    assert client.get(f"/aanvragen/{ids['piet@ander.nl']}/goedkeuren").status_code == 404
    assert footprint(db) == before
    r = post_form(client, "/aanvragen", f"/aanvragen/{ids['kees@bakkerij.nl']}/goedkeuren", {})
    assert "De aanvraag van Anna de Vries is goedgekeurd" in r.text
    r = post_form(client, "/aanvragen", f"/aanvragen/{ids['bep@bakkerij.nl']}/afwijzen", {"reason": "Onbekend"})
    assert "is afgewezen" in r.text
    assert "Onbekend" in outbox_to(db, "bep@bakkerij.nl")[-1]
    r = post_form(client, "/aanvragen", f"/aanvragen/{ids['kees@bakkerij.nl']}/afwijzen", {})
    assert "Over deze aanvraag is al besloten." in r.text


def test_beheerders_page_advises_a_second_then_appoints_and_steps_down(client: TestClient, world: World,
                                                                        db: Database) -> None:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.beheerder(BEHEERDER, ORG)
    world.account("kees@bakkerij.nl", ORG)
    sync(client)
    login(client, BEHEERDER)
    page = client.get("/beheerders")
    check_page(page.text)
    assert "Wijs een tweede beheerder aan" in page.text
    assert "Laatste beheerder" in page.text and "Beheerdersrol neerleggen" not in page.text
    r = post_form(client, "/beheerders", "/beheerders/aanwijzen", {"email": "kees@bakkerij.nl"})
    assert "kees@bakkerij.nl is nu beheerder" in r.text  # an account without a name: its address
    assert "Wijs een tweede beheerder aan" not in r.text
    assert outbox_to(db, "kees@bakkerij.nl")
    r = post_form(client, "/beheerders", "/beheerders/intrekken", {"email": BEHEERDER})
    assert "U heeft de beheerdersrol neergelegd" in r.text
    assert "<h1>Mijn producten</h1>" in r.text  # no longer a beheerder: the gebruiker's home (R16)
    assert client.get("/beheerders").status_code == 403


def test_guesses_of_the_old_password_are_throttled_as_failed_log_ins(client: TestClient, world: World,
                                                                      settings: Settings, clock: FrozenClock) -> None:
    world.org(ORG)
    world.beheerder(BEHEERDER, ORG)
    login(client, BEHEERDER)
    new = "een heel ander wachtwoord"
    for _ in range(settings.login_failures_per_account):
        r = post_form(client, "/account", "/account/wachtwoord",
                      {"old_password": "een gok naar het wachtwoord", "password": new, "password2": new})
        assert r.status_code == 403 and "Het huidige wachtwoord klopt niet." in r.text
    right = {"old_password": PASSWORD, "password": new, "password2": new}
    r = post_form(client, "/account", "/account/wachtwoord", right)
    assert r.status_code == 429 and "Te veel mislukte pogingen" in r.text and "Uw wachtwoord is gewijzigd" not in r.text
    assert int(r.headers["Retry-After"]) > 0
    check_page(r.text)
    assert client.get("/account").status_code == 200  # the session itself goes on; only the guessing stops
    clock.advance(seconds=settings.login_window_seconds)
    r = post_form(client, "/account", "/account/wachtwoord", right)
    assert r.status_code == 200 and "Uw wachtwoord is gewijzigd." in r.text


def test_the_last_beheerder_cannot_step_down(client: TestClient, world: World, db: Database) -> None:
    world.org(ORG)
    world.beheerder(BEHEERDER, ORG)
    sync(client)
    login(client, BEHEERDER)
    before = footprint(db)
    r = post_form(client, "/beheerders", "/beheerders/intrekken", {"email": BEHEERDER})
    assert "Dit is de laatste beheerder van uw organisatie." in r.text
    assert footprint(db) == before


def test_audit_trail_is_filtered_by_user_and_product(client: TestClient, world: World) -> None:
    world.org(ORG)
    world.org(OTHER)
    for code in ("polisadministratie", "verzuim"):
        world.product(code)
        world.contract(ORG, code)
        world.contract(OTHER, code)
    world.beheerder(BEHEERDER, ORG)
    world.account("kees@bakkerij.nl", ORG)
    world.account("bep@bakkerij.nl", ORG)
    world.account("piet@ander.nl", OTHER)
    sync(client)
    login(client, BEHEERDER)
    for user, product in [("kees@bakkerij.nl", "polisadministratie"), ("bep@bakkerij.nl", "verzuim")]:
        post_form(client, f"/toegangsrechten/{user}", f"/toegangsrechten/{user}",
                  {"afnemer": ORG, "version": "0", "product": [product]})
    page = client.get("/audit")
    check_page(page.text)
    assert "kees@bakkerij.nl" in page.text and "bep@bakkerij.nl" in page.text
    assert "piet@ander.nl" not in page.text
    by_user = client.get("/audit", params={"gebruiker": "kees"}).text.split("<table")[1]
    assert "kees@bakkerij.nl" in by_user and "bep@bakkerij.nl" not in by_user
    by_product = client.get("/audit", params={"product": "verzuim"}).text.split("<table")[1]
    assert "toegang tot Verzuim" in by_product
    assert "bep@bakkerij.nl" in by_product and "kees@bakkerij.nl" not in by_product


def test_operator_maintains_products_organisations_contracts_and_mandates(client: TestClient, world: World,
                                                                          db: Database) -> None:
    world.operator()
    world.org(OTHER, "Intermediair BV")
    sync(client)
    login(client, OPERATOR)
    r = post_form(client, "/operator/producten", "/operator/producten",
                  {"code": "polisadministratie", "name": "Polisadministratie", "description": "Lonen"})
    assert "Product Polisadministratie (polisadministratie) is toegevoegd." in r.text
    check_page(r.text)
    r = post_form(client, "/operator/producten", "/operator/producten", {"code": "polisadministratie", "name": "X"})
    assert "Er bestaat al een product met deze code." in r.text
    r = post_form(client, "/operator/organisaties", "/operator/organisaties",
                  {"kvk": ORG, "name": "Bakkerij De Korenschoof", "domains": "bakkerij.nl"})
    assert "<h1>Bakkerij De Korenschoof</h1>" in r.text
    check_page(r.text)
    before = footprint(db)
    r = post_form(client, "/operator/organisaties", "/operator/organisaties",
                  {"kvk": "44444444", "name": "Gratis", "domains": "gmail.com"})
    assert r.status_code == 422
    assert footprint(db) == before
    page = f"/operator/organisaties/{ORG}"
    r = post_form(client, page, f"{page}/contracten", {"product": "polisadministratie", "valid_from": "2026-01-01",
                                                         "open_ended": "1"})
    assert "Het contract van Bakkerij De Korenschoof voor Polisadministratie geldt vanaf 1 januari 2026" in r.text
    r = post_form(client, page, f"{page}/opdrachten", {"intermediair": OTHER, "product": ["polisadministratie"],
                                                         "open_ended": "1"})
    assert ("De opdracht van Bakkerij De Korenschoof aan Intermediair BV geldt voor Polisadministratie, vanaf 15 juni "
            "2026, zonder einddatum.") in r.text
    assert "Intermediair BV" in r.text
    assert count(db, Contract) == 1 and count(db, Mandate) == 1
    r = post_form(client, page, f"{page}/opdrachten/{OTHER}/beeindigen", {})
    assert "is beëindigd" in r.text
    r = post_form(client, page, f"{page}/contracten/polisadministratie/beeindigen", {})
    assert ("Het contract van Bakkerij De Korenschoof voor Polisadministratie is beëindigd; de laatste dag was 14 "
            "juni 2026.") in r.text
    # ended at once (last day yesterday), and still listed as ended
    assert count(db, Contract) == 1 and count(db, Mandate) == 1
    assert "niet geldig" in client.get(page).text
    assert count(db, Product) == 1 and count(db, Organisation) == 2
    listing = client.get("/operator/organisaties", params={"q": "bakkerij"})
    assert "Bakkerij De Korenschoof" in listing.text and "Intermediair BV" not in listing.text


@pytest.mark.parametrize("path", ["/operator/aanvragen", "/operator/producten", "/operator/organisaties",
                                  f"/operator/organisaties/{ORG}"])
def test_operator_pages_are_for_the_operator_only(client: TestClient, world: World, path: str) -> None:
    world.org(ORG)
    world.beheerder(BEHEERDER, ORG)
    sync(client)
    login(client, BEHEERDER)
    assert client.get(path).status_code == 403


def test_a_kvk_typed_with_spaces_or_dots_is_its_8_digits_in_the_portal_only(client: TestClient, world: World,
                                                                             db: Database) -> None:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.beheerder(BEHEERDER, ORG)
    spaced = f"{ORG[:4]} {ORG[4:]}"
    dotted = f"{ORG[:2]}.{ORG[2:5]}.{ORG[5:]}"
    r = register(client, "kees@bakkerij.nl", kvk=spaced)
    assert "De beheerder van uw organisatie beoordeelt uw aanvraag" in r.text  # type: ignore[attr-defined]
    r = register(client, "bep@bakkerij.nl", kvk=dotted)
    assert r.status_code == 200  # type: ignore[attr-defined]
    with db.engine.connect() as c:
        kvks = set(c.execute(sa.select(AccountRequest.kvk)).scalars())
    assert kvks == {ORG}
    api = client.post("/v1/registrations", json={"email": "piet@bakkerij.nl", "password": PASSWORD, "kvk": spaced})
    assert api.status_code == 422 and api.json()["error"]["code"] == "invalid_kvk"  # the API stays strict


def test_a_registration_error_names_its_field(client: TestClient, world: World) -> None:
    r = register(client, "anna@gmail.com")
    assert "E-mailadres: Gebruik uw zakelijke e-mailadres" in r.text  # type: ignore[attr-defined]
    assert 'value="anna@gmail.com" aria-invalid="true"' in r.text  # type: ignore[attr-defined]
    r = register(client, "anna@bakkerij.nl", kvk="1234")
    assert "KvK-nummer: Een KvK-nummer bestaat uit precies 8 cijfers." in r.text  # type: ignore[attr-defined]
    r = register(client, "anna@bakkerij.nl", kvk="")
    assert "Vul het veld &#39;KvK-nummer&#39; in." in r.text  # type: ignore[attr-defined]
    r = register(client, "anna@bakkerij.nl", password="kort", password2="kort")
    assert "Wachtwoord: Kies een wachtwoord van 12 tot 256 tekens." in r.text  # type: ignore[attr-defined]
