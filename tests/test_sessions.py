"""Log-in, the session cookie, log-out, and the operator command; through the HTTP API and the CLI."""

from __future__ import annotations

import dataclasses
import io
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz import cli
from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.store.db import Database
from authz.store.schema import Account, Audit, Role
from authz.store.schema import Session as SessionRow
from tests.factories import PASSWORD, World
from tests.mailbox import count, error_of

KVK = "11111111"


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/v1/session", json={"email": email, "password": password})


def test_login_sets_an_httponly_lax_session_cookie(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder("anna@korenschoof.nl", KVK)
    r = log_in(client, "Anna@Korenschoof.nl")
    assert r.status_code == 200, r.text
    assert r.json() == {"email": "anna@korenschoof.nl", "org": KVK, "org_name": "Bakkerij De Korenschoof",
                        "roles": ["beheerder"], "status": "active"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("authz_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # base_url is http here
    assert count(db, SessionRow) == 1
    with db.engine.connect() as c:  # only a hash of the cookie is stored
        token = client.cookies["authz_session"]
        assert c.execute(sa.select(sa.func.count()).select_from(SessionRow)
                         .where(SessionRow.hash == token)).scalar_one() == 0
    me = client.get("/v1/session")
    assert me.status_code == 200
    assert me.json()["email"] == "anna@korenschoof.nl"


def test_cookie_is_secure_when_the_service_runs_on_https(settings: Settings, clock: FrozenClock, world: World,
                                                         service_key: str) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    https = dataclasses.replace(settings, base_url="https://mijn.gegevensdiensten.nl")
    with TestClient(create_app(https, clock), base_url="https://testserver") as c:
        r = log_in(c, "anna@korenschoof.nl")
        assert r.status_code == 200
        attributes = {part.strip().lower() for part in r.headers["set-cookie"].split(";")}
        assert {"secure", "httponly", "samesite=lax"} <= attributes


@pytest.mark.parametrize("who,password", [
    ("nobody@korenschoof.nl", PASSWORD),  # unknown account
    ("anna@korenschoof.nl", PASSWORD + "!"),  # wrong password
    ("anna@korenschoof.nl", "x"),  # wrong (short) password
    ("approved@korenschoof.nl", PASSWORD),  # approved, not yet activated
    ("inactive@korenschoof.nl", PASSWORD),  # deactivated
])
def test_every_failed_login_gets_the_same_401(client: TestClient, world: World, db: Database, who: str,
                                              password: str) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    world.account("approved@korenschoof.nl", KVK, status="approved")
    world.account("inactive@korenschoof.nl", KVK, status="inactive")
    r = log_in(client, who, password)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "invalid_credentials", "message": "The e-mail address or password is "
                                  "wrong, or the account is not active."}}
    assert "set-cookie" not in r.headers
    assert count(db, SessionRow) == 0


def test_logout_ends_the_session(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    assert log_in(client, "anna@korenschoof.nl").status_code == 200
    token = client.cookies["authz_session"]
    r = client.delete("/v1/session")
    assert r.status_code == 204
    assert 'authz_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert count(db, SessionRow) == 0
    client.cookies.set("authz_session", token)  # the old cookie is worth nothing now
    assert client.get("/v1/session").status_code == 401
    r = client.delete("/v1/session")
    assert (r.status_code, error_of(r)) == (401, "not_logged_in")


def test_logout_without_a_session_is_401(client: TestClient) -> None:
    r = client.delete("/v1/session")
    assert (r.status_code, error_of(r)) == (401, "not_logged_in")
    assert client.get("/v1/session").status_code == 401


def test_a_new_login_replaces_the_session_it_came_with(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    world.account("bert@korenschoof.nl", KVK)
    assert log_in(client, "anna@korenschoof.nl").status_code == 200
    assert log_in(client, "bert@korenschoof.nl").status_code == 200
    assert count(db, SessionRow) == 1
    assert client.get("/v1/session").json()["email"] == "bert@korenschoof.nl"


def test_a_deactivated_account_loses_its_session(client: TestClient, world: World) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    assert log_in(client, "anna@korenschoof.nl").status_code == 200
    world.set_status("anna@korenschoof.nl", "inactive")
    assert client.get("/v1/session").status_code == 401


@pytest.mark.parametrize("body,status", [
    ({"email": "anna@korenschoof.nl"}, 422),
    ({"email": "anna@korenschoof.nl", "password": PASSWORD, "remember": True}, 422),
    ({"email": "anna@korenschoof.nl", "password": 12}, 422),
    ({"email": 5, "password": PASSWORD}, 422),
])
def test_bad_login_input_is_refused(client: TestClient, world: World, db: Database, body: dict[str, Any],
                                    status: int) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    r = client.post("/v1/session", json=body)
    assert r.status_code == status
    assert count(db, SessionRow) == 0


def test_login_takes_only_json(client: TestClient, world: World, db: Database) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    r = client.post("/v1/session", data={"email": "anna@korenschoof.nl", "password": PASSWORD})
    assert (r.status_code, error_of(r)) == (415, "unsupported_media_type")
    assert count(db, SessionRow) == 0


# -- authz operator create ----------------------------------------------------------------------------------------

def run_cli(monkeypatch: pytest.MonkeyPatch, db_url: str, args: list[str], stdin: str) -> int:
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db_url)
    monkeypatch.setenv("AUTHZ_SECRET_KEY", "test-secret")
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(args)


def test_operator_create_makes_an_active_operator(monkeypatch: pytest.MonkeyPatch, db_url: str, db: Database,
                                                  client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(monkeypatch, db_url, ["operator", "create", "Op@Gegevensdiensten.nl", "--password-stdin"],
                   PASSWORD + "\n")
    assert code == 0
    assert "operator op@gegevensdiensten.nl created" in capsys.readouterr().out
    with db.read() as s:
        a = s.scalars(sa.select(Account).where(Account.email == "op@gegevensdiensten.nl")).one()
        assert (a.org, a.status) == (None, "active")
        assert list(s.scalars(sa.select(Role.role).where(Role.account_id == a.id))) == ["operator"]
        assert a.password_hash.startswith("$argon2id$")
        assert s.scalar(sa.select(Audit.actor).where(Audit.action == "account.create")) == "cli:operator-create"
    r = log_in(client, "op@gegevensdiensten.nl")
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["operator"] and r.json()["org"] is None
    assert client.get("/v1/operator/requests").json() == {"requests": []}


@pytest.mark.parametrize("args,stdin", [
    (["operator", "create", "op@gegevensdiensten.nl", "--password-stdin"], "kort\n"),
    (["operator", "create", "geen-adres", "--password-stdin"], PASSWORD + "\n"),
    (["operator", "create", "op@gegevensdiensten.nl"], PASSWORD + "\n"),  # the password only from stdin
])
def test_operator_create_refuses_bad_input(monkeypatch: pytest.MonkeyPatch, db_url: str, db: Database,
                                           args: list[str], stdin: str) -> None:
    before = count(db, Account)
    assert run_cli(monkeypatch, db_url, args, stdin) != 0
    assert count(db, Account) == before


def test_operator_create_twice_is_refused(monkeypatch: pytest.MonkeyPatch, db_url: str, db: Database,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = ["operator", "create", "op@gegevensdiensten.nl", "--password-stdin"]
    assert run_cli(monkeypatch, db_url, args, PASSWORD + "\n") == 0
    assert run_cli(monkeypatch, db_url, args, PASSWORD + "\n") == 1
    assert "account_exists" in capsys.readouterr().err
    assert count(db, Account) == 1
