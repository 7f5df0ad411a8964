"""The admin UI's review screens on the policy tools, through the TestClient on SQLite and PostgreSQL: a user's
history (beheerder), the lint findings and the policy file download (operator)."""

from __future__ import annotations

from starlette.testclient import TestClient

from authz.service import grants
from authz.store.db import Database
from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import check_page

ORG = "11111111"
OTHER = "22222222"
BEHEERDER = "beheer@bakkerij.nl"
USER = "jan@bakkerij.nl"


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof")
    world.org(OTHER, "Ander Bedrijf")
    world.product("polisadministratie")
    world.product("verzuim")
    world.contract(ORG, "polisadministratie")
    world.contract(ORG, "verzuim")
    world.beheerder(BEHEERDER, ORG)
    world.account(USER, ORG)
    world.beheerder("baas@ander.nl", OTHER)
    world.operator()


def test_a_users_history_shows_each_change_newest_first(client: TestClient, world: World, db: Database) -> None:
    build(world)
    grants.save(db, BEHEERDER, ORG, USER, ORG, ["polisadministratie", "verzuim"], None, "http://x")
    grants.save(db, BEHEERDER, ORG, USER, ORG, ["verzuim"], None, "http://x")
    sync(client)
    login(client, BEHEERDER)
    page = client.get(f"/toegangsrechten/{USER}/geschiedenis")
    assert page.status_code == 200
    check_page(page.text)
    body = page.text.split("<tbody>")[1]
    removed = "beheer@bakkerij.nl nam jan@bakkerij.nl de toegang tot Polisadministratie af voor Bakkerij De Korenschoof"
    added = "gaf jan@bakkerij.nl toegang tot Polisadministratie en Verzuim voor Bakkerij De Korenschoof"
    assert body.index(removed) < body.index(added)
    assert "grants.replace" not in body and "[" not in body
    assert client.get("/toegangsrechten/baas@ander.nl/geschiedenis").status_code == 404


def test_operator_sees_findings_and_downloads_the_policy_file(client: TestClient, world: World) -> None:
    build(world)
    sync(client)
    login(client, "operator@gegevensdiensten.nl")
    page = client.get("/operator/controle")
    check_page(page.text)
    assert "Eén beheerder" in page.text and "een tweede beheerder aan te wijzen" in page.text
    assert "single_beheerder" not in page.text and "Bakkerij De Korenschoof" in page.text
    whole = client.get("/operator/export")
    assert whole.status_code == 200
    assert whole.headers["content-disposition"] == 'attachment; filename="toegangsrechten.yaml"'
    assert ORG in whole.text and OTHER in whole.text
    one = client.get("/operator/export", params={"kvk": ORG})
    assert ORG in one.text and "baas@ander.nl" not in one.text
    login(client, BEHEERDER)
    assert client.get("/operator/export").status_code == 403
    assert client.get("/operator/controle").status_code == 403
