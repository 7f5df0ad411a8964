"""Driving Debian's Chromium through Playwright's sync API, for the admin UI's end-to-end tests.

Chromium comes from the Debian package (``.ci/ensure-chromium``), never from ``playwright install``. Screenshots of
each screen are kept in ``tests/artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

from tests.mailbox import Mailbox, subject_of, text_of

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}


def launch(pw: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run .ci/ensure-chromium")
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def shoot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot of the current screen as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_mail(box: Mailbox, to: str, subject_part: str, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
    """The e-mails to ``to`` whose subject contains ``subject_part``, once at least ``count`` have arrived (the
    instance's outbox sender delivers them in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in box.to(to) if subject_part in subject_of(m)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{to} got {[subject_of(m) for m in box.to(to)]}"
            return found
        time.sleep(0.05)


def link_path(msg: EmailMessage, kind: str) -> str:
    """The path of the ``/activeren/…`` or ``/uitnodiging/…`` link in an e-mail (to open on the test's instance)."""
    found = re.findall(rf"https?://[^/\s]+(/{kind}/[A-Za-z0-9_-]+)", text_of(msg))
    assert found, text_of(msg)
    path: str = found[-1]
    return path


def log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/inloggen")
    page.get_by_label("Zakelijk e-mailadres").fill(email)
    page.get_by_label("Wachtwoord", exact=True).fill(password)
    page.get_by_role("button", name="Inloggen").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Uitloggen").click()
