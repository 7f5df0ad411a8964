"""The snapshot cache on behalf of :class:`authz.sync.Sync`: the snapshot an instance may start from, and keeping
the snapshot in Redis near the present.

An instance starts from the newest snapshot in Redis when SQL confirms that it leads to the present
(:func:`authz.store.snapshot.continues`); otherwise it loads from SQL and writes a snapshot for the next instance
to start from. Every ``refresh_every`` revisions one instance (the cache's lock decides which) writes a newer one,
so that a later start has fewer revisions to apply. Writes run in the background: a failed one costs the next
instance a load from SQL, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from authz.cache.snapshot import Rejected, SnapshotCache
from authz.decider import Snapshot
from authz.metrics import Metrics
from authz.store.db import Database
from authz.store.snapshot import continues, fingerprint, read_snapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

# A snapshot further behind SQL than this many revisions is not used: applying them one by one costs more than a
# load from SQL.
MAX_BEHIND = 50_000
# After an attempt to refresh the snapshot, wait at least this long (seconds) before the next one.
REFRESH_PAUSE = 60.0


class InThread(Protocol):
    """How Sync runs blocking work (so that its stop waits for it): ``await in_thread(fn, *args)``."""

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T: ...


class WarmStart:
    def __init__(self, db: Database, cache: SnapshotCache, metrics: Metrics, refresh_every: int,
                 in_thread: InThread) -> None:
        self.db = db
        self.cache = cache
        self.metrics = metrics
        # Revisions after the snapshot in Redis at which an instance writes a newer one (0: never refresh).
        self.refresh_every = refresh_every
        self._in_thread = in_thread
        self._cached_revision = -1  # the newest snapshot revision this instance knows of in Redis
        self._refresh_after = 0.0  # monotonic time before which no refresh is tried
        self._background: set[asyncio.Task[None]] = set()

    async def usable(self) -> Snapshot | None:
        """The snapshot in Redis when it leads to SQL's present by the change log; None (counted why) when not."""
        try:
            snap, expected = await self._in_thread(self.cache.read)
            if not await self._in_thread(continues, self.db, snap.revision, expected, MAX_BEHIND):
                raise Rejected("stale", f"revision {snap.revision} does not lead to SQL's present by the change log")
        except Rejected as exc:
            self.metrics.snapshot_rejected[exc.reason] += 1
            log.info("not starting from the snapshot in Redis (%s): loading from SQL", exc)
            return None
        return snap

    def started_from(self, revision: int) -> None:
        """The instance loaded the snapshot of ``revision`` from Redis."""
        self._cached_revision = revision
        self.metrics.snapshot_loads += 1

    def loaded_from_sql(self, snap: Snapshot) -> None:
        """The instance loaded ``snap`` from SQL: write it to Redis unless Redis has it (or a newer one) already.
        The snapshot is held until the writer has encoded it, then freed."""
        if snap.revision > max(self._cached_revision, 0):
            self._spawn(self._write(snap.revision, lambda: snap))

    async def maybe_refresh(self, applied: int) -> None:
        """When the snapshot in Redis is ``refresh_every`` revisions behind the ``applied`` one, write a newer one
        (one instance does: the cache's lock)."""
        if self.refresh_every <= 0 or self._background:
            return
        if applied - self._cached_revision < self.refresh_every:
            return
        if time.monotonic() < self._refresh_after:
            return
        self._refresh_after = time.monotonic() + REFRESH_PAUSE
        latest = await self._in_thread(self.cache.latest_revision)
        self._cached_revision = max(self._cached_revision, latest if latest is not None else 0)
        if applied - self._cached_revision >= self.refresh_every:
            db = self.db
            self._spawn(self._write(applied, lambda: read_snapshot(db)))

    async def stop(self) -> None:
        """Cancel a write under way (the work it waits on in a thread is Sync's to wait for)."""
        for task in set(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def close(self) -> None:
        self.cache.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write(self, revision: int, read: Callable[[], Snapshot]) -> None:
        cache, db = self.cache, self.db

        def produce() -> tuple[Snapshot, str] | None:
            snap = read()
            mark = fingerprint(db, snap.revision)
            return (snap, mark) if mark is not None else None

        try:
            if await self._in_thread(cache.write, revision, produce):
                self.metrics.snapshot_writes += 1
                self._cached_revision = max(self._cached_revision, revision)
                log.info("wrote the snapshot of revision %s to Redis", revision)
        except Exception as exc:
            self.metrics.snapshot_write_errors += 1
            log.warning("writing the snapshot to Redis failed: %s", exc)
