"""POST /v1/explain: the decision with the chain behind it, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz import policy
from authz.store import projection
from authz.store.db import Database
from tests.conftest import sync
from tests.factories import World

AFNEMER = "11111111"
INTERMEDIAIR = "22222222"
BEHEERDER = "beheerder@korenschoof.nl"


def build(world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.org(INTERMEDIAIR, "Salarisbureau Noord")
    world.product("polisadministratie", "Polisadministratie")
    world.product("verzuim", "Verzuim")
    world.contract(AFNEMER, "polisadministratie", valid_from=date(2026, 1, 1))
    world.contract(AFNEMER, "verzuim", valid_from=date(2026, 1, 1), valid_until=date(2026, 3, 31))
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"], valid_from=date(2026, 2, 1),
                  valid_until=date(2026, 12, 31))
    world.account(BEHEERDER, AFNEMER, roles=("beheerder",))
    world.account("alice@korenschoof.nl", AFNEMER, name="Alice de Vries")
    world.account("bart@korenschoof.nl", AFNEMER, name="Bart")
    world.account("bob@salarisnoord.nl", INTERMEDIAIR, name="Bob")
    world.account("carol@korenschoof.nl", AFNEMER, status="inactive", name="Carol")
    world.grant("alice@korenschoof.nl", AFNEMER, ["polisadministratie", "verzuim"], by=BEHEERDER)
    world.grant("bob@salarisnoord.nl", AFNEMER, ["polisadministratie", "verzuim"], by=BEHEERDER)
    world.grant("carol@korenschoof.nl", AFNEMER, ["polisadministratie"], by=BEHEERDER)


def explain(api: TestClient, **body: object) -> dict[str, Any]:
    r = api.post("/v1/explain", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_explain_shows_grant_contract_and_matched_line(api: TestClient, world: World) -> None:
    build(world)
    revision = sync(api)
    e = explain(api, user="alice@korenschoof.nl", product="polisadministratie")
    assert (e["allowed"], e["reason"], e["afnemers"], e["revision"]) == (True, "granted", [AFNEMER], revision)
    assert e["user"] == {"email": "alice@korenschoof.nl", "name": "Alice de Vries", "org": AFNEMER,
                         "status": "active"}
    assert e["product"] == {"code": "polisadministratie", "name": "Polisadministratie"}
    [link] = e["chain"]
    assert link["afnemer"] == {"kvk": AFNEMER, "name": "Bakkerij De Korenschoof"}
    assert link["outcome"] == "granted"
    assert link["grant"]["granted_by"] == BEHEERDER and link["grant"]["granted_at"].startswith("2026-06-15")
    assert link["contract"] == {"valid_from": "2026-01-01", "valid_until": None, "valid_today": True}
    assert link["mandate_required"] is False and link["mandate"] is None
    line = ["p", "alice@korenschoof.nl", AFNEMER, "polisadministratie"]
    assert line in link["policy_lines"]
    assert ["g", "alice@korenschoof.nl", "active", AFNEMER] in link["policy_lines"]
    assert ["g2", AFNEMER, f"{AFNEMER}/polisadministratie", "2026-01-01.."] in link["policy_lines"]
    assert link["enforce_ex"] == {"allowed": True, "matched": line}
    assert e["reference"] == {"allowed": True, "reason": "granted", "afnemers": [AFNEMER], "revision": revision,
                              "agrees": True}
    assert e["explanation"]["nl"] == (
        "Alice de Vries mag Polisadministratie bekijken namens Bakkerij De Korenschoof: beheerder@korenschoof.nl "
        "heeft het op 15 juni 2026 gekoppeld, het contract van Bakkerij De Korenschoof loopt vanaf 1 januari 2026 "
        "zonder einddatum.")
    assert e["explanation"]["en"].startswith(
        "Alice de Vries may view Polisadministratie on behalf of Bakkerij De Korenschoof: ")


def test_explain_an_intermediair_shows_the_mandate(api: TestClient, world: World) -> None:
    build(world)
    world.contract(AFNEMER, "verzuim", valid_from=date(2026, 1, 1))  # verzuim runs again
    sync(api)
    e = explain(api, user="bob@salarisnoord.nl", product="polisadministratie", afnemer=AFNEMER)
    assert e["allowed"] is True
    [link] = e["chain"]
    assert link["mandate_required"] is True
    assert link["mandate"] == {"intermediair": INTERMEDIAIR, "products": ["polisadministratie"],
                               "covers_product": True, "valid_from": "2026-02-01", "valid_until": "2026-12-31",
                               "valid_today": True}
    assert ["g3", INTERMEDIAIR, f"{AFNEMER}/polisadministratie", "2026-02-01..2026-12-31"] in link["policy_lines"]
    assert "Salarisbureau Noord heeft een opdracht van Bakkerij De Korenschoof voor polisadministratie" in (
        e["explanation"]["nl"])

    e = explain(api, user="bob@salarisnoord.nl", product="verzuim")
    assert (e["allowed"], e["reason"], e["reference"]["agrees"]) == (False, "no_mandate", True)
    [link] = e["chain"]
    assert link["outcome"] == "no_mandate" and link["mandate"]["covers_product"] is False
    assert link["enforce_ex"] == {"allowed": False, "matched": None}
    assert e["explanation"]["nl"] == (
        "Bob mag Verzuim niet bekijken namens Bakkerij De Korenschoof: Salarisbureau Noord heeft op 15 juni 2026 "
        "geen opdracht van Bakkerij De Korenschoof die Verzuim dekt (de opdracht geldt voor polisadministratie).")
    assert e["explanation"]["en"].startswith("Bob may not view Verzuim on behalf of Bakkerij De Korenschoof: ")


@pytest.mark.parametrize(("user", "product", "afnemer", "reason", "nl"), [
    ("nobody@korenschoof.nl", "verzuim", None, "unknown_user",
     "nobody@korenschoof.nl is geen bekend account en mag daarom Verzuim niet bekijken."),
    ("carol@korenschoof.nl", "polisadministratie", None, "inactive_user",
     "Carol mag Polisadministratie niet bekijken: het account is gedeactiveerd."),
    ("alice@korenschoof.nl", "onbekend", None, "unknown_product",
     "Alice de Vries mag 'onbekend' niet bekijken: er bestaat geen product met die code."),
    ("bart@korenschoof.nl", "verzuim", AFNEMER, "no_grant",
     "Bart mag Verzuim niet bekijken namens Bakkerij De Korenschoof: geen beheerder heeft Verzuim aan dit account "
     "gekoppeld."),
    ("alice@korenschoof.nl", "verzuim", None, "no_contract",
     "Alice de Vries mag Verzuim niet bekijken namens Bakkerij De Korenschoof: Bakkerij De Korenschoof heeft op "
     "15 juni 2026 geen geldig contract voor Verzuim (het contract loopt van 1 januari 2026 tot en met "
     "31 maart 2026)."),
])
def test_explain_names_each_denial(api: TestClient, world: World, user: str, product: str, afnemer: str | None,
                                   reason: str, nl: str) -> None:
    build(world)
    sync(api)
    e = explain(api, user=user, product=product, **({"afnemer": afnemer} if afnemer else {}))
    assert (e["allowed"], e["reason"], e["afnemers"]) == (False, reason, [])
    assert e["reference"]["agrees"] is True and e["reference"]["reason"] == reason
    assert e["explanation"]["nl"] == nl
    assert e["explanation"]["en"]
    if reason in ("unknown_user", "unknown_product"):
        assert e["chain"] == []
    if reason == "inactive_user":  # the grant is shown, but the engine was not asked (R13 comes first)
        [link] = e["chain"]
        assert link["grant"]["granted_by"] == BEHEERDER
        assert (link["outcome"], link["enforce_ex"]) == (None, None)
    if reason == "no_contract":
        assert e["chain"][0]["contract"] == {"valid_from": "2026-01-01", "valid_until": "2026-03-31",
                                             "valid_today": False}


def test_explain_validates_like_check(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    r = api.post("/v1/explain", json={"user": "alice@korenschoof.nl", "product": "verzuim", "afnemer": "99999999"})
    assert r.status_code == 200 and (r.json()["allowed"], r.json()["reason"]) == (False, "unknown_afnemer")  # R13
    assert r.json()["reference"]["agrees"] is True and r.json()["chain"] == []
    assert "99999999" in r.json()["explanation"]["nl"] and "no organisation" in r.json()["explanation"]["en"]
    r = api.post("/v1/explain", json={"user": "alice@korenschoof.nl", "product": "verzuim", "afnemer": "9999999"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_kvk"
    r = api.post("/v1/explain", json={"user": "alice@korenschoof.nl", "product": "verzuim", "why": "?"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_field"
    r = api.post("/v1/explain", json={"user": "alice", "product": "verzuim"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_email"
    r = api.post("/v1/explain", content=b"user=alice", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    del api.headers["Authorization"]
    r = api.post("/v1/explain", json={"user": "alice@korenschoof.nl", "product": "verzuim"})
    assert r.status_code == 401


def test_explain_reports_a_disagreement_between_casbin_and_the_decider(
        api: TestClient, world: World, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    build(world)
    # A grant line in casbin_rule without the grant itself: Casbin now allows what the decider does not.
    with db.tx("test") as t:
        projection.add(t.s, [policy.grant_line("bart@korenschoof.nl", AFNEMER, "polisadministratie")])
        t.audit("test.tamper", "casbin_rule", None, None)
    revision = sync(api)
    with caplog.at_level(logging.ERROR, logger="authz.api.explain"):
        e = explain(api, user="bart@korenschoof.nl", product="polisadministratie")
    assert (e["allowed"], e["reason"], e["revision"]) == (False, "no_grant", revision)
    assert e["reference"] == {"allowed": True, "reason": "granted", "afnemers": [AFNEMER], "revision": revision,
                              "agrees": False}
    assert any("disagree" in r.getMessage() and "bart@korenschoof.nl" in r.getMessage() for r in caplog.records)


def test_explain_is_described_in_openapi(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    op = spec["paths"]["/v1/explain"]["post"]
    assert op["security"] == [{"apiKey": []}]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"chain", "explanation", "reference", "allowed", "reason", "afnemers", "revision"} <= set(
        schema["required"])
