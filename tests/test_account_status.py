"""Account status through the HTTP API: deactivation and reactivation (R1: at once, on this instance; sessions
end; an e-mail), the last active beheerder (R4), new activation links and lapsed approvals (R8)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.config import Settings
from authz.store.db import Database
from authz.store.schema import Audit
from tests.conftest import delivered, link_token, login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import Mailbox, error_of, footprint, subject_of, text_of

KVK = "11111111"
OTHER = "22222222"
ANNA = "anna@korenschoof.nl"  # beheerder
ALICE = "alice@korenschoof.nl"
PRODUCT = "polisadministratie"


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp.url)


@pytest.fixture
def org(world: World, client: TestClient) -> str:
    """The organisation, written straight into SQL; the app has caught up with it when the test starts."""
    world.org(KVK, "Bakkerij De Korenschoof")
    world.product(PRODUCT, "Polisadministratie")
    world.contract(KVK, PRODUCT)
    world.account(ANNA, KVK, roles=("beheerder",), name="Anna de Vries")
    world.account(ALICE, KVK, name="Alice Jansen")
    world.grant(ALICE, KVK, [PRODUCT])
    world.org(OTHER, "Garage Oost")
    world.beheerder("baas@garage-oost.nl", OTHER)
    sync(client)
    return KVK


def check(client: TestClient, key: str, user: str) -> dict[str, Any]:
    r = client.post("/v1/check", json={"user": user, "product": PRODUCT},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def users(client: TestClient) -> dict[str, dict[str, Any]]:
    r = client.get(f"/v1/orgs/{KVK}/users")
    assert r.status_code == 200, r.text
    return {u["email"]: u for u in r.json()["users"]}


def session_of(email: str, client: TestClient) -> str:
    """Log ``email`` in through the API; returns its session cookie (and leaves the client without one)."""
    client.cookies.clear()
    r = client.post("/v1/session", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie: str = r.cookies["authz_session"]
    client.cookies.clear()
    return cookie


def test_deactivation_denies_at_once_ends_sessions_and_tells_the_user(
        client: TestClient, org: str, db: Database, smtp: Mailbox, settings: Settings, service_key: str) -> None:
    alice_session = session_of(ALICE, client)
    assert check(client, service_key, ALICE)["allowed"] is True
    login(client, ANNA)
    r = client.post(f"/v1/orgs/{KVK}/users/{ALICE}/deactivate", json={})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["revision"]) == ("inactive", db.revision())
    # no catch-up, no waiting: the answer of the write means this instance decides by it
    decision = check(client, service_key, ALICE)
    assert (decision["allowed"], decision["reason"], decision["revision"]) == (False, "inactive_user", db.revision())
    assert users(client)[ALICE]["status"] == "inactive"

    client.cookies.clear()
    assert client.get("/v1/session", headers={"Cookie": f"authz_session={alice_session}"}).status_code == 401
    assert client.post("/v1/session", json={"email": ALICE, "password": PASSWORD}).status_code == 401

    (msg,) = delivered(client, smtp, ALICE)
    assert subject_of(msg) == "Uw account bij Bakkerij De Korenschoof op Mijn Gegevensdiensten is gedeactiveerd"
    said = text_of(msg)
    assert "Anna de Vries, beheerder van Bakkerij De Korenschoof, heeft uw account" in said and ANNA not in said
    assert "Neem dan contact op met Anna de Vries of een andere beheerder van uw organisatie." in said
    with db.read() as s:
        entry = s.scalars(sa.select(Audit).where(Audit.action == "account.inactive")).one()
        assert (entry.actor, entry.on_behalf_of, entry.before["status"], entry.after["status"]) == (
            ANNA, KVK, "active", "inactive")


def test_reactivation_restores_the_decisions(client: TestClient, org: str, db: Database, smtp: Mailbox,
                                             service_key: str) -> None:
    alice_session = session_of(ALICE, client)
    login(client, ANNA)
    assert client.post(f"/v1/orgs/{KVK}/users/{ALICE}/deactivate", json={}).status_code == 200
    before = footprint(db)
    again = client.post(f"/v1/orgs/{KVK}/users/{ALICE}/deactivate", json={})
    assert (again.status_code, error_of(again)) == (409, "already_inactive")
    assert footprint(db) == before
    r = client.post(f"/v1/orgs/{KVK}/users/{ALICE}/reactivate", json={})
    assert (r.status_code, r.json()["status"]) == (200, "active")
    assert check(client, service_key, ALICE)["allowed"] is True  # the grant was kept
    # the sessions ended with the deactivation: reactivation does not bring them back
    assert client.get("/v1/session", headers={"Cookie": f"authz_session={alice_session}"}).status_code == 401
    (_, msg) = delivered(client, smtp, ALICE)
    assert subject_of(msg) == "Uw account bij Bakkerij De Korenschoof op Mijn Gegevensdiensten is weer actief"
    assert PASSWORD not in text_of(msg)
    client.cookies.clear()
    assert client.post("/v1/session", json={"email": ALICE, "password": PASSWORD}).status_code == 200
    client.cookies.clear()
    login(client, ANNA)
    r = client.post(f"/v1/orgs/{KVK}/users/{ALICE}/reactivate", json={})
    assert (r.status_code, error_of(r)) == (409, "not_inactive")


def test_the_last_active_beheerder_cannot_be_deactivated(client: TestClient, org: str, world: World,
                                                         db: Database) -> None:
    world.beheerder("inactief@korenschoof.nl", KVK)
    world.set_status("inactief@korenschoof.nl", "inactive")  # an inactive beheerder is not "another one"
    login(client, ANNA)
    before = footprint(db)
    r = client.post(f"/v1/orgs/{KVK}/users/{ANNA}/deactivate", json={})
    assert (r.status_code, error_of(r)) == (409, "last_beheerder")
    assert footprint(db) == before
    world.beheerder("tweede@korenschoof.nl", KVK)
    login(client, "tweede@korenschoof.nl")
    assert client.post(f"/v1/orgs/{KVK}/users/{ANNA}/deactivate", json={}).status_code == 200


def test_only_a_beheerder_of_the_organisation_manages_accounts(client: TestClient, org: str, world: World,
                                                               db: Database, service_key: str) -> None:
    before = footprint(db)
    login(client, ALICE)
    for action in ("deactivate", "reactivate", "activation"):
        assert client.post(f"/v1/orgs/{KVK}/users/{ANNA}/{action}", json={}).status_code == 403
    login(client, "baas@garage-oost.nl")
    for action in ("deactivate", "reactivate", "activation"):
        assert client.post(f"/v1/orgs/{KVK}/users/{ALICE}/{action}", json={}).status_code == 403
        r = client.post(f"/v1/orgs/{OTHER}/users/{ALICE}/{action}", json={})
        assert (r.status_code, error_of(r)) == (404, "unknown_account")
    assert footprint(db) == before
    assert check(client, service_key, ALICE)["allowed"] is True


# -- activation links (R8) ----------------------------------------------------------------------------------------

def approved(client: TestClient, smtp: Mailbox, email: str = "bert@korenschoof.nl") -> str:
    """Register ``email``, have Anna approve it; returns the activation token from its e-mail."""
    client.cookies.clear()
    r = client.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": KVK})
    assert r.status_code == 202, r.text
    login(client, ANNA)
    (req,) = client.get(f"/v1/orgs/{KVK}/requests").json()["requests"]
    assert client.post(f"/v1/orgs/{KVK}/requests/{req['id']}/approve", json={}).status_code == 200
    return link_token(delivered(client, smtp, email)[-1], "activeren")


def test_a_new_activation_link_ends_the_old_one(client: TestClient, org: str, db: Database, smtp: Mailbox) -> None:
    old = approved(client, smtp)
    r = client.post(f"/v1/orgs/{KVK}/users/bert@korenschoof.nl/activation", json={})
    assert (r.status_code, r.json()["status"]) == (200, "approved")
    msg = delivered(client, smtp, "bert@korenschoof.nl")[-1]
    assert subject_of(msg) == ("Nieuwe activatielink voor uw account bij Bakkerij De Korenschoof op Mijn "
                               "Gegevensdiensten")
    new = link_token(msg, "activeren")
    client.cookies.clear()
    before = footprint(db)
    r = client.post(f"/v1/activations/{old}", json={})
    assert (r.status_code, error_of(r)) == (410, "token_expired")
    assert footprint(db) == before
    assert client.post(f"/v1/activations/{new}", json={}).json() == {"email": "bert@korenschoof.nl", "status": "active"}
    r = client.post(f"/v1/activations/{new}", json={})
    assert (r.status_code, error_of(r)) == (409, "token_used")
    login(client, ANNA)
    r = client.post(f"/v1/orgs/{KVK}/users/bert@korenschoof.nl/activation", json={})
    assert (r.status_code, error_of(r)) == (409, "not_activatable")


def test_unactivated_approvals_lapse_visibly_after_21_days(client: TestClient, org: str, db: Database,
                                                           smtp: Mailbox, clock: FrozenClock) -> None:
    token = approved(client, smtp)
    listed = users(client)
    assert (listed["bert@korenschoof.nl"]["status"], listed["bert@korenschoof.nl"]["lapsed"]) == ("approved", False)
    assert listed[ALICE]["lapsed"] is False
    clock.advance(days=21)
    login(client, ANNA)
    assert users(client)["bert@korenschoof.nl"]["lapsed"] is True
    client.cookies.clear()
    before = footprint(db)
    r = client.post(f"/v1/activations/{token}", json={})
    assert (r.status_code, error_of(r)) == (410, "token_expired")
    assert footprint(db) == before
    login(client, ANNA)
    assert client.post(f"/v1/orgs/{KVK}/users/bert@korenschoof.nl/activation", json={}).json()["lapsed"] is False
    assert users(client)["bert@korenschoof.nl"]["lapsed"] is False


def test_reactivating_a_never_activated_account_sends_an_activation_link(client: TestClient, org: str,
                                                                         db: Database, smtp: Mailbox) -> None:
    old = approved(client, smtp)
    assert client.post(f"/v1/orgs/{KVK}/users/bert@korenschoof.nl/deactivate", json={}).status_code == 200
    client.cookies.clear()
    assert client.post(f"/v1/activations/{old}", json={}).status_code == 409  # deactivated: nothing to activate
    login(client, ANNA)
    r = client.post(f"/v1/orgs/{KVK}/users/bert@korenschoof.nl/reactivate", json={})
    assert (r.status_code, r.json()["status"]) == (200, "approved")
    new = link_token(delivered(client, smtp, "bert@korenschoof.nl")[-1], "activeren")
    client.cookies.clear()
    assert client.post(f"/v1/activations/{new}", json={}).json()["status"] == "active"
