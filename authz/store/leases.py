"""Leases in SQL: what lets a save know that every instance has applied it or can no longer answer (R11).

An instance answers decisions only while it holds a lease (:mod:`authz.sync`). To renew it, :func:`renew` takes
the revision row *for share* — no writer can commit between reading the revision and writing the lease — reads
the change log the instance has not applied, and writes ``until = now + seconds`` by the database's clock. So for
any commit, either the renewal came first and the writer sees the renewed lease when it reads the holders (in its
own transaction, after its bump: :mod:`authz.store.holders`), or the commit came first and the renewal brings its
events along. The instance counts its lease
from before it sent the renewal, and vouches only once it has applied what the renewal brought.

Times are seconds since the epoch by the database's clock (PostgreSQL's ``clock_timestamp()``; for SQLite, whose
instances share one machine, that machine's clock), and only differences of them leave this module: a writer
measures the rest of a lease with its own monotonic clock from when it read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from authz.events import Event
from authz.store.db import Database, read_events
from authz.store.holders import Holders, db_now
from authz.store.holders import read as read_holders
from authz.store.schema import Change, Lease, Revision

# Leases that ran out this long ago are removed at the next renewal of any instance (a crashed instance's row).
FORGET_AFTER = 3600.0


@dataclass(frozen=True)
class Renewal:
    head: int  # the newest committed revision, read under the share lock
    changes: list[tuple[int, list[Event]]]  # the change log after the instance's revision, in order
    complete: bool  # ``changes`` reach ``head`` (else there were more than the limit: reload)


def lock_head(c: Connection, seconds: float) -> int:
    """The newest revision, locked for share until the transaction ends (PostgreSQL; SQLite's write lock is the
    transaction's own): a writer's bump waits for us, or we wait for its commit and read its revision."""
    head_q = select(Revision.value).where(Revision.id == 1)
    if c.dialect.name != "sqlite":
        # An instance paused (or cut off) in the middle of its renewal must not hold the share lock, and so every
        # save, for long: PostgreSQL ends its session after a quarter of a lease of silence.
        c.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {max(100, int(seconds * 250))}"))
        c.execute(text(f"SET LOCAL lock_timeout = {max(100, int(seconds * 1000))}"))
        head_q = head_q.with_for_update(read=True)  # FOR SHARE
    return int(c.execute(head_q).scalar_one())


def renew(db: Database, instance: str, applied: int, seconds: float, limit: int = 10_000) -> Renewal:
    """Extend ``instance``'s lease by ``seconds`` from now and read what it has not applied after ``applied``."""
    with db.engine.begin() as c:  # SQLite: BEGIN IMMEDIATE (authz.store.db), which orders it with every writer
        head = lock_head(c, seconds)
        changes: list[tuple[int, list[Event]]] = []
        if head > applied:
            rows = c.execute(select(Change.revision, Change.events)
                             .where(Change.revision > applied, Change.revision <= head)
                             .order_by(Change.revision).limit(limit)).all()
            changes = [(int(r), read_events(int(r), ev)) for r, ev in rows]
        now = db_now(c)
        values = {"instance": instance, "until": now + seconds, "applied": applied, "renewed_at": now}
        insert = sqlite_insert if c.dialect.name == "sqlite" else pg_insert
        c.execute(insert(Lease).values(**values).on_conflict_do_update(
            index_elements=[Lease.instance], set_={k: v for k, v in values.items() if k != "instance"}))
        c.execute(delete(Lease).where(Lease.until < now - FORGET_AFTER))
    complete = head <= applied or (bool(changes) and changes[-1][0] == head)
    return Renewal(head, changes, complete)


def holders(db: Database, besides: str | None = None) -> Holders:
    """Every instance whose lease has not run out (but ``besides``); a write transaction reads the same in its
    commit (:mod:`authz.store.holders`)."""
    with db.engine.connect() as c:
        return read_holders(c, besides)


def applied_by(db: Database, instances: list[str]) -> dict[str, int]:
    """What each of ``instances`` last said it had applied; an instance without a row has given its lease up."""
    with db.engine.connect() as c:
        rows = c.execute(select(Lease.instance, Lease.applied).where(Lease.instance.in_(instances))).all()
    return {i: int(a) for i, a in rows}


def record_applied(db: Database, instance: str, applied: int) -> None:
    """Say that ``instance`` has applied ``applied`` (a confirmation writers read when Redis does not carry one)."""
    with db.engine.begin() as c:
        c.execute(update(Lease).where(Lease.instance == instance, Lease.applied < applied).values(applied=applied))


def release(db: Database, instance: str) -> None:
    """Give the lease up (on a clean stop, once the instance no longer answers): writers stop waiting for it."""
    with db.engine.begin() as c:
        c.execute(delete(Lease).where(Lease.instance == instance))
