"""A beheerder's view of the organisation's accounts: the overview (searchable, paged), one account, who could be
appointed beheerder, and the afnemers the organisation acts for (R15). The JSON API and the portal both show these.

The caller has already checked that the actor may do this for ``org``; everything here stays inside ``org``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from authz.domain.beheerders import ROLE
from authz.service import grants, members
from authz.service.results import Page, page
from authz.store import accounts, catalogue
from authz.store.db import Database
from authz.store.schema import Account

STATUSES = accounts.STATUSES


@dataclass(frozen=True)
class User:
    email: str
    name: str
    status: str
    roles: list[str]
    lapsed: bool  # approved, but its activation link ran out (R8): send a new one

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Client:
    """An afnemer the organisation acts for under a mandate valid today, with the products it may offer."""

    kvk: str
    name: str
    products: list[str]
    product_names: dict[str, str]

    def view(self) -> dict[str, Any]:
        return {"kvk": self.kvk, "name": self.name, "products": self.products}


def listing(db: Database, actor: str, org: str, q: str | None, after: str | None, limit: int) -> Page[User]:
    """The organisation's accounts by e-mail: those whose e-mail or name contains ``q``, after ``after``."""
    with db.tx(actor, on_behalf_of=org) as t:
        found = accounts.of_org(t.s, org, q, after, limit + 1)
        lapsed = members.lapsed(t, [a for a, _ in found])
        rows = [User(a.email, a.name, a.status, roles, a.id in lapsed) for a, roles in found]
    return page(rows, limit, lambda u: u.email)


def person(db: Database, actor: str, org: str, email: str) -> User:
    """One account of the organisation (404 for any other)."""
    with db.tx(actor, on_behalf_of=org) as t:
        a: Account = accounts.get(t, email, org)
        return User(a.email, a.name, a.status, sorted(accounts.roles(t, a)), bool(members.lapsed(t, [a])))


def beheerder_candidates(db: Database, org: str) -> list[str]:
    """The active accounts of the organisation that are not beheerder yet (R14)."""
    with db.read() as s:
        return [a.email for a, roles in accounts.of_org(s, org)
                if a.status == "active" and ROLE not in roles]


def clients(db: Database, actor: str, org: str) -> list[Client]:
    """R15: the afnemers ``org`` acts for, each with the products it may offer for it."""
    with db.tx(actor, on_behalf_of=org) as t:
        offer = grants.clients(t, org)
        names = catalogue.org_names(t.s, offer)
        products = catalogue.product_names(t.s, {p for codes in offer.values() for p in codes})
    return [Client(a, names.get(a, a), codes, {p: products.get(p, p) for p in codes}) for a, codes in offer.items()]
