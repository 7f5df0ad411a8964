"""Throttling of log-ins: attempts counted per account and per client address, in fixed windows.

Per account: every attempt at that account (the e-mail as typed), ``AUTHZ_LOGIN_FAILURES_PER_ACCOUNT`` in a
window, then 429. Per client address: ``AUTHZ_LOGIN_FAILURES_PER_ADDRESS`` failed log-ins in a window, then 429,
which stops password spraying (many accounts, few guesses each) from one address. Two things keep one noisy client
from locking out everybody behind the same address (an office, or a load balancer without
``AUTHZ_TRUSTED_PROXIES``):

- only attempts whose password is checked count at the address: once an account is over its own limit, further
  attempts at it are refused without a check and count there no more. One client hammering one account (or a
  colleague's typos) uses at most ``_PER_ACCOUNT`` of the address's allowance.
- the other way round too: an attempt refused because its address is over the limit is taken back from its
  account's count. A sprayer stopped at its address does not go on using up every account's own limit, which
  would lock those accounts out at every other address as well.
- an account that has logged in from an address (in this or the previous :data:`KNOWN_GOOD` period) is *known* there:
  the address's limit does not hold it back, its own limit does. While someone sprays from an office, its regular
  users keep logging in; the sprayer, who does not know their passwords, gets nothing from that but each account's
  own few guesses.

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

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

# How long a successful log-in makes its account known at its client address: 30 to 60 days (fixed periods; the
# current and the previous one count).
KNOWN_GOOD = 30 * 24 * 3600  # seconds

_UNAVAILABLE = "Log-in is not possible now; try again later."


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

    def peek(self, key: str, window_start: datetime) -> int:
        """The count of ``key`` in the window beginning at ``window_start`` (0 for none), counting nothing."""

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
            raise Unavailable("throttle_unavailable", _UNAVAILABLE) from exc

    def peek(self, key: str, window_start: datetime) -> int:
        try:
            return int(self.r.get(self._key(key, window_start)) or 0)
        except redis.RedisError as exc:
            log.error("could not read a log-in count in Redis: %s", exc)
            raise Unavailable("throttle_unavailable", _UNAVAILABLE) from exc

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
        """Count a log-in attempt; 429 ``too_many_attempts`` when the account is over its limit in this window, or
        when the client address is and the account is not known there.

        The account key is the normalised address as typed, whether or not it has an account: unknown and
        known accounts are throttled alike, so the answer tells nothing.
        """
        start, left = self._window(now)
        ttl = self.limits.window * 2
        if self.counter.hit(self._account(account), start, ttl) > self.limits.per_account:
            raise TooManyAttempts(left)  # refused without checking the password: nothing to count at the address
        if (self.counter.hit(self._address(address), start, ttl) > self.limits.per_address
                and not self._known(account, address, now)):
            # Refused for the address, not for the account: its own limit does not pay for it. (Counted first and
            # taken back, so that a burst cannot slip past the account's limit between a look and a count.)
            self.counter.forgive(self._account(account), start)
            raise TooManyAttempts(left)

    def forgive(self, account: str, address: str, now: datetime) -> None:
        """Take back the attempt of a right password: nothing was guessed (it may still wait for its second factor)."""
        start, _ = self._window(now)
        self.counter.forgive(self._account(account), start)
        self.counter.forgive(self._address(address), start)

    def succeeded(self, account: str, address: str, now: datetime) -> None:
        """Forgive the attempt of a log-in that succeeded, every factor given; the account is known at the address
        from now on."""
        self.forgive(account, address, now)
        self.counter.hit(self._known_key(account, address), _period(now), KNOWN_GOOD * 2)

    def allow(self, account: str, address: str, now: datetime) -> bool:
        """Count a request that must not tell whether it was held back for its account (a password reset): False
        when the account key is over its limit; 429 ``too_many_requests`` only when the client address is, which
        says nothing about any account."""
        over_account, over_address, left = self._count(account, address, now)
        if over_address:
            raise TooManyAttempts(left, "too_many_requests", "requests")
        return not over_account

    def request(self, key: str, address: str, now: datetime) -> None:
        """Count a request that may say it was held back for its key (a registration, per KvK number): 429
        ``too_many_requests`` when the key or the client address is over its limit."""
        over_key, over_address, left = self._count(key, address, now)
        if over_key or over_address:
            raise TooManyAttempts(left, "too_many_requests", "requests")

    def mark_used(self, key: str, since: datetime, ttl: int) -> bool:
        """Mark a single-use id (a half-login token's, R17) used; True only for the first mark. The mark is one
        atomic count on the same store as the log-in counts (``since``: the id's own issue instant, so its key is
        its own; ``ttl``: seconds it must outlive, at least the id's remaining validity), so two requests racing
        with one id cannot both be the first, on one instance or many."""
        return self.counter.hit(self._used(key), since, ttl) == 1

    def is_used(self, key: str, since: datetime) -> bool:
        """Whether :meth:`mark_used` has marked ``key`` (counting nothing)."""
        return self.counter.peek(self._used(key), since) > 0

    def _used(self, key: str) -> str:
        return f"{self.scope}used:{key}"

    def _count(self, account: str, address: str, now: datetime) -> tuple[bool, bool, int]:
        """Count every request at both keys (always both: a burst must not stop counting the address once the
        account is over); whether each is over its limit, and the seconds left in the window. A request refused
        for its address is taken back from the account key: a client over its limit must not use up the
        allowance of the accounts (or KvK numbers) it names."""
        start, left = self._window(now)
        ttl = self.limits.window * 2
        over_account = self.counter.hit(self._account(account), start, ttl) > self.limits.per_account
        over_address = self.counter.hit(self._address(address), start, ttl) > self.limits.per_address
        if over_address:
            self.counter.forgive(self._account(account), start)
        return over_account, over_address, left

    def _account(self, account: str) -> str:
        return f"{self.scope}account:{account}"

    def _address(self, address: str) -> str:
        return f"{self.scope}address:{address}"

    def _known_key(self, account: str, address: str) -> str:
        # Hashed: an address and a 254-character e-mail would not fit a key of the SQL counter.
        digest = hashlib.sha256(f"{address} {account}".encode()).hexdigest()[:32]
        return f"{self.scope}known:{digest}"

    def _known(self, account: str, address: str, now: datetime) -> bool:
        key, this = self._known_key(account, address), _period(now)
        return any(self.counter.peek(key, start) > 0
                   for start in (this, this - timedelta(seconds=KNOWN_GOOD)))


def _period(now: datetime) -> datetime:
    """The start of the :data:`KNOWN_GOOD` period of ``now``."""
    return datetime.fromtimestamp(math.floor(now.timestamp() / KNOWN_GOOD) * KNOWN_GOOD, UTC)


def make_throttle(settings: Settings, db: Database) -> Throttle:
    counter: Counter
    if settings.redis_url:
        counter = RedisCounter(redis_client(settings.redis_url), settings.redis_prefix)
    else:
        # Rows are kept as long as the longest-lived key needs them (the known marks): see SqlCounter.
        counter = SqlCounter(db, keep=max(2 * KNOWN_GOOD, settings.login_window_seconds,
                                          settings.registration_window_seconds))
    return Throttle(counter, Limits.of(settings))
