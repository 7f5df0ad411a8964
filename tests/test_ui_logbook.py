"""The Logboek (R12) in the portal, through the TestClient on SQLite and PostgreSQL: Dutch sentences with names,
filters by period, user and product, pages, the CSV export, and whose records each reader sees."""

from __future__ import annotations

import csv
import io

from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.store import accounts
from authz.store.db import Database
from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page, post_form

ORG = "11111111"
OTHER = "22222222"
ANNA = "anna@bakkerij.nl"
JOOST = "joost@bakkerij.nl"
PIET = "piet@ander.nl"
OPERATOR = "operator@gegevensdiensten.nl"


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof B.V.")
    world.org(OTHER, "Ander Bedrijf")
    world.product("polisadministratie", "Polisadministratie")
    world.product("verzuim", "Verzuimmeldingen")
    for org in (ORG, OTHER):
        world.contract(org, "polisadministratie")
        world.contract(org, "verzuim")
    world.account(ANNA, ORG, roles=("beheerder",), name="Anna de Vries")
    world.account(JOOST, ORG, name="Joost Bakker")
    world.account(PIET, OTHER, name="Piet Ander")
    world.beheerder("baas@ander.nl", OTHER)
    world.operator()


def tick(client: TestClient, user: str, products: list[str], version: int = 0) -> None:
    r = post_form(client, f"/toegangsrechten/{user}", f"/toegangsrechten/{user}",
                  {"afnemer": ORG, "version": str(version), "product": products})
    assert r.status_code == 200, r.text


def rows(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""


def test_the_logbook_reads_as_dutch_sentences_with_names(client: TestClient, world: World, db: Database) -> None:
    build(world)
    with db.tx(actor="cli:demo", on_behalf_of=ORG) as t:
        accounts.set_status(t, accounts.get(t, JOOST), "inactive")
        accounts.set_status(t, accounts.get(t, JOOST), "active")
    sync(client)
    login(client, ANNA)
    tick(client, JOOST, ["polisadministratie"])
    page = client.get("/audit")
    assert page.status_code == 200
    check_page(page.text)
    body = rows(page.text)
    assert "Anna de Vries gaf Joost Bakker toegang tot Polisadministratie voor Bakkerij De Korenschoof B.V." in body
    assert "Het systeem (demo) heractiveerde het account van Joost Bakker." in body
    assert "15 juni 2026 12:00" in body  # the test clock, in Amsterdam time
    for raw in ("grants.replace", "account.active", "cli:demo", "[", "→", "+00:00", "2026-06-15"):
        assert raw not in body, raw


def test_a_beheerder_sees_only_their_own_organisations_records_and_the_operator_all(
        client: TestClient, world: World) -> None:
    build(world)
    world.grant(PIET, OTHER, ["verzuim"], by="baas@ander.nl")
    sync(client)
    login(client, ANNA)
    tick(client, JOOST, ["verzuim"])
    own = client.get("/audit").text
    assert "Joost Bakker" in own and "Piet Ander" not in own and "Ander Bedrijf" not in own
    export = client.get("/audit/export").text
    assert "Joost Bakker" in export and "Piet Ander" not in export
    assert client.get("/operator/logboek").status_code == 403
    assert client.get("/operator/logboek/export").status_code == 403
    login(client, OPERATOR)
    everything = client.get("/operator/logboek")
    check_page(everything.text)
    assert "Piet Ander" in everything.text and "Joost Bakker" in everything.text
    assert "namens Ander Bedrijf" in everything.text
    assert client.get("/audit").status_code == 403


def test_the_logbook_is_filtered_by_period_user_and_product(client: TestClient, world: World,
                                                             clock: FrozenClock) -> None:
    build(world)
    world.account("kees@bakkerij.nl", ORG, name="Kees Jansen")
    sync(client)
    login(client, ANNA)
    tick(client, JOOST, ["polisadministratie"])
    clock.advance(days=10)  # 25 juni 2026
    login(client, ANNA)  # the session of ten days ago has run out
    tick(client, "kees@bakkerij.nl", ["verzuim"])
    june_25 = rows(client.get("/audit", params={"van": "2026-06-25", "tot": "2026-06-25"}).text)
    assert "gaf Kees Jansen toegang" in june_25 and "gaf Joost Bakker toegang" not in june_25
    june_15 = rows(client.get("/audit", params={"tot": "2026-06-15"}).text)
    assert "gaf Joost Bakker toegang" in june_15 and "gaf Kees Jansen toegang" not in june_15
    by_user = rows(client.get("/audit", params={"gebruiker": "kees"}).text)
    assert "gaf Kees Jansen toegang" in by_user and "gaf Joost Bakker toegang" not in by_user
    by_product = client.get("/audit", params={"product": "polisadministratie"}).text
    assert "gaf Joost Bakker toegang" in rows(by_product) and "gaf Kees Jansen toegang" not in rows(by_product)
    assert '<option value="polisadministratie" selected>Polisadministratie</option>' in by_product
    bad = client.get("/audit", params={"van": "gisteren"})
    assert bad.status_code == 200 and "Vul bij &#39;Van&#39; een datum in als JJJJ-MM-DD" in bad.text
    reversed_ = client.get("/audit", params={"van": "2026-06-30", "tot": "2026-06-20"})
    assert "omgewisseld" in reversed_.text and "gaf Kees Jansen toegang" in rows(reversed_.text)


def test_the_logbook_pages_keep_the_filters(client: TestClient, world: World, db: Database) -> None:
    build(world)
    for i in range(55):
        with db.tx(actor=ANNA, on_behalf_of=ORG) as t:
            t.audit("activation.send", f"account:{JOOST}", None, {"email": JOOST, "valid_until": None, "n": i})
    sync(client)
    login(client, ANNA)
    first = client.get("/audit", params={"gebruiker": "joost"})
    assert rows(first.text).count("<tr>") == 50
    older = first.text.split('<p class="pager"><a href="')[1].split('"')[0].replace("&amp;", "&")
    assert "gebruiker=joost" in older and "voor=" in older
    second = client.get(older)
    check_page(second.text)
    assert 5 <= rows(second.text).count("<tr>") <= 10  # the 55 and the account's own records of the world
    assert "Naar de nieuwste wijzigingen" in second.text


def test_the_csv_export_holds_the_filtered_records_safely_for_a_spreadsheet(
        client: TestClient, world: World, db: Database, clock: FrozenClock) -> None:
    build(world)
    evil = '=HYPERLINK("http://kwaad.example")'
    world.account("formule@bakkerij.nl", ORG, name=evil)
    sync(client)
    login(client, ANNA)
    tick(client, JOOST, ["polisadministratie"])
    clock.advance(days=1)
    login(client, ANNA)
    tick(client, "formule@bakkerij.nl", ["verzuim"])
    with db.tx(actor="formule@bakkerij.nl", on_behalf_of=ORG) as t:
        t.audit("account.password_change", "account:formule@bakkerij.nl", None,
                {"email": "formule@bakkerij.nl", "password": "change"})
    r = client.get("/audit/export", params={"van": "2026-06-16"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="logboek-{ORG}.csv"'
    assert r.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["moment", "wie", "namens", "handeling", "code"]
    assert len(table) == 3  # the period holds: only what happened on the 16th, newest first
    assert table[1] == ["2026-06-16 12:00:00", f"'{evil}", "Bakkerij De Korenschoof B.V.",
                        f"'{evil} wijzigde het eigen wachtwoord.", "account.password_change"]
    assert table[2] == ["2026-06-16 12:00:00", "Anna de Vries", "Bakkerij De Korenschoof B.V.",
                        f"Anna de Vries gaf {evil} toegang tot Verzuimmeldingen voor Bakkerij De Korenschoof B.V.",
                        "grants.replace"]
    for row in table:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row
    by_user = client.get("/audit/export", params={"gebruiker": "joost"}).content.decode("utf-8-sig")
    assert "Joost Bakker" in by_user and evil not in by_user


def test_a_formula_in_a_cell_gets_a_leading_apostrophe() -> None:
    from admin_ui.logbook import cell

    assert cell("=1+1") == "'=1+1" and cell("+31") == "'+31" and cell("-2") == "'-2" and cell("@SUM") == "'@SUM"
    assert cell("Anna de Vries") == "Anna de Vries"


def test_a_users_history_reads_in_the_same_words(client: TestClient, world: World) -> None:
    build(world)
    sync(client)
    login(client, ANNA)
    tick(client, JOOST, ["polisadministratie", "verzuim"])
    tick(client, JOOST, ["polisadministratie"], version=1)
    history = client.get(f"/toegangsrechten/{JOOST}/geschiedenis")
    check_page(history.text)
    assert "<h1>Geschiedenis van Joost Bakker</h1>" in history.text  # the person's name, not the address
    body = rows(history.text)
    assert "Anna de Vries nam Joost Bakker de toegang tot Verzuimmeldingen af voor Bakkerij De Korenschoof B.V." \
        in body
    assert "Afnemer" not in body and "verwijderd verzuim" not in body and "test" not in body.split("</td>")[1]
    logbook = rows(client.get("/audit").text)
    assert "Anna de Vries nam Joost Bakker de toegang tot Verzuimmeldingen af" in logbook
