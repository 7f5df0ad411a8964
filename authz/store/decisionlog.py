"""The decision log in SQL: batches shipped by each instance's writer (:mod:`authz.decisionlog`), the day
partitions it keeps ahead and drops after the retention, and the operator's search.

PostgreSQL: ``decisions`` is partitioned by UTC day (migration 0007); a batch goes in as one ``INSERT … SELECT``
over the JSON text of its journal line (the database parses it; see :class:`Batch`) and, in the same transaction,
the journal's mark of the last batch shipped (``decision_journals``): a journal recovered after a crash ships
exactly the batches SQL lacks. Retention drops whole day partitions. SQLite: a plain table, the same statement
over ``json_each``, retention by ``DELETE``.
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
           "unknown_afnemer", "unsupported_action", "unknown_subject_type", "unknown_resource_type")  # append only
_CODE = {r: i for i, r in enumerate(REASONS, start=1)}  # 0: a reason this list lacks ("other")
_NAME = {i: r for r, i in _CODE.items()}

# A row as :class:`authz.decisionlog.DecisionLog` records and journals it: (at: seconds since the epoch, client,
# user, product, afnemer, allowed, reason, revision, trace_id, span_id, processing_activity_id, algorithm_id, as_of:
# the instant asked for in seconds since the epoch, or null). A journal line of an older version, without as_of,
# reads as null there (``->>`` past the end of an array).
Row = Sequence[Any]

_COLUMNS = ("at", "revision", "reason", "allowed", "client", "user_email", "product", "afnemer", "trace_id",
            "span_id", "processing_activity_id", "algorithm_id", "as_of")
_PARTITION = re.compile(r"decisions_(\d{8})")
_LOCK = 0x6465636973  # pg_advisory_xact_lock: one writer at a time creates or drops partitions


def reason_code(reason: str) -> int:
    return _CODE.get(reason, 0)


@dataclass(frozen=True)
class Batch:
    """One line of a journal: its number, and its rows as the JSON array written there. SQL reads that very text
    (``json_array_elements``, ``json_each``): no row is converted in Python, whose interpreter the writer's thread
    shares with the request path."""

    seq: int
    count: int
    rows: bytes
    first: float  # the earliest and the latest ``at`` of its rows
    last: float

    def days(self) -> set[date]:
        """The UTC days its rows fall on: the partitions they need."""
        day, last = datetime.fromtimestamp(self.first, UTC).date(), datetime.fromtimestamp(self.last, UTC).date()
        out = set()
        while day <= last:
            out.add(day)
            day += timedelta(days=1)
        return out


def _reason_case(column: str) -> str:
    # Literals of our own list only.
    return f"CASE {column} " + " ".join(f"WHEN '{r}' THEN {i}" for r, i in _CODE.items()) + " ELSE 0 END"


_INTO = f"({', '.join(_COLUMNS)}) "
_INSERT_PG = text(
    "INSERT INTO decisions " + _INTO +
    "SELECT to_timestamp((r->>0)::float8), (r->>7)::bigint, " + _reason_case("r->>6") + ", (r->>5)::boolean, "
    "r->>1, r->>2, r->>3, r->>4, decode(r->>8, 'hex'), decode(r->>9, 'hex'), r->>10, r->>11, "
    "to_timestamp((r->>12)::float8) "
    "FROM json_array_elements(CAST(:rows AS json)) AS r")
# SQLite: ``at`` as whole microseconds since the epoch, the trace and span as their hex text (authz.store.schema).
_INSERT_SQLITE = text(
    "INSERT INTO decisions " + _INTO +  # noqa: S608 (constants only; the rows are a bound parameter)
    "SELECT CAST(round((j.value->>0) * 1000000) AS INTEGER), j.value->>7, " + _reason_case("j.value->>6") + ", "
    "j.value->>5, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>8, j.value->>9, j.value->>10, "
    "j.value->>11, CAST(round((j.value->>12) * 1000000) AS INTEGER) FROM json_each(:rows) AS j")


# PostgreSQL: how long one of the writer's statements may run, and wait for a lock (a partition being dropped, an
# operator's long search): failing, the batches stay in the journal and the next round tries again.
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 10_000


def _bounded(c: Connection) -> None:
    # SET LOCAL: for this transaction only; constants of our own, not input.
    c.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    c.execute(text(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))


def ship(db: Database, journal: str, batches: list[Batch]) -> int:
    """Write the rows of those ``batches`` that SQL does not hold yet and mark the last one shipped for ``journal``,
    in one transaction; returns how many rows were written. A batch numbered at or below the journal's mark is
    skipped: so a shipment whose COMMIT reached the database but whose answer did not (the connection broke) is not
    written twice when the writer tries again. On PostgreSQL the partitions of their days must exist
    (:func:`ensure_partitions`); its statements are bounded (:data:`STATEMENT_TIMEOUT_MS`)."""
    statement = _INSERT_SQLITE if db.is_sqlite else _INSERT_PG
    written = 0
    with db.engine.begin() as c:
        if not db.is_sqlite:
            _bounded(c)
        q = select(DecisionJournal.shipped).where(DecisionJournal.journal == journal)
        # One writer per journal (its file's lock); the row lock guards a recovery racing a shipment all the same.
        held = c.execute(q if db.is_sqlite else q.with_for_update()).scalar()
        done = int(held or 0)
        for b in batches:
            if b.seq > done:
                c.execute(statement, {"rows": b.rows.decode()})
                written += b.count
        if batches[-1].seq > done:
            _mark(c, journal, batches[-1].seq, held is None)
    return written


def _mark(c: Connection, journal: str, batch: int, new: bool) -> None:
    if new:
        c.execute(insert(DecisionJournal).values(journal=journal, shipped=batch))
    else:
        c.execute(update(DecisionJournal).where(DecisionJournal.journal == journal).values(shipped=batch))


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
        _bounded(c)
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
        _bounded(c)
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
    as_of: datetime | None  # the instant asked for (NLGov context.time); None: the moment it was answered


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
                      _NAME.get(r.reason, "other"), r.revision, r.trace_id, r.span_id, r.processing_activity_id,
                      r.algorithm_id, r.as_of)
                for r in s.scalars(q.order_by(d.at.desc(), d.id.desc()).limit(limit))]


def count(db: Database) -> int:
    """How many decisions SQL holds (for tests and the benchmark)."""
    with db.engine.connect() as c:
        return int(c.execute(select(text("count(*)")).select_from(DecisionRecord)).scalar_one())
