"""Bad input at the edge is a 4xx, never a 500, on SQLite and PostgreSQL, through the API and the admin UI:
numbers in paths, query strings and forms are ASCII digits only ('²' passes ``str.isdigit`` but not ``int``), KvK
numbers are ASCII digits only (a full-width '１１１１１１１１' would register a lookalike organisation), and control
characters (a NUL, which PostgreSQL refuses) never reach the database from an e-mail address or a search term."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from authz import values
from authz.errors import Invalid
from authz.store.db import Database
from authz.store.schema import AccountRequest, Organisation
from tests.conftest import login
from tests.factories import World
from tests.mailbox import count, error_of
from tests.ui.helpers import csrf_of, post_form

A = "11111111"
BEH = "beh@a.nl"
USER = "user@a.nl"
SUP2 = "%C2%B2"  # '²', URL-encoded


@pytest.fixture
def org(world: World) -> str:
    world.org(A, "Org A")
    world.beheerder(BEH, A)
    world.account(USER, A)
    return A


def test_whole_numbers_are_ascii_digits_only() -> None:
    assert values.whole_number("42") == 42 and values.whole_number("0") == 0
    for bad in ("²", "١٢", "１２", "", "-1", " 1", "1" * 19, None):
        assert values.whole_number(bad) is None, bad
    assert values.KVK_RE.fullmatch("12345678") and not values.KVK_RE.fullmatch("１１１１１１１１")


def test_email_and_search_parsers_refuse_or_strip_control_characters() -> None:
    for bad in ("\x00@a.nl", "a\x00@a.nl", "a@a\x07.nl", "a\x85@a.nl"):
        with pytest.raises(Invalid):
            values.email(bad, "email")
    assert values.email(" Anna@A.nl ", "email") == "anna@a.nl"
    assert values.search_text(" an\x00na\x1f ", 10) == "anna"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", f"/v1/orgs/{A}/invitations/{SUP2}/resend", 404),
    ("DELETE", f"/v1/orgs/{A}/invitations/{SUP2}", 404),
    ("GET", f"/v1/orgs/{A}/audit?cursor={SUP2}", 422),
    ("GET", f"/v1/orgs/{A}/audit?limit={SUP2}", 422),
    ("GET", f"/v1/orgs/{A}/users?limit={SUP2}", 422),
    ("POST", f"/v1/orgs/{A}/users/%00@a.nl/deactivate", 422),
    ("GET", f"/v1/orgs/{A}/users/%00@a.nl/history", 422),
    ("GET", f"/v1/orgs/{A}/users/%00@a.nl/grants", 422),
    ("GET", f"/v1/orgs/{A}/users?q=%00", 422),
    ("GET", f"/v1/orgs/{A}/audit?user=%00", 422),
    ("GET", f"/v1/orgs/{A}/audit?product=%00", 422),
])
def test_api_refuses_bad_numbers_and_control_characters_as_a_4xx(client: TestClient, org: str, method: str,
                                                                  path: str, status: int) -> None:
    login(client, BEH)
    r = client.request(method, path, json={} if method == "POST" else None)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"]


def test_operator_mail_listing_refuses_a_non_ascii_limit_or_cursor(client: TestClient, world: World) -> None:
    login(client, world.operator())
    for query in (f"limit={SUP2}", f"cursor={SUP2}"):
        r = client.get(f"/v1/operator/mail?{query}")
        assert r.status_code == 422, r.text
    assert client.post(f"/v1/operator/mail/{SUP2}/retry", json={}).status_code == 404
    assert client.post(f"/v1/operator/requests/{SUP2}/approve", json={}).status_code == 404


def test_operator_and_decision_listings_refuse_non_ascii_limits_and_control_characters(
        client: TestClient, world: World, service_key: str) -> None:
    world.org(A, "Org A")
    r = client.get(f"/v1/products/polis/users?limit={SUP2}", headers={"Authorization": f"Bearer {service_key}"})
    assert r.status_code == 422 and error_of(r) == "invalid_limit", r.text
    login(client, world.operator())
    for query, code in ((f"limit={SUP2}", "invalid_limit"), ("q=%00", "invalid_parameter")):
        r = client.get(f"/v1/operator/organisations?{query}")
        assert r.status_code == 422 and error_of(r) == code, r.text
    r = client.get("/operator/organisaties?q=Org%00%20A")
    assert r.status_code == 200 and "Org A" in r.text


def test_policy_files_take_ascii_kvk_numbers_and_days_only() -> None:
    from authz.policyfile.parse import KVK_RE
    from authz.policyfile.review import moment

    assert KVK_RE.fullmatch("12345678") and not KVK_RE.fullmatch("１２３４５６７８")
    with pytest.raises(Invalid):
        moment("２０２６-０１-０１")


def test_log_in_with_a_nul_in_the_address_is_a_422_not_a_503(client: TestClient, org: str) -> None:
    r = client.post("/v1/session", json={"email": "\x00@a.nl", "password": "whatever it is"})
    assert r.status_code == 422 and error_of(r) == "invalid_email", r.text
    r = post_form(client, "/inloggen", "/inloggen", {"email": "us\x00er@a.nl", "password": "whatever it is"})
    assert r.status_code == 422 and "Vul een geldig zakelijk e-mailadres in." in r.text


def test_the_ui_strips_control_characters_from_searches_and_refuses_them_in_addresses(client: TestClient,
                                                                                       org: str) -> None:
    login(client, BEH)
    r = client.get("/toegangsrechten?q=%00user")
    assert r.status_code == 200 and USER in r.text
    assert client.get("/toegangsrechten?na=%00").status_code == 200
    assert client.get("/audit?gebruiker=%00&product=%00").status_code == 200
    r = client.get("/toegangsrechten/%00@a.nl")
    assert r.status_code == 422 and "Vul een geldig zakelijk e-mailadres in." in r.text


def test_the_ui_treats_non_ascii_numbers_as_unknown(client: TestClient, org: str) -> None:
    login(client, BEH)
    assert client.get(f"/audit?voor={SUP2}").status_code == 200
    token = csrf_of(client.get("/toegangsrechten").text)
    for path in (f"/uitnodigen/{SUP2}/opnieuw", f"/aanvragen/{SUP2}/goedkeuren"):
        assert client.post(path, data={"csrf": token}).status_code == 404, path
    page = client.get(f"/toegangsrechten/{USER}")
    for version in ("²", "9" * 30):
        r = client.post(f"/toegangsrechten/{USER}", data={"csrf": csrf_of(page.text), "afnemer": A,
                                                          "version": version, "product": []})
        assert r.status_code == 422, (version, r.text[:200])


@pytest.mark.parametrize("kvk", ["１１１１１１１１", "١١١١١١١١", "1111111²"])
def test_kvk_numbers_are_ascii_digits_only(client: TestClient, org: str, db: Database, kvk: str) -> None:
    before = count(db, AccountRequest), count(db, Organisation)
    body: dict[str, Any] = {"email": "boss@lookalike.nl", "kvk": kvk, "password": "a long password 123",
                            "organisation_name": "Org A"}
    r = client.post("/v1/registrations", json=body)
    assert r.status_code == 422 and error_of(r) == "invalid_kvk", r.text
    r = post_form(client, "/account-aanvragen", "/account-aanvragen", {**body, "password2": body["password"]})
    assert r.status_code == 422, r.text[:200]
    assert (count(db, AccountRequest), count(db, Organisation)) == before
