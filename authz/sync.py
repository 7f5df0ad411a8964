"""Keeps this instance's decider at the newest committed revision.

SQL is the source of truth: the change log (table ``changes``) holds every revision's events. After its own writes,
on an announcement, and on a periodic poll (the safety net), an instance reads the revisions it has not applied and
applies them in order on the event loop thread. Events that cannot be applied in place lead to a full reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from authz.bus import NullBus, RedisBus
from authz.decider import Decider
from authz.errors import Unavailable
from authz.metrics import Metrics
from authz.store.db import Database
from authz.store.snapshot import read_snapshot

log = logging.getLogger(__name__)
T = TypeVar("T")


class Sync:
    def __init__(self, db: Database, decider: Decider, metrics: Metrics, poll_interval: float = 1.0,
                 bus: NullBus | RedisBus | None = None, freshness_bound: float = 5.0) -> None:
        self.db = db
        self.decider = decider
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.bus = bus or NullBus()
        # How long this instance may answer from a revision it cannot confirm is current (SPEC §5).
        self.freshness_bound = freshness_bound
        self.confirmed_at = 0.0  # monotonic time of the last check that SQL had nothing newer
        self.known_revision = 0  # the newest revision this instance has heard of, applied or not
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll(), name="authz-sync-poll")
        await self.bus.start(self._heard)

    def current(self) -> bool:
        """Whether this instance can vouch that its applied revision is the newest: nothing newer is known, and
        either the announcement channel is live or SQL confirmed it within the freshness bound."""
        if self.known_revision > self.decider.revision:
            return False
        return self.bus.live(self.freshness_bound) or time.monotonic() - self.confirmed_at <= self.freshness_bound

    async def ensure_current(self, timeout: float = 1.0) -> None:
        """Catch up (bounded) when this instance cannot vouch for its revision; 503 ``stale`` if that fails."""
        if self.current():
            return
        try:
            await asyncio.wait_for(self.catch_up(), timeout)
        except Exception as exc:  # any failure to confirm means: do not answer from unconfirmed data
            log.warning("could not confirm the revision: %s", exc)
        if not self.current():
            raise Unavailable("stale", "This instance cannot confirm that its access data is current; "
                                       "no decision is given. Try again or ask another instance.")

    async def committed(self, revision: int | None = None) -> int:
        """After this instance committed a change (``revision``, when the caller knows it): apply it here, then
        announce it to the others; returns the revision applied here. A failure to apply is logged, not raised:
        the change is committed, and the poll applies it as soon as SQL answers again."""
        if revision is not None:
            self.known_revision = max(self.known_revision, revision)
        try:
            await self.catch_up()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("applying a committed change here failed: %s", self.last_error)
        await self.bus.announce(max(revision or 0, self.decider.revision))
        return self.decider.revision

    async def _heard(self, revision: int) -> None:
        """An announcement (0: the channel was (re)joined, so whatever it missed must be read from SQL)."""
        self.known_revision = max(self.known_revision, revision)
        if revision == 0 or revision > self.decider.revision:
            try:
                await self.catch_up()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.sync_errors += 1
                log.warning("catching up after an announcement failed: %s", self.last_error)

    async def stop(self) -> None:
        await self.bus.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A cancelled task does not stop the thread it waited on: let SQL reads in flight finish, so that no
        # connection is still checked out when the database is disposed.
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=10)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.ensure_future(run_in_threadpool(fn, *args))
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(future)

    async def reload(self) -> None:
        async with self._lock:
            started = time.perf_counter()
            snap = await self._in_thread(read_snapshot, self.db)
            self.decider.load(snap)
            revision = snap.revision
            del snap  # the rows, not the index, must go before freezing
            # The index is millions of long-lived objects: keep the cyclic collector from walking them again and
            # again (a full collection over a 1M-grant index takes about half a second, a pause for every request).
            gc.freeze()
            self.known_revision = max(self.known_revision, revision)
            self.confirmed_at = time.monotonic()
            self.metrics.reloads += 1
            log.info("loaded revision %s in %.2f s: %s", revision, time.perf_counter() - started,
                     self.decider.stats())
        await self._notify()

    async def catch_up(self) -> int:
        """Apply every committed revision this instance has not applied yet; returns the applied revision."""
        needs_reload = False
        async with self._lock:
            while True:
                checked_at = time.monotonic()
                changes = await self._in_thread(self.db.changes_since, self.decider.revision)
                if not changes:
                    self.confirmed_at = checked_at
                    break
                for revision, events in changes:
                    if revision != self.decider.revision + 1 or not self.decider.apply(revision, events):
                        needs_reload = True
                        break
                    self.metrics.applied_changes += 1
                if needs_reload:
                    break
        if needs_reload:
            await self.reload()
        else:
            await self._notify()
        self.known_revision = max(self.known_revision, self.decider.revision)
        return self.decider.revision

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Wait until this instance has applied ``revision``; catches up from SQL meanwhile."""
        if self.decider.revision >= revision:
            return True
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self.catch_up(), timeout)
        except Exception as exc:  # a database fault: keep waiting until the deadline, then answer stale
            log.warning("catching up to revision %s failed: %s", revision, exc)
        while self.decider.revision < revision:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            async with self._advanced:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), min(left, 0.05))
            if self.decider.revision < revision:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.catch_up(), max(deadline - time.monotonic(), 0.001))
        return True

    async def _notify(self) -> None:
        async with self._advanced:
            self._advanced.notify_all()

    async def _poll(self) -> None:
        while True:
            # With announcements configured but not arriving, SQL is the only news: ask it more often.
            degraded = self.bus.name != "none" and not self.bus.live(2 * self.poll_interval)
            await asyncio.sleep(min(self.poll_interval, 0.25) if degraded else self.poll_interval)
            try:
                await self.catch_up()
                self.last_error = None
            except Exception as exc:  # the poll must survive a database outage
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.sync_errors += 1
                log.warning("revision check against SQL failed: %s", self.last_error)
