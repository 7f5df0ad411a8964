"""AUTHZ_REDIS_URL as a Sentinel address, on a real group (a primary, a replica, three sentinels): the service's
clients, its session store and its bus reach the primary, and after a failover (the primary killed) the new one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from redis.exceptions import RedisError

from authz.bus import RedisBus
from authz.cache import redis_client
from authz.cache.connect import async_client
from authz.cache.sessions import RedisSessions
from authz.errors import Unavailable
from authz.events import Event
from tests.conftest import NOW
from tests.redis_servers import SentinelGroup, free_port

T = TypeVar("T")
AFTER_FAILOVER = 15.0  # seconds a client may take to reach the new primary


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    g = SentinelGroup()
    g.start()
    yield g
    g.stop()


def until(what: str, attempt: Callable[[], T], deadline: float = AFTER_FAILOVER) -> T:
    """``attempt()``'s first result, retried past Redis faults until ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    while True:
        try:
            return attempt()
        except (RedisError, OSError, Unavailable) as exc:
            if time.monotonic() > end:
                raise AssertionError(f"{what}: still failing after {deadline} s") from exc
        time.sleep(0.1)


def test_the_group_fails_over_to_its_replica(group: SentinelGroup) -> None:
    first, second = group.primary, group.replica
    assert group.url == "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels) + \
        "/authz-test"
    assert group.master_port() == first.port
    assert group.failover() is second
    assert group.master_port() == second.port and group.primary is second
    assert first.proc is None or first.proc.poll() is not None


def test_the_sync_client_reaches_the_new_primary_after_a_failover(group: SentinelGroup) -> None:
    client = redis_client(group.url)  # the stores' client: short timeouts, one retry
    client.set("k", "before")
    assert client.get("k") == b"before"
    assert client.info("server")["tcp_port"] == group.primary.port
    new = group.failover()
    assert until("the new primary", lambda: client.get("k")) == b"before"  # replicated before the kill
    until("a write", lambda: client.set("k", "after"))
    assert client.get("k") == b"after"
    assert client.info("server")["tcp_port"] == new.port
    client.close()


def test_the_async_client_reaches_the_new_primary_after_a_failover(group: SentinelGroup) -> None:
    async def write_read() -> tuple[bytes | None, int]:
        client = async_client(group.url, socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.set("k", "v")
            return await client.get("k"), (await client.info("server"))["tcp_port"]
        finally:
            await client.aclose()

    async def after() -> tuple[bytes | None, int]:
        client = async_client(group.url, socket_timeout=2, socket_connect_timeout=2)
        try:
            end = time.monotonic() + AFTER_FAILOVER
            while True:
                try:
                    await client.set("k2", "w")
                    return await client.get("k"), (await client.info("server"))["tcp_port"]
                except (RedisError, OSError):
                    if time.monotonic() > end:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    assert asyncio.run(write_read()) == (b"v", group.primary.port)
    new = group.failover()
    assert asyncio.run(after()) == (b"v", new.port)


def test_a_long_lived_async_client_follows_the_failover(group: SentinelGroup) -> None:
    async def scenario() -> tuple[bytes | None, int]:
        client = async_client(group.url, socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.set("k", "v")
            await asyncio.to_thread(group.failover)
            end = time.monotonic() + AFTER_FAILOVER
            while True:
                try:
                    return await client.get("k"), (await client.info("server"))["tcp_port"]
                except (RedisError, OSError):
                    if time.monotonic() > end:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    value, port = asyncio.run(scenario())
    assert value == b"v" and port == group.primary.port


def test_sessions_live_through_a_failover(group: SentinelGroup) -> None:
    idle, absolute = 30 * 60, 12 * 60 * 60
    client = redis_client(group.url)
    store = RedisSessions(client, "authz-test-sentinel:", idle, absolute)
    token = store.create(42, NOW)
    assert store.resolve(token, NOW) is not None
    group.failover()
    found = until("the session on the new primary", lambda: store.resolve(token, NOW))
    assert found is not None and found[0] == 42
    later = until("a new session", lambda: store.create(43, NOW))
    resolved = store.resolve(later, NOW)
    assert resolved is not None and resolved[0] == 43
    store.end_all(42)
    assert store.resolve(token, NOW) is None
    client.close()


def test_no_sentinel_answering_is_a_quick_503_for_sessions() -> None:
    client = redis_client(f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/authz-test")
    store = RedisSessions(client, "x:", 60, 60)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        store.create(1, NOW)
    assert time.monotonic() - started < 2  # the stores' retry policy (one, at once) holds for the sentinels too
    client.close()


def test_the_bus_is_heard_again_after_a_failover(group: SentinelGroup) -> None:
    heard: list[int] = []
    confirmed: list[tuple[str, int]] = []

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        heard.append(revision)

    def on_confirmation(instance: str, revision: int) -> None:
        confirmed.append((instance, revision))

    async def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            await asyncio.sleep(0.02)
        return condition()

    async def scenario() -> tuple[int, int]:
        bus = RedisBus(group.url, prefix="authz-test-sentinel:", health_interval=0.2, secret="bus-secret")
        await bus.start(on_revision, on_confirmation)
        try:
            assert await wait_for(lambda: bus.live(1.0), 5)
            bus.announce(7, [])
            bus.confirm("A", 7)
            assert await wait_for(lambda: 7 in heard and ("A", 7) in confirmed, 5)
            errors_before = bus.errors
            await asyncio.to_thread(group.failover)
            end = time.monotonic() + AFTER_FAILOVER
            while not (8 in heard and ("A", 8) in confirmed) and time.monotonic() < end:
                # The subscription reconnects (to the new primary) with back-off; send until it is heard.
                bus.announce(8, [])
                bus.confirm("A", 8)
                await wait_for(lambda: 8 in heard and ("A", 8) in confirmed, 0.5)
            assert bus.live(1.0)
            return errors_before, bus.errors
        finally:
            await bus.stop()

    before, after = asyncio.run(scenario())
    assert 8 in heard and heard.index(8) > heard.index(7) and ("A", 8) in confirmed
    assert after > before  # the subscription to the killed primary was lost, and came back
