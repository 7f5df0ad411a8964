"""R18 in the portal: the operator's organisation page shows the accounts and beheerders; each consequential action
(deactivate, appoint or remove a beheerder, end a contract or mandate, approve or reject a request) has a GET
confirmation page that changes nothing and a POST with the CSRF token; the name and domains are edited there; the
dead letters have a page with "opnieuw versturen". Everything as the operator's act, within R4."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.store.db import Database
from authz.store.schema import Audit, Outbox
from tests.conftest import login, sync
from tests.factories import PASSWORD, World
from tests.test_admin_grants import AFNEMER, ALICE, BEHEERDER, GARAGE, INTERMEDIAIR, OTHER, build, state_of
from tests.ui.helpers import as_data, check_page, csrf_of, form_fields, post_form

OPERATOR = "operator@gegevensdiensten.nl"
ORG = f"/operator/organisaties/{AFNEMER}"


def account_path(email: str, step: str) -> str:
    return f"{ORG}/accounts/{email.replace('@', '%40')}/{step}"


@pytest.fixture
def portal(client: TestClient, world: World) -> TestClient:
    build(world)
    world.operator(OPERATOR)
    sync(client)
    return login(client, OPERATOR)


def confirmed(client: TestClient, page: str, data: dict[str, str] | None = None) -> Any:
    """GET the confirmation page (checked: one h1, labels…; nothing changes), then POST its form."""
    db: Database = client.app.state.authz.db  # type: ignore[attr-defined]
    before = state_of(db)
    confirm = client.get(page)
    assert confirm.status_code == 200, confirm.text
    check_page(confirm.text)
    assert f'action="{page.replace("%40", "%40")}"' in confirm.text or 'method="post"' in confirm.text
    assert state_of(db) == before  # the confirmation changed nothing
    return client.post(page, data={"csrf": csrf_of(confirm.text), **(data or {})}, follow_redirects=True)


def audited(db: Database, action: str) -> list[tuple[str, str | None]]:
    with db.engine.connect() as c:
        return [(r.actor, r.on_behalf_of) for r in c.execute(
            sa.select(Audit.actor, Audit.on_behalf_of).where(Audit.action == action).order_by(Audit.id))]


def test_the_organisation_page_shows_accounts_and_beheerders(portal: TestClient) -> None:
    page = portal.get(ORG)
    assert page.status_code == 200
    check_page(page.text)
    assert "<h2>Beheerders</h2>" in page.text and BEHEERDER in page.text and ALICE in page.text
    assert f'href="{account_path(ALICE, "aanwijzen")}"' in page.text
    assert f'href="{account_path(ALICE, "deactiveren")}"' in page.text
    assert f'href="{account_path(BEHEERDER, "intrekken")}"' in page.text
    assert "één beheerder" in page.text
    assert GARAGE not in page.text


def test_deactivating_needs_a_confirmation_and_the_csrf_token(portal: TestClient, db: Database) -> None:
    path = account_path(ALICE, "deactiveren")
    before = state_of(db)
    assert portal.post(path, data={}, follow_redirects=False).status_code == 403
    assert portal.post(path, data={"csrf": "0" * 64}, follow_redirects=False).status_code == 403
    assert state_of(db) == before
    done = confirmed(portal, path)
    assert done.status_code == 200 and f"Het account {ALICE} is gedeactiveerd" in done.text
    assert audited(db, "account.inactive") == [(OPERATOR, AFNEMER)]
    # reactivation is one button on the organisation's page
    again = post_form(portal, ORG, account_path(ALICE, "heractiveren"), {})
    assert f"Het account {ALICE} is weer actief" in again.text
    assert audited(db, "account.active") == [(OPERATOR, AFNEMER)]


def test_the_last_beheerder_is_kept_by_the_operator_too(portal: TestClient, db: Database) -> None:
    before = state_of(db)
    for step in ("deactiveren", "intrekken"):
        done = confirmed(portal, account_path(BEHEERDER, step))
        assert "laatste beheerder" in done.text, step
    assert state_of(db) == before


def test_appointing_a_beheerder_where_the_only_one_was_deactivated(portal: TestClient, world: World,
                                                                   db: Database) -> None:
    world.set_status(BEHEERDER, "inactive")
    sync(portal)
    page = portal.get(ORG)
    assert "geen actieve beheerder" in page.text
    done = confirmed(portal, account_path(ALICE, "aanwijzen"))
    assert f"{ALICE} is nu beheerder van Bakkerij De Korenschoof" in done.text
    assert audited(db, "role.grant") == [(OPERATOR, AFNEMER)]
    assert "geen actieve beheerder" not in portal.get(ORG).text


def test_an_account_of_another_organisation_is_not_found_here(portal: TestClient, db: Database) -> None:
    before = state_of(db)
    assert portal.get(account_path(GARAGE, "deactiveren")).status_code == 404
    assert portal.get(account_path(ALICE, "iets-anders")).status_code == 404
    token = csrf_of(portal.get(ORG).text)
    assert portal.post(account_path(GARAGE, "deactiveren"), data={"csrf": token}).status_code == 404
    assert state_of(db) == before


def test_a_beheerder_may_not_use_the_operators_pages(portal: TestClient, db: Database) -> None:
    portal.cookies.clear()
    login(portal, BEHEERDER)
    before = state_of(db)
    assert portal.get(account_path(ALICE, "aanwijzen")).status_code == 403
    assert portal.get(ORG).status_code == 403
    assert portal.get("/operator/e-mails").status_code == 403
    assert state_of(db) == before


def test_editing_the_name_and_domains(portal: TestClient, db: Database) -> None:
    done = post_form(portal, ORG, f"{ORG}/gegevens", {"name": "Bakkerij Korenschoof B.V.",
                                                       "domains": "korenschoof.nl, bakker.nl"})
    assert "De gegevens van Bakkerij Korenschoof B.V. zijn opgeslagen" in done.text
    assert "bakker.nl, korenschoof.nl" in done.text
    assert audited(db, "organisation.update") == [(OPERATOR, AFNEMER)]
    refused = post_form(portal, ORG, f"{ORG}/gegevens", {"name": "X", "domains": "gmail.com"})
    assert "E-maildomeinen: gmail.com is een domein van gratis e-maildiensten" in refused.text
    assert len(audited(db, "organisation.update")) == 1


def test_ending_a_contract_and_a_mandate_is_confirmed_and_they_stay_listed(portal: TestClient, db: Database) -> None:
    yesterday = db.clock.today() - timedelta(days=1)
    done = confirmed(portal, f"{ORG}/contracten/verzuim/beeindigen")
    day = f"{yesterday.day} juni 2026"
    assert (f"Het contract van Bakkerij De Korenschoof voor Verzuimgegevens is beëindigd; de laatste dag was "
            f"{day}.") in done.text
    assert "niet geldig" in done.text  # still listed, as ended, with its Dutch dates
    assert audited(db, "contract.end") == [(OPERATOR, AFNEMER)]
    done = confirmed(portal, f"{ORG}/opdrachten/{INTERMEDIAIR}/beeindigen")
    assert (f"De opdracht van Bakkerij De Korenschoof aan Salarisbureau Noord is beëindigd; de laatste dag was "
            f"{day}.") in done.text
    assert audited(db, "mandate.end") == [(OPERATOR, AFNEMER), (OPERATOR, INTERMEDIAIR)]
    # an ended one offers no end any more; an unknown one is not found
    assert portal.get(f"/operator/organisaties/{OTHER}/contracten/verzuim/beeindigen").status_code == 404


def test_saving_a_contract_with_an_empty_start_keeps_its_start(portal: TestClient) -> None:
    done = post_form(portal, ORG, f"{ORG}/contracten", {"product": "verzuim", "valid_from": "",
                                                         "valid_until": "2027-03-31"})
    assert ("Het contract van Bakkerij De Korenschoof voor Verzuimgegevens geldt van 1 januari 2026 tot en met 31 "
            "maart 2027. Niemand krijgt hierdoor automatisch toegang") in done.text
    assert "2026-01-01" not in done.text.split("<main")[1]  # no ISO dates on the page


def test_the_operator_reads_names_and_dutch_dates_not_codes(portal: TestClient) -> None:
    """Contracts and mandates on the organisation's page and its confirmation pages, and the messages after a save,
    name products and organisations and give days as "1 januari 2026"."""
    page = portal.get(ORG).text
    table = page.split("<h2>Contracten</h2>")[1].split("<h3>")[0]
    assert '<td data-label="Product">Verzuimgegevens</td>' in table and ">verzuim<" not in table
    given = page.split("<h2>Opdrachten aan intermediairs</h2>")[1].split("<h3>")[0]
    assert '<td data-label="Producten">Polisadministratie</td>' in given
    confirm = portal.get(f"{ORG}/contracten/verzuim/beeindigen").text
    assert "<dt>Product</dt><dd>Verzuimgegevens</dd>" in confirm and "1 januari 2026" in confirm
    confirm = portal.get(f"{ORG}/opdrachten/{INTERMEDIAIR}/beeindigen").text
    assert "<dt>Producten</dt><dd>Polisadministratie</dd>" in confirm
    done = post_form(portal, ORG, f"{ORG}/opdrachten", {"intermediair": INTERMEDIAIR, "valid_from": "2026-02-01",
                                                         "product": ["polisadministratie", "verzuim"],
                                                         "valid_until": "2026-12-02"})
    assert ("De opdracht van Bakkerij De Korenschoof aan Salarisbureau Noord geldt voor Polisadministratie en "
            "Verzuimgegevens, van 1 februari 2026 tot en met 2 december 2026.") in done.text
    done = post_form(portal, ORG, f"{ORG}/opdrachten", {"intermediair": INTERMEDIAIR, "all_products": "1",
                                                         "open_ended": "1"})
    assert ("geldt voor alle producten van de afnemer, vanaf 1 februari 2026, zonder einddatum.") in done.text
    assert INTERMEDIAIR not in done.text.split('role="status"')[1].split("</div>")[0]


def contract_of(client: TestClient, product: str) -> dict[str, Any]:
    found = client.get(f"/v1/operator/organisations/{AFNEMER}/contracts")
    assert found.status_code == 200, found.text
    return next(c for c in found.json()["contracts"] if c["product"] == product)  # type: ignore[no-any-return]


def mandate_of(client: TestClient) -> dict[str, Any]:
    found = client.get(f"/v1/operator/organisations/{AFNEMER}/mandates")
    assert found.status_code == 200, found.text
    return next(m for m in found.json()["given"] if m["intermediair"] == INTERMEDIAIR)  # type: ignore[no-any-return]


def posted(client: TestClient, page: str, action: str, fields: list[tuple[str, str]]) -> Any:
    """POST ``fields`` to ``action`` with the CSRF token of ``page``, as its form does (following the redirect)."""
    return client.post(action, data=as_data([("csrf", csrf_of(client.get(page).text)), *fields]),
                       follow_redirects=True)


def test_the_mandate_form_is_pre_filled_and_an_empty_choice_never_widens_it(portal: TestClient, db: Database) -> None:
    r = portal.put(f"/v1/operator/mandates/{AFNEMER}/{INTERMEDIAIR}",
                   json={"products": ["polisadministratie", "verzuim"], "valid_until": "2027-06-30"})
    assert r.status_code == 200, r.text
    page = f"{ORG}/opdrachten/{INTERMEDIAIR}"
    action = f"{ORG}/opdrachten"
    assert f'href="{page}"' in portal.get(ORG).text  # the table offers the edit form
    shown = portal.get(page)
    assert shown.status_code == 200
    check_page(shown.text)
    fields = form_fields(shown.text, action)
    assert ("product", "polisadministratie") in fields and ("product", "verzuim") in fields
    assert ("valid_until", "2027-06-30") in fields and ("valid_from", "2026-01-01") in fields
    assert not any(name in {"all_products", "open_ended"} for name, _ in fields)
    # the form sent as it was shown changes nothing
    before = mandate_of(portal)
    assert posted(portal, page, action, fields).status_code == 200
    assert mandate_of(portal) == before

    # the audit's case: only the end date filled in, nothing ticked: refused on the field, nothing changes
    state = state_of(db)
    r = posted(portal, page, action, [("intermediair", INTERMEDIAIR), ("valid_until", "2027-12-31")])
    assert r.status_code == 422
    check_page(r.text)
    assert "Producten: Vink de producten aan die de opdracht omvat" in r.text
    assert 'value="2027-12-31"' in r.text  # what was typed is kept
    assert state_of(db) == state and mandate_of(portal)["products"] == ["polisadministratie", "verzuim"]
    # "all products" and products ticked: which one is meant is not guessed
    r = posted(portal, page, action, [("intermediair", INTERMEDIAIR), ("all_products", "1"),
                                      ("product", "verzuim"), ("valid_until", "2027-06-30")])
    assert r.status_code == 422 and "Producten: Vink ‘Alle producten van de afnemer’ aan óf" in r.text
    assert state_of(db) == state

    # all products and open-ended are explicit choices
    r = posted(portal, page, action, [("intermediair", INTERMEDIAIR), ("all_products", "1"), ("open_ended", "1")])
    assert r.status_code == 200, r.text
    after = mandate_of(portal)
    assert after["products"] is None and after["valid_until"] is None and after["valid_from"] == "2026-01-01"
    fields = form_fields(portal.get(page).text, action)
    assert ("all_products", "1") in fields and ("open_ended", "1") in fields and ("valid_until", "") in fields


def test_the_contract_form_is_pre_filled_and_an_empty_end_never_makes_it_open(portal: TestClient,
                                                                              db: Database) -> None:
    r = portal.put(f"/v1/operator/contracts/{AFNEMER}/verzuim", json={"valid_until": "2027-12-31"})
    assert r.status_code == 200, r.text
    page = f"{ORG}/contracten/verzuim"
    action = f"{ORG}/contracten"
    assert f'href="{page}"' in portal.get(ORG).text
    shown = portal.get(page)
    assert shown.status_code == 200
    check_page(shown.text)
    fields = form_fields(shown.text, action)
    assert ("product", "verzuim") in fields and ("valid_from", "2026-01-01") in fields
    assert ("valid_until", "2027-12-31") in fields and not any(name == "open_ended" for name, _ in fields)
    before = contract_of(portal, "verzuim")
    assert posted(portal, page, action, fields).status_code == 200
    assert contract_of(portal, "verzuim") == before

    # the audit's case: only a start date: the end is not lost but asked for
    state = state_of(db)
    r = posted(portal, page, action, [("product", "verzuim"), ("valid_from", "2026-02-01")])
    assert r.status_code == 422
    check_page(r.text)
    assert "Einddatum: Vul de laatste dag in, of vink ‘Geen einddatum’ aan." in r.text
    assert 'value="2026-02-01"' in r.text
    r = posted(portal, page, action, [("product", "verzuim"), ("valid_until", "2028-01-31"), ("open_ended", "1")])
    assert r.status_code == 422 and "niet allebei" in r.text
    assert state_of(db) == state and contract_of(portal, "verzuim") == before

    r = posted(portal, page, action, [("product", "verzuim"), ("valid_from", "2026-02-01"), ("open_ended", "1")])
    assert r.status_code == 200, r.text
    after = contract_of(portal, "verzuim")
    assert after["valid_from"] == "2026-02-01" and after["valid_until"] is None
    # an unknown contract has no form; the new-contract form offers only products without one
    assert portal.get(f"{ORG}/contracten/loonaangifte").status_code == 404
    new = form_fields(portal.get(ORG).text, action)
    assert ("product", "loonaangifte") in new
    assert portal.put(f"/v1/operator/contracts/{AFNEMER}/loonaangifte", json={}).status_code == 200
    assert "Voor elk product is er al een contract" in portal.get(ORG).text  # no form without a product to offer


def test_approving_and_rejecting_requests_are_confirmed(portal: TestClient, db: Database) -> None:
    portal.cookies.clear()
    for email, kvk in (("anna@molen.nl", "55555555"), ("bert@zaag.nl", "66666666")):
        r = portal.post("/v1/registrations", json={"email": email, "password": PASSWORD, "kvk": kvk,
                                                   "organisation_name": f"Org {kvk}", "name": f"Naam {kvk}"})
        assert r.status_code == 202
    login(portal, OPERATOR)
    page = portal.get("/operator/aanvragen")
    check_page(page.text)
    assert "Naam 55555555" in page.text  # the applicant's name
    ids = [int(x) for x in re.findall(r'href="/operator/aanvragen/(\d+)/goedkeuren"', page.text)]
    assert len(ids) == 2 and 'method="post"' not in page.text.split("<table")[1]  # links, no one-click forms
    done = confirmed(portal, f"/operator/aanvragen/{ids[0]}/goedkeuren", {"domains": "molen.nl"})
    assert "is goedgekeurd" in done.text
    assert portal.get("/v1/operator/organisations/55555555").json()["domains"] == ["molen.nl"]
    done = confirmed(portal, f"/operator/aanvragen/{ids[1]}/afwijzen", {"reason": "Onbekend bij de KvK"})
    assert "is afgewezen" in done.text
    assert portal.get(f"/operator/aanvragen/{ids[1]}/goedkeuren").status_code == 404  # decided: no longer open


def test_bad_domains_on_the_approval_come_back_on_the_form_for_the_operator(portal: TestClient, db: Database) -> None:
    """A free-mail domain, one the applicant's address is not under, and text that is no domain: each time the
    confirmation page again, the input kept, a Dutch error on the field addressed to the operator; nothing changes."""
    portal.cookies.clear()
    r = portal.post("/v1/registrations", json={"email": "anna@molen.nl", "password": PASSWORD, "kvk": "55555555",
                                               "organisation_name": "Molen B.V.", "name": "Anna Molenaar"})
    assert r.status_code == 202
    login(portal, OPERATOR)
    (number,) = re.findall(r'href="/operator/aanvragen/(\d+)/goedkeuren"', portal.get("/operator/aanvragen").text)
    page = f"/operator/aanvragen/{number}/goedkeuren"
    before = state_of(db)
    for typed, said in [
            ("gmail.com", "E-maildomeinen: gmail.com is een domein van gratis e-maildiensten"),
            ("andere.nl", "E-maildomeinen: Het e-mailadres van de aanvrager, anna@molen.nl, valt onder geen van "
                          "deze domeinen. Voeg molen.nl toe, of laat het veld leeg."),
            ("niet goed!", "E-maildomeinen: ‘niet’ is geen e-maildomein.")]:
        r = posted(portal, page, page, [("domains", typed)])
        assert r.status_code == 422, typed
        check_page(r.text)
        assert "<h1>Aanvraag goedkeuren</h1>" in r.text and said in r.text, typed
        assert f'value="{typed}" aria-invalid="true"' in r.text.replace("&#34;", '"'), typed
        assert "Gebruik uw zakelijke e-mailadres" not in r.text  # the applicant's words, not the operator's
        assert state_of(db) == before
    done = posted(portal, page, page, [("domains", "molen.nl")])
    assert "is goedgekeurd" in done.text
    assert portal.get("/v1/operator/organisations/55555555").json()["domains"] == ["molen.nl"]


def test_dead_letters_have_a_page_and_are_sent_again(portal: TestClient, db: Database) -> None:
    with db.tx("test") as t:
        t.mail(ALICE, "Uw toegangsrechten zijn gewijzigd", "tekst", "<p>tekst</p>")
    with db.engine.begin() as c:
        c.execute(sa.update(Outbox).values(status="dead", attempts=8, last_error="550 mailbox unavailable"))
    with db.engine.connect() as c:
        (row,) = c.execute(sa.select(Outbox.id, Outbox.to_addr)).all()
    page = portal.get("/operator/e-mails")
    assert page.status_code == 200
    check_page(page.text)
    assert row.to_addr in page.text and "550 mailbox unavailable" in page.text and "juni 2026" in page.text
    done = post_form(portal, "/operator/e-mails", f"/operator/e-mails/{row.id}/opnieuw", {})
    assert "De e-mail wordt opnieuw verstuurd" in done.text and "Er zijn geen niet bezorgde e-mails" in done.text
    with db.engine.connect() as c:
        assert c.execute(sa.select(Outbox.status).where(Outbox.id == row.id)).scalar_one() == "pending"
    again = post_form(portal, "/operator/e-mails", f"/operator/e-mails/{row.id}/opnieuw", {})
    assert "Alleen een e-mail die niet kon worden bezorgd" in again.text
