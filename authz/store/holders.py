"""Who holds a lease (R11), read inside any connection or transaction: a writer reads it in its own commit.

A write transaction reads the holders right after it has bumped the revision, while it holds that row's lock: a
renewal takes the row for share (:func:`authz.store.leases.renew`), so it either committed before the bump, and is
seen here, or it waits for this commit and reads its revision. That spares the writer a second trip to SQL once
it has committed. Times are seconds since the epoch by the database's clock (see :mod:`authz.store.leases`); only
the rest of each lease leaves this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Float, cast, func, select

from authz.store.schema import Lease


@dataclass(frozen=True)
class Holder:
    instance: str
    applied: int  # the revision it had applied when it last said so here
    left: float  # seconds until its lease runs out, by the database's clock, when it was read


@dataclass(frozen=True)
class Holders:
    """The lease holders a writer read, and when by its own monotonic clock (taken once the read had returned, so
    that a lease's end is never placed earlier than it is)."""

    holders: tuple[Holder, ...]
    read_at: float


def db_now(c: Connection) -> float:
    """Now by the database's clock, in seconds since the epoch."""
    if c.dialect.name == "sqlite":
        return time.time()
    return float(c.execute(select(cast(func.extract("epoch", func.clock_timestamp()), Float))).scalar_one())


def read(c: Connection, besides: str | None = None) -> Holders:
    """Every instance whose lease has not run out (but ``besides``), in one statement."""
    now: Any = time.time() if c.dialect.name == "sqlite" else cast(func.extract("epoch", func.clock_timestamp()), Float)
    rows = c.execute(select(Lease.instance, Lease.applied, Lease.until - now).where(Lease.until > now)).all()
    return Holders(tuple(Holder(i, int(a), float(left)) for i, a, left in rows if i != besides), time.monotonic())
