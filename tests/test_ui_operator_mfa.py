"""The operator's portal resets an account's lost second factor (R17): the organisation's page lists its accounts
(name, e-mail, status, beheerder, second factor), a confirmation page comes first (a GET that changes nothing), then
a POST with the portal's CSRF token removes the factor, audited as the operator's act. Nobody else may."""

from __future__ import annotations

import dataclasses
import re

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.domain import mfa as rules
from authz.store.db import Database
from authz.store.schema import Account, Audit, MfaFactor
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.ui.helpers import check_page, csrf_of, post_form

KVK, OTHER = "11111111", "22222222"
ANNA = "anna@korenschoof.nl"  # beheerder, with a second factor
JOOST = "joost@korenschoof.nl"  # user, without one
PIET = "piet@molen.nl"  # of another organisation, with a second factor
OPERATOR = "operator@gegevensdiensten.nl"
ORG_PAGE = f"/operator/organisaties/{KVK}"


def reset_path(email: str, kvk: str = KVK) -> str:
    return f"/operator/organisaties/{kvk}/accounts/{email.replace('@', '%40')}/tweede-factor-herstellen"


def enrol(c: TestClient, clock: FrozenClock, email: str) -> None:
    """Give ``email`` a second factor through the JSON API, then log out."""
    assert c.post("/v1/session", json={"email": email, "password": PASSWORD}).status_code == 200
    secret = c.post("/v1/session/mfa", json={}).json()["secret"]
    otp = rules.code_at(secret, rules.step_of(clock.now()))
    assert c.post("/v1/session/mfa/confirm", json={"otp": otp}).status_code == 200
    c.cookies.clear()


def factors(db: Database, email: str) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(MfaFactor)
                             .join(Account, Account.id == MfaFactor.account_id)
                             .where(Account.email == email)).scalar_one())


def resets(db: Database) -> list[tuple[str, str | None, object]]:
    with db.engine.connect() as c:
        return [(a, o, after) for a, o, after in c.execute(
            sa.select(Audit.actor, Audit.on_behalf_of, Audit.after).where(Audit.action == "account.mfa_reset"))]


@pytest.fixture
def portal(client: TestClient, world: World, clock: FrozenClock) -> TestClient:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.org(OTHER, "Molen De Hoop")
    world.account(ANNA, KVK, roles=("beheerder",), name="Anna de Vries")
    world.account(JOOST, KVK, name="Joost Bakker")
    world.beheerder(PIET, OTHER)
    world.operator(OPERATOR)
    sync(client)
    enrol(client, clock, ANNA)
    enrol(client, clock, PIET)
    return client


def row_of(html: str, email: str) -> str:
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f">{email}<" in r]
    assert len(rows) == 1, email
    return rows[0]


def test_the_operator_sees_the_accounts_confirms_and_resets_a_factor(portal: TestClient, db: Database) -> None:
    login(portal, OPERATOR)
    page = portal.get(ORG_PAGE)
    assert page.status_code == 200
    check_page(page.text)
    anna, joost = row_of(page.text, ANNA), row_of(page.text, JOOST)
    assert "Anna de Vries" in anna and "actief" in anna and ">ja<" in anna and "ingesteld" in anna
    assert "Joost Bakker" in joost and ">nee<" in joost and ">geen<" in joost
    assert f'href="{reset_path(ANNA)}"' in anna and "Tweede factor herstellen" in anna
    assert "tweede-factor-herstellen" not in joost  # no factor, nothing to reset
    assert PIET not in page.text  # another organisation's account

    confirm = portal.get(reset_path(ANNA))  # the confirmation step: a page, and nothing changed yet
    assert confirm.status_code == 200
    check_page(confirm.text)
    assert ANNA in confirm.text and f'action="{reset_path(ANNA)}"' in confirm.text
    assert factors(db, ANNA) == 1 and resets(db) == []

    # Without the portal's CSRF token the POST is refused and changes nothing.
    assert portal.post(reset_path(ANNA), data={}, follow_redirects=False).status_code == 403
    assert portal.post(reset_path(ANNA), data={"csrf": "0" * 64}, follow_redirects=False).status_code == 403
    assert factors(db, ANNA) == 1

    done = portal.post(reset_path(ANNA), data={"csrf": csrf_of(confirm.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == ORG_PAGE
    after = portal.get(ORG_PAGE)
    assert f"De tweede factor van {ANNA} is verwijderd" in after.text
    assert ">geen<" in row_of(after.text, ANNA) and "tweede-factor-herstellen" not in row_of(after.text, ANNA)
    assert factors(db, ANNA) == 0
    assert resets(db) == [(OPERATOR, KVK, {"email": ANNA, "mfa": "none"})]
    assert factors(db, PIET) == 1  # nobody else's

    # Once more: nothing to reset, said so, nothing audited.
    again = post_form(portal, reset_path(ANNA), reset_path(ANNA), {})
    assert "Dit account heeft geen tweede factor" in again.text and len(resets(db)) == 1


def test_an_account_of_another_organisation_is_not_found_under_this_one(portal: TestClient, db: Database) -> None:
    login(portal, OPERATOR)
    assert portal.get(reset_path(PIET)).status_code == 404
    page = portal.get(ORG_PAGE)
    assert portal.post(reset_path(PIET), data={"csrf": csrf_of(page.text)}).status_code == 404
    assert factors(db, PIET) == 1 and resets(db) == []


@pytest.mark.parametrize("who", [ANNA, JOOST])
def test_a_non_operator_may_not_see_or_reset(portal: TestClient, db: Database, who: str) -> None:
    login(portal, who)
    token = csrf_of(portal.get("/account").text)
    assert portal.get(ORG_PAGE).status_code == 403
    assert portal.get(reset_path(ANNA)).status_code == 403
    assert portal.post(reset_path(ANNA), data={"csrf": token}).status_code == 403
    assert factors(db, ANNA) == 1 and resets(db) == []


def test_an_operator_without_a_factor_is_held_at_enrolment(portal: TestClient, settings: Settings,
                                                           clock: FrozenClock, db: Database) -> None:
    with TestClient(create_app(dataclasses.replace(settings, mfa_required="admins"), clock),
                    base_url="http://testserver") as c:
        login(c, OPERATOR)
        assert c.get(reset_path(ANNA)).status_code == 403
        token = csrf_of(c.get("/account/tweede-factor").text)
        r = c.post(reset_path(ANNA), data={"csrf": token})
        assert r.status_code == 403 and 'href="/account/tweede-factor"' in r.text
    assert factors(db, ANNA) == 1
