"""AUTHZ_REDIS_URL: a Redis URL or a Sentinel address (authz/cache/connect.py), and what a malformed one says."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from authz.bus import RedisBus
from authz.cache import redis_client
from authz.cache.connect import SentinelAddress, async_client, check, parse, sync_client
from authz.cache.snapshot import SnapshotCache
from authz.config import Settings, SettingsError


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+sentinel://127.0.0.1:26379/mymaster", SentinelAddress((("127.0.0.1", 26379),), "mymaster")),
    ("redis+sentinel://a:1,b:2,c:3/svc", SentinelAddress((("a", 1), ("b", 2), ("c", 3)), "svc")),
    ("redis+sentinel://a:1, b:2/svc/", SentinelAddress((("a", 1), ("b", 2)), "svc")),
    ("redis+sentinel://a,b:2/svc/3", SentinelAddress((("a", 26379), ("b", 2)), "svc", db=3)),
    ("redis+sentinel://[::1]:26380,[fe80::1]/svc", SentinelAddress((("::1", 26380), ("fe80::1", 26379)), "svc")),
    ("redis+sentinel://:s%40cret@h:1/svc/2", SentinelAddress((("h", 1),), "svc", 2, None, "s@cret")),
    ("redis+sentinel://user:pw@h:1/svc", SentinelAddress((("h", 1),), "svc", 0, "user", "pw")),
    ("redis+sentinel://pw@h:1/svc", SentinelAddress((("h", 1),), "svc", 0, None, "pw")),
    ("redis+sentinel://h:1/my%20master", SentinelAddress((("h", 1),), "my master")),
])
def test_a_sentinel_address_is_parsed(url: str, expected: SentinelAddress) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "redis://:pw@host/3", "rediss://host:6380", "unix:///run/redis.sock?db=1",
])
def test_a_plain_redis_url_is_left_to_redis_py(url: str) -> None:
    assert parse(url) is None
    client = sync_client(url)
    assert isinstance(client, redis.Redis)
    client.close()


@pytest.mark.parametrize(("url", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ("127.0.0.1:6379", "not a URL"),
    ("http://127.0.0.1:6379/0", "unknown scheme 'http'"),
    ("sentinel://h:1/svc", "unknown scheme 'sentinel'"),
    ("REDIS://host", "unknown scheme 'REDIS'"),
    ("redis+sentinel://h:1", "no service name"),
    ("redis+sentinel://h:1/", "no service name"),
    ("redis+sentinel:///svc", "has no host"),
    ("redis+sentinel://a:1,,b:2/svc", "has no host"),
    ("redis+sentinel://:1/svc", "has no host"),
    ("redis+sentinel://h:port/svc", "no valid port"),
    ("redis+sentinel://h:0/svc", "no valid port"),
    ("redis+sentinel://h:70000/svc", "no valid port"),
    ("redis+sentinel://[::1/svc", "is not [IPv6]:port"),
    ("redis+sentinel://[::1]x/svc", "is not [IPv6]:port"),
    ("redis+sentinel://h:1/svc/x", "database 'x' is not a number"),
    ("redis+sentinel://h:1/svc/-1", "database '-1' is not a number"),
    ("redis+sentinel://h:1/svc/0/extra", "/service_name or /service_name/db"),
    ("redis+sentinel://h:1/svc?db=1", "no query or fragment"),
    ("redis+sentinel://h:1/svc#x", "no query or fragment"),
])
def test_a_malformed_url_is_a_value_error_naming_the_setting(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: ") as raised:
        check(url)
    assert why in str(raised.value)
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: "):
        sync_client(url)
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: "):
        async_client(url)


@pytest.mark.parametrize("url", ["redis://h:secret@host:nope/0", "unix:///run/redis.sock?db=x"])
def test_a_malformed_plain_url_names_the_setting_too(url: str) -> None:
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: ") as raised:
        check(url)
    assert "secret" not in str(raised.value)
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: "):
        sync_client(url)
    with pytest.raises(ValueError, match=r"^AUTHZ_REDIS_URL: "):
        async_client(url)


def test_the_password_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ValueError) as raised:
        check("redis+sentinel://user:topsecret@h:1/svc/x")
    assert "topsecret" not in str(raised.value) and "user:***@h:1" in str(raised.value)


def test_every_client_of_the_service_refuses_a_malformed_url_when_built() -> None:
    bad = "redis+sentinel://h:1"
    with pytest.raises(ValueError, match="AUTHZ_REDIS_URL"):
        redis_client(bad)
    with pytest.raises(ValueError, match="AUTHZ_REDIS_URL"):
        SnapshotCache(bad, "p:", "secret")
    with pytest.raises(ValueError, match="AUTHZ_REDIS_URL"):
        RedisBus(bad, "p:")


def test_the_options_reach_the_primary_and_the_socket_and_retry_options_the_sentinels() -> None:
    retry = Retry(NoBackoff(), 1)
    client = sync_client("redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/svc/4", socket_timeout=3,
                         socket_connect_timeout=1, health_check_interval=7, retry=retry)
    pool = client.connection_pool
    assert pool.connection_kwargs["db"] == 4 and pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == 3 and pool.connection_kwargs["health_check_interval"] == 7
    sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [1, 2]
    kwargs = sentinels[0].connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 3 and kwargs["socket_connect_timeout"] == 1 and kwargs.get("password") is None
    assert isinstance(kwargs["retry"]._backoff, NoBackoff) and kwargs["retry"]._retries == 1
    assert kwargs.get("health_check_interval") != 7  # the primary's alone
    client.close()

    async def build() -> None:
        aclient = async_client("redis+sentinel://127.0.0.1:1/svc", socket_timeout=2)
        assert isinstance(aclient, redis.asyncio.Redis)
        assert aclient.connection_pool.connection_kwargs["socket_timeout"] == 2
        await aclient.aclose()

    asyncio.run(build())


def test_the_setting_is_checked_with_the_others_so_that_a_bad_one_stops_the_start_by_name() -> None:
    with pytest.raises(SettingsError, match=r"^AUTHZ_REDIS_URL: no service name"):
        Settings.from_env({"AUTHZ_REDIS_URL": "redis+sentinel://h:1", "AUTHZ_SECRET_KEY": "k"})
    good = Settings.from_env({"AUTHZ_REDIS_URL": "redis+sentinel://h:1,h:2/svc", "AUTHZ_SECRET_KEY": "k"})
    assert good.redis_url == "redis+sentinel://h:1,h:2/svc"
