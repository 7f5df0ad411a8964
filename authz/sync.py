"""Keeps this instance's decider at the newest committed revision.

SQL is the source of truth: the change log (table ``changes``) holds every revision's events. After its own writes,
on an announcement, and on a periodic poll (the safety net), an instance reads the revisions it has not applied and
applies them in order on the event loop thread. Events that cannot be applied in place lead to a full reload. An
announcement that carries the signed events of the very next revision (see :mod:`authz.bus`) is applied without
reading SQL; the writer read those events from the change log itself.

With a snapshot cache (Redis), an instance starts from the newest snapshot there when SQL confirms it leads to the
present and catches up from the change log; otherwise it loads from SQL and writes a snapshot for the next instance
to start from. Every so many revisions one instance refreshes it. That part is :mod:`authz.warmstart`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from authz.bus import NullBus, RedisBus
from authz.cache.snapshot import SnapshotCache
from authz.decider import Decider, Snapshot
from authz.errors import Unavailable
from authz.events import Event
from authz.metrics import Metrics, Sample
from authz.store.db import Database
from authz.store.snapshot import read_snapshot
from authz.warmstart import WarmStart

log = logging.getLogger(__name__)
T = TypeVar("T")


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """While an index of millions of objects is read and built, the cyclic collector would walk it again and again
    (measured at 1M grants: the build takes twice as long with it); it is frozen out of its reach afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Sync:
    def __init__(self, db: Database, decider: Decider, metrics: Metrics, poll_interval: float = 1.0,
                 bus: NullBus | RedisBus | None = None, freshness_bound: float = 5.0,
                 cache: SnapshotCache | None = None, snapshot_refresh: int = 1000) -> None:
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
        self.sql_revision = -1  # the newest revision SQL showed at the last catch-up
        self.applied_at = 0.0  # wall-clock time the applied revision was reached (for propagation measurements)
        self.last_commit: tuple[int, float] | None = None  # (revision, wall-clock time) of this instance's last write
        # Revisions after the snapshot in Redis at which an instance writes a newer one (0: never refresh).
        self.snapshot_refresh = snapshot_refresh
        self.warm = WarmStart(db, cache, metrics, snapshot_refresh, self._in_thread) if cache is not None else None
        self._recent: dict[int, list[Event]] = {}
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        if not await self._warm_start():
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
        announce it to the others with its events as read from SQL; returns the revision applied here. A failure
        to apply is logged, not raised: the change is committed, and the poll applies it once SQL answers again."""
        if revision is not None:
            self.last_commit = (revision, time.time())
            self.known_revision = max(self.known_revision, revision)
        try:
            await self.catch_up()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("applying a committed change here failed: %s", self.last_error)
        announced = revision if revision is not None else self.decider.revision
        await self.bus.announce(announced, self._recent.get(announced))
        return self.decider.revision

    async def _heard(self, revision: int, events: list[Event] | None = None) -> None:
        """An announcement (0: the channel was (re)joined, so whatever it missed must be read from SQL). Signed
        events of the very next revision are applied as they come; anything else is read from SQL."""
        self.known_revision = max(self.known_revision, revision)
        if revision != 0 and revision <= self.decider.revision:
            return
        try:
            if events is not None and revision == self.decider.revision + 1:
                async with self._lock:  # held only while applying, or for a reload
                    if revision <= self.decider.revision:
                        return
                    applied = revision == self.decider.revision + 1 and self.decider.apply(revision, events)
                    if applied:
                        self._applied(revision, events)
                if applied:
                    await self._notify()
                    return
                # Events that cannot be applied in place may have been applied in part: rebuild from SQL.
                await self.reload()
                return
            await self.catch_up()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.metrics.sync_errors += 1
            log.warning("catching up after an announcement failed: %s", self.last_error)

    def _applied(self, revision: int, events: list[Event]) -> None:
        self.metrics.applied_changes += 1
        self.applied_at = time.time()
        # The last few revisions' events, to announce with them (see authz.bus).
        self._recent[revision] = events
        if len(self._recent) > 64:
            del self._recent[min(self._recent)]

    async def stop(self) -> None:
        await self.bus.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.warm is not None:
            await self.warm.stop()
        # A cancelled task does not stop the thread it waited on: let SQL reads in flight finish, so that no
        # connection is still checked out when the database is disposed.
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=30)
        if self.warm is not None:
            self.warm.close()

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.ensure_future(run_in_threadpool(fn, *args))
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(future)

    async def reload(self) -> None:
        async with self._lock:
            started = time.perf_counter()
            with _no_cyclic_gc():
                snap = await self._in_thread(read_snapshot, self.db)
                self._load(snap)
            revision = snap.revision
            self.known_revision = max(self.known_revision, revision)
            self.confirmed_at = time.monotonic()
            self.metrics.reloads += 1
            log.info("loaded revision %s in %.2f s: %s", revision, time.perf_counter() - started,
                     self.decider.stats())
        if self.warm is not None:
            self.warm.loaded_from_sql(snap)
        await self._notify()

    def _load(self, snap: Snapshot) -> None:
        self.decider.load(snap)
        self.applied_at = time.time()
        # The index is millions of long-lived objects: keep the cyclic collector from walking them again and
        # again (a full collection over a 1M-grant index takes about half a second, a pause for every request).
        gc.freeze()

    async def _warm_start(self) -> bool:
        """Load from the snapshot in Redis when it leads to the present; False (and counted why) when not."""
        if self.warm is None:
            return False
        started = time.perf_counter()
        with _no_cyclic_gc():
            snap = await self.warm.usable()
            if snap is None:
                return False
            async with self._lock:
                self._load(snap)
                self.warm.started_from(snap.revision)
            del snap
        log.info("loaded revision %s from the snapshot in Redis in %.2f s: %s", self.decider.revision,
                 time.perf_counter() - started, self.decider.stats())
        await self.catch_up()  # from the snapshot's revision to SQL's present (a gap there reloads from SQL)
        return True

    async def catch_up(self) -> int:
        """Apply every committed revision this instance has not applied yet; returns the applied revision.

        The SQL read runs without the lock, so that an announcement's events can be applied meanwhile (the read
        under load takes milliseconds of thread hand-offs); what it brings is applied under the lock, skipping
        revisions applied in between."""
        needs_reload = False
        while not needs_reload:
            checked_at = time.monotonic()
            heard = self.known_revision
            if self._lock.locked():  # a reload is running: its result is what to continue from
                async with self._lock:
                    pass
            changes = await self._in_thread(self.db.changes_since, self.decider.revision)
            if not changes:
                self.confirmed_at = checked_at
                self.sql_revision = max(self.sql_revision, self.decider.revision)
                if heard > self.decider.revision and self.known_revision == heard:
                    # Announced, yet not in SQL although announcements follow commits: not a revision of this
                    # database (a stray publisher, another deployment on the same prefix). A hint, not a fact:
                    # believing it would keep this instance 'stale' for good.
                    log.warning("revision %s was announced but SQL has nothing after %s: ignoring it", heard,
                                self.decider.revision)
                    self.known_revision = self.decider.revision
                break
            self.metrics.catch_ups += 1
            self.sql_revision = max(self.sql_revision, changes[-1][0])
            async with self._lock:
                for revision, events in changes:
                    if revision <= self.decider.revision:
                        continue  # applied meanwhile from an announcement
                    if revision != self.decider.revision + 1 or not self.decider.apply(revision, events):
                        needs_reload = True
                        break
                    self._applied(revision, events)
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
            if self.decider.revision < revision:
                # Caught up with SQL, which has no such revision: nobody was given it, so waiting cannot help.
                return False
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
                if self.warm is not None:
                    await self.warm.maybe_refresh(self.decider.revision)
            except Exception as exc:  # the poll must survive a database outage
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.sync_errors += 1
                log.warning("revision check against SQL failed: %s", self.last_error)

    def samples(self) -> list[Sample]:
        """What /metrics says about this instance's revision and its announcement channel."""
        bus = self.bus
        return [
            ("authz_revision_applied", "gauge", self.decider.revision, "The revision this instance decides from."),
            ("authz_revision_known", "gauge", self.known_revision, "The newest revision this instance heard of."),
            ("authz_revision_confirmed_seconds_ago", "gauge", round(time.monotonic() - self.confirmed_at, 3),
             "Seconds since SQL last confirmed that nothing newer than the applied revision exists."),
            ("authz_bus_live", "gauge", int(bus.live(self.freshness_bound)),
             "1 while the announcement channel is known to work."),
            ("authz_announcements_total", "counter", bus.announced, "Revisions this instance announced."),
            ("authz_announcements_received_total", "counter", bus.received, "Announcements received."),
            ("authz_announcement_errors_total", "counter", bus.errors,
             "Failed announcements and lost subscriptions."),
        ]
