"""Races on PostgreSQL (READ COMMITTED, real parallel transactions in threads): R4 under concurrent deactivations and
demotions, requests decided twice at once, invitations accepted or sent twice at once. Each race runs a few rounds;
the outcome must be the same every time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from authz.cache.sessions import SqlSessions
from authz.cache.throttle import make_throttle
from authz.clock import FrozenClock
from authz.config import Settings
from authz.errors import AuthzError
from authz.service import accounts as account_service
from authz.service import beheerders, members
from authz.store import accounts, invitations
from authz.store.db import Database
from authz.store.schema import Account, AccountRequest, Invitation
from tests.factories import PASSWORD, World

KVK = "11111111"
ANNA, TWEEDE = "anna@korenschoof.nl", "tweede@korenschoof.nl"
ROUNDS = 3


@pytest.fixture
def pg(pg_url: str, clock: FrozenClock) -> Iterator[Database]:
    db = Database(pg_url, clock)
    yield db
    db.dispose()


@pytest.fixture
def settings(pg_url: str) -> Settings:
    return Settings(database_url=pg_url, secret_key="test-secret", mail_interval=0)


def at_once(*calls: Callable[[], Any]) -> list[str]:
    """Run the calls in parallel threads released together; each outcome is 'ok' or the error code."""
    start = threading.Barrier(len(calls))
    out: list[str] = [""] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            call()
            out[i] = "ok"
        except AuthzError as exc:
            out[i] = exc.code

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def two_beheerders(pg: Database) -> SqlSessions:
    """The organisation with two active beheerders, Anna and Tweede; returns a session store on it."""
    world = World(pg)
    world.org(KVK, "Bakkerij De Korenschoof")
    world.beheerder(ANNA, KVK)
    world.beheerder(TWEEDE, KVK)
    return SqlSessions(pg, 60, 600)


def active_beheerders(db: Database) -> list[str]:
    with db.tx("test") as t:
        return [a.email for a in accounts.active_beheerders(t, KVK)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_beheerders_deactivating_each_other_leave_one(pg: Database, round_: int) -> None:
    store = two_beheerders(pg)
    outcomes = at_once(lambda: members.deactivate(pg, store, ANNA, KVK, TWEEDE),
                       lambda: members.deactivate(pg, store, TWEEDE, KVK, ANNA))
    assert sorted(outcomes)[1] == "ok" and sorted(outcomes)[0] in ("forbidden", "last_beheerder"), outcomes
    assert len(active_beheerders(pg)) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_deactivation_and_a_demotion_at_once_leave_one(pg: Database, round_: int) -> None:
    store = two_beheerders(pg)
    outcomes = at_once(lambda: members.deactivate(pg, store, ANNA, KVK, TWEEDE),
                       lambda: beheerders.remove(pg, TWEEDE, KVK, ANNA, "http://x"))
    assert outcomes.count("ok") == 1, outcomes
    assert len(active_beheerders(pg)) == 1


def _request(pg: Database, settings: Settings) -> int:
    two_beheerders(pg)
    account_service.register(pg, settings, account_service.Registration("bert@korenschoof.nl", PASSWORD, KVK),
                             make_throttle(settings, pg), "10.0.0.1")
    with pg.read() as s:
        return int(s.scalar(sa.select(AccountRequest.id)) or 0)


@pytest.mark.parametrize("second", [True, False])
def test_a_request_decided_twice_at_once_is_decided_once(pg: Database, settings: Settings, second: bool) -> None:
    request_id = _request(pg, settings)
    outcomes = at_once(lambda: account_service.org_decide(pg, settings, ANNA, KVK, request_id, True),
                       lambda: account_service.org_decide(pg, settings, TWEEDE, KVK, request_id, second))
    assert sorted(outcomes) == ["ok", "request_decided"], outcomes
    with pg.read() as s:
        accounts_made = s.scalar(sa.select(sa.func.count()).select_from(Account)
                                 .where(Account.email == "bert@korenschoof.nl"))
        status = s.scalar(sa.select(AccountRequest.status))
    assert accounts_made == (1 if status == "approved" else 0)


def test_an_invitation_accepted_twice_at_once_makes_one_request(pg: Database, settings: Settings) -> None:
    world = World(pg)
    world.org(KVK)
    world.beheerder(ANNA, KVK)
    with pg.tx(ANNA, on_behalf_of=KVK) as t:
        _, token = invitations.create(t, "bert@korenschoof.nl", KVK)
    outcomes = at_once(*[lambda: members.accept_invitation(pg, settings, token, PASSWORD)] * 2)
    assert sorted(outcomes) == ["invitation_accepted", "ok"], outcomes
    with pg.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AccountRequest)) == 1


def test_one_address_invited_twice_at_once_gets_one_invitation(pg: Database, settings: Settings) -> None:
    two_beheerders(pg)
    outcomes = at_once(lambda: members.invite(pg, settings, ANNA, KVK, "bert@korenschoof.nl"),
                       lambda: members.invite(pg, settings, TWEEDE, KVK, "Bert@Korenschoof.nl"))
    assert sorted(outcomes) == ["already_invited", "ok"], outcomes
    with pg.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 1
