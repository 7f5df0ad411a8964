"""The one step after every committed use case, for every edge (the JSON API, the portal, the command line): the
instance that wrote applies the revision before it answers, the other instances hear of it at once rather than at
their next renewal, the answer waits until every instance confirmed it or can no longer answer (R11), and the
mailer wakes for the e-mails the transaction wrote.

An edge calls :func:`after_commit` itself; what a request committed without it is waited for before its answer
leaves all the same (:class:`authz.api.http.Confirmed`, which reads :func:`authz.store.db.written`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authz.bus import make_bus
from authz.confirm import Confirmation, Confirmations
from authz.store.db import Database, tracking, written

__all__ = ["Elsewhere", "after_commit", "announce_from_command", "tracking"]

if TYPE_CHECKING:
    from authz.bus import NullBus, RedisBus
    from authz.config import Settings
    from authz.state import State


@dataclass(frozen=True)
class Elsewhere:
    """A process without an instance of its own (the command line): nothing to apply here, no mailer to wake; the
    announcement tells the running instances, and their confirmations are read in SQL."""

    bus: NullBus | RedisBus
    confirmations: Confirmations


async def after_commit(where: State | Elsewhere, revision: int | None = None) -> int:
    """After a use case committed ``revision`` (None when the caller does not know it): apply, announce, wait for
    the confirmations, wake the mailer. Returns the revision applied where the change was made (``revision``
    itself elsewhere).

    A failure to apply here is logged by the sync, not raised: the change is committed, this instance stops
    answering decisions, and its next renewal applies it once SQL answers again."""
    if isinstance(where, Elsewhere):
        if not revision:
            return 0
        where.bus.announce(revision)
        _record(await where.confirmations.wait(revision))
        return revision
    if where.mailer is not None:
        where.mailer.kick()
    confirmation = await where.sync.committed(revision)
    _record(confirmation)
    return where.sync.decider.revision


def _record(c: Confirmation) -> None:
    """Note on this request's record of its commits (if any) what was waited for, and whether it was confirmed."""
    w = written()
    if w is not None:
        w.confirmed_through = max(w.confirmed_through, c.revision)
        w.unconfirmed = w.unconfirmed or not c.confirmed


def announce_from_command(settings: Settings, revision: int) -> None:
    """:func:`after_commit` for a command line run: running instances would learn of the change at their next
    renewal; with Redis they hear of the revision now. Returns once every instance confirmed it (on Redis or in
    SQL) or its lease ran out, as a save in the API does."""
    bus = make_bus(settings.redis_url, settings.redis_prefix, settings.secret_key)
    db = Database(settings.database_url)

    async def announce() -> None:
        confirmations = Confirmations(db, settings.lease_seconds)
        await bus.start(_ignore, confirmations.heard)
        try:
            for _ in range(100):  # listening before announcing, so that no quick confirmation goes unheard
                if bus.name == "none" or bus.live(1.0):
                    break
                await asyncio.sleep(0.01)
            await after_commit(Elsewhere(bus, confirmations), revision)
        finally:
            await bus.stop()

    try:
        asyncio.run(announce())
    finally:
        db.dispose()


async def _ignore(revision: int, events: object = None) -> None:
    return None
