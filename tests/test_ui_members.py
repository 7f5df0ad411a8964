"""The admin UI's member screens through the TestClient, on SQLite and PostgreSQL: invite (R7) and accept, send an
invitation or activation link again (R8), deactivate and reactivate (R1, R4), forgotten password and a password
change."""

from __future__ import annotations

import re

import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.store.db import Database
from authz.store.schema import Outbox
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import footprint
from tests.ui.helpers import check_page, post_form

ORG = "11111111"
OTHER = "22222222"
BEHEERDER = "beheer@bakkerij.nl"
NEW_PASSWORD = "een heel ander wachtwoord"


def last_link(db: Database, to: str, kind: str) -> str:
    with db.engine.connect() as c:
        bodies = [t for (t,) in c.execute(sa.select(Outbox.body_text).where(Outbox.to_addr == to)
                                          .order_by(Outbox.id))]
    found = re.findall(rf"https?://[^/\s]+(/{kind}/[A-Za-z0-9_-]+)", "\n".join(bodies))
    assert found, bodies
    path: str = found[-1]
    return path


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof", domains=["bakkerij.nl"])
    world.org(OTHER, "Ander Bedrijf")
    world.product("polisadministratie")
    world.contract(ORG, "polisadministratie")
    world.beheerder(BEHEERDER, ORG)
    world.beheerder("baas@ander.nl", OTHER)


def test_invite_accept_and_approve(client: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    page = client.get("/uitnodigen")
    check_page(page.text)
    r = post_form(client, "/uitnodigen", "/uitnodigen", {"email": "Kees@Bakkerij.nl"})
    assert "kees@bakkerij.nl heeft een uitnodiging per e-mail gekregen." in r.text
    assert "<td data-label=\"E-mailadres\">kees@bakkerij.nl</td>" in r.text
    r = post_form(client, "/uitnodigen", "/uitnodigen", {"email": "kees@gmail.com"})
    assert "gratis e-maildiensten" in r.text

    link = last_link(db, "kees@bakkerij.nl", "uitnodiging")
    client.cookies.clear()
    page = client.get(link)
    check_page(page.text)
    assert 'value="kees@bakkerij.nl"' in page.text and "Bakkerij De Korenschoof" in page.text
    r = post_form(client, link, link, {"name": "Kees", "password": "kort", "password2": "kort"})
    assert r.status_code == 422 and "12 tot 256 tekens" in r.text
    r = post_form(client, link, link, {"name": "Kees Bakker", "password": PASSWORD, "password2": PASSWORD})
    assert "De beheerder van uw organisatie keurt uw account goed." in r.text
    assert client.get(link).status_code in (404, 409)  # the link is used up

    login(client, BEHEERDER)
    listing = client.get("/aanvragen")
    assert "Kees Bakker" in listing.text and "uitgenodigd" in listing.text
    number = re.search(r"/aanvragen/(\d+)/goedkeuren", listing.text)
    assert number is not None
    confirm = client.get(f"/aanvragen/{number[1]}/goedkeuren")
    check_page(confirm.text)
    assert "Ja, aanvraag van Kees Bakker goedkeuren" in confirm.text
    r = post_form(client, f"/aanvragen/{number[1]}/goedkeuren", f"/aanvragen/{number[1]}/goedkeuren", {})
    assert "De aanvraag van Kees Bakker is goedgekeurd" in r.text
    assert last_link(db, "kees@bakkerij.nl", "activeren")


def test_send_again_and_withdraw_an_invitation_of_the_own_organisation_only(client: TestClient, world: World,
                                                                             db: Database) -> None:
    build(world)
    sync(client)
    login(client, "baas@ander.nl")
    post_form(client, "/uitnodigen", "/uitnodigen", {"email": "piet@ander.nl"})
    other_id = re.search(r"/uitnodigen/(\d+)/intrekken", client.get("/uitnodigen").text)
    assert other_id is not None
    login(client, BEHEERDER)
    post_form(client, "/uitnodigen", "/uitnodigen", {"email": "kees@bakkerij.nl"})
    first = last_link(db, "kees@bakkerij.nl", "uitnodiging")
    page = client.get("/uitnodigen")
    assert "piet@ander.nl" not in page.text
    own_id = re.search(r"/uitnodigen/(\d+)/opnieuw", page.text)
    assert own_id is not None
    before = footprint(db)
    assert post_form(client, "/uitnodigen", f"/uitnodigen/{other_id[1]}/intrekken", {}).status_code == 404
    assert footprint(db) == before
    r = post_form(client, "/uitnodigen", f"/uitnodigen/{own_id[1]}/opnieuw", {})
    assert "opnieuw naar kees@bakkerij.nl verstuurd" in r.text
    assert last_link(db, "kees@bakkerij.nl", "uitnodiging") != first
    assert client.get(first).status_code in (404, 410)  # the old link no longer works
    r = post_form(client, "/uitnodigen", f"/uitnodigen/{own_id[1]}/intrekken", {})
    assert "De uitnodiging van kees@bakkerij.nl is ingetrokken." in r.text
    assert "Er zijn geen open uitnodigingen." in r.text


def test_deactivate_denies_at_once_and_reactivate_restores(api: TestClient, world: World, db: Database) -> None:
    build(world)
    world.account("jan@bakkerij.nl", ORG, name="Jan")
    world.grant("jan@bakkerij.nl", ORG, ["polisadministratie"])
    sync(api)
    login(api, BEHEERDER)

    def allowed() -> bool:
        r = api.post("/v1/check", json={"user": "jan@bakkerij.nl", "product": "polisadministratie"})
        result: bool = r.json()["allowed"]
        return result

    assert allowed()
    page = "/toegangsrechten/jan@bakkerij.nl"
    r = post_form(api, page, f"{page}/deactiveren", {})
    assert "jan@bakkerij.nl is gedeactiveerd" in r.text and "Account heractiveren" in r.text
    assert not allowed()
    r = post_form(api, page, f"{page}/heractiveren", {})
    assert "jan@bakkerij.nl is weer actief" in r.text
    assert allowed()


def test_the_last_beheerder_cannot_be_deactivated_nor_another_organisations_account(client: TestClient,
                                                                                   world: World,
                                                                                   db: Database) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    before = footprint(db)
    page = f"/toegangsrechten/{BEHEERDER}"
    r = post_form(client, page, f"{page}/deactiveren", {})
    assert "Dit is de laatste beheerder van uw organisatie." in r.text
    r = post_form(client, page, "/toegangsrechten/baas@ander.nl/deactiveren", {})
    assert r.status_code == 404
    assert footprint(db) == before


def test_a_new_activation_link_for_an_approved_account(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.account("jan@bakkerij.nl", ORG, status="approved", name="Jan")
    sync(client)
    login(client, BEHEERDER)
    page = "/toegangsrechten/jan@bakkerij.nl"
    assert "Nieuwe activatielink versturen" in client.get(page).text
    r = post_form(client, page, f"{page}/activatielink", {})
    assert "jan@bakkerij.nl heeft een nieuwe activatielink gekregen" in r.text
    link = last_link(db, "jan@bakkerij.nl", "activeren")
    client.cookies.clear()
    r = post_form(client, link, link, {})
    assert "is geactiveerd" in r.text


def test_forgotten_password_then_log_in_with_the_new_one(client: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(client)
    page = client.get("/wachtwoord-vergeten")
    check_page(page.text)
    known = post_form(client, "/wachtwoord-vergeten", "/wachtwoord-vergeten", {"email": BEHEERDER})
    unknown = post_form(client, "/wachtwoord-vergeten", "/wachtwoord-vergeten", {"email": "niemand@bakkerij.nl"})
    assert known.status_code == unknown.status_code == 200
    said = known.text.split("<main")[1]
    assert said == unknown.text.split("<main")[1]  # the same answer: it tells nobody which accounts exist
    link = last_link(db, BEHEERDER, "wachtwoord-herstellen")
    check_page(client.get(link).text)
    r = post_form(client, link, link, {"password": NEW_PASSWORD, "password2": "niet hetzelfde wachtwoord"})
    assert "De twee wachtwoorden zijn niet gelijk." in r.text
    r = post_form(client, link, link, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert f"Het wachtwoord van {BEHEERDER} is gewijzigd." in r.text
    r = post_form(client, "/inloggen", "/inloggen", {"email": BEHEERDER, "password": NEW_PASSWORD})
    assert "<h1>Toegangsrechten beheren</h1>" in r.text


def test_change_own_password(client: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(client)
    login(client, BEHEERDER)
    page = client.get("/account")
    check_page(page.text)
    r = post_form(client, "/account", "/account/wachtwoord",
                  {"old_password": "niet het wachtwoord", "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert r.status_code == 403 and "Het huidige wachtwoord klopt niet." in r.text
    r = post_form(client, "/account", "/account/wachtwoord",
                  {"old_password": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert "Uw wachtwoord is gewijzigd." in r.text
    client.cookies.clear()
    r = post_form(client, "/inloggen", "/inloggen", {"email": BEHEERDER, "password": NEW_PASSWORD})
    assert "<h1>Toegangsrechten beheren</h1>" in r.text
