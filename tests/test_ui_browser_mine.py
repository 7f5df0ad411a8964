"""Mijn producten (R16) end to end in Debian's Chromium (Playwright, JavaScript off) against a real ``authz serve``:
the gebruiker, logged in in one browser context, reloads /producten while a beheerder in another ticks two products
and then unticks one; each reload shows the current state, without logging in again (R11). The page at phone width,
by keyboard. Its desktop screenshot (1280 px), 20-mijn-producten, is kept as docs/screenshots/mijn-producten.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from authz.clock import Clock
from authz.service.accounts import dutch_date
from authz.store import catalogue
from authz.store.db import Database
from tests.browser import DESKTOP, PHONE, log_in, shoot
from tests.factories import PASSWORD, World
from tests.instances import Instance

pytestmark = pytest.mark.browser

KVK = "11111111"
BEHEERDER = "anna@korenschoof.nl"
USER = "jan@korenschoof.nl"


@pytest.fixture
def portal(sqlite_url: str) -> Iterator[tuple[str, Database]]:
    """A real ``authz serve`` on a fresh database: an afnemer with three contracted products (one with a link)
    and one ended, its beheerder and a gebruiker who holds the ended one."""
    db = Database(sqlite_url)
    world = World(db)
    world.org(KVK, "Bakkerij De Korenschoof B.V.")
    for code, name in [("polisadministratie", "Polisadministratie"), ("loonaangifte", "Loonaangifte"),
                       ("verzuim", "Verzuimgegevens"), ("jaaropgaaf", "Jaaropgaaf")]:
        world.product(code, name)
        world.contract(KVK, code, date(2026, 1, 1))
    with db.tx("operator@gegevensdiensten.nl") as t:
        catalogue.put_product(t, "polisadministratie", {"url": "https://download.example.nl/polisadministratie"})
    world.account(BEHEERDER, KVK, roles=("beheerder",), name="Anna de Vries")
    world.account(USER, KVK, name="Jan Jansen")
    world.grant(USER, KVK, ["jaaropgaaf"], by=BEHEERDER)
    world.contract(KVK, "jaaropgaaf", date(2025, 1, 1), date(2025, 12, 31))
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SECRET_KEY": "browser-test-secret",
                         "AUTHZ_BASE_URL": "http://portaal.test"}, "ui-mine")
    try:
        instance.wait_ready()
        yield instance.url, db
    finally:
        instance.stop()
        db.dispose()


def context(chromium: Browser, url: str) -> BrowserContext:
    return chromium.new_context(java_script_enabled=False, viewport=DESKTOP, base_url=url, locale="nl-NL")


def products_shown(page: Page) -> list[str]:
    """The product names in the tables, without the link's words for screen readers."""
    cells = page.locator("main table td[data-label=Product]").all_inner_texts()
    return [t.replace("(openen)", "").strip() for t in cells]


def test_the_gebruiker_sees_a_beheerders_change_on_the_next_reload(chromium: Browser,
                                                                   portal: tuple[str, Database]) -> None:
    url, _ = portal
    user_context, beheerder_context = context(chromium, url), context(chromium, url)
    try:
        user, beheerder = user_context.new_page(), beheerder_context.new_page()
        log_in(user, url, USER, PASSWORD)
        user.wait_for_url("**/producten")  # the gebruiker's home (R16)
        assert user.locator("h1").inner_text() == "Mijn producten"
        assert "U heeft nog geen producten" in user.content()
        assert ("Het contract van Bakkerij De Korenschoof B.V. voor Jaaropgaaf is beëindigd; de laatste dag was 31 "
                "december 2025.") in user.content()

        log_in(beheerder, url, BEHEERDER, PASSWORD)
        beheerder.wait_for_url("**/toegangsrechten")
        assert beheerder.get_by_role("link", name="Mijn producten").count() == 1
        beheerder.get_by_role("link", name="Jan Jansen").click()
        beheerder.get_by_label("Polisadministratie").check()
        beheerder.get_by_label("Verzuimgegevens").check()
        beheerder.get_by_role("button", name="Opslaan").click()
        assert "Toegevoegd: Polisadministratie, Verzuimgegevens." in beheerder.locator("[role=status]").inner_text()

        user.reload()
        assert products_shown(user) == ["Polisadministratie", "Verzuimgegevens"]
        assert user.get_by_role("heading", name="Bakkerij De Korenschoof B.V.").count() == 1
        assert user.get_by_role("link", name="Polisadministratie").get_attribute("href") == \
            "https://download.example.nl/polisadministratie"
        since = user.locator("main table td[data-label=Sinds]").all_inner_texts()
        assert since == [dutch_date(Clock().today())] * 2  # the instance runs on the real clock
        assert user.locator("main table td[data-label='Gekoppeld door']").all_inner_texts() == ["Anna de Vries"] * 2
        shoot(user, "20-mijn-producten")  # docs/screenshots/mijn-producten.png is a copy of it

        beheerder.get_by_label("Polisadministratie").uncheck()
        beheerder.get_by_role("button", name="Opslaan").click()
        assert "Verwijderd: Polisadministratie." in beheerder.locator("[role=status]").inner_text()

        user.reload()
        assert products_shown(user) == ["Verzuimgegevens"]
        assert "Polisadministratie" not in user.locator("main").inner_text()

        # By keyboard: the skip link, then the navigation; the focus stays visible. No wider than a phone.
        user.keyboard.press("Tab")
        assert user.locator(":focus").inner_text() == "Naar de inhoud"
        assert user.locator(":focus").evaluate("e => getComputedStyle(e).outlineStyle") != "none"
        user.set_viewport_size(PHONE)
        user.reload()
        shoot(user, "21-mijn-producten-telefoon")
        assert user.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        beheerder.set_viewport_size(PHONE)
        beheerder.goto("/operator/producten")  # not the operator's page: a 403 page, also at phone width
        assert beheerder.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        user_context.close()
        beheerder_context.close()
