"""Passwords of accounts: a user changes its own (the old one required), or resets a forgotten one by e-mail link.

Either way the account's other sessions end (a reset ends all of them: whoever used the old password is out), the
audit trail records that the password changed (never a hash), and the user gets an e-mail saying so. Hashing and
checking (argon2, deliberately slow) happen outside transactions.
"""

from __future__ import annotations

from datetime import timedelta

from authz import passwords
from authz.actor import Actor
from authz.cache.sessions import SessionStore
from authz.cache.throttle import Limits, Throttle
from authz.config import Settings
from authz.errors import Forbidden, Invalid
from authz.service.accounts import answer_floor, check_password, mail
from authz.service.emails import normalise
from authz.store import accounts, catalogue, tokens
from authz.store.db import Database, Tx
from authz.store.schema import Account

RESET_TTL = timedelta(hours=1)
RESETS_PER_ADDRESS = 5  # reset mails to one e-mail address per throttle window; more requests are answered alike
# Every reset request takes at least this long (wall clock), whether it mailed a link, was held back, or found no
# account: writing the token, audit row and e-mail costs a few milliseconds that would otherwise tell which it was.
RESET_ANSWER_FLOOR = 0.15  # seconds


def _set(t: Tx, a: Account, password_hash: str, how: str) -> None:
    a.password_hash = password_hash
    t.s.flush()
    t.audit(f"account.password_{how}", f"account:{a.email}", None, {"email": a.email, "password": how}, org=a.org)
    org_name = catalogue.get_org(t, a.org).name if a.org else ""
    mail(t, a.email, "password_changed", person=a.name, org_name=org_name, reset=how == "reset")


def change_password(db: Database, store: SessionStore, actor: Actor, old_password: str, new_password: str, *,
                    throttle: Throttle | None = None, address: str = "unknown") -> None:
    """The logged-in account sets a new password (403 ``wrong_password`` unless the old one is right); its other
    sessions end, this one stays. With ``throttle`` (the API passes it), guesses of the old password count as failed
    log-ins: a stolen session must not become a way to try passwords unthrottled."""
    check_password(new_password)
    if old_password == new_password:
        raise Invalid("same_password", "Choose a password other than the current one.")
    if throttle is not None:
        throttle.attempt(actor.email, address, db.clock.now())
    with db.read() as s:
        a = s.get(Account, actor.id)
        stored = a.password_hash if a is not None else None
    if not passwords.verify(stored, old_password):
        raise Forbidden("wrong_password", "The current password is wrong.")
    if throttle is not None:
        throttle.succeeded(actor.email, address, db.clock.now())
    new_hash = passwords.hash_password(new_password)
    with db.tx(actor.email, on_behalf_of=actor.org) as t:
        a = accounts.get(t, actor.email, lock=True)
        if a.password_hash != stored:  # changed meanwhile (another session or a reset): check again, with the new
            raise Forbidden("wrong_password", "The current password is wrong.")
        _set(t, a, new_hash, "change")
    store.end_all(actor.id, keep=actor.session_hash)


def reset_throttle(throttle: Throttle, settings: Settings) -> Throttle:
    """Reset requests counted per e-mail address and per client address, in the log-in windows (one window length
    for every key in the store: its clean-up removes what lies before the current window)."""
    return throttle.scoped("reset", Limits(settings.login_window_seconds, RESETS_PER_ADDRESS,
                                           settings.login_failures_per_address))


def request_password_reset(db: Database, settings: Settings, email: str, throttle: Throttle,
                           client: str = "unknown") -> None:
    """Mail a reset link (1 hour, single use) to an active account. Unknown, malformed or inactive addresses are
    answered alike by the caller (202) and get nothing: the answer says nothing about which accounts exist.

    At most :data:`RESETS_PER_ADDRESS` requests per e-mail address in a window send mail; later ones are answered
    alike and send nothing. A client address over its limit gets 429 ``too_many_requests`` (that tells nothing
    about accounts). Every answer takes at least :data:`RESET_ANSWER_FLOOR`."""
    with answer_floor(RESET_ANSWER_FLOOR):
        _request_reset(db, settings, email, reset_throttle(throttle, settings), client)


def _request_reset(db: Database, settings: Settings, email: str, throttle: Throttle, client: str) -> None:
    try:
        address = normalise(email)
    except Invalid:
        return
    if not throttle.allow(address, client, db.clock.now()):
        return
    with db.tx(actor=address) as t:
        a = accounts.by_email(t, address, lock=True)
        if a is None or a.status != "active":
            return
        token = tokens.issue(t, "reset", RESET_TTL, account_id=a.id, email=a.email, kvk=a.org)
        t.audit("password_reset.request", f"account:{a.email}", None, {"email": a.email}, org=a.org)
        mail(t, a.email, "password_reset", person=a.name, link=f"{settings.base_url}/wachtwoord-herstellen/{token}",
             minutes=int(RESET_TTL.total_seconds() // 60))


def reset_password(db: Database, store: SessionStore, token: str, new_password: str) -> str:
    """Set the password through a reset link (used up); every session of the account ends. Returns the e-mail."""
    check_password(new_password)
    new_hash = passwords.hash_password(new_password)
    with db.tx(actor="password-reset") as t:
        row = tokens.redeem(t, token, "reset")
        a = accounts.by_email(t, row.email or "", lock=True)
        if a is None or a.id != row.account_id or a.status != "active":
            raise Forbidden("account_not_active", "This account is not active; ask your beheerder.")
        t.actor, t.on_behalf_of = a.email, a.org
        tokens.use(t, row)
        _set(t, a, new_hash, "reset")
        account_id, address = a.id, a.email
    store.end_all(account_id)
    return address
