"""Keeps this instance's decider at the newest committed revision, and says when it can vouch for it (R11).

SQL is the source of truth: the change log (table ``changes``) holds every revision's events. After its own write
an instance applies the events its transaction wrote (it announces them first, so the others start at once); on an
announcement it applies the signed events of its very next revision; otherwise, and at every renewal of its lease
(the safety net), it reads the revisions it has not applied and applies them in order, on the event loop thread.

The lease (:mod:`authz.store.leases`): an instance answers decisions only while it holds one, and renews it every
fifth of its length; a renewal reads, under a share lock on the revision, what the instance has not applied, and
the lease counts only once that is applied. A writer waits for every lease holder to confirm its revision or for
the lease to run out (:mod:`authz.confirm`). So an instance that misses an announcement, loses Redis, is paused or
loses SQL stops answering (503 ``stale``) before any save it has not applied returns, and answers again once a
renewal has brought it up to date. Events that cannot be applied in place lead to a full reload. An
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
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from authz.bus import NullBus, RedisBus
from authz.cache.snapshot import SnapshotCache
from authz.confirm import BUCKETS, Confirmation, Confirmations, margin
from authz.decider import Decider, Snapshot
from authz.errors import Unavailable
from authz.events import Event
from authz.metrics import Metrics, Sample
from authz.store import leases
from authz.store.db import Database, written
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


def instance_name() -> str:
    """This process's name in the lease table: host, process, and a random part (a restarted process is another
    instance)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Sync:
    def __init__(self, db: Database, decider: Decider, metrics: Metrics, lease_seconds: float = 1.0,
                 bus: NullBus | RedisBus | None = None, cache: SnapshotCache | None = None,
                 snapshot_refresh: int = 1000) -> None:
        self.db = db
        self.decider = decider
        self.metrics = metrics
        self.bus = bus or NullBus()
        self.instance = instance_name()
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 5
        self.vouch_until = 0.0  # monotonic time until which this instance's lease lets it answer
        self.renewed_at = 0.0  # monotonic time of the last successful renewal
        self.lease_state = "none"  # none | held | lapsed, for the log line at each change
        self.renewals = 0
        self.renewal_errors = 0
        self.lapses = 0
        self.confirmations = Confirmations(db, lease_seconds, self.instance)
        self.known_revision = 0  # the newest revision this instance has heard of, applied or not
        self.last_error: str | None = None
        self.sql_revision = -1  # the newest revision SQL showed at the last renewal or catch-up
        self.applied_at = 0.0  # wall-clock time the applied revision was reached (for propagation measurements)
        self.last_commit: tuple[int, float] | None = None  # (revision, wall-clock time) of this instance's last write
        # Revisions after the snapshot in Redis at which an instance writes a newer one (0: never refresh).
        self.snapshot_refresh = snapshot_refresh
        self.warm = WarmStart(db, cache, metrics, snapshot_refresh, self._in_thread) if cache is not None else None
        self._recent: dict[int, list[Event]] = {}
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._renewal: asyncio.Future[None] | None = None
        self._stopped = False
        self._dropped_at = 0.0  # monotonic time the lease was last given up; renewals begun before it do not count
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        if not await self._warm_start():
            await self.reload()
        await self.bus.start(self._heard, self.confirmations.heard)
        await self.renew()
        self._task = asyncio.create_task(self._keep_lease(), name="authz-lease")

    def current(self) -> bool:
        """Whether this instance can vouch that no save it has not applied has returned: its lease runs."""
        return time.monotonic() < self.vouch_until

    async def ensure_current(self, timeout: float = 1.0) -> None:
        """Renew the lease (bounded) when it has run out; 503 ``stale`` if that fails."""
        if self.current():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.renew()), timeout)
        if not self.current():
            raise Unavailable("stale", "This instance cannot confirm that its access data is current; "
                                       "no decision is given. Try again or ask another instance.")

    def renew(self) -> asyncio.Future[None]:
        """Renew the lease now (one renewal at a time: callers meanwhile share the one under way)."""
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.ensure_future(self._renew())
        return self._renewal

    async def _renew(self) -> None:
        started = time.monotonic()
        applied = self.decider.revision
        try:
            r = await self._in_thread(leases.renew, self.db, self.instance, applied, self.lease_seconds)
            self.sql_revision = max(self.sql_revision, r.head)
            self.known_revision = max(self.known_revision, r.head)
            needs_reload = not r.complete
            if r.changes and not needs_reload:
                self.metrics.catch_ups += 1
                async with self._lock:
                    needs_reload = not self._apply(r.changes)
            if needs_reload:
                await self.reload()
            if self.decider.revision < r.head:  # cannot be, but the lease must never count on it
                raise RuntimeError(f"at revision {self.decider.revision} after a renewal that read {r.head}")
            if self.decider.revision > applied:
                await self._notify()
                # Said in SQL at once: a writer whose confirmation did not come over Redis reads it there.
                await self._in_thread(leases.record_applied, self.db, self.instance, self.decider.revision)
        except Exception as exc:  # SQL cannot be reached, or the renewal failed: the lease runs out
            self.renewal_errors += 1
            self.metrics.sync_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.lease_state == "held":
                log.warning("lease renewal failed (%s); this instance answers until its lease runs out in %.2f s",
                            self.last_error, max(self.vouch_until - time.monotonic(), 0))
            return
        if self._stopped or started <= self._dropped_at:
            return  # a renewal begun before the lease was given up may not have read what made us give it up
        self.renewals += 1
        self.last_error = None
        self.renewed_at = time.monotonic()
        self.vouch_until = max(self.vouch_until, started + self.lease_seconds - margin(self.lease_seconds))
        if self.lease_state != "held":
            log.info("lease %s: this instance vouches for revision %s (lease %s s, instance %s)",
                     "taken" if self.lease_state == "none" else "taken again", self.decider.revision,
                     self.lease_seconds, self.instance)
            self.lease_state = "held"

    def _lapsed(self) -> None:
        """The lease ran out (seen by the keeper): say so once."""
        if self.lease_state == "held" and not self.current():
            self.lease_state = "lapsed"
            self.lapses += 1
            log.warning("lease ran out: this instance answers 503 'stale' until a renewal succeeds (%s)",
                        self.last_error or "no renewal in time")

    def drop_lease(self, why: str) -> None:
        """Stop vouching at once (this instance could not apply a revision it wrote)."""
        if self.vouch_until:
            log.warning("lease given up: %s", why)
        self._dropped_at = time.monotonic()
        self.vouch_until = 0.0
        self._lapsed()

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            await self.renew()
            self._lapsed()
            try:
                if self.warm is not None:
                    await self.warm.maybe_refresh(self.decider.revision)
            except Exception as exc:
                log.warning("refreshing the snapshot in Redis failed: %s", exc)

    async def committed(self, revision: int | None = None) -> Confirmation:
        """After this instance committed a change (``revision``, when the caller knows it): announce it to the
        others with the events its transaction wrote, apply those here (from SQL when it is not the very next
        revision, or when the commit is not on this request's record), and wait until every instance that held a
        lease at the commit confirmed it or its lease ran out. If it cannot be applied here, this instance stops
        vouching until a renewal brings it."""
        w = written()
        commit = w.commits.get(revision) if w is not None and revision is not None else None
        if revision is not None:
            self.last_commit = (revision, time.time())
            self.known_revision = max(self.known_revision, revision)
        if commit is not None:  # the others start on it at once, while it is applied here
            self.bus.announce(commit.revision, commit.events)
        try:
            if commit is None or not await self._apply_next(commit.revision, commit.events):
                await self.catch_up()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("applying a committed change here failed: %s", self.last_error)
        wanted = revision if revision is not None else self.decider.revision
        if self.decider.revision < wanted:
            self.drop_lease(f"revision {wanted} was committed here but could not be applied")
        if commit is None:
            self.bus.announce(wanted, self._recent.get(wanted))
        return await self.confirmations.wait(wanted, commit.holders if commit is not None else None)

    async def _heard(self, revision: int, events: list[Event] | None = None) -> None:
        """An announcement (0: the channel was (re)joined, so whatever it missed must be read from SQL). Signed
        events of the very next revision are applied as they come; anything else is read from SQL."""
        self.known_revision = max(self.known_revision, revision)
        if revision != 0 and revision <= self.decider.revision:
            return
        try:
            if events is None or not await self._apply_next(revision, events):
                await self.catch_up()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.metrics.sync_errors += 1
            log.warning("catching up after an announcement failed: %s", self.last_error)

    async def _apply_next(self, revision: int, events: list[Event]) -> bool:
        """Apply the events of a revision as they came (signed in an announcement, or from this instance's own
        commit), without reading SQL; False when it is not the very next revision (then read SQL instead)."""
        async with self._lock:  # held only while applying, or for a reload
            if revision <= self.decider.revision:
                return True  # applied meanwhile
            if revision != self.decider.revision + 1:
                return False
            applied = self.decider.apply(revision, events)
            if applied:
                self._applied(revision, events)
        if not applied:  # events that cannot be applied in place may have been applied in part: rebuild from SQL
            await self.reload()
        else:
            await self._notify()
        return True

    def _apply(self, changes: list[tuple[int, list[Event]]]) -> bool:
        """Apply change log entries in order (under the lock), skipping those applied meanwhile; False when one
        cannot be applied in place (a reload must follow)."""
        for revision, events in changes:
            if revision <= self.decider.revision:
                continue  # applied meanwhile from an announcement
            if revision != self.decider.revision + 1 or not self.decider.apply(revision, events):
                return False
            self._applied(revision, events)
        return True

    def _applied(self, revision: int, events: list[Event]) -> None:
        self.metrics.applied_changes += 1
        self.applied_at = time.time()
        # The last few revisions' events, to announce with them (see authz.bus).
        self._recent[revision] = events
        if len(self._recent) > 64:
            del self._recent[min(self._recent)]

    async def stop(self) -> None:
        self._stopped = True
        self.vouch_until = 0.0  # no more answers from here; then writers need not wait for this instance
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._in_thread(leases.release, self.db, self.instance)
        except Exception as exc:  # the lease runs out by itself
            log.warning("giving the lease up failed: %s", exc)
        await self.bus.stop()
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
            heard = self.known_revision
            if self._lock.locked():  # a reload is running: its result is what to continue from
                async with self._lock:
                    pass
            changes = await self._in_thread(self.db.changes_since, self.decider.revision)
            if not changes:
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
                needs_reload = not self._apply(changes)
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
        """The applied revision moved: wake those waiting for it, and confirm it to the writers."""
        self.bus.confirm(self.instance, self.decider.revision)
        async with self._advanced:
            self._advanced.notify_all()

    def samples(self) -> list[Sample]:
        """What /metrics says about this instance's revision, its lease and its announcement channel."""
        bus = self.bus
        f = self.confirmations.figures
        now = time.monotonic()
        return [
            ("authz_revision_applied", "gauge", self.decider.revision, "The revision this instance decides from."),
            ("authz_revision_known", "gauge", self.known_revision, "The newest revision this instance heard of."),
            ("authz_lease_held", "gauge", int(self.current()),
             "1 while this instance's lease runs, so that it may answer decisions (R11)."),
            ("authz_lease_seconds_left", "gauge", round(max(self.vouch_until - now, 0.0), 3),
             "Seconds until the lease runs out unless renewed."),
            ("authz_lease_renewed_seconds_ago", "gauge", round(now - self.renewed_at, 3) if self.renewed_at else -1,
             "Seconds since the last successful renewal (-1: never)."),
            ("authz_lease_renewals_total", "counter", self.renewals, "Successful lease renewals."),
            ("authz_lease_renewal_errors_total", "counter", self.renewal_errors, "Failed lease renewals."),
            ("authz_lease_lapses_total", "counter", self.lapses, "Times the lease ran out."),
            ("authz_saves_total", "counter", f.saves, "Saves on this instance that waited for confirmations."),
            ("authz_saves_waited_total", "counter", f.waited,
             "Saves that waited for at least one other instance's confirmation."),
            ("authz_saves_unconfirmed_total", "counter", f.unconfirmed,
             "Saves that returned because a lease ran out, not because every instance confirmed them."),
            ("authz_bus_live", "gauge", int(bus.live(2.0)), "1 while the announcement channel is known to work."),
            ("authz_announcements_total", "counter", bus.announced, "Revisions this instance announced."),
            ("authz_announcements_received_total", "counter", bus.received, "Announcements received."),
            ("authz_announcement_errors_total", "counter", bus.errors,
             "Failed announcements and lost subscriptions."),
        ]

    def histogram(self) -> list[str]:
        """The saves' waits for confirmations, as a Prometheus histogram."""
        f = self.confirmations.figures
        name = "authz_save_confirmation_seconds"
        out = [f"# HELP {name} How long saves waited for every instance to confirm them.",
               f"# TYPE {name} histogram"]
        out += [f'{name}_bucket{{le="{bound}"}} {n}' for bound, n in zip(BUCKETS, f.buckets, strict=True)]
        return [*out, f'{name}_bucket{{le="+Inf"}} {f.saves}', f"{name}_sum {round(f.seconds, 6)}",
                f"{name}_count {f.saves}"]
