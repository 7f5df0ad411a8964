"""Invitations (R7) through the HTTP API: a beheerder invites, the invitee follows the link in the e-mail the SMTP
server received, chooses a password, a beheerder approves, the activation link (R8) makes the account active.
Expiry (21 days), withdrawal and sending again; every refusal changes nothing."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.config import Settings
from authz.store.db import Database
from authz.store.schema import AccountRequest, Audit, Invitation, Outbox
from tests.conftest import delivered, link_token, login
from tests.factories import PASSWORD, World
from tests.mailbox import Mailbox, error_of, footprint, subject_of, text_of

KVK = "11111111"
OTHER = "22222222"
ANNA = "anna@korenschoof.nl"  # beheerder
BERT = "bert@korenschoof.nl"  # invitee


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp.url)


@pytest.fixture
def org(world: World) -> str:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.account(ANNA, KVK, roles=("beheerder",), name="Anna de Vries")
    world.org(OTHER, "Garage Oost")
    world.beheerder("baas@garage-oost.nl", OTHER)
    return KVK


def invite(client: TestClient, email: str, kvk: str = KVK) -> Any:
    return client.post(f"/v1/orgs/{kvk}/invitations", json={"email": email})


def as_anyone(client: TestClient) -> TestClient:
    client.cookies.clear()
    return client


def invited(client: TestClient, smtp: Mailbox, email: str = BERT) -> str:
    """Anna invites ``email``; returns the token from the e-mail it received."""
    login(client, ANNA)
    r = invite(client, email)
    assert r.status_code == 201, r.text
    (msg,) = delivered(client, smtp, email)
    return link_token(msg, "uitnodiging")


def test_invitation_from_e_mail_to_active_account(client: TestClient, org: str, db: Database, smtp: Mailbox,
                                                  settings: Settings) -> None:
    login(client, ANNA)
    r = invite(client, "Bert@Korenschoof.NL")
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("email", "kvk", "invited_by", "status", "lapsed")} == {
        "email": BERT, "kvk": KVK, "invited_by": ANNA, "status": "open", "lapsed": False}
    assert body["expires_at"] == "2026-07-06T10:00:00+00:00"  # 21 days

    (msg,) = delivered(client, smtp, BERT)
    assert subject_of(msg) == "Uitnodiging van Bakkerij De Korenschoof voor Mijn Gegevensdiensten"
    assert "Anna de Vries nodigt u uit" in text_of(msg)
    assert "6 juli 2026" in text_of(msg)
    token = link_token(msg, "uitnodiging")
    assert text_of(msg).count(f"{settings.base_url}/uitnodiging/{token}") == 1

    as_anyone(client)
    info = client.get(f"/v1/invitations/{token}")
    assert info.status_code == 200, info.text
    assert info.json() == {"valid": True, "email": BERT, "kvk": KVK, "organisation_name": "Bakkerij De Korenschoof",
                           "expires_at": "2026-07-06T10:00:00+00:00"}
    r = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD, "name": "Bert Bakker"})
    assert (r.status_code, r.json()) == (202, {"status": "pending_beheerder"})
    (to_anna,) = delivered(client, smtp, ANNA)
    assert subject_of(to_anna) == ("Uitnodiging aanvaard door bert@korenschoof.nl: keur het account goed voor "
                                   "Bakkerij De Korenschoof")
    assert PASSWORD not in text_of(to_anna) and PASSWORD not in text_of(msg)

    # used: the link says so and changes nothing
    before = footprint(db)
    again = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert (again.status_code, error_of(again)) == (409, "invitation_accepted")
    assert (client.get(f"/v1/invitations/{token}").status_code) == 409
    assert footprint(db) == before

    login(client, ANNA)
    (req,) = client.get(f"/v1/orgs/{KVK}/requests").json()["requests"]
    assert (req["email"], req["kind"], req["name"]) == (BERT, "invitation", "Bert Bakker")
    assert client.post(f"/v1/orgs/{KVK}/requests/{req['id']}/approve", json={}).status_code == 200
    assert client.get(f"/v1/orgs/{KVK}/invitations").json() == {"invitations": []}

    (welcome,) = delivered(client, smtp, BERT)[1:]
    activation = link_token(welcome, "activeren")
    as_anyone(client)
    assert client.post(f"/v1/activations/{activation}", json={}).json() == {"email": BERT, "status": "active"}
    r = client.post("/v1/session", json={"email": BERT, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["org_name"] == "Bakkerij De Korenschoof"

    with db.read() as s:  # the audit trail says who did what
        trail = [(a.actor, a.action) for a in s.scalars(sa.select(Audit).order_by(Audit.id))
                 if a.action.startswith(("invitation", "request", "account.active"))]
    assert trail == [(ANNA, "invitation.create"), (BERT, "request.create"), (BERT, "invitation.accept"),
                     (ANNA, "request.approve"), (BERT, "account.active")]


@pytest.mark.parametrize("setup,email,status,code", [
    ("account", "alice@korenschoof.nl", 409, "already_registered"),
    ("request", "carla@korenschoof.nl", 409, "already_registered"),
    ("invitation", BERT, 409, "already_invited"),
    ("", "piet@gmail.com", 422, "free_mail_domain"),
    ("", "geen-adres", 422, "invalid_email"),
])
def test_refused_invitations_change_nothing(client: TestClient, org: str, world: World, db: Database,
                                            smtp: Mailbox, setup: str, email: str, status: int, code: str) -> None:
    if setup == "account":
        world.account(email, KVK)
    elif setup == "request":
        r = client.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": KVK})
        assert r.status_code == 202
    elif setup == "invitation":
        invited(client, smtp, email)
    login(client, ANNA)
    before = footprint(db)
    r = invite(client, email.upper() if "@" in email else email)
    assert (r.status_code, error_of(r)) == (status, code)
    assert footprint(db) == before


def test_registered_domains_bind_invitations(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK, "Bakkerij De Korenschoof", domains=["korenschoof.nl"])
    world.beheerder(ANNA, KVK)
    login(client, ANNA)
    before = footprint(db)
    r = invite(client, "bert@elders.nl")
    assert (r.status_code, error_of(r)) == (422, "email_domain_not_allowed")
    assert footprint(db) == before
    assert invite(client, BERT).status_code == 201


def test_only_a_beheerder_of_the_organisation_invites(client: TestClient, org: str, world: World,
                                                      db: Database) -> None:
    world.account("alice@korenschoof.nl", KVK)
    before = footprint(db)
    login(client, "alice@korenschoof.nl")
    assert invite(client, BERT).status_code == 403
    assert client.get(f"/v1/orgs/{KVK}/invitations").status_code == 403
    login(client, "baas@garage-oost.nl")
    assert invite(client, BERT).status_code == 403
    as_anyone(client)
    assert invite(client, BERT).status_code == 401
    assert footprint(db) == before


def test_an_invitation_lapses_after_21_days_and_can_be_sent_again(client: TestClient, org: str, db: Database,
                                                                  smtp: Mailbox, clock: FrozenClock) -> None:
    old = invited(client, smtp)
    clock.advance(days=21)
    login(client, ANNA)  # the session of three weeks ago has long ended
    (listed,) = client.get(f"/v1/orgs/{KVK}/invitations").json()["invitations"]
    assert (listed["email"], listed["lapsed"]) == (BERT, True)
    as_anyone(client)
    before = footprint(db)
    r = client.post(f"/v1/invitations/{old}/accept", json={"password": PASSWORD})
    assert (r.status_code, error_of(r)) == (410, "token_expired")
    assert client.get(f"/v1/invitations/{old}").status_code == 410
    assert footprint(db) == before

    login(client, ANNA)
    r = client.post(f"/v1/orgs/{KVK}/invitations/{listed['id']}/resend", json={})
    assert r.status_code == 200, r.text
    assert (r.json()["lapsed"], r.json()["expires_at"]) == (False, "2026-07-27T10:00:00+00:00")
    new = link_token(delivered(client, smtp, BERT)[-1], "uitnodiging")
    assert new != old
    as_anyone(client)
    assert client.post(f"/v1/invitations/{new}/accept", json={"password": PASSWORD}).status_code == 202


def test_sending_again_ends_the_old_link(client: TestClient, org: str, db: Database, smtp: Mailbox) -> None:
    old = invited(client, smtp)
    (listed,) = client.get(f"/v1/orgs/{KVK}/invitations").json()["invitations"]
    assert client.post(f"/v1/orgs/{KVK}/invitations/{listed['id']}/resend", json={}).status_code == 200
    new = link_token(delivered(client, smtp, BERT)[-1], "uitnodiging")
    as_anyone(client)
    before = footprint(db)
    assert client.post(f"/v1/invitations/{old}/accept", json={"password": PASSWORD}).status_code == 410
    assert footprint(db) == before
    assert client.get(f"/v1/invitations/{new}").status_code == 200


def test_a_withdrawn_invitation_accepts_nothing(client: TestClient, org: str, db: Database, smtp: Mailbox) -> None:
    token = invited(client, smtp)
    (listed,) = client.get(f"/v1/orgs/{KVK}/invitations").json()["invitations"]
    r = client.delete(f"/v1/orgs/{KVK}/invitations/{listed['id']}")
    assert (r.status_code, r.json()["status"]) == (200, "withdrawn")
    assert client.get(f"/v1/orgs/{KVK}/invitations").json() == {"invitations": []}
    again = client.delete(f"/v1/orgs/{KVK}/invitations/{listed['id']}")
    assert (again.status_code, error_of(again)) == (409, "invitation_withdrawn")
    resend = client.post(f"/v1/orgs/{KVK}/invitations/{listed['id']}/resend", json={})
    assert (resend.status_code, error_of(resend)) == (409, "invitation_withdrawn")
    as_anyone(client)
    before = footprint(db)
    r = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert (r.status_code, error_of(r)) == (409, "invitation_withdrawn")
    assert footprint(db) == before
    # withdrawn, the address may be invited anew
    login(client, ANNA)
    assert invite(client, BERT).status_code == 201


def test_another_organisations_invitation_is_out_of_reach(client: TestClient, org: str, db: Database,
                                                          smtp: Mailbox) -> None:
    invited(client, smtp)
    (listed,) = client.get(f"/v1/orgs/{KVK}/invitations").json()["invitations"]
    login(client, "baas@garage-oost.nl")
    before = footprint(db)
    assert client.delete(f"/v1/orgs/{OTHER}/invitations/{listed['id']}").status_code == 404
    assert client.post(f"/v1/orgs/{OTHER}/invitations/{listed['id']}/resend", json={}).status_code == 404
    assert client.delete(f"/v1/orgs/{KVK}/invitations/{listed['id']}").status_code == 403
    assert client.delete(f"/v1/orgs/{OTHER}/invitations/x1").status_code == 404
    assert footprint(db) == before


def test_tokens_of_another_purpose_or_tampered_accept_nothing(client: TestClient, org: str, world: World,
                                                              db: Database, smtp: Mailbox) -> None:
    token = invited(client, smtp)
    as_anyone(client)
    world.account("carla@korenschoof.nl", KVK)
    assert client.post("/v1/password-resets", json={"email": "carla@korenschoof.nl"}).status_code == 202
    reset = link_token(delivered(client, smtp, "carla@korenschoof.nl")[0], "wachtwoord-herstellen")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    before = footprint(db)
    for bad in (reset, tampered, "kort", "x" * 200):
        r = client.post(f"/v1/invitations/{bad}/accept", json={"password": PASSWORD})
        assert (r.status_code, error_of(r)) == (404, "invalid_token"), bad
        assert client.get(f"/v1/invitations/{bad}").status_code == 404
    # and the invitation's token is no activation link
    r = client.post(f"/v1/activations/{token}", json={})
    assert (r.status_code, error_of(r)) == (404, "invalid_token")
    assert footprint(db) == before


@pytest.mark.parametrize("body", [{"password": "kort"}, {}, {"password": PASSWORD, "email": "x@y.nl"}])
def test_bad_acceptance_input_changes_nothing(client: TestClient, org: str, db: Database, smtp: Mailbox,
                                              body: dict[str, Any]) -> None:
    token = invited(client, smtp)
    as_anyone(client)
    before = footprint(db)
    assert client.post(f"/v1/invitations/{token}/accept", json=body).status_code == 422
    assert footprint(db) == before
    assert client.get(f"/v1/invitations/{token}").status_code == 200


def test_an_invitee_who_registered_meanwhile_is_refused(client: TestClient, org: str, db: Database,
                                                        smtp: Mailbox) -> None:
    token = invited(client, smtp)
    as_anyone(client)
    assert client.post("/v1/registrations", json={"email": BERT, "password": PASSWORD, "kvk": KVK}).status_code == 202
    before = footprint(db)
    r = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert (r.status_code, error_of(r)) == (409, "already_registered")
    assert footprint(db) == before
    with db.read() as s:
        assert s.scalar(sa.select(Invitation.status)) == "open"
        assert s.scalar(sa.select(sa.func.count()).select_from(AccountRequest)) == 1


@pytest.mark.parametrize("setup", ["account", "request", "invitation"])
def test_an_address_of_another_organisation_gets_one_neutral_answer(client: TestClient, org: str, world: World,
                                                                     db: Database, smtp: Mailbox, setup: str) -> None:
    """A beheerder must not learn whether another organisation has an account, a request or an invitation for an
    address: all three get the same 409 ``email_unavailable`` (own-organisation cases keep their own codes)."""
    email = "piet@garage-oost.nl"
    if setup == "account":
        world.account(email, OTHER)
    elif setup == "request":
        r = client.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": OTHER})
        assert r.status_code == 202, r.text
    else:
        login(client, "baas@garage-oost.nl")
        assert invite(client, email, OTHER).status_code == 201
    login(client, ANNA)
    before = footprint(db)
    r = invite(client, email.upper())
    assert r.status_code == 409
    assert r.json() == {"error": {"code": "email_unavailable", "message": "This address cannot be invited."}}
    assert footprint(db) == before


def test_long_organisation_names_and_addresses_fit_the_subject_column(client: TestClient, world: World,
                                                                      db: Database) -> None:
    """A 200-character organisation name and a long address made a subject over Outbox.subject's 300 characters,
    which PostgreSQL refused (a 500 for the acceptance and the registration); subjects are cut with an ellipsis."""
    long_org = "22223333"
    world.org(long_org, "N" * 200)
    world.beheerder("baas@lang.nl", long_org)
    login(client, "baas@lang.nl")
    invitee = "x" * 60 + "@lang.nl"
    assert invite(client, invitee, long_org).status_code == 201
    with db.read() as s:
        body = s.scalars(sa.select(Outbox.body_text).where(Outbox.to_addr == invitee)).one()
    token = re.findall(r"/uitnodiging/([A-Za-z0-9_-]+)", body)[0]
    as_anyone(client)
    r = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert r.status_code == 202, r.text
    r = client.post("/v1/registrations", json={"email": "y" * 64 + "@lang.nl", "password": PASSWORD, "kvk": long_org})
    assert r.status_code == 202, r.text
    with db.read() as s:
        subjects = list(s.scalars(sa.select(Outbox.subject).where(Outbox.to_addr == "baas@lang.nl")))
    assert len(subjects) == 2 and all(len(x) == 300 and x.endswith("…") for x in subjects), subjects
