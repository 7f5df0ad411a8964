"""A decider snapshot kept in Redis, so that an instance starts warm instead of reading millions of rows from SQL.

The snapshot is what :func:`authz.store.snapshot.read_snapshot` read at one revision, encoded compactly, compressed
and signed. An instance that loaded from SQL writes it (see :class:`authz.sync.Sync`); an instance starting reads
it, checks it against SQL (:func:`authz.store.snapshot.continues`) and catches up from the change log from the
snapshot's revision on. Whatever is wrong with it (missing, unreadable, another format, a bad signature, a Redis
fault) makes :meth:`SnapshotCache.read` raise :class:`Rejected`, and the instance loads from SQL: a snapshot can
only spare work, never decide.

Layout of the stored value::

    b"AZSNAP" | format (u16) | HMAC-SHA256 of the rest (32 bytes) | zlib( u32 header length | header JSON |
                                                                        grant columns: 3 × u32 arrays )

The header holds the small tables (organisations, products, accounts, contracts, mandates, keys) and string
tables of afnemers and products; a grant is three integers (account index, afnemer index, product index), so a
million grants cost 12 MB before compression and decode without making a string. The signature uses the
instance's secret key (``AUTHZ_SECRET_KEY``, the same on every instance of one service): whoever can write to
Redis but does not hold it cannot plant a snapshot.

Keys (under ``Settings.redis_prefix``): ``snapshot:{revision}`` holds a snapshot, ``snapshot:latest`` the revision
of the newest one, ``snapshot:writing`` a short lock so that instances starting together encode it once.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
from redis.exceptions import RedisError

from authz.cache.connect import sync_client
from authz.decider import Snapshot

FORMAT = 1
MAGIC = b"AZSNAP"
_HEAD = struct.Struct("<6sH32s")
_U32 = struct.Struct("<I")
# The blob of a snapshot the newer one replaced stays this long, for a reader that just read the old pointer.
_REPLACED_TTL = 120
# A snapshot nobody refreshes is gone after a week: an instance then loads from SQL and writes a new one.
_TTL = 7 * 24 * 3600
_SET_IF_NEWER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return current
end
return -2
"""


class Rejected(Exception):
    """The snapshot in Redis cannot be used; ``reason`` is a metrics label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _column(values: Sequence[int] | Iterator[int]) -> array[int]:
    col = array("I", values)
    if col.itemsize != 4:  # pragma: no cover - 'I' is four bytes on every platform CPython supports
        col = array("L", col)
    return col


def encode(snap: Snapshot, fingerprint: str, secret: str) -> bytes:
    """The stored value for ``snap``; ``fingerprint`` identifies its revision's change (see store.snapshot)."""
    index = {email: i for i, (email, _, _) in enumerate(snap.accounts)}
    afnemers: dict[str, int] = {}
    products: dict[str, int] = {}
    acc, af, pr = _column(()), _column(()), _column(())
    for email, afnemer, product in snap.grants:
        at = index.get(email)
        if at is None:
            continue
        acc.append(at)
        af.append(afnemers.setdefault(afnemer, len(afnemers)))
        pr.append(products.setdefault(product, len(products)))
    header = orjson.dumps({
        "format": FORMAT, "revision": snap.revision, "fingerprint": fingerprint, "orgs": snap.orgs,
        "products": sorted(snap.products), "accounts": snap.accounts, "contracts": snap.contracts,
        "mandates": snap.mandates, "keys": snap.keys, "afnemer_table": list(afnemers),
        "product_table": list(products), "grants": len(acc),
    })
    body = zlib.compress(b"".join((_U32.pack(len(header)), header, acc.tobytes(), af.tobytes(), pr.tobytes())), 1)
    return _HEAD.pack(MAGIC, FORMAT, _sign(secret, body)) + body


def decode(blob: bytes, secret: str) -> tuple[Snapshot, str]:
    """The snapshot and its fingerprint; :class:`Rejected` for anything but a sound snapshot of this format."""
    if len(blob) < _HEAD.size:
        raise Rejected("corrupt", "too short")
    magic, fmt, signature = _HEAD.unpack_from(blob)
    if magic != MAGIC:
        raise Rejected("corrupt", "not a snapshot")
    if fmt != FORMAT:
        raise Rejected("format", f"format {fmt}, this version reads {FORMAT}")
    body = memoryview(blob)[_HEAD.size:]
    if not hmac.compare_digest(signature, _sign(secret, body)):
        raise Rejected("signature", "not signed with this service's secret key")
    try:
        raw = zlib.decompress(body)
        (size,) = _U32.unpack_from(raw)
        head: dict[str, Any] = orjson.loads(raw[4:4 + size])
        n = int(head["grants"])
        columns = []
        for i in range(3):
            col = _column(())
            start = 4 + size + i * 4 * n
            col.frombytes(raw[start:start + 4 * n])
            columns.append(col)
        if len(raw) != 4 + size + 12 * n or head["format"] != FORMAT:
            raise ValueError("the grant columns do not match the header")
        accounts = [(e, o, s) for e, o, s in head["accounts"]]
        tables = ([e for e, _, _ in accounts], head["afnemer_table"], head["product_table"])
        for col, table in zip(columns, tables, strict=True):
            if n and max(col) >= len(table):
                raise ValueError("a grant refers past its table")
        snap = Snapshot(
            revision=int(head["revision"]), orgs=dict(head["orgs"]), products=set(head["products"]),
            accounts=accounts, contracts=[(a, p, f, u) for a, p, f, u in head["contracts"]],
            mandates=[(a, i, f, u, ps) for a, i, f, u, ps in head["mandates"]], keys=dict(head["keys"]))
        # Strings shared with the account list and the tables: a million grants make no new string.
        snap.grants = zip(*(map(table.__getitem__, col) for col, table in zip(columns, tables, strict=True)),
                          strict=True)
        return snap, str(head["fingerprint"])
    except (zlib.error, struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise Rejected("corrupt", f"{type(exc).__name__}: {exc}") from exc


def _sign(secret: str, body: bytes | memoryview) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


class SnapshotCache:
    """The snapshot in Redis. Synchronous (each call runs in a worker thread): a value of tens of megabytes is
    sent and parsed there, not on the event loop that answers checks."""

    def __init__(self, url: str, prefix: str, secret: str) -> None:
        self._redis: Any = sync_client(url, socket_timeout=10, socket_connect_timeout=2)
        self._secret = secret
        self.latest_key = f"{prefix}snapshot:latest"
        self.lock_key = f"{prefix}snapshot:writing"
        self._prefix = prefix

    def key(self, revision: int) -> str:
        return f"{self._prefix}snapshot:{revision}"

    def latest_revision(self) -> int | None:
        """The revision of the newest snapshot, or None (none, or Redis cannot say)."""
        try:
            value = self._redis.get(self.latest_key)
            return int(value) if value is not None else None
        except (RedisError, OSError, ValueError):
            return None

    def read(self) -> tuple[Snapshot, str]:
        """The newest snapshot and its fingerprint, or :class:`Rejected`."""
        try:
            latest = self._redis.get(self.latest_key)
            blob = self._redis.get(self.key(int(latest))) if latest is not None else None
        except (RedisError, OSError) as exc:
            raise Rejected("redis_error", str(exc)) from exc
        except ValueError as exc:
            raise Rejected("corrupt", "the pointer to the newest snapshot is not a revision") from exc
        if blob is None:
            raise Rejected("missing")
        snap, fingerprint = decode(blob, self._secret)
        if snap.revision != int(latest):
            raise Rejected("corrupt", f"stored as revision {latest!r} but holds {snap.revision}")
        return snap, fingerprint

    def write(self, revision: int, produce: Callable[[], tuple[Snapshot, str] | None]) -> bool:
        """Store the snapshot ``produce()`` gives, unless Redis already has one at ``revision`` or newer, or another
        instance is writing one now (then ``produce`` is not called: it may read millions of rows). Returns
        whether one was written; Redis faults are raised (the caller logs them: nothing depends on a write)."""
        latest = self.latest_revision()
        if latest is not None and latest >= revision:
            return False
        if not self._redis.set(self.lock_key, b"1", nx=True, ex=120):
            return False
        try:
            made = produce()
            if made is None:
                return False
            snap, fingerprint = made
            self._redis.set(self.key(snap.revision), encode(snap, fingerprint, self._secret), ex=_TTL)
            previous = int(self._redis.eval(_SET_IF_NEWER, 1, self.latest_key, snap.revision))
            if previous == -2:  # a newer one came first: ours is of no use
                self._redis.delete(self.key(snap.revision))
                return False
            if previous >= 0:
                self._redis.expire(self.key(previous), _REPLACED_TTL)
            return True
        finally:
            self._redis.delete(self.lock_key)

    def close(self) -> None:
        self._redis.close()
