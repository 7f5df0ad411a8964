"""R16, the gebruiker's own view: ``GET /v1/session/products`` (what the logged-in account may view now, and its
inert grants with why and since when) agrees with ``/v1/check``; the operator's product link (https only); the
e-mail of a rights change links to /producten. SQLite and PostgreSQL, the real app."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from authz.config import Settings
from authz.domain.grants import Lapse
from authz.store import catalogue
from authz.store.db import Database
from tests.conftest import NOW, login, sync
from tests.factories import World
from tests.test_admin_grants import (
    AFNEMER,
    ALICE,
    BEHEERDER,
    BOB,
    GARAGE,
    INTERMEDIAIR,
    TUSSEN,
    build,
    mails,
    put,
    state_of,
)

TODAY = NOW.date()  # 15 June 2026 (Europe/Amsterdam: the frozen clock's moment is mid-morning)
OPERATOR = "operator@gegevensdiensten.nl"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, mail_interval=0, base_url="https://portaal.example.nl")


def mine(client: TestClient, who: str) -> dict[str, Any]:
    client.cookies.clear()
    login(client, who)
    r = client.get("/v1/session/products")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    schema = next(op for op in client.get("/openapi.json").json()["paths"]["/v1/session/products"].values())
    Draft202012Validator(schema["responses"]["200"]["content"]["application/json"]["schema"]).validate(body)
    return body


def allowed(client: TestClient, key: str, user: str, product: str, afnemer: str) -> dict[str, Any]:
    r = client.post("/v1/check", json={"user": user, "product": product, "afnemer": afnemer},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_my_products_lists_what_i_may_view_now_and_what_is_inert_with_why(client: TestClient, world: World,
                                                                          db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    assert put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"]).status_code == 200
    body = mine(client, ALICE)
    assert body["inert"] == []
    assert body["revision"] == state_of(db)["revision"]
    assert [(p["product"], p["name"], p["afnemer"], p["afnemer_name"]) for p in body["products"]] == [
        ("polisadministratie", "Polisadministratie", AFNEMER, "Bakkerij De Korenschoof"),
        ("verzuim", "Verzuimgegevens", AFNEMER, "Bakkerij De Korenschoof")]
    assert all(p["granted_at"].startswith(TODAY.isoformat()) for p in body["products"])

    # The operator ends the verzuim contract: the grant stays, inert, and says which contract ended and when.
    with db.tx(OPERATOR) as t:
        catalogue.end_contract(t, AFNEMER, "verzuim")
    sync(client)
    body = mine(client, ALICE)
    assert [p["product"] for p in body["products"]] == ["polisadministratie"]
    assert body["inert"] == [{"product": "verzuim", "name": "Verzuimgegevens", "afnemer": AFNEMER,
                              "afnemer_name": "Bakkerij De Korenschoof", "reason": "contract_ended",
                              "since": TODAY.isoformat()}]


def test_a_contract_that_ran_out_or_starts_later_is_named_with_its_day(client: TestClient, world: World) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["polisadministratie", "verzuim"])
    world.contract(AFNEMER, "polisadministratie", date(2026, 1, 1), date(2026, 5, 31))
    world.contract(AFNEMER, "verzuim", date(2026, 7, 1))
    sync(client)
    body = mine(client, ALICE)
    assert body["products"] == []
    assert [(i["product"], i["reason"], i["since"]) for i in body["inert"]] == [
        ("polisadministratie", "contract_ended", "2026-06-01"),  # the first day without access
        ("verzuim", "contract_not_started", "2026-07-01")]  # the day it starts


def test_a_user_of_an_intermediair_sees_the_afnemers_products_by_mandate(client: TestClient, world: World,
                                                                         db: Database) -> None:
    build(world)
    login(client, TUSSEN)
    assert put(client, INTERMEDIAIR, BOB, AFNEMER, ["polisadministratie"]).status_code == 200
    world.grant(BOB, AFNEMER, ["polisadministratie", "verzuim"])  # verzuim: ticked under an older, wider mandate
    sync(client)
    body = mine(client, BOB)
    assert [(p["product"], p["afnemer"], p["afnemer_name"]) for p in body["products"]] == [
        ("polisadministratie", AFNEMER, "Bakkerij De Korenschoof")]
    assert [(i["product"], i["reason"], i["since"]) for i in body["inert"]] == [
        ("verzuim", "mandate_excludes_product", TODAY.isoformat())]

    # The mandate ends: both grants stay, inert, naming the mandate and the day it ended.
    with db.tx(OPERATOR) as t:
        catalogue.end_mandate(t, AFNEMER, INTERMEDIAIR)
    sync(client)
    body = mine(client, BOB)
    assert body["products"] == []
    assert [(i["product"], i["reason"], i["since"]) for i in body["inert"]] == [
        ("polisadministratie", "mandate_ended", TODAY.isoformat()), ("verzuim", "mandate_ended", TODAY.isoformat())]


def test_my_products_needs_a_session_and_an_organisation(client: TestClient, world: World) -> None:
    build(world)
    world.operator(OPERATOR)
    r = client.get("/v1/session/products")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_logged_in"
    login(client, OPERATOR)
    assert client.get("/v1/session/products").json()["error"]["code"] == "forbidden"


def test_only_my_own_grants_are_shown(client: TestClient, world: World) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["verzuim"])
    body = mine(client, GARAGE)
    assert body["products"] == [] and body["inert"] == []


# -- the answer agrees with /v1/check: every state of contract and mandate ---------------------------------------

CONTRACTS = {  # product -> the afnemer's contract for it: (valid_from, valid_until), "none" or "ended"
    "c-valid": (date(2026, 1, 1), None), "c-ran-out": (date(2026, 1, 1), TODAY - timedelta(days=1)),
    "c-later": (TODAY + timedelta(days=1), None), "c-today-last": (date(2026, 1, 1), TODAY),
    "c-none": "none", "c-ended": "ended",
}
MANDATES = {  # afnemer -> its mandate to the intermediair: (valid_from, valid_until, products), "none" or "ended"
    "40000001": (date(2026, 1, 1), None, None), "40000002": (date(2026, 1, 1), TODAY - timedelta(days=1), None),
    "40000003": (TODAY + timedelta(days=1), None, None), "40000004": (date(2026, 1, 1), None, ["other"]),
    "40000005": "none", "40000006": "ended",
}
FAMILY = {Lapse.CONTRACT_ENDED: "no_contract", Lapse.CONTRACT_NOT_STARTED: "no_contract",
          Lapse.MANDATE_ENDED: "no_mandate", Lapse.MANDATE_NOT_STARTED: "no_mandate",
          Lapse.MANDATE_EXCLUDES_PRODUCT: "no_mandate"}


def test_the_view_agrees_with_the_decider_for_every_contract_and_mandate(client: TestClient, world: World,
                                                                         db: Database, service_key: str) -> None:
    own, middle = "40000000", "49999999"
    world.org(own, "Eigen Organisatie")
    world.org(middle, "Tussenpersoon")
    world.product("other")
    for code in CONTRACTS:
        world.product(code)
    for afnemer, mandate in MANDATES.items():
        world.org(afnemer, f"Afnemer {afnemer}")
        if mandate != "none":
            start, end, products = mandate if mandate != "ended" else (date(2026, 1, 1), None, None)
            world.mandate(afnemer, middle, products, start, end)
    for afnemer in [own, *MANDATES]:
        for code, contract in CONTRACTS.items():
            if contract != "none":
                start, end = contract if contract != "ended" else (date(2026, 1, 1), None)
                world.contract(afnemer, code, start, end)
    with db.tx(OPERATOR) as t:
        for afnemer in [own, *MANDATES]:
            catalogue.end_contract(t, afnemer, "c-ended")
        catalogue.end_mandate(t, "40000006", middle)
    world.account("eigen@eigen.nl", own)
    world.account("tussen@tussen.nl", middle)
    world.grant("eigen@eigen.nl", own, list(CONTRACTS))
    for afnemer in MANDATES:
        world.grant("tussen@tussen.nl", afnemer, list(CONTRACTS))
    sync(client)
    seen = 0
    for user in ("eigen@eigen.nl", "tussen@tussen.nl"):
        body = mine(client, user)
        viewable = {(p["afnemer"], p["product"]) for p in body["products"]}
        inert = {(i["afnemer"], i["product"]): i["reason"] for i in body["inert"]}
        assert not viewable & set(inert)
        for afnemer, product in viewable | set(inert):
            decision = allowed(client, service_key, user, product, afnemer)
            assert decision["revision"] == body["revision"]
            if (afnemer, product) in viewable:
                assert decision["allowed"] is True, (user, afnemer, product)
            else:
                assert decision["allowed"] is False and decision["reason"] == FAMILY[inert[(afnemer, product)]]
            seen += 1
    assert seen == len(CONTRACTS) * (1 + len(MANDATES))
    inert_own = {i["product"]: (i["reason"], i["since"]) for i in mine(client, "eigen@eigen.nl")["inert"]}
    assert inert_own == {"c-ran-out": ("contract_ended", TODAY.isoformat()),
                         "c-later": ("contract_not_started", (TODAY + timedelta(days=1)).isoformat()),
                         "c-none": ("contract_ended", None),  # there never was one: no day to name
                         "c-ended": ("contract_ended", TODAY.isoformat())}
    reasons = {(i["afnemer"], i["product"]): i["reason"] for i in mine(client, "tussen@tussen.nl")["inert"]}
    assert reasons[("40000002", "c-valid")] == "mandate_ended"
    assert reasons[("40000003", "c-valid")] == "mandate_not_started"
    assert reasons[("40000004", "c-valid")] == "mandate_excludes_product"
    assert reasons[("40000005", "c-valid")] == reasons[("40000006", "c-valid")] == "mandate_ended"
    assert reasons[("40000001", "c-later")] == "contract_not_started"  # the contract is judged first, as in R1


# -- the operator's product link ---------------------------------------------------------------------------------

def test_the_operator_sets_a_products_https_link(client: TestClient, world: World, db: Database) -> None:
    world.operator(OPERATOR)
    login(client, OPERATOR)
    r = client.post("/v1/operator/products", json={"code": "verzuim", "name": "Verzuimgegevens",
                                                   "url": "https://download.example.nl/verzuim"})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == "https://download.example.nl/verzuim"
    r = client.put("/v1/operator/products/verzuim", json={"url": "https://download.example.nl/v2"})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == "https://download.example.nl/v2" and r.json()["name"] == "Verzuimgegevens"
    assert client.get("/v1/operator/products").json()["products"][0]["url"] == "https://download.example.nl/v2"
    assert client.put("/v1/operator/products/verzuim", json={"url": None}).json()["url"] is None
    unchanged = client.put("/v1/operator/products/verzuim", json={"url": None})  # nothing to write: no revision
    assert unchanged.status_code == 200 and unchanged.json()["revision"] == db.revision()
    assert client.put("/v1/operator/products/onbekend", json={"url": None}).status_code == 404


@pytest.mark.parametrize("url", ["http://download.example.nl/verzuim", "javascript:alert(1)", "https://",
                                 "https://gebruiker:geheim@example.nl/", "ftp://example.nl/x", "https://a b.nl/",
                                 "data:text/html,<b>x</b>", 42, "", "https://example.nl/" + "x" * 2000])
def test_a_bad_product_link_is_a_422_and_changes_nothing(client: TestClient, world: World, db: Database,
                                                         url: Any) -> None:
    world.operator(OPERATOR)
    world.product("verzuim", "Verzuimgegevens")
    login(client, OPERATOR)
    before = state_of(db)
    r = client.put("/v1/operator/products/verzuim", json={"url": url})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_url", r.text
    r = client.post("/v1/operator/products", json={"code": "polis", "name": "Polis", "url": url})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_url", r.text
    assert state_of(db) == before
    assert [p["url"] for p in client.get("/v1/operator/products").json()["products"]] == [None]


# -- the e-mail --------------------------------------------------------------------------------------------------

def test_the_rights_change_email_links_to_my_products(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    assert put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"]).status_code == 200
    [sent] = mails(db, ALICE)
    assert "https://portaal.example.nl/producten" in sent.body_text
    assert 'href="https://portaal.example.nl/producten"' in sent.body_html
    assert sent.body_html.count("/producten") == 1
