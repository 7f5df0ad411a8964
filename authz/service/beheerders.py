"""Appointing and removing beheerders (R14), never the last active one (R4).

The caller has already checked that the actor is a beheerder of ``org``, or the operator (R18: the way out when
an organisation's only beheerder has left); the accounts touched here must belong to ``org`` (404 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authz import messages
from authz.domain import beheerders as r4
from authz.errors import Forbidden, Invalid, NotFound
from authz.service.accounts import acting
from authz.store import accounts, catalogue
from authz.store.db import Database, Tx
from authz.store.schema import Account


@dataclass(frozen=True)
class Outcome:
    """The organisation's beheerders after the change; ``revision`` is None when nothing changed."""

    answer: dict[str, Any]
    revision: int | None


def answer(t: Tx, org: str) -> dict[str, Any]:
    """The active beheerders; with only one, the advice of the manual to appoint a second (R4)."""
    found = accounts.active_beheerders(t, org)
    out: dict[str, Any] = {"beheerders": [{"email": a.email, "name": a.name} for a in found]}
    if r4.alone([a.email for a in found]):
        out["advice"] = {"code": "appoint_second_beheerder",
                         "message": "Uw organisatie heeft één beheerder. Wijs een tweede beheerder aan, "
                                    "voor vervanging bij afwezigheid."}
    return out


def listing(db: Database, actor: str, org: str) -> dict[str, Any]:
    with db.tx(actor, on_behalf_of=org) as t:
        return answer(t, org)


def appoint(db: Database, actor: str, org: str, email: str, portal_url: str) -> Outcome:
    """Give an active account of ``org`` the beheerder role (R14). Appointing a beheerder again changes nothing."""
    with db.tx(actor, on_behalf_of=org) as t:
        account = lock_change(t, org, actor, email, leaving=False)
        if account.status != "active":
            raise Invalid("account_not_active", f"{account.email} is not active; only an active account can be "
                                                f"appointed beheerder.")
        changed = r4.ROLE not in accounts.roles(t, account)
        if changed:
            accounts.set_role(t, account, r4.ROLE, True)
            _notify(t, account, "beheerder_appointed", portal_url)
        result = answer(t, org)
    return Outcome(result, t.revision if changed else None)


def remove(db: Database, actor: str, org: str, email: str, portal_url: str) -> Outcome:
    """Take the beheerder role from an account of ``org``, or step down; never from the last active one (R4)."""
    with db.tx(actor, on_behalf_of=org) as t:
        account = lock_change(t, org, actor, email, leaving=True)
        if r4.ROLE not in accounts.roles(t, account):
            raise NotFound("not_beheerder", f"{account.email} is not a beheerder of this organisation.")
        accounts.set_role(t, account, r4.ROLE, False)
        _notify(t, account, "beheerder_removed", portal_url)
        result = answer(t, org)
    return Outcome(result, t.revision)


def lock_change(t: Tx, org: str, actor: str, email: str, *, leaving: bool) -> Account:
    """Lock ``org``'s active beheerders, then its account ``email``, before a change to that account's roles or
    status: concurrent changes queue here, and each counts what the one before left. The session was checked
    before the transaction; under the lock the actor must still be an active beheerder (two beheerders removing
    each other at once). With ``leaving`` (the change takes the account out of the active beheerders), R4 refuses
    the last one (409 ``last_beheerder``), also for the operator (R18), who acts here as long as it is an active
    operator."""
    before = [a.email for a in accounts.active_beheerders(t, org, lock=True)]
    if actor not in before and actor not in {a.email for a in accounts.active_operators(t)}:
        raise Forbidden("forbidden", "You are no longer a beheerder of this organisation.")
    account = accounts.get(t, email, org, lock=True)
    if leaving:
        r4.check_change(before, [e for e in before if e != account.email], account.email)
    return account


def _notify(t: Tx, account: Account, template: str, portal_url: str) -> None:
    org = account.org or ""
    org_name = catalogue.org_names(t.s, [org]).get(org, org)
    subject, text, html = messages.render(template, person=account.name or account.email, **acting(t),
                                          self_service=t.actor == account.email, org=org, org_name=org_name,
                                          portal_url=portal_url)
    t.mail(account.email, subject, text, html)
