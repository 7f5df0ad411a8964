"""The operator's catalogue: organisations, products, contracts and mandates (R3, R12), for the JSON API and the
portal alike.

Every change is one transaction of :mod:`authz.store.catalogue` (change, audit and change event together) and
returns its view with the revision that holds it. A new contract grants nobody anything and sends no e-mail (R3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any, Literal

from authz.domain.window import check_dates, ended
from authz.errors import Invalid
from authz.service.results import Done, Page, page
from authz.store import catalogue
from authz.store.db import Database

View = dict[str, Any]


class Keep(Enum):
    """A field a PUT left out: an existing contract or mandate keeps its value (SPEC §4)."""

    KEEP = "keep"


KEEP = Keep.KEEP
Kept = Literal[Keep.KEEP]


def window(valid_from: date | None, valid_until: date | None, today: date) -> tuple[date, date | None]:
    """A contract's or mandate's days as given: ``valid_from`` absent means today (Europe/Amsterdam),
    ``valid_until`` absent means open; 422 ``invalid_dates`` when it ends before it starts."""
    start = valid_from or today
    check_dates(start, valid_until)
    return start, valid_until


# -- organisations ---------------------------------------------------------------------------------------------

def create_org(db: Database, actor: str, kvk: str, name: str, domains: list[str]) -> Done:
    """Register a verified organisation (409 when it exists)."""
    with db.tx(actor) as t:
        view = catalogue.org_view(catalogue.create_org(t, kvk, name, domains))
    return Done(view, t.revision)


def update_org(db: Database, actor: str, kvk: str, name: str | None, domains: list[str] | None) -> Done:
    """R18: rename an organisation and/or replace its e-mail domains (None: unchanged); 404 for an unknown one.
    ``revision`` is 0 when nothing changed."""
    with db.tx(actor, on_behalf_of=kvk) as t:
        view = catalogue.org_view(catalogue.update_org(t, kvk, name, domains))
    return Done(view, t.revision)


def find_orgs(db: Database, q: str | None, after: str | None, limit: int) -> Page[View]:
    """Organisations in KvK order whose number or name contains ``q``, after ``after``."""
    with db.read() as s:
        found = [catalogue.org_view(o) for o in catalogue.find_orgs(s, q, after, limit + 1)]
    return page(found, limit, lambda o: o["kvk"])


def org_names(db: Database, kvks: list[str]) -> dict[str, str]:
    """KvK number -> name, of those that exist."""
    with db.read() as s:
        return catalogue.org_names(s, kvks)


def org(db: Database, kvk: str) -> View:
    """One organisation (404 unknown)."""
    with db.read() as s:
        return catalogue.org_view(catalogue.read_org(s, kvk))


def contracts(db: Database, kvk: str) -> list[View]:
    """The organisation's contracts as afnemer (404 for an unknown organisation)."""
    return overview(db, kvk).contracts


def mandates(db: Database, kvk: str) -> dict[str, list[View]]:
    """The mandates the organisation gave (as afnemer) and holds (as intermediair)."""
    found = overview(db, kvk)
    return {"given": found.given, "held": found.held}


@dataclass(frozen=True)
class Overview:
    """One organisation as the operator sees it: contracts, mandates both ways, and the names they mention."""

    org: View
    contracts: list[View]
    given: list[View]
    held: list[View]
    names: dict[str, str]  # KvK number -> name, of the other party of each mandate


def overview(db: Database, kvk: str) -> Overview:
    today = db.clock.today()
    with db.read() as s:
        found = catalogue.org_view(catalogue.read_org(s, kvk))
        held_contracts = [catalogue.contract_view(c, today) for c in catalogue.contracts_of(s, kvk)]
        given, held = catalogue.mandates_of(s, kvk)
        names = catalogue.org_names(s, [*(m.intermediair for m in given), *(m.afnemer for m in held)])
        return Overview(found, held_contracts, [catalogue.mandate_view(m, today) for m in given],
                        [catalogue.mandate_view(m, today) for m in held], names)


# -- products --------------------------------------------------------------------------------------------------

def create_product(db: Database, actor: str, code: str, name: str, description: str, url: str | None = None
                   ) -> Done:
    """Add a product (409 when the code exists); ``url`` is the link the gebruiker is offered for it (R16)."""
    with db.tx(actor) as t:
        view = catalogue.product_view(catalogue.create_product(t, code, name, description, url))
    return Done(view, t.revision)


def put_product(db: Database, actor: str, code: str, changes: View) -> Done:
    """Change a product's ``name``, ``description`` or ``url`` (only the keys given; ``url`` None removes the link);
    404 for an unknown code. When nothing changed nothing is written, and the revision is the current one."""
    with db.tx(actor) as t:
        view = catalogue.product_view(catalogue.put_product(t, code, changes))
    return Done(view, t.revision or db.revision())


def products(db: Database) -> list[View]:
    with db.read() as s:
        return [catalogue.product_view(p) for p in catalogue.all_products(s)]


def product_names(db: Database, codes: list[str]) -> dict[str, str]:
    with db.read() as s:
        return catalogue.product_names(s, codes)


# -- contracts and mandates ------------------------------------------------------------------------------------

def put_contract(db: Database, actor: str, afnemer: str, product: str, valid_from: date | Kept | None,
                 valid_until: date | Kept | None) -> Done:
    """Start a contract or change its days. A field given as :data:`KEEP` keeps the existing contract's value; on a
    new one (or ``valid_from`` None) the window of :func:`window` (from today, open-ended). ``valid_until`` None is
    open-ended. Grants nobody anything (R3). Answers the resulting contract."""
    today = db.clock.today()
    with db.tx(actor) as t:
        old = catalogue.find_contract(t, afnemer, product)
        start, end = _kept(old, valid_from, valid_until, today)
        view = catalogue.contract_view(catalogue.put_contract(t, afnemer, product, start, end), today)
    return Done(view, t.revision)


def _kept(old: Any, valid_from: date | Kept | None, valid_until: date | Kept | None, today: date
          ) -> tuple[date, date | None]:
    """The days of a PUT over ``old`` (a contract or mandate, or None): what was left out stays as it was."""
    if valid_from is KEEP or valid_from is None:
        valid_from = old.valid_from if old is not None and valid_from is KEEP else None
    if valid_until is KEEP:
        valid_until = old.valid_until if old is not None else None
    return window(valid_from, valid_until, today)


def end_contract(db: Database, actor: str, afnemer: str, product: str) -> Done:
    """End a contract at once: its last day becomes yesterday (:func:`authz.domain.window.ended`), and it stays
    listed as ended. Grants resting on it become inert, and stay until a beheerder removes them."""
    today = db.clock.today()
    with db.tx(actor) as t:
        old = catalogue.find_contract(t, afnemer, product)
        if old is None:
            catalogue.missing_contract(afnemer, product)
        start, end = ended(old.valid_from, today)
        view = catalogue.contract_view(catalogue.put_contract(t, afnemer, product, start, end, action="contract.end"),
                                       today)
    return Done(view, t.revision)


def put_mandate(db: Database, actor: str, afnemer: str, intermediair: str, products: list[str] | Kept | None,
                valid_from: date | Kept | None, valid_until: date | Kept | None) -> Done:
    """Start a mandate or change it, keeping what is given as :data:`KEEP` (a new mandate: all products, from
    today, open-ended); ``products`` None means all of the afnemer's products, and an empty list is refused (422):
    a mandate for nothing is ended instead. Answers the resulting mandate."""
    if products is not KEEP and products is not None and not products:
        raise Invalid("invalid_field", "'products' names no product; send null for all of them, or end the "
                                       "mandate with DELETE.", field="products")
    today = db.clock.today()
    with db.tx(actor) as t:
        old = catalogue.find_mandate(t, afnemer, intermediair)
        start, end = _kept(old, valid_from, valid_until, today)
        if products is KEEP:
            products = list(old.products) if old is not None and old.products is not None else None
        view = catalogue.mandate_view(catalogue.put_mandate(t, afnemer, intermediair, products, start, end), today)
    return Done(view, t.revision)


def end_mandate(db: Database, actor: str, afnemer: str, intermediair: str) -> Done:
    """End a mandate at once, as :func:`end_contract` ends a contract; it stays listed as ended."""
    today = db.clock.today()
    with db.tx(actor) as t:
        old = catalogue.find_mandate(t, afnemer, intermediair)
        if old is None:
            catalogue.missing_mandate(afnemer, intermediair)
        start, end = ended(old.valid_from, today)
        products = list(old.products) if old.products is not None else None
        view = catalogue.mandate_view(catalogue.put_mandate(t, afnemer, intermediair, products, start, end,
                                                            action="mandate.end"), today)
    return Done(view, t.revision)
