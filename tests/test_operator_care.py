"""R18 through the JSON API: the operator sees an organisation's accounts and beheerders, appoints a beheerder (the
way out when the only one has left), deactivates and reactivates accounts and edits the organisation's name and
e-mail domains; R4 holds for the operator too; each act is audited as the operator's. Also R5's e-mails (every
operator, the applicant's receipt) and the approval with domains, and the PUT and DELETE of contracts and mandates
(SPEC §4: what the body leaves out is kept; DELETE ends at once)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.domain.window import ended, holds, well_formed
from authz.store.db import Database
from authz.store.schema import Audit
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.test_admin_grants import AFNEMER, ALICE, BEHEERDER, GARAGE, OTHER, build, mails, state_of

OPERATOR = "operator@gegevensdiensten.nl"
SECOND_OPERATOR = "tweede@gegevensdiensten.nl"


def as_operator(client: TestClient, world: World) -> TestClient:
    world.operator(OPERATOR)
    return login(client, OPERATOR)


def audit_rows(db: Database, action: str) -> list[Any]:
    with db.engine.connect() as c:
        return list(c.execute(sa.select(Audit).where(Audit.action == action).order_by(Audit.id)).all())


def check(client: TestClient, key: str, user: str, product: str = "polisadministratie") -> dict[str, Any]:
    r = client.post("/v1/check", json={"user": user, "product": product}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# -- accounts and beheerders ------------------------------------------------------------------------------------

def test_the_operator_sees_an_organisations_accounts_and_beheerders(client: TestClient, world: World) -> None:
    build(world)
    as_operator(client, world)
    r = client.get(f"/v1/orgs/{AFNEMER}/users")
    assert r.status_code == 200, r.text
    assert {u["email"]: u["roles"] for u in r.json()["users"]} == {ALICE: [], BEHEERDER: ["beheerder"]}
    r = client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}")
    assert r.status_code == 200, r.text
    assert r.json() == {"email": ALICE, "name": "Alice Bakker", "status": "active", "roles": [], "lapsed": False}
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{GARAGE}").status_code == 404  # another organisation's account
    assert [b["email"] for b in client.get(f"/v1/orgs/{AFNEMER}/beheerders").json()["beheerders"]] == [BEHEERDER]


def test_the_operator_may_not_do_what_only_a_beheerder_does(client: TestClient, world: World, db: Database) -> None:
    build(world)
    as_operator(client, world)
    before = state_of(db)
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants").status_code == 403
    assert client.put(f"/v1/orgs/{AFNEMER}/users/{ALICE}/grants",
                      json={"afnemer": AFNEMER, "products": ["verzuim"]}).status_code == 403
    assert client.get(f"/v1/orgs/{AFNEMER}/requests").status_code == 403
    assert client.post(f"/v1/orgs/{AFNEMER}/invitations", json={"email": "x@korenschoof.nl"}).status_code == 403
    assert state_of(db) == before


def test_a_foreign_beheerder_still_gets_nothing(client: TestClient, world: World, db: Database) -> None:
    build(world)
    login(client, GARAGE)
    before = state_of(db)
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code == 403
    assert client.get(f"/v1/orgs/{AFNEMER}/users/{ALICE}").status_code == 403
    assert client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", json={}).status_code == 403
    assert client.post(f"/v1/orgs/{AFNEMER}/users/{ALICE}/deactivate", json={}).status_code == 403
    assert client.patch(f"/v1/operator/organisations/{AFNEMER}", json={"name": "Van mij"}).status_code == 403
    assert state_of(db) == before


def test_the_operator_appoints_a_beheerder_when_the_only_one_was_deactivated(
        client: TestClient, world: World, db: Database, service_key: str) -> None:
    build(world)
    world.set_status(BEHEERDER, "inactive")  # the only beheerder has left
    as_operator(client, world)
    r = client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", json={})
    assert r.status_code == 200, r.text
    assert [b["email"] for b in r.json()["beheerders"]] == [ALICE]
    assert r.json()["advice"]["code"] == "appoint_second_beheerder"
    (row,) = audit_rows(db, "role.grant")
    assert (row.actor, row.on_behalf_of, row.revision) == (OPERATOR, AFNEMER, r.json()["revision"])
    (mail,) = mails(db, ALICE)
    assert "beheerder" in mail.subject
    assert "Gegevensdiensten heeft u aangewezen als beheerder van Bakkerij De Korenschoof" in mail.body_text
    assert OPERATOR not in mail.body_text and OPERATOR not in mail.body_html
    # the new beheerder acts at once
    client.cookies.clear()
    login(client, ALICE)
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code == 200


def test_r4_holds_for_the_operator(client: TestClient, world: World, db: Database) -> None:
    build(world)
    as_operator(client, world)
    before = state_of(db)
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "last_beheerder")
    r = client.post(f"/v1/orgs/{AFNEMER}/users/{BEHEERDER}/deactivate", json={})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "last_beheerder")
    assert state_of(db) == before
    # with a second beheerder, the operator may remove the first
    assert client.put(f"/v1/orgs/{AFNEMER}/beheerders/{ALICE}", json={}).status_code == 200
    r = client.delete(f"/v1/orgs/{AFNEMER}/beheerders/{BEHEERDER}")
    assert r.status_code == 200, r.text
    assert [b["email"] for b in r.json()["beheerders"]] == [ALICE]
    assert [row.actor for row in audit_rows(db, "role.revoke")] == [OPERATOR]


def test_the_operator_deactivates_and_reactivates_an_account(client: TestClient, world: World, db: Database,
                                                             service_key: str) -> None:
    build(world)
    world.grant(ALICE, AFNEMER, ["polisadministratie"])
    as_operator(client, world)
    sync(client)
    assert check(client, service_key, ALICE)["allowed"] is True
    r = client.post(f"/v1/orgs/{AFNEMER}/users/{ALICE}/deactivate", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inactive"
    assert check(client, service_key, ALICE)["reason"] == "inactive_user"
    r = client.post(f"/v1/orgs/{AFNEMER}/users/{ALICE}/reactivate", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert check(client, service_key, ALICE)["allowed"] is True
    rows = [*audit_rows(db, "account.inactive"), *audit_rows(db, "account.active")]
    assert [(row.actor, row.on_behalf_of) for row in rows] == [(OPERATOR, AFNEMER)] * 2
    deactivated, reactivated = mails(db, ALICE)  # told of both, by the operator's name for it
    for mail in (deactivated.body_text, deactivated.body_html):
        assert "Gegevensdiensten heeft uw account bij Bakkerij De Korenschoof op Mijn Gegevensdiensten gedeactiveerd" \
            in mail
        assert "Neem dan contact op met Gegevensdiensten." in mail
        assert OPERATOR not in mail and "beheerder van" not in mail
    assert "Gegevensdiensten heeft uw account bij Bakkerij De Korenschoof op Mijn Gegevensdiensten weer " \
        "geactiveerd" in reactivated.body_text and OPERATOR not in reactivated.body_text


def test_an_inactive_operator_can_do_nothing_for_an_organisation(client: TestClient, world: World,
                                                                 db: Database) -> None:
    build(world)
    as_operator(client, world)
    world.set_status(OPERATOR, "inactive")
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code in (401, 403)


# -- the organisation's name and domains ------------------------------------------------------------------------

def test_the_operator_edits_an_organisations_name_and_domains(client: TestClient, world: World,
                                                              db: Database) -> None:
    build(world)
    as_operator(client, world)
    r = client.patch(f"/v1/operator/organisations/{AFNEMER}", json={"domains": ["Korenschoof.nl", "bakker.nl"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"kvk": AFNEMER, "name": "Bakkerij De Korenschoof", "status": "verified",
                        "domains": ["bakker.nl", "korenschoof.nl"], "revision": db.revision()}
    r = client.patch(f"/v1/operator/organisations/{AFNEMER}", json={"name": "Bakkerij Korenschoof B.V."})
    assert r.status_code == 200, r.text
    assert r.json()["domains"] == ["bakker.nl", "korenschoof.nl"]  # left out: kept
    assert r.json()["name"] == "Bakkerij Korenschoof B.V."
    rows = audit_rows(db, "organisation.update")
    assert [(row.actor, row.on_behalf_of) for row in rows] == [(OPERATOR, AFNEMER)] * 2
    assert rows[1].before["name"] == "Bakkerij De Korenschoof" and rows[1].after["name"] == "Bakkerij Korenschoof B.V."
    # the same again changes nothing and records nothing
    before = state_of(db)
    assert client.patch(f"/v1/operator/organisations/{AFNEMER}", json={"name": "Bakkerij Korenschoof B.V."}
                        ).status_code == 200
    assert state_of(db) == before
    assert client.get(f"/v1/orgs/{AFNEMER}/users").status_code == 200


def test_editing_an_organisation_refuses_bad_input(client: TestClient, world: World, db: Database) -> None:
    build(world)
    as_operator(client, world)
    before = state_of(db)
    for kvk, body, status, code in [
            ("99999999", {"name": "Niemand"}, 404, "unknown_organisation"),
            ("1111111", {"name": "Kort"}, 422, "invalid_kvk"),
            (AFNEMER, {"name": ""}, 422, None),
            (AFNEMER, {"name": None}, 422, None),
            (AFNEMER, {"name": "met\ttab"}, 422, None),
            (AFNEMER, {"domains": ["gmail.com"]}, 422, "free_mail_domain"),
            (AFNEMER, {"domains": ["geen domein"]}, 422, None),
            (AFNEMER, {"domains": "korenschoof.nl"}, 422, None),
            (AFNEMER, {"kvk": "22222222"}, 422, "unknown_field")]:
        r = client.patch(f"/v1/operator/organisations/{kvk}", json=body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (body, r.text)
    assert state_of(db) == before
    client.cookies.clear()
    login(client, BEHEERDER)  # a beheerder may not edit its own organisation here
    assert client.patch(f"/v1/operator/organisations/{AFNEMER}", json={"name": "X"}).status_code == 403
    assert state_of(db) == before


# -- R5: e-mails and domains ------------------------------------------------------------------------------------

def register(client: TestClient, email: str, kvk: str, **extra: Any) -> Any:
    return client.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": kvk, **extra})


def test_a_request_for_the_operator_mails_every_operator_and_the_applicant(client: TestClient, world: World,
                                                                          db: Database) -> None:
    world.operator(OPERATOR)
    world.operator(SECOND_OPERATOR)
    r = register(client, "anna@molen.nl", "55555555", organisation_name="De Molen", name="Anna de Vries")
    assert (r.status_code, r.json()) == (202, {"status": "pending_operator"})
    for op in (OPERATOR, SECOND_OPERATOR):
        (mail,) = mails(db, op)
        assert "anna@molen.nl" in mail.subject and "De Molen" in mail.subject
        assert "Anna de Vries" in mail.body_text and "/operator/aanvragen" in mail.body_text
        assert "anna@molen.nl" in mail.body_html
    (receipt,) = mails(db, "anna@molen.nl")
    assert receipt.subject == "We hebben uw aanvraag ontvangen"
    assert "De Molen" in receipt.body_text and "55555555" in receipt.body_html
    # the operator's list shows the applicant's name
    login(client, OPERATOR)
    (listed,) = client.get("/v1/operator/requests").json()["requests"]
    assert listed["name"] == "Anna de Vries"


def test_a_taken_address_gets_the_same_answer_and_no_receipt(client: TestClient, world: World,
                                                            db: Database) -> None:
    world.operator(OPERATOR)
    assert register(client, "anna@molen.nl", "55555555", organisation_name="De Molen").status_code == 202
    r = register(client, "anna@molen.nl", "55555555", organisation_name="De Molen")
    assert (r.status_code, r.json()) == (202, {"status": "pending_operator"})
    assert len(mails(db, OPERATOR)) == 1  # told once, of the one request
    subjects = [m.subject for m in mails(db, "anna@molen.nl")]
    assert subjects.count("We hebben uw aanvraag ontvangen") == 1 and len(subjects) == 2  # + "already registered"


def test_a_request_for_a_beheerder_does_not_mail_the_operator(client: TestClient, world: World,
                                                             db: Database) -> None:
    build(world)
    world.operator(OPERATOR)
    assert register(client, "kees@korenschoof.nl", AFNEMER).json() == {"status": "pending_beheerder"}
    assert mails(db, OPERATOR) == []
    assert [m.subject for m in mails(db, "kees@korenschoof.nl")] == []


def test_approving_a_first_account_registers_the_domains(client: TestClient, world: World, db: Database) -> None:
    world.operator(OPERATOR)
    register(client, "anna@molen.nl", "55555555", organisation_name="De Molen")
    login(client, OPERATOR)
    (listed,) = client.get("/v1/operator/requests").json()["requests"]
    before = state_of(db)
    r = client.post(f"/v1/operator/requests/{listed['id']}/approve", json={"domains": ["andere.nl"]})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "email_domain_not_allowed")
    r = client.post(f"/v1/operator/requests/{listed['id']}/approve", json={"domains": ["gmail.com"]})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "free_mail_domain")
    assert state_of(db) == before
    r = client.post(f"/v1/operator/requests/{listed['id']}/approve", json={"domains": ["Molen.nl", "molen.com"]})
    assert r.status_code == 200, r.text
    org = client.get("/v1/operator/organisations/55555555").json()
    assert (org["status"], org["domains"]) == ("verified", ["molen.com", "molen.nl"])
    (row,) = audit_rows(db, "organisation.update")
    assert row.actor == OPERATOR and row.after["domains"] == ["molen.com", "molen.nl"]


# -- contracts and mandates (SPEC §4) ---------------------------------------------------------------------------

def test_a_window_ended_at_once_holds_from_today_on_on_no_day() -> None:
    today, yesterday = date(2026, 6, 15), date(2026, 6, 14)
    for start in (date(2026, 1, 1), yesterday, today, date(2026, 9, 1)):
        first, last = ended(start, today)
        assert last == yesterday and first == min(start, yesterday) and well_formed(first, last)
        assert not any(holds(first, last, today + timedelta(days=n)) for n in range(400))


def test_put_of_a_running_contract_keeps_what_the_body_leaves_out(client: TestClient, world: World,
                                                                  db: Database) -> None:
    build(world)
    as_operator(client, world)
    path = f"/v1/operator/contracts/{OTHER}/loonaangifte"
    r = client.put(path, json={"valid_until": "2027-06-30"})
    assert r.status_code == 200, r.text
    assert (r.json()["valid_from"], r.json()["valid_until"]) == ("2026-01-01", "2027-06-30")
    assert r.json()["revision"] == db.revision()
    r = client.put(path, json={})
    assert (r.json()["valid_from"], r.json()["valid_until"]) == ("2026-01-01", "2027-06-30")
    r = client.put(path, json={"valid_until": None})  # null: open-ended
    assert (r.json()["valid_from"], r.json()["valid_until"]) == ("2026-01-01", None)
    r = client.put(path, json={"valid_from": "2026-02-01"})
    assert (r.json()["valid_from"], r.json()["valid_until"]) == ("2026-02-01", None)
    # a new contract starts today, open-ended
    r = client.put(f"/v1/operator/contracts/{OTHER}/verzuim", json={})
    assert (r.json()["valid_from"], r.json()["valid_until"]) == (db.clock.today().isoformat(), None)


def test_put_of_a_mandate_keeps_what_the_body_leaves_out(client: TestClient, world: World, db: Database) -> None:
    build(world)
    as_operator(client, world)
    path = "/v1/operator/mandates/11111111/22222222"
    r = client.put(path, json={"valid_until": "2027-12-31"})
    assert r.status_code == 200, r.text
    assert (r.json()["products"], r.json()["valid_from"], r.json()["valid_until"]) == (
        ["polisadministratie"], "2026-01-01", "2027-12-31")
    r = client.put(path, json={"products": None})  # null: all of the afnemer's products
    assert (r.json()["products"], r.json()["valid_until"]) == (None, "2027-12-31")
    before = state_of(db)
    r = client.put(path, json={"products": []})
    assert r.status_code == 422
    assert state_of(db) == before


def test_delete_ends_a_contract_at_once_also_one_that_started_today(client: TestClient, world: World,
                                                                    db: Database, service_key: str) -> None:
    build(world)
    as_operator(client, world)
    today = db.clock.today()
    yesterday = (today - timedelta(days=1)).isoformat()
    assert client.put(f"/v1/operator/contracts/{OTHER}/verzuim", json={}).json()["valid_from"] == today.isoformat()
    world.grant("beheerder@garage-oost.nl", OTHER, ["verzuim"])
    sync(client)
    assert check(client, service_key, GARAGE, "verzuim")["allowed"] is True
    r = client.delete(f"/v1/operator/contracts/{OTHER}/verzuim")
    assert r.status_code == 200, r.text
    assert r.json() == {"afnemer": OTHER, "product": "verzuim", "valid_from": yesterday, "valid_until": yesterday,
                        "valid_today": False, "revision": db.revision()}
    assert check(client, service_key, GARAGE, "verzuim")["reason"] == "no_contract"
    listed = {c["product"]: c for c in client.get(f"/v1/operator/organisations/{OTHER}/contracts").json()[
        "contracts"]}
    assert listed["verzuim"]["valid_today"] is False and listed["verzuim"]["valid_until"] == yesterday
    (row,) = audit_rows(db, "contract.end")
    assert row.actor == OPERATOR and row.before["valid_from"] == today.isoformat()
    # a later PUT with new days starts it again
    r = client.put(f"/v1/operator/contracts/{OTHER}/verzuim", json={"valid_from": today.isoformat(),
                                                                     "valid_until": None})
    assert r.json()["valid_today"] is True
    assert check(client, service_key, GARAGE, "verzuim")["allowed"] is True


def test_delete_ends_a_mandate_at_once_and_it_stays_listed(client: TestClient, world: World, db: Database) -> None:
    build(world)
    as_operator(client, world)
    yesterday = (db.clock.today() - timedelta(days=1)).isoformat()
    r = client.delete("/v1/operator/mandates/11111111/22222222")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["valid_from"], body["valid_until"], body["valid_today"], body["products"]) == (
        "2026-01-01", yesterday, False, ["polisadministratie"])
    (given,) = client.get("/v1/operator/organisations/11111111/mandates").json()["given"]
    assert given["valid_today"] is False
    assert [row.actor for row in audit_rows(db, "mandate.end")] == [OPERATOR, OPERATOR]


def test_an_accepted_invitation_without_a_beheerder_left_mails_the_operator(client: TestClient, world: World,
                                                                           db: Database) -> None:
    build(world)
    world.operator(OPERATOR)
    login(client, BEHEERDER)
    assert client.post(f"/v1/orgs/{AFNEMER}/invitations", json={"email": "kees@korenschoof.nl"}).status_code == 201
    (invitation,) = mails(db, "kees@korenschoof.nl")
    token = re.findall(r"/uitnodiging/([A-Za-z0-9_-]+)", invitation.body_text)[-1]
    world.set_status(BEHEERDER, "inactive")  # the only beheerder left meanwhile
    client.cookies.clear()
    r = client.post(f"/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert (r.status_code, r.json()) == (202, {"status": "pending_operator"})
    (mail,) = mails(db, OPERATOR)
    assert "kees@korenschoof.nl" in mail.subject and "geen actieve beheerder" in mail.body_text
