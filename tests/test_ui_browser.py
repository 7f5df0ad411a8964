"""End to end in Debian's Chromium (Playwright, JavaScript off): a real ``authz serve`` on a fresh database, e-mails
through a real SMTP server, the decision API asked over HTTP.

The path of the issue: register the first account → the operator approves (and sets up products and contracts) →
the activation link from the e-mail → log in → invite a user → the user accepts (chooses a password) → the
beheerder approves → the user activates → tick two products → Opslaan → /v1/check allows → untick one → denied
at once → the user got both e-mails. And the intermediair's path. Screenshots of each screen go to
tests/artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from authz.store import keys
from authz.store.db import Database
from tests.browser import DESKTOP, PHONE, link_path, log_in, log_out, shoot, wait_for_mail
from tests.factories import PASSWORD, World
from tests.instances import Instance
from tests.mailbox import Mailbox

pytestmark = pytest.mark.browser

OPERATOR = "operator@gegevensdiensten.nl"
KVK = "11111111"
GRANTS_CHANGED = "toegangsrechten op Mijn Gegevensdiensten zijn gewijzigd"


@pytest.fixture(scope="module")
def smtp() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@dataclass
class Portal:
    url: str
    instance: Instance
    world: World
    key: str
    smtp: Mailbox

    def check(self, user: str, product: str, afnemer: str | None = None) -> dict[str, Any]:
        body = {"user": user, "product": product, **({"afnemer": afnemer} if afnemer else {})}
        r = self.instance.client.post("/v1/check", json=body, headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


@pytest.fixture
def portal(sqlite_url: str, smtp: Mailbox) -> Iterator[Portal]:
    """A real ``authz serve`` on a fresh database with an operator and a service key, e-mailing to ``smtp``."""
    smtp.messages.clear()
    db = Database(sqlite_url)
    world = World(db)
    world.operator(OPERATOR)
    with db.tx("test") as t:
        key = keys.create(t, "portaal")
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SMTP_URL": smtp.url,
                         "AUTHZ_SECRET_KEY": "browser-test-secret", "AUTHZ_BASE_URL": "http://portaal.test"}, "ui")
    try:
        instance.wait_ready()
        yield Portal(instance.url, instance, world, key, smtp)
    finally:
        instance.stop()
        db.dispose()


@pytest.fixture
def page(chromium: Browser, portal: Portal) -> Iterator[Page]:
    """A fresh browser context without JavaScript: everything must work with plain HTML forms."""
    context = chromium.new_context(java_script_enabled=False, viewport=DESKTOP, base_url=portal.url, locale="nl-NL")
    pg = context.new_page()
    yield pg
    context.close()


def register(page: Page, name: str, email: str, organisation: str = "") -> None:
    page.goto("/account-aanvragen")
    page.get_by_label("Uw naam").fill(name)
    page.get_by_label("Zakelijk e-mailadres").fill(email)
    page.get_by_label("KvK-nummer van uw organisatie").fill(KVK)
    if organisation:
        page.get_by_label("Naam van uw organisatie").fill(organisation)
    page.get_by_label("Kies een wachtwoord").fill(PASSWORD)
    page.get_by_label("Herhaal het wachtwoord").fill(PASSWORD)


def activate(page: Page, portal: Portal, email: str) -> None:
    mail = wait_for_mail(portal.smtp, email, "goedgekeurd")[-1]
    page.goto(link_path(mail, "activeren"))
    page.get_by_role("button", name="Account activeren").click()
    assert "is geactiveerd" in page.locator("[role=status]").inner_text()


def test_first_account_to_a_decision_and_back(page: Page, portal: Portal) -> None:
    anna, jan = "anna@bakkerij.nl", "jan@bakkerij.nl"

    # 1. The first account of an unknown organisation.
    register(page, "Anna de Vries", anna, "Bakkerij De Korenschoof")
    shoot(page, "01-account-aanvragen")
    page.get_by_role("button", name="Account aanvragen").click()
    assert "Wij controleren uw gegevens" in page.content()

    # 2. The operator approves it, and sets up products and contracts.
    log_in(page, portal.url, OPERATOR, PASSWORD)
    page.wait_for_url("**/operator/aanvragen")
    shoot(page, "02-operator-aanvragen")
    page.get_by_role("link", name="Goedkeuren Anna de Vries").click()  # the confirmation step
    page.get_by_role("button", name="Goedkeuren").click()
    assert "is goedgekeurd" in page.locator("[role=status]").inner_text()
    page.goto("/operator/producten")
    for code, name in [("polisadministratie", "Polisadministratie"), ("loonaangifte", "Loonaangifte"),
                       ("verzuim", "Verzuimgegevens")]:
        page.get_by_label("Code").fill(code)
        page.get_by_label("Naam", exact=True).fill(name)
        page.get_by_role("button", name="Product toevoegen").click()
    page.goto(f"/operator/organisaties/{KVK}")
    for code in ("polisadministratie", "loonaangifte", "verzuim"):
        page.get_by_label("Product", exact=True).select_option(code)
        page.locator("#contract-open").check()  # "Geen einddatum": open-ended is a choice, not an empty field
        page.get_by_role("button", name="Contract opslaan").click()
    shoot(page, "03-operator-organisatie")
    log_out(page)

    # 3. The activation link from the e-mail, then log in: the first account is the beheerder.
    activate(page, portal, anna)
    shoot(page, "04-inloggen")
    log_in(page, portal.url, anna, PASSWORD)
    page.wait_for_url("**/toegangsrechten")
    log_out(page)

    # 4. The beheerder invites a colleague, who chooses a password; the beheerder approves; the colleague activates.
    log_in(page, portal.url, anna, PASSWORD)
    page.get_by_role("link", name="Gebruiker uitnodigen").click()
    page.get_by_label("Zakelijk e-mailadres").fill(jan)
    page.get_by_role("button", name="Uitnodiging versturen").click()
    assert f"{jan} heeft een uitnodiging" in page.locator("[role=status]").inner_text()
    shoot(page, "05-uitnodigen")
    log_out(page)
    invitation = wait_for_mail(portal.smtp, jan, "Uitnodiging")[-1]
    page.goto(link_path(invitation, "uitnodiging"))
    page.get_by_label("Uw naam").fill("Jan Jansen")
    page.get_by_label("Kies een wachtwoord").fill(PASSWORD)
    page.get_by_label("Herhaal het wachtwoord").fill(PASSWORD)
    shoot(page, "06-uitnodiging-accepteren")
    page.get_by_role("button", name="Account aanmaken").click()
    assert "De beheerder van uw organisatie keurt uw account goed" in page.content()
    log_in(page, portal.url, anna, PASSWORD)
    page.get_by_role("link", name="Accountaanvragen").click()
    shoot(page, "07-aanvragen")
    page.get_by_role("link", name="Goedkeuren Jan Jansen").click()
    shoot(page, "07b-aanvraag-goedkeuren")
    page.get_by_role("button", name="Ja, aanvraag van Jan Jansen goedkeuren").click()
    assert "De aanvraag van Jan Jansen is goedgekeurd" in page.locator("[role=status]").inner_text()
    log_out(page)
    activate(page, portal, jan)

    # 5. Toegangsrechten beheren → the user → tick two products → Opslaan.
    log_in(page, portal.url, anna, PASSWORD)
    page.get_by_role("link", name="Toegangsrechten beheren").click()
    page.get_by_label("Zoek op e-mailadres of naam").fill("jansen")
    page.get_by_role("button", name="Zoeken").click()
    shoot(page, "08-toegangsrechten-overzicht")
    page.get_by_role("link", name="Jan Jansen").click()
    page.get_by_label("Polisadministratie").check()
    page.get_by_label("Loonaangifte").check()
    page.get_by_role("button", name="Opslaan").click()
    notice = page.locator("[role=status]").inner_text()
    assert "Toegevoegd: Loonaangifte, Polisadministratie." in notice and "Jan Jansen heeft hierover" in notice
    shoot(page, "09-toegangsrechten-gebruiker")
    assert portal.check(jan, "polisadministratie")["allowed"] is True
    assert portal.check(jan, "loonaangifte")["allowed"] is True
    assert portal.check(jan, "verzuim")["reason"] == "no_grant"

    # 6. Untick one: denied at once.
    page.get_by_label("Polisadministratie").uncheck()
    page.get_by_role("button", name="Opslaan").click()
    assert "Verwijderd: Polisadministratie." in page.locator("[role=status]").inner_text()
    denied = portal.check(jan, "polisadministratie")
    assert denied["allowed"] is False and denied["reason"] == "no_grant"
    assert portal.check(jan, "loonaangifte")["allowed"] is True

    # 7. The user got one e-mail per save.
    assert len(wait_for_mail(portal.smtp, jan, GRANTS_CHANGED, count=2)) == 2

    # 8. The beheerders page advises a second beheerder; the audit trail shows the saves.
    page.get_by_role("link", name="Beheerders").click()
    assert "Wijs een tweede beheerder aan" in page.content()
    shoot(page, "10-beheerders")
    page.get_by_role("link", name="Logboek").click()
    page.get_by_label("Gebruiker (e-mailadres of een deel ervan)").fill("jan")
    page.get_by_role("button", name="Filteren").click()
    assert "Anna de Vries gaf Jan Jansen toegang tot" in page.content()
    shoot(page, "11-logboek")


def test_intermediair_path(page: Page, portal: Portal) -> None:
    w = portal.world
    w.org("22222222", "Zorgverzekeraar Noord")
    w.org("33333333", "Salarisbureau Midden")
    for code in ("verzuim", "loonaangifte"):
        w.product(code, code.title())
        w.contract("22222222", code)
    w.mandate("22222222", "33333333", ["verzuim"])
    w.beheerder("beheer@salaris.nl", "33333333")
    w.account("kim@salaris.nl", "33333333", name="Kim Bakker")
    w.account("lid@salaris.nl", "33333333", name="Lid Zonder Rechten")

    log_in(page, portal.url, "beheer@salaris.nl", PASSWORD)
    page.get_by_role("link", name="Toegangsrechten beheren").click()
    page.get_by_role("link", name="Intermediair", exact=True).click()
    shoot(page, "12-organisaties-onder-beheer")
    page.get_by_role("link", name="Kim Bakker").click()
    page.get_by_label("Zorgverzekeraar Noord", exact=True).check()
    page.get_by_role("button", name="Afnemer kiezen").click()
    assert page.get_by_label("Loonaangifte").count() == 0  # outside the mandate (R2)
    page.get_by_label("Verzuim").check()
    page.get_by_role("button", name="Opslaan").click()
    assert "Toegevoegd: Verzuim." in page.locator("[role=status]").inner_text()
    answer = portal.check("kim@salaris.nl", "verzuim", "22222222")
    assert answer["allowed"] is True and answer["afnemers"] == ["22222222"]
    wait_for_mail(portal.smtp, "kim@salaris.nl", GRANTS_CHANGED)

    # Readable at phone width: no screen is wider than the phone.
    page.set_viewport_size(PHONE)
    page.reload()
    shoot(page, "13-telefoon-gebruiker")
    for path in [page.url, "/toegangsrechten", "/organisaties-onder-beheer", "/aanvragen",
                 "/uitnodigen", "/beheerders", "/audit", "/account"]:
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path


def test_keyboard_skip_link_and_visible_focus(page: Page, portal: Portal) -> None:
    page.goto("/inloggen")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.inner_text() == "Naar de inhoud"
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert page.url.endswith("#inhoud")
    page.get_by_label("Zakelijk e-mailadres").focus()
    page.keyboard.type(OPERATOR)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/operator/aanvragen")
    assert page.locator("h1").count() == 1


def test_the_policy_check_and_the_logbook_fit_at_desktop_and_phone_width(page: Page, portal: Portal) -> None:
    """/operator/controle and the Logboeken: no horizontal scroll at 1280 and 375 px; long words wrap."""
    w = portal.world
    w.org("33333333", "Stichting Samenwerkingsverbandsbelangenbehartigingsorganisatie Noordoostpolder B.V.")
    w.org("44444444", "Zonder Beheerder B.V.")
    w.product("polisadministratie", "Polisadministratie")
    w.contract("33333333", "polisadministratie")
    long = "zeer.lange.naam.van.een.medewerker.met.een.heel.lang.adres@samenwerkingsverbandsbelangen.nl"
    w.account(long, "33333333", roles=("beheerder",), name="Maximiliaan van Oldenbarnevelt-Wassenaer")
    w.grant(long, "33333333", ["polisadministratie"])
    w.account("alleen@zonder.nl", "44444444", name="Alleen Gebruiker")
    log_in(page, portal.url, OPERATOR, PASSWORD)
    page.wait_for_url("**/operator/aanvragen")
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        for path in ("/operator/controle", "/operator/logboek"):
            page.goto(path)
            assert page.locator("h1").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], (path, viewport)
            wrap = page.locator(".table-wrap").first
            assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), (path, viewport)
        shoot(page, f"controle-{viewport['width']}")
    page.goto("/operator/controle")
    body = page.locator("main").inner_text()
    assert "Eén beheerder" in body and "Maximiliaan van Oldenbarnevelt-Wassenaer" in body
    assert "single_beheerder" not in body and "R4" not in body and "grant:" not in body
