"""The beheerder's consequential buttons ask first, without JavaScript: deactivate an account, appoint or remove a
beheerder, approve or reject an account request (R6). The GET confirmation page changes nothing; its form POSTs
with the portal's CSRF token. Through the TestClient on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.store.db import Database
from authz.store.schema import AccountRequest, Outbox
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import footprint
from tests.ui.helpers import check_page, csrf_of, post_form

ORG, OTHER = "11111111", "22222222"
ANNA, JOOST, KEES = "anna@bakkerij.nl", "joost@bakkerij.nl", "kees@bakkerij.nl"


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof B.V.")
    world.org(OTHER, "Ander Bedrijf")
    world.account(ANNA, ORG, roles=("beheerder",), name="Anna de Vries")
    world.account(JOOST, ORG, name="Joost Bakker")
    world.account("baas@ander.nl", OTHER, roles=("beheerder",), name="Baas Ander")


def confirm(client: TestClient, db: Database, url: str, button: str) -> str:
    """GET the confirmation page: it follows the page rules, names the button, and changes nothing."""
    before = footprint(db)
    page = client.get(url)
    assert page.status_code == 200, page.text
    check_page(page.text)
    assert button in page.text
    assert footprint(db) == before
    return page.text


def post(client: TestClient, page: str, data: dict[str, str] | None = None) -> str:
    action = re.search(r'<form method="post" action="([^"]+)" class="form narrow">', page)
    assert action is not None
    hidden = dict(re.findall(r'<input type="hidden" name="(?!csrf)([a-z]+)" value="([^"]*)">', page))
    r = client.post(action[1], data={"csrf": csrf_of(page), **hidden, **(data or {})})
    assert r.status_code == 200, r.text
    return r.text


def test_deactivating_an_account_asks_first(client: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(client)
    login(client, ANNA)
    user = client.get(f"/toegangsrechten/{JOOST}").text
    assert f'href="/toegangsrechten/{JOOST.replace("@", "%40")}/deactiveren"' in user
    page = confirm(client, db, f"/toegangsrechten/{JOOST}/deactiveren", "Ja, account van Joost Bakker deactiveren")
    assert "Joost Bakker" in page and "De koppelingen blijven bewaard" in page
    before = footprint(db)
    forged = client.post(f"/toegangsrechten/{JOOST}/deactiveren", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and footprint(db) == before
    said = post(client, page)
    assert "is gedeactiveerd" in said and world.get_account(JOOST).status == "inactive"
    assert client.get("/toegangsrechten/baas@ander.nl/deactiveren").status_code == 404


def test_appointing_and_removing_a_beheerder_ask_first(client: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(client)
    login(client, ANNA)
    listing = client.get("/beheerders").text
    assert '<form method="get" action="/beheerders/aanwijzen"' in listing
    page = confirm(client, db, f"/beheerders/aanwijzen?email={JOOST}", "Ja, Joost Bakker aanwijzen als beheerder")
    assert "Joost Bakker is nu beheerder" in post(client, page)
    page = confirm(client, db, f"/beheerders/intrekken?email={JOOST}", "Ja, beheerdersrol van Joost Bakker intrekken")
    assert "Joost Bakker is geen beheerder meer" in post(client, page)
    assert client.get("/beheerders/intrekken?email=baas@ander.nl").status_code == 404
    assert client.get("/beheerders/aanwijzen?email=baas@ander.nl").status_code == 404
    assert client.get("/beheerders/aanwijzen", follow_redirects=False).status_code == 303


def test_stepping_down_says_beheerdersrol_neerleggen(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.account(KEES, ORG, roles=("beheerder",), name="Kees Jansen")
    sync(client)
    login(client, ANNA)
    assert "Beheerdersrol neerleggen" in client.get("/beheerders").text
    page = confirm(client, db, f"/beheerders/intrekken?email={ANNA}", "Ja, beheerdersrol neerleggen")
    assert "<h1>Beheerdersrol neerleggen</h1>" in page
    assert "U heeft de beheerdersrol neergelegd" in post(client, page)


def test_approving_and_rejecting_a_request_ask_first(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.account("bert@bakkerij.nl", ORG, roles=("beheerder",), name="Bert Visser")
    for email, name, kvk in [(KEES, "Kees Jansen", ORG), ("bep@bakkerij.nl", "Bep de Boer", ORG),
                             ("piet@ander.nl", "Piet", OTHER)]:
        post_form(client, "/account-aanvragen", "/account-aanvragen",
                  {"name": name, "email": email, "kvk": kvk, "password": PASSWORD, "password2": PASSWORD})
    with db.engine.connect() as c:
        piet = c.execute(sa.select(AccountRequest.id).where(AccountRequest.email == "piet@ander.nl")).scalar_one()
    sync(client)
    login(client, ANNA)
    listing = client.get("/aanvragen").text
    check_page(listing)
    numbers = dict(re.findall(r'href="/aanvragen/(\d+)/goedkeuren">Goedkeuren<span class="visually-hidden"> '
                              r'([^<]+)</span>', listing))
    assert set(numbers.values()) == {"Kees Jansen", "Bep de Boer"}
    by_name = {v: k for k, v in numbers.items()}
    kees, bep = by_name["Kees Jansen"], by_name["Bep de Boer"]
    page = confirm(client, db, f"/aanvragen/{kees}/goedkeuren", "Ja, aanvraag van Kees Jansen goedkeuren")
    assert "15 juni 2026 12:00" in page
    assert "De aanvraag van Kees Jansen is goedgekeurd" in post(client, page)
    page = confirm(client, db, f"/aanvragen/{bep}/afwijzen", "Ja, aanvraag van Bep de Boer afwijzen")
    assert '<textarea id="reason" name="reason"' in page
    assert "De aanvraag van Bep de Boer is afgewezen" in post(client, page, {"reason": "Onbekend bij ons"})
    with db.engine.connect() as c:
        rejected = c.execute(sa.select(Outbox.body_text).where(Outbox.to_addr == "bep@bakkerij.nl")).scalars().all()
    assert rejected[-1].startswith("Beste Bep de Boer,") and "Onbekend bij ons" in rejected[-1]
    # decided, or another organisation's: no confirmation page
    assert client.get(f"/aanvragen/{kees}/goedkeuren").status_code == 404
    assert client.get(f"/aanvragen/{piet}/goedkeuren").status_code == 404


def test_an_e_mail_and_a_page_never_end_in_a_double_full_stop_after_bv(client: TestClient, world: World,
                                                                       db: Database) -> None:
    from authz.messages import one_stop

    assert one_stop("voor Bakkerij De Korenschoof B.V.. Wacht...") == "voor Bakkerij De Korenschoof B.V. Wacht..."
    build(world)
    sync(client)
    login(client, ANNA)
    r = post_form(client, "/uitnodigen", "/uitnodigen", {"email": KEES})
    assert "B.V.." not in r.text
    with db.engine.connect() as c:
        mail = c.execute(sa.select(Outbox.body_text).where(Outbox.to_addr == KEES)).scalars().all()[-1]
    assert "B.V.." not in mail
    link = re.search(r"/uitnodiging/([A-Za-z0-9_-]+)", mail)
    assert link is not None
    client.cookies.clear()
    page = client.get(f"/uitnodiging/{link[1]}").text
    assert "Bakkerij De Korenschoof B.V. Kies" in page and "B.V.." not in page
    login(client, ANNA)
    overview = client.get("/toegangsrechten").text
    assert "Alle huidige gebruikers van Bakkerij De Korenschoof B.V. Klik op" in overview and "B.V.." not in overview
    listing = client.get("/uitnodigen").text
    assert "15 juni 2026" in listing and "2026-06" not in listing.split("<tbody>")[1]
