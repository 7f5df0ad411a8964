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

Confirmations (R11, :mod:`authz.confirm`) travel on a second channel: ``instance|N|signature``, sent by an instance
once it has applied revision N. A writer waits for them (or for the instance's lease to run out), so one is signed
as well: a forged confirmation could let a save return before an instance applied it. Sending never blocks the
caller: one sender task publishes in order, and while Redis does not answer it keeps only the newest confirmation
and the last announcements, so a frozen Redis slows no save (the leases in SQL bound the wait).

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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from redis.exceptions import RedisError

from authz.cache.connect import async_client
from authz.events import Event, MalformedEvent, decode_all, encode_all

log = logging.getLogger(__name__)

OnRevision = Callable[[int, list[Event] | None], Awaitable[None]]
OnConfirmation = Callable[[str, int], None]
# Announcements kept while Redis does not take them; older ones are dropped (an instance then reads SQL).
BACKLOG = 64


def _signature(secret: bytes, revision: int, body: bytes) -> bytes:
    return hmac.new(secret, b"%d|" % revision + body, hashlib.sha256).hexdigest().encode()


def encode(revision: int, events: Sequence[Event] | None, secret: bytes | None) -> bytes:
    if events is None or not secret:
        return b"%d" % revision
    body = orjson.dumps(encode_all(events))
    return b"%d|%s|%s" % (revision, _signature(secret, revision, body), body)


def encode_confirmation(instance: str, revision: int, secret: bytes | None) -> bytes:
    head = b"%s|%d" % (instance.encode(), revision)
    return head + b"|" + hmac.new(secret or b"", b"ack|" + head, hashlib.sha256).hexdigest().encode()


def decode_confirmation(data: bytes, secret: bytes | None) -> tuple[str, int] | None:
    """The instance and revision of a confirmation signed with ``secret``; None for anything else."""
    head, _, signature = data.rpartition(b"|")
    expected = hmac.new(secret or b"", b"ack|" + head, hashlib.sha256).hexdigest().encode()
    if not secret or not hmac.compare_digest(signature, expected):
        return None
    instance, _, revision = head.rpartition(b"|")
    try:
        return instance.decode(), int(revision)
    except (UnicodeDecodeError, ValueError):
        return None


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

    async def start(self, on_revision: OnRevision, on_confirmation: OnConfirmation | None = None) -> None:
        return None

    def announce(self, revision: int, events: Sequence[Event] | None = None) -> None:
        return None

    def confirm(self, instance: str, revision: int) -> None:
        return None

    def live(self, within: float) -> bool:
        """Whether announcements are known to arrive (a lone instance hears none: never)."""
        return False

    async def stop(self) -> None:
        return None


class RedisBus:
    """Revisions and confirmations over Redis pub/sub, with a health check and reconnection with back-off."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "authz:", health_interval: float = 1.0, secret: str | None = None
                 ) -> None:
        self.channel = f"{prefix}revisions"
        self.confirmations = f"{prefix}confirmations"
        self._secret = secret.encode() if secret else None
        self._client: Any = async_client(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=0)
        self._health_interval = health_interval
        self._task: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._on_revision: OnRevision | None = None
        self._on_confirmation: OnConfirmation | None = None
        self._stopping = False
        self._backlog: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)
        self._confirmation: tuple[str, int] | None = None  # the newest one not sent yet
        self._wake = asyncio.Event()
        self.alive_at = 0.0  # monotonic time the subscription was last known to work
        self.errors = 0
        self.announced = 0
        self.received = 0
        self.confirmations_sent = 0
        self.confirmations_received = 0
        # The newest revision whose announcement failed: published again as soon as Redis answers, so that the
        # others learn of it by announcement and not only by their next SQL renewal.
        self.unannounced: int | None = None

    async def start(self, on_revision: OnRevision, on_confirmation: OnConfirmation | None = None) -> None:
        self._on_revision = on_revision
        self._on_confirmation = on_confirmation
        self._task = asyncio.create_task(self._listen(), name="authz-bus")
        self._sender = asyncio.create_task(self._send(), name="authz-bus-sender")

    def live(self, within: float) -> bool:
        return time.monotonic() - self.alive_at <= within

    def announce(self, revision: int, events: Sequence[Event] | None = None) -> None:
        """Queue the announcement of ``revision``; the sender publishes it. A failure is logged and counted, never
        raised: the SQL renewals still carry the change, and the revision is announced again once Redis answers."""
        self._backlog.append((revision, encode(revision, events, self._secret)))
        self._wake.set()

    def confirm(self, instance: str, revision: int) -> None:
        """Queue the confirmation that ``instance`` has applied ``revision`` (only the newest one is kept)."""
        if self._confirmation is None or self._confirmation[1] < revision:
            self._confirmation = (instance, revision)
        self._wake.set()

    async def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until everything queued was published or given up."""
        deadline = time.monotonic() + timeout
        while (self._backlog or self._confirmation) and time.monotonic() < deadline and self._sender is not None \
                and not self._sender.done():
            await asyncio.sleep(0.005)

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._confirmation is not None or self._backlog:
                confirmation, self._confirmation = self._confirmation, None
                try:
                    if confirmation is not None:  # first: a writer is waiting for it
                        await self._client.publish(self.confirmations, encode_confirmation(*confirmation,
                                                                                           self._secret))
                        self.confirmations_sent += 1
                    if self._backlog:
                        revision, message = self._backlog[0]
                        await self._client.publish(self.channel, message)
                        self._backlog.popleft()
                        self.announced += 1
                        if self.unannounced is not None and self.unannounced <= revision:
                            self.unannounced = None
                except (RedisError, OSError) as exc:
                    self.errors += 1
                    if self._backlog:
                        self.unannounced = max(self.unannounced or 0, self._backlog[-1][0])
                        self._backlog.clear()  # announced again, without events, once Redis answers
                    log.warning("publishing on Redis failed: %s", exc)
                    break

    def _announce_again(self) -> None:
        revision = self.unannounced
        if revision is not None and not self._backlog:
            log.info("announcing revision %s again after a failed announcement", revision)
            self.announce(revision)

    async def _listen(self) -> None:
        delay = 0.1
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel, self.confirmations)
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
        confirmations = self.confirmations.encode()
        while not self._stopping:
            msg = await pubsub.get_message(timeout=self._health_interval / 2)
            now = time.monotonic()
            if msg is not None:
                if msg["type"] == "subscribe":
                    self.alive_at = now
                    if msg["channel"] != confirmations:
                        # Whatever was announced while we were not listening is in SQL: catch up now.
                        await self._on_revision(0, None)
                elif msg["type"] == "message" and msg["channel"] == confirmations:
                    self.alive_at = now
                    heard = decode_confirmation(msg["data"], self._secret)
                    if heard is None:
                        log.warning("ignoring a confirmation that is not signed with this service's key")
                    elif self._on_confirmation is not None:
                        self.confirmations_received += 1
                        self._on_confirmation(*heard)
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
                self._announce_again()

    async def stop(self) -> None:
        # The flag as well as the cancellation: redis-py can swallow a cancellation that arrives while it reads,
        # and the loop then ends at its next turn (within half a health interval) instead of never.
        self._stopping = True
        await self.flush(1.0)
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self._client.aclose()


def make_bus(redis_url: str | None, prefix: str, secret: str | None = None) -> NullBus | RedisBus:
    return RedisBus(redis_url, prefix, secret=secret) if redis_url else NullBus()
