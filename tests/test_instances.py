"""Several instances, one truth (R11, SPEC §5): real `authz serve` processes on PostgreSQL and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from authz.store import keys
from authz.store.db import Database
from tests.factories import PASSWORD, REDIS_URL, World
from tests.instances import Instance, RedisServer

AFNEMER = "11111111"
USER = "gebruiker@korenschoof.nl"
BEHEERDER = "beheerder@korenschoof.nl"


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL database with one afnemer, a beheerder and a user holding two products; and a service key."""
    db = Database(pg_url)
    w = World(db)
    w.org(AFNEMER, "Bakkerij De Korenschoof")
    w.product("polisadministratie")
    w.product("verzuim")
    w.contract(AFNEMER, "polisadministratie", date(2026, 1, 1))
    w.contract(AFNEMER, "verzuim", date(2026, 1, 1))
    w.beheerder(BEHEERDER, AFNEMER)
    w.account(USER, AFNEMER)
    w.grant(USER, AFNEMER, ["polisadministratie", "verzuim"])
    with db.tx("test") as t:
        key = keys.create(t, "instances-test")
    db.dispose()
    yield pg_url, key


def start(url: str, key: str, redis_url: str | None, n: int = 2) -> list[Instance]:
    env = {"AUTHZ_DATABASE_URL": url, "AUTHZ_SECRET_KEY": "instances-test",
           "AUTHZ_REDIS_PREFIX": f"authz-test-{uuid.uuid4().hex[:8]}:"}
    if redis_url:
        env["AUTHZ_REDIS_URL"] = redis_url
        # Sessions in SQL: the beheerder's session must outlive the Redis outages these tests cause (with sessions
        # in Redis, nobody is logged in while Redis is down: tests/test_session_store.py).
        env["AUTHZ_SESSION_STORE"] = "sql"
    instances = [Instance(env, name) for name in "AB"[:n]]
    for i in instances:
        i.wait_ready()
        i.client.headers["Authorization"] = f"Bearer {key}"
    return instances


def login(i: Instance) -> None:
    r = i.client.post("/v1/session", json={"email": BEHEERDER, "password": PASSWORD})
    assert r.status_code == 200, r.text


def check(i: Instance, product: str = "verzuim", **extra: object) -> dict[str, object]:
    r = i.client.post("/v1/check", json={"user": USER, "product": product, **extra})
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


def untick(i: Instance, keep: list[str]) -> int:
    r = i.client.put(f"/v1/orgs/{AFNEMER}/users/{USER}/grants", json={"afnemer": AFNEMER, "products": keep})
    assert r.status_code == 200, r.text
    revision: int = r.json()["revision"]
    return revision


def until(predicate: object, timeout: float) -> float:
    """Seconds until ``predicate()`` held (fails after ``timeout``)."""
    start_ = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - start_ > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
    return time.monotonic() - start_


def test_untick_on_a_is_denied_on_b(pg_world: tuple[str, str]) -> None:
    url, key = pg_world
    a, b = start(url, key, REDIS_URL)
    try:
        login(a)
        assert check(b)["allowed"] is True
        revision = untick(a, ["polisadministratie"])
        # The PUT's answer already implies B's denial when B is asked with its revision ...
        answer = check(b, min_revision=revision)
        assert answer["allowed"] is False and answer["reason"] == "no_grant"
        assert answer["revision"] >= revision  # type: ignore[operator]
        # ... and without it, B denies within the bound (Redis: at once).
        untick(a, [])
        until(lambda: check(b, "polisadministratie")["allowed"] is False, timeout=1.0)
    finally:
        for i in (a, b):
            i.stop()


def test_redis_restart_loses_no_change_and_gives_no_stale_allow(pg_world: tuple[str, str]) -> None:
    url, key = pg_world
    redis = RedisServer()
    redis.start()
    a, b = start(url, key, redis.url)
    try:
        login(a)
        assert b.readyz()["announcements_live"] is True
        redis.stop()
        revision = untick(a, ["polisadministratie"])  # committed in SQL; the announcement is lost
        assert check(b, min_revision=revision)["allowed"] is False
        # Without min_revision, B learns of it from SQL within the poll interval of a dead channel.
        seconds = until(lambda: check(b, "verzuim")["allowed"] is False, timeout=1.5)
        assert seconds < 1.5
        redis.start()
        until(lambda: b.readyz()["announcements_live"] is True and a.readyz()["announcements_live"] is True,
              timeout=10)
        revision = untick(a, [])
        assert until(lambda: check(b, "polisadministratie")["allowed"] is False, timeout=1.0) < 1.0
        assert a.readyz()["revision"] == b.readyz()["revision"] == revision
    finally:
        for i in (a, b):
            i.stop()
        redis.stop()


def test_an_instance_started_while_others_write_catches_up(pg_world: tuple[str, str]) -> None:
    url, key = pg_world
    (a,) = start(url, key, REDIS_URL, n=1)
    try:
        login(a)
        untick(a, ["polisadministratie"])
        (c,) = start(url, key, REDIS_URL, n=1)
        try:
            revision = untick(a, [])
            until(lambda: c.readyz()["revision"] >= revision, timeout=2.0)
            assert check(c, "polisadministratie")["allowed"] is False
            assert check(c, "polisadministratie") == {**check(a, "polisadministratie")}
        finally:
            c.stop()
    finally:
        a.stop()
