"""Passwords through the HTTP API: a user changes its own (old one required; its other sessions end), and resets a
forgotten one with the link from the e-mail the SMTP server received (1 hour, single use; every session ends)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.config import Settings
from authz.store import accounts, tokens
from authz.store.db import Database
from authz.store.schema import Account, Audit
from tests.conftest import delivered, link_token
from tests.factories import PASSWORD, World
from tests.mailbox import Mailbox, error_of, footprint, subject_of, text_of

KVK = "11111111"
ALICE = "alice@korenschoof.nl"
NEW = "een heel nieuw wachtwoord"


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp.url)


@pytest.fixture
def alice(world: World) -> str:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder("anna@korenschoof.nl", KVK)
    return world.account(ALICE, KVK, name="Alice Jansen")


def log_in(client: TestClient, password: str = PASSWORD, email: str = ALICE) -> Any:
    client.cookies.clear()
    return client.post("/v1/session", json={"email": email, "password": password})


def sessions(client: TestClient, n: int) -> list[str]:
    """``n`` sessions of Alice, logged in through the API; the client is left with none."""
    out = []
    for _ in range(n):
        assert log_in(client).status_code == 200
        out.append(client.cookies["authz_session"])
    client.cookies.clear()
    return out


def alive(client: TestClient, cookie: str) -> bool:
    r = client.get("/v1/session", headers={"Cookie": f"authz_session={cookie}"})
    assert r.status_code in (200, 401)
    return r.status_code == 200


def password_hash(db: Database) -> str:
    with db.read() as s:
        return str(s.scalar(sa.select(Account.password_hash).where(Account.email == ALICE)))


def test_changing_the_password_ends_the_other_sessions(client: TestClient, alice: str, db: Database,
                                                       smtp: Mailbox) -> None:
    other, mine = sessions(client, 2)
    client.cookies.set("authz_session", mine)
    r = client.post("/v1/session/password", json={"old_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 204, r.text
    client.cookies.clear()
    assert alive(client, mine) and not alive(client, other)
    assert log_in(client).status_code == 401
    assert log_in(client, NEW).status_code == 200
    (msg,) = delivered(client, smtp, ALICE)
    assert subject_of(msg) == ("Het wachtwoord van uw account bij Bakkerij De Korenschoof op Mijn Gegevensdiensten "
                               "is gewijzigd")
    assert NEW not in text_of(msg) and PASSWORD not in text_of(msg)
    with db.read() as s:
        entry = s.scalars(sa.select(Audit).where(Audit.action == "account.password_change")).one()
        assert entry.actor == ALICE and "$argon2" not in str(entry.after)


@pytest.mark.parametrize("body,status,code", [
    ({"old_password": "niet het wachtwoord", "new_password": NEW}, 403, "wrong_password"),
    ({"old_password": PASSWORD, "new_password": "kort"}, 422, "weak_password"),
    ({"old_password": PASSWORD, "new_password": PASSWORD}, 422, "same_password"),
    ({"new_password": NEW}, 422, "missing_field"),
    ({"old_password": PASSWORD, "new_password": NEW, "extra": 1}, 422, "unknown_field"),
])
def test_a_refused_change_changes_nothing(client: TestClient, alice: str, db: Database, body: dict[str, Any],
                                          status: int, code: str) -> None:
    (mine,) = sessions(client, 1)
    client.cookies.set("authz_session", mine)
    before, hashed = footprint(db), password_hash(db)
    r = client.post("/v1/session/password", json=body)
    assert (r.status_code, error_of(r)) == (status, code)
    assert (footprint(db), password_hash(db)) == (before, hashed)
    assert alive(client, mine)


def test_changing_needs_a_session(client: TestClient, alice: str, db: Database) -> None:
    before = footprint(db)
    r = client.post("/v1/session/password", json={"old_password": PASSWORD, "new_password": NEW})
    assert (r.status_code, error_of(r)) == (401, "not_logged_in")
    assert footprint(db) == before


def test_reset_by_link_sets_the_password_once_and_ends_every_session(client: TestClient, alice: str, db: Database,
                                                                     smtp: Mailbox, settings: Settings) -> None:
    (old_session,) = sessions(client, 1)
    r = client.post("/v1/password-resets", json={"email": "Alice@Korenschoof.nl"})
    assert (r.status_code, r.json()) == (202, {"status": "accepted"})
    (msg,) = delivered(client, smtp, ALICE)
    assert subject_of(msg) == "Wachtwoord herstellen voor Mijn Gegevensdiensten"
    assert "60 minuten geldig" in text_of(msg)
    token = link_token(msg, "wachtwoord-herstellen")
    assert f"{settings.base_url}/wachtwoord-herstellen/{token}" in text_of(msg)

    assert client.post(f"/v1/password-resets/{token}", json={"password": NEW}).status_code == 204
    assert not alive(client, old_session)
    assert log_in(client).status_code == 401
    assert log_in(client, NEW).status_code == 200
    client.cookies.clear()
    before = footprint(db)
    again = client.post(f"/v1/password-resets/{token}", json={"password": "nog een ander wachtwoord"})
    assert (again.status_code, error_of(again)) == (409, "token_used")
    assert footprint(db) == before
    assert subject_of(delivered(client, smtp, ALICE)[-1]).startswith("Het wachtwoord van uw account")
    with db.read() as s:
        assert s.scalar(sa.select(Audit.actor).where(Audit.action == "account.password_reset")) == ALICE


def test_a_reset_link_lasts_one_hour(client: TestClient, alice: str, db: Database, smtp: Mailbox,
                                     clock: FrozenClock) -> None:
    client.post("/v1/password-resets", json={"email": ALICE})
    token = link_token(delivered(client, smtp, ALICE)[0], "wachtwoord-herstellen")
    clock.advance(minutes=60)
    before, hashed = footprint(db), password_hash(db)
    r = client.post(f"/v1/password-resets/{token}", json={"password": NEW})
    assert (r.status_code, error_of(r)) == (410, "token_expired")
    assert (footprint(db), password_hash(db)) == (before, hashed)


def test_a_new_reset_link_ends_the_earlier_one(client: TestClient, alice: str, smtp: Mailbox) -> None:
    client.post("/v1/password-resets", json={"email": ALICE})
    client.post("/v1/password-resets", json={"email": ALICE})
    first, second = (link_token(m, "wachtwoord-herstellen") for m in delivered(client, smtp, ALICE))
    assert client.post(f"/v1/password-resets/{first}", json={"password": NEW}).status_code == 410
    assert client.post(f"/v1/password-resets/{second}", json={"password": NEW}).status_code == 204


@pytest.mark.parametrize("email", ["nobody@korenschoof.nl", "approved@korenschoof.nl", "inactive@korenschoof.nl",
                                   "geen adres"])
def test_unknown_or_inactive_addresses_get_the_same_answer_and_nothing(client: TestClient, alice: str, world: World,
                                                                       db: Database, smtp: Mailbox,
                                                                       email: str) -> None:
    world.account("approved@korenschoof.nl", KVK, status="approved")
    world.account("inactive@korenschoof.nl", KVK, status="inactive")
    before = footprint(db)
    r = client.post("/v1/password-resets", json={"email": email})
    assert (r.status_code, r.json()) == (202, {"status": "accepted"})
    assert footprint(db) == before
    assert delivered(client, smtp, email) == []


def test_reset_tokens_of_another_purpose_or_tampered_change_nothing(client: TestClient, alice: str, world: World,
                                                                    db: Database, smtp: Mailbox) -> None:
    client.post("/v1/password-resets", json={"email": ALICE})
    token = link_token(delivered(client, smtp, ALICE)[0], "wachtwoord-herstellen")
    world.account("approved@korenschoof.nl", KVK, status="approved")
    with db.tx("test") as t:  # an activation link of the same shape
        activation = tokens.issue(t, "activation", timedelta(days=1),
                                  account_id=accounts.get(t, "approved@korenschoof.nl").id)
    before, hashed = footprint(db), password_hash(db)
    for bad in (activation, token[:-2] + "xy", "kort"):
        r = client.post(f"/v1/password-resets/{bad}", json={"password": NEW})
        assert (r.status_code, error_of(r)) == (404, "invalid_token"), bad
    r = client.post(f"/v1/activations/{token}", json={})  # and the reset link activates nothing
    assert (r.status_code, error_of(r)) == (404, "invalid_token")
    assert (footprint(db), password_hash(db)) == (before, hashed)


def test_a_reset_for_an_account_deactivated_meanwhile_does_nothing(client: TestClient, alice: str, world: World,
                                                                   db: Database, smtp: Mailbox) -> None:
    client.post("/v1/password-resets", json={"email": ALICE})
    token = link_token(delivered(client, smtp, ALICE)[0], "wachtwoord-herstellen")
    world.set_status(ALICE, "inactive")
    before, hashed = footprint(db), password_hash(db)
    r = client.post(f"/v1/password-resets/{token}", json={"password": NEW})
    assert (r.status_code, error_of(r)) == (403, "account_not_active")
    assert (footprint(db), password_hash(db)) == (before, hashed)


# -- reset requests are throttled and take the same time (authz/service/passwords.py) ------------------------------

def test_reset_requests_beyond_the_limit_send_no_mail_and_answer_alike(client: TestClient, alice: str, db: Database,
                                                                      smtp: Mailbox, clock: FrozenClock) -> None:
    from authz.service.passwords import RESETS_PER_ADDRESS

    for _ in range(RESETS_PER_ADDRESS + 1):
        r = client.post("/v1/password-resets", json={"email": ALICE})
        assert (r.status_code, r.json()) == (202, {"status": "accepted"})
    assert len(delivered(client, smtp, ALICE)) == RESETS_PER_ADDRESS  # the 6th sent nothing
    smtp.messages.clear()
    clock.advance(minutes=16)  # the next window (15 minutes by default): mail again
    assert client.post("/v1/password-resets", json={"email": ALICE}).status_code == 202
    assert len(delivered(client, smtp, ALICE)) == 1


def test_reset_requests_are_limited_per_client_address(settings: Settings, clock: FrozenClock, alice: str,
                                                       smtp: Mailbox) -> None:
    from authz.app import create_app

    limited = dataclasses.replace(settings, login_failures_per_address=3)
    with TestClient(create_app(limited, clock)) as c:
        for i in range(3):
            assert c.post("/v1/password-resets", json={"email": f"n{i}@korenschoof.nl"}).status_code == 202
        r = c.post("/v1/password-resets", json={"email": ALICE})
        assert r.status_code == 429 and error_of(r) == "too_many_requests" and int(r.headers["Retry-After"]) > 0
        assert delivered(c, smtp, ALICE) == []


def test_a_reset_request_takes_the_floor_time_for_unknown_addresses_too(client: TestClient, alice: str) -> None:
    import time

    from authz.service.passwords import RESET_ANSWER_FLOOR

    for email in ("nobody@korenschoof.nl", "geen adres", ALICE):
        began = time.monotonic()
        assert client.post("/v1/password-resets", json={"email": email}).status_code == 202
        assert time.monotonic() - began >= RESET_ANSWER_FLOOR


def test_a_hash_with_old_parameters_is_upgraded_at_log_in(client: TestClient, alice: str, db: Database,
                                                          smtp: Mailbox) -> None:
    """argon2's parameters can be raised: a hash made with weaker ones is replaced by one made with today's at the
    next log-in (the only moment the password is at hand). The password stays the same and nobody is mailed."""
    from argon2 import PasswordHasher

    from authz import passwords

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with db.tx("test") as t:
        t.s.execute(sa.update(Account).where(Account.email == ALICE).values(password_hash=weak))
    assert passwords.needs_rehash(weak)
    assert log_in(client).status_code == 200
    upgraded = password_hash(db)
    assert upgraded != weak and not passwords.needs_rehash(upgraded) and passwords.verify(upgraded, PASSWORD)
    with db.read() as s:
        entry = s.scalars(sa.select(Audit).where(Audit.action == "account.password_rehash")).one()
        assert entry.actor == ALICE and "$argon2" not in str(entry.after)
    assert log_in(client).status_code == 200 and password_hash(db) == upgraded  # once only
    client.cookies.clear()
    assert delivered(client, smtp, ALICE) == []
