"""The decision log in SQL: batches shipped by each instance's writer (:mod:`authz.decisionlog`), the day
partitions it keeps ahead and drops after the retention, and the operator's search.

PostgreSQL: ``decisions`` is partitioned by UTC day (migration 0006); a batch goes in by ``COPY`` (psycopg's, the
binary protocol's C code) and, in the same transaction, the journal's mark of the last batch shipped
(``decision_journals``): a journal recovered after a crash ships exactly the batches SQL lacks. Retention drops
whole day partitions. SQLite: a plain table, ``executemany`` inserts, retention by ``DELETE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, text, update

from authz.store.db import Database
from authz.store.schema import DecisionJournal, DecisionRecord

# A decision's reason as a small int. Append only: a stored code keeps its meaning for as long as rows keep it.
REASONS = ("granted", "unknown_user", "inactive_user", "unknown_product", "no_grant", "no_contract", "no_mandate",
           "unknown_afnemer")
_CODE = {r: i for i, r in enumerate(REASONS, start=1)}  # 0: a reason this list lacks ("other")
_NAME = {i: r for r, i in _CODE.items()}

# (at: seconds since the epoch, client, user, product, afnemer, allowed, reason, revision, trace_id, span_id,
#  processing_activity_id, algorithm_id), as :class:`authz.decisionlog.DecisionLog` records and journals it.
Row = Sequence[Any]
Batch = tuple[int, list[Row]]  # (the journal's batch number, its rows)

_COLUMNS = ("at", "revision", "reason", "allowed", "client", "user_email", "product", "afnemer", "trace_id",
            "span_id", "processing_activity_id", "algorithm_id")
_COPY = f"COPY decisions ({', '.join(_COLUMNS)}) FROM STDIN"
_PARTITION = re.compile(r"decisions_(\d{8})")
_LOCK = 0x6465636973  # pg_advisory_xact_lock: one writer at a time creates or drops partitions


def reason_code(reason: str) -> int:
    return _CODE.get(reason, 0)


def _values(r: Row) -> tuple[Any, ...]:
    at, client, user, product, afnemer, allowed, reason, revision, trace, span, activity, algorithm = r
    return (datetime.fromtimestamp(at, UTC), revision, _CODE.get(reason, 0), allowed, client, user, product, afnemer,
            bytes.fromhex(trace) if trace else None, bytes.fromhex(span) if span else None, activity, algorithm)


def days_of(batches: Iterable[Batch]) -> set[date]:
    """The UTC days the rows of ``batches`` fall on: the partitions they need."""
    return {datetime.fromtimestamp(r[0], UTC).date() for _, rows in batches for r in rows}


def ship(db: Database, journal: str, batches: list[Batch]) -> int:
    """Write the rows of ``batches`` and mark the last one shipped for ``journal``, in one transaction; returns how
    many rows. On PostgreSQL the partitions of their days must exist (:func:`ensure_partitions`)."""
    rows = [_values(r) for _, batch in batches for r in batch]
    with db.engine.begin() as c:
        if db.is_sqlite:
            if rows:
                c.execute(insert(DecisionRecord), [dict(zip(_COLUMNS, v, strict=True)) for v in rows])
        else:
            raw = c.connection.driver_connection
            with raw.cursor() as cur, cur.copy(_COPY) as copy:  # type: ignore[union-attr]
                for v in rows:
                    copy.write_row(v)
        _mark(c, journal, batches[-1][0])
    return len(rows)


def _mark(c: Connection, journal: str, batch: int) -> None:
    done = c.execute(update(DecisionJournal).where(DecisionJournal.journal == journal).values(shipped=batch))
    if done.rowcount == 0:
        c.execute(insert(DecisionJournal).values(journal=journal, shipped=batch))


def shipped(db: Database, journal: str) -> int:
    """The last batch of ``journal`` that SQL holds (0: none)."""
    with db.engine.connect() as c:
        found = c.execute(select(DecisionJournal.shipped).where(DecisionJournal.journal == journal)).scalar()
    return int(found or 0)


def forget(db: Database, journal: str) -> None:
    """The journal is gone (wholly shipped, its file removed): its mark is no longer needed."""
    with db.engine.begin() as c:
        c.execute(delete(DecisionJournal).where(DecisionJournal.journal == journal))


def partition_name(day: date) -> str:
    return f"decisions_{day:%Y%m%d}"


def ensure_partitions(db: Database, days: Iterable[date]) -> list[str]:
    """PostgreSQL: the day partitions of ``days``, created where missing (several instances may ask at once: an
    advisory lock lets one at a time look and create). Returns the names created. SQLite: nothing to do."""
    wanted = sorted(set(days))
    if db.is_sqlite or not wanted:
        return []
    made = []
    with db.engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        have = set(_partitions(c))
        for day in wanted:
            name = partition_name(day)
            if name in have:
                continue
            start = datetime.combine(day, datetime.min.time(), UTC)
            # The name is made here of digits only; the bounds are literals of our own making, not input.
            c.execute(text(f"CREATE TABLE {name} PARTITION OF decisions FOR VALUES FROM ('{start.isoformat()}') "
                           f"TO ('{(start + timedelta(days=1)).isoformat()}')"))
            made.append(name)
    return made


def _partitions(c: Connection) -> list[str]:
    return [str(n) for (n,) in c.execute(text(
        "SELECT child.relname FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid "
        "JOIN pg_class parent ON parent.oid = i.inhparent WHERE parent.relname = 'decisions'"))]


def partitions(db: Database) -> list[str]:
    """PostgreSQL: the day partitions there are, oldest first."""
    if db.is_sqlite:
        return []
    with db.engine.connect() as c:
        return sorted(_partitions(c))


def expire(db: Database, now: datetime, days: int) -> int:
    """Remove what is older than ``days`` days. PostgreSQL: every day partition that ended before then is dropped
    whole (so an entry is kept at least ``days`` days and at most one day more); returns how many partitions.
    SQLite: the rows themselves; returns how many rows."""
    cutoff = now - timedelta(days=days)
    if db.is_sqlite:
        with db.engine.begin() as c:
            return int(c.execute(delete(DecisionRecord).where(DecisionRecord.at < cutoff)).rowcount)
    dropped = 0
    with db.engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        for name in _partitions(c):
            m = _PARTITION.fullmatch(name)
            if m is None:
                continue
            day = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC)
            if day + timedelta(days=1) <= cutoff:
                c.execute(text(f"DROP TABLE {name}"))  # a name of the pattern above: digits only
                dropped += 1
    return dropped


# -- the operator's search ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    id: int
    at: datetime
    client: str
    user: str
    product: str
    afnemer: str | None
    allowed: bool
    reason: str
    revision: int
    trace_id: str | None
    span_id: str | None
    processing_activity_id: str | None
    algorithm_id: str | None


def search(db: Database, *, user: str | None = None, product: str | None = None, afnemer: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           before: tuple[datetime, int] | None = None, limit: int = 100) -> list[Found]:
    """Decisions newest first: of ``user``, ``product``, ``afnemer`` (exact values), at or after ``since`` and
    before ``until``; ``before`` is the cursor, (at, id) of the last one given."""
    d = DecisionRecord
    q = select(d)
    if user is not None:
        q = q.where(d.user_email == user)
    if product is not None:
        q = q.where(d.product == product)
    if afnemer is not None:
        q = q.where(d.afnemer == afnemer)
    if since is not None:
        q = q.where(d.at >= since)
    if until is not None:
        q = q.where(d.at < until)
    if before is not None:
        at, row_id = before
        q = q.where(or_(d.at < at, and_(d.at == at, d.id < row_id)))
    with db.read() as s:
        return [Found(r.id, r.at, r.client, r.user_email, r.product, r.afnemer, r.allowed,
                      _NAME.get(r.reason, "other"), r.revision, r.trace_id.hex() if r.trace_id else None,
                      r.span_id.hex() if r.span_id else None, r.processing_activity_id, r.algorithm_id)
                for r in s.scalars(q.order_by(d.at.desc(), d.id.desc()).limit(limit))]


def count(db: Database) -> int:
    """How many decisions SQL holds (for tests and the benchmark)."""
    with db.engine.connect() as c:
        return int(c.execute(select(text("count(*)")).select_from(DecisionRecord)).scalar_one())
