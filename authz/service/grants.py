"""Grants as a beheerder sees and ticks them: what may be offered (R2, R15), what is inert (R1), saving (R9).

The caller has already checked that the actor is a beheerder of ``org`` (authz.identity.require). Everything here
stays inside ``org``: the account must belong to it, and only ``org`` itself or an afnemer that gave ``org`` a mandate
valid today can be ticked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from authz import messages
from authz.clock import AMSTERDAM
from authz.domain import grants as r2
from authz.domain.state import Contr, Mand
from authz.errors import Conflict
from authz.service.accounts import acting
from authz.store import accounts, catalogue
from authz.store import grants as grant_store
from authz.store.db import Database, Tx
from authz.store.schema import Account


@dataclass(frozen=True)
class Saved:
    """The outcome of a save: ``revision`` is the committed revision, None when nothing changed."""

    added: list[str]
    removed: list[str]
    version: int
    revision: int | None


def today(t: Tx) -> date:
    """The day the rules speak of: the transaction's moment, in Europe/Amsterdam."""
    return t.now.astimezone(AMSTERDAM).date()


def clients(t: Tx, org: str) -> dict[str, list[str]]:
    """R15: afnemer -> the products ``org`` may offer for it: one entry per mandate valid today, holding the
    afnemer's currently contracted products within the mandate's subset (possibly none)."""
    return {a: products for a, products in selectable(t, org).items() if a != org}


def selectable(t: Tx, org: str) -> dict[str, list[str]]:
    """R2: afnemer -> the products a beheerder of ``org`` may tick for its users today
    (:func:`authz.domain.grants.offer`, over the contracts and mandates valid today)."""
    day = today(t)
    mandates = catalogue.mandates_held(t, org, day)
    contracts = catalogue.contracts_valid_of(t.s, [org, *(m.afnemer for m in mandates)], day)
    return r2.offer(org, contracts, mandates, day)


def _lapsed(t: Tx, org: str, inert: Mapping[str, list[str]]) -> dict[str, dict[str, tuple[str, date | None]]]:
    """Why each inert grant gives nothing (afnemer -> product -> (the refusal's code, the last day of the contract or
    mandate that ran out, when it has one)): the user's page says which contract or mandate ended, and when."""
    day = today(t)
    held_mandates = {m.afnemer: m for m in catalogue.mandates_of(t.s, org)[1]}
    out: dict[str, dict[str, tuple[str, date | None]]] = {}
    for afnemer, products in inert.items():
        contracts = {c.product: c for c in catalogue.contracts_of(t.s, afnemer)}
        m = held_mandates.get(afnemer)
        mandate = (Mand(m.afnemer, m.intermediair, m.valid_from, m.valid_until,
                        tuple(m.products) if m.products is not None else None) if m is not None else None)
        for product in products:
            c = contracts.get(product)
            contract = Contr(c.afnemer, c.product, c.valid_from, c.valid_until) if c is not None else None
            why = r2.refusal(org, afnemer, product, contract, mandate, day)
            if why is None:
                continue
            until = {r2.Refusal.CONTRACT_NOT_VALID: contract.valid_until if contract else None,
                     r2.Refusal.MANDATE_NOT_VALID: mandate.valid_until if mandate else None}.get(why)
            out.setdefault(afnemer, {})[product] = (why.value, until)
    return out


def overview(db: Database, actor: str, org: str, email: str) -> dict[str, Any]:
    """What the grants screen of one user shows: ticked, tickable, inert, the version to save against, names."""
    with db.tx(actor, on_behalf_of=org) as t:
        account = accounts.get(t, email, org)
        held = grant_store.of_account(t, account.id)
        offer = selectable(t, org)
        codes = {p for products in [*held.values(), *offer.values()] for p in products}
        inert = r2.inert(held, offer)
        return {
            "email": account.email,
            "grants": held,
            "selectable": offer,
            "inert": inert,
            "lapsed": _lapsed(t, org, inert),
            "version": account.grants_version,
            "organisations": catalogue.org_names(t.s, [org, *held, *offer]),
            "products": catalogue.product_names(t.s, codes),
        }


def save(db: Database, actor: str, org: str, email: str, afnemer: str, products: list[str],
         version: int | None, portal_url: str) -> Saved:
    """Make ``products`` the ticked set of (account, afnemer), as one transaction with its audit, change event and
    one e-mail to the account (R9). Nothing is written when nothing changes."""
    with db.tx(actor, on_behalf_of=org) as t:
        # Lock the account row before reading anything: a second beheerder saving at once waits here, then
        # finds the version moved on.
        account = accounts.get(t, email, org, lock=True)
        if version is not None and version != account.grants_version:
            raise Conflict("stale_version", f"The grants of {account.email} were changed meanwhile (version "
                                            f"{account.grants_version}, not {version}); reload and try again.")
        added, removed = set_grants(t, account, afnemer, set(products), version, portal_url)
        new_version = account.grants_version
    return Saved(added, removed, new_version, t.revision if added or removed else None)


def set_grants(t: Tx, account: Account, afnemer: str, products: set[str], version: int | None, portal_url: str,
               provenance: Mapping[str, tuple[str, datetime]] | None = None) -> tuple[list[str], list[str]]:
    """Inside ``t``: make ``products`` the ticked set of (account, afnemer) when R2 allows it (a grant already held
    may stay, R1), with its audit and change event, and one e-mail to the account when anything changed (R9).
    Returns (added, removed). ``provenance`` keeps who ticked an added product and when (``authz policy import``)."""
    held = grant_store.of_account(t, account.id).get(afnemer, [])
    offer = selectable(t, account.org) if account.org is not None else {}
    r2.check_ticks(offer, account.org, afnemer, products, held)
    added, removed = grant_store.replace(t, account, afnemer, products, version, provenance)
    if added or removed:
        notify(t, account, afnemer, added, removed, portal_url)
    return added, removed


def products_url(portal_url: str) -> str:
    """R16: where a gebruiker sees what they may view now, "Mijn producten" (SPEC §4: ``/producten``)."""
    return f"{portal_url.rstrip('/')}/producten"


def notify(t: Tx, account: Account, afnemer: str, added: list[str], removed: list[str], portal_url: str) -> None:
    org = account.org or ""
    orgs = catalogue.org_names(t.s, [org, afnemer])
    names = catalogue.product_names(t.s, [*added, *removed])
    subject, text, html = messages.render(
        "grants_changed", person=account.name or account.email, **acting(t), org=org, org_name=orgs.get(org, org),
        afnemer=afnemer, afnemer_name=orgs.get(afnemer, afnemer), own=afnemer == org,
        products_url=products_url(portal_url),
        added=[{"code": c, "name": names.get(c, c)} for c in added],
        removed=[{"code": c, "name": names.get(c, c)} for c in removed])
    t.mail(account.email, subject, text, html)
