"""The facts behind one decision, read for /v1/explain: who linked the product and when, the contracts, the mandates.

Everything is read in one transaction together with the revision it belongs to, so that the explanation can be
matched with the decider's answer at that same revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text

from authz.domain.state import Contr, Mand
from authz.store.db import Database
from authz.store.schema import Account, Contract, Grant, Mandate, Organisation, Product, Revision


@dataclass(frozen=True)
class GrantFact:
    granted_by: str
    granted_at: datetime


@dataclass
class Evidence:
    revision: int
    user: str
    product: str
    account: tuple[str, str | None, str] | None = None  # name, org, status
    product_name: str | None = None
    org_names: dict[str, str] = field(default_factory=dict)
    grants: dict[str, GrantFact] = field(default_factory=dict)  # afnemer -> grant of (user, afnemer, product)
    contracts: dict[str, Contr] = field(default_factory=dict)  # afnemer -> contract for the product
    mandates: dict[str, Mand] = field(default_factory=dict)  # afnemer -> mandate held by the user's org


def read(db: Database, user: str, product: str, afnemer: str | None) -> Evidence:
    """The facts about ``user`` viewing ``product`` (for ``afnemer``, or for every afnemer it holds a grant from)."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        revision = int(conn.execute(select(Revision.value).where(Revision.id == 1)).scalar_one())
        ev = Evidence(revision, user, product)
        ev.product_name = conn.execute(select(Product.name).where(Product.code == product)).scalar()
        row = conn.execute(select(Account.id, Account.name, Account.org, Account.status)
                           .where(Account.email == user)).first()
        if row is None:
            conn.rollback()
            return ev
        account_id, name, org, status = row
        ev.account = (name, org, status)
        q = select(Grant.afnemer, Grant.granted_by, Grant.granted_at).where(
            Grant.account_id == account_id, Grant.product == product)
        if afnemer is not None:
            q = q.where(Grant.afnemer == afnemer)
        ev.grants = {a: GrantFact(by, at) for a, by, at in conn.execute(q)}
        afnemers = sorted(set(ev.grants) | ({afnemer} if afnemer is not None else set()))
        if afnemers:
            ev.contracts = {a: Contr(a, product, f, u) for a, f, u in conn.execute(
                select(Contract.afnemer, Contract.valid_from, Contract.valid_until)
                .where(Contract.product == product, Contract.afnemer.in_(afnemers)))}
            if org is not None:
                ev.mandates = {a: Mand(a, org, f, u, tuple(ps) if ps is not None else None) for a, f, u, ps in
                               conn.execute(select(Mandate.afnemer, Mandate.valid_from, Mandate.valid_until,
                                                   Mandate.products)
                                            .where(Mandate.intermediair == org, Mandate.afnemer.in_(afnemers)))}
        named = [*afnemers, *([org] if org is not None else [])]
        ev.org_names = {kvk: name for kvk, name in conn.execute(
            select(Organisation.kvk, Organisation.name).where(Organisation.kvk.in_(named)))}
        conn.rollback()
    return ev
