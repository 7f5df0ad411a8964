"""R17, two-step login through the JSON API: enrol, confirm, log in with a code or a recovery code, never a code
twice, guesses throttled, the policy's hold on accounts without a factor, removal, and the operator's reset."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz import secretbox
from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.domain import mfa as rules
from authz.store.db import Database
from authz.store.schema import Audit, MfaFactor, Outbox, RecoveryCode
from authz.store.schema import Session as SessionRow
from tests.factories import PASSWORD, World
from tests.mailbox import count

KVK = "11111111"
ANNA = "anna@korenschoof.nl"  # beheerder
JOOST = "joost@korenschoof.nl"  # user
OPERATOR = "operator@gegevensdiensten.nl"


def app_client(settings: Settings, clock: FrozenClock, policy: str) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings, mfa_required=policy), clock),
                      base_url="http://testserver")


@pytest.fixture
def admins(settings: Settings, clock: FrozenClock, world: World) -> Iterator[TestClient]:
    """The app under the default policy (``admins``), with a beheerder, a user and an operator."""
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(ANNA, KVK)
    world.account(JOOST, KVK)
    world.account(OPERATOR, None, roles=("operator",))
    with app_client(settings, clock, "admins") as c:
        yield c


def log_in(c: TestClient, email: str, otp: str | None = None, password: str = PASSWORD) -> Any:
    return c.post("/v1/session", json={"email": email, "password": password, **({"otp": otp} if otp else {})})


def code(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    return rules.code_at(secret, rules.step_of(clock.now()) + steps)


def enrol(c: TestClient, clock: FrozenClock) -> tuple[str, list[str]]:
    """Enrol the logged-in account; (its secret, its recovery codes)."""
    r = c.post("/v1/session/mfa", json={})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    done = c.post("/v1/session/mfa/confirm", json={"otp": code(secret, clock)})
    assert done.status_code == 200, done.text
    clock.advance(seconds=rules.PERIOD)  # the confirming code is used: log-ins in the tests take the next one
    return secret, done.json()["recovery_codes"]


def error(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def test_the_policy_says_who_must_have_a_factor() -> None:
    assert rules.required("admins", {"beheerder"}) and rules.required("admins", {"operator"})
    assert not rules.required("admins", set()) and rules.required("all", set())
    assert not rules.required("none", {"beheerder", "operator"})
    with pytest.raises(ValueError, match="AUTHZ_MFA_REQUIRED"):
        Settings(mfa_required="beheerders")
    assert Settings.from_env({"AUTHZ_SECRET_KEY": "k"}).mfa_required == "admins"
    assert Settings.from_env({"AUTHZ_SECRET_KEY": "k", "AUTHZ_MFA_REQUIRED": "all"}).mfa_required == "all"


def test_a_code_counts_within_one_step_either_way_and_never_twice(clock: FrozenClock) -> None:
    secret = rules.new_secret()
    now, step = clock.now(), rules.step_of(clock.now())
    for drift in (-1, 0, 1):
        assert rules.matching_step(secret, rules.code_at(secret, step + drift), now, None) == step + drift
    for far in (-2, 2):
        assert rules.matching_step(secret, rules.code_at(secret, step + far), now, None) is None
    assert rules.matching_step(secret, rules.code_at(secret, step), now, step) is None  # used already
    assert rules.matching_step(secret, rules.code_at(secret, step - 1), now, step) is None  # older than the last
    assert rules.matching_step(secret, "12345", now, None) is None


def test_a_beheerder_without_a_factor_can_only_enrol_and_log_out(admins: TestClient, clock: FrozenClock) -> None:
    assert log_in(admins, ANNA).status_code == 200
    assert error(admins.get(f"/v1/orgs/{KVK}/users")) == (403, "mfa_enrolment_required")
    assert error(admins.post("/v1/session/password", json={"old_password": PASSWORD,
                                                           "new_password": "another long password"})) == (
        403, "mfa_enrolment_required")
    assert admins.get("/v1/session").status_code == 200
    assert admins.get("/v1/session/mfa").json() == {"enrolled": False, "pending": False, "required": True,
                                                    "recovery_codes_left": 0}
    enrol(admins, clock)
    assert admins.get(f"/v1/orgs/{KVK}/users").status_code == 200
    assert admins.delete("/v1/session").status_code == 204


def test_a_user_needs_no_factor_under_admins_but_does_under_all(admins: TestClient, settings: Settings,
                                                                 clock: FrozenClock) -> None:
    assert log_in(admins, JOOST).status_code == 200
    assert admins.get("/v1/session/mfa").json()["required"] is False
    assert admins.post("/v1/session/password", json={"old_password": PASSWORD,
                                                     "new_password": "another long password"}).status_code == 204
    with app_client(settings, clock, "all") as c:
        assert log_in(c, JOOST, password="another long password").status_code == 200
        assert error(c.post("/v1/session/password", json={"old_password": "another long password",
                                                          "new_password": PASSWORD})) == (403, "mfa_enrolment_required")
    with app_client(settings, clock, "none") as c:
        assert log_in(c, ANNA).status_code == 200
        assert c.get(f"/v1/orgs/{KVK}/users").status_code == 200


def test_enrolment_gives_a_uri_naming_the_account_and_ten_hashed_recovery_codes(
        admins: TestClient, clock: FrozenClock, db: Database, settings: Settings) -> None:
    log_in(admins, ANNA)
    started = admins.post("/v1/session/mfa", json={}).json()
    uri = urlsplit(started["otpauth_uri"])
    query = {k: v[0] for k, v in parse_qs(uri.query).items()}
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp") and unquote(uri.path).endswith(f":{ANNA}")
    assert query == {"secret": started["secret"], "issuer": rules.ISSUER, "algorithm": "SHA1", "digits": "6",
                     "period": "30"}
    assert admins.get("/v1/session/mfa").json()["pending"] is True
    assert error(admins.post("/v1/session/mfa/confirm", json={"otp": "000000"})) == (403, "invalid_otp")
    codes = admins.post("/v1/session/mfa/confirm", json={"otp": code(started["secret"], clock)}).json()
    codes = codes["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert admins.get("/v1/session/mfa").json() == {"enrolled": True, "pending": False, "required": True,
                                                    "recovery_codes_left": 10}
    assert error(admins.post("/v1/session/mfa", json={})) == (409, "mfa_enrolled")
    with db.engine.connect() as c:
        sealed = c.execute(sa.select(MfaFactor.secret)).scalar_one()
        hashes = c.execute(sa.select(RecoveryCode.code_hash)).scalars().all()
        audit = c.execute(sa.select(Audit.action, Audit.after).where(Audit.action.like("account.mfa%"))).all()
    # the secret is sealed, bound to its account: not readable from the database, nor with another key
    assert started["secret"] not in sealed
    assert secretbox.unseal(settings.secret_key, "mfa-secret", "account:2", sealed) is None
    assert secretbox.unseal("another key", "mfa-secret", "account:1", sealed) is None
    assert all(h.startswith("$argon2id$") for h in hashes) and not set(codes) & set(hashes)
    assert [a for a, _ in audit] == ["account.mfa_start", "account.mfa_confirm"]
    said = str(audit)
    assert started["secret"] not in said and not any(c in said for c in codes)


def test_confirming_ends_the_other_sessions(admins: TestClient, settings: Settings, clock: FrozenClock,
                                            db: Database) -> None:
    with app_client(settings, clock, "admins") as other:
        log_in(other, ANNA)
        log_in(admins, ANNA)
        assert count(db, SessionRow) == 2
        enrol(admins, clock)
        assert count(db, SessionRow) == 1
        assert other.get("/v1/session").status_code == 401
        assert admins.get("/v1/session").status_code == 200


def test_log_in_asks_for_the_code_only_once_the_password_is_right(admins: TestClient, clock: FrozenClock) -> None:
    log_in(admins, ANNA)
    secret, _ = enrol(admins, clock)
    admins.cookies.clear()
    assert error(log_in(admins, ANNA)) == (401, "mfa_required")
    assert error(log_in(admins, ANNA, "123456")) == (401, "invalid_otp")
    # a wrong password, or an unknown account, says the same as ever, with or without a code
    assert error(log_in(admins, ANNA, password="wrong password!")) == (401, "invalid_credentials")
    assert error(log_in(admins, ANNA, code(secret, clock), "wrong password!")) == (401, "invalid_credentials")
    assert error(log_in(admins, "nobody@korenschoof.nl")) == (401, "invalid_credentials")
    r = log_in(admins, ANNA, code(secret, clock))
    assert r.status_code == 200, r.text
    assert admins.get(f"/v1/orgs/{KVK}/users").status_code == 200


def test_a_code_is_never_accepted_twice(admins: TestClient, clock: FrozenClock) -> None:
    log_in(admins, ANNA)
    secret, _ = enrol(admins, clock)
    now = code(secret, clock)
    assert log_in(admins, ANNA, now).status_code == 200
    assert error(log_in(admins, ANNA, now)) == (401, "invalid_otp")
    # a step of drift either way counts, but not one older than the last used
    assert error(log_in(admins, ANNA, code(secret, clock, -1))) == (401, "invalid_otp")
    assert log_in(admins, ANNA, code(secret, clock, 1)).status_code == 200
    clock.advance(seconds=3 * rules.PERIOD)
    assert error(log_in(admins, ANNA, code(secret, clock, -2))) == (401, "invalid_otp")
    assert log_in(admins, ANNA, code(secret, clock, -1)).status_code == 200


def test_a_recovery_code_works_once_in_place_of_a_code(admins: TestClient, clock: FrozenClock,
                                                       db: Database) -> None:
    log_in(admins, ANNA)
    _, codes = enrol(admins, clock)
    assert log_in(admins, ANNA, codes[3].upper()).status_code == 200
    assert error(log_in(admins, ANNA, codes[3])) == (401, "invalid_otp")
    assert admins.get("/v1/session/mfa").json()["recovery_codes_left"] == 9
    with db.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(Audit)
                         .where(Audit.action == "account.mfa_recovery_code_used")).scalar_one() == 1


def test_code_guesses_count_against_the_log_in_throttle(admins: TestClient, clock: FrozenClock) -> None:
    log_in(admins, ANNA)
    secret, _ = enrol(admins, clock)
    for _ in range(5):
        assert error(log_in(admins, ANNA, "000000")) == (401, "invalid_otp")
    r = log_in(admins, ANNA, code(secret, clock))
    assert error(r) == (429, "too_many_attempts") and int(r.headers["Retry-After"]) > 0


def test_asking_for_the_code_is_not_a_failed_log_in(admins: TestClient, clock: FrozenClock) -> None:
    log_in(admins, ANNA)
    secret, _ = enrol(admins, clock)
    for _ in range(8):
        assert error(log_in(admins, ANNA)) == (401, "mfa_required")
    assert log_in(admins, ANNA, code(secret, clock)).status_code == 200


def test_removing_the_factor_needs_a_code_and_then_holds_a_beheerder_at_enrolment(
        admins: TestClient, clock: FrozenClock, db: Database) -> None:
    log_in(admins, ANNA)
    secret, _ = enrol(admins, clock)
    assert log_in(admins, ANNA, code(secret, clock)).status_code == 200
    assert error(admins.post("/v1/session/mfa/disable", json={"otp": "000000"})) == (403, "invalid_otp")
    clock.advance(seconds=rules.PERIOD)
    assert admins.post("/v1/session/mfa/disable", json={"otp": code(secret, clock)}).status_code == 204
    assert error(admins.get(f"/v1/orgs/{KVK}/users")) == (403, "mfa_enrolment_required")
    admins.cookies.clear()
    assert log_in(admins, ANNA).status_code == 200  # no code asked any more
    with db.engine.connect() as c:
        mails = c.execute(sa.select(Outbox.to_addr, Outbox.subject)).all()
    assert (ANNA, "De tweede factor van uw account op Mijn Gegevensdiensten is verwijderd") in mails


def test_the_operator_resets_a_lost_factor(admins: TestClient, settings: Settings, clock: FrozenClock,
                                           db: Database) -> None:
    log_in(admins, ANNA)
    enrol(admins, clock)
    assert admins.get("/v1/session").status_code == 200
    with app_client(settings, clock, "admins") as op:
        log_in(op, OPERATOR)
        assert error(op.post(f"/v1/operator/accounts/{ANNA}/mfa-reset", json={})) == (
            403, "mfa_enrolment_required")  # the operator, too, needs a factor first
        op_secret, _ = enrol(op, clock)
        assert error(op.post("/v1/operator/accounts/nobody@x.nl/mfa-reset", json={})) == (404, "unknown_account")
        assert error(op.post(f"/v1/operator/accounts/{JOOST}/mfa-reset", json={})) == (409, "mfa_not_enrolled")
        assert op.post(f"/v1/operator/accounts/{ANNA}/mfa-reset", json={}).status_code == 204
    assert admins.get("/v1/session").status_code == 401  # her sessions ended
    assert log_in(admins, ANNA).status_code == 200  # and she enrols again
    assert admins.get("/v1/session/mfa").json()["enrolled"] is False
    with db.engine.connect() as c:
        (actor, org, after), = c.execute(sa.select(Audit.actor, Audit.on_behalf_of, Audit.after)
                                         .where(Audit.action == "account.mfa_reset")).all()
        mails = c.execute(sa.select(Outbox.to_addr, Outbox.body_text)).all()
    assert (actor, org, after) == (OPERATOR, KVK, {"email": ANNA, "mfa": "none"})
    assert any(to == ANNA and "door Gegevensdiensten" in text for to, text in mails)
    assert op_secret


def test_a_beheerder_may_not_reset_a_factor(admins: TestClient, settings: Settings, clock: FrozenClock) -> None:
    with app_client(settings, clock, "none") as c:
        log_in(c, ANNA)
        assert error(c.post(f"/v1/operator/accounts/{JOOST}/mfa-reset", json={})) == (403, "forbidden")
