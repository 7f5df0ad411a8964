"""R17 in the portal, through the TestClient: a beheerder without a second factor is led to enrolment from every
page, enrols from Mijn account (a QR code in inline SVG that passes the CSP, the secret as text, then the recovery
codes), and logs in again in two steps: password, then code."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz import secretbox
from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.domain import mfa as rules
from authz.service import halflogin
from authz.store.db import Database
from authz.store.schema import Account
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


HALF_RE = re.compile(r'<input type="hidden" name="login" value="([^"]+)">')


def half_of(html: str) -> str:
    """The half-login token that the code page carries."""
    found = HALF_RE.findall(html)
    assert len(found) == 1, "no half-login token on the page"
    return str(found[0])


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
    token, half = csrf_of(step.text), half_of(step.text)  # type: ignore[attr-defined]
    bad = portal.post("/inloggen", data={"csrf": token, "email": ANNA, "login": half, "otp": "000000"})
    assert bad.status_code == 401 and "Deze code klopt niet" in bad.text and 'name="otp"' in bad.text
    assert half_of(bad.text) == half  # a wrong code keeps the second step
    ok = portal.post("/inloggen", data={"csrf": token, "email": ANNA, "login": half,
                                        "otp": code(secret.group(1), clock)}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/toegangsrechten"


def test_a_wrong_password_never_reaches_the_code_step(portal: TestClient) -> None:
    r = log_in(portal, "not the password")
    assert r.status_code == 401 and 'name="otp"' not in r.text  # type: ignore[attr-defined]
    assert "klopt niet" in r.text  # type: ignore[attr-defined]


# -- the half-login token: what the code page carries instead of the password -----------------------------------

BOB = "bob@korenschoof.nl"


def enrolled(c: TestClient, clock: FrozenClock, email: str) -> str:
    """Enrol ``email`` through the JSON API, then log out; its TOTP secret. The clock moves on a step, so that the
    confirming code is not the next log-in's."""
    assert c.post("/v1/session", json={"email": email, "password": PASSWORD}).status_code == 200
    secret = str(c.post("/v1/session/mfa", json={}).json()["secret"])
    assert c.post("/v1/session/mfa/confirm", json={"otp": code(secret, clock)}).status_code == 200
    c.cookies.clear()
    clock.advance(seconds=rules.PERIOD)
    return secret


def second_step(c: TestClient, email: str = ANNA) -> tuple[str, str]:
    """Log in with the right password; (the CSRF token, the half-login token) of the code page."""
    page = c.get("/inloggen")
    step = c.post("/inloggen", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD})
    assert step.status_code == 401 and 'name="otp"' in step.text
    return csrf_of(step.text), half_of(step.text)


def with_code(c: TestClient, csrf: str, half: str, otp: str, email: str = ANNA) -> object:
    return c.post("/inloggen", data={"csrf": csrf, "email": email, "login": half, "otp": otp},
                  follow_redirects=False)


def refused(c: TestClient, r: object) -> None:
    """Refused as a wrong password is, back at the password step, and no session."""
    assert r.status_code == 401, r.text  # type: ignore[attr-defined]
    assert "Het e-mailadres of wachtwoord klopt niet" in r.text  # type: ignore[attr-defined]
    assert 'name="otp"' not in r.text and 'name="password"' in r.text  # type: ignore[attr-defined]
    assert not any(v.startswith("authz_session=") for v in r.headers.get_list("set-cookie"))  # type: ignore[attr-defined]
    assert c.get("/v1/session").status_code == 401


def test_the_code_page_carries_a_sealed_token_and_never_the_password(portal: TestClient, clock: FrozenClock,
                                                                       settings: Settings) -> None:
    enrolled(portal, clock, ANNA)
    page = portal.get("/inloggen")
    step = portal.post("/inloggen", data={"csrf": csrf_of(page.text), "email": ANNA, "password": PASSWORD})
    assert step.status_code == 401 and 'name="otp"' in step.text
    check_page(step.text)
    assert PASSWORD not in step.text and 'name="password"' not in step.text
    half = half_of(step.text)
    # Opaque: the sealed token opens only with the secret key, and names the account and an expiry, no password.
    claims = halflogin.open_token(settings.secret_key, ANNA, half, clock.now())
    assert claims is not None and claims.email == ANNA
    assert claims.expires - int(clock.now().timestamp()) == halflogin.TTL
    opened = secretbox.unseal(settings.secret_key, halflogin.PURPOSE, f"login:{ANNA}", half)
    assert opened is not None and PASSWORD not in opened and "argon2" not in opened
    assert PASSWORD not in base64.urlsafe_b64decode(half).decode("latin-1")


def test_the_two_step_log_in_completes_with_the_token_and_a_code(portal: TestClient, clock: FrozenClock) -> None:
    secret = enrolled(portal, clock, ANNA)
    csrf, half = second_step(portal)
    ok = with_code(portal, csrf, half, code(secret, clock))
    assert ok.status_code == 303 and ok.headers["location"] == "/toegangsrechten"  # type: ignore[attr-defined]
    assert portal.get("/v1/session").json()["email"] == ANNA
    assert portal.get("/toegangsrechten").status_code == 200


def test_a_forged_altered_or_foreign_token_is_refused(portal: TestClient, clock: FrozenClock, world: World,
                                                      settings: Settings, db: Database) -> None:
    world.beheerder(BOB, KVK)
    secret = enrolled(portal, clock, ANNA)
    enrolled(portal, clock, BOB)
    csrf, half = second_step(portal)
    _, bobs = second_step(portal, BOB)
    with db.engine.connect() as conn:
        anna_id = conn.execute(sa.select(Account.id).where(Account.email == ANNA)).scalar_one()
    flipped = half[:20] + ("A" if half[20] != "A" else "B") + half[21:]
    forged = [  # four: each counts as a failed log-in of Anna's, and a fifth attempt must still pass
        flipped,
        bobs,  # Bob's token, presented for Anna
        halflogin.issue("another-key", anna_id, ANNA, "any", clock.now()),  # sealed under another key
        halflogin.issue(settings.secret_key, anna_id, ANNA, "$argon2id$not-hers", clock.now()),  # another password
    ]
    for token in forged:
        refused(portal, with_code(portal, csrf, token, code(secret, clock)))
    # Anna's own token, presented for Bob (with Bob's code), does not open either.
    refused(portal, with_code(portal, csrf, half, code(secret, clock), email=BOB))
    ok = with_code(portal, csrf, half, code(secret, clock))  # no code was used up by the refusals
    assert ok.status_code == 303  # type: ignore[attr-defined]


def test_an_expired_token_is_refused(portal: TestClient, clock: FrozenClock) -> None:
    secret = enrolled(portal, clock, ANNA)
    csrf, half = second_step(portal)
    clock.advance(seconds=halflogin.TTL + 1)
    refused(portal, with_code(portal, csrf, half, code(secret, clock)))
    csrf, half = second_step(portal)  # a fresh one works
    assert with_code(portal, csrf, half, code(secret, clock)).status_code == 303  # type: ignore[attr-defined]


def test_a_token_is_not_replayed_after_a_log_in(portal: TestClient, clock: FrozenClock) -> None:
    secret = enrolled(portal, clock, ANNA)
    csrf, half = second_step(portal)
    assert with_code(portal, csrf, half, code(secret, clock)).status_code == 303  # type: ignore[attr-defined]
    portal.cookies.delete("authz_session")
    clock.advance(seconds=rules.PERIOD)  # a fresh, valid code: only the token is spent
    refused(portal, with_code(portal, csrf, half, code(secret, clock)))


def test_wrong_codes_with_a_token_count_against_the_log_in_throttle(portal: TestClient, clock: FrozenClock) -> None:
    secret = enrolled(portal, clock, ANNA)
    csrf, half = second_step(portal)
    for _ in range(5):
        r = with_code(portal, csrf, half, "000000")
        assert r.status_code == 401 and "Deze code klopt niet" in r.text  # type: ignore[attr-defined]
    r = with_code(portal, csrf, half, code(secret, clock))
    assert r.status_code == 429 and 'name="otp"' not in r.text  # type: ignore[attr-defined]
    assert portal.get("/v1/session").status_code == 401


def test_a_hash_with_old_parameters_is_upgraded_at_the_password_step_and_the_token_holds(
        portal: TestClient, clock: FrozenClock, db: Database) -> None:
    """The code step has no password: the password step upgrades an old hash, then binds the token to the new one."""
    from argon2 import PasswordHasher

    from authz import passwords

    secret = enrolled(portal, clock, ANNA)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with db.tx("test") as t:
        t.s.execute(sa.update(Account).where(Account.email == ANNA).values(password_hash=weak))
    csrf, half = second_step(portal)
    with db.read() as s:
        upgraded = s.scalars(sa.select(Account.password_hash).where(Account.email == ANNA)).one()
    assert upgraded != weak and not passwords.needs_rehash(upgraded)
    assert with_code(portal, csrf, half, code(secret, clock)).status_code == 303  # type: ignore[attr-defined]
