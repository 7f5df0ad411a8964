"""Organisations, products, contracts and mandates: what the operator maintains."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from authz import policy
from authz.domain import window
from authz.domain.state import Contr, Mand
from authz.errors import Conflict, Invalid, NotFound
from authz.events import ContractEnded, ContractPut, MandateEnded, MandatePut, OrganisationNamed, ProductCreated
from authz.store import projection
from authz.store.db import Tx
from authz.store.schema import Contract, Mandate, Organisation, Product


def org_view(o: Organisation) -> dict[str, Any]:
    return {"kvk": o.kvk, "name": o.name, "status": o.status, "domains": list(o.domains or [])}


def create_org(t: Tx, kvk: str, name: str, domains: list[str] | None = None, status: str = "verified"
               ) -> Organisation:
    if t.s.get(Organisation, kvk) is not None:
        raise Conflict("organisation_exists", f"An organisation with KvK number {kvk} already exists.")
    org = Organisation(kvk=kvk, name=name, status=status, domains=sorted(domains or []), created_at=t.now)
    t.s.add(org)
    t.s.flush()
    t.audit("organisation.create", f"organisation:{kvk}", None, org_view(org), org=kvk)
    t.event(OrganisationNamed(kvk, name))
    return org


def verify_org(t: Tx, kvk: str, name: str | None = None) -> Organisation:
    org = get_org(t, kvk)
    before = org_view(org)
    org.status = "verified"
    if name:
        org.name = name
    t.audit("organisation.verify", f"organisation:{kvk}", before, org_view(org), org=kvk)
    t.event(OrganisationNamed(kvk, org.name))
    return org


def update_org(t: Tx, kvk: str, name: str | None, domains: list[str] | None) -> Organisation:
    """R18: the operator renames an organisation or replaces its e-mail domains (None: left as it is); audited with
    before and after. A change that changes nothing writes nothing."""
    org = get_org(t, kvk)
    before = org_view(org)
    if name is not None:
        org.name = name
    if domains is not None:
        org.domains = sorted(domains)
    after = org_view(org)
    if after != before:
        t.audit("organisation.update", f"organisation:{kvk}", before, after, org=kvk)
        if after["name"] != before["name"]:
            t.event(OrganisationNamed(kvk, org.name))
    return org


def get_org(t: Tx, kvk: str) -> Organisation:
    org = t.s.get(Organisation, kvk)
    if org is None:
        raise NotFound("unknown_organisation", f"No organisation with KvK number {kvk} is known.")
    return org


def create_product(t: Tx, code: str, name: str, description: str = "", url: str | None = None) -> Product:
    if t.s.get(Product, code) is not None:
        raise Conflict("product_exists", f"A product with code '{code}' already exists.")
    product = Product(code=code, name=name, description=description, url=url, created_at=t.now)
    t.s.add(product)
    t.s.flush()
    t.audit("product.create", f"product:{code}", None, product_view(product))
    t.event(ProductCreated(code))
    return product


def put_product(t: Tx, code: str, changes: dict[str, Any]) -> Product:
    """Change a product's ``name``, ``description`` or ``url`` (the keys of ``changes``; ``url`` None removes the
    link). Its audit record holds the whole product before and after; the decider needs no event (it knows codes
    only)."""
    product = get_product(t, code)
    before = product_view(product)
    for field_name in ("name", "description", "url"):
        if field_name in changes:
            setattr(product, field_name, changes[field_name])
    after = product_view(product)
    if after != before:
        t.s.flush()
        t.audit("product.put", f"product:{code}", before, after)
    return product


def get_product(t: Tx, code: str) -> Product:
    product = t.s.get(Product, code)
    if product is None:
        raise NotFound("unknown_product", f"No product with code '{code}' is known.")
    return product


def _contract_view(c: Contract) -> dict[str, Any]:
    return {"afnemer": c.afnemer, "product": c.product, "valid_from": c.valid_from.isoformat(),
            "valid_until": c.valid_until.isoformat() if c.valid_until else None}


def find_contract(t: Tx, afnemer: str, product: str) -> Contract | None:
    """The contract, locked for the change that reads it (a PUT keeps what its body leaves out), or None."""
    return t.s.get(Contract, (afnemer, product), with_for_update=True)


def missing_contract(afnemer: str, product: str) -> NoReturn:
    raise NotFound("unknown_contract", f"Afnemer {afnemer} has no contract for '{product}'.")


def put_contract(t: Tx, afnemer: str, product: str, valid_from: date, valid_until: date | None, *,
                 action: str = "contract.put") -> Contract:
    """Start a contract, or change its dates (``action`` "contract.end" in the audit when it is ended at once).
    Grants nobody anything and tells nobody (R3)."""
    get_org(t, afnemer)
    get_product(t, product)
    window.check_dates(valid_from, valid_until)
    c = t.s.get(Contract, (afnemer, product))
    before = _contract_view(c) if c is not None else None
    old_lines = [policy.contract_line(afnemer, product, c.valid_from, c.valid_until)] if c is not None else []
    if c is None:
        c = Contract(afnemer=afnemer, product=product, valid_from=valid_from, valid_until=valid_until,
                     updated_at=t.now)
        t.s.add(c)
    else:
        c.valid_from, c.valid_until, c.updated_at = valid_from, valid_until, t.now
    t.s.flush()
    projection.replace(t.s, old_lines, [policy.contract_line(afnemer, product, valid_from, valid_until)])
    t.audit(action, f"contract:{afnemer}/{product}", before, _contract_view(c), org=afnemer)
    t.event(ContractPut(afnemer, product, valid_from, valid_until))
    return c


def end_contract(t: Tx, afnemer: str, product: str) -> None:
    """Remove a contract (a policy import whose file leaves it out; the operator ends one at once instead, by its
    days: :func:`authz.service.catalogue.end_contract`). Grants that rested on it become inert but stay, flagged,
    until a beheerder removes them."""
    c = t.s.get(Contract, (afnemer, product))
    if c is None:
        missing_contract(afnemer, product)
    before = _contract_view(c)
    projection.remove(t.s, [policy.contract_line(afnemer, product, c.valid_from, c.valid_until)])
    t.s.delete(c)
    t.audit("contract.end", f"contract:{afnemer}/{product}", before, None, org=afnemer)
    t.event(ContractEnded(afnemer, product))


def _mandate_view(m: Mandate) -> dict[str, Any]:
    return {"afnemer": m.afnemer, "intermediair": m.intermediair, "valid_from": m.valid_from.isoformat(),
            "valid_until": m.valid_until.isoformat() if m.valid_until else None,
            "products": list(m.products) if m.products is not None else None}


def _mandate_lines(m: Mandate) -> list[policy.Line]:
    return policy.mandate_lines(m.afnemer, m.intermediair, m.products, m.valid_from, m.valid_until)


def find_mandate(t: Tx, afnemer: str, intermediair: str) -> Mandate | None:
    """The mandate, locked for the change that reads it, or None."""
    return t.s.get(Mandate, (afnemer, intermediair), with_for_update=True)


def missing_mandate(afnemer: str, intermediair: str) -> NoReturn:
    raise NotFound("unknown_mandate", f"Organisation {intermediair} holds no mandate from {afnemer}.")


def put_mandate(t: Tx, afnemer: str, intermediair: str, products: list[str] | None, valid_from: date,
                valid_until: date | None, *, action: str = "mandate.put") -> Mandate:
    get_org(t, afnemer)
    get_org(t, intermediair)
    if afnemer == intermediair:
        raise Invalid("invalid_mandate", "An organisation needs no mandate from itself.")
    window.check_dates(valid_from, valid_until)
    for code in products or []:
        get_product(t, code)
    m = t.s.get(Mandate, (afnemer, intermediair))
    before = _mandate_view(m) if m is not None else None
    old_lines = _mandate_lines(m) if m is not None else []
    subset = sorted(products) if products is not None else None
    if m is None:
        m = Mandate(afnemer=afnemer, intermediair=intermediair, valid_from=valid_from, valid_until=valid_until,
                    products=subset, updated_at=t.now)
        t.s.add(m)
    else:
        m.valid_from, m.valid_until, m.products, m.updated_at = valid_from, valid_until, subset, t.now
    t.s.flush()
    projection.replace(t.s, old_lines, _mandate_lines(m))
    after = _mandate_view(m)
    t.audit(action, f"mandate:{afnemer}/{intermediair}", before, after, org=afnemer)
    t.audit(action, f"mandate:{afnemer}/{intermediair}", before, after, org=intermediair)
    t.event(MandatePut(afnemer, intermediair, valid_from, valid_until, tuple(subset) if subset is not None else None))
    return m


def end_mandate(t: Tx, afnemer: str, intermediair: str) -> None:
    m = t.s.get(Mandate, (afnemer, intermediair))
    if m is None:
        missing_mandate(afnemer, intermediair)
    before = _mandate_view(m)
    projection.remove(t.s, _mandate_lines(m))
    t.s.delete(m)
    t.audit("mandate.end", f"mandate:{afnemer}/{intermediair}", before, None, org=afnemer)
    t.audit("mandate.end", f"mandate:{afnemer}/{intermediair}", before, None, org=intermediair)
    t.event(MandateEnded(afnemer, intermediair))


def _valid_on(table: type[Contract] | type[Mandate], day: date) -> ColumnElement[bool]:
    """The window rule (:func:`authz.domain.window.holds`) as SQL, so that the database filters the rows;
    ``tests/test_domain_sql.py`` proves the two agree."""
    return and_(table.valid_from <= day, or_(table.valid_until.is_(None), table.valid_until >= day))


def mandates_held(t: Tx, intermediair: str, today: date) -> list[Mand]:
    """The mandates the organisation holds that are valid on ``today`` (R15: its clients), in afnemer order."""
    rows = t.s.scalars(select(Mandate).where(Mandate.intermediair == intermediair, _valid_on(Mandate, today))
                       .order_by(Mandate.afnemer))
    return [Mand(m.afnemer, m.intermediair, m.valid_from, m.valid_until,
                 tuple(m.products) if m.products is not None else None) for m in rows]


# -- reading, for the operator's listings (a plain read session: no write lock, no revision) -------------------

def product_view(p: Product) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "description": p.description, "url": p.url}


def contract_view(c: Contract, today: date) -> dict[str, Any]:
    return {**_contract_view(c), "valid_today": window.holds(c.valid_from, c.valid_until, today)}


def mandate_view(m: Mandate, today: date) -> dict[str, Any]:
    return {**_mandate_view(m), "valid_today": window.holds(m.valid_from, m.valid_until, today)}


def find_orgs(s: Session, q: str | None, after: str | None, limit: int) -> list[Organisation]:
    """Organisations in KvK order, after ``after``; ``q`` matches the start of the KvK number or part of the name."""
    query = select(Organisation).order_by(Organisation.kvk).limit(limit)
    if q:
        query = query.where(Organisation.kvk.startswith(q, autoescape=True)
                            | func.lower(Organisation.name).contains(q.lower(), autoescape=True))
    if after is not None:
        query = query.where(Organisation.kvk > after)
    return list(s.scalars(query))


def read_org(s: Session, kvk: str) -> Organisation:
    org = s.get(Organisation, kvk)
    if org is None:
        raise NotFound("unknown_organisation", f"No organisation with KvK number {kvk} is known.")
    return org


def all_products(s: Session) -> list[Product]:
    return list(s.scalars(select(Product).order_by(Product.code)))


def contracts_of(s: Session, afnemer: str) -> list[Contract]:
    return list(s.scalars(select(Contract).where(Contract.afnemer == afnemer).order_by(Contract.product)))


def mandates_of(s: Session, kvk: str) -> tuple[list[Mandate], list[Mandate]]:
    """(mandates the organisation gave as afnemer, mandates it holds as intermediair)."""
    given = s.scalars(select(Mandate).where(Mandate.afnemer == kvk).order_by(Mandate.intermediair))
    held = s.scalars(select(Mandate).where(Mandate.intermediair == kvk).order_by(Mandate.afnemer))
    return list(given), list(held)


# -- for the beheerder screens (R2, R15): batched, one query for many afnemers or codes ------------------------

def contracts_valid_of(s: Session, afnemers: Iterable[str], today: date) -> list[Contr]:
    """The contracts of these afnemers (all in one query) that are valid on ``today``, by afnemer and product."""
    wanted = sorted(set(afnemers))
    if not wanted:
        return []
    rows = s.execute(select(Contract.afnemer, Contract.product, Contract.valid_from, Contract.valid_until).where(
        Contract.afnemer.in_(wanted), _valid_on(Contract, today)).order_by(Contract.afnemer, Contract.product))
    return [Contr(a, p, f, u) for a, p, f, u in rows]


def org_names(s: Session, kvks: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(kvks))
    if not wanted:
        return {}
    return {k: n for k, n in s.execute(select(Organisation.kvk, Organisation.name)
                                       .where(Organisation.kvk.in_(wanted)))}


def product_names(s: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {c: n for c, n in s.execute(select(Product.code, Product.name).where(Product.code.in_(wanted)))}
