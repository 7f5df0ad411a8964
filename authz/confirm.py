"""The writer's half of R11: a save's answer leaves only once every instance holding a lease has confirmed the
save's revision, or its lease has run out (so that it answers 503 until it has caught up).

The writer knows the leases that have not run out from its commit, which read them (:mod:`authz.store.holders`);
a writer that did not (the command line's announcement) reads them after the commit. An
instance that said it applied the revision already is done; for the others it waits for a confirmation on Redis
(:mod:`authz.bus`), or in SQL (an instance that does not hear Redis learns of the revision at its next renewal,
applies it and records it there), or for the lease to run out, counted from when the writer read it plus a margin
for clocks that run at slightly different rates. So the wait is bounded by the lease (``AUTHZ_LEASE_SECONDS``),
whatever Redis does; when the leases cannot be read at all, the writer waits out the longest lease any instance
can hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from authz.store import leases
from authz.store.db import Database
from authz.store.holders import Holders

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often a waiting writer reads the confirmations in SQL, after waiting this long for one on Redis.
SQL_POLL = 0.05
# At most this many instances are remembered with the newest revision they confirmed.
REMEMBERED = 1000
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def margin(lease_seconds: float) -> float:
    """What a lease is shortened by at its holder and lengthened by at a writer: clocks that run at rates a few
    percent apart, and the time a renewal takes to be written, stay on the safe side."""
    return 0.02 + 0.05 * lease_seconds


@dataclass(frozen=True)
class Confirmation:
    revision: int
    confirmed: bool  # every instance holding a lease confirmed it (else some lease ran out first)
    waited: float  # seconds the save waited
    instances: int | None  # instances waited for (None: the leases could not be read)
    lapsed: tuple[str, ...] = ()  # instances whose lease ran out before they confirmed


@dataclass
class Figures:
    """What /metrics says about the saves' waits."""

    saves: int = 0
    waited: int = 0  # saves that waited for at least one other instance
    unconfirmed: int = 0  # saves that returned without every instance's confirmation
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    def observe(self, c: Confirmation) -> None:
        self.saves += 1
        self.seconds += c.waited
        if c.instances != 0:
            self.waited += 1
        if not c.confirmed:
            self.unconfirmed += 1
        for i, bound in enumerate(BUCKETS):
            if c.waited <= bound:
                self.buckets[i] += 1


class Confirmations:
    """Waits for other instances to confirm revisions; told of confirmations by :meth:`heard`."""

    def __init__(self, db: Database, lease_seconds: float, instance: str | None = None) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.instance = instance  # this process's own lease, which is not waited for
        self.figures = Figures()
        self._confirmed: dict[str, int] = {}
        self._news = asyncio.Event()

    def heard(self, instance: str, revision: int) -> None:
        """``instance`` says it has applied ``revision`` (a confirmation on Redis)."""
        if revision > self._confirmed.get(instance, 0):
            self._confirmed[instance] = revision
            if len(self._confirmed) > REMEMBERED:
                del self._confirmed[next(iter(self._confirmed))]
            news, self._news = self._news, asyncio.Event()
            news.set()

    async def _read(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        return await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(run_in_threadpool(fn, *args))), timeout)

    async def wait(self, revision: int, known: Holders | None = None) -> Confirmation:
        """Wait for the lease holders to confirm ``revision``: those the commit itself read (``known``), else
        those SQL shows now."""
        started = time.monotonic()
        longest = self.lease_seconds + margin(self.lease_seconds)
        if known is None:
            try:
                known = await self._read(leases.holders, self.db, self.instance, timeout=longest)
            except Exception as exc:  # SQL does not say who holds a lease: wait until no lease of before can run
                log.warning("revision %s: the leases cannot be read (%s); waiting %.2f s for every lease to run "
                            "out", revision, exc, longest)
                await asyncio.sleep(max(started + longest - time.monotonic(), 0))
                return self._done(Confirmation(revision, False, time.monotonic() - started, None))
        read_at = known.read_at
        extra = margin(self.lease_seconds)
        pending = {h.instance: read_at + h.left + extra for h in known.holders
                   if h.applied < revision and h.instance != self.instance}
        waited_for = len(pending)
        lapsed: list[str] = []
        poll_at = read_at + SQL_POLL
        while pending:
            for instance in [i for i in pending if self._confirmed.get(i, 0) >= revision]:
                del pending[instance]
            now = time.monotonic()
            for instance in [i for i, until in pending.items() if until <= now]:
                lapsed.append(instance)
                del pending[instance]
            if not pending:
                break
            if now >= poll_at:
                try:
                    said = await self._read(leases.applied_by, self.db, list(pending),
                                            timeout=max(min(pending.values()) - now, 0.001))
                    for instance in list(pending):
                        if said.get(instance, revision) >= revision:  # no row: it gave its lease up
                            del pending[instance]
                except Exception as exc:  # the lease still bounds the wait
                    log.info("revision %s: reading confirmations in SQL failed: %s", revision, exc)
                poll_at = time.monotonic() + SQL_POLL
                continue
            news = self._news
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), max(min(min(pending.values()), poll_at) - now, 0.0005))
        if lapsed:
            log.warning("revision %s: the lease of %s ran out before it confirmed; it answers 503 until it has "
                        "caught up", revision, ", ".join(sorted(lapsed)))
        return self._done(Confirmation(revision, not lapsed, time.monotonic() - started, waited_for,
                                       tuple(sorted(lapsed))))

    def _done(self, c: Confirmation) -> Confirmation:
        self.figures.observe(c)
        return c
