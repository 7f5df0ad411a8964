"""The one step after every committed use case, for every edge (the JSON API, the portal, the command line): the
instance that wrote applies the revision before it answers (R11), the other instances hear of it at once rather
than at their next poll, and the mailer wakes for the e-mails the transaction wrote."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authz.bus import make_bus

if TYPE_CHECKING:
    from authz.bus import NullBus, RedisBus
    from authz.config import Settings
    from authz.state import State


@dataclass(frozen=True)
class Elsewhere:
    """A process without an instance of its own (the command line): nothing to apply here, no mailer to wake; the
    announcement alone tells the running instances."""

    bus: NullBus | RedisBus


async def after_commit(where: State | Elsewhere, revision: int | None = None) -> int:
    """After a use case committed ``revision`` (None when the caller does not know it): apply, announce, wake the
    mailer. Returns the revision applied where the change was made (``revision`` itself elsewhere).

    A failure to apply is logged by the sync, not raised: the change is committed, and the poll applies it once SQL
    answers again."""
    if isinstance(where, Elsewhere):
        if revision:
            await where.bus.announce(revision)
        return revision or 0
    if where.mailer is not None:
        where.mailer.kick()
    return await where.sync.committed(revision)


def announce_from_command(settings: Settings, revision: int) -> None:
    """:func:`after_commit` for a command line run: running instances would read the change log at their next poll;
    with Redis they hear of the revision now."""
    bus = make_bus(settings.redis_url, settings.redis_prefix, settings.secret_key)

    async def announce() -> None:
        try:
            await after_commit(Elsewhere(bus), revision)
        finally:
            await bus.stop()

    asyncio.run(announce())
