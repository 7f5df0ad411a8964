"""Organisations, products, contracts and mandates: what the operator maintains."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authz import policy
from authz.errors import Conflict, NotFound
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


def get_org(t: Tx, kvk: str) -> Organisation:
    org = t.s.get(Organisation, kvk)
    if org is None:
        raise NotFound("unknown_organisation", f"No organisation with KvK number {kvk} is known.")
    return org


def create_product(t: Tx, code: str, name: str, description: str = "") -> Product:
    if t.s.get(Product, code) is not None:
        raise Conflict("product_exists", f"A product with code '{code}' already exists.")
    product = Product(code=code, name=name, description=description, created_at=t.now)
    t.s.add(product)
    t.s.flush()
    t.audit("product.create", f"product:{code}", None, {"code": code, "name": name, "description": description})
    t.event(ProductCreated(code))
    return product


def get_product(t: Tx, code: str) -> Product:
    product = t.s.get(Product, code)
    if product is None:
        raise NotFound("unknown_product", f"No product with code '{code}' is known.")
    return product


def _contract_view(c: Contract) -> dict[str, Any]:
    return {"afnemer": c.afnemer, "product": c.product, "valid_from": c.valid_from.isoformat(),
            "valid_until": c.valid_until.isoformat() if c.valid_until else None}


def put_contract(t: Tx, afnemer: str, product: str, valid_from: date, valid_until: date | None) -> Contract:
    """Start a contract, or change its dates. Grants nobody anything and tells nobody (R3)."""
    get_org(t, afnemer)
    get_product(t, product)
    if valid_until is not None and valid_until < valid_from:
        from authz.errors import Invalid

        raise Invalid("invalid_dates", "'valid_until' lies before 'valid_from'.")
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
    t.audit("contract.put", f"contract:{afnemer}/{product}", before, _contract_view(c), org=afnemer)
    t.event(ContractPut(afnemer, product, valid_from, valid_until))
    return c


def end_contract(t: Tx, afnemer: str, product: str) -> None:
    """Remove a contract. Grants that rested on it become inert but stay, flagged, until a beheerder removes them."""
    c = t.s.get(Contract, (afnemer, product))
    if c is None:
        raise NotFound("unknown_contract", f"Afnemer {afnemer} has no contract for '{product}'.")
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


def put_mandate(t: Tx, afnemer: str, intermediair: str, products: list[str] | None, valid_from: date,
                valid_until: date | None) -> Mandate:
    from authz.errors import Invalid

    get_org(t, afnemer)
    get_org(t, intermediair)
    if afnemer == intermediair:
        raise Invalid("invalid_mandate", "An organisation needs no mandate from itself.")
    if valid_until is not None and valid_until < valid_from:
        raise Invalid("invalid_dates", "'valid_until' lies before 'valid_from'.")
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
    t.audit("mandate.put", f"mandate:{afnemer}/{intermediair}", before, after, org=afnemer)
    t.audit("mandate.put", f"mandate:{afnemer}/{intermediair}", before, after, org=intermediair)
    t.event(MandatePut(afnemer, intermediair, valid_from, valid_until, tuple(subset) if subset is not None else None))
    return m


def end_mandate(t: Tx, afnemer: str, intermediair: str) -> None:
    m = t.s.get(Mandate, (afnemer, intermediair))
    if m is None:
        raise NotFound("unknown_mandate", f"Organisation {intermediair} holds no mandate from {afnemer}.")
    before = _mandate_view(m)
    projection.remove(t.s, _mandate_lines(m))
    t.s.delete(m)
    t.audit("mandate.end", f"mandate:{afnemer}/{intermediair}", before, None, org=afnemer)
    t.audit("mandate.end", f"mandate:{afnemer}/{intermediair}", before, None, org=intermediair)
    t.event(MandateEnded(afnemer, intermediair))


def contracted_products(t: Tx, afnemer: str, today: date) -> list[str]:
    """The products the afnemer holds a contract for that is valid on ``today``, sorted."""
    rows = t.s.scalars(select(Contract.product).where(
        Contract.afnemer == afnemer, Contract.valid_from <= today,
        (Contract.valid_until.is_(None)) | (Contract.valid_until >= today)).order_by(Contract.product))
    return list(rows)


def mandates_held(t: Tx, intermediair: str, today: date) -> list[Mandate]:
    """The mandates the organisation holds that are valid on ``today`` (R15: its clients)."""
    rows = t.s.scalars(select(Mandate).where(
        Mandate.intermediair == intermediair, Mandate.valid_from <= today,
        (Mandate.valid_until.is_(None)) | (Mandate.valid_until >= today)).order_by(Mandate.afnemer))
    return list(rows)


# -- reading, for the operator's listings (a plain read session: no write lock, no revision) -------------------

def product_view(p: Product) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "description": p.description}


def contract_view(c: Contract, today: date) -> dict[str, Any]:
    return {**_contract_view(c), "valid_today": _in_window(c.valid_from, c.valid_until, today)}


def mandate_view(m: Mandate, today: date) -> dict[str, Any]:
    return {**_mandate_view(m), "valid_today": _in_window(m.valid_from, m.valid_until, today)}


def _in_window(valid_from: date, valid_until: date | None, today: date) -> bool:
    return valid_from <= today and (valid_until is None or today <= valid_until)


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

def contracted_products_of(s: Session, afnemers: Iterable[str], today: date) -> dict[str, list[str]]:
    """For each afnemer (all in one query): the products with a contract valid on ``today``, sorted."""
    wanted = sorted(set(afnemers))
    out: dict[str, list[str]] = {a: [] for a in wanted}
    if not wanted:
        return out
    rows = s.execute(select(Contract.afnemer, Contract.product).where(
        Contract.afnemer.in_(wanted), Contract.valid_from <= today,
        (Contract.valid_until.is_(None)) | (Contract.valid_until >= today))
        .order_by(Contract.afnemer, Contract.product))
    for afnemer, product in rows:
        out[afnemer].append(product)
    return out


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
