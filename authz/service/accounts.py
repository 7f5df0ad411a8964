"""The way into the portal: registration (R5, R6), decisions on requests, activation (R8), log-in, operators.

Each beheerder or operator action is one transaction: the change, its audit records, its change events and its
e-mails commit together. Password hashing and checking (argon2, deliberately slow) happen outside transactions.

Routing of a registration: a request goes to a beheerder of its organisation when that organisation is verified
and has an active beheerder (R6); otherwise to the operator (R5: an unknown or pending organisation, or one with no
active beheerder yet). Whoever the operator approves therefore becomes a beheerder: the organisation has none that
can act, and R4 wants one.

A rejected request leaves a pending organisation in place, still pending: the operator sees it again with the next
registration for that KvK number, and no audit record ever has to point at a deleted organisation.

A registration tells nobody whether an address already has an account or an open request: that one is answered
as a new one would be (the same 202, no sooner or later), changes nothing, and mails the address itself.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from authz import messages, passwords
from authz.actor import Actor
from authz.cache.sessions import SessionStore
from authz.cache.throttle import Limits, Throttle
from authz.clock import AMSTERDAM
from authz.config import Settings
from authz.errors import Conflict, Invalid, NotFound, Unauthorized
from authz.service import halflogin, mfa
from authz.service.emails import business_email, check_org_domain, normalise
from authz.store import accounts, catalogue, requests, sessions, tokens
from authz.store.db import Database, Tx
from authz.store.schema import Account, AccountRequest, Organisation

ACTIVATION_TTL = timedelta(days=21)  # R8: "binnen drie weken"
MIN_PASSWORD, MAX_PASSWORD = 12, 256
# One answer for every failed log-in, so that it tells nobody which accounts exist or are active.
BAD_LOGIN = Unauthorized("invalid_credentials", "The e-mail address or password is wrong, or the account is not "
                                                "active.")
# Every registration takes at least this long (wall clock) once its password is hashed, whether it recorded a
# request and mailed the beheerders or found the address taken and mailed it: that work would otherwise tell which.
REGISTRATION_ANSWER_FLOOR = 0.15  # seconds
# R17: said only once the password is right, so they tell nothing about accounts to whoever lacks it.
MFA_REQUIRED = Unauthorized("mfa_required", "This account has a second factor: send 'otp' as well.")
INVALID_OTP = Unauthorized("invalid_otp", "The code is not valid.")
_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december")


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    kvk: str
    organisation_name: str | None = None
    name: str = ""


def dutch_date(day: date) -> str:
    """A day as the portal and the e-mails write it: "2 december 2026"."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def dutch_day(at: datetime) -> str:
    return dutch_date(at.astimezone(AMSTERDAM).date())


def mail(t: Tx, to: str, template: str, **ctx: Any) -> None:
    subject, text, html = messages.render(template, **ctx)
    t.mail(to, subject, text, html)


OPERATOR_WORD = "Gegevensdiensten"  # the operator as the e-mails and the manual call it ("wij", "Gegevensdiensten")


def acting(t: Tx) -> dict[str, Any]:
    """Who made the change an e-mail tells of, as the e-mail names them: ``actor`` is the person's name (else the
    address), ``by_operator`` whether the operator did it. The operator is "Gegevensdiensten" ("Piet Jansen van
    Gegevensdiensten" when the account has a name), also for what the service did itself: a command run on a server
    (``cli:…``) or the operator's policy import (``import:<file>``)."""
    who = t.actor
    if who.startswith(("cli:", "import:")) or "@" not in who:
        return {"actor": OPERATOR_WORD, "by_operator": True}
    a = accounts.by_email(t, who) if "@" in who else None
    if a is None:
        return {"actor": who, "by_operator": False}
    if a.org is None and "operator" in accounts.roles(t, a):
        return {"actor": f"{a.name} van {OPERATOR_WORD}" if a.name else OPERATOR_WORD, "by_operator": True}
    return {"actor": a.name or a.email, "by_operator": False}


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid("weak_password", f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.")


def _org(t: Tx, kvk: str) -> Organisation | None:
    try:
        return catalogue.get_org(t, kvk)
    except NotFound:
        return None


def route_request(t: Tx, org: Organisation) -> tuple[str, list[Account]]:
    """Who decides on a new request for ``org``: its active beheerders (R6, R7), or the operator (R5)."""
    beheerders = accounts.active_beheerders(t, org.kvk) if org.status == "verified" else []
    return ("pending_beheerder" if beheerders else "pending_operator"), beheerders


@contextlib.contextmanager
def answer_floor(seconds: float) -> Iterator[None]:
    """The block takes at least ``seconds`` (wall clock), also when it raises: for answers whose duration must not
    tell what they found."""
    began = time.monotonic()
    try:
        yield
    finally:
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))


def registration_throttle(throttle: Throttle, settings: Settings) -> Throttle:
    """Registrations counted per KvK number and per client address, in windows of an hour."""
    return throttle.scoped("registration", Limits(settings.registration_window_seconds,
                                                  settings.registrations_per_kvk, settings.registrations_per_address))


def register(db: Database, settings: Settings, reg: Registration, throttle: Throttle, client: str) -> str:
    """R5/R6: record an account request; returns ``pending_operator`` or ``pending_beheerder``.

    429 ``too_many_requests`` past ``AUTHZ_REGISTRATIONS_PER_KVK`` for the KvK number or
    ``AUTHZ_REGISTRATIONS_PER_ADDRESS`` for the client address in the hour. An address that already has an account
    or an open request gets the answer a new one would get, and an e-mail saying so; nothing else changes.
    """
    registration_throttle(throttle, settings).request(reg.kvk, client, db.clock.now())
    email = business_email(reg.email, settings.free_mail_domains)
    check_password(reg.password)
    password_hash = passwords.hash_password(reg.password)
    with answer_floor(REGISTRATION_ANSWER_FLOOR), db.tx(actor=email, on_behalf_of=reg.kvk) as t:
        requests.lock_keys(t, f"email:{email}", f"kvk:{reg.kvk}")
        known = _org(t, reg.kvk)
        if known is None and not reg.organisation_name:
            raise Invalid("missing_field", "We do not know this KvK number yet: give 'organisation_name'.")
        check_org_domain(email, (known.domains or []) if known is not None else [])
        if requests.email_taken(t, email):  # before an organisation is made: a duplicate changes nothing
            return _already_registered(t, settings, email, known)
        org = known or catalogue.create_org(t, reg.kvk, reg.organisation_name or "", [], status="pending")
        status, beheerders = route_request(t, org)
        r = requests.create(t, email=email, kvk=org.kvk, organisation_name=reg.organisation_name or org.name,
                            name=reg.name, password_hash=password_hash, kind="registration", status=status)
        for b in beheerders:
            mail(t, b.email, "request_to_beheerder", applicant=r.email, applicant_name=r.name,
                  org_name=org.name, base_url=settings.base_url)
        if status == "pending_operator":
            tell_operators(t, settings, r, org, new_org=known is None or known.status != "verified")
            mail(t, r.email, "request_received", person=r.name, email=r.email, org_name=org.name, kvk=org.kvk,
                 new_org=known is None or known.status != "verified")
    return status


def tell_operators(t: Tx, settings: Settings, r: AccountRequest, org: Organisation, *, new_org: bool) -> None:
    """R5: a request awaits the operator; every active operator account gets an e-mail, in the request's
    transaction."""
    for op in accounts.active_operators(t):
        mail(t, op.email, "request_to_operator", applicant=r.email, applicant_name=r.name, org_name=org.name,
             kvk=org.kvk, new_org=new_org, base_url=settings.base_url)


def _already_registered(t: Tx, settings: Settings, email: str, org: Organisation | None) -> str:
    """Mail the address that someone registered with it; the status a new registration would have had."""
    a = accounts.by_email(t, email)
    mail(t, email, "already_registered", person=a.name if a is not None else "", email=email,
         login=f"{settings.base_url}/inloggen", forgot=f"{settings.base_url}/wachtwoord-vergeten")
    return route_request(t, org)[0] if org is not None else "pending_operator"


def _operator_view(r: AccountRequest, org: Organisation | None) -> dict[str, Any]:
    return {"id": r.id, "email": r.email, "name": r.name, "kvk": r.kvk, "organisation_name": r.organisation_name,
            "status": r.status, "created_at": r.created_at.isoformat(),
            "organisation_status": org.status if org is not None else None}


def operator_requests(db: Database) -> list[dict[str, Any]]:
    with db.tx(actor="read") as t:
        return [_operator_view(r, _org(t, r.kvk)) for r in requests.open_for_operator(t)]


def org_requests(db: Database, kvk: str) -> list[dict[str, Any]]:
    with db.tx(actor="read") as t:
        return [{"id": r.id, "email": r.email, "name": r.name, "kind": r.kind, "status": r.status,
                 "created_at": r.created_at.isoformat()} for r in requests.open_for_org(t, kvk)]


def _approve(t: Tx, settings: Settings, r: AccountRequest, org: Organisation, role_set: set[str]) -> None:
    a = accounts.create(t, r.email, r.kvk, r.password_hash, "approved", name=r.name, role_set=role_set)
    requests.decide(t, r, "approved", a.id)
    token = tokens.issue(t, "activation", ACTIVATION_TTL, account_id=a.id, email=a.email, kvk=r.kvk)
    template = "account_approved_beheerder" if "beheerder" in role_set else "account_approved"
    mail(t, a.email, template, org_name=org.name, person=a.name, link=f"{settings.base_url}/activeren/{token}",
          valid_until=dutch_day(t.now + ACTIVATION_TTL))


def _reject(t: Tx, r: AccountRequest, org: Organisation, reason: str | None) -> None:
    requests.decide(t, r, "rejected")
    mail(t, r.email, "request_rejected", org_name=org.name, reason=reason or "", person=r.name)


def operator_decide(db: Database, settings: Settings, operator: str, request_id: int, approve: bool,
                    reason: str | None = None, domains: list[str] | None = None) -> dict[str, Any]:
    """R5: the operator approves (verifying a pending organisation; the account becomes beheerder) or rejects.
    Approving with ``domains`` registers them as the organisation's e-mail domains (R10; the applicant's address
    must be in one of them)."""
    with db.tx(actor=operator) as t:
        r = requests.get(t, request_id, lock=True)
        if r.status == "pending_beheerder":
            raise Conflict("not_for_operator", "A beheerder of the organisation decides on this request.")
        if r.status not in requests.OPEN:
            raise Conflict("request_decided", f"This request was already {r.status}.")
        requests.lock_keys(t, f"email:{r.email}", f"kvk:{r.kvk}")
        org = catalogue.get_org(t, r.kvk)
        if approve:
            if domains is not None:
                check_org_domain(r.email, domains)
                catalogue.update_org(t, org.kvk, None, domains)
            if org.status != "verified":
                catalogue.verify_org(t, org.kvk)
            _approve(t, settings, r, org, {"beheerder"})
        else:
            _reject(t, r, org, reason)
        return _operator_view(r, org)


def org_decide(db: Database, settings: Settings, beheerder: str, kvk: str, request_id: int, approve: bool,
               reason: str | None = None) -> dict[str, Any]:
    """R6/R7: a beheerder of ``kvk`` approves (a plain account, no roles) or rejects a request of that organisation."""
    with db.tx(actor=beheerder, on_behalf_of=kvk) as t:
        r = requests.get(t, request_id, kvk, lock=True)  # another organisation's request: 404
        if r.status == "pending_operator":
            raise Conflict("not_for_beheerder", "The operator decides on this request.")
        if r.status not in requests.OPEN:
            raise Conflict("request_decided", f"This request was already {r.status}.")
        requests.lock_keys(t, f"email:{r.email}", f"kvk:{r.kvk}")
        org = catalogue.get_org(t, kvk)
        if approve:
            _approve(t, settings, r, org, set())
        else:
            _reject(t, r, org, reason)
        return {"id": r.id, "email": r.email, "status": r.status, "created_at": r.created_at.isoformat()}


def activation_state(db: Database, token: str) -> str:
    """What an activation link can still do, changing nothing: ``open``, or ``active`` when it was used and its
    account is active (the page then offers the log-in); else the refusal of :func:`activate` (404 no such link,
    409 used, 410 expired)."""
    with db.tx(actor="read") as t:
        row = tokens.find(t, token, "activation")
        if row.used_at is not None:
            a = accounts.by_email(t, row.email or "")
            if a is not None and a.id == row.account_id and a.status == "active":
                return "active"
        tokens.check(t, row)
        return "open"


def activate(db: Database, token: str) -> str:
    """R8: an approved account becomes active through its (single-use, unexpired) link; returns the e-mail."""
    with db.tx(actor="activation") as t:
        row = tokens.redeem(t, token, "activation")
        a = accounts.by_email(t, row.email or "", lock=True)
        if a is None or a.id != row.account_id or a.status != "approved":
            raise Conflict("not_activatable", "This account cannot be activated (any more).")
        t.actor = a.email  # the account activates itself
        accounts.set_status(t, a, "active")
        tokens.use(t, row)
        return a.email


def login(db: Database, store: SessionStore, throttle: Throttle, email: str, password: str, address: str,
          previous: str | None = None, *, secret_key: str, otp: str | None = None) -> tuple[str, Actor]:
    """Check the credentials of an active account; returns a new session token and its actor (401 otherwise).

    Every attempt counts against the account and the client address first (429 over the limit, see
    :mod:`authz.cache.throttle`), unknown accounts alike. With a second factor (R17) the password alone gives 401
    ``mfa_required`` (not counted: nothing was guessed) and a wrong ``otp`` 401 ``invalid_otp`` (counted as a
    failed log-in); a right one is a current code or an unused recovery code, used up by this log-in.
    """
    actor, stored = _check_password(db, throttle, email, password, address)
    if actor.mfa:
        if otp is None:  # the password was right: not a guess, but no log-in yet (the address learns nothing)
            throttle.forgive(email, address, db.clock.now())
            raise MFA_REQUIRED
        if not mfa.verify(db, secret_key, actor.id, otp):
            raise INVALID_OTP
    throttle.succeeded(email, address, db.clock.now())
    if stored is not None and passwords.needs_rehash(stored):
        _upgrade_hash(db, actor, stored, passwords.hash_password(password))
    return _new_session(db, store, actor, previous)


@dataclass(frozen=True)
class HalfLogin:
    """The password was right and the account has a second factor: the code step follows, carrying ``token``
    (:mod:`authz.service.halflogin`) instead of the password."""

    token: str


def login_password(db: Database, store: SessionStore, throttle: Throttle, email: str, password: str, address: str,
                   previous: str | None = None, *, secret_key: str) -> tuple[str, Actor] | HalfLogin:
    """The portal's first step: as :func:`login` without a code, but a right password for an account with a
    second factor answers a :class:`HalfLogin` (its attempt forgiven, the account not yet known at the address)
    instead of 401 ``mfa_required``; :func:`login_code` completes it. The password hash is upgraded here, where
    the password is at hand, before the token binds to it."""
    actor, stored = _check_password(db, throttle, email, password, address)
    if not actor.mfa:
        throttle.succeeded(email, address, db.clock.now())
        if stored is not None and passwords.needs_rehash(stored):
            _upgrade_hash(db, actor, stored, passwords.hash_password(password))
        return _new_session(db, store, actor, previous)
    throttle.forgive(email, address, db.clock.now())
    current = stored or ""
    if stored is not None and passwords.needs_rehash(stored):
        current = _upgrade_hash(db, actor, stored, passwords.hash_password(password))
    return HalfLogin(halflogin.issue(secret_key, actor.id, actor.email, current, db.clock.now()))


def login_code(db: Database, store: SessionStore, throttle: Throttle, email: str, token: str, otp: str,
               address: str, previous: str | None = None, *, secret_key: str) -> tuple[str, Actor]:
    """The portal's second step: the half-login ``token`` of :func:`login_password` for ``email``, and a code.

    Counted as a log-in attempt first, as :func:`login` counts one (429 over the limit). A token that does not open
    for ``email`` (forged, altered, for another account, expired), whose password or factor changed since, or that
    completed a log-in already is 401 ``invalid_credentials``, as a wrong password is; a wrong code is 401
    ``invalid_otp`` (counted; the same token may try again while it lasts). Single use: the log-in that a token
    completes marks its random id used in the throttle store, atomically after the code was accepted (and used up)
    and before the session is made, so no second log-in, here or on another instance, can complete with it.
    """
    now = db.clock.now()
    throttle.attempt(email, address, now)
    claims = halflogin.open_token(secret_key, email, token, now)
    if claims is None:
        raise BAD_LOGIN
    with db.read() as s:
        a = s.get(Account, claims.account_id)
        if (a is None or a.email != email or a.status != "active" or not a.password_hash
                or not hmac.compare_digest(halflogin.password_digest(secret_key, a.password_hash),
                                           claims.password_digest)):
            raise BAD_LOGIN
        actor = sessions.actor_of(s, a)
    issued = datetime.fromtimestamp(claims.issued, UTC)
    if not actor.mfa or throttle.is_used(claims.id, issued):  # a factor reset meanwhile: the password again
        raise BAD_LOGIN
    if not mfa.verify(db, secret_key, actor.id, otp):
        raise INVALID_OTP
    if not throttle.mark_used(claims.id, issued, max(1, claims.expires - int(now.timestamp())) + 60):
        raise BAD_LOGIN
    throttle.succeeded(email, address, db.clock.now())
    return _new_session(db, store, actor, previous)


def _check_password(db: Database, throttle: Throttle, email: str, password: str, address: str
                    ) -> tuple[Actor, str | None]:
    """The active account whose password ``password`` is, and its stored hash (401 ``invalid_credentials``
    otherwise); the attempt is counted first and stays counted."""
    throttle.attempt(email, address, db.clock.now())
    with db.tx(actor=email) as t:
        a = accounts.by_email(t, email)
        stored = (a.password_hash if a is not None else None) or None
    # Always verify, also for unknown accounts (against a dummy hash): the answer takes the same time.
    ok = passwords.verify(stored, password)
    if not ok or a is None or a.status != "active":
        raise BAD_LOGIN
    with db.read() as s:
        a = s.get(Account, a.id)
        if a is None or a.status != "active" or a.password_hash != stored:
            raise BAD_LOGIN
        return sessions.actor_of(s, a), stored


def _new_session(db: Database, store: SessionStore, actor: Actor, previous: str | None) -> tuple[str, Actor]:
    if previous:  # a new session on each log-in: a cookie planted before cannot ride along (fixation)
        store.end(sessions.token_hash(previous))
    token = store.create(actor.id, db.clock.now())
    return token, replace(actor, session_hash=sessions.token_hash(token))


def _upgrade_hash(db: Database, actor: Actor, stored: str, new_hash: str) -> str:
    """The hash was made with other argon2 parameters than today's: store one made with today's, while the password
    is at hand (only at a log-in). The password itself is unchanged, so nobody is mailed and no session ends; a hash
    that changed meanwhile (a reset, another log-in) is left alone. Answers the hash now stored."""
    with db.tx(actor.email, on_behalf_of=actor.org) as t:
        a = accounts.get(t, actor.email, lock=True)
        if a.password_hash != stored:
            return a.password_hash or ""
        a.password_hash = new_hash
        t.audit("account.password_rehash", f"account:{a.email}", None, {"email": a.email, "password": "rehash"},
                org=a.org)
        return new_hash


def logout(store: SessionStore, actor: Actor) -> None:
    store.end(actor.session_hash)


def create_operator(db: Database, email: str, password: str) -> None:
    """``authz operator create``: an active operator account (no organisation; role ``operator``)."""
    address = normalise(email)
    check_password(password)
    password_hash = passwords.hash_password(password)
    with db.tx(actor="cli:operator-create") as t:
        accounts.create(t, address, None, password_hash, "active", role_set={"operator"})
