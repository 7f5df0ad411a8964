"""Warm start from the decider snapshot in Redis (authz.cache.snapshot): the same answers as a load from SQL,
including changes made after the snapshot; anything wrong with the snapshot means a load from SQL."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.app import create_app
from authz.cache.snapshot import FORMAT, MAGIC, SnapshotCache, decode, encode
from authz.clock import FrozenClock
from authz.config import Settings
from authz.decider import Decider
from authz.store.db import Database
from authz.store.snapshot import fingerprint, read_snapshot
from tests.factories import REDIS_URL, World
from tests.instances import free_port

AFNEMER, OTHER, INTERMEDIAIR = "11111111", "22222222", "33333333"
PRODUCTS = ("polisadministratie", "verzuim", "loonaangifte")
USERS = ("a@korenschoof.nl", "b@korenschoof.nl", "c@vandijk.nl", "d@adviseurs.nl", "e@adviseurs.nl")


def build(world: World) -> None:
    """Two afnemers, an intermediair with a mandate for some products, contracts (one ended), and grants."""
    for kvk in (AFNEMER, OTHER, INTERMEDIAIR):
        world.org(kvk)
    for code in PRODUCTS:
        world.product(code)
    world.contract(AFNEMER, "polisadministratie")
    world.contract(AFNEMER, "verzuim")
    world.contract(OTHER, "verzuim", date(2025, 1, 1), date(2025, 12, 31))  # ended
    world.contract(OTHER, "loonaangifte")
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie"])
    world.mandate(OTHER, INTERMEDIAIR)
    world.account(USERS[0], AFNEMER)
    world.account(USERS[1], AFNEMER, status="inactive")
    world.account(USERS[2], OTHER)
    world.account(USERS[3], INTERMEDIAIR)
    world.grant(USERS[0], AFNEMER, ["polisadministratie", "verzuim"])
    world.grant(USERS[1], AFNEMER, ["verzuim"])
    world.grant(USERS[2], OTHER, ["verzuim", "loonaangifte"])
    world.grant(USERS[3], AFNEMER, ["polisadministratie", "verzuim"])
    world.grant(USERS[3], OTHER, ["loonaangifte"])


def change_after_snapshot(world: World) -> None:
    """One change of every kind a snapshot must be caught up with."""
    world.grant(USERS[0], AFNEMER, ["verzuim"])
    world.contract(OTHER, "verzuim", date(2026, 1, 1))
    world.mandate(AFNEMER, INTERMEDIAIR, ["polisadministratie", "verzuim"])
    world.account(USERS[4], INTERMEDIAIR)
    world.grant(USERS[4], OTHER, ["loonaangifte", "verzuim"])
    world.set_status(USERS[1], "active")
    world.product("nieuw-product")


def answers(decider: Decider) -> dict[tuple[str, str, str | None], tuple[Any, ...]]:
    """Every user × product × afnemer (and 'any afnemer'), plus an unknown user and product."""
    out = {}
    for user in (*USERS, "onbekend@nergens.nl"):
        for product in (*PRODUCTS, "nieuw-product", "bestaat-niet"):
            for afnemer in (AFNEMER, OTHER, INTERMEDIAIR, None):
                out[(user, product, afnemer)] = tuple(decider.check(user, product, afnemer))
    return out


def from_sql(db: Database, clock: FrozenClock) -> Decider:
    fresh = Decider(clock)
    fresh.load(read_snapshot(db))
    return fresh


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    return replace(settings, redis_url=REDIS_URL, redis_prefix=f"authz-test-{uuid.uuid4().hex[:8]}:")


@pytest.fixture
def cache(redis_settings: Settings) -> Iterator[SnapshotCache]:
    c = SnapshotCache(REDIS_URL, redis_settings.redis_prefix, redis_settings.secret_key)
    yield c
    c.close()


def started(settings: Settings, clock: FrozenClock) -> TestClient:
    return TestClient(create_app(settings, clock), base_url="http://testserver")


def app_state(client: TestClient) -> Any:
    return client.app.state.authz  # type: ignore[attr-defined]


def wait_written(cache: SnapshotCache, revision: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (cache.latest_revision() or -1) < revision:
        assert time.monotonic() < deadline, "no snapshot was written"
        time.sleep(0.02)


def test_warm_start_answers_like_a_load_from_sql(world: World, db: Database, clock: FrozenClock,
                                                 redis_settings: Settings, cache: SnapshotCache) -> None:
    build(world)
    with started(redis_settings, clock) as first:
        st = app_state(first)
        assert st.metrics.reloads == 1 and st.metrics.snapshot_rejected["missing"] == 1
        wait_written(cache, st.decider.revision)
    snapshot_revision = cache.latest_revision()
    change_after_snapshot(world)
    with started(redis_settings, clock) as second:
        st = app_state(second)
        assert st.metrics.snapshot_loads == 1 and st.metrics.reloads == 0
        assert st.decider.revision == db.revision() > snapshot_revision  # type: ignore[operator]
        fresh = from_sql(db, clock)
        assert st.decider.stats() == fresh.stats()
        assert answers(st.decider) == answers(fresh)
        assert st.decider.keys == fresh.keys and st.decider.orgs == fresh.orgs
        for user in USERS:
            assert st.decider.products_of(user) == fresh.products_of(user)
        for product in PRODUCTS:
            assert list(st.decider.users_of(product)) == list(fresh.users_of(product))


def test_snapshot_round_trip_keeps_every_fact(world: World, db: Database, clock: FrozenClock) -> None:
    build(world)
    snap = read_snapshot(db)
    mark = fingerprint(db, snap.revision)
    assert mark is not None
    back, back_mark = decode(encode(snap, mark, "secret"), "secret")
    assert back_mark == mark and back.revision == snap.revision
    again = read_snapshot(db)
    assert sorted(back.grants) == sorted(again.grants)
    a, b = Decider(clock), Decider(clock)
    a.load(read_snapshot(db))
    b.load(decode(encode(read_snapshot(db), mark, "secret"), "secret")[0])
    assert answers(a) == answers(b)


def _tamper(blob: bytes, how: str, secret: str) -> bytes:
    if how == "flipped":  # damaged in store or in transit: the signature no longer matches
        return blob[:40] + bytes(b ^ 0xFF for b in blob[40:60]) + blob[60:]
    if how == "garbage":  # signed, but not a snapshot inside (a writer's bug)
        body = b"not zlib at all"
        return MAGIC + struct.pack("<H", FORMAT) + hmac.new(secret.encode(), body, hashlib.sha256).digest() + body
    if how == "truncated":
        return blob[:20]
    if how == "format":
        return MAGIC + struct.pack("<H", FORMAT + 1) + blob[8:]
    return blob  # "stranger": a sound blob, signed with a secret this service does not hold


@pytest.mark.parametrize(("how", "reason"), [("flipped", "signature"), ("garbage", "corrupt"),
                                             ("truncated", "corrupt"), ("format", "format"),
                                             ("stranger", "signature")])
def test_a_bad_snapshot_is_ignored_and_sql_loaded(how: str, reason: str, world: World, db: Database,
                                                  clock: FrozenClock, redis_settings: Settings,
                                                  cache: SnapshotCache) -> None:
    build(world)
    snap = read_snapshot(db)
    mark = fingerprint(db, snap.revision)
    assert mark is not None
    # A snapshot that would allow what SQL denies: if it were used, USERS[2] would see polisadministratie.
    snap.grants = [*read_snapshot(db).grants, (USERS[2], AFNEMER, "polisadministratie")]
    writer_secret = "another secret" if how == "stranger" else redis_settings.secret_key
    blob = _tamper(encode(snap, mark, writer_secret), how, writer_secret)
    raw = cache._redis  # the test plants the value as a faulty writer (or a stranger) would
    raw.set(cache.key(snap.revision), blob)
    raw.set(cache.latest_key, snap.revision)
    loads_from_sql(redis_settings, clock, db, reason)


def loads_from_sql(settings: Settings, clock: FrozenClock, db: Database, reason: str) -> None:
    """An instance started now ignores the snapshot (for ``reason``), loads from SQL and answers as SQL says."""
    with started(settings, clock) as client:
        st = app_state(client)
        assert st.metrics.snapshot_rejected[reason] == 1, st.metrics.snapshot_rejected
        assert st.metrics.snapshot_loads == 0 and st.metrics.reloads == 1
        assert st.decider.check(USERS[2], "polisadministratie").allowed is False
        assert answers(st.decider) == answers(from_sql(db, clock))


def test_a_snapshot_the_change_log_no_longer_leads_from_is_ignored(
        world: World, db: Database, clock: FrozenClock, redis_settings: Settings, cache: SnapshotCache) -> None:
    build(world)
    with started(redis_settings, clock) as first:
        wait_written(cache, app_state(first).decider.revision)
    change_after_snapshot(world)
    # The change log was trimmed past the snapshot: the revisions between cannot be read any more.
    latest = cache.latest_revision()
    assert latest is not None
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM changes WHERE revision = :r"), {"r": latest + 1})
    loads_from_sql(redis_settings, clock, db, "stale")


def test_a_snapshot_of_another_database_is_ignored(world: World, db: Database, clock: FrozenClock,
                                                   redis_settings: Settings, cache: SnapshotCache) -> None:
    build(world)
    snap = read_snapshot(db)
    # Same revision number, but not this database's change at that revision (e.g. a database reset since).
    cache.write(snap.revision, lambda: (snap, "0" * 64))
    loads_from_sql(redis_settings, clock, db, "stale")


def test_redis_down_at_start_loads_from_sql(world: World, db: Database, clock: FrozenClock,
                                            settings: Settings) -> None:
    build(world)
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_prefix="authz-test-down:")
    loads_from_sql(down, clock, db, "redis_error")


def test_the_snapshot_is_refreshed_every_so_many_revisions(world: World, db: Database, clock: FrozenClock,
                                                           redis_settings: Settings, cache: SnapshotCache) -> None:
    build(world)
    with started(replace(redis_settings, snapshot_refresh=3), clock) as client:
        st = app_state(client)
        wait_written(cache, st.decider.revision)
        first = cache.latest_revision()
        world.grant(USERS[0], AFNEMER, ["verzuim"])
        world.grant(USERS[0], AFNEMER, [])
        assert st.sync.snapshot_refresh == 3
        time.sleep(0.5)  # two revisions behind: no refresh yet (the poll runs every 0.2 s)
        assert cache.latest_revision() == first
        world.grant(USERS[0], AFNEMER, ["polisadministratie"])
        wait_written(cache, first + 3)  # type: ignore[operator]
        deadline = time.monotonic() + 10  # the writer counts its write just after Redis holds it
        while st.metrics.snapshot_writes < 2:
            assert time.monotonic() < deadline, st.metrics.snapshot_writes
            time.sleep(0.02)
        assert st.metrics.snapshot_writes == 2
    with started(redis_settings, clock) as again:
        st = app_state(again)
        assert st.metrics.snapshot_loads == 1 and st.metrics.applied_changes == 0
        assert answers(st.decider) == answers(from_sql(db, clock))
