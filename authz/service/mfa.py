"""R17, the second factor: enrol (a TOTP secret, confirmed with a code, then ten recovery codes shown once), check a
code at log-in, remove it, and the operator's reset of a lost one. Every change is audited, never with a secret or
a code in it.

The TOTP secret is sealed at rest (:mod:`authz.secretbox`, a key derived from ``AUTHZ_SECRET_KEY``): the service
must read it back, so it cannot be hashed. Recovery codes are argon2 hashes (:mod:`authz.passwords`): they are the
way back in, also when the secret key changed and the sealed secrets no longer open. Argon2 checks run outside
transactions; using a code is a conditional UPDATE, so a code counts once even when two log-ins race with it.

Removing one's own factor needs a current code (guesses are throttled as log-ins are); where the policy requires a
factor the account is then held at enrolment again (:func:`authz.identity.current_actor`), so removing it gains
nothing over replacing it.
"""

from __future__ import annotations

import logging
from typing import Any

from authz import messages, passwords, secretbox
from authz.actor import Actor
from authz.cache.sessions import SessionStore
from authz.cache.throttle import Throttle
from authz.config import Settings
from authz.domain import mfa as rules
from authz.errors import Conflict, Forbidden
from authz.store import accounts, catalogue
from authz.store import mfa as store
from authz.store.db import Database, Tx
from authz.store.schema import Account

log = logging.getLogger(__name__)

PURPOSE = "mfa-secret"
INVALID_OTP = "invalid_otp"


def _bound(account_id: int) -> str:
    return f"account:{account_id}"


def seal_secret(secret_key: str, account_id: int, secret: str) -> str:
    """A TOTP secret as it is stored: sealed, for this account's row only."""
    return secretbox.seal(secret_key, PURPOSE, _bound(account_id), secret)


def status(db: Database, settings: Settings, actor: Actor) -> dict[str, Any]:
    """``{"enrolled", "pending", "required", "recovery_codes_left"}`` of the logged-in account."""
    with db.read() as s:
        f = store.factor(s, actor.id)
        held = f.status if f is not None else None
        left = store.count_unused(s, actor.id) if held == "active" else 0
    return {"enrolled": held == "active", "pending": held == "pending",
            "required": rules.required(settings.mfa_required, actor.roles), "recovery_codes_left": left}


def enrolled_in(db: Database, org: str) -> set[str]:
    """The e-mails of the organisation's accounts that have a confirmed second factor (the operator's view; the
    caller has checked that the actor may see the organisation's accounts)."""
    with db.read() as s:
        return store.enrolled_in(s, org)


def start(db: Database, settings: Settings, actor: Actor) -> dict[str, str]:
    """Begin enrolment: a new secret (replacing a pending one), shown once as ``{"secret", "otpauth_uri"}``; 409
    ``mfa_enrolled`` when a factor is active (remove it first)."""
    secret = rules.new_secret()
    with db.tx(actor.email, on_behalf_of=actor.org) as t:
        a = accounts.get(t, actor.email, lock=True)
        if store.active(t.s, a.id) is not None:
            raise Conflict("mfa_enrolled", "A second factor is set up already; remove it first.")
        store.start(t.s, a.id, seal_secret(settings.secret_key, a.id, secret), t.now)
        t.audit("account.mfa_start", f"account:{a.email}", None, {"email": a.email, "mfa": "pending"}, org=a.org)
    return {"secret": secret, "otpauth_uri": rules.uri(secret, actor.email)}


def confirm(db: Database, settings: Settings, sessions: SessionStore, actor: Actor, otp: str) -> list[str]:
    """Activate the pending factor with a current code (403 ``invalid_otp`` otherwise; 409 ``mfa_not_started``
    without one); answers the ten recovery codes, which are stored only as hashes. The account's other sessions
    end: they were opened with the password alone."""
    codes = rules.new_recovery_codes()
    hashes = [passwords.hash_password(rules.recovery_form(c) or "") for c in codes]
    with db.tx(actor.email, on_behalf_of=actor.org) as t:
        a = accounts.get(t, actor.email, lock=True)
        f = store.factor(t.s, a.id)
        if f is None or f.status != "pending":
            raise Conflict("mfa_not_started", "Start setting up a second factor first.")
        secret = secretbox.unseal(settings.secret_key, PURPOSE, _bound(a.id), f.secret)
        step = rules.matching_step(secret, otp, t.now, None) if secret is not None else None
        if step is None:
            raise Forbidden(INVALID_OTP, "The code is not valid.")
        store.activate(t.s, f, step, hashes, t.now)
        t.audit("account.mfa_confirm", f"account:{a.email}", {"email": a.email, "mfa": "pending"},
                {"email": a.email, "mfa": "active", "recovery_codes": len(codes)}, org=a.org)
    sessions.end_all(actor.id, keep=actor.session_hash)
    return codes


def verify(db: Database, secret_key: str, account_id: int, otp: str) -> bool:
    """Whether ``otp`` is a current TOTP code of the account's active factor (one step of drift, later than the last
    one used) or one of its unused recovery codes; a code that is accepted is used up."""
    now = db.clock.now()
    with db.read() as s:
        f = store.active(s, account_id)
        if f is None:
            return False
        sealed, last_step = f.secret, f.last_step
        unused = [(c.id, c.code_hash) for c in store.unused_codes(s, account_id)] if not rules.is_code(otp) else []
    if rules.is_code(otp):
        secret = secretbox.unseal(secret_key, PURPOSE, _bound(account_id), sealed)
        if secret is None:
            log.warning("the second factor of account %s cannot be read with this AUTHZ_SECRET_KEY", account_id)
            return False
        step = rules.matching_step(secret, otp, now, last_step)
        if step is None:
            return False
        with db.tx(actor="session") as t:
            return store.use_step(t.s, account_id, step)
    plain = rules.recovery_form(otp)
    found = next((code_id for code_id, h in unused if plain is not None and passwords.verify(h, plain)), None)
    if found is None:
        return False
    with db.tx(actor="session") as t:
        if not store.use_code(t.s, found, now):
            return False
        a = t.s.get(Account, account_id)
        if a is not None:
            t.actor = a.email
            t.audit("account.mfa_recovery_code_used", f"account:{a.email}", None,
                    {"email": a.email, "recovery_codes_left": store.count_unused(t.s, account_id)}, org=a.org)
    return True


def disable(db: Database, settings: Settings, throttle: Throttle, actor: Actor, otp: str, address: str) -> None:
    """Remove one's own factor with a current code or an unused recovery code (403 ``invalid_otp``; guesses count
    as failed log-ins); the user gets an e-mail saying so."""
    throttle.attempt(actor.email, address, db.clock.now())
    with db.read() as s:
        if store.active(s, actor.id) is None:
            raise Conflict("mfa_not_enrolled", "This account has no second factor.")
    if not verify(db, settings.secret_key, actor.id, otp):
        raise Forbidden(INVALID_OTP, "The code is not valid.")
    throttle.succeeded(actor.email, address, db.clock.now())
    with db.tx(actor.email, on_behalf_of=actor.org) as t:
        a = accounts.get(t, actor.email, lock=True)
        store.remove(t.s, a.id)
        t.audit("account.mfa_disable", f"account:{a.email}", {"email": a.email, "mfa": "active"},
                {"email": a.email, "mfa": "none"}, org=a.org)
        _mail(t, a, "mfa_removed", by_operator=False)


def reset(db: Database, sessions: SessionStore, operator: str, email: str) -> None:
    """The operator removes an account's lost factor (404 ``unknown_account``, 409 ``mfa_not_enrolled``): audited as
    the operator's act, the user is e-mailed, and every session of the account ends."""
    with db.tx(operator) as t:
        a = accounts.get(t, email, lock=True)
        t.on_behalf_of = a.org
        if not store.remove(t.s, a.id):
            raise Conflict("mfa_not_enrolled", "This account has no second factor.")
        t.audit("account.mfa_reset", f"account:{a.email}", {"email": a.email, "mfa": "set"},
                {"email": a.email, "mfa": "none"}, org=a.org)
        _mail(t, a, "mfa_removed", by_operator=True)
        account_id = a.id
    sessions.end_all(account_id)


def _mail(t: Tx, a: Account, template: str, *, by_operator: bool) -> None:
    org_name = catalogue.get_org(t, a.org).name if a.org else ""
    subject, text, html = messages.render(template, person=a.name, org_name=org_name, by_operator=by_operator)
    t.mail(a.email, subject, text, html)
