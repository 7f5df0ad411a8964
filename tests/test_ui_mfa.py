"""R17 in the portal, through the TestClient: a beheerder without a second factor is led to enrolment from every
page, enrols from Mijn account (a QR code in inline SVG that passes the CSP, the secret as text, then the recovery
codes), and logs in again in two steps: password, then code."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.domain import mfa as rules
from tests.factories import PASSWORD, World
from tests.ui.helpers import check_page, csrf_of, post_form

KVK = "11111111"
ANNA = "anna@korenschoof.nl"


@pytest.fixture
def portal(settings: Settings, clock: FrozenClock, world: World) -> Iterator[TestClient]:
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(ANNA, KVK)
    with TestClient(create_app(dataclasses.replace(settings, mfa_required="admins"), clock),
                    base_url="http://testserver") as c:
        yield c


def log_in(c: TestClient, password: str = PASSWORD) -> object:
    return post_form(c, "/inloggen", "/inloggen", {"email": ANNA, "password": password}, follow=False)


def code(secret: str, clock: FrozenClock) -> str:
    return rules.code_at(secret, rules.step_of(clock.now()))


def test_a_beheerder_enrols_from_the_portal_and_logs_in_with_a_code(portal: TestClient,
                                                                   clock: FrozenClock) -> None:
    r = log_in(portal)
    assert r.status_code == 303 and r.headers["location"] == "/account/tweede-factor"  # type: ignore[attr-defined]
    # every other page says 403 and leads to enrolment
    for path in ("/toegangsrechten", "/account", "/audit"):
        page = portal.get(path)
        assert page.status_code == 403 and 'href="/account/tweede-factor"' in page.text, path
    assert portal.get("/", follow_redirects=False).headers["location"] == "/account/tweede-factor"

    start = post_form(portal, "/account/tweede-factor", "/account/tweede-factor/instellen", {})
    assert start.status_code == 200
    check_page(start.text)
    svg = re.search(r"<svg.*?</svg>", start.text, re.S)
    assert svg is not None and "style=" not in svg.group(0) and "<script" not in start.text
    assert "script-src 'self'" in start.headers["content-security-policy"]
    secret = re.search(r'<code class="secret">([A-Z2-7]{32})</code>', start.text)
    assert secret is not None

    wrong = portal.post("/account/tweede-factor/bevestigen", data={"csrf": csrf_of(start.text), "otp": "000000"})
    assert "Deze code klopt niet" in wrong.text
    again = post_form(portal, "/account/tweede-factor", "/account/tweede-factor/instellen", {})
    secret = re.search(r'<code class="secret">([A-Z2-7]{32})</code>', again.text)
    assert secret is not None
    done = portal.post("/account/tweede-factor/bevestigen",
                       data={"csrf": csrf_of(again.text), "otp": code(secret.group(1), clock)})
    assert done.status_code == 200 and "Uw herstelcodes" in done.text
    assert len(re.findall(r"<li><code>[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}</code></li>", done.text)) == 10
    assert portal.get("/toegangsrechten").status_code == 200

    portal.cookies.clear()
    clock.advance(seconds=rules.PERIOD)
    step = log_in(portal)
    assert step.status_code == 401 and 'name="otp"' in step.text  # type: ignore[attr-defined]
    assert "heeft een tweede factor" in step.text  # type: ignore[attr-defined]
    token = csrf_of(step.text)  # type: ignore[attr-defined]
    bad = portal.post("/inloggen", data={"csrf": token, "email": ANNA, "password": PASSWORD, "otp": "000000"})
    assert bad.status_code == 401 and "Deze code klopt niet" in bad.text and 'name="otp"' in bad.text
    ok = portal.post("/inloggen", data={"csrf": token, "email": ANNA, "password": PASSWORD,
                                        "otp": code(secret.group(1), clock)}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/toegangsrechten"


def test_a_wrong_password_never_reaches_the_code_step(portal: TestClient) -> None:
    r = log_in(portal, "not the password")
    assert r.status_code == 401 and 'name="otp"' not in r.text  # type: ignore[attr-defined]
    assert "klopt niet" in r.text  # type: ignore[attr-defined]
