"""The beheerder's overviews: the organisation's users (searchable), its clients (R15) and its audit trail (R12)."""

from __future__ import annotations

from datetime import date

from starlette.testclient import TestClient

from authz.api import admin, openapi
from authz.store import catalogue
from authz.store.db import Database
from tests.conftest import login
from tests.factories import World
from tests.test_admin_grants import (
    AFNEMER,
    ALICE,
    BEHEERDER,
    GARAGE,
    INTERMEDIAIR,
    OTHER,
    TUSSEN,
    build,
    put,
)


def emails(client: TestClient, **params: str) -> list[str]:
    r = client.get(f"/v1/orgs/{AFNEMER}/users", params=params)
    assert r.status_code == 200, r.text
    return [u["email"] for u in r.json()["users"]]


def test_users_lists_the_organisations_accounts_sorted(client: TestClient, world: World) -> None:
    build(world)
    world.account("carol@korenschoof.nl", AFNEMER, status="inactive", name="Carol Zwart")
    login(client, BEHEERDER)
    r = client.get(f"/v1/orgs/{AFNEMER}/users")
    assert r.json() == {"cursor": None, "users": [
        {"email": ALICE, "name": "Alice Bakker", "status": "active", "roles": [], "lapsed": False},
        {"email": BEHEERDER, "name": "", "status": "active", "roles": ["beheerder"], "lapsed": False},
        {"email": "carol@korenschoof.nl", "name": "Carol Zwart", "status": "inactive", "roles": [], "lapsed": False},
    ]}


def test_users_are_searchable_by_email_or_name_in_any_case(client: TestClient, world: World) -> None:
    build(world)
    world.account("carol@korenschoof.nl", AFNEMER, name="Carol Bakker")
    world.account("dirk_100%@korenschoof.nl", AFNEMER)
    login(client, BEHEERDER)
    assert emails(client, q="BAKKER") == [ALICE, "carol@korenschoof.nl"]
    assert emails(client, q="Beheerder@") == [BEHEERDER]
    assert emails(client, q="salarisnoord") == []  # other organisations' accounts never show
    assert emails(client, q="_1") == ["dirk_100%@korenschoof.nl"]  # LIKE wildcards are literal
    assert emails(client, q="%") == ["dirk_100%@korenschoof.nl"]


def test_users_page_with_a_cursor(client: TestClient, world: World) -> None:
    build(world)
    for i in range(5):
        world.account(f"user{i}@korenschoof.nl", AFNEMER)
    login(client, BEHEERDER)
    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        page = client.get(f"/v1/orgs/{AFNEMER}/users", params=params).json()
        seen += [u["email"] for u in page["users"]]
        if page["cursor"] is None:
            break
        params["cursor"] = page["cursor"]
    assert seen == sorted(seen) and len(seen) == 7 and len(set(seen)) == 7
    assert client.get(f"/v1/orgs/{AFNEMER}/users", params={"limit": "0"}).status_code == 422
    assert client.get(f"/v1/orgs/{AFNEMER}/users", params={"sort": "name"}).status_code == 422


def test_clients_are_the_afnemers_with_a_valid_mandate(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.product("werkgeversgegevens", "Werkgeversgegevens")
    world.contract(OTHER, "werkgeversgegevens", valid_until=date(2026, 5, 31))  # lapsed
    world.mandate(OTHER, INTERMEDIAIR, None)  # every product of Garage Oost
    world.org("44444444", "Toekomst BV")
    world.contract("44444444", "loonaangifte")
    world.mandate("44444444", INTERMEDIAIR, None, valid_from=date(2026, 7, 1))  # not valid yet
    login(client, TUSSEN)
    r = client.get(f"/v1/orgs/{INTERMEDIAIR}/clients")
    assert r.status_code == 200, r.text
    assert r.json() == {"clients": [
        {"kvk": AFNEMER, "name": "Bakkerij De Korenschoof", "products": ["polisadministratie"]},
        {"kvk": OTHER, "name": "Garage Oost", "products": ["loonaangifte"]},
    ]}
    with db.tx("test") as t:
        catalogue.end_mandate(t, AFNEMER, INTERMEDIAIR)
    assert [c["kvk"] for c in client.get(f"/v1/orgs/{INTERMEDIAIR}/clients").json()["clients"]] == [OTHER]
    # an organisation acting for nobody has no clients
    login(client, BEHEERDER)
    assert client.get(f"/v1/orgs/{AFNEMER}/clients").json() == {"clients": []}


def test_audit_trail_is_newest_first_and_pages(client: TestClient, world: World) -> None:
    build(world)
    login(client, BEHEERDER)
    for products in (["verzuim"], ["polisadministratie"], [], ["verzuim"]):
        assert put(client, AFNEMER, ALICE, AFNEMER, products).status_code == 200
    everything = client.get(f"/v1/orgs/{AFNEMER}/audit", params={"limit": "500"}).json()
    assert everything["cursor"] is None
    revisions = [e["revision"] for e in everything["entries"]]
    assert revisions == sorted(revisions, reverse=True)
    assert set(everything["entries"][0]) == {"at", "actor", "action", "subject", "before", "after", "revision"}
    # every entry of the organisation, and only those: the grants of the intermediair's users are not here
    actions = [e["action"] for e in everything["entries"]]
    assert actions[:4] == ["grants.replace"] * 4 and "organisation.create" in actions
    assert all(e["subject"] != "organisation:" + OTHER for e in everything["entries"])
    paged: list[dict[str, object]] = []
    params = {"limit": "4"}
    while True:
        page = client.get(f"/v1/orgs/{AFNEMER}/audit", params=params).json()
        paged += page["entries"]
        if page["cursor"] is None:
            break
        params["cursor"] = page["cursor"]
    assert paged == everything["entries"]
    assert client.get(f"/v1/orgs/{AFNEMER}/audit", params={"cursor": "abc"}).status_code == 422


def test_audit_trail_filters_by_user_and_product(client: TestClient, world: World) -> None:
    build(world)
    world.account("bert@korenschoof.nl", AFNEMER)
    login(client, BEHEERDER)
    put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"])
    put(client, AFNEMER, "bert@korenschoof.nl", AFNEMER, ["polisadministratie"])

    def subjects(**params: str) -> list[tuple[str, str]]:
        entries = client.get(f"/v1/orgs/{AFNEMER}/audit", params=params).json()["entries"]
        return [(e["action"], e["subject"]) for e in entries]

    assert subjects(user="ALICE@") == [("grants.replace", f"account:{ALICE}"), ("account.create", f"account:{ALICE}")]
    assert subjects(product="verzuim") == [("grants.replace", f"account:{ALICE}"),
                                           ("contract.put", f"contract:{AFNEMER}/verzuim")]
    assert subjects(user="bert", product="verzuim") == []
    # the actor matches too: every change the beheerder made
    assert [a for a, _ in subjects(user=BEHEERDER)] == ["grants.replace", "grants.replace", "account.create"]


def test_every_admin_endpoint_is_described(client: TestClient) -> None:
    paths = {r.path for r in admin.routes}
    assert not [u for u in openapi.undescribed(admin.routes)]
    spec = client.get("/openapi.json").json()["paths"]
    assert paths <= set(spec)
    assert spec["/v1/orgs/{kvk}/users/{email}/grants"]["put"]["requestBody"]["content"]["application/json"][
        "schema"]["required"] == ["afnemer", "products"]


def test_a_beheerder_of_another_org_sees_none_of_it(client: TestClient, world: World) -> None:
    build(world)
    login(client, GARAGE)
    for path in ("users", "clients", "audit", "beheerders", f"users/{ALICE}/grants"):
        r = client.get(f"/v1/orgs/{AFNEMER}/{path}")
        assert r.status_code == 403, (path, r.text)
        assert "korenschoof" not in r.text
