"""R18 end to end in Debian's Chromium (JavaScript off) on a real ``authz serve``: an organisation whose only
beheerder was deactivated; the operator appoints a beheerder through the confirmation page, and that new beheerder
logs in and sees the beheerder's pages. The operator's pages fit a phone's width."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser import PHONE, log_in, log_out, shoot, wait_for_mail
from tests.factories import PASSWORD
from tests.test_ui_browser import OPERATOR, Portal, page, portal, smtp  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.browser

KVK = "11111111"
GONE = "piet@korenschoof.nl"  # the only beheerder, deactivated
ANNA = "anna@korenschoof.nl"


def test_the_operator_appoints_a_beheerder_where_the_only_one_left(page: Page, portal: Portal) -> None:  # noqa: F811
    world = portal.world
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(GONE, KVK)
    world.account(ANNA, KVK, name="Anna de Vries")
    world.set_status(GONE, "inactive")

    log_in(page, portal.url, OPERATOR, PASSWORD)
    page.wait_for_url("**/operator/aanvragen")
    page.goto(f"/operator/organisaties/{KVK}")
    assert "geen actieve beheerder" in page.content()
    shoot(page, "r18-01-organisatie-zonder-beheerder")
    page.get_by_role("link", name=f"Beheerder maken van {ANNA}").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Beheerder aanwijzen"
    shoot(page, "r18-02-bevestigen")
    page.get_by_role("button", name=f"Aanwijzen als beheerder: {ANNA}").click()
    assert f"{ANNA} is nu beheerder van Bakkerij De Korenschoof" in page.locator("[role=status]").inner_text()
    assert "geen actieve beheerder" not in page.content()

    # The operator's pages fit a phone, without horizontal scrolling.
    page.set_viewport_size(PHONE)
    for path in (f"/operator/organisaties/{KVK}", f"/operator/organisaties/{KVK}/accounts/anna%40korenschoof.nl/"
                 "deactiveren", "/operator/e-mails"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    shoot(page, "r18-03-telefoon")
    log_out(page)

    # The new beheerder was told, logs in and sees the beheerder's pages.
    wait_for_mail(portal.smtp, ANNA, "beheerder")
    log_in(page, portal.url, ANNA, PASSWORD)
    page.get_by_role("link", name="Toegangsrechten beheren").click()
    page.wait_for_url("**/toegangsrechten")
    assert page.get_by_role("heading", level=1).count() == 1
    assert ANNA in page.content()
    shoot(page, "r18-04-nieuwe-beheerder")


LONG = "zeer.lange.naam.van.een.medewerker.met.een.heel.lang.adres@samenwerkingsverbandsbelangen.nl"
NAMELESS = "nog.een.veel.te.lang.adres.zonder.naam.voor.de.proef@samenwerkingsverbandsbelangen.nl"


def test_long_addresses_fit_a_phone_on_history_and_confirmation_pages(page: Page, portal: Portal) -> None:  # noqa: F811
    """A user's history (its heading names the person, else the address) and the operator's confirmation pages,
    whose button names the account, break a long address instead of scrolling sideways at 375 px."""
    world = portal.world
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(ANNA, KVK)
    world.account(LONG, KVK, roles=("beheerder",), name="Maximiliaan van Oldenbarnevelt-Wassenaer")
    world.account(NAMELESS, KVK)
    page.set_viewport_size(PHONE)

    log_in(page, portal.url, OPERATOR, PASSWORD)
    page.wait_for_url("**/operator/aanvragen")
    for step in ("intrekken", "deactiveren"):
        page.goto(f"/operator/organisaties/{KVK}/accounts/{LONG.replace('@', '%40')}/{step}")
        assert page.get_by_role("heading", level=1).count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], step
    shoot(page, "r18-05-telefoon-lang-adres")
    log_out(page)

    log_in(page, portal.url, ANNA, PASSWORD)
    page.wait_for_url("**/toegangsrechten")
    page.goto(f"/toegangsrechten/{LONG}/geschiedenis")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "Geschiedenis van Maximiliaan van Oldenbarnevelt-Wassenaer"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(f"/toegangsrechten/{NAMELESS}/geschiedenis")
    assert page.get_by_role("heading", level=1).inner_text() == f"Geschiedenis van {NAMELESS}"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
