"""The Redis test tools on real servers (tests/redis_servers.py): a server killed, frozen and thawed by PID, and the
fault proxy in each of its modes, seen through redis-py as the service uses it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.redis_servers import FaultProxy, RedisServer, free_port


def client(url: str, timeout: float) -> redis.Redis:
    """No retries: a fault shows at the first try, and a timeout takes ``timeout``, not a multiple of it."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


@pytest.fixture
def server() -> Iterator[RedisServer]:
    s = RedisServer()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[FaultProxy]:
    p = FaultProxy(server.port)
    p.start()
    yield p
    p.stop()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_server_is_frozen_thawed_and_killed_by_pid(server: RedisServer) -> None:
    c = client(server.url, 0.5)
    c.set("k", "v")
    server.freeze()
    with pytest.raises(redis.TimeoutError):
        c.get("k")
    server.thaw()
    c.connection_pool.disconnect()  # the reply to the timed-out GET may still be on that connection
    assert c.get("k") == b"v"
    server.kill()
    assert server.proc is not None and server.proc.returncode == -9
    with pytest.raises(redis.ConnectionError):
        c.get("k")
    c.close()
    assert server.dir is not None and server.dir.is_dir()
    server.stop()
    assert server.proc is None and server.dir is None and refused(server.port)


def test_a_frozen_server_still_stops_and_starts_again_on_its_port(server: RedisServer) -> None:
    server.freeze()
    server.stop()
    assert refused(server.port)
    server.start()
    c = client(server.url, 1)
    assert c.ping() is True
    c.close()


def test_the_proxy_passes_delays_blackholes_cuts_and_passes_again(server: RedisServer, proxy: FaultProxy) -> None:
    assert proxy.mode == "pass" and proxy.url == f"redis://127.0.0.1:{proxy.port}/0"
    c = client(proxy.url, 0.5)
    c.set("k", "v")
    assert c.get("k") == b"v"

    proxy.delay(0.2)
    slow = client(proxy.url, 3)
    started = time.monotonic()
    assert slow.get("k") == b"v"  # the command and its reply, each 0.2 s late
    assert time.monotonic() - started >= 0.4
    slow.close()

    proxy.blackhole()
    assert proxy.mode == "blackhole"
    with pytest.raises(redis.TimeoutError):
        c.get("k")  # an open connection: nothing comes back
    fresh = client(proxy.url, 0.5)
    with pytest.raises(redis.TimeoutError):
        fresh.get("k")  # a new one connects, and nothing comes back either
    fresh.close()

    proxy.cut()
    assert proxy.mode == "cut" and refused(proxy.port)
    with pytest.raises(redis.ConnectionError):
        client(proxy.url, 0.5).get("k")

    proxy.pass_through()
    c.connection_pool.disconnect()
    assert c.get("k") == b"v"
    assert client(proxy.url, 0.5).get("k") == b"v"
    c.close()


def test_the_proxy_cut_closes_the_open_connections(server: RedisServer, proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(16) == b"+PONG\r\n"
        proxy.cut()
        assert s.recv(16) == b""  # closed by the proxy


def test_the_blackhole_holds_what_was_sent_until_the_mode_changes(server: RedisServer, proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as s:
        proxy.blackhole()
        s.sendall(b"PING\r\n")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(16)
        proxy.pass_through()
        s.settimeout(2)
        assert s.recv(16) == b"+PONG\r\n"


def test_the_proxy_stops_cleanly_and_refuses_a_dead_target(server: RedisServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    proxy = FaultProxy(server.port)
    proxy.start()
    busy = client(proxy.url, 1)
    assert busy.ping() is True
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2):
        proxy.blackhole()  # connections held open do not hold up the stop
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 2
    assert refused(proxy.port) and not proxy._thread.is_alive()
    assert not [r for r in caplog.records if r.name == "asyncio"], "the proxy's loop logged an error"
    proxy.stop()  # twice: nothing to do
    busy.close()

    dead = FaultProxy(free_port())  # nothing listens behind it: the client's connection is closed
    dead.start()
    try:
        with pytest.raises(redis.ConnectionError):
            client(dead.url, 1).ping()
    finally:
        dead.stop()
