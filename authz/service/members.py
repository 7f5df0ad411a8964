"""A beheerder's members: invitations (R7), new activation links (R8), deactivation and reactivation (R1, R4).

The caller (the API, or the admin UI) has checked that ``actor`` is a beheerder of ``kvk``; every account or
invitation touched here must belong to ``kvk`` (404 otherwise). Each action is one transaction with its audit
records, its decider events and its e-mails; :class:`Outcome` carries the revision to hand to ``Sync.committed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authz import passwords
from authz.cache.sessions import SessionStore
from authz.config import Settings
from authz.errors import Conflict
from authz.service.accounts import (
    ACTIVATION_TTL,
    acting,
    check_password,
    dutch_day,
    mail,
    route_request,
    tell_operators,
)
from authz.service.beheerders import lock_change
from authz.service.emails import business_email, check_org_domain
from authz.store import accounts, catalogue, invitations, requests, tokens
from authz.store.db import Database, Tx
from authz.store.schema import Account, Invitation


@dataclass(frozen=True)
class Outcome:
    """An account's view after a change that moves decisions, and the revision that holds it."""

    answer: dict[str, Any]
    revision: int | None


def _invitation_view(t: Tx, i: Invitation) -> dict[str, Any]:
    return {**invitations.view(i), "lapsed": i.status == "open" and t.now >= i.expires_at}


def _invite_mail(t: Tx, settings: Settings, email: str, org_name: str, token: str, expires: datetime) -> None:
    inviter = accounts.by_email(t, t.actor)
    mail(t, email, "invitation", org_name=org_name, inviter=(inviter.name if inviter else "") or t.actor,
         link=f"{settings.base_url}/uitnodiging/{token}", valid_until=dutch_day(expires))


# -- invitations (R7) -------------------------------------------------------------------------------------------

def _unavailable() -> Conflict:
    # One answer for an account, a request or an invitation of another organisation: none of them is revealed.
    return Conflict("email_unavailable", "This address cannot be invited.")


def invite(db: Database, settings: Settings, actor: str, kvk: str, email: str) -> Outcome:
    """Invite a business e-mail address (R10) into ``kvk``; 409 when it has an account, an open request or an open
    invitation. Only for its own organisation does the answer say which (``already_registered``,
    ``already_invited``); for an address of another organisation it is one neutral ``email_unavailable``, so that a
    beheerder cannot probe who has an account elsewhere."""
    address = business_email(email, settings.free_mail_domains)
    with db.tx(actor, on_behalf_of=kvk) as t:
        requests.lock_keys(t, f"email:{address}", f"kvk:{kvk}")
        org = catalogue.get_org(t, kvk)
        check_org_domain(address, org.domains or [])
        if requests.email_taken(t, address):
            holder = accounts.by_email(t, address)
            own = (holder.org == kvk if holder is not None
                   else any(r.email == address for r in requests.open_for_org(t, kvk)))
            if not own:
                raise _unavailable()
            raise Conflict("already_registered", f"An account or an open account request for {address} exists.")
        pending = invitations.open_for(t, address)
        if pending is not None:
            if pending.kvk != kvk:
                raise _unavailable()
            raise Conflict("already_invited", f"{address} already has an open invitation; send it again instead.")
        i, token = invitations.create(t, address, kvk)
        _invite_mail(t, settings, address, org.name, token, i.expires_at)
        answer = _invitation_view(t, i)
    return Outcome(answer, t.revision)


def list_invitations(db: Database, actor: str, kvk: str) -> list[dict[str, Any]]:
    """The organisation's open invitations, oldest first; ``lapsed`` marks those past their 21 days."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        return [_invitation_view(t, i) for i in invitations.open_of_org(t, kvk)]


def withdraw_invitation(db: Database, actor: str, kvk: str, invitation_id: int) -> dict[str, Any]:
    with db.tx(actor, on_behalf_of=kvk) as t:
        i = invitations.get(t, invitation_id, kvk, lock=True)
        invitations.withdraw(t, i)
        return _invitation_view(t, i)


def resend_invitation(db: Database, settings: Settings, actor: str, kvk: str, invitation_id: int) -> dict[str, Any]:
    """A new link (valid 21 days from now) to the invitee; the old one stops working."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        i = invitations.get(t, invitation_id, kvk, lock=True)
        if requests.email_taken(t, i.email):
            raise Conflict("already_registered", f"An account or an open account request for {i.email} exists.")
        token = invitations.renew(t, i)
        _invite_mail(t, settings, i.email, catalogue.get_org(t, kvk).name, token, i.expires_at)
        return _invitation_view(t, i)


def invitation_info(db: Database, token: str) -> dict[str, Any]:
    """For the invitation page: the e-mail and organisation of a valid link (4xx saying why otherwise)."""
    with db.read() as s:
        t = Tx(s=s, actor="invitation", on_behalf_of=None, now=db.clock.now())
        i, _ = invitations.by_token(t, token)
        org = catalogue.get_org(t, i.kvk)
        return {"valid": True, "email": i.email, "kvk": i.kvk, "organisation_name": org.name,
                "expires_at": i.expires_at.isoformat()}


def accept_invitation(db: Database, settings: Settings, token: str, password: str, name: str = "") -> str:
    """The invitee chooses a password: an account request for the beheerders (each gets an e-mail), who approve as
    for a registration; returns the request's status. The link is used up."""
    check_password(password)
    password_hash = passwords.hash_password(password)  # slow: outside the transaction
    with db.tx(actor="invitation") as t:
        i, row = invitations.by_token(t, token, lock=True)
        t.actor, t.on_behalf_of = i.email, i.kvk  # the invitee acts
        requests.lock_keys(t, f"email:{i.email}", f"kvk:{i.kvk}")
        org = catalogue.get_org(t, i.kvk)
        status, beheerders = route_request(t, org)
        r = requests.create(t, email=i.email, kvk=i.kvk, organisation_name=org.name, name=name,
                            password_hash=password_hash, kind="invitation", status=status)
        invitations.accepted(t, i, row, r.id)
        for b in beheerders:
            mail(t, b.email, "invitation_accepted", applicant=r.email, applicant_name=r.name, org_name=org.name,
                 inviter=i.invited_by, base_url=settings.base_url)
        if status == "pending_operator":  # the organisation has no active beheerder (any more): R5
            tell_operators(t, settings, r, org, new_org=org.status != "verified")
        return status


# -- activation (R8) --------------------------------------------------------------------------------------------

def lapsed(t: Tx, found: list[Account]) -> set[int]:
    """Ids of the approved accounts among ``found`` without a live activation link: they can no longer activate."""
    waiting = [a.id for a in found if a.status == "approved"]
    return set(waiting) - tokens.with_live_link(t, waiting, "activation")


def resend_activation(db: Database, settings: Settings, actor: str, kvk: str, email: str) -> dict[str, Any]:
    """A new activation link (21 days) for an approved account of ``kvk``; earlier links stop working."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        a = accounts.get(t, email, kvk, lock=True)
        if a.status != "approved":
            raise Conflict("not_activatable", f"{a.email} is {a.status}; only an approved account is activated.")
        _send_activation(t, settings, a)
        return {**accounts.view(t, a), "lapsed": False}


def _send_activation(t: Tx, settings: Settings, a: Account) -> None:
    token = tokens.issue(t, "activation", ACTIVATION_TTL, account_id=a.id, email=a.email, kvk=a.org)
    t.audit("activation.send", f"account:{a.email}", None, {"email": a.email, "valid_until":
                                                            (t.now + ACTIVATION_TTL).isoformat()}, org=a.org)
    org_name = catalogue.get_org(t, a.org).name if a.org else ""
    mail(t, a.email, "activation_link", org_name=org_name, person=a.name,
         link=f"{settings.base_url}/activeren/{token}", valid_until=dutch_day(t.now + ACTIVATION_TTL))


# -- deactivation and reactivation (R1, R4) ---------------------------------------------------------------------

def deactivate(db: Database, store: SessionStore, actor: str, kvk: str, email: str) -> Outcome:
    """The account stops deciding at once (R1: an inactive account views nothing), its sessions end, and it gets an
    e-mail. Never the last active beheerder (R4), also not when two beheerders deactivate each other at once."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        a = lock_change(t, kvk, actor, email, leaving=True)
        if a.status == "inactive":
            raise Conflict("already_inactive", f"{a.email} is already deactivated.")
        accounts.set_status(t, a, "inactive")
        mail(t, a.email, "account_deactivated", person=a.name, org_name=catalogue.get_org(t, kvk).name,
             **acting(t))
        answer = {**accounts.view(t, a), "lapsed": False}
        account_id = a.id
    store.end_all(account_id)  # after commit: the account is inactive already, so no session acts meanwhile
    return Outcome(answer, t.revision)


def reactivate(db: Database, settings: Settings, actor: str, kvk: str, email: str) -> Outcome:
    """A deactivated account becomes active again (approved, with a new activation link, if it never was)."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        a = accounts.get(t, email, kvk, lock=True)
        if a.status != "inactive":
            raise Conflict("not_inactive", f"{a.email} is {a.status}, not deactivated.")
        org_name = catalogue.get_org(t, kvk).name
        if a.activated_at is None:
            accounts.set_status(t, a, "approved")
            _send_activation(t, settings, a)
        else:
            accounts.set_status(t, a, "active")
            mail(t, a.email, "account_reactivated", person=a.name, org_name=org_name, portal_url=settings.base_url,
                 **acting(t))
        answer = {**accounts.view(t, a), "lapsed": False}
    return Outcome(answer, t.revision)
