"""Beheerders appoint another or a second beheerder and may step down (R14), never the last one (R4)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.config import Settings
from authz.store import accounts
from authz.store.db import Database
from authz.store.schema import Audit
from tests.conftest import login
from tests.factories import World
from tests.test_admin_grants import AFNEMER, ALICE, BEHEERDER, build, mails, state_of

TWEEDE = "tweede@korenschoof.nl"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No background e-mail sender: it clears an e-mail's body once delivered, and these tests read the outbox."""
    return replace(settings, mail_interval=0)


def beheerders(client: TestClient) -> list[str]:
    r = client.get(f"/v1/orgs/{AFNEMER}/beheerders")
    assert r.status_code == 200, r.text
    return [b["email"] for b in r.json()["beheerders"]]


def test_a_lone_beheerder_is_advised_to_appoint_a_second(client: TestClient, world: World) -> None:
    build(world)
    login(client, BEHEERDER)
    body = client.get(f"/v1/orgs/{AFNEMER}/beheerders").json()
    assert body["beheerders"] == [{"email": BEHEERDER, "name": ""}]
    assert body["advice"]["code"] == "appoint_second_beheerder"


def test_appointing_a_beheerder(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE.upper()}", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["email"] for b in body["beheerders"]] == [ALICE, BEHEERDER]
    assert "advice" not in body
    users = {u["email"]: u["roles"] for u in client.get(f"/v1/orgs/{AFNEMER}/users").json()["users"]}
    assert users[ALICE] == ["beheerder"]
    (mail,) = mails(db, ALICE)
    assert "beheerder" in mail.subject and "Bakkerij De Korenschoof" in mail.body_text
    with db.engine.connect() as c:
        (row,) = c.execute(sa.select(Audit).where(Audit.action == "role.grant")).all()
    assert row.actor == BEHEERDER and row.on_behalf_of == AFNEMER and row.revision == body["revision"]
    assert row.before["roles"] == [] and row.after["roles"] == ["beheerder"]
    # the new beheerder can act at once
    login(client, ALICE)
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code == 200


def test_appointing_a_beheerder_again_changes_nothing(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    before = state_of(db)
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}", json={})
    assert r.status_code == 200 and r.json()["revision"] == before["revision"]
    assert state_of(db) == before


def test_only_active_accounts_of_the_organisation_can_be_appointed(client: TestClient, world: World,
                                                                   db: Database) -> None:
    build(world)
    world.account("nieuw@korenschoof.nl", AFNEMER, status="approved")
    login(client, BEHEERDER)
    before = state_of(db)
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/nieuw@korenschoof.nl", json={})
    assert r.status_code == 422 and r.json()["error"]["code"] == "account_not_active"
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/bob@salarisnoord.nl", json={})
    assert r.status_code == 404
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", json={"role": "operator"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_field"
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", content=b"ja", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert state_of(db) == before


def test_the_last_beheerder_cannot_be_removed(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    before = state_of(db)
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_beheerder"
    assert state_of(db) == before
    assert beheerders(client) == [BEHEERDER]


def test_an_inactive_beheerder_does_not_count_as_the_other_one(client: TestClient, world: World) -> None:
    build(world)
    world.beheerder(TWEEDE, AFNEMER)
    world.set_status(TWEEDE, "inactive")
    login(client, BEHEERDER)
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_beheerder"
    # the inactive one's role may go: it leaves the active one in place
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{TWEEDE}")
    assert r.status_code == 200 and [b["email"] for b in r.json()["beheerders"]] == [BEHEERDER]


def test_a_beheerder_steps_down_when_another_remains(client: TestClient, world: World, db: Database) -> None:
    build(world)
    world.beheerder(TWEEDE, AFNEMER)
    login(client, BEHEERDER)
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}")
    assert r.status_code == 200, r.text
    assert r.json()["beheerders"] == [{"email": TWEEDE, "name": ""}]
    assert r.json()["advice"]["code"] == "appoint_second_beheerder"
    (mail,) = mails(db, BEHEERDER)
    assert "U bent gestopt als beheerder" in mail.body_text
    # no longer a beheerder: the same session may not act any more
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code == 403
    assert client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{TWEEDE}").status_code == 403


def test_removing_a_non_beheerder_is_not_found(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, BEHEERDER)
    before = state_of(db)
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_beheerder"
    assert state_of(db) == before


def test_a_user_cannot_appoint_or_remove(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, ALICE)
    before = state_of(db)
    assert client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", json={}).status_code == 403
    assert client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}").status_code == 403
    assert state_of(db) == before


def test_two_beheerders_removing_each_other_at_once_leave_one(client: TestClient, world: World) -> None:
    build(world)
    world.beheerder(TWEEDE, AFNEMER)
    cookies = {}
    for who in (BEHEERDER, TWEEDE):
        login(client, who)
        cookies[who] = client.cookies["authz_session"]
    client.cookies.clear()
    start = threading.Barrier(2)
    statuses: list[int] = []

    def remove(actor: str, target: str) -> None:
        start.wait()
        r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{target}",
                          headers={"Cookie": f"authz_session={cookies[actor]}"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=remove, args=(BEHEERDER, TWEEDE)),
               threading.Thread(target=remove, args=(TWEEDE, BEHEERDER))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # the second removal either finds the last beheerder (409) or was made by one who no longer is one (403)
    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (403, 409)
    with world.db.tx("test") as t:
        assert len(accounts.active_beheerders(t, AFNEMER)) == 1
