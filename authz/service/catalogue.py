"""The operator's catalogue: organisations, products, contracts and mandates (R3, R12), for the JSON API and the
portal alike.

Every change is one transaction of :mod:`authz.store.catalogue` (change, audit and change event together) and
returns its view with the revision that holds it. A new contract grants nobody anything and sends no e-mail (R3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from authz.domain.window import check_dates
from authz.errors import Invalid
from authz.service.results import Done, Page, page
from authz.store import catalogue
from authz.store.db import Database

View = dict[str, Any]


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


def find_orgs(db: Database, q: str | None, after: str | None, limit: int) -> Page[View]:
    """Organisations in KvK order whose number or name contains ``q``, after ``after``."""
    with db.read() as s:
        found = [catalogue.org_view(o) for o in catalogue.find_orgs(s, q, after, limit + 1)]
    return page(found, limit, lambda o: o["kvk"])


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

def put_contract(db: Database, actor: str, afnemer: str, product: str, valid_from: date | None,
                 valid_until: date | None) -> Done:
    """Start a contract or change its days (see :func:`window`). Grants nobody anything (R3)."""
    today = db.clock.today()
    start, end = window(valid_from, valid_until, today)
    with db.tx(actor) as t:
        view = catalogue.contract_view(catalogue.put_contract(t, afnemer, product, start, end), today)
    return Done(view, t.revision)


def end_contract(db: Database, actor: str, afnemer: str, product: str) -> Done:
    """End a contract: grants resting on it become inert, and stay until a beheerder removes them."""
    with db.tx(actor) as t:
        catalogue.end_contract(t, afnemer, product)
    return Done({"afnemer": afnemer, "product": product, "ended": True}, t.revision)


def put_mandate(db: Database, actor: str, afnemer: str, intermediair: str, products: list[str] | None,
                valid_from: date | None, valid_until: date | None) -> Done:
    """Start a mandate or change it; ``products`` None means all of the afnemer's products, and an empty list is
    refused (422): a mandate for nothing is ended instead."""
    if products is not None and not products:
        raise Invalid("invalid_field", "'products' names no product; leave it out for all of them, or end the "
                                       "mandate with DELETE.")
    today = db.clock.today()
    start, end = window(valid_from, valid_until, today)
    with db.tx(actor) as t:
        view = catalogue.mandate_view(catalogue.put_mandate(t, afnemer, intermediair, products, start, end), today)
    return Done(view, t.revision)


def end_mandate(db: Database, actor: str, afnemer: str, intermediair: str) -> Done:
    with db.tx(actor) as t:
        catalogue.end_mandate(t, afnemer, intermediair)
    return Done({"afnemer": afnemer, "intermediair": intermediair, "ended": True}, t.revision)
