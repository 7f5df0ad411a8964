"""A beheerder ticks a user's products (R2), the user gets one e-mail (R9), every change is audited (R12) and holds
for /v1/check as soon as the save returns (R11); lapsed grants stay, flagged (R1). SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.config import Settings
from authz.store import catalogue
from authz.store.db import Database
from authz.store.schema import Audit, Outbox
from tests.conftest import login, sync
from tests.factories import World

AFNEMER = "11111111"
INTERMEDIAIR = "22222222"
OTHER = "33333333"
BEHEERDER = "beheerder@korenschoof.nl"
ALICE = "alice@korenschoof.nl"
TUSSEN = "beheerder@salarisnoord.nl"
BOB = "bob@salarisnoord.nl"
GARAGE = "beheerder@garage-oost.nl"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No background e-mail sender: it clears an e-mail's body once delivered, and these tests read the outbox."""
    return replace(settings, mail_interval=0)


def build(world: World) -> None:
    """An afnemer, an intermediair acting for it (polisadministratie only), and an unrelated organisation."""
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.org(INTERMEDIAIR, "Salarisbureau Noord")
    world.org(OTHER, "Garage Oost")
    world.product("polisadministratie", "Polisadministratie")
    world.product("verzuim", "Verzuimgegevens")
    world.product("loonaangifte", "Loonaangifte")
    world.contract(AFNEMER, "polisadministratie")
    world.contract(AFNEMER, "verzuim")
    world.contract(OTHER, "loonaangifte")
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"])
    world.beheerder(BEHEERDER, AFNEMER)
    world.account(ALICE, AFNEMER, name="Alice Bakker")
    world.beheerder(TUSSEN, INTERMEDIAIR)
    world.account(BOB, INTERMEDIAIR, name="Bob de Vries")
    world.beheerder(GARAGE, OTHER)


def state_of(db: Database) -> dict[str, int]:
    """The revision and the size of every table a beheerder action can write to."""
    with db.engine.connect() as c:
        out = {t: int(c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
               for t in ("grants", "roles", "accounts", "audit", "outbox", "casbin_rule", "changes")}
        out["revision"] = int(c.execute(sa.text("SELECT value FROM revision")).scalar_one())
    return out


def mails(db: Database, to: str) -> list[Outbox]:
    with db.engine.connect() as c:
        rows = c.execute(sa.select(Outbox).where(Outbox.to_addr == to).order_by(Outbox.id)).all()
    return list(rows)  # type: ignore[arg-type]


def put(client: TestClient, org: str, user: str, afnemer: str, products: list[str], **extra: Any) -> Any:
    return client.put(f"/v1/orgs/{org}/users/{user}/grants",
                      json={"afnemer": afnemer, "products": products, **extra})


def check(api: TestClient, user: str, product: str, afnemer: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"user": user, "product": product, **({"afnemer": afnemer} if afnemer else {})}
    r = api.post("/v1/check", json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_grants_overview_offers_the_afnemers_contracted_products(client: TestClient, world: World) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["verzuim"])
    login(client, BEHEERDER)
    r = client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grants"] == {AFNEMER: ["verzuim"]}
    assert body["selectable"] == {AFNEMER: ["polisadministratie", "verzuim"]}
    assert body["inert"] == {}
    assert body["version"] == 1
    assert body["products"]["verzuim"] == "Verzuimgegevens"


def test_intermediair_is_offered_the_afnemers_products_within_the_mandate(client: TestClient, world: World) -> None:
    build(world)
    login(client, TUSSEN)
    body = client.get(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants").json()
    # the intermediair has no contracts of its own; verzuim lies outside the mandate's subset
    assert body["selectable"] == {AFNEMER: ["polisadministratie"]}
    assert body["grants"] == {}


def test_the_e_mail_names_the_beheerder_by_name(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.account("anna@korenschoof.nl", AFNEMER, roles=("beheerder",), name="Anna de Vries")
    login(client, "anna@korenschoof.nl")
    assert put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"]).status_code == 200
    (sent,) = mails(db, ALICE)
    for body in (sent.body_text, sent.body_html):
        assert "Anna de Vries, beheerder van Bakkerij De Korenschoof, heeft uw toegangsrechten" in body
        assert "anna@korenschoof.nl" not in body and "(verzuim)" not in body


def test_save_replaces_the_ticked_set_and_mails_the_user_once(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    r = put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"], version=0)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["added"] == ["polisadministratie", "verzuim"] and first["removed"] == []
    assert first["version"] == 1
    second = put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"], version=1).json()
    assert second == {"added": [], "removed": ["polisadministratie"], "version": 2,
                      "revision": first["revision"] + 1}
    sent = mails(db, ALICE)
    assert len(sent) == 2
    assert "Toegevoegd" in sent[0].body_text and "- Polisadministratie\n" in sent[0].body_text
    assert "- Verzuimgegevens\n" in sent[0].body_text and "Verwijderd" not in sent[0].body_text
    assert "(verzuim)" not in sent[0].body_text and "(verzuim)" not in sent[0].body_html  # names, not codes
    # a beheerder without a name is named by the address
    assert f"{BEHEERDER}, beheerder van Bakkerij De Korenschoof, heeft uw toegangsrechten" in sent[0].body_text
    assert "Verwijderd" in sent[1].body_text and "Polisadministratie" in sent[1].body_text
    assert "Toegevoegd" not in sent[1].body_text and "Verzuimgegevens" not in sent[1].body_text
    assert "Bakkerij De Korenschoof" in sent[1].body_text and "Polisadministratie" in sent[1].body_html
    assert sent[0].subject == "Uw toegangsrechten op Mijn Gegevensdiensten zijn gewijzigd"
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").json()["grants"] == {AFNEMER: ["verzuim"]}


def test_a_save_that_changes_nothing_sends_nothing_and_keeps_the_revision(client: TestClient, world: World,
                                                                          db: Database) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["verzuim"])
    login(client, BEHEERDER)
    before = state_of(db)
    r = put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"], version=1)
    assert r.status_code == 200, r.text
    assert r.json() == {"added": [], "removed": [], "version": 1, "revision": before["revision"]}
    assert state_of(db) == before
    assert mails(db, ALICE) == []


def test_the_save_holds_for_check_when_it_returns(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    login(api, BEHEERDER)
    assert check(api, ALICE, "verzuim")["reason"] == "no_grant"
    saved = put(api, AFNEMER, ALICE, AFNEMER, ["verzuim"]).json()
    answer = check(api, ALICE, "verzuim")  # no sync(): the PUT itself waited until this instance applied it
    assert answer["allowed"] is True and answer["revision"] >= saved["revision"]
    removed = put(api, AFNEMER, ALICE, AFNEMER, []).json()
    answer = check(api, ALICE, "verzuim")
    assert answer["reason"] == "no_grant" and answer["revision"] >= removed["revision"] > saved["revision"]


def test_intermediair_beheerder_ticks_for_an_afnemer(api: TestClient, world: World, db: Database) -> None:
    build(world)
    sync(api)
    login(api, TUSSEN)
    r = put(api, INTERMEDIAIR, BOB, AFNEMER, ["polisadministratie"])
    assert r.status_code == 200, r.text
    assert check(api, BOB, "polisadministratie") == {"allowed": True, "reason": "granted", "afnemers": [AFNEMER],
                                                     "revision": r.json()["revision"]}
    (mail,) = mails(db, BOB)
    assert "Bakkerij De Korenschoof" in mail.body_text and "Salarisbureau Noord" in mail.body_text


def test_products_outside_the_offer_are_refused_and_nothing_changes(client: TestClient, world: World,
                                                                    db: Database) -> None:
    build(world)
    login(client, TUSSEN)
    before = state_of(db)
    # verzuim is contracted by the afnemer but outside the mandate; loonaangifte is not contracted at all
    for products in (["verzuim"], ["polisadministratie", "loonaangifte"], ["onbekend-product"]):
        r = put(client, INTERMEDIAIR, BOB, AFNEMER, products)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "not_selectable"
    login(client, BEHEERDER)
    r = put(client, AFNEMER, ALICE, AFNEMER, ["loonaangifte"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_selectable"
    assert state_of(db) == before


def test_an_afnemer_without_a_valid_mandate_is_refused(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.mandate(OTHER, INTERMEDIAIR, None, valid_from=date(2026, 7, 1))  # not yet valid
    login(client, TUSSEN)
    before = state_of(db)
    for afnemer in (OTHER, "44444444"):
        r = put(client, INTERMEDIAIR, BOB, afnemer, ["loonaangifte"])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "afnemer_not_selectable"
    assert state_of(db) == before


def test_bad_bodies_are_refused(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    before = state_of(db)
    url = f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants"
    for body in ({"afnemer": AFNEMER}, {"afnemer": AFNEMER, "products": [], "extra": 1},
                 {"afnemer": "1", "products": []}, {"afnemer": AFNEMER, "products": ["verzuim", "verzuim"]},
                 {"afnemer": AFNEMER, "products": "verzuim"}, {"afnemer": AFNEMER, "products": [], "version": -1}):
        r = client.put(url, json=body)
        assert r.status_code == 422, (body, r.text)
    r = client.put(url, content=b'{"afnemer": "11111111", "products": []}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert state_of(db) == before


def test_users_cannot_tick_products_for_themselves(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, ALICE)
    before = state_of(db)
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").status_code == 403
    r = put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert state_of(db) == before
    client.cookies.clear()
    assert put(client, AFNEMER, ALICE, AFNEMER, ["verzuim"]).status_code == 401


def test_a_beheerder_may_tick_products_for_themselves(client: TestClient, world: World) -> None:
    build(world)
    login(client, BEHEERDER)
    r = put(client, AFNEMER, BEHEERDER, AFNEMER, ["verzuim"])
    assert r.status_code == 200 and r.json()["added"] == ["verzuim"]


def test_a_stale_version_is_refused_and_nothing_changes(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["verzuim"])  # version 1
    login(client, BEHEERDER)
    before = state_of(db)
    r = put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie"], version=0)
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_version"
    assert state_of(db) == before


def test_two_beheerders_saving_at_once_one_wins(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.beheerder("tweede@korenschoof.nl", AFNEMER)
    cookies = []
    for who in (BEHEERDER, "tweede@korenschoof.nl"):
        login(client, who)
        cookies.append(client.cookies["authz_session"])
    client.cookies.clear()
    start = threading.Barrier(2)
    statuses: list[int] = []

    def save(cookie: str, products: list[str]) -> None:
        start.wait()
        r = client.put(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants", headers={"Cookie": f"authz_session={cookie}"},
                       json={"afnemer": AFNEMER, "products": products, "version": 0})
        statuses.append(r.status_code)

    ticks = (["verzuim"], ["polisadministratie"])
    threads = [threading.Thread(target=save, args=(c, p)) for c, p in zip(cookies, ticks, strict=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(statuses) == [200, 409]
    assert len(mails(db, ALICE)) == 1
    assert state_of(db)["grants"] == 1


def test_lapsed_contract_leaves_an_inert_grant_that_can_stay_or_go(client: TestClient, world: World,
                                                                   db: Database) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["verzuim"])
    with db.tx("test") as t:
        catalogue.end_contract(t, AFNEMER, "verzuim")
    login(client, BEHEERDER)
    body = client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").json()
    assert body["grants"] == {AFNEMER: ["verzuim"]}  # kept ...
    assert body["inert"] == {AFNEMER: ["verzuim"]}  # ... flagged, saying why (the contract is gone: no day) ...
    assert body["lapsed"] == {AFNEMER: {"verzuim": {"reason": "no_contract", "last_day": None}}}
    assert body["selectable"] == {AFNEMER: ["polisadministratie"]}  # ... and no longer offered
    # keeping it ticked while adding another product is fine; it is not refused for its lapsed contract
    r = put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"], version=body["version"])
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["polisadministratie"] and r.json()["removed"] == []
    r = put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie"])
    assert r.json()["removed"] == ["verzuim"]
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").json()["inert"] == {}
    # once removed it cannot come back without a contract
    assert put(client, AFNEMER, ALICE, AFNEMER, ["polisadministratie", "verzuim"]).status_code == 422


def test_grants_turn_inert_when_the_clock_passes_valid_until(client: TestClient, world: World,
                                                             clock: FrozenClock) -> None:
    build(world)
    world.contract(AFNEMER, "verzuim", valid_until=date(2026, 6, 30))
    world.grant(ALICE, AFNEMER, ["verzuim"])
    login(client, BEHEERDER)
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").json()["inert"] == {}
    clock.set_day(date(2026, 7, 1))
    login(client, BEHEERDER)  # the first session has timed out meanwhile
    body = client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").json()
    assert body["inert"] == {AFNEMER: ["verzuim"]} and body["grants"] == {AFNEMER: ["verzuim"]}
    assert body["lapsed"] == {AFNEMER: {"verzuim": {"reason": "contract_not_valid", "last_day": "2026-06-30"}}}


def test_lapsed_mandate_leaves_inert_grants_the_intermediair_can_remove(client: TestClient, world: World,
                                                                        clock: FrozenClock) -> None:
    build(world)
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"], valid_until=date(2026, 6, 30))
    world.grant(BOB, AFNEMER, ["polisadministratie"])
    clock.set_day(date(2026, 7, 1))
    login(client, TUSSEN)
    body = client.get(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants").json()
    assert body["selectable"] == {} and body["inert"] == {AFNEMER: ["polisadministratie"]}
    assert body["lapsed"] == {AFNEMER: {"polisadministratie": {"reason": "mandate_not_valid",
                                                               "last_day": "2026-06-30"}}}
    assert client.get(f"/v1/orgs/{INTERMEDIAIR}/clients").json() == {"clients": []}
    r = put(client, INTERMEDIAIR, BOB, AFNEMER, [])
    assert r.status_code == 200 and r.json()["removed"] == ["polisadministratie"]


def test_every_saved_change_is_audited_with_before_and_after(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, TUSSEN)
    revision = put(client, INTERMEDIAIR, BOB, AFNEMER, ["polisadministratie"]).json()["revision"]
    with db.engine.connect() as c:
        rows = c.execute(sa.select(Audit).where(Audit.action == "grants.replace")).all()
    # recorded for the intermediair, and for the afnemer on whose behalf the product is seen
    assert sorted(r.on_behalf_of for r in rows) == [AFNEMER, INTERMEDIAIR]
    for row in rows:
        assert row.actor == TUSSEN and row.subject == f"account:{BOB}" and row.revision == revision
        assert row.before == {"afnemer": AFNEMER, "products": []}
        assert row.after["products"] == ["polisadministratie"] and row.after["added"] == ["polisadministratie"]
    entries = client.get(f"/v1/orgs/{INTERMEDIAIR}/audit", params={"user": BOB}).json()["entries"]
    assert [e["action"] for e in entries] == ["grants.replace", "account.create"]
    assert entries[0]["before"] == {"afnemer": AFNEMER, "products": []} and entries[0]["revision"] == revision
