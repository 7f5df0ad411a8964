"""The facts behind one account's own view (R16, "Mijn producten"): its grants with who gave them and when, the
contracts and mandates they rest on, and the names to show, read in one transaction at one revision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from authz.domain.state import Contr, Mand
from authz.store.db import Database
from authz.store.schema import Account, Audit, Contract, Grant, Mandate, Organisation, Product, Revision


@dataclass(frozen=True)
class Held:
    """One grant of the account: (afnemer, product), ticked by ``granted_by`` (an e-mail) at ``granted_at``."""

    afnemer: str
    product: str
    granted_by: str
    granted_at: datetime


@dataclass
class Facts:
    revision: int
    org: str | None = None
    grants: list[Held] = field(default_factory=list)  # by afnemer, product
    contracts: dict[tuple[str, str], Contr] = field(default_factory=dict)  # (afnemer, product)
    mandates: dict[str, Mand] = field(default_factory=dict)  # afnemer -> the mandate the account's org holds
    mandate_changed: dict[str, datetime] = field(default_factory=dict)  # afnemer -> when its mandate last changed
    removed: dict[str, datetime] = field(default_factory=dict)  # audit subject -> when it was last ended
    products: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # code -> (name, url)
    org_names: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # e-mail -> name, of those who gave the grants


def contract_subject(afnemer: str, product: str) -> str:
    return f"contract:{afnemer}/{product}"


def mandate_subject(afnemer: str, intermediair: str) -> str:
    return f"mandate:{afnemer}/{intermediair}"


def ended_at(conn: Connection | Session, subjects: Iterable[str]) -> dict[str, datetime]:
    """Audit subject (:func:`contract_subject`, :func:`mandate_subject`) -> when it was last ended, for contracts
    and mandates that are gone: the audit trail remembers (R12)."""
    wanted = sorted(set(subjects))
    if not wanted:
        return {}
    return {subject: at for subject, at in conn.execute(
        select(Audit.subject, func.max(Audit.at))
        .where(Audit.action.in_(("contract.end", "mandate.end")), Audit.subject.in_(wanted))
        .group_by(Audit.subject))}


def mandates_changed(conn: Connection | Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """(afnemer, intermediair) -> when that mandate was last changed."""
    out: dict[tuple[str, str], datetime] = {}
    by_intermediair: dict[str, set[str]] = {}
    for afnemer, intermediair in pairs:
        by_intermediair.setdefault(intermediair, set()).add(afnemer)
    for intermediair, afnemers in sorted(by_intermediair.items()):
        for a, changed in conn.execute(select(Mandate.afnemer, Mandate.updated_at).where(
                Mandate.intermediair == intermediair, Mandate.afnemer.in_(sorted(afnemers)))):
            out[(a, intermediair)] = changed
    return out


def read(db: Database, email: str) -> Facts:
    """Everything :func:`authz.service.mine.products` needs about the account ``email`` (a canonical e-mail)."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        facts = Facts(int(conn.execute(select(Revision.value).where(Revision.id == 1)).scalar_one()))
        row = conn.execute(select(Account.id, Account.org).where(Account.email == email)).first()
        if row is None:
            conn.rollback()
            return facts
        account_id, facts.org = row
        facts.grants = [Held(a, p, by, at) for a, p, by, at in conn.execute(
            select(Grant.afnemer, Grant.product, Grant.granted_by, Grant.granted_at)
            .where(Grant.account_id == account_id).order_by(Grant.afnemer, Grant.product))]
        afnemers = sorted({g.afnemer for g in facts.grants})
        codes = sorted({g.product for g in facts.grants})
        if facts.grants:
            facts.contracts = {(a, p): Contr(a, p, f, u) for a, p, f, u in conn.execute(
                select(Contract.afnemer, Contract.product, Contract.valid_from, Contract.valid_until)
                .where(Contract.afnemer.in_(afnemers), Contract.product.in_(codes)))}
            if facts.org is not None:
                for a, f, u, ps, changed in conn.execute(
                        select(Mandate.afnemer, Mandate.valid_from, Mandate.valid_until, Mandate.products,
                               Mandate.updated_at)
                        .where(Mandate.intermediair == facts.org, Mandate.afnemer.in_(afnemers))):
                    facts.mandates[a] = Mand(a, facts.org, f, u, tuple(ps) if ps is not None else None)
                    facts.mandate_changed[a] = changed
            # When a contract or mandate that is gone was ended: the audit trail remembers (R12).
            gone = [contract_subject(g.afnemer, g.product) for g in facts.grants
                    if (g.afnemer, g.product) not in facts.contracts]
            if facts.org is not None:
                gone += [mandate_subject(a, facts.org) for a in afnemers if a != facts.org and a not in facts.mandates]
            facts.removed = ended_at(conn, gone)
            facts.products = {c: (n, u) for c, n, u in conn.execute(
                select(Product.code, Product.name, Product.url).where(Product.code.in_(codes)))}
            givers = sorted({g.granted_by for g in facts.grants})
            facts.people = {e: n for e, n in conn.execute(
                select(Account.email, Account.name).where(Account.email.in_(givers)))}
        named = [*afnemers, *([facts.org] if facts.org is not None else [])]
        if named:
            facts.org_names = {k: n for k, n in conn.execute(
                select(Organisation.kvk, Organisation.name).where(Organisation.kvk.in_(named)))}
        conn.rollback()
    return facts
