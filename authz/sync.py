"""Keeps this instance's decider at the newest committed revision.

SQL is the source of truth: the change log (table ``changes``) holds every revision's events. After its own writes,
on an announcement, and on a periodic poll (the safety net), an instance reads the revisions it has not applied and
applies them in order on the event loop thread. Events that cannot be applied in place lead to a full reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.concurrency import run_in_threadpool

from authz.decider import Decider
from authz.metrics import Metrics
from authz.store.db import Database
from authz.store.snapshot import read_snapshot

log = logging.getLogger(__name__)


class Sync:
    def __init__(self, db: Database, decider: Decider, metrics: Metrics, poll_interval: float = 1.0) -> None:
        self.db = db
        self.decider = decider
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.confirmed_at = 0.0  # monotonic time of the last check that SQL had nothing newer
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll(), name="authz-sync-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reload(self) -> None:
        async with self._lock:
            started = time.perf_counter()
            snap = await run_in_threadpool(read_snapshot, self.db)
            self.decider.load(snap)
            self.confirmed_at = time.monotonic()
            self.metrics.reloads += 1
            log.info("loaded revision %s in %.2f s: %s", snap.revision, time.perf_counter() - started,
                     self.decider.stats())
        await self._notify()

    async def catch_up(self) -> int:
        """Apply every committed revision this instance has not applied yet; returns the applied revision."""
        needs_reload = False
        async with self._lock:
            while True:
                changes = await run_in_threadpool(self.db.changes_since, self.decider.revision)
                if not changes:
                    break
                for revision, events in changes:
                    if revision != self.decider.revision + 1 or not self.decider.apply(revision, events):
                        needs_reload = True
                        break
                    self.metrics.applied_changes += 1
                if needs_reload:
                    break
            if not needs_reload:
                self.confirmed_at = time.monotonic()
        if needs_reload:
            await self.reload()
        else:
            await self._notify()
        return self.decider.revision

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Wait until this instance has applied ``revision``; catches up from SQL meanwhile."""
        if self.decider.revision >= revision:
            return True
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self.catch_up(), timeout)
        except (TimeoutError, OSError, RuntimeError) as exc:
            log.warning("catching up to revision %s failed: %s", revision, exc)
        while self.decider.revision < revision:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            async with self._advanced:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), min(left, 0.05))
            if self.decider.revision < revision:
                with contextlib.suppress(TimeoutError, OSError, RuntimeError):
                    await asyncio.wait_for(self.catch_up(), max(deadline - time.monotonic(), 0.001))
        return True

    async def _notify(self) -> None:
        async with self._advanced:
            self._advanced.notify_all()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.catch_up()
                self.last_error = None
            except Exception as exc:  # the poll must survive a database outage
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.sync_errors += 1
                log.warning("revision check against SQL failed: %s", self.last_error)
