"""Reading the whole policy state at once, for a decider's start or full reload; and telling whether a snapshot
of it kept elsewhere (authz.cache.snapshot) still leads to the truth in SQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date

import orjson
from sqlalchemy import Connection, func, select, text

from authz.decider import Snapshot
from authz.store.db import Database
from authz.store.schema import Account, Change, Contract, Mandate, Organisation, Product, Revision, ServiceKey


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


def fingerprint(db: Database, revision: int) -> str | None:
    """What identifies revision ``revision`` of this database: a hash of its change log entry (its time and
    events), or None when there is none. A snapshot from another database, or from one that was reset and
    rewritten since, carries another fingerprint for the same revision number."""
    with db.engine.connect() as conn:
        row = conn.execute(select(Change.at, Change.events).where(Change.revision == revision)).first()
    if row is None:
        return None
    at, events = row
    stamp = at.isoformat() if hasattr(at, "isoformat") else str(at)
    digest = hashlib.sha256(f"{revision}|{stamp}|".encode())
    digest.update(orjson.dumps(events, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def continues(db: Database, revision: int, expected: str, max_behind: int) -> bool:
    """Whether a snapshot at ``revision`` with fingerprint ``expected`` leads to the present by the change log:
    the revision is this database's, every later revision is still in the log (none trimmed), and there are at
    most ``max_behind`` of them (more is slower to apply one by one than to load afresh)."""
    if revision <= 0 or fingerprint(db, revision) != expected:
        return False
    with db.engine.connect() as conn:
        newest = int(conn.execute(select(Revision.value).where(Revision.id == 1)).scalar_one())
        if newest - revision > max_behind:
            return False
        after = conn.execute(select(func.count()).select_from(Change)
                             .where(Change.revision > revision, Change.revision <= newest)).scalar_one()
    return int(after) == newest - revision
