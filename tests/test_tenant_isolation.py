"""Tenant isolation of every beheerder endpoint (R2): a beheerder of organisation B acting on organisation A's data
gets 403 or 404, and nothing changes: the revision and every table stay as they were."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from authz.api import admin
from authz.store.db import Database
from tests.conftest import login
from tests.factories import World
from tests.test_admin_grants import (
    AFNEMER,
    ALICE,
    BEHEERDER,
    BOB,
    GARAGE,
    INTERMEDIAIR,
    OTHER,
    TUSSEN,
    build,
    state_of,
)

GRANT = {"afnemer": AFNEMER, "products": ["verzuim"]}

# (method, path, body): every beheerder endpoint, aimed at organisation A (the afnemer) and its accounts.
ON_A: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", f"/v1/orgs/{AFNEMER}/users", None),
    ("GET", f"/v1/orgs/{AFNEMER}/clients", None),
    ("GET", f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants", None),
    ("PUT", f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants", GRANT),
    ("GET", f"/v1/orgs/{AFNEMER}/beheerders", None),
    ("PUT", f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", None),
    ("DELETE", f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}", None),
    ("GET", f"/v1/orgs/{AFNEMER}/audit", None),
]


def call(client: TestClient, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if body is None and method != "DELETE":
        body = {}  # a write with no fields is still declared JSON
    return client.request(method, path, json=body)


def test_the_table_covers_every_admin_route() -> None:
    covered = {(m, p.replace(AFNEMER, "{kvk}").replace(ALICE, "{email}").replace(BEHEERDER, "{email}"))
               for m, p, _ in ON_A}
    routes = {(m, r.path) for r in admin.routes for m in (r.methods or set()) - {"HEAD"}}
    assert covered == routes


@pytest.mark.parametrize(("method", "path", "body"), ON_A, ids=[f"{m} {p}" for m, p, _ in ON_A])
def test_a_beheerder_of_another_org_changes_nothing(client: TestClient, world: World, db: Database, method: str,
                                                    path: str, body: dict[str, Any] | None) -> None:
    build(world)
    world.beheerder("tweede@korenschoof.nl", AFNEMER)  # so that removing BEHEERDER would be allowed to A itself
    before = state_of(db)
    for outsider in (GARAGE, TUSSEN):  # unrelated, and the intermediair that acts for A
        login(client, outsider)
        r = call(client, method, path, body)
        assert r.status_code in (403, 404), (outsider, r.text)
        assert "alice" not in r.text and "korenschoof" not in r.text
    assert state_of(db) == before
    # the same call by A's own beheerder is answered, so the refusal above was about the organisation
    login(client, BEHEERDER)
    assert call(client, method, path, body).status_code == 200


def test_a_users_of_another_org_cannot_be_reached_through_the_own_org(client: TestClient, world: World,
                                                                      db: Database) -> None:
    build(world)
    world.mandate(OTHER, AFNEMER, None)  # even with a mandate between them
    login(client, GARAGE)
    before = state_of(db)
    own = OTHER
    for method, path, body in [
        ("GET", f"/v1/orgs/{own}/users/{ALICE}/grants", None),
        ("PUT", f"/v1/orgs/{own}/users/{ALICE}/grants", {"afnemer": OTHER, "products": ["loonaangifte"]}),
        ("PUT", f"/v1/orgs/{own}/beheerders/{ALICE}", None),
        ("DELETE", f"/v1/orgs/{own}/beheerders/{BEHEERDER}", None),
    ]:
        r = call(client, method, path, body)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "unknown_account"
    assert ALICE not in client.get(f"/v1/orgs/{own}/users", params={"q": "alice"}).text
    assert state_of(db) == before


def test_the_afnemers_beheerder_cannot_edit_the_intermediairs_users(client: TestClient, world: World,
                                                                    db: Database) -> None:
    build(world)
    world.grant(BOB, AFNEMER, ["polisadministratie"])
    login(client, BEHEERDER)
    before = state_of(db)
    # Bob sees the afnemer's product, but only his own organisation's beheerder changes his grants (R2)
    assert client.get(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants").status_code == 403
    r = client.put(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants", json={"afnemer": AFNEMER, "products": []})
    assert r.status_code == 403
    r = client.put(f"/v1/orgs/{AFNEMER}/users/{BOB}/grants", json={"afnemer": AFNEMER, "products": []})
    assert r.status_code == 404
    assert state_of(db) == before


def test_an_operator_is_no_beheerder(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.operator()
    login(client, "operator@gegevensdiensten.nl")
    before = state_of(db)
    for method, path, body in ON_A:
        assert call(client, method, path, body).status_code == 403, path
    assert state_of(db) == before


def test_an_afnemer_cannot_be_ticked_without_a_mandate(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, GARAGE)
    world.account("gert@garage-oost.nl", OTHER)
    before = state_of(db)
    r = client.put(f"/v1/orgs/{OTHER}/users/gert@garage-oost.nl/grants", json=GRANT)
    assert r.status_code == 422 and r.json()["error"]["code"] == "afnemer_not_selectable"
    assert state_of(db) == before
