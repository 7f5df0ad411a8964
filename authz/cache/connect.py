"""Redis clients from ``AUTHZ_REDIS_URL``: the one place that reads that setting's form.

Two forms are accepted:

- a Redis URL as redis-py reads it: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or
  ``unix:///path/to/socket[?db=N]``: the client connects there;
- a Sentinel address: ``redis+sentinel://[[user]:password@]host:port[,host:port…]/service_name[/db]``: the client
  asks the listed sentinels for the primary of ``service_name`` whenever it opens a connection, so that after a
  failover its next connection goes to the new primary. The user and password are the primary's (and its
  replicas'); the sentinels are asked without one. A sentinel's port defaults to 26379, the database to 0.

:func:`sync_client` and :func:`async_client` build a client from either form with the same keyword options
(``socket_timeout``, ``retry``, …), which go to the primary's connections; the ``socket_*`` and ``retry*`` ones
also to the sentinels', so that a client with short timeouts and no back-off fails as fast when no sentinel
answers. A malformed URL is a :class:`ValueError` naming the setting: :class:`authz.config.Settings` calls
:func:`check` when it reads the setting (``authz serve`` stops with the message), and building a client raises it
too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.connection
import redis.sentinel

SETTING = "AUTHZ_REDIS_URL"
SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_PORT = 26379

# Untyped in redis-py: what Redis.from_url reads a plain URL with.
_parse_url: Any = redis.connection.parse_url


@dataclass(frozen=True)
class SentinelAddress:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def _bad(url: str, why: str) -> ValueError:
    return ValueError(f"{SETTING}: {why} (got {_redacted(url)!r}; expected redis://host:port/db, rediss://…, "
                      f"unix:///path or {SENTINEL_SCHEME}://host:port,host:port/service_name[/db])")


def _redacted(url: str) -> str:
    """The URL without the password of its userinfo, for error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{userinfo}{at}{hosts}{slash}{path}"


def _host_port(url: str, part: str) -> tuple[str, int]:
    if part.startswith("["):  # [IPv6]:port
        host, close, tail = part[1:].partition("]")
        if not close or not host or (tail and not tail.startswith(":")):
            raise _bad(url, f"sentinel address {part!r} is not [IPv6]:port")
        port_text = tail[1:]
    else:
        host, _, port_text = part.partition(":")
        if not host:
            raise _bad(url, f"sentinel address {part!r} has no host")
    if not port_text:
        return host, SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad(url, f"sentinel address {part!r} has no valid port")
    return host, int(port_text)


def parse(url: str) -> SentinelAddress | None:
    """The Sentinel address of a ``redis+sentinel://`` URL; None for a plain Redis URL (checked by redis-py's own
    parser, which ``from_url`` uses). Raises :class:`ValueError` naming the setting when malformed."""
    if not isinstance(url, str) or not url.strip():
        raise _bad(str(url), "empty")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _bad(url, "not a URL")
    if scheme in PLAIN_SCHEMES:
        try:
            _parse_url(url)  # what from_url will read, without building a client
        except ValueError as exc:
            raise _plain_failure(url, exc) from None
        return None
    if scheme != SENTINEL_SCHEME:
        raise _bad(url, f"unknown scheme {scheme!r}")
    if "?" in rest or "#" in rest:
        raise _bad(url, "a Sentinel address takes no query or fragment")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if not colon:  # redis://secret@host is a password alone, as redis-py reads it
            username, password = None, unquote(user) or None
    sentinels = tuple(_host_port(url, part.strip()) for part in hosts.split(","))
    segments = path.split("/")
    if len(segments) > 2:
        raise _bad(url, "the path must be /service_name or /service_name/db")
    service_name = unquote(segments[0])
    if not service_name:
        raise _bad(url, "no service name (the path: /service_name)")
    db = 0
    if len(segments) == 2 and segments[1]:
        if not segments[1].isdigit():
            raise _bad(url, f"database {segments[1]!r} is not a number")
        db = int(segments[1])
    return SentinelAddress(sentinels, service_name, db, username, password)


def check(url: str) -> None:
    """Raise :class:`ValueError` naming the setting when ``url`` is neither form."""
    parse(url)


def _credentials(address: SentinelAddress) -> dict[str, Any]:
    found: dict[str, Any] = {"db": address.db}
    if address.username is not None:
        found["username"] = address.username
    if address.password is not None:
        found["password"] = address.password
    return found


def _sentinel_options(options: dict[str, Any]) -> dict[str, Any]:
    """What also applies to the connections to the sentinels: the socket options and the retry policy."""
    return {k: v for k, v in options.items() if k.startswith(("socket_", "retry"))}


# redis-py's Sentinel classes are untyped; the clients they make are plain (typed) Redis clients.
_Sentinel: Any = redis.sentinel.Sentinel
_AsyncSentinel: Any = redis.asyncio.sentinel.Sentinel


def _sentinels_of(client: redis.Redis | redis.asyncio.Redis) -> list[Any]:
    manager: Any = getattr(client.connection_pool, "sentinel_manager", None)
    return list(manager.sentinels) if manager is not None else []


class _SyncSentinelClient(redis.Redis):
    """The primary's client; closing it also closes its connections to the sentinels."""

    def close(self) -> None:
        super().close()
        for sentinel in _sentinels_of(self):
            sentinel.close()


class _AsyncSentinelClient(redis.asyncio.Redis):
    """The primary's client; closing it also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in _sentinels_of(self):
            await sentinel.aclose()


def _plain_failure(url: str, exc: ValueError) -> ValueError:
    return ValueError(f"{SETTING}: {exc} (got {_redacted(url)!r})")


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A synchronous client for ``url`` (either form), with ``options`` for its connections."""
    address = parse(url)
    if address is None:
        try:
            return redis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise _plain_failure(url, exc) from None
    sentinel = _Sentinel(list(address.sentinels), sentinel_kwargs=_sentinel_options(options))
    client: redis.Redis = sentinel.master_for(address.service_name, redis_class=_SyncSentinelClient,
                                              **_credentials(address), **options)
    return client


def async_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client for ``url`` (either form), with ``options`` for its connections."""
    address = parse(url)
    if address is None:
        try:
            return redis.asyncio.Redis.from_url(url, **options)
        except ValueError as exc:
            raise _plain_failure(url, exc) from None
    sentinel = _AsyncSentinel(list(address.sentinels), sentinel_kwargs=_sentinel_options(options))
    client: redis.asyncio.Redis = sentinel.master_for(address.service_name, redis_class=_AsyncSentinelClient,
                                                      **_credentials(address), **options)
    return client
