"""Point-in-time review through the HTTP API: who could see product Y for afnemer Z on day D and why, and one user's
history; for the service client, the operator and beheerders (own users only; 403/404 for another organisation)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz import cli
from authz.clock import FrozenClock
from authz.store import catalogue
from authz.store.db import Database
from tests.conftest import login, sync
from tests.factories import World

A, INTER, C = "11111111", "22222222", "33333333"
BA, ALICE, BI, BOB, BC = "b@bakkerij.nl", "alice@bakkerij.nl", "b@salaris.nl", "bob@salaris.nl", "b@garage.nl"
OPERATOR = "operator@gegevensdiensten.nl"
URL = "/v1/products/polis/users"


def build(world: World, clock: FrozenClock) -> None:
    """On 2026-06-15: Alice (A) and Bob (of the intermediair, by mandate) hold polis for A. On 06-16 Alice loses
    it, and the mandate ends on 06-20."""
    world.org(A, "Bakkerij")
    world.org(INTER, "Salaris")
    world.org(C, "Garage")
    world.product("polis")
    world.contract(A, "polis", valid_from=date(2026, 3, 1))
    world.mandate(A, INTER, ["polis"], valid_until=date(2026, 6, 20))
    world.beheerder(BA, A)
    world.account(ALICE, A)
    world.beheerder(BI, INTER)
    world.account(BOB, INTER)
    world.beheerder(BC, C)
    world.operator(OPERATOR)
    world.grant(ALICE, A, ["polis"], by=BA)
    world.grant(BOB, A, ["polis"], by=BI)
    clock.advance(days=1)
    world.grant(ALICE, A, [], by=BA)


def users(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["user"] for row in response.json()["users"]]


def test_service_client_sees_who_could_see_then_and_why(api: TestClient, world: World, clock: FrozenClock) -> None:
    build(world, clock)
    sync(api)
    then = api.get(URL, params={"afnemer": A, "at": "2026-06-15"})
    assert users(then) == [ALICE, BOB]
    body = then.json()
    assert body["day"] == "2026-06-15" and body["at"] == "2026-06-15T21:59:59.999999Z"
    alice, bob = body["users"]
    assert alice == {"user": ALICE, "afnemer": A, "grant": {"granted_by": BA, "granted_at": "2026-06-15T10:00:00Z"},
                     "contract": {"valid_from": "2026-03-01", "valid_until": None}, "mandate": None}
    assert bob["mandate"] == {"intermediair": INTER, "valid_from": "2026-01-01", "valid_until": "2026-06-20",
                              "products": ["polis"]}
    assert users(api.get(URL, params={"afnemer": A, "at": "2026-06-16"})) == [BOB]
    assert users(api.get(URL, params={"afnemer": A, "at": "2026-06-21"})) == []  # the mandate ran out on the 20th
    assert users(api.get(URL, params={"afnemer": A, "at": "2026-06-15T09:00:00Z"})) == []  # nothing existed yet
    assert users(api.get(URL, params={"at": "2026-06-15"})) == [ALICE, BOB]  # any afnemer
    # Without 'at', the service client's answer comes from memory as before (no 'why').
    now = api.get(URL, params={"afnemer": A})
    assert now.json()["users"] == [{"user": BOB, "afnemer": A}] and "day" not in now.json()


def test_bad_review_questions(api: TestClient, world: World, clock: FrozenClock) -> None:
    build(world, clock)
    sync(api)
    assert api.get(URL, params={"afnemer": A, "at": "15-06-2026"}).json()["error"]["code"] == "invalid_date"
    assert api.get(URL, params={"afnemer": A, "at": "2026-06-15T10:00:00"}).status_code == 422  # no time zone
    assert users(api.get(URL, params={"afnemer": "44444444", "at": "2026-06-15"})) == []  # names nothing (R13)
    assert api.get(URL, params={"afnemer": A, "at": "2026-06-15", "x": "1"}).status_code == 422
    del api.headers["Authorization"]
    assert api.get(URL, params={"afnemer": A, "at": "2026-06-15"}).status_code == 401


def test_operator_sees_every_row(client: TestClient, world: World, clock: FrozenClock) -> None:
    build(world, clock)
    login(client, OPERATOR)
    assert users(client.get(URL, params={"afnemer": A, "at": "2026-06-15"})) == [ALICE, BOB]
    assert users(client.get(URL, params={"at": "2026-06-15"})) == [ALICE, BOB]
    assert users(client.get(URL, params={"afnemer": "44444444", "at": "2026-06-15"})) == []  # names nothing


def test_beheerders_see_their_own_users_only(client: TestClient, world: World, clock: FrozenClock) -> None:
    build(world, clock)
    login(client, BA)
    assert users(client.get(URL, params={"afnemer": A, "at": "2026-06-15"})) == [ALICE]
    assert users(client.get(URL, params={"afnemer": A})) == []  # now: Alice no longer holds it
    assert client.get(URL, params={"at": "2026-06-15"}).json()["error"]["code"] == "afnemer_required"
    login(client, BI)  # the intermediair acting for A
    assert users(client.get(URL, params={"afnemer": A, "at": "2026-06-15"})) == [BOB]
    login(client, BC)  # an unrelated organisation
    assert client.get(URL, params={"afnemer": A, "at": "2026-06-15"}).status_code == 403
    # An afnemer that names no organisation is as foreign: 403, which says no more than for a real one.
    for params in ({"afnemer": "44444444", "at": "2026-06-15"}, {"afnemer": "44444444"}):
        r = client.get(URL, params=params)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), r.text
    login(client, BOB)  # not a beheerder
    assert client.get(URL, params={"afnemer": INTER, "at": "2026-06-15"}).status_code == 403


def test_user_history(client: TestClient, world: World, clock: FrozenClock, db: Database) -> None:
    build(world, clock)
    clock.advance(hours=1)
    world.set_status(ALICE, "inactive")
    with db.tx("ops") as t:  # an operator change does not show up in Alice's rights history
        catalogue.end_mandate(t, A, INTER)
    login(client, BA)
    history = client.get(f"/v1/orgs/{A}/users/{ALICE}/history")
    assert history.status_code == 200, history.text
    entries = history.json()["history"]
    assert [(e["action"], e["actor"], e["at"]) for e in entries] == [
        ("account.create", "test", "2026-06-15T10:00:00Z"),
        ("grants.replace", BA, "2026-06-15T10:00:00Z"),
        ("grants.replace", BA, "2026-06-16T10:00:00Z"),
        ("account.inactive", "test", "2026-06-16T11:00:00Z"),
    ]
    assert entries[0]["status"] == {"before": None, "after": "active"}
    assert (entries[1]["afnemer"], entries[1]["added"], entries[1]["removed"]) == (A, ["polis"], [])
    assert (entries[2]["added"], entries[2]["removed"]) == ([], ["polis"])
    assert entries[3]["status"] == {"before": "active", "after": "inactive"}
    assert client.get(f"/v1/orgs/{A}/users/{BOB}/history").status_code == 404  # not an account of A
    assert client.get(f"/v1/orgs/{INTER}/users/{BOB}/history").status_code == 403  # not A's beheerder
    login(client, BI)
    roles = client.get(f"/v1/orgs/{INTER}/users/{BI}/history").json()["history"]
    assert roles[0]["roles_added"] == ["beheerder"]
    assert client.get(f"/v1/orgs/{A}/users/{ALICE}/history").status_code == 403
    login(client, OPERATOR)
    assert client.get(f"/v1/orgs/{A}/users/{ALICE}/history").status_code == 200
    client.cookies.clear()
    assert client.get(f"/v1/orgs/{A}/users/{ALICE}/history").status_code == 401


def test_moments_out_of_range_are_refused_not_a_crash(api: TestClient, world: World, clock: FrozenClock, db: Database,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    build(world, clock)
    sync(api)  # A, unknown in the far past, is known now: once this instance has read the world
    for at in ("9999-12-31", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        answer = api.get(URL, params={"afnemer": A, "at": at})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_field", (at, answer.text)
    assert users(api.get(URL, params={"afnemer": A, "at": "0001-01-01"})) == []  # the far past is a fine question
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    assert cli.main(["policy", "export", "--at", "9999-12-31"]) == 1
    err = capsys.readouterr().err
    assert "'--at' lies outside the range of dates this service can handle: '9999-12-31'" in err


def test_the_answer_then_is_paginated_like_the_answer_now(api: TestClient, world: World, clock: FrozenClock) -> None:
    build(world, clock)
    sync(api)
    first = api.get(URL, params={"afnemer": A, "at": "2026-06-15", "limit": "1"})
    assert users(first) == [ALICE] and first.json()["cursor"]
    second = api.get(URL, params={"afnemer": A, "at": "2026-06-15", "limit": "1", "cursor": first.json()["cursor"]})
    assert users(second) == [BOB] and second.json()["cursor"] is None
    assert second.json()["users"][0]["mandate"]["intermediair"] == INTER  # the same rows, with the why
    assert users(api.get(URL, params={"afnemer": A, "at": "2026-06-15", "cursor": first.json()["cursor"]})) == [BOB]
    full = api.get(URL, params={"afnemer": A, "at": "2026-06-15", "limit": "2"})
    assert users(full) == [ALICE, BOB] and full.json()["cursor"] is None
    # The live answer's cursor (same format) continues the answer then.
    live = api.get(URL, params={"afnemer": A, "limit": "1", "cursor": first.json()["cursor"]})
    assert live.status_code == 200 and users(live) == [BOB]
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "²"}, {"limit": "x"}, {"cursor": "nonsense"}):
        answer = api.get(URL, params={"afnemer": A, "at": "2026-06-15", **bad})
        assert answer.status_code == 422, (bad, answer.text)


@pytest.mark.parametrize("query", [{"at": "gisteren"}, {"at": "2026-06-01", "afnemer": "1234"}, {"at": "2026-06-01"}])
def test_a_question_at_a_moment_asks_who_is_asking_first(client: TestClient, query: dict[str, str]) -> None:
    # Without a key or a session the answer is 401, whatever the query holds: nothing is parsed or read before.
    r = client.get("/v1/products/polisadministratie/users", params=query)
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_logged_in", r.text
    r = client.get("/v1/products/polisadministratie/users", params=query, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
