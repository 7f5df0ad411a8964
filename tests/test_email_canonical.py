"""One canonical form of an e-mail address (authz.values.email), everywhere: no Unicode case mapping or
compatibility character merges two identities (``joost.ba\u212aker@`` with a KELVIN SIGN was granted and logged in
as joost.bakker)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from authz import values
from authz.errors import Invalid
from authz.policyfile.parse import PolicyFileError, parse
from authz.service.emails import normalise
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.mailbox import error_of
from tests.ui.helpers import post_form

KVK = "11111111"
JOOST = "joost.bakker@korenschoof.nl"
KELVIN = "joost.ba\u212aker@korenschoof.nl"
LOOKALIKES = [KELVIN, "joost.bak\uff4ber@korenschoof.nl", "joost.bakker@korenschoof.n\u217c",
              "jo\u0065\u0301st@korenschoof.nl"]  # KELVIN SIGN, a full-width k, ROMAN NUMERAL FIFTY, a decomposed é


def test_the_canonical_form() -> None:
    assert values.email("  Joost.Bakker@KorenSchoof.NL ", "e") == JOOST
    assert values.email("J\u00d6rg@B\u00dcCHER.de", "e") == "j\u00d6rg@b\u00fccher.de"  # local: A-Z only
    assert values.email("j\u00f6rg@b\u00fccher.de", "e") != values.email("j\u00d6rg@b\u00fccher.de", "e")
    for bad in LOOKALIKES:
        with pytest.raises(Invalid):
            values.email(bad, "e")
        with pytest.raises(Invalid):
            normalise(bad)


@pytest.fixture
def joost(world: World) -> None:
    world.org(KVK, "Korenschoof", domains=["korenschoof.nl"])
    world.product("polis")
    world.contract(KVK, "polis")
    world.account(JOOST, KVK)
    world.beheerder("anna@korenschoof.nl", KVK)
    world.grant(JOOST, KVK, ["polis"])


@pytest.mark.parametrize("user", LOOKALIKES)
def test_a_lookalike_is_refused_by_the_decider_api(api: TestClient, joost: None, user: str) -> None:
    sync(api)
    assert api.post("/v1/check", json={"user": JOOST.upper(), "product": "polis"}).json()["allowed"] is True
    r = api.post("/v1/check", json={"user": user, "product": "polis"})
    assert (r.status_code, error_of(r)) == (422, "invalid_email"), r.text
    r = api.post("/access/v1/evaluation", json={"subject": {"type": "user", "id": user},
                                                "resource": {"type": "product", "id": "polis"},
                                                "action": {"name": "view"}})
    assert r.status_code in (400, 422) and "decision" not in r.json(), r.text


def test_a_lookalike_cannot_log_in_register_or_be_invited(client: TestClient, joost: None) -> None:
    r = client.post("/v1/session", json={"email": KELVIN, "password": PASSWORD})
    assert (r.status_code, error_of(r)) == (422, "invalid_email"), r.text
    r = client.post("/v1/registrations", json={"email": KELVIN, "kvk": KVK, "password": "a long password 123"})
    assert (r.status_code, error_of(r)) == (422, "invalid_email"), r.text
    login(client, "anna@korenschoof.nl")
    r = client.post(f"/v1/orgs/{KVK}/invitations", json={"email": KELVIN})
    assert (r.status_code, error_of(r)) == (422, "invalid_email"), r.text


def test_the_portal_log_in_refuses_a_lookalike(client: TestClient, joost: None) -> None:
    r = post_form(client, "/inloggen", "/inloggen", {"email": KELVIN, "password": PASSWORD})
    assert r.status_code == 422 and "Vul een geldig zakelijk e-mailadres in." in r.text


def test_an_import_refuses_a_lookalike() -> None:
    doc = f"""
organisations:
  - {{kvk: "{KVK}", name: Korenschoof}}
accounts:
  - {{email: "{KELVIN}", org: "{KVK}", status: active}}
"""
    with pytest.raises(PolicyFileError) as refused:
        parse(doc, "policy.yaml")
    assert any("NFKC" in p.message for p in refused.value.problems), refused.value.problems
