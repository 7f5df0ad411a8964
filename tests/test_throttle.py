"""Log-in throttling per account and per client address, through the HTTP API, counted in SQL and in Redis (the
real server, a fresh key prefix per test); a store that cannot count refuses log-ins (fail-closed)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz.app import create_app
from authz.cache import redis_client
from authz.cache.throttle import Limits, RedisCounter, Throttle, TooManyAttempts
from authz.clock import FrozenClock
from authz.config import Settings
from authz.errors import Unavailable
from authz.store.db import Database
from authz.store.schema import Session as SessionRow
from authz.store.throttle import SqlCounter
from tests.conftest import NOW
from tests.factories import PASSWORD, REDIS_URL, World
from tests.mailbox import count, error_of, free_port

KVK = "11111111"
ANNA = "anna@korenschoof.nl"


@pytest.fixture(params=["sql", "redis"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    limited = dataclasses.replace(settings, login_failures_per_account=3, login_failures_per_address=8,
                                  login_window_seconds=600)
    if request.param == "sql":
        return limited
    return dataclasses.replace(limited, redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix"))


@pytest.fixture
def anna(world: World) -> str:
    world.org(KVK)
    return world.account(ANNA, KVK)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    client.cookies.clear()
    return client.post("/v1/session", json={"email": email, "password": password})


@pytest.mark.parametrize("who", [ANNA, "nobody@korenschoof.nl"])
def test_failed_logins_are_throttled_per_account_alike_for_unknown_accounts(
        client: TestClient, anna: str, clock: FrozenClock, who: str) -> None:
    clock.set_day(NOW.date())
    answers = [log_in(client, who, "verkeerd wachtwoord") for _ in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    blocked = answers[-1]
    assert error_of(blocked) == "too_many_attempts"
    retry_after = int(blocked.headers["Retry-After"])
    assert 1 <= retry_after <= 600
    # now even the right password is refused, with the same answer, until the window has passed
    r = log_in(client, who)
    assert (r.status_code, error_of(r)) == (429, "too_many_attempts")
    clock.advance(seconds=retry_after)
    assert log_in(client, who).status_code == (200 if who == ANNA else 401)


def test_a_good_login_is_not_held_back_by_its_own_success(client: TestClient, anna: str, world: World) -> None:
    for _ in range(4):  # more than the limit of 3
        assert log_in(client, ANNA).status_code == 200
    assert log_in(client, ANNA, "verkeerd").status_code == 401
    assert log_in(client, ANNA).status_code == 200


def test_failed_logins_are_throttled_per_client_address(client: TestClient, anna: str, db: Any) -> None:
    statuses = [log_in(client, f"gok{i}@korenschoof.nl", "verkeerd wachtwoord").status_code for i in range(8)]
    assert statuses == [401] * 8
    r = log_in(client, ANNA)  # another account, the same address
    assert (r.status_code, error_of(r)) == (429, "too_many_attempts")
    assert count(db, SessionRow) == 0


BERT = "bert@korenschoof.nl"


def test_one_noisy_client_does_not_lock_out_another_account_at_the_same_address(client: TestClient, anna: str,
                                                                               world: World) -> None:
    world.account(BERT, KVK)  # never logged in from here
    statuses = [log_in(client, ANNA, "verkeerd wachtwoord").status_code for _ in range(20)]  # address limit: 8
    assert statuses == [401] * 3 + [429] * 17
    assert log_in(client, BERT).status_code == 200
    assert log_in(client, BERT, "tikfout").status_code == 401  # and a colleague's typo on top
    assert log_in(client, BERT).status_code == 200


def test_spraying_few_guesses_at_many_accounts_is_stopped_at_the_address(client: TestClient, anna: str) -> None:
    statuses = [log_in(client, f"gok{i}@korenschoof.nl", f"wachtwoord {n}").status_code
                for i in range(4) for n in range(2)]
    assert statuses == [401] * 8
    for who in ("gok9@korenschoof.nl", ANNA, "gok0@korenschoof.nl"):  # new accounts and sprayed ones alike
        r = log_in(client, who)
        assert (r.status_code, error_of(r)) == (429, "too_many_attempts")


def test_attempts_refused_at_the_address_do_not_use_up_the_accounts_own_limit(client: TestClient, anna: str,
                                                                             world: World) -> None:
    """A sprayer stopped at its address went on hitting every account's own count, and so locked anna out at every
    other address too (her 3 guesses were spent by refused attempts)."""
    assert [log_in(client, f"gok{i}@korenschoof.nl", "x").status_code for i in range(8)] == [401] * 8
    refused = [log_in(client, ANNA, f"gok {n}").status_code for n in range(10)]
    assert refused == [429] * 10
    elsewhere = TestClient(client.app, base_url="http://testserver", client=("192.0.2.9", 50000))
    assert [elsewhere.post("/v1/session", json={"email": ANNA, "password": "tikfout"}).status_code
            for _ in range(2)] == [401, 401]  # her own limit is whole: two typos at home...
    assert elsewhere.post("/v1/session", json={"email": ANNA, "password": PASSWORD}).status_code == 200
    assert log_in(client, ANNA, "nog een gok").status_code == 429  # ... and the sprayer is still stopped


@pytest.mark.parametrize("store", ["sql", "redis"])
def test_a_refusal_for_the_address_takes_its_hit_back_from_the_account(db: Database, redis_prefix: str,
                                                                        store: str) -> None:
    counter = SqlCounter(db, keep=3600) if store == "sql" else RedisCounter(redis_client(REDIS_URL), redis_prefix)
    throttle = Throttle(counter, Limits(600, 3, 4))
    for i in range(4):
        throttle.attempt(f"gok{i}@korenschoof.nl", "192.0.2.1", NOW)
    for _ in range(5):
        with pytest.raises(TooManyAttempts):
            throttle.attempt(ANNA, "192.0.2.1", NOW)
    for _ in range(5):  # the same for requests counted at both keys (password resets, registrations per KvK)
        with pytest.raises(TooManyAttempts):
            throttle.request(KVK, "192.0.2.1", NOW)
    start = datetime.fromtimestamp(NOW.timestamp() // 600 * 600, UTC)
    assert counter.peek(f"account:{ANNA}", start) == 0
    assert counter.peek(f"account:{KVK}", start) == 0
    for _ in range(3):  # her whole own limit, from another address
        throttle.attempt(ANNA, "192.0.2.3", NOW)
    with pytest.raises(TooManyAttempts):
        throttle.attempt(ANNA, "192.0.2.3", NOW)


def test_an_account_known_at_the_address_keeps_logging_in_while_it_is_sprayed(
        client: TestClient, anna: str, world: World, clock: FrozenClock) -> None:
    world.account(BERT, KVK)
    assert log_in(client, ANNA).status_code == 200  # anna is known here from now on
    assert [log_in(client, f"gok{i}@korenschoof.nl", "x").status_code for i in range(8)] == [401] * 8
    assert log_in(client, BERT).status_code == 429  # bert has never logged in from here
    assert log_in(client, ANNA).status_code == 200
    # her own limit still holds
    assert [log_in(client, ANNA, "verkeerd").status_code for _ in range(4)] == [401] * 3 + [429]
    clock.advance(seconds=600)  # the next window; the mark outlasts it, but not 60 days
    assert log_in(client, ANNA).status_code == 200
    clock.advance(seconds=61 * 24 * 3600)
    assert [log_in(client, f"gok{i}@korenschoof.nl", "x").status_code for i in range(8)] == [401] * 8
    assert log_in(client, ANNA).status_code == 429


def test_the_throttle_fails_closed_when_redis_cannot_count() -> None:
    down = Throttle(RedisCounter(redis_client(f"redis://127.0.0.1:{free_port()}/0"), "x:"), Limits(600, 3, 8))
    with pytest.raises(Unavailable) as exc:
        down.attempt(ANNA, "127.0.0.1", NOW)
    assert exc.value.code == "throttle_unavailable"


def test_no_login_passes_while_redis_is_down(sqlite_url: str, clock: FrozenClock, tmp_path: Path) -> None:
    db = Database(sqlite_url, clock)
    World(db).org(KVK)
    World(db).account(ANNA, KVK)
    gone = Settings(database_url=sqlite_url, secret_key="test-secret", outbox_dir=tmp_path, mail_interval=0,
                    redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_prefix=f"authz-test:{uuid.uuid4().hex}:")
    with TestClient(create_app(gone, clock), base_url="http://testserver") as c:
        r = log_in(c, ANNA)
        assert (r.status_code, error_of(r)) == (503, "throttle_unavailable")
        assert "set-cookie" not in r.headers
    assert count(db, SessionRow) == 0
    db.dispose()


def test_guesses_of_the_old_password_count_as_failed_logins(client: TestClient, anna: str) -> None:
    assert log_in(client, ANNA).status_code == 200
    body = {"old_password": "verkeerd wachtwoord", "new_password": "een heel nieuw wachtwoord"}
    statuses = [client.post("/v1/session/password", json=body).status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]
    r = client.post("/v1/session/password", json={**body, "old_password": PASSWORD})
    assert (r.status_code, error_of(r)) == (429, "too_many_attempts")


def test_limits_and_timeouts_come_from_the_environment() -> None:
    s = Settings.from_env({"AUTHZ_SECRET_KEY": "k", "AUTHZ_LOGIN_WINDOW": "60", "AUTHZ_LOGIN_FAILURES_PER_ACCOUNT": "2",
                           "AUTHZ_LOGIN_FAILURES_PER_ADDRESS": "9", "AUTHZ_SESSION_IDLE": "120",
                           "AUTHZ_SESSION_ABSOLUTE": "3600"})
    assert Limits.of(s) == Limits(60, 2, 9)
    assert (s.session_idle_seconds, s.session_absolute_seconds) == (120, 3600)
    assert Limits.of(Settings.from_env({"AUTHZ_SECRET_KEY": "k"})) == Limits(900, 5, 50)


# -- forgive() never creates a key (authz/cache/throttle.py) --------------------------------------------------------

def test_forgiving_never_creates_a_negative_count_that_never_expires(redis_prefix: str) -> None:
    """A log-in that began in one window and ended in the next forgives a key that does not exist: a plain DECR
    would create -1 without a TTL, a free guess forever."""
    client = redis_client(REDIS_URL)
    counter = RedisCounter(client, redis_prefix)
    throttle = Throttle(counter, Limits(600, 3, 8))
    start = datetime.fromtimestamp(NOW.timestamp() // 600 * 600, UTC)
    throttle.attempt(ANNA, "10.0.0.1", start + timedelta(seconds=599))
    throttle.succeeded(ANNA, "10.0.0.1", start + timedelta(seconds=601))  # the next window: nothing to forgive
    later = counter._key(f"account:{ANNA}", start + timedelta(seconds=600))
    assert client.exists(later) == 0
    earlier = counter._key(f"account:{ANNA}", start)
    assert int(client.get(earlier)) == 1 and client.ttl(earlier) > 0
    counter.forgive(f"account:{ANNA}", start)
    counter.forgive(f"account:{ANNA}", start)  # never below 0
    assert int(client.get(earlier)) == 0 and client.ttl(earlier) > 0
    client.close()


def test_the_sql_counter_clears_only_rows_whose_longest_window_has_passed(db: Database) -> None:
    """Log-ins (15 minutes), registrations (an hour) and the known marks (30 days) share one table: clearing the
    past of a log-in window must not take a registration's hour or a mark with it."""
    counter = SqlCounter(db, keep=3600)
    hour = datetime.fromtimestamp(NOW.timestamp() // 3600 * 3600, UTC)
    counter.hit("registration:address:10.0.0.1", hour, 7200)
    counter.hit("gone", hour - timedelta(seconds=3601), 7200)
    for _ in range(1000):  # about one in a hundred hits clears the past
        counter.hit("account:anna", hour + timedelta(minutes=45), 1800)
    assert counter.peek("registration:address:10.0.0.1", hour) == 1
    assert counter.peek("gone", hour - timedelta(seconds=3601)) == 0


@pytest.mark.parametrize("complete", [True, False])
def test_only_a_complete_log_in_makes_the_account_known_at_the_address(complete: bool) -> None:
    """A right password that still waits for its second factor is forgiven (nothing was guessed), but it does not
    mark the account as known at the address: whoever holds only the password gains no way past the address limit."""
    throttle = Throttle(RedisCounter(redis_client(REDIS_URL), f"authz-test-{uuid.uuid4().hex[:8]}:"),
                        Limits(600, 3, 8))
    address = "192.0.2.7"
    throttle.attempt(ANNA, address, NOW)
    (throttle.succeeded if complete else throttle.forgive)(ANNA, address, NOW)
    for i in range(8):
        throttle.attempt(f"gok{i}@korenschoof.nl", address, NOW)
    if complete:
        throttle.attempt(ANNA, address, NOW)  # known here: only her own limit holds her
    else:
        with pytest.raises(TooManyAttempts) as refused:
            throttle.attempt(ANNA, address, NOW)
        assert refused.value.code == "too_many_attempts"
