"""Tenant isolation, generated from the route table: every JSON operation of the app × every role that has no
business with the victim organisation's data gets 401, 403 or 404 and changes nothing of it (R2, SPEC §4).

The operations are walked from :func:`authz.app.all_routes`, so a route is covered the day it is added. Its path
parameters are filled with the victim's KvK number, users, products and record ids by *name* (``VICTIM``); a
parameter name nobody has mapped fails the test instead of being skipped, and so does a required body field
(``BODY``). The body sent is a well-formed one, built from the operation's declared shape and checked against its
JSON Schema, so a refusal is about who asks and not about what was sent. The victim is an afnemer with a beheerder, a
user and an intermediair acting for it; the roles that attack it:

- the service client (API key, no session) on every session operation;
- the beheerder of an unrelated organisation, the beheerder of an intermediair without a mandate from the victim,
  and a gebruiker (no beheerder) of the victim organisation itself, on every operation;
- the operator on every operation of an organisation (``/v1/orgs/{kvk}/…``) but those it may do too
  (``OPERATOR_MAY``): the operator is no beheerder;
- the beheerder of the intermediair that holds a mandate from the victim, on every operation of the victim
  organisation (``/v1/orgs/{victim}/…``): R15 lets it tick the afnemer's products for its *own* users, through its
  own organisation's paths (``/v1/orgs/{intermediair}/users/{email}/grants``, ``…/clients``), and gives it nothing
  under the afnemer's (``MANDATED_MAY`` is empty, on purpose).

The portal's routes are walked the same way, from :func:`admin_ui.routes`: every route with an organisation, an
account or one of an organisation's records in its path (``{kvk}``, ``{email}``, ``{id}``, ``{intermediair}``), by
GET and by POST with a valid CSRF token and a well-formed form, × the beheerder of a foreign organisation, the
beheerder of an intermediair without a mandate and the mandated intermediair's beheerder. Each gets the 403 or 404
page, or is sent back with the refusal as a message (a form's answer), sees nothing of the victim and changes
nothing.

Public operations (no authentication) are not about a tenant, and the key operations are the service clients' own,
so for those the session roles alone are refused. An operation about the caller itself (``/v1/session…``) may
answer, but about the caller only: the victim's data stays out of the answer and unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from starlette.routing import Route
from starlette.testclient import TestClient

import admin_ui
from admin_ui import operator as operator_ui
from authz.api.openapi import Operation
from authz.app import all_routes
from authz.cache.throttle import make_throttle
from authz.config import Settings
from authz.service import accounts as account_service
from authz.service import members
from authz.store.db import Database
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.test_admin_grants import (
    AFNEMER,
    ALICE,
    BEHEERDER,
    BOB,
    GARAGE,
    INTERMEDIAIR,
    OTHER,
    TUSSEN,
    build,
    state_of,
)
from tests.ui.helpers import csrf_of

OPERATOR = "operator@gegevensdiensten.nl"
ELSEWHERE = "44444444"  # an intermediair, but for OTHER only: no mandate from the victim
LOOSE = "beheerder@loonkantoor-west.nl"
APPLICANT = "dora@korenschoof.nl"  # an open account request of the victim
INVITEE = "erik@korenschoof.nl"  # an open invitation of the victim
VICTIM_DOMAIN = "korenschoof"


@dataclass(frozen=True)
class Victim:
    request_id: int
    invitation_id: int
    mail_id: int


def operations() -> list[Operation]:
    return [r for r in all_routes() if isinstance(r, Operation)]


def path_names(op: Operation) -> list[str]:
    return re.findall(r"{(\w+)(?::\w+)?}", op.path)


def kind(op: Operation) -> str:
    """public, key (the service clients' own), tenant (/v1/orgs/{kvk}/…), operator or self (about the caller)."""
    if op.auth == "none":
        return "public"
    if op.auth == "key":
        return "key"
    if op.path.startswith("/v1/orgs/{kvk}"):
        return "tenant"
    if op.path.startswith("/v1/operator/"):
        return "operator"
    if op.path.startswith("/v1/session"):
        return "self"
    raise AssertionError(f"{op.method.upper()} {op.path}: a session operation of no known kind; say here whose "
                         "data it touches, so that tenant isolation can be tested for it")


# The victim's value for each path parameter, by name. An ``id`` depends on the collection it names.
def _id(path: str, victim: Victim) -> str:
    collection = re.search(r"/(\w+)/{id}", path)
    assert collection, path
    ids = {"requests": victim.request_id, "invitations": victim.invitation_id, "mail": victim.mail_id}
    assert collection.group(1) in ids, f"{path}: no victim record for the collection {collection.group(1)!r}"
    return str(ids[collection.group(1)])


VICTIM: dict[str, Callable[[str, Victim], str]] = {
    "kvk": lambda path, v: AFNEMER,
    "email": lambda path, v: ALICE,
    "code": lambda path, v: "verzuim",
    "afnemer_kvk": lambda path, v: AFNEMER,
    "intermediair_kvk": lambda path, v: INTERMEDIAIR,
    "id": _id,
    "token": lambda path, v: "x" * 43,  # a link token nobody but its e-mail's recipient has
}
# A well-formed value for each body field that an operation may require, aimed at the victim where it names one.
BODY: dict[str, Any] = {
    "afnemer": AFNEMER, "products": ["verzuim"], "email": ALICE, "user": ALICE, "product": "verzuim",
    "password": "een lang en sterk wachtwoord 2026", "old_password": "not the password at all",
    "new_password": "een lang en sterk wachtwoord 2026", "kvk": AFNEMER, "name": "Bakkerij De Korenschoof",
    "code": "verzuim", "checks": [{"user": ALICE, "product": "verzuim"}],
    "subject": {"type": "user", "id": ALICE}, "resource": {"type": "product", "id": "verzuim"},
    "action": {"name": "view"}, "otp": "123456",
}
# Query parameters worth sending: the victim as the afnemer asked about.
QUERY = {"afnemer": AFNEMER}


def fill(op: Operation, victim: Victim) -> str:
    path = op.path
    for name in path_names(op):
        if name not in VICTIM:
            pytest.fail(f"{op.method.upper()} {op.path}: no victim value for the path parameter {name!r}; add it to "
                        "VICTIM in tests/test_tenant_isolation.py")
        path = re.sub(rf"{{{name}(?::\w+)?}}", VICTIM[name](op.path, victim), path)
    return path


def body_of(op: Operation) -> dict[str, Any] | None:
    if op.body is None:
        return None
    missing = sorted(op.body.required - set(BODY))
    if missing:
        pytest.fail(f"{op.method.upper()} {op.path}: no value for the required body field(s) {missing}; add them to "
                    "BODY in tests/test_tenant_isolation.py")
    body = {name: BODY[name] for name in op.body.fields if name in op.body.required}
    validator = Draft202012Validator(op.body.json_schema())
    if not validator.is_valid(body):  # required together, not each (AuthZEN's evaluations: the entities or items)
        body = {name: BODY[name] for name in op.body.fields if name in BODY}
    validator.validate(body)  # well-formed: the refusal is about who asks
    return body


def query_of(op: Operation) -> dict[str, str]:
    return {k: v for k, v in QUERY.items() if op.query is not None and k in op.query.fields}


# -- the world -------------------------------------------------------------------------------------------------

def victim_world(world: World, db: Database, settings: Settings) -> Victim:
    build(world)
    world.beheerder("tweede@korenschoof.nl", AFNEMER)  # so that A itself could remove BEHEERDER
    world.org(ELSEWHERE, "Loonkantoor West")
    world.mandate(OTHER, ELSEWHERE, None)
    world.beheerder(LOOSE, ELSEWHERE)
    world.operator(OPERATOR)
    account_service.register(db, settings, account_service.Registration(APPLICANT, PASSWORD, AFNEMER),
                             make_throttle(settings, db), "10.0.0.1")
    invitation = members.invite(db, settings, BEHEERDER, AFNEMER, INVITEE).answer
    with db.engine.connect() as c:
        request_id = c.execute(sa.text("SELECT id FROM account_requests WHERE email = :e"),
                               {"e": APPLICANT}).scalar_one()
        mail_id = c.execute(sa.text("SELECT max(id) FROM outbox WHERE to_addr = :e"), {"e": INVITEE}).scalar_one()
    return Victim(int(request_id), int(invitation["id"]), int(mail_id))


_VICTIM_ROWS = {
    "organisations": "SELECT * FROM organisations WHERE kvk = :kvk",
    "contracts": "SELECT * FROM contracts WHERE afnemer = :kvk",
    "mandates": "SELECT * FROM mandates WHERE afnemer = :kvk OR intermediair = :kvk",
    "accounts": "SELECT * FROM accounts WHERE org = :kvk",
    "roles": "SELECT r.* FROM roles r JOIN accounts a ON a.id = r.account_id WHERE a.org = :kvk",
    "grants": "SELECT g.* FROM grants g JOIN accounts a ON a.id = g.account_id WHERE a.org = :kvk OR g.afnemer = :kvk",
    "tokens": "SELECT t.* FROM tokens t LEFT JOIN accounts a ON a.id = t.account_id WHERE a.org = :kvk OR t.kvk = :kvk",
    "account_requests": "SELECT * FROM account_requests WHERE kvk = :kvk",
    "invitations": "SELECT * FROM invitations WHERE kvk = :kvk",
    "outbox": "SELECT id, to_addr, subject, status FROM outbox WHERE to_addr LIKE :domain",
    "audit": "SELECT id FROM audit WHERE on_behalf_of = :kvk OR subject LIKE :domain",
    "casbin_rule": "SELECT * FROM casbin_rule WHERE v0 = :kvk OR v1 = :kvk OR v2 = :kvk OR v0 LIKE :domain "
                   "OR v1 LIKE :domain",
}


def victim_state(db: Database) -> dict[str, Any]:
    """Every row of the victim's data, as it is (not only counted)."""
    params = {"kvk": AFNEMER, "domain": f"%@{VICTIM_DOMAIN}.nl"}
    with db.engine.connect() as c:
        return {table: sorted(tuple(map(str, row)) for row in c.execute(sa.text(sql), params))
                for table, sql in _VICTIM_ROWS.items()}


# -- who attacks which kind of operation -----------------------------------------------------------------------

SERVICE_CLIENT = "service client"
OUTSIDERS = (GARAGE, LOOSE, ALICE)  # another organisation, an intermediair without a mandate, a gebruiker of A
ATTACKERS = {
    "public": (),
    "key": OUTSIDERS,
    "tenant": (SERVICE_CLIENT, *OUTSIDERS, TUSSEN, OPERATOR),
    "operator": (SERVICE_CLIENT, *OUTSIDERS, BEHEERDER, TUSSEN),
    "self": (SERVICE_CLIENT, GARAGE, LOOSE),
}
# The organisation operations that the operator may do as well (by the operation's own description): for these the
# operator is no attacker. Each entry is a decision about access, made on purpose.
# R18: the operator sees an organisation's accounts and beheerders, appoints and removes beheerders, deactivates and
# reactivates accounts (tests/test_operator_care.py proves it does them, within R4).
OPERATOR_MAY = {"userHistory", "listUsers", "getUser", "listBeheerders", "appointBeheerder", "removeBeheerder",
                "deactivateUser", "reactivateUser"}
# The victim organisation's operations that the beheerder of an intermediair holding a mandate from it may do (R15):
# none. What it does for the afnemer, it does under its own organisation's paths.
MANDATED_MAY: set[str] = set()
# Who may do a read-only operation of each kind: asked the same, it answers 200, so the refusals were about who asks.
OWNER = {"key": SERVICE_CLIENT, "tenant": BEHEERDER, "operator": OPERATOR}


def send(client: TestClient, who: str, key: str, op: Operation, path: str) -> Any:
    client.cookies.clear()
    headers = {}
    if who == SERVICE_CLIENT:
        headers["Authorization"] = f"Bearer {key}"
    else:
        login(client, who)
    body = body_of(op)
    return client.request(op.method.upper(), path, params=query_of(op), headers=headers,
                          **({"json": body} if body is not None else {}))


OPS = operations()


@pytest.mark.parametrize("op", OPS, ids=[f"{o.method.upper()} {o.path}" for o in OPS])
def test_no_role_reaches_another_organisations_data(client: TestClient, world: World, db: Database,
                                                    settings: Settings, service_key: str, op: Operation) -> None:
    victim = victim_world(world, db, settings)
    sync(client)
    path = fill(op, victim)
    before, counts = victim_state(db), state_of(db)
    for who in ATTACKERS[kind(op)]:
        if (who == OPERATOR and op.operation_id in OPERATOR_MAY) or (who == TUSSEN and op.operation_id in MANDATED_MAY):
            continue
        r = send(client, who, service_key, op, path)
        if kind(op) == "self":  # about the caller: an answer, but without the victim's data
            assert r.status_code < 500, (who, r.text)
        else:
            assert r.status_code in (401, 403, 404), (who, r.status_code, r.text)
        assert "alice" not in r.text and VICTIM_DOMAIN not in r.text, (who, r.text)
        assert victim_state(db) == before, who
        if kind(op) != "self":
            assert state_of(db) == counts, who  # nothing changed at all, revision included
    if op.method == "get" and kind(op) in OWNER:
        r = send(client, OWNER[kind(op)], service_key, op, path)
        assert r.status_code == 200, r.text


def test_every_operation_is_of_a_known_kind_and_attacked() -> None:
    kinds = {f"{o.method.upper()} {o.path}": kind(o) for o in OPS}
    assert all(ATTACKERS[k] or k == "public" for k in kinds.values())
    # the public operations are exactly those that need no authentication: none of them is about a tenant
    assert sorted(p for p, k in kinds.items() if k == "public") == sorted(
        f"{o.method.upper()} {o.path}" for o in OPS if o.auth == "none")


# -- what the generated test does not say ---------------------------------------------------------------------------

def test_a_users_of_another_org_cannot_be_reached_through_the_own_org(client: TestClient, world: World,
                                                                      db: Database) -> None:
    build(world)
    world.mandate(OTHER, AFNEMER, None)  # even with a mandate between them
    login(client, GARAGE)
    before = state_of(db)
    own = OTHER
    for method, path, body in [
        ("GET", f"/v1/orgs/{own}/users/{ALICE}/grants", None),
        ("PUT", f"/v1/orgs/{own}/users/{ALICE}/grants", {"afnemer": OTHER, "products": ["loonaangifte"]}),
        ("PUT", f"/v1/orgs/{own}/beheerders/{ALICE}", {}),
        ("DELETE", f"/v1/orgs/{own}/beheerders/{BEHEERDER}", None),
    ]:
        r = client.request(method, path, **({"json": body} if body is not None else {}))
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "unknown_account"
    assert ALICE not in client.get(f"/v1/orgs/{own}/users", params={"q": "alice"}).text
    assert state_of(db) == before


def test_the_afnemers_beheerder_cannot_edit_the_intermediairs_users(client: TestClient, world: World,
                                                                    db: Database) -> None:
    build(world)
    world.grant(BOB, AFNEMER, ["polisadministratie"])
    login(client, BEHEERDER)
    before = state_of(db)
    # Bob sees the afnemer's product, but only his own organisation's beheerder changes his grants (R2)
    assert client.get(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants").status_code == 403
    r = client.put(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants", json={"afnemer": AFNEMER, "products": []})
    assert r.status_code == 403
    r = client.put(f"/v1/orgs/{AFNEMER}/users/{BOB}/grants", json={"afnemer": AFNEMER, "products": []})
    assert r.status_code == 404
    assert state_of(db) == before


def test_an_afnemer_cannot_be_ticked_without_a_mandate(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, GARAGE)
    world.account("gert@garage-oost.nl", OTHER)
    before = state_of(db)
    r = client.put(f"/v1/orgs/{OTHER}/users/gert@garage-oost.nl/grants",
                   json={"afnemer": AFNEMER, "products": ["verzuim"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "afnemer_not_selectable"
    assert state_of(db) == before


def test_the_mandated_intermediair_does_its_work_under_its_own_paths(client: TestClient, world: World,
                                                                    db: Database, settings: Settings) -> None:
    """The other side of MANDATED_MAY: R15's work is allowed where it belongs, so the refusals above are about the
    path, not a beheerder who can do nothing."""
    victim_world(world, db, settings)
    sync(client)
    login(client, TUSSEN)
    r = client.get(f"/v1/orgs/{INTERMEDIAIR}/clients")
    assert r.status_code == 200 and AFNEMER in r.text, r.text
    r = client.put(f"/v1/orgs/{INTERMEDIAIR}/users/{BOB}/grants",
                   json={"afnemer": AFNEMER, "products": ["polisadministratie"]})
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{BOB}/grants").status_code in (403, 404)


# -- the portal ------------------------------------------------------------------------------------------------------

PORTAL_ATTACKERS = (GARAGE, LOOSE, TUSSEN)  # a foreign beheerder, an intermediair without and one with a mandate
TARGETS = ("kvk", "email", "id", "intermediair")  # what names an organisation, an account or an organisation's record
STEPS = sorted(operator_ui._CHANGES)  # the operator's changes of an account, /…/accounts/{email}/{step}
# A well-formed form for every portal POST, aimed at the victim where a field names one.
FORM = {"afnemer": AFNEMER, "product": "verzuim", "email": ALICE, "kvk": AFNEMER, "intermediair": INTERMEDIAIR,
        "name": "Bakkerij De Korenschoof", "code": "verzuim", "reason": "nee", "version": "0",
        "valid_from": "2026-01-01", "domains": "korenschoof.nl", "url": "https://korenschoof.nl"}


@dataclass(frozen=True)
class Page:
    method: str
    path: str  # as in the route table

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def portal_pages() -> list[Page]:
    out = []
    for r in admin_ui.routes():
        if isinstance(r, Route) and set(re.findall(r"{(\w+)}", r.path)) & set(TARGETS):
            out += [Page(m, r.path) for m in sorted((r.methods or set()) - {"HEAD"})]
    return out


def portal_paths(page: Page, victim: Victim) -> list[str]:
    values = {"kvk": [AFNEMER], "email": [ALICE], "intermediair": [INTERMEDIAIR], "code": ["verzuim"],
              "step": STEPS}
    if "{id}" in page.path:
        collection = "requests" if "aanvragen" in page.path else "invitations" if "uitnodigen" in page.path else \
            "mail" if "e-mails" in page.path else None
        assert collection, f"{page}: no victim record for this {{id}}; say in tests/test_tenant_isolation.py whose"
        values["id"] = [_id(f"/{collection}/{{id}}", victim)]
    paths = [page.path]
    for name in re.findall(r"{(\w+)}", page.path):
        if name not in values:
            pytest.fail(f"{page}: no victim value for {name!r}; add it to portal_paths")
        paths = [p.replace(f"{{{name}}}", v) for p in paths for v in values[name]]
    return paths


PAGES = portal_pages()


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_no_beheerder_reaches_another_organisations_data_through_the_portal(
        client: TestClient, world: World, db: Database, settings: Settings, page: Page) -> None:
    victim = victim_world(world, db, settings)
    sync(client)
    before, counts = victim_state(db), state_of(db)
    for who in PORTAL_ATTACKERS:
        client.cookies.clear()
        login(client, who)
        token = csrf_of(client.get("/account").text)
        for path in portal_paths(page, victim):
            if page.method == "GET":
                r = client.get(path, follow_redirects=False)
            else:
                r = client.post(path, data={**FORM, "csrf": token}, follow_redirects=False)
            refused = r.status_code in (403, 404) or (
                r.status_code == 303 and page.method == "POST" and _sent_back_with_an_error(client, r))
            assert refused, (who, path, r.status_code, r.headers.get("location"), r.text[:2000])
            assert "alice" not in r.text and "Korenschoof" not in r.text, (who, path, r.text)
            assert victim_state(db) == before, (who, path)
            assert state_of(db) == counts, (who, path)


def _sent_back_with_an_error(client: TestClient, r: Any) -> bool:
    """A form's refusal: a redirect to a page of the attacker's own whose message is the refusal."""
    location = r.headers["location"]
    assert location.startswith("/") and not location.startswith("//"), location
    shown = client.get(location, follow_redirects=False)
    return 'class="notice notice--error"' in shown.text


def test_the_portal_walk_finds_the_routes_of_an_organisation() -> None:
    found = {str(p) for p in PAGES}
    assert len(PAGES) > 20
    for page in ("GET /toegangsrechten/{email}", "POST /toegangsrechten/{email}", "POST /aanvragen/{id}/goedkeuren",
                 "POST /uitnodigen/{id}/opnieuw", "GET /operator/organisaties/{kvk}",
                 "POST /operator/organisaties/{kvk}/accounts/{email}/{step}", "POST /operator/e-mails/{id}/opnieuw"):
        assert page in found, page
