"""The operator's catalogue API (SPEC §4): organisations, products, contracts, mandates; R3, R11, R12.

Every change holds for /v1/check as soon as the answer is back (no sync() between the write and the check).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.api import openapi
from authz.app import all_routes
from authz.clock import FrozenClock
from authz.store.db import Database
from authz.store.schema import Audit, CasbinRule, Contract, Grant, Mandate, Organisation, Outbox, Product
from tests.conftest import login, sync
from tests.factories import World

AFNEMER = "11111111"
INTERMEDIAIR = "22222222"
OPERATOR = "operator@gegevensdiensten.nl"


@pytest.fixture
def operator(api: TestClient, world: World) -> TestClient:
    """The app with a service key (for /v1/check) and an operator's session."""
    world.operator(OPERATOR)
    return login(api, OPERATOR)


def error_of(r: Any) -> str:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    code: str = body["error"]["code"]
    return code


def check(c: TestClient, user: str, product: str, afnemer: str | None = None) -> dict[str, Any]:
    body = {"user": user, "product": product, **({"afnemer": afnemer} if afnemer else {})}
    r = c.post("/v1/check", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def count(db: Database, table: type) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def footprint(db: Database) -> tuple[int, ...]:
    """Everything an operator action could change."""
    tables = (Organisation, Product, Contract, Mandate, Grant, CasbinRule, Audit, Outbox)
    return (db.revision(), *(count(db, t) for t in tables))


def small_world(world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof B.V.", ["korenschoof.nl"])
    world.org(INTERMEDIAIR, "Salarisadministratie Noord")
    world.product("polisadministratie")
    world.product("verzuimmeldingen")
    world.account("joost@korenschoof.nl", AFNEMER)
    world.account("sanne@salarisnoord.nl", INTERMEDIAIR)


def test_operator_registers_a_verified_organisation(operator: TestClient, db: Database) -> None:
    r = operator.post("/v1/operator/organisations",
                      json={"kvk": "12345678", "name": "Bakkerij De Korenschoof B.V.",
                            "domains": ["Korenschoof.nl", "korenschoof.nl"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {"kvk": "12345678", "name": "Bakkerij De Korenschoof B.V.", "status": "verified",
                    "domains": ["korenschoof.nl"], "revision": db.revision()}
    # the decision API knows the afnemer at once: asking for it is no longer a 422 unknown_afnemer
    assert check(operator, "x@korenschoof.nl", "polis", "12345678")["reason"] == "unknown_user"
    assert operator.get("/v1/operator/organisations/12345678").json()["name"] == "Bakkerij De Korenschoof B.V."
    with db.engine.connect() as c:
        actor, action = c.execute(sa.select(Audit.actor, Audit.action).order_by(Audit.id.desc())).first() or ("", "")
    assert (actor, action) == (OPERATOR, "organisation.create")

    before = footprint(db)
    r = operator.post("/v1/operator/organisations", json={"kvk": "12345678", "name": "Nog een keer"})
    assert r.status_code == 409 and error_of(r) == "organisation_exists"
    assert footprint(db) == before


def test_operator_adds_a_product_that_checks_know_at_once(operator: TestClient, world: World, db: Database) -> None:
    world.org(AFNEMER)
    world.account("joost@korenschoof.nl", AFNEMER)
    sync(operator)
    assert check(operator, "joost@korenschoof.nl", "loongegevens")["reason"] == "unknown_product"
    r = operator.post("/v1/operator/products", json={"code": "loongegevens", "name": "Loongegevens",
                                                     "description": "Lonen per dienstverband, per maand."})
    assert r.status_code == 201, r.text
    assert r.json() == {"code": "loongegevens", "name": "Loongegevens",
                        "description": "Lonen per dienstverband, per maand.", "url": None, "revision": db.revision()}
    assert check(operator, "joost@korenschoof.nl", "loongegevens")["reason"] == "no_grant"
    r = operator.post("/v1/operator/products", json={"code": "loongegevens", "name": "Dubbel"})
    assert r.status_code == 409 and error_of(r) == "product_exists"
    assert operator.get("/v1/operator/products").json() == {"products": [
        {"code": "loongegevens", "name": "Loongegevens", "description": "Lonen per dienstverband, per maand.",
         "url": None}]}


def test_a_new_contract_grants_nobody_anything_and_mails_nobody(operator: TestClient, world: World,
                                                                db: Database) -> None:
    small_world(world)
    world.beheerder("anna@korenschoof.nl", AFNEMER)
    world.contract(AFNEMER, "polisadministratie")
    world.grant("joost@korenschoof.nl", AFNEMER, ["polisadministratie"])
    grants_before, outbox_before = count(db, Grant), count(db, Outbox)
    r = operator.put(f"/v1/operator/contracts/{AFNEMER}/verzuimmeldingen", json={"valid_from": "2026-06-01"})
    assert r.status_code == 200, r.text
    assert count(db, Grant) == grants_before
    assert count(db, Outbox) == outbox_before == 0
    for user in ("joost@korenschoof.nl", "anna@korenschoof.nl"):
        assert check(operator, user, "verzuimmeldingen")["reason"] == "no_grant"
    assert operator.get("/v1/products/verzuimmeldingen/users", params={"afnemer": AFNEMER}).json()["users"] == []


def test_a_contract_takes_effect_at_once_and_its_end_leaves_the_grant_inert(operator: TestClient, world: World,
                                                                          db: Database) -> None:
    small_world(world)
    world.grant("joost@korenschoof.nl", AFNEMER, ["polisadministratie"])
    sync(operator)
    assert check(operator, "joost@korenschoof.nl", "polisadministratie")["reason"] == "no_contract"

    r = operator.put(f"/v1/operator/contracts/{AFNEMER}/polisadministratie",
                     json={"valid_from": "2026-01-01", "valid_until": "2026-12-31"})
    assert r.status_code == 200, r.text
    assert r.json() == {"afnemer": AFNEMER, "product": "polisadministratie", "valid_from": "2026-01-01",
                        "valid_until": "2026-12-31", "valid_today": True, "revision": db.revision()}
    answer = check(operator, "joost@korenschoof.nl", "polisadministratie")
    assert answer["allowed"] is True and answer["revision"] >= r.json()["revision"]

    # changing the dates so that the contract lies in the past: inert at once
    r = operator.put(f"/v1/operator/contracts/{AFNEMER}/polisadministratie",
                     json={"valid_from": "2025-01-01", "valid_until": "2025-12-31"})
    assert r.status_code == 200 and r.json()["valid_today"] is False
    assert check(operator, "joost@korenschoof.nl", "polisadministratie")["reason"] == "no_contract"

    operator.put(f"/v1/operator/contracts/{AFNEMER}/polisadministratie",
                 json={"valid_from": "2026-01-01", "valid_until": None})  # null: open-ended
    assert check(operator, "joost@korenschoof.nl", "polisadministratie")["allowed"] is True
    r = operator.delete(f"/v1/operator/contracts/{AFNEMER}/polisadministratie")
    assert r.status_code == 200, r.text
    yesterday = (db.clock.today() - timedelta(days=1)).isoformat()
    assert r.json() == {"afnemer": AFNEMER, "product": "polisadministratie", "valid_from": "2026-01-01",
                        "valid_until": yesterday, "valid_today": False, "revision": db.revision()}
    assert check(operator, "joost@korenschoof.nl", "polisadministratie")["reason"] == "no_contract"
    assert count(db, Grant) == 1  # kept, flagged inert, until a beheerder removes it (R1)
    with db.engine.connect() as c:  # the contract stays, ended: its line ends yesterday
        assert c.execute(sa.select(CasbinRule.v2).where(CasbinRule.ptype == "g2")).scalars().all() == [
            f"2026-01-01..{yesterday}"]


def test_valid_from_defaults_to_today_in_amsterdam(operator: TestClient, world: World, clock: FrozenClock) -> None:
    small_world(world)
    clock.at = datetime(2026, 6, 15, 22, 30, tzinfo=UTC)  # already 16 June in Amsterdam (UTC+2)
    login(operator, OPERATOR)  # the session of the fixture has been idle too long by now
    r = operator.put(f"/v1/operator/contracts/{AFNEMER}/polisadministratie", json={})
    assert r.status_code == 200, r.text
    assert r.json()["valid_from"] == "2026-06-16" and r.json()["valid_until"] is None
    r = operator.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", json={"valid_until": "2026-12-31"})
    assert r.status_code == 200, r.text
    assert r.json()["valid_from"] == "2026-06-16"


def test_a_mandate_covers_a_subset_or_all_and_ends(operator: TestClient, world: World, db: Database) -> None:
    small_world(world)
    world.contract(AFNEMER, "polisadministratie")
    world.contract(AFNEMER, "verzuimmeldingen")
    world.grant("sanne@salarisnoord.nl", AFNEMER, ["polisadministratie", "verzuimmeldingen"])
    sync(operator)
    assert check(operator, "sanne@salarisnoord.nl", "polisadministratie")["reason"] == "no_mandate"

    r = operator.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}",
                     json={"products": ["verzuimmeldingen"], "valid_from": "2026-01-01"})
    assert r.status_code == 200, r.text
    assert r.json() == {"afnemer": AFNEMER, "intermediair": INTERMEDIAIR, "valid_from": "2026-01-01",
                        "valid_until": None, "products": ["verzuimmeldingen"], "valid_today": True,
                        "revision": db.revision()}
    assert check(operator, "sanne@salarisnoord.nl", "verzuimmeldingen", AFNEMER)["allowed"] is True
    assert check(operator, "sanne@salarisnoord.nl", "polisadministratie")["reason"] == "no_mandate"

    r = operator.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", json={"products": None})
    assert r.status_code == 200 and r.json()["products"] is None  # null: all of the afnemer's products
    assert r.json()["valid_from"] == "2026-01-01"  # left out: kept
    assert check(operator, "sanne@salarisnoord.nl", "polisadministratie")["allowed"] is True

    r = operator.delete(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}")
    assert r.status_code == 200 and r.json()["valid_today"] is False
    assert check(operator, "sanne@salarisnoord.nl", "verzuimmeldingen")["reason"] == "no_mandate"
    with db.engine.connect() as c:
        subjects = c.execute(sa.select(Audit.action, Audit.on_behalf_of).where(Audit.action.like("mandate.%"))
                             .order_by(Audit.id)).all()
    # recorded for both organisations' audit trails
    assert {(a, o) for a, o in subjects} == {(a, o) for a in ("mandate.put", "mandate.end")
                                             for o in (AFNEMER, INTERMEDIAIR)}


def test_listings_for_the_admin_screens(operator: TestClient, world: World) -> None:
    small_world(world)
    world.org("33333333", "Transportbedrijf Van Dijk")
    world.contract(AFNEMER, "polisadministratie")
    world.contract(AFNEMER, "verzuimmeldingen", valid_until=datetime(2026, 3, 31).date())
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"])

    page = operator.get("/v1/operator/organisations", params={"limit": 2}).json()
    assert [o["kvk"] for o in page["organisations"]] == [AFNEMER, INTERMEDIAIR]
    assert page["cursor"] == INTERMEDIAIR
    rest = operator.get("/v1/operator/organisations", params={"limit": 2, "cursor": page["cursor"]}).json()
    assert [o["kvk"] for o in rest["organisations"]] == ["33333333"] and rest["cursor"] is None
    found = operator.get("/v1/operator/organisations", params={"q": "korenSCHOOF"}).json()["organisations"]
    assert [o["kvk"] for o in found] == [AFNEMER]
    assert [o["kvk"] for o in operator.get("/v1/operator/organisations",
                                           params={"q": "2222"}).json()["organisations"]] == [INTERMEDIAIR]
    assert operator.get("/v1/operator/organisations", params={"q": "%"}).json()["organisations"] == []

    contracts = operator.get(f"/v1/operator/organisations/{AFNEMER}/contracts").json()["contracts"]
    assert [(c["product"], c["valid_today"]) for c in contracts] == [("polisadministratie", True),
                                                                     ("verzuimmeldingen", False)]
    given = operator.get(f"/v1/operator/organisations/{AFNEMER}/mandates").json()
    held = operator.get(f"/v1/operator/organisations/{INTERMEDIAIR}/mandates").json()
    assert given["held"] == [] and held["given"] == []
    assert given["given"] == held["held"] == [{
        "afnemer": AFNEMER, "intermediair": INTERMEDIAIR, "valid_from": "2026-01-01", "valid_until": None,
        "products": ["polisadministratie"], "valid_today": True}]
    r = operator.get("/v1/operator/organisations/44444444/contracts")
    assert r.status_code == 404 and error_of(r) == "unknown_organisation"
    r = operator.get("/v1/operator/organisations", params={"limit": "0"})
    assert r.status_code == 422


BAD: list[tuple[str, str, Any, int, str]] = [
    ("post", "/v1/operator/organisations", {"kvk": "1234567", "name": "Te kort"}, 422, "invalid_kvk"),
    ("post", "/v1/operator/organisations", {"kvk": "1234567a", "name": "Letter"}, 422, "invalid_kvk"),
    ("post", "/v1/operator/organisations", {"kvk": "55555555"}, 422, "missing_field"),
    ("post", "/v1/operator/organisations", {"kvk": "55555555", "name": "X", "status": "pending"}, 422,
     "unknown_field"),
    ("post", "/v1/operator/organisations", {"kvk": "55555555", "name": "X", "domains": ["gmail.com"]}, 422,
     "free_mail_domain"),
    ("post", "/v1/operator/organisations", {"kvk": "55555555", "name": "X", "domains": ["a b.nl"]}, 422,
     "invalid_domain"),
    ("post", "/v1/operator/organisations", {"kvk": "55555555", "name": "x" * 201}, 422, "invalid_field"),
    ("post", "/v1/operator/organisations", {"kvk": AFNEMER, "name": "Bestaat al"}, 409, "organisation_exists"),
    ("post", "/v1/operator/products", {"code": "Polis Administratie", "name": "X"}, 422, "invalid_product_code"),
    ("post", "/v1/operator/products", {"code": "polisadministratie", "name": "Dubbel"}, 409, "product_exists"),
    ("post", "/v1/operator/products", {"code": "nieuw", "name": "X", "prijs": 3}, 422, "unknown_field"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie", {"valid_from": "2026-13-01"}, 422,
     "invalid_date"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie", {"valid_from": "15-06-2026"}, 422,
     "invalid_date"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie",
     {"valid_from": "2026-06-01", "valid_until": "2026-05-31"}, 422, "invalid_dates"),
    # the start left out is the contract's own (2026-01-01): an end before it is refused
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie", {"valid_until": "2025-12-31"}, 422,
     "invalid_dates"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {"products": []}, 422, "invalid_field"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie", {"tot": "2026-12-31"}, 422, "unknown_field"),
    ("put", "/v1/operator/contracts/1111111/polisadministratie", {}, 422, "invalid_kvk"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/Polis", {}, 422, "invalid_product_code"),
    ("put", "/v1/operator/contracts/99999999/polisadministratie", {}, 404, "unknown_organisation"),
    ("put", f"/v1/operator/contracts/{AFNEMER}/onbekend", {}, 404, "unknown_product"),
    ("delete", f"/v1/operator/contracts/{AFNEMER}/verzuimmeldingen", None, 404, "unknown_contract"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {"products": ["onbekend"]}, 404, "unknown_product"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {"products": []}, 422, "invalid_field"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {"products": "polisadministratie"}, 422,
     "invalid_field"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}",
     {"products": ["polisadministratie", "polisadministratie"]}, 422, "duplicate_product"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{AFNEMER}", {}, 422, "invalid_mandate"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/99999999", {}, 404, "unknown_organisation"),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {"valid_from": 20260101}, 422, "invalid_date"),
    ("delete", f"/v1/operator/mandates/{INTERMEDIAIR}/{AFNEMER}", None, 404, "unknown_mandate"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD)
def test_bad_input_changes_nothing(operator: TestClient, world: World, db: Database, method: str, path: str,
                                   body: Any, status: int, code: str) -> None:
    small_world(world)
    world.contract(AFNEMER, "polisadministratie")
    before = footprint(db)
    r = operator.request(method.upper(), path, json=body) if body is not None else operator.request(
        method.upper(), path)
    assert r.status_code == status, r.text
    assert error_of(r) == code
    assert footprint(db) == before


def test_state_changes_take_only_json(operator: TestClient, world: World, db: Database) -> None:
    small_world(world)
    before = footprint(db)
    r = operator.put(f"/v1/operator/contracts/{AFNEMER}/polisadministratie", content=b"valid_from=2026-01-01",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and error_of(r) == "unsupported_media_type"
    r = operator.post("/v1/operator/products", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r) == "invalid_json"
    assert footprint(db) == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/v1/operator/organisations", {"kvk": "55555555", "name": "X"}),
    ("post", "/v1/operator/products", {"code": "nieuw", "name": "Nieuw"}),
    ("put", f"/v1/operator/contracts/{AFNEMER}/polisadministratie", {}),
    ("delete", f"/v1/operator/contracts/{AFNEMER}/verzuimmeldingen", None),
    ("put", f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}", {}),
    ("get", "/v1/operator/organisations", None),
    ("get", f"/v1/operator/organisations/{AFNEMER}/contracts", None),
])
def test_only_an_operator_may(api: TestClient, world: World, db: Database, method: str, path: str,
                              body: Any) -> None:
    small_world(world)
    world.contract(AFNEMER, "verzuimmeldingen")
    world.beheerder("anna@korenschoof.nl", AFNEMER)
    before = footprint(db)
    kwargs = {"json": body} if body is not None else {}
    r = api.request(method.upper(), path, **kwargs)
    assert r.status_code == 401 and error_of(r) == "not_logged_in"
    login(api, "anna@korenschoof.nl")
    r = api.request(method.upper(), path, **kwargs)
    assert r.status_code == 403 and error_of(r) == "forbidden"
    assert footprint(db) == before


def test_every_operator_endpoint_is_described(client: TestClient) -> None:
    missing = [r for r in openapi.undescribed(all_routes())
               if r.split()[1].startswith("/v1/operator/") and not r.split()[1].startswith("/v1/operator/requests")]
    assert missing == []
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/operator/contracts/{kvk}/{code}"]) == {"put", "delete"}
    assert paths["/v1/operator/organisations"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["kvk", "name"]
