"""Session stores: one contract, run against the SQL store (SQLite, PostgreSQL) and the Redis store (the real
server, a fresh key prefix per test); then through the HTTP API, with two app instances sharing a store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz.app import create_app
from authz.cache import redis_client
from authz.cache.sessions import RedisSessions, SessionStore, SqlSessions, make_sessions
from authz.clock import FrozenClock
from authz.config import Settings
from authz.errors import Unavailable
from authz.store.db import Database
from authz.store.schema import Session as SessionRow
from authz.store.sessions import token_hash
from tests.conftest import NOW
from tests.factories import PASSWORD, REDIS_URL, World
from tests.mailbox import count, free_port

IDLE, ABSOLUTE = 30 * 60, 12 * 60 * 60
KVK = "11111111"


@pytest.fixture(params=["sql", "redis"])
def store(request: pytest.FixtureRequest, db: Database) -> Iterator[SessionStore]:
    if request.param == "sql":
        yield SqlSessions(db, IDLE, ABSOLUTE)
        return
    client = redis_client(REDIS_URL)
    yield RedisSessions(client, request.getfixturevalue("redis_prefix"), IDLE, ABSOLUTE)
    client.close()


@pytest.fixture
def ids(world: World) -> tuple[int, int]:
    """Two accounts (the SQL store's rows refer to them)."""
    world.org(KVK)
    return (world.get_account(world.account("anna@korenschoof.nl", KVK)).id,
            world.get_account(world.account("bert@korenschoof.nl", KVK)).id)


def test_a_new_session_resolves_to_its_account(store: SessionStore, ids: tuple[int, int]) -> None:
    first, second = store.create(ids[0], NOW), store.create(ids[0], NOW)
    assert first != second and len(first) >= 40
    assert store.resolve(first, NOW) == (ids[0], token_hash(first))
    assert store.resolve(second, NOW) == (ids[0], token_hash(second))
    assert store.resolve("unknown-token-of-some-length", NOW) is None


def test_an_idle_session_ends(store: SessionStore, ids: tuple[int, int]) -> None:
    token = store.create(ids[0], NOW)
    at = NOW
    for _ in range(5):  # used every 20 minutes: it lives on
        at += timedelta(minutes=20)
        assert store.resolve(token, at) is not None
    assert store.resolve(token, at + timedelta(seconds=IDLE + 1)) is None
    assert store.resolve(token, at) is None  # ended, not just refused once


def test_a_session_ends_after_the_absolute_timeout_however_busy(store: SessionStore, ids: tuple[int, int]) -> None:
    token = store.create(ids[0], NOW)
    at = NOW
    while at - NOW < timedelta(seconds=ABSOLUTE - 600):
        at += timedelta(minutes=10)
        assert store.resolve(token, at) is not None
    assert store.resolve(token, NOW + timedelta(seconds=ABSOLUTE + 1)) is None


def test_ending_one_or_all_sessions(store: SessionStore, ids: tuple[int, int]) -> None:
    a1, a2, a3 = (store.create(ids[0], NOW) for _ in range(3))
    b = store.create(ids[1], NOW)
    store.end(token_hash(a1))
    assert store.resolve(a1, NOW) is None and store.resolve(a2, NOW) is not None
    store.end_all(ids[0], keep=token_hash(a3))
    assert store.resolve(a2, NOW) is None and store.resolve(a3, NOW) is not None
    store.end_all(ids[0])
    assert store.resolve(a3, NOW) is None
    assert store.resolve(b, NOW) == (ids[1], token_hash(b))  # another account's sessions are untouched
    store.end(token_hash(a1))  # ending an ended session is harmless


def test_a_redis_fault_is_a_503_not_a_guess() -> None:
    down = RedisSessions(redis_client(f"redis://127.0.0.1:{free_port()}/0"), "x:", IDLE, ABSOLUTE)
    for call in (lambda: down.resolve("t" * 43, NOW), lambda: down.create(1, NOW), lambda: down.end_all(1)):
        with pytest.raises(Unavailable) as exc:
            call()
        assert exc.value.code == "sessions_unavailable"


# -- through the HTTP API -------------------------------------------------------------------------------------------

@pytest.fixture(params=["sql", "redis"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "sql":
        return settings
    return dataclasses.replace(settings, redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix"))


def test_sessions_live_in_the_configured_store_and_logout_ends_them_everywhere(
        client: TestClient, settings: Settings, clock: FrozenClock, world: World, db: Database) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    with TestClient(create_app(settings, clock), base_url="http://testserver") as other:
        r = client.post("/v1/session", json={"email": "anna@korenschoof.nl", "password": PASSWORD})
        assert r.status_code == 200, r.text
        first = client.cookies["authz_session"]
        assert count(db, SessionRow) == (0 if settings.redis_url else 1)
        # a new session id at every log-in; the one the browser came with ends
        r = client.post("/v1/session", json={"email": "anna@korenschoof.nl", "password": PASSWORD})
        cookie = client.cookies["authz_session"]
        assert cookie != first
        header = {"Cookie": f"authz_session={cookie}"}
        assert other.get("/v1/session", headers={"Cookie": f"authz_session={first}"}).status_code == 401
        assert other.get("/v1/session", headers=header).json()["email"] == "anna@korenschoof.nl"
        assert client.delete("/v1/session").status_code == 204
        assert other.get("/v1/session", headers=header).status_code == 401


def test_the_idle_timeout_is_enforced_through_the_api(client: TestClient, clock: FrozenClock, world: World,
                                                      settings: Settings) -> None:
    world.org(KVK)
    world.account("anna@korenschoof.nl", KVK)
    assert client.post("/v1/session", json={"email": "anna@korenschoof.nl", "password": PASSWORD}).status_code == 200
    clock.advance(seconds=settings.session_idle_seconds - 5)
    assert client.get("/v1/session").status_code == 200
    clock.advance(seconds=settings.session_idle_seconds - 5)  # touched just now, so still alive
    assert client.get("/v1/session").status_code == 200
    clock.advance(seconds=settings.session_idle_seconds + 1)
    r = client.get("/v1/session")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "not_logged_in")


def test_the_store_follows_the_settings(db: Database) -> None:
    base = Settings(database_url=db.url, secret_key="k")
    assert make_sessions(base, db).name == "sql"
    assert make_sessions(dataclasses.replace(base, redis_url=REDIS_URL), db).name == "redis"
    assert make_sessions(dataclasses.replace(base, redis_url=REDIS_URL, session_store="sql"), db).name == "sql"
    assert Settings.from_env({"AUTHZ_SECRET_KEY": "k", "AUTHZ_SESSION_STORE": "sql"}).session_store == "sql"
    for bad in (dataclasses.replace(base, session_store="redis"), dataclasses.replace(base, session_store="memcache")):
        with pytest.raises(ValueError):
            make_sessions(bad, db)


# -- a log-out between a resolve's read and its touch (authz/cache/sessions.py) -------------------------------------

class _LogoutAfterRead:
    """The Redis client as a resolve sees it when another request logs the session out right after its HGETALL."""

    def __init__(self, client: Any, store: RedisSessions, session_hash: str) -> None:
        self.client, self.store, self.session_hash = client, store, session_hash

    def hgetall(self, key: str) -> Any:
        found = self.client.hgetall(key)
        self.store.r = self.client
        self.store.end(self.session_hash)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_logout_during_a_resolve_leaves_no_orphan_key(ids: tuple[int, int], redis_prefix: str) -> None:
    client = redis_client(REDIS_URL)
    store = RedisSessions(client, redis_prefix, IDLE, ABSOLUTE)
    token = store.create(ids[0], NOW)
    h = token_hash(token)
    store.r = _LogoutAfterRead(client, store, h)
    later = NOW + timedelta(minutes=2)  # a touch is due
    assert store.resolve(token, later) == (ids[0], h)  # it was live when read
    assert client.exists(store._key(h)) == 0  # the touch did not bring back a key with only last_seen, no TTL
    assert store.resolve(token, later + timedelta(seconds=10)) is None
    client.close()


def test_a_session_key_with_missing_fields_is_no_session(ids: tuple[int, int], redis_prefix: str) -> None:
    client = redis_client(REDIS_URL)
    store = RedisSessions(client, redis_prefix, IDLE, ABSOLUTE)
    token = store.create(ids[0], NOW)
    key = store._key(token_hash(token))
    client.delete(key)
    client.hset(key, "last_seen", NOW.timestamp())  # the orphan an older release's race left behind
    assert store.resolve(token, NOW) is None
    assert client.exists(key) == 0
    client.close()
