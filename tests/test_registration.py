"""Registration (R5, R6, R10), decisions on requests, activation (R8): through the HTTP API, e-mails through a real
SMTP server. Time moves with the FrozenClock only."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.cache.throttle import make_throttle
from authz.clock import FrozenClock
from authz.config import Settings
from authz.mail import deliver_due
from authz.service.accounts import REGISTRATION_ANSWER_FLOOR, Registration
from authz.service.accounts import register as register_service
from authz.store.db import Database
from authz.store.schema import Account, AccountRequest, Audit, Organisation, Role, Token
from tests.conftest import login, sync
from tests.factories import PASSWORD, REDIS_URL, World
from tests.mailbox import Mailbox, activation_token, error_of, footprint, html_of, subject_of, text_of

KVK = "11111111"
OTHER = "22222222"
OPERATOR = "operator@gegevensdiensten.nl"
NEW_ORG = {"kvk": KVK, "organisation_name": "Bakkerij De Korenschoof"}


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def smtp(smtp_server: Mailbox) -> Mailbox:
    smtp_server.messages.clear()
    return smtp_server


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    """The app delivers through the SMTP server; its background sender is off, the tests deliver explicitly."""
    return dataclasses.replace(settings, smtp_url=smtp.url, mail_interval=0)


def mails(db: Database, settings: Settings, smtp: Mailbox, to: str) -> list[EmailMessage]:
    """Deliver what is due, then the e-mails the SMTP server got for ``to``."""
    deliver_due(db, settings)
    return smtp.to(to)


def register(client: TestClient, email: str, kvk: str = KVK, **extra: Any) -> Any:
    return client.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": kvk, **extra})


def as_user(client: TestClient, email: str | None) -> TestClient:
    client.cookies.clear()
    return login(client, email) if email else client


def check(client: TestClient, key: str, user: str) -> dict[str, Any]:
    r = client.post("/v1/check", json={"user": user, "product": "polisadministratie"},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def only_request(db: Database) -> Any:
    """The one account request there is, as a plain row."""
    with db.engine.connect() as c:
        return c.execute(sa.select(AccountRequest.__table__)).one()


def account(db: Database, email: str) -> tuple[str, list[str]] | None:
    with db.read() as s:
        a = s.scalars(sa.select(Account).where(Account.email == email)).first()
        if a is None:
            return None
        return a.status, sorted(s.scalars(sa.select(Role.role).where(Role.account_id == a.id)))


def org_status(db: Database, kvk: str) -> str | None:
    with db.read() as s:
        org = s.get(Organisation, kvk)
        return org.status if org is not None else None


def test_first_account_of_an_unknown_organisation_r5(client: TestClient, world: World, db: Database,
                                                     settings: Settings, smtp: Mailbox, service_key: str) -> None:
    world.operator(OPERATOR)
    world.product("polisadministratie")
    r = register(client, "Anna@Korenschoof.NL", **NEW_ORG, name="Anna de Vries")
    assert (r.status_code, r.json()) == (202, {"status": "pending_operator"})
    assert org_status(db, KVK) == "pending"
    assert account(db, "anna@korenschoof.nl") is None

    as_user(client, OPERATOR)
    listed = client.get("/v1/operator/requests").json()["requests"]
    assert [{k: x[k] for k in ("email", "kvk", "organisation_name", "status")} for x in listed] == [
        {"email": "anna@korenschoof.nl", "kvk": KVK, "organisation_name": "Bakkerij De Korenschoof",
         "status": "pending_operator"}]
    r = client.post(f"/v1/operator/requests/{listed[0]['id']}/approve", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert org_status(db, KVK) == "verified"
    assert account(db, "anna@korenschoof.nl") == ("approved", ["beheerder"])
    assert client.get("/v1/operator/requests").json() == {"requests": []}

    receipt, mail = mails(db, settings, smtp, "anna@korenschoof.nl")
    assert subject_of(receipt) == "We hebben uw aanvraag ontvangen"  # R5: sent with the request
    assert subject_of(mail) == "Uw account is goedgekeurd: u bent beheerder van Bakkerij De Korenschoof"
    assert mail["From"].addresses[0].addr_spec == "noreply@gegevensdiensten.nl"
    assert "beheerder van Bakkerij De Korenschoof" in text_of(mail)
    token = activation_token(mail)
    with db.read() as s:  # only a hash of the token is kept
        assert s.scalar(sa.select(sa.func.count()).select_from(Token).where(Token.hash == token)) == 0

    as_user(client, None)
    assert check(client, service_key, "anna@korenschoof.nl")["reason"] == "inactive_user"
    assert client.post("/v1/session", json={"email": "anna@korenschoof.nl", "password": PASSWORD}).status_code == 401
    r = client.post(f"/v1/activations/{token}", json={})
    assert (r.status_code, r.json()) == (200, {"email": "anna@korenschoof.nl", "status": "active"})
    # known and active to the decision API at once: no grant yet, but no longer inactive
    assert check(client, service_key, "anna@korenschoof.nl")["reason"] == "no_grant"
    world.contract(KVK, "polisadministratie")
    world.grant("anna@korenschoof.nl", KVK, ["polisadministratie"])
    sync(client)
    assert check(client, service_key, "anna@korenschoof.nl")["allowed"] is True

    r = client.post("/v1/session", json={"email": "ANNA@korenschoof.nl", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json() == {"email": "anna@korenschoof.nl", "org": KVK, "org_name": "Bakkerij De Korenschoof",
                        "roles": ["beheerder"], "status": "active"}
    # the new beheerder acts for the organisation
    assert client.get(f"/v1/orgs/{KVK}/requests").json() == {"requests": []}

    with db.read() as s:
        actions = list(s.execute(sa.select(Audit.actor, Audit.action, Audit.on_behalf_of).order_by(Audit.id)))
    assert [(a, b, c) for a, b, c in actions if c == KVK and a != "test"] == [
        ("anna@korenschoof.nl", "organisation.create", KVK),
        ("anna@korenschoof.nl", "request.create", KVK),
        (OPERATOR, "organisation.verify", KVK),
        (OPERATOR, "account.create", KVK),
        (OPERATOR, "request.approve", KVK),
        ("anna@korenschoof.nl", "account.active", KVK),
    ]


def test_unknown_organisation_needs_its_name(client: TestClient, db: Database) -> None:
    before = footprint(db)
    r = register(client, "anna@korenschoof.nl")
    assert (r.status_code, error_of(r)) == (422, "missing_field")
    assert footprint(db) == before


@pytest.mark.parametrize("org_state", ["pending", "verified without accounts", "beheerder not yet activated"])
def test_first_account_of_a_known_organisation_goes_to_the_operator(client: TestClient, world: World, db: Database,
                                                                    org_state: str) -> None:
    world.org(KVK, "Bakkerij De Korenschoof", status="pending" if org_state == "pending" else "verified")
    if org_state == "beheerder not yet activated":
        world.account("eerste@korenschoof.nl", KVK, status="approved", roles=("beheerder",))
    r = register(client, "anna@korenschoof.nl")
    assert (r.status_code, r.json()) == (202, {"status": "pending_operator"})
    assert only_request(db).organisation_name == "Bakkerij De Korenschoof"


def test_registration_with_beheerders_mails_each_of_them_r6(client: TestClient, world: World, db: Database,
                                                           settings: Settings, smtp: Mailbox, service_key: str
                                                           ) -> None:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder("anna@korenschoof.nl", KVK)
    world.beheerder("bert@korenschoof.nl", KVK)
    world.account("oud@korenschoof.nl", KVK, status="inactive", roles=("beheerder",))
    world.account("gewoon@korenschoof.nl", KVK)
    world.product("polisadministratie")
    r = register(client, "Carla@korenschoof.nl", name="Carla Jansen")
    assert (r.status_code, r.json()) == (202, {"status": "pending_beheerder"})

    deliver_due(db, settings)
    assert sorted(m["To"] for m in smtp.messages) == ["anna@korenschoof.nl", "bert@korenschoof.nl"]
    mail = smtp.to("anna@korenschoof.nl")[0]
    assert subject_of(mail) == "Nieuwe accountaanvraag van carla@korenschoof.nl voor Bakkerij De Korenschoof"
    assert "Carla Jansen" in text_of(mail)
    assert mail.get_body(preferencelist=("html",)) is not None

    as_user(client, "bert@korenschoof.nl")
    (req,) = client.get(f"/v1/orgs/{KVK}/requests").json()["requests"]
    assert {k: req[k] for k in ("email", "status", "created_at")} == {
        "email": "carla@korenschoof.nl", "status": "pending_beheerder", "created_at": "2026-06-15T10:00:00+00:00"}
    as_user(client, "anna@korenschoof.nl")
    r = client.post(f"/v1/orgs/{KVK}/requests/{req['id']}/approve", json={})
    assert r.status_code == 200, r.text
    assert account(db, "carla@korenschoof.nl") == ("approved", [])  # no roles: only the first becomes beheerder
    assert client.get(f"/v1/orgs/{KVK}/requests").json() == {"requests": []}

    (mail,) = mails(db, settings, smtp, "carla@korenschoof.nl")
    assert subject_of(mail) == "Uw account voor Mijn Gegevensdiensten is goedgekeurd: activeer het"
    as_user(client, None)
    assert client.post(f"/v1/activations/{activation_token(mail)}", json={}).status_code == 200
    assert check(client, service_key, "carla@korenschoof.nl")["reason"] == "no_grant"
    assert client.post("/v1/session", json={"email": "carla@korenschoof.nl", "password": PASSWORD}).json()[
        "roles"] == []


def test_beheerder_rejects_and_the_applicant_hears_it(client: TestClient, world: World, db: Database,
                                                       settings: Settings, smtp: Mailbox) -> None:
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    request_id = only_request(db).id
    as_user(client, "anna@korenschoof.nl")
    r = client.post(f"/v1/orgs/{KVK}/requests/{request_id}/reject", json={"reason": "Geen medewerker van ons."})
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    assert account(db, "carla@korenschoof.nl") is None
    (mail,) = mails(db, settings, smtp, "carla@korenschoof.nl")
    assert subject_of(mail) == "Uw accountaanvraag voor Mijn Gegevensdiensten is afgewezen"
    assert "Geen medewerker van ons." in text_of(mail)
    assert only_request(db).password_hash == ""  # the hash is not kept after the decision
    # a rejected applicant may try again
    as_user(client, None)
    assert register(client, "carla@korenschoof.nl").status_code == 202


def test_operator_rejection_leaves_the_organisation_pending(client: TestClient, world: World, db: Database,
                                                            settings: Settings, smtp: Mailbox) -> None:
    world.operator(OPERATOR)
    register(client, "anna@korenschoof.nl", **NEW_ORG)
    as_user(client, OPERATOR)
    r = client.post(f"/v1/operator/requests/{only_request(db).id}/reject", json={})
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    assert org_status(db, KVK) == "pending"
    receipt, mail = mails(db, settings, smtp, "anna@korenschoof.nl")
    assert subject_of(receipt) == "We hebben uw aanvraag ontvangen"
    assert "afgewezen" in subject_of(mail)
    # the next applicant for that KvK number goes to the operator again, without having to name it
    as_user(client, None)
    assert register(client, "bert@korenschoof.nl").json() == {"status": "pending_operator"}


@pytest.mark.parametrize("first,second", [("approve", "approve"), ("reject", "approve"), ("approve", "reject"),
                                          ("reject", "reject")])
def test_a_request_is_decided_once(client: TestClient, world: World, db: Database, first: str, second: str) -> None:
    world.operator(OPERATOR)
    register(client, "anna@korenschoof.nl", **NEW_ORG)
    request_id = only_request(db).id
    as_user(client, OPERATOR)
    assert client.post(f"/v1/operator/requests/{request_id}/{first}", json={}).status_code == 200
    before = footprint(db)
    r = client.post(f"/v1/operator/requests/{request_id}/{second}", json={})
    assert (r.status_code, error_of(r)) == (409, "request_decided")
    assert footprint(db) == before


def test_a_beheerder_decides_once(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    request_id = only_request(db).id
    as_user(client, "anna@korenschoof.nl")
    assert client.post(f"/v1/orgs/{KVK}/requests/{request_id}/approve", json={}).status_code == 200
    before = footprint(db)
    for verb in ("approve", "reject"):
        r = client.post(f"/v1/orgs/{KVK}/requests/{request_id}/{verb}", json={})
        assert (r.status_code, error_of(r)) == (409, "request_decided")
    assert footprint(db) == before


def test_operator_and_beheerder_keep_to_their_own_requests(client: TestClient, world: World, db: Database) -> None:
    world.operator(OPERATOR)
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")  # pending_beheerder
    register(client, "dirk@noord.nl", OTHER, organisation_name="Noord")  # pending_operator
    with db.read() as s:
        ids = {e: i for e, i in s.execute(sa.select(AccountRequest.email, AccountRequest.id))}
    before = footprint(db)
    as_user(client, OPERATOR)
    r = client.post(f"/v1/operator/requests/{ids['carla@korenschoof.nl']}/approve", json={})
    assert (r.status_code, error_of(r)) == (409, "not_for_operator")
    as_user(client, "anna@korenschoof.nl")
    assert client.post(f"/v1/operator/requests/{ids['dirk@noord.nl']}/approve", json={}).status_code == 403
    assert footprint(db) == before


def test_requests_of_another_organisation_stay_out_of_reach(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.org(OTHER)
    world.beheerder("anna@korenschoof.nl", KVK)
    world.beheerder("bert@noord.nl", OTHER)
    world.account("gewoon@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    request_id = only_request(db).id
    before = footprint(db)
    as_user(client, "bert@noord.nl")
    assert client.get(f"/v1/orgs/{KVK}/requests").status_code == 403
    for verb in ("approve", "reject"):
        r = client.post(f"/v1/orgs/{KVK}/requests/{request_id}/{verb}", json={})
        assert (r.status_code, error_of(r)) == (403, "forbidden")
        # through its own organisation's path the request does not exist
        r = client.post(f"/v1/orgs/{OTHER}/requests/{request_id}/{verb}", json={})
        assert (r.status_code, error_of(r)) == (404, "unknown_request")
    assert client.get(f"/v1/orgs/{OTHER}/requests").json() == {"requests": []}
    as_user(client, None)
    assert client.get(f"/v1/orgs/{KVK}/requests").status_code == 401
    assert client.post(f"/v1/orgs/{KVK}/requests/{request_id}/approve", json={}).status_code == 401
    assert client.get("/v1/operator/requests").status_code == 401
    as_user(client, "gewoon@korenschoof.nl")  # a user, not a beheerder
    assert client.get(f"/v1/orgs/{KVK}/requests").status_code == 403
    assert client.post(f"/v1/orgs/{KVK}/requests/{request_id}/approve", json={}).status_code == 403
    assert footprint(db) == before
    assert only_request(db).status == "pending_beheerder"


@pytest.mark.parametrize("address,code", [
    ("anna", "invalid_email"),
    ("anna@", "invalid_email"),
    ("anna@korenschoof", "invalid_email"),
    ("anna@@korenschoof.nl", "invalid_email"),
    ("anna@gmail.com", "free_mail_domain"),
    ("anna@Hotmail.NL", "free_mail_domain"),
    ("anna@mail.gmail.com", "free_mail_domain"),
    ("anna@bakkerij-elders.nl", "email_domain_not_allowed"),
])
def test_business_email_only_r10(client: TestClient, world: World, db: Database, address: str, code: str) -> None:
    world.org(KVK, domains=["korenschoof.nl", "korenschoof.com"])
    before = footprint(db)
    r = register(client, address)
    assert (r.status_code, error_of(r)) == (422, code)
    assert footprint(db) == before


def test_registered_domains_admit_their_addresses(client: TestClient, world: World) -> None:
    world.org(KVK, domains=["korenschoof.nl", "korenschoof.com"])
    assert register(client, "Anna@KORENSCHOOF.com").status_code == 202


def test_free_mail_list_is_configurable(client: TestClient, settings: Settings, clock: FrozenClock,
                                        db: Database) -> None:
    from authz.app import create_app

    custom = dataclasses.replace(settings, free_mail_domains=("korenschoof.nl",))
    with TestClient(create_app(custom, clock)) as other:
        r = register(other, "anna@korenschoof.nl", **NEW_ORG)
        assert (r.status_code, error_of(r)) == (422, "free_mail_domain")
        assert register(other, "anna@gmail.com", **NEW_ORG).status_code == 202


@pytest.mark.parametrize("existing", ["account", "open request", "operator"])
def test_a_taken_address_is_answered_as_a_new_one_and_mailed_instead(
        client: TestClient, world: World, db: Database, settings: Settings, smtp: Mailbox, existing: str) -> None:
    """The SPEC's 202 for every address: a 409 ``already_registered`` told anyone which addresses have accounts
    (the operator's too). The address itself hears of it; nothing else changes, and nobody else is mailed."""
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    if existing == "account":
        world.account("carla@korenschoof.nl", KVK, status="inactive")
    elif existing == "open request":
        assert register(client, "carla@korenschoof.nl").status_code == 202
    else:
        world.operator("carla@korenschoof.nl")
    deliver_due(db, settings)
    smtp.messages.clear()
    before = footprint(db)
    answers = []
    for kvk, extra in ((KVK, {}), (OTHER, {"organisation_name": "Elders"})):
        began = time.monotonic()
        r = register(client, "CARLA@korenschoof.nl", kvk, **extra)
        assert time.monotonic() - began >= REGISTRATION_ANSWER_FLOOR
        answers.append((r.status_code, r.json()))
    # no account, request, organisation, token, rule or audit record; two e-mails in the outbox (each a revision)
    revision, *rows, outbox = footprint(db)
    assert (revision, rows, outbox) == (before[0] + 2, list(before[1:-1]), before[-1] + 2)
    deliver_due(db, settings)
    assert [m["To"] for m in smtp.messages] == ["carla@korenschoof.nl"] * 2
    mail = smtp.messages[0]
    assert subject_of(mail) == "Aanvraag van een account met uw e-mailadres bij Mijn Gegevensdiensten"
    assert "http://127.0.0.1:8000/wachtwoord-vergeten" in text_of(mail)
    # the very answers that addresses without an account get
    fresh = [register(client, "dirk@korenschoof.nl", kvk, **extra)
             for kvk, extra in ((KVK, {}), (OTHER, {"organisation_name": "Elders"}))]
    assert answers == [(r.status_code, r.json()) for r in fresh]
    assert answers == [(202, {"status": "pending_beheerder"}), (202, {"status": "pending_operator"})]


@pytest.fixture(params=["sql", "redis"])
def limited(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    few = dataclasses.replace(settings, registrations_per_address=4, registrations_per_kvk=2)
    if request.param == "sql":
        return few
    return dataclasses.replace(few, redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix"))


def test_registrations_are_throttled_per_kvk_and_per_client_address(limited: Settings, clock: FrozenClock,
                                                                   world: World, db: Database) -> None:
    from authz.app import create_app

    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    with TestClient(create_app(limited, clock)) as c:
        assert [register(c, f"m{i}@korenschoof.nl").status_code for i in range(2)] == [202, 202]
        r = register(c, "m0@korenschoof.nl")  # a taken address is counted alike
        assert (r.status_code, error_of(r)) == (429, "too_many_requests")
        assert 1 <= int(r.headers["Retry-After"]) <= 3600
        assert register(c, "m0@noord.nl", OTHER, organisation_name="Noord").status_code == 202  # another KvK
        r = register(c, "m1@noord.nl", OTHER, organisation_name="Noord")  # the fifth from this address
        assert (r.status_code, error_of(r)) == (429, "too_many_requests")
        clock.advance(seconds=3600)
        assert register(c, "m1@noord.nl", OTHER, organisation_name="Noord").status_code == 202
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AccountRequest)) == 4


def test_registration_limits_come_from_the_environment() -> None:
    s = Settings.from_env({"AUTHZ_SECRET_KEY": "k", "AUTHZ_REGISTRATIONS_PER_ADDRESS": "7",
                           "AUTHZ_REGISTRATIONS_PER_KVK": "3"})
    assert (s.registrations_per_address, s.registrations_per_kvk) == (7, 3)
    default = Settings.from_env({"AUTHZ_SECRET_KEY": "k"})
    assert (default.registrations_per_address, default.registrations_per_kvk) == (20, 10)


@pytest.mark.parametrize("body,code", [
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": KVK, "organisation_name": "X", "role": "x"},
     "unknown_field"),
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": 11111111, "organisation_name": "X"},
     "invalid_kvk"),
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": "1111111", "organisation_name": "X"},
     "invalid_kvk"),
    ({"email": ["anna@korenschoof.nl"], "password": PASSWORD, "kvk": KVK, "organisation_name": "X"},
     "invalid_email"),
    ({"email": "anna@korenschoof.nl", "password": "kort", "kvk": KVK, "organisation_name": "X"}, "weak_password"),
    ({"email": "anna@korenschoof.nl", "password": 123456789012345, "kvk": KVK}, "weak_password"),
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": KVK, "organisation_name": 5}, "invalid_field"),
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": KVK, "organisation_name": "X", "name": 7},
     "invalid_field"),
    ({"password": PASSWORD, "kvk": KVK, "organisation_name": "X"}, "missing_field"),
])
def test_bad_registration_input_changes_nothing(client: TestClient, db: Database, body: dict[str, Any],
                                                code: str) -> None:
    before = footprint(db)
    r = client.post("/v1/registrations", json=body)
    assert (r.status_code, error_of(r)) == (422, code)
    assert footprint(db) == before


def test_registration_takes_only_json(client: TestClient, db: Database) -> None:
    before = footprint(db)
    form = {"email": "anna@korenschoof.nl", "password": PASSWORD, "kvk": KVK, "organisation_name": "X"}
    r = client.post("/v1/registrations", data=form)
    assert (r.status_code, error_of(r)) == (415, "unsupported_media_type")
    r = client.post("/v1/registrations", content=b'{"email": ', headers={"Content-Type": "application/json"})
    assert (r.status_code, error_of(r)) == (400, "invalid_json")
    r = client.post("/v1/registrations", content=b'["anna@korenschoof.nl"]',
                    headers={"Content-Type": "application/json"})
    assert (r.status_code, error_of(r)) == (422, "invalid_body")
    assert footprint(db) == before


def test_decisions_take_only_json_bodies(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    request_id = only_request(db).id
    as_user(client, "anna@korenschoof.nl")
    before = footprint(db)
    url = f"/v1/orgs/{KVK}/requests/{request_id}/reject"
    assert client.post(url, data={"reason": "x"}).status_code == 415
    assert client.post(url, content=b"reason=x", headers={"Content-Type": "text/plain"}).status_code == 415
    r = client.post(url, json={"reason": "x", "notify": False})
    assert (r.status_code, error_of(r)) == (422, "unknown_field")
    r = client.post(url, json={"reason": 12})
    assert (r.status_code, error_of(r)) == (422, "invalid_field")
    r = client.post(f"/v1/orgs/{KVK}/requests/{request_id}/approve", json={"reason": "x"})
    assert (r.status_code, error_of(r)) == (422, "unknown_field")
    r = client.post(f"/v1/orgs/{KVK}/requests/abc/approve", json={})
    assert (r.status_code, error_of(r)) == (404, "unknown_request")
    r = client.post(f"/v1/orgs/{KVK}/requests/{request_id + 1000}/approve", json={})
    assert (r.status_code, error_of(r)) == (404, "unknown_request")
    assert footprint(db) == before


# -- activation (R8) ---------------------------------------------------------------------------------------------

@pytest.fixture
def approved(client: TestClient, world: World, db: Database, settings: Settings, smtp: Mailbox) -> str:
    """Carla's account was approved by the beheerder; returns the token of her activation link."""
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    as_user(client, "anna@korenschoof.nl")
    assert client.post(f"/v1/orgs/{KVK}/requests/{only_request(db).id}/approve", json={}).status_code == 200
    as_user(client, None)
    (mail,) = mails(db, settings, smtp, "carla@korenschoof.nl")
    return activation_token(mail)


def test_activation_link_lasts_21_days(client: TestClient, db: Database, clock: FrozenClock, approved: str
                                       ) -> None:
    clock.advance(days=21, seconds=-1)
    assert client.post(f"/v1/activations/{approved}", json={}).status_code == 200
    assert account(db, "carla@korenschoof.nl") == ("active", [])


def test_expired_activation_link_activates_nothing(client: TestClient, db: Database, clock: FrozenClock,
                                                   approved: str) -> None:
    clock.advance(days=22)
    before = footprint(db)
    r = client.post(f"/v1/activations/{approved}", json={})
    assert (r.status_code, error_of(r)) == (410, "token_expired")
    assert footprint(db) == before
    assert account(db, "carla@korenschoof.nl") == ("approved", [])


def test_activation_link_works_once(client: TestClient, db: Database, approved: str, service_key: str) -> None:
    assert client.post(f"/v1/activations/{approved}", json={}).status_code == 200
    before = footprint(db)
    r = client.post(f"/v1/activations/{approved}", json={})
    assert (r.status_code, error_of(r)) == (409, "token_used")
    assert footprint(db) == before


def test_unknown_or_foreign_tokens_activate_nothing(client: TestClient, world: World, db: Database,
                                                    approved: str) -> None:
    from authz.store import tokens

    with db.tx("test") as t:  # a real token, of another purpose
        invitation = tokens.issue(t, "invitation", timedelta(days=7),
                                  email="x@korenschoof.nl", kvk=KVK)
    before = footprint(db)
    for token in (invitation, approved[:-2] + "xx", "kort", "a" * 300, "%2E%2E"):
        r = client.post(f"/v1/activations/{token}", json={})
        assert (r.status_code, error_of(r)) == (404, "invalid_token"), token
    r = client.post(f"/v1/activations/{approved}", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert footprint(db) == before
    assert account(db, "carla@korenschoof.nl") == ("approved", [])


def test_deactivated_account_cannot_be_activated_by_its_old_link(client: TestClient, world: World, db: Database,
                                                                 approved: str) -> None:
    world.set_status("carla@korenschoof.nl", "inactive")
    before = footprint(db)
    r = client.post(f"/v1/activations/{approved}", json={})
    assert (r.status_code, error_of(r)) == (409, "not_activatable")
    assert footprint(db) == before


def test_approval_fails_whole_when_the_address_got_an_account_meanwhile(client: TestClient, world: World,
                                                                        db: Database) -> None:
    world.operator(OPERATOR)
    register(client, "anna@korenschoof.nl", **NEW_ORG)
    world.org(OTHER)
    world.account("anna@korenschoof.nl", OTHER)  # e.g. made by the operator in the meantime
    before = footprint(db)
    as_user(client, OPERATOR)
    r = client.post(f"/v1/operator/requests/{only_request(db).id}/approve", json={})
    assert (r.status_code, error_of(r)) == (409, "account_exists")
    assert footprint(db) == before
    assert org_status(db, KVK) == "pending"  # the verification was rolled back with the rest
    assert only_request(db).status == "pending_operator"


def test_applicant_text_is_escaped_in_html_mail(client: TestClient, world: World, db: Database, settings: Settings,
                                                smtp: Mailbox) -> None:
    world.org(KVK, "Bakkerij <De Korenschoof>")
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl", name='<a href="https://evil.example">Klik</a>')
    (mail,) = mails(db, settings, smtp, "anna@korenschoof.nl")
    html = html_of(mail)
    assert "&lt;a href=" in html and '<a href="https://evil.example">' not in html
    assert "Bakkerij &lt;De Korenschoof&gt;" in html
    assert '<a href="https://evil.example">Klik</a>' in text_of(mail)  # plain text is plain


def test_simultaneous_registrations_of_one_address_make_one_request(db: Database, world: World,
                                                                     settings: Settings) -> None:
    """account_requests.email cannot be unique (decided requests stay): the service serialises per address."""
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    throttle = make_throttle(settings, db)

    def attempt() -> None:
        start.wait()
        outcomes.append(register_service(db, settings, Registration("carla@korenschoof.nl", PASSWORD, KVK),
                                         throttle, "10.0.0.1"))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert outcomes == ["pending_beheerder"] * 4  # the three that found it taken are answered alike
    only_request(db)  # exactly one


def test_a_body_without_a_content_type_is_refused(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    register(client, "carla@korenschoof.nl")
    as_user(client, "anna@korenschoof.nl")
    before = footprint(db)
    url = f"/v1/orgs/{KVK}/requests/{only_request(db).id}/approve"
    r = client.post(url, content=b'{"x": 1}')
    assert "content-type" not in r.request.headers
    assert (r.status_code, error_of(r)) == (415, "unsupported_media_type")
    r = client.post(url, content=b'{"x": 1}', headers={"Content-Type": ""})
    assert (r.status_code, error_of(r)) == (415, "unsupported_media_type")
    assert footprint(db) == before
