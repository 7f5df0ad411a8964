"""Free text (names, descriptions, reasons) is read by one parser on both edges: trimmed, length-bound, without
control characters (a line break only where a text may have lines). A NUL used to give a 500 on PostgreSQL, whose
logged traceback held the statement's parameters, and a CR LF in a name forged a line of a notification."""

from __future__ import annotations

import logging
import re
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
# What Python's e-mail package (and many readers) take for a line break or a change of direction, beyond C0 and C1.
SEPARATED = "Jo\u2028Bcc: x@y"
UNICODE_BREAKS = ("\u2028", "\u2029")
BIDI = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069")


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


@pytest.mark.parametrize("char", [*UNICODE_BREAKS, *BIDI])
def test_the_parser_refuses_unicode_line_separators_and_direction_controls(char: str) -> None:
    """A name is one line: U+2028 in an organisation's name made its notification's subject unwritable (and stuck
    the outbox). Only LF is a line break, and only where a text may have lines; bidi controls make a text read
    otherwise than it is stored (a name, an address). Neighbours that are ordinary letters or marks still pass."""
    for parse in (values.text(200), values.text(5000, 0, lines=True)):
        with pytest.raises(Invalid) as refused:
            parse(f"Jo{char}st", "name")
        assert refused.value.code == "invalid_field"
    with pytest.raises(Invalid) as refused:
        values.email(f"jo{char}st@korenschoof.nl", "email")
    assert refused.value.code == "invalid_email"
    assert values.search_text(f"jo{char}st", 20) == "jost"
    for fine in ("Jo\u200dst", "\u05d9\u05d5\u05e1\u05d8", "Jo\u2027st", "Jo\u2030st", "Jo\u2065st", "Jo\u206ast"):
        assert values.text(200)(fine, "name") == fine


@pytest.mark.parametrize("value", [SEPARATED, "Jo\u2029st", "Jo\u202est"])
def test_registration_refuses_unicode_separators_in_the_organisation_name(client: TestClient, db: Database,
                                                                            value: str) -> None:
    r = client.post("/v1/registrations", json=_registration(organisation_name=value))
    assert r.status_code == 422 and error_of(r) == "invalid_field", r.text
    assert count(db, AccountRequest) == 0
    body = {**_registration(organisation_name=value), "password2": "a long password 123"}
    r = post_form(client, "/account-aanvragen", "/account-aanvragen", body)
    assert r.status_code == 422 and "bevat een teken dat niet in tekst thuishoort" in r.text
    assert count(db, AccountRequest) == 0


def test_the_openapi_patterns_refuse_what_the_parser_refuses(client: TestClient) -> None:
    """The document says the same as the parser, so a client (or the fuzzer) that keeps to it is not refused."""
    doc = client.get("/openapi.json").json()
    patterns = {p for p in _patterns(doc) if "u0000" in p}
    assert patterns, "no free-text or address pattern in the document"
    for pattern in patterns:
        for char in ("\x00", "\x85", *UNICODE_BREAKS, *BIDI):
            assert re.search(pattern, f"a{char}b@c") is None, (pattern, char)
        assert re.search(pattern, "a\u05d9b@c") is not None


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


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


def test_an_organisations_domains_refuse_control_characters(client: TestClient, world: World) -> None:
    login(client, world.operator())
    for domain in ("a\x00b.nl", "a\u2028b.nl", "a\u202eb.nl"):
        r = client.post("/v1/operator/organisations", json={"kvk": "33333333", "name": "Drie", "domains": [domain]})
        assert r.status_code == 422 and error_of(r) == "invalid_field", r.text
    r = client.post("/v1/operator/organisations", json={"kvk": "33333333", "name": "Drie", "domains": ["drie.nl"]})
    assert r.status_code in (200, 201), r.text
