"""The decision API over HTTP (R1, R13), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from starlette.testclient import TestClient

from tests.conftest import sync
from tests.factories import World

AFNEMER = "11111111"
INTERMEDIAIR = "22222222"


def build(world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.org(INTERMEDIAIR, "Salarisbureau Noord")
    world.product("polisadministratie")
    world.product("verzuim")
    world.contract(AFNEMER, "polisadministratie")
    world.contract(AFNEMER, "verzuim", valid_until=date(2026, 3, 31))
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"])
    world.account("Alice@Korenschoof.nl", AFNEMER)
    world.account("bob@salarisnoord.nl", INTERMEDIAIR)
    world.account("carol@korenschoof.nl", AFNEMER, status="inactive")
    world.grant("alice@korenschoof.nl", AFNEMER, ["polisadministratie", "verzuim"])
    world.grant("bob@salarisnoord.nl", AFNEMER, ["polisadministratie", "verzuim"])


def check(api: TestClient, **body: object) -> dict[str, object]:
    r = api.post("/v1/check", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


def test_check_answers_r1_with_reasons(api: TestClient, world: World) -> None:
    build(world)
    revision = sync(api)
    assert check(api, user="alice@korenschoof.nl", product="polisadministratie") == {
        "allowed": True, "reason": "granted", "afnemers": [AFNEMER], "revision": revision}
    # e-mail addresses compare case-insensitively
    assert check(api, user="ALICE@korenschoof.NL", product="polisadministratie")["allowed"] is True
    assert check(api, user="alice@korenschoof.nl", product="verzuim")["reason"] == "no_contract"
    assert check(api, user="bob@salarisnoord.nl", product="polisadministratie", afnemer=AFNEMER)["allowed"] is True
    assert check(api, user="bob@salarisnoord.nl", product="verzuim")["reason"] == "no_contract"
    assert check(api, user="nobody@korenschoof.nl", product="verzuim")["reason"] == "unknown_user"
    assert check(api, user="carol@korenschoof.nl", product="verzuim")["reason"] == "inactive_user"
    assert check(api, user="alice@korenschoof.nl", product="onbekend")["reason"] == "unknown_product"
    assert check(api, user="alice@korenschoof.nl", product="polisadministratie",
                 afnemer=INTERMEDIAIR)["reason"] == "no_grant"


def test_mandate_must_cover_the_product(api: TestClient, world: World) -> None:
    build(world)
    world.contract(AFNEMER, "verzuim")  # verzuim is contracted again, but the mandate covers only polis
    sync(api)
    assert check(api, user="bob@salarisnoord.nl", product="verzuim")["reason"] == "no_mandate"
    assert check(api, user="alice@korenschoof.nl", product="verzuim")["allowed"] is True
    world.mandate(AFNEMER, INTERMEDIAIR, None)  # now all products
    sync(api)
    assert check(api, user="bob@salarisnoord.nl", product="verzuim")["allowed"] is True


def test_batch_answers_in_order_at_one_revision(api: TestClient, world: World) -> None:
    build(world)
    revision = sync(api)
    r = api.post("/v1/check/batch", json={"checks": [
        {"user": "alice@korenschoof.nl", "product": "polisadministratie"},
        {"user": "alice@korenschoof.nl", "product": "verzuim", "afnemer": AFNEMER},
        {"user": "x@y.nl", "product": "verzuim"},
    ]})
    assert r.status_code == 200
    assert r.json() == {"revision": revision, "results": [
        {"allowed": True, "reason": "granted", "afnemers": [AFNEMER]},
        {"allowed": False, "reason": "no_contract", "afnemers": []},
        {"allowed": False, "reason": "unknown_user", "afnemers": []},
    ]}


def test_user_products_and_product_users(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    r = api.get("/v1/users/alice@korenschoof.nl/products")
    assert r.json()["products"] == [{"product": "polisadministratie", "afnemer": AFNEMER}]
    users = api.get("/v1/products/polisadministratie/users", params={"afnemer": AFNEMER}).json()["users"]
    assert users == [{"user": "alice@korenschoof.nl", "afnemer": AFNEMER},
                     {"user": "bob@salarisnoord.nl", "afnemer": AFNEMER}]


def test_product_users_paginates_with_a_cursor(api: TestClient, world: World) -> None:
    build(world)
    for i in range(5):
        world.account(f"user{i}@korenschoof.nl", AFNEMER)
        world.grant(f"user{i}@korenschoof.nl", AFNEMER, ["polisadministratie"])
    sync(api)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/products/polisadministratie/users", params=params).json()
        seen += [u["user"] for u in page["users"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 7 and len(set(seen)) == 7


def test_authzen_evaluation(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    body = {"subject": {"type": "user", "id": "bob@salarisnoord.nl"},
            "resource": {"type": "product", "id": "polisadministratie", "properties": {"afnemer": AFNEMER}},
            "action": {"name": "view"}}
    assert api.post("/access/v1/evaluation", json=body).json() == {
        "decision": True, "context": {"reason": "granted", "afnemers": [AFNEMER]}}
    many = api.post("/access/v1/evaluations", json={
        "subject": {"type": "user", "id": "alice@korenschoof.nl"}, "action": {"name": "view"},
        "evaluations": [{"resource": {"type": "product", "id": "polisadministratie"}},
                        {"resource": {"type": "product", "id": "verzuim"}}]}).json()
    assert [e["decision"] for e in many["evaluations"]] == [True, False]
    assert many["evaluations"][1]["context"]["reason"] == "no_contract"


def test_an_unknown_afnemer_is_a_denial_on_every_decision_endpoint(api: TestClient, world: World) -> None:
    # R13: a well-formed KvK number naming no organisation is denied with its reason; only a malformed one is a 422.
    build(world)
    sync(api)
    asked = {"user": "alice@korenschoof.nl", "product": "polisadministratie", "afnemer": "99999999"}
    assert check(api, **asked) == {"allowed": False, "reason": "unknown_afnemer", "afnemers": [],
                                   "revision": sync(api)}
    batch = api.post("/v1/check/batch", json={"checks": [asked, {**asked, "afnemer": AFNEMER}]}).json()
    assert [(r["allowed"], r["reason"]) for r in batch["results"]] == [(False, "unknown_afnemer"), (True, "granted")]
    assert api.post("/v1/explain", json=asked).json()["reason"] == "unknown_afnemer"
    evaluation = {"subject": {"type": "user", "id": asked["user"]}, "action": {"name": "view"},
                  "resource": {"type": "product", "id": asked["product"], "properties": {"afnemer": "99999999"}}}
    assert api.post("/access/v1/evaluation", json=evaluation).json() == {
        "decision": False, "context": {"reason": "unknown_afnemer", "afnemers": []}}
    # Who may view a product for it: nobody, as for an unknown product (now, and at a moment from the trail).
    for params in ({"afnemer": "99999999"}, {"afnemer": "99999999", "at": "2026-06-15"},
                   {"afnemer": "99999999", "at": "2026-06-15T10:00:00Z"}):
        for code in ("polisadministratie", "onbekend"):
            r = api.get(f"/v1/products/{code}/users", params=params)
            assert r.status_code == 200 and r.json()["users"] == [] and r.json()["cursor"] is None, (params, r.text)
    assert len(api.get("/v1/products/polisadministratie/users", params={"afnemer": AFNEMER}).json()["users"]) == 2
    r = api.get("/v1/products/polisadministratie/users", params={"afnemer": "9999999"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_kvk"
    # The user and the product are asked about first, in the order of the question.
    assert check(api, **{**asked, "user": "nobody@korenschoof.nl"})["reason"] == "unknown_user"
    assert check(api, **{**asked, "product": "onbekend"})["reason"] == "unknown_product"
    r = api.post("/v1/check", json={**asked, "afnemer": "9999999"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_kvk"


def test_decisions_change_at_midnight_without_a_write(api: TestClient, world: World, clock) -> None:  # type: ignore[no-untyped-def]
    build(world)
    world.contract(AFNEMER, "verzuim", valid_from=date(2026, 1, 1), valid_until=date(2026, 6, 15))
    sync(api)
    assert check(api, user="alice@korenschoof.nl", product="verzuim")["allowed"] is True
    clock.set_day(date(2026, 6, 16))
    assert check(api, user="alice@korenschoof.nl", product="verzuim")["reason"] == "no_contract"
