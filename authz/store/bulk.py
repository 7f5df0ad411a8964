"""Bulk writes for synthetic worlds (``authz demo --grants N``): millions of rows inside one :class:`Tx`.

The ORM and SQLAlchemy's executemany cost several microseconds a row; here rows go to the driver directly:
PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3), SQLite ``executemany``, in large batches. Values pass through the
columns' own SQLAlchemy bind processors first, so what is stored is exactly what the ORM would store (UTC
timestamps, JSON). Everything lands in the caller's transaction: one commit, one revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, func, select, text

from authz.policy import Line
from authz.store.db import Tx
from authz.store.schema import Account, CasbinRule, Grant, Organisation, Product, Revision

BATCH = 50_000
Progress = Callable[[int], None]


def _driver(t: Tx) -> Any:
    """The DBAPI connection of the transaction's session (same transaction)."""
    return t.s.connection().connection.driver_connection


def _processors(t: Tx, table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    dialect = t.s.get_bind().dialect
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]


def _converted(rows: Iterable[Sequence[Any]], procs: list[Callable[[Any], Any] | None]) -> Iterator[tuple[Any, ...]]:
    active = [(i, p) for i, p in enumerate(procs) if p is not None]
    if not active:
        yield from (tuple(r) for r in rows)
        return
    memo: list[dict[Any, Any]] = [{} for _ in procs]  # the same timestamp a million times: convert it once
    for row in rows:
        out = list(row)
        for i, p in active:
            v = out[i]
            try:
                out[i] = memo[i][v]
            except KeyError:
                out[i] = memo[i][v] = p(v)
            except TypeError:  # unhashable (JSON lists)
                out[i] = p(v)
        yield tuple(out)


def write(t: Tx, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          progress: Progress | None = None) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns how many."""
    it = _converted(rows, _processors(t, table, columns))
    conn = _driver(t)
    names = ", ".join(columns)
    done = 0
    if t.s.get_bind().dialect.name == "postgresql":
        with conn.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for batch in iter(lambda: list(islice(it, BATCH)), []):
                for row in batch:
                    copy.write_row(row)
                done += len(batch)
                if progress:
                    progress(len(batch))
        return done
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608
    cur = conn.cursor()
    try:
        for batch in iter(lambda: list(islice(it, BATCH)), []):
            cur.executemany(sql, batch)
            done += len(batch)
            if progress:
                progress(len(batch))
    finally:
        cur.close()
    return done


def write_lines(t: Tx, lines: Iterable[Line], progress: Progress | None = None) -> int:
    """Casbin lines of at most three values (every line the projection writes for grants, roles, contracts and
    mandates) into ``casbin_rule``."""
    return write(t, table(CasbinRule), ("ptype", "v0", "v1", "v2"),
                 ((line[0], line[1], line[2], line[3]) for line in lines), progress)


def prepare(t: Tx) -> None:
    """Before a bulk load: on PostgreSQL keep other writers off ``accounts`` (the load hands out account ids
    itself), on SQLite give the connection a large page cache (index building)."""
    if t.s.get_bind().dialect.name == "postgresql":
        t.s.execute(text("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE"))
    else:
        t.s.execute(text("PRAGMA cache_size = -262144"))


def finish(t: Tx) -> None:
    """After a bulk load with explicit account ids: PostgreSQL's sequence continues after the highest."""
    if t.s.get_bind().dialect.name == "postgresql":
        t.s.execute(text("SELECT setval(pg_get_serial_sequence('accounts', 'id'), "
                         "GREATEST((SELECT max(id) FROM accounts), 1))"))


def next_revision(t: Tx) -> int:
    """The revision this transaction will commit as (:meth:`authz.store.db.Database.tx` bumps it by one at the
    end), for rows that carry it (the audit trail's): the revision row is locked now, so no other writer commits in
    between (SQLite's writer already holds the database's write lock)."""
    return int(t.s.scalar(select(Revision.value).where(Revision.id == 1).with_for_update()) or 0) + 1


def next_account_id(t: Tx) -> int:
    return int(t.s.scalar(select(func.coalesce(func.max(Account.id), 0))) or 0) + 1


def grant_count(t: Tx) -> int:
    return int(t.s.scalar(select(func.count()).select_from(Grant)) or 0)


def product_codes(t: Tx) -> set[str]:
    return set(t.s.scalars(select(Product.code)))


def highest_kvk(t: Tx, at_least: str) -> str | None:
    return t.s.scalar(select(func.max(Organisation.kvk)).where(Organisation.kvk >= at_least))


def table(model: type) -> Table:
    tbl: Table = model.__table__  # type: ignore[attr-defined]
    return tbl
