"""Reading the whole policy state at once, for a decider's start or full reload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import Connection, select, text

from authz.decider import Snapshot
from authz.store.db import Database
from authz.store.schema import Account, Contract, Mandate, Organisation, Product, Revision, ServiceKey


def _grant_rows(conn: Connection, emails: dict[int, str]) -> Iterator[tuple[str, str, str]]:
    # Raw cursor with a large fetch size: millions of rows, no ORM objects.
    result = conn.execution_options(stream_results=True, yield_per=50_000).execute(
        text("SELECT account_id, afnemer, product FROM grants")
    )
    intern: dict[str, str] = {}
    for account_id, afnemer, product in result:
        email = emails.get(account_id)
        if email is not None:
            yield email, intern.setdefault(afnemer, afnemer), intern.setdefault(product, product)


def read_snapshot(db: Database) -> Snapshot:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        revision = int(conn.execute(select(Revision.value).where(Revision.id == 1)).scalar_one())
        orgs = dict(conn.execute(select(Organisation.kvk, Organisation.name)).all())
        products = {code for (code,) in conn.execute(select(Product.code))}
        rows = conn.execute(select(Account.id, Account.email, Account.org, Account.status)).all()
        accounts = [(e, o, s) for _, e, o, s in rows]
        emails = {i: e for i, e, _, _ in rows}
        contracts: list[tuple[str, str, date, date | None]] = [
            (a, p, f, u) for a, p, f, u in conn.execute(
                select(Contract.afnemer, Contract.product, Contract.valid_from, Contract.valid_until))
        ]
        mandates: list[tuple[str, str, date, date | None, list[str] | None]] = [
            (a, i, f, u, ps) for a, i, f, u, ps in conn.execute(
                select(Mandate.afnemer, Mandate.intermediair, Mandate.valid_from, Mandate.valid_until,
                       Mandate.products))
        ]
        keys = dict(conn.execute(
            select(ServiceKey.key_hash, ServiceKey.name).where(ServiceKey.revoked_at.is_(None))).all())
        snap = Snapshot(revision=revision, orgs=orgs, products=products, accounts=accounts, contracts=contracts,
                        mandates=mandates, keys=keys)
        # Consumed while the transaction is still open, so every row belongs to the same revision.
        snap.grants = list(_grant_rows(conn, emails))
        conn.rollback()
    return snap
