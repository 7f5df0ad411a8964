"""Throttling of log-ins: failed attempts counted per account and per client address, in fixed windows.

Two stores behind one interface (:class:`Counter`): SQL (:class:`authz.store.throttle.SqlCounter`, table
``login_failures``; right for one or several processes on one database) by default, Redis when ``AUTHZ_REDIS_URL``
is set. An attempt is counted *before* the password is
checked (atomically: ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` or Redis ``INCR``), so a burst of parallel
guesses cannot slip past the limit between a check and a count; a successful log-in then forgives its attempt.

Fail-closed: when the store cannot count (Redis down, SQL error), no log-in is let through unthrottled; the
attempt is refused with 503 ``throttle_unavailable`` and the fault is logged. Locking everybody out for the length
of an outage is the price; the alternative would hand an attacker unlimited guesses whenever Redis is down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from authz.cache import redis_client
from authz.config import Settings
from authz.errors import AuthzError, Unavailable
from authz.store.db import Database
from authz.store.throttle import SqlCounter

log = logging.getLogger(__name__)

# Take an attempt back only from a count that exists and is positive. A plain DECR after the window's key expired
# (a log-in that began in one window and ended in the next) would create a key holding -1 without a TTL: a credit
# of one free guess that never expires.
_FORGIVE = """
local n = tonumber(redis.call('GET', KEYS[1]))
if n ~= nil and n > 0 then
  return redis.call('DECR', KEYS[1])
end
return n
"""


class TooManyAttempts(AuthzError):
    """429 with ``Retry-After`` (whole seconds)."""

    status = 429

    def __init__(self, retry_after: int, code: str = "too_many_attempts", what: str = "failed log-ins") -> None:
        super().__init__(code, f"Too many {what}; try again in {retry_after} seconds.")
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Limits:
    window: int  # seconds
    per_account: int
    per_address: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.login_window_seconds, settings.login_failures_per_account,
                   settings.login_failures_per_address)


class Counter(Protocol):
    name: str

    def hit(self, key: str, window_start: datetime, ttl: int) -> int:
        """Count one attempt for ``key`` in the window beginning at ``window_start``; returns the count so far."""

    def forgive(self, key: str, window_start: datetime) -> None:
        """Take one attempt back (a log-in that succeeded)."""


class RedisCounter:
    name = "redis"

    def __init__(self, client: Any, prefix: str) -> None:
        self.r, self.prefix = client, prefix
        self._forgive = client.register_script(_FORGIVE)

    def _key(self, key: str, window_start: datetime) -> str:
        return f"{self.prefix}throttle:{key}:{int(window_start.timestamp())}"

    def hit(self, key: str, window_start: datetime, ttl: int) -> int:
        k = self._key(key, window_start)
        try:
            pipe = self.r.pipeline(transaction=True)
            pipe.incr(k)
            pipe.expire(k, ttl)
            count, _ = pipe.execute()
            return int(count)
        except redis.RedisError as exc:
            log.error("could not count a log-in attempt in Redis: %s", exc)
            raise Unavailable("throttle_unavailable", "Log-in is not possible now; try again later.") from exc

    def forgive(self, key: str, window_start: datetime) -> None:
        try:
            self._forgive(keys=[self._key(key, window_start)])
        except redis.RedisError as exc:  # the attempt stays counted: stricter, never looser
            log.warning("could not take back a log-in attempt in Redis: %s", exc)


class Throttle:
    """Counts log-in attempts per account and per client address against :class:`Limits`. Other kinds of request
    share the counter under their own ``scope`` (a key prefix) and limits: see :meth:`scoped`."""

    def __init__(self, counter: Counter, limits: Limits, scope: str = "") -> None:
        self.counter, self.limits, self.scope = counter, limits, scope

    def scoped(self, scope: str, limits: Limits) -> Throttle:
        """A throttle on the same store with its own keys and limits."""
        return Throttle(self.counter, limits, f"{self.scope}{scope}:")

    def _window(self, now: datetime) -> tuple[datetime, int]:
        """The start of the current window and the whole seconds until it ends (at least 1)."""
        w = self.limits.window
        start = math.floor(now.timestamp() / w) * w
        return datetime.fromtimestamp(start, UTC), max(1, math.ceil(start + w - now.timestamp()))

    def attempt(self, account: str, address: str, now: datetime) -> None:
        """Count an attempt; 429 ``too_many_attempts`` when either key is over its limit in this window.

        The account key is the normalised address as typed, whether or not it has an account: unknown and
        known accounts are throttled alike, so the answer tells nothing.
        """
        over_account, over_address, left = self._count(account, address, now)
        if over_account or over_address:
            raise TooManyAttempts(left)

    def allow(self, account: str, address: str, now: datetime) -> bool:
        """Count a request that must not tell whether it was held back for its account (a password reset): False
        when the account key is over its limit; 429 ``too_many_requests`` only when the client address is, which
        says nothing about any account."""
        over_account, over_address, left = self._count(account, address, now)
        if over_address:
            raise TooManyAttempts(left, "too_many_requests", "requests")
        return not over_account

    def _count(self, account: str, address: str, now: datetime) -> tuple[bool, bool, int]:
        """Count both keys (always both: a burst must not stop counting one once the other is over); whether each
        is over its limit, and the seconds left in the window."""
        start, left = self._window(now)
        ttl = self.limits.window * 2
        over_account = self.counter.hit(f"{self.scope}account:{account}", start, ttl) > self.limits.per_account
        over_address = self.counter.hit(f"{self.scope}address:{address}", start, ttl) > self.limits.per_address
        return over_account, over_address, left

    def succeeded(self, account: str, address: str, now: datetime) -> None:
        start, _ = self._window(now)
        self.counter.forgive(f"{self.scope}account:{account}", start)
        self.counter.forgive(f"{self.scope}address:{address}", start)


def make_throttle(settings: Settings, db: Database) -> Throttle:
    counter: Counter
    if settings.redis_url:
        counter = RedisCounter(redis_client(settings.redis_url), settings.redis_prefix)
    else:
        counter = SqlCounter(db)
    return Throttle(counter, Limits.of(settings))
