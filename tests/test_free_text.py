"""Free text (names, descriptions, reasons) is read by one parser on both edges: trimmed, length-bound, without
control characters (a line break only where a text may have lines). A NUL used to give a 500 on PostgreSQL, whose
logged traceback held the statement's parameters, and a CR LF in a name forged a line of a notification."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from starlette.testclient import TestClient

from authz import values
from authz.errors import Invalid
from authz.store.db import Database
from authz.store.schema import AccountRequest, Product
from tests.conftest import login
from tests.factories import World
from tests.mailbox import count, error_of
from tests.ui.helpers import post_form

A = "11111111"
FORGED = "Jo\u0007st\r\nBcc: x@y"


def _registration(**extra: Any) -> dict[str, Any]:
    return {"email": "boss@nieuw.nl", "kvk": "22222222", "password": "a long password 123", **extra}


def test_the_parser_refuses_control_characters_and_keeps_lines_only_where_allowed() -> None:
    name, description = values.text(200), values.text(5000, 0, lines=True)
    assert name("  Joost  ", "name") == "Joost"
    assert description("regel 1\r\nregel 2\rregel 3\n", "description") == "regel 1\nregel 2\nregel 3"
    for bad in ("X\x00Y", FORGED, "a\nb", "a\tb", "a\x85b", "a\x7fb"):
        with pytest.raises(Invalid):
            name(bad, "name")
    for bad in ("X\x00Y", "a\x07b", "a\tb"):
        with pytest.raises(Invalid):
            description(bad, "description")


@pytest.mark.parametrize("field", ["organisation_name", "name"])
@pytest.mark.parametrize("value", ["X\x00Y", FORGED])
def test_registration_refuses_control_characters_in_names(client: TestClient, db: Database, field: str,
                                                          value: str) -> None:
    r = client.post("/v1/registrations", json=_registration(**{field: value}))
    assert r.status_code == 422 and error_of(r) == "invalid_field", r.text
    assert count(db, AccountRequest) == 0


def test_the_portal_refuses_control_characters_in_a_registration(client: TestClient, db: Database) -> None:
    body = {**_registration(organisation_name="X\x00Y"), "password2": "a long password 123"}
    r = post_form(client, "/account-aanvragen", "/account-aanvragen", body)
    assert r.status_code == 422 and "bevat een teken dat niet in tekst thuishoort" in r.text
    assert count(db, AccountRequest) == 0


def test_products_take_lines_in_their_description_and_no_control_characters(client: TestClient, world: World,
                                                                            db: Database) -> None:
    login(client, world.operator())
    for body in ({"code": "polis", "name": "Po\x00lis"}, {"code": "polis", "name": "Polis", "description": "a\x00"}):
        r = client.post("/v1/operator/products", json=body)
        assert r.status_code == 422 and error_of(r) == "invalid_field", r.text
    r = post_form(client, "/operator/producten", "/operator/producten", {"code": "polis", "name": "Po\x00lis"})
    assert "bevat een teken dat niet in tekst thuishoort" in r.text
    assert count(db, Product) == 0
    r = client.post("/v1/operator/products", json={"code": "polis", "name": "Polis", "description": "a\r\nb"})
    assert r.status_code in (200, 201), r.text
    with db.read() as s:
        assert s.get(Product, "polis").description == "a\nb"  # type: ignore[union-attr]


def test_a_rejection_reason_with_a_nul_is_refused(client: TestClient, world: World, db: Database) -> None:
    client.post("/v1/registrations", json=_registration(organisation_name="Nieuw"))
    with db.read() as s:
        request_id = s.query(AccountRequest.id).scalar()
    login(client, world.operator())
    r = client.post(f"/v1/operator/requests/{request_id}/reject", json={"reason": "nee\x00"})
    assert r.status_code == 422 and error_of(r) == "invalid_field", r.text
    r = client.post(f"/v1/operator/requests/{request_id}/reject", json={"reason": "nee,\nomdat"})
    assert r.status_code == 200, r.text


def test_database_errors_never_carry_the_statement_parameters(db: Database,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    secret = "$argon2id$v=19$secret-hash"
    with pytest.raises((DBAPIError, StatementError)) as failed, db.engine.connect() as c:
        c.execute(text("SELECT * FROM no_such_table WHERE a = :hash"), {"hash": secret})
    assert secret not in str(failed.value)
    logging.getLogger("test").exception("as the app logs it", exc_info=failed.value)
    assert secret not in caplog.text
