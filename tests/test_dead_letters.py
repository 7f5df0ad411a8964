"""Dead letters: e-mails that exhausted their retries (or were refused for good) are visible to the operator and can
be retried, through the HTTP API with a real SMTP server; the retried e-mail arrives with its link intact."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.config import Settings
from authz.mail import deliver_due
from authz.store.db import Database
from authz.store.schema import Audit
from tests.conftest import delivered, link_token, login
from tests.factories import World
from tests.mailbox import Mailbox, error_of, footprint

KVK = "11111111"
OPERATOR = "operator@gegevensdiensten.nl"
GONE = "weg@korenschoof.nl"


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(refuse=frozenset({GONE})).start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, smtp: Mailbox) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp.url)


@pytest.fixture
def dead(client: TestClient, world: World, db: Database, settings: Settings) -> int:
    """An invitation e-mail the SMTP server refused for good; returns its outbox id."""
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder("anna@korenschoof.nl", KVK)
    world.operator(OPERATOR)
    login(client, "anna@korenschoof.nl")
    assert client.post(f"/v1/orgs/{KVK}/invitations", json={"email": GONE}).status_code == 201
    assert deliver_due(db, settings) == 0
    login(client, OPERATOR)
    (row,) = client.get("/v1/operator/mail?status=dead").json()["mails"]
    mail_id: int = row["id"]
    return mail_id


def test_the_operator_sees_dead_mail_and_retries_it(client: TestClient, dead: int, db: Database, smtp: Mailbox
                                                    ) -> None:
    r = client.get("/v1/operator/mail", params={"status": "dead"})
    assert r.status_code == 200, r.text
    (row,) = r.json()["mails"]
    assert (row["id"], row["to"], row["status"], row["attempts"]) == (dead, GONE, "dead", 1)
    assert row["subject"] == "Uitnodiging van Bakkerij De Korenschoof voor Mijn Gegevensdiensten"
    assert "550" in row["last_error"]
    assert set(row) == {"id", "to", "subject", "status", "attempts", "created_at", "last_error", "next_attempt_at"}

    r = client.post(f"/v1/operator/mail/{dead}/retry", json={})
    assert (r.status_code, r.json()) == (200, {"id": dead, "status": "pending"})
    assert client.get("/v1/operator/mail").json() == {"mails": [], "cursor": None}  # dead is the default
    assert [m["id"] for m in client.get("/v1/operator/mail?status=pending").json()["mails"]] == [dead]
    with db.read() as s:
        entry = s.scalars(sa.select(Audit).where(Audit.action == "mail.retry")).one()
        assert (entry.actor, entry.before["status"], entry.after["status"]) == (OPERATOR, "dead", "pending")

    smtp.refuse = frozenset()  # the mailbox exists now
    (msg,) = delivered(client, smtp, GONE)
    token = link_token(msg, "uitnodiging")
    client.cookies.clear()
    assert client.get(f"/v1/invitations/{token}").json()["email"] == GONE


def test_only_dead_mail_is_retried(client: TestClient, dead: int, db: Database) -> None:
    assert client.post(f"/v1/operator/mail/{dead}/retry", json={}).status_code == 200
    before = footprint(db)
    again = client.post(f"/v1/operator/mail/{dead}/retry", json={})
    assert (again.status_code, error_of(again)) == (409, "mail_not_dead")
    for bad in ("999999", "x"):
        r = client.post(f"/v1/operator/mail/{bad}/retry", json={})
        assert (r.status_code, error_of(r)) == (404, "unknown_mail")
    assert footprint(db) == before


def test_dead_mail_is_the_operators_business_only(client: TestClient, dead: int, db: Database) -> None:
    login(client, "anna@korenschoof.nl")
    before = footprint(db)
    assert client.get("/v1/operator/mail?status=dead").status_code == 403
    assert client.post(f"/v1/operator/mail/{dead}/retry", json={}).status_code == 403
    client.cookies.clear()
    assert client.get("/v1/operator/mail").status_code == 401
    assert footprint(db) == before


@pytest.mark.parametrize("query,code", [("status=lost", "invalid_status"), ("limit=0", "invalid_limit"),
                                        ("cursor=abc", "invalid_cursor"), ("to=x", "unknown_parameter")])
def test_bad_listing_queries_are_refused(client: TestClient, dead: int, query: str, code: str) -> None:
    r = client.get(f"/v1/operator/mail?{query}")
    assert (r.status_code, error_of(r)) == (422, code)


def test_dead_mail_pages_newest_first(client: TestClient, dead: int, world: World, db: Database,
                                      settings: Settings) -> None:
    with db.tx("test") as t:
        for i in range(2):
            t.mail(GONE, f"Onderwerp {i}", "tekst", "<p>html</p>")
    deliver_due(db, settings)
    first = client.get("/v1/operator/mail?limit=2").json()
    assert [m["subject"] for m in first["mails"]] == ["Onderwerp 1", "Onderwerp 0"]
    rest = client.get(f"/v1/operator/mail?limit=2&cursor={first['cursor']}").json()
    assert ([m["id"] for m in rest["mails"]], rest["cursor"]) == ([dead], None)
