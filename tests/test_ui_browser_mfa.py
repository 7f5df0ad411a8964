"""R17 end to end in Debian's Chromium (JavaScript off) on a real ``authz serve`` with ``AUTHZ_MFA_REQUIRED=admins``:
a beheerder logs in, is led to enrolment, scans (reads) the secret, confirms with a code, sees the recovery codes,
logs out and logs in again in two steps."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from authz.domain import mfa as rules
from authz.store.db import Database
from tests.browser import DESKTOP, log_in, log_out, shoot
from tests.factories import PASSWORD, World
from tests.instances import Instance

pytestmark = pytest.mark.browser

KVK = "11111111"
ANNA = "anna@korenschoof.nl"


@pytest.fixture
def page(chromium: Browser, sqlite_url: str) -> Iterator[Page]:
    db = Database(sqlite_url)
    world = World(db)
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(ANNA, KVK)
    instance = Instance({"AUTHZ_DATABASE_URL": sqlite_url, "AUTHZ_SECRET_KEY": "browser-mfa-secret",
                         "AUTHZ_MFA_REQUIRED": "admins"}, "ui-mfa")
    try:
        instance.wait_ready()
        context = chromium.new_context(java_script_enabled=False, viewport=DESKTOP, base_url=instance.url,
                                       locale="nl-NL")
        yield context.new_page()
        context.close()
    finally:
        instance.stop()
        db.dispose()


def code(secret: str, steps: int = 0) -> str:
    return rules.code_at(secret, int(time.time()) // rules.PERIOD + steps)


def test_enrol_then_log_in_with_a_code(page: Page) -> None:
    log_in(page, "", ANNA, PASSWORD)
    page.wait_for_url("**/account/tweede-factor")
    page.get_by_role("button", name="Tweede factor instellen").click()
    assert page.locator(".qr svg").count() == 1
    shoot(page, "mfa-01-qr-code")
    secret = page.locator("code.secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.get_by_label("Code uit de app (6 cijfers)").fill(code(secret))
    page.get_by_role("button", name="Bevestigen").click()
    assert page.get_by_role("heading", name="Uw herstelcodes").count() == 1
    assert page.locator("ul.codes li").count() == 10
    shoot(page, "mfa-02-herstelcodes")
    log_out(page)

    log_in(page, "", ANNA, PASSWORD)
    assert "heeft een tweede factor" in page.content()
    shoot(page, "mfa-03-inloggen-code")
    page.get_by_label("Code").fill(code(secret, 1))  # the next step: the confirming code is used up
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url("**/toegangsrechten")
