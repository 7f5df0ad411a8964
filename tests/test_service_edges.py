"""The JSON API and the portal are two edges over the same use cases (authz/service), on SQLite and PostgreSQL: they
refuse and decide alike, list alike, and both apply a change on this instance before they answer."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.errors import Invalid
from authz.service import catalogue
from authz.store.db import Database
from authz.store.schema import Mandate
from tests.conftest import login, sync
from tests.factories import World
from tests.ui.helpers import post_form

AFNEMER = "11111111"
INTERMEDIAIR = "22222222"
OPERATOR = "operator@gegevensdiensten.nl"
BEHEERDER = "beheer@bakkerij.nl"


def mandates(db: Database) -> list[tuple[str, str, list[str] | None]]:
    with db.engine.connect() as c:
        return [(a, i, p) for a, i, p in c.execute(sa.select(Mandate.afnemer, Mandate.intermediair, Mandate.products))]


@pytest.fixture
def orgs(world: World, client: TestClient) -> World:
    world.operator()
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.org(INTERMEDIAIR, "Salarisbureau Noord")
    world.product("polisadministratie")
    world.contract(AFNEMER, "polisadministratie")
    sync(client)
    login(client, OPERATOR)
    return world


def test_a_mandate_for_no_products_is_refused_by_the_use_case_itself(orgs: World, db: Database) -> None:
    with pytest.raises(Invalid) as refused:
        catalogue.put_mandate(db, OPERATOR, AFNEMER, INTERMEDIAIR, [], None, None)
    assert refused.value.code == "invalid_field"
    assert mandates(db) == []


def test_a_mandate_for_all_products_is_null_in_the_portal_as_in_the_api(orgs: World, client: TestClient,
                                                                        db: Database) -> None:
    page = f"/operator/organisaties/{AFNEMER}"
    r = post_form(client, page, f"{page}/opdrachten", {"intermediair": INTERMEDIAIR, "all_products": "1",
                                                       "open_ended": "1"})
    assert "De opdracht van Bakkerij De Korenschoof aan Salarisbureau Noord geldt voor alle producten" in r.text
    assert mandates(db) == [(AFNEMER, INTERMEDIAIR, None)]
    r = client.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", json={"products": None})
    assert r.status_code == 200, r.text
    assert r.json()["products"] is None
    r = client.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", json={"products": []})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field"
    # nothing ticked in the portal is the API's products: [], refused by the same use case, naming the field
    r = post_form(client, page, f"{page}/opdrachten", {"intermediair": INTERMEDIAIR, "open_ended": "1"})
    assert r.status_code == 422 and "Producten: Vink de producten aan" in r.text
    assert mandates(db) == [(AFNEMER, INTERMEDIAIR, None)]


def test_both_edges_refuse_a_window_that_ends_before_it_starts(orgs: World, client: TestClient,
                                                              db: Database) -> None:
    days = {"valid_from": "2026-06-01", "valid_until": "2026-05-31"}
    r = client.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", json=days)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_dates"
    page = f"/operator/organisaties/{AFNEMER}"
    r = post_form(client, page, f"{page}/opdrachten", {"intermediair": INTERMEDIAIR, "all_products": "1", **days})
    assert "De einddatum ligt voor de ingangsdatum." in r.text
    assert mandates(db) == []


def test_a_portal_change_holds_for_checks_on_this_instance_when_the_page_answers(orgs: World, client: TestClient,
                                                                                db: Database) -> None:
    before = sync(client)
    page = f"/operator/organisaties/{AFNEMER}"
    post_form(client, page, f"{page}/opdrachten", {"intermediair": INTERMEDIAIR, "all_products": "1",
                                                   "open_ended": "1"})
    assert client.app.state.authz.decider.revision == db.revision() > before  # type: ignore[attr-defined]


def test_the_users_overview_is_one_listing_for_both_edges(world: World, client: TestClient) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.beheerder(BEHEERDER, AFNEMER)
    for i in range(3):
        world.account(f"user{i}@bakkerij.nl", AFNEMER)
    sync(client)
    login(client, BEHEERDER)
    listed = client.get(f"/v1/orgs/{AFNEMER}/users", params={"q": "user", "limit": "2"}).json()
    assert [u["email"] for u in listed["users"]] == ["user0@bakkerij.nl", "user1@bakkerij.nl"]
    assert listed["cursor"] == "user1@bakkerij.nl"
    page = client.get("/toegangsrechten", params={"q": "user"}).text
    assert all(f"user{i}@bakkerij.nl" in page for i in range(3))
    rest = client.get(f"/v1/orgs/{AFNEMER}/users", params={"q": "user", "cursor": listed["cursor"]}).json()
    assert [u["email"] for u in rest["users"]] == ["user2@bakkerij.nl"] and rest["cursor"] is None
