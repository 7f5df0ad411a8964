"""Server-side sessions: one interface, two stores. SQL (table ``sessions``) by default, Redis when
``AUTHZ_REDIS_URL`` is set; ``tests/test_session_store.py`` runs one contract suite against both.

A cookie holds a random token; a store keeps only its SHA-256. A session ends when it was idle longer than
``session_idle_seconds`` or began more than ``session_absolute_seconds`` ago, measured by the injected clock (the
Redis keys also expire by Redis' own clock, but only as clean-up). Whether the account may still act (active) is
not the store's business: :func:`actor` reads that from SQL on every request, so a deactivation counts at once even
before its sessions are ended.

Redis faults are not hidden: a store that cannot be read answers 503, so nobody is let in (or kept out) on a guess.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis

from authz.actor import Actor
from authz.cache import redis_client
from authz.config import Settings
from authz.errors import Unavailable
from authz.store import sessions as sql_sessions
from authz.store.db import Database
from authz.store.schema import Account
from authz.store.sessions import token_hash

log = logging.getLogger(__name__)

# last_seen is written at most this often per session: a write per minute, not per request.
TOUCH_EVERY = timedelta(seconds=60)

# Touch last_seen only while the session still exists. A plain HSET after the HGETALL would, when a log-out ended the
# session in between, recreate the key holding only last_seen and no TTL: an orphan that never expires.
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
end
return -1
"""
FIELDS = (b"account", b"created", b"last_seen")


class SessionStore(Protocol):
    """Where sessions live. Every method is synchronous (called from a worker thread)."""

    name: str

    def create(self, account_id: int, now: datetime) -> str:
        """A new session; returns the cookie value (a fresh random token)."""

    def resolve(self, token: str, now: datetime) -> tuple[int, str] | None:
        """(account id, session hash) of a live session, touching it; None when unknown, idle or too old."""

    def end(self, session_hash: str) -> None:
        """Log out this session."""

    def end_all(self, account_id: int, keep: str | None = None) -> None:
        """End every session of the account, except the one whose hash is ``keep``."""


class SqlSessions:
    name = "sql"

    def __init__(self, db: Database, idle: int, absolute: int) -> None:
        self.db, self.idle, self.absolute = db, idle, absolute

    def create(self, account_id: int, now: datetime) -> str:
        with self.db.tx(actor="session") as t:
            return sql_sessions.create(t.s, account_id, now)

    def resolve(self, token: str, now: datetime) -> tuple[int, str] | None:
        with self.db.tx(actor="session") as t:
            return sql_sessions.lookup(t.s, token, now, self.idle, self.absolute)

    def end(self, session_hash: str) -> None:
        with self.db.tx(actor="session") as t:
            sql_sessions.end(t.s, session_hash, is_hash=True)

    def end_all(self, account_id: int, keep: str | None = None) -> None:
        with self.db.tx(actor="session") as t:
            sql_sessions.end_all(t.s, account_id, keep)


class RedisSessions:
    """``{prefix}session:{hash}`` is a hash (account, created, last_seen as epoch seconds);
    ``{prefix}account-sessions:{id}`` is the set of an account's session hashes, so that all of them can end."""

    name = "redis"

    def __init__(self, client: Any, prefix: str, idle: int, absolute: int) -> None:
        self.r, self.prefix, self.idle, self.absolute = client, prefix, idle, absolute
        self._touch = client.register_script(_TOUCH)

    def _key(self, h: str) -> str:
        return f"{self.prefix}session:{h}"

    def _set(self, account_id: int) -> str:
        return f"{self.prefix}account-sessions:{account_id}"

    def create(self, account_id: int, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        h = token_hash(token)
        ts = now.timestamp()
        with _faults("create a session"):
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._key(h), mapping={"account": account_id, "created": ts, "last_seen": ts})
            pipe.expire(self._key(h), self.absolute)
            pipe.sadd(self._set(account_id), h)
            pipe.expire(self._set(account_id), self.absolute)
            pipe.execute()
        return token

    def resolve(self, token: str, now: datetime) -> tuple[int, str] | None:
        h = token_hash(token)
        with _faults("read a session"):
            found = self.r.hgetall(self._key(h))
            if not found:
                return None
            if not all(f in found for f in FIELDS):  # a half key (an orphan of an older release): no session
                self.r.delete(self._key(h))
                return None
            account_id = int(found[b"account"])
            created, last_seen = float(found[b"created"]), float(found[b"last_seen"])
            ts = now.timestamp()
            if ts - last_seen > self.idle or ts - created > self.absolute:
                self._drop(account_id, h)
                return None
            if ts - last_seen > TOUCH_EVERY.total_seconds():
                self._touch(keys=[self._key(h)], args=[ts])
        return account_id, h

    def _drop(self, account_id: int, h: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._key(h))
        pipe.srem(self._set(account_id), h)
        pipe.execute()

    def end(self, session_hash: str) -> None:
        with _faults("end a session"):
            account = self.r.hget(self._key(session_hash), "account")
            if account is not None:
                self._drop(int(account), session_hash)

    def end_all(self, account_id: int, keep: str | None = None) -> None:
        with _faults("end sessions"):
            hashes = [m.decode() for m in self.r.smembers(self._set(account_id))]
            for h in hashes:
                if h != keep:
                    self._drop(account_id, h)


@contextlib.contextmanager
def _faults(what: str) -> Iterator[None]:
    """Turn a Redis fault into 503 ``sessions_unavailable`` (logged): never a guess about who is logged in."""
    try:
        yield
    except redis.RedisError as exc:
        log.error("could not %s in Redis: %s", what, exc)
        raise Unavailable("sessions_unavailable", "Sessions cannot be checked now; try again.") from exc


def make_sessions(settings: Settings, db: Database) -> SessionStore:
    """The store ``settings.session_store`` names; by default Redis when it is configured, else SQL."""
    kind = settings.session_store or ("redis" if settings.redis_url else "sql")
    if kind not in ("sql", "redis"):
        raise ValueError(f"AUTHZ_SESSION_STORE must be 'sql' or 'redis', not {kind!r}")
    if kind == "redis":
        if not settings.redis_url:
            raise ValueError("AUTHZ_SESSION_STORE=redis needs AUTHZ_REDIS_URL")
        return RedisSessions(redis_client(settings.redis_url), settings.redis_prefix, settings.session_idle_seconds,
                             settings.session_absolute_seconds)
    return SqlSessions(db, settings.session_idle_seconds, settings.session_absolute_seconds)


def actor(db: Database, store: SessionStore, token: str) -> Actor | None:
    """The logged-in actor of a session cookie, or None (no live session, or the account is not active)."""
    found = store.resolve(token, db.clock.now())
    if found is None:
        return None
    account_id, h = found
    with db.read() as s:
        account = s.get(Account, account_id)
        if account is None or account.status != "active":
            return None
        return sql_sessions.actor_of(s, account, h)
