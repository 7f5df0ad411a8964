"""Announcing committed revisions to the other instances. Only this module (and :mod:`authz.cache`) talks Redis.

An announcement carries a revision number and, when the announcer knows them, that revision's events as it read
them from the SQL change log, signed with the service's secret key (``AUTHZ_SECRET_KEY``): an instance whose next
revision it is applies them without a SQL round trip, which under read load is most of the propagation time.
Anything else (a gap, an unsigned or badly signed message, signed events that do not decode (see
:mod:`authz.events`), events it cannot apply) makes it read SQL, so a lost, forged or broken announcement can delay a
change but never corrupt one. A subscriber that (re)connects catches up from SQL at once, and an announcement of
revision N makes an instance read every revision it has not applied up to N.

On the wire: ``N`` (a revision alone) or ``N|signature|events JSON`` (the events as :func:`authz.events.encode_all`
writes them, as in the change log).

:class:`NullBus` is the bus of a lone instance (no Redis): announcing does nothing and the SQL poll of
:mod:`authz.sync` is the only way to learn of other writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from authz.events import Event, MalformedEvent, decode_all, encode_all

log = logging.getLogger(__name__)

OnRevision = Callable[[int, list[Event] | None], Awaitable[None]]


def _signature(secret: bytes, revision: int, body: bytes) -> bytes:
    return hmac.new(secret, b"%d|" % revision + body, hashlib.sha256).hexdigest().encode()


def encode(revision: int, events: Sequence[Event] | None, secret: bytes | None) -> bytes:
    if events is None or not secret:
        return b"%d" % revision
    body = orjson.dumps(encode_all(events))
    return b"%d|%s|%s" % (revision, _signature(secret, revision, body), body)


def decode(data: bytes, secret: bytes | None) -> tuple[int, list[Event] | None]:
    """The revision, and the events when they are signed with ``secret`` (else None: read them from SQL)."""
    head, _, rest = data.partition(b"|")
    revision = int(head)
    if not rest or not secret:
        return revision, None
    signature, _, body = rest.partition(b"|")
    if not hmac.compare_digest(signature, _signature(secret, revision, body)):
        log.warning("announcement of revision %s carries events with a bad signature: reading SQL", revision)
        return revision, None
    try:
        return revision, decode_all(orjson.loads(body))
    except (orjson.JSONDecodeError, MalformedEvent) as exc:
        log.warning("announcement of revision %s carries events this version cannot read (%s): reading SQL",
                    revision, exc)
        return revision, None


class NullBus:
    """No Redis: nothing to announce to, nothing to hear."""

    name = "none"

    def __init__(self) -> None:
        self.errors = 0
        self.announced = 0
        self.received = 0

    async def start(self, on_revision: OnRevision) -> None:
        return None

    async def announce(self, revision: int, events: Sequence[Event] | None = None) -> None:
        return None

    def live(self, within: float) -> bool:
        """Whether announcements are known to arrive (a lone instance hears none: never)."""
        return False

    async def stop(self) -> None:
        return None


class RedisBus:
    """Revisions over Redis pub/sub, with a health check and reconnection with back-off."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "authz:", health_interval: float = 1.0, secret: str | None = None
                 ) -> None:
        self.channel = f"{prefix}revisions"
        self._secret = secret.encode() if secret else None
        self._client: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                                 health_check_interval=0)
        self._health_interval = health_interval
        self._task: asyncio.Task[None] | None = None
        self._on_revision: OnRevision | None = None
        self._stopping = False
        self.alive_at = 0.0  # monotonic time the subscription was last known to work
        self.errors = 0
        self.announced = 0
        self.received = 0
        # The newest revision whose announcement failed: published again as soon as Redis answers, so that the
        # others learn of it by announcement and not only by their next SQL poll.
        self.unannounced: int | None = None

    async def start(self, on_revision: OnRevision) -> None:
        self._on_revision = on_revision
        self._task = asyncio.create_task(self._listen(), name="authz-bus")

    def live(self, within: float) -> bool:
        return time.monotonic() - self.alive_at <= within

    async def announce(self, revision: int, events: Sequence[Event] | None = None) -> None:
        """Publish; an error is logged and counted, never raised: the SQL poll still carries the change, and the
        revision is announced again (without its events) once Redis answers."""
        try:
            await self._client.publish(self.channel, encode(revision, events, self._secret))
            self.announced += 1
            if self.unannounced is not None and self.unannounced <= revision:
                self.unannounced = None
        except (RedisError, OSError) as exc:
            self.errors += 1
            self.unannounced = max(self.unannounced or 0, revision)
            log.warning("announcing revision %s on Redis failed: %s", revision, exc)

    async def _announce_again(self) -> None:
        revision = self.unannounced
        if revision is not None:
            log.info("announcing revision %s again after a failed announcement", revision)
            await self.announce(revision)

    async def _listen(self) -> None:
        delay = 0.1
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel)
                await self._run(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ValueError) as exc:
                self.errors += 1
                self.alive_at = 0.0
                log.warning("Redis subscription lost (%s); retrying in %.1f s", exc, delay)
            finally:
                with contextlib.suppress(RedisError, OSError, RuntimeError):
                    await pubsub.aclose()
            if not self._stopping:
                await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _run(self, pubsub: Any) -> None:
        assert self._on_revision is not None
        last_ping = 0.0
        while not self._stopping:
            msg = await pubsub.get_message(timeout=self._health_interval / 2)
            now = time.monotonic()
            if msg is not None:
                if msg["type"] == "subscribe":
                    self.alive_at = now
                    # Whatever was announced while we were not listening is in SQL: catch up now.
                    await self._on_revision(0, None)
                elif msg["type"] == "message":
                    self.alive_at = now
                    self.received += 1
                    try:
                        revision, events = decode(msg["data"], self._secret)
                    except (ValueError, orjson.JSONDecodeError):
                        log.warning("ignoring an announcement that is not one: %r", msg["data"][:80])
                        continue
                    await self._on_revision(revision, events)
                elif msg["type"] == "pong":
                    self.alive_at = now
            if now - last_ping >= self._health_interval:
                await pubsub.ping()
                last_ping = now
                await self._announce_again()

    async def stop(self) -> None:
        # The flag as well as the cancellation: redis-py can swallow a cancellation that arrives while it reads,
        # and the loop then ends at its next turn (within half a health interval) instead of never.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._client.aclose()


def make_bus(redis_url: str | None, prefix: str, secret: str | None = None) -> NullBus | RedisBus:
    return RedisBus(redis_url, prefix, secret=secret) if redis_url else NullBus()
