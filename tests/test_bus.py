"""The Redis bus on its own: an announcement that failed is published again once Redis answers."""

from __future__ import annotations

import asyncio
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
            await bus.announce(7)  # Redis is down: counted, remembered, not raised
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
            await bus.announce(3)
            server.start()
            await bus.announce(4)
            return bus.unannounced
        finally:
            await bus.stop()

    try:
        assert asyncio.run(scenario()) is None
    finally:
        server.stop()
