"""The Redis bus on its own: an announcement that failed is published again once Redis answers."""

from __future__ import annotations

import asyncio
import signal
import time

import redis

from authz.bus import RedisBus
from authz.events import Event
from tests.instances import RedisServer


def test_a_failed_announcement_is_published_again_when_redis_returns() -> None:
    server = RedisServer()
    server.start()
    heard: list[int] = []

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        heard.append(revision)

    async def scenario() -> list[bytes]:
        bus = RedisBus(server.url, prefix="t:", health_interval=0.1)
        await bus.start(on_revision)
        try:
            while not bus.live(1.0):
                await asyncio.sleep(0.02)
            server.stop()
            bus.announce(7)  # Redis is down: counted, remembered, not raised
            await bus.flush(5.0)
            assert bus.errors >= 1 and bus.unannounced == 7
            server.start()
            listener = redis.Redis.from_url(server.url).pubsub(ignore_subscribe_messages=True)
            listener.subscribe("t:revisions")
            got: list[bytes] = []
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                msg = await asyncio.to_thread(listener.get_message, timeout=0.1)
                if msg is not None:
                    got.append(msg["data"])
            listener.close()
            while 7 not in heard and time.monotonic() < deadline:  # the bus's own subscriber hears it too
                await asyncio.sleep(0.02)
            return got
        finally:
            await bus.stop()

    try:
        got = asyncio.run(scenario())
    finally:
        server.stop()
    assert got == [b"7"]
    assert 7 in heard


def test_a_later_announcement_settles_an_earlier_failure() -> None:
    server = RedisServer()
    server.start()

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        return None

    async def scenario() -> int | None:
        bus = RedisBus(server.url, prefix="t:", health_interval=0.1)
        await bus.start(on_revision)
        try:
            server.stop()
            bus.announce(3)
            await bus.flush(5.0)
            assert bus.unannounced == 3
            server.start()
            bus.announce(4)
            await bus.flush(5.0)
            return bus.unannounced
        finally:
            await bus.stop()

    try:
        assert asyncio.run(scenario()) is None
    finally:
        server.stop()


def test_confirmations_are_heard_only_when_signed_with_the_key() -> None:
    server = RedisServer()
    server.start()
    heard: list[tuple[str, int]] = []

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        return None

    async def scenario() -> None:
        bus = RedisBus(server.url, prefix="t:", health_interval=0.1, secret="key")
        forger = RedisBus(server.url, prefix="t:", health_interval=0.1, secret="another key")
        await bus.start(on_revision, lambda instance, revision: heard.append((instance, revision)))
        await forger.start(on_revision)
        try:
            while not (bus.live(1.0) and forger.live(1.0)):
                await asyncio.sleep(0.02)
            forger.confirm("b", 9)  # a confirmation the writer must not believe
            bus.confirm("c", 4)
            bus.confirm("c", 5)  # only the newest is kept while the first is not sent yet
            deadline = time.monotonic() + 5
            while not heard and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
        finally:
            await bus.stop()
            await forger.stop()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert ("b", 9) not in heard
    assert heard[-1] == ("c", 5)


def test_announcing_never_blocks_on_a_frozen_redis() -> None:
    server = RedisServer()
    server.start()
    assert server.proc is not None

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        return None

    async def scenario() -> float:
        bus = RedisBus(server.url, prefix="t:", health_interval=0.1)
        await bus.start(on_revision)
        try:
            while not bus.live(1.0):
                await asyncio.sleep(0.02)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            for revision in range(1, 200):
                bus.announce(revision)
                bus.confirm("a", revision)
            return time.monotonic() - started
        finally:
            server.proc.send_signal(signal.SIGCONT)
            await bus.stop()

    try:
        assert asyncio.run(scenario()) < 0.05
    finally:
        server.stop()
