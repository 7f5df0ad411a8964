"""R11 under faults, with real processes: once a save's answer has been received, no instance answers a question
sent afterwards against it (a stale allow, or a stale deny of a grant), whatever Redis or an instance does — it
answers right, or 503. Saves return within a bound, and say whether every instance confirmed them.

A writer toggles one grant on instance A while readers ask B (and C); see :mod:`tests.r11` for the judge.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import httpx2 as httpx
import pytest
from sqlalchemy import select

from authz.store import keys
from authz.store.db import Database
from authz.store.schema import Grant
from tests.factories import PASSWORD, World
from tests.instances import Instance, RedisServer
from tests.r11 import AFNEMER, BEHEERDER, PRODUCT, USER, Run, hammer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LEASE = 1.0
# A save waits at most a lease and its margin for an instance that does not confirm; plus the save itself.
SAVE_BOUND = LEASE + 0.07 + 0.6


@dataclass
class Cluster:
    url: str
    key: str
    redis: RedisServer
    prefix: str
    instances: list[Instance]

    def start(self, name: str, **env: str) -> Instance:
        i = Instance({"AUTHZ_DATABASE_URL": self.url, "AUTHZ_SECRET_KEY": "r11-test", "AUTHZ_REDIS_URL": self.redis.url,
                      "AUTHZ_REDIS_PREFIX": self.prefix, "AUTHZ_SESSION_STORE": "sql",
                      "AUTHZ_LEASE_SECONDS": str(LEASE), **env}, name)
        self.instances.append(i)
        return i

    def ready(self, i: Instance) -> Instance:
        i.wait_ready()
        i.client.headers["Authorization"] = f"Bearer {self.key}"
        return i

    def writer(self) -> Instance:
        a = self.ready(self.start("A"))
        r = a.client.post("/v1/session", json={"email": BEHEERDER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return a


@pytest.fixture
def cluster(pg_url: str) -> Iterator[Cluster]:
    db = Database(pg_url)
    w = World(db)
    w.org(AFNEMER, "Bakkerij De Korenschoof")
    w.product(PRODUCT)
    w.contract(AFNEMER, PRODUCT, date(2026, 1, 1))
    w.beheerder(BEHEERDER, AFNEMER)
    w.account(USER, AFNEMER)
    w.grant(USER, AFNEMER, [PRODUCT])
    with db.tx("test") as t:
        key = keys.create(t, "r11-test")
    db.dispose()
    redis = RedisServer()
    redis.start()
    c = Cluster(pg_url, key, redis, f"authz-r11-{uuid.uuid4().hex[:8]}:", [])
    try:
        yield c
    finally:
        if redis.proc is not None and redis.proc.poll() is None:
            redis.proc.send_signal(signal.SIGCONT)
        for i in c.instances:
            if i.proc.poll() is None:
                i.proc.send_signal(signal.SIGCONT)
            i.stop()
        redis.stop()


def judge(run: Run, c: Cluster, confirmed: bool | None = True) -> None:
    """No stale answer, every save accepted and within the bound, the last save is what SQL holds, and every
    instance ends at SQL's revision."""
    stale_allows, stale_denies = run.verdicts()
    answered = [a for a in run.answers if a.status == 200]
    unavailable = [a for a in run.answers if a.status == 503]
    figures = (f"{len(run.saves)} saves, {len(run.answers)} answers ({len(unavailable)} × 503), "
               f"slowest save {max(s.returned - s.sent for s in run.saves):.3f} s")
    assert not run.errors, run.errors
    assert not stale_allows, f"{len(stale_allows)} stale allows, first {stale_allows[:3]}; {figures}"
    assert not stale_denies, f"{len(stale_denies)} stale denies, first {stale_denies[:3]}; {figures}"
    assert len(answered) > len(run.saves), f"the readers were barely answered: {figures}"
    assert {a.status for a in run.answers} <= {200, 503}, figures
    slow = [s for s in run.saves if s.returned - s.sent > SAVE_BOUND]
    assert not slow, f"saves beyond the bound: {slow}"
    assert all(s.confirmed in ("true", "false") for s in run.saves)
    if confirmed is not None:
        assert all(s.confirmed == ("true" if confirmed else "false") for s in run.saves), \
            [s.confirmed for s in run.saves]
    db = Database(c.url)
    try:
        with db.read() as s:
            held = s.execute(select(Grant)).scalars().all()
        sql_revision = db.revision()
    finally:
        db.dispose()
    assert bool(held) == run.saves[-1].granted  # nothing accepted is lost
    for i in c.instances:
        if i.proc.poll() is None:
            assert _settles(i, sql_revision), f"{i.name} did not reach revision {sql_revision}: {i.readyz()}"


def _settles(i: Instance, revision: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            data = i.readyz()
        except httpx.TransportError:  # still starting
            data = {"ready": False}
        if data["ready"] and data["revision"] >= revision:
            return True
        time.sleep(0.05)
    return False


def test_normal_operation_gives_no_stale_answer_and_every_save_is_confirmed(cluster: Cluster) -> None:
    a = cluster.writer()
    b = cluster.ready(cluster.start("B"))
    run = hammer(a, [b], saves=40, key=cluster.key)
    judge(run, cluster, confirmed=True)
    assert b.readyz()["lease"]["held"] is True


def test_redis_killed_restarted_and_frozen_gives_no_stale_answer(cluster: Cluster) -> None:
    a = cluster.writer()
    b = cluster.ready(cluster.start("B"))
    redis = cluster.redis

    def freeze() -> None:
        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGSTOP)

    def thaw() -> None:
        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGCONT)

    def kill() -> None:
        assert redis.proc is not None
        redis.proc.kill()
        redis.proc.wait()

    run = hammer(a, [b], saves=60, key=cluster.key,
                 faults=[(10, kill), (20, redis.start), (35, freeze), (45, thaw)])
    # Without Redis, B learns of each save at its next renewal and says so in SQL: the saves are confirmed still.
    judge(run, cluster, confirmed=True)


def test_an_instance_that_hears_no_announcement_is_never_stale(cluster: Cluster) -> None:
    a = cluster.writer()
    deaf = cluster.ready(cluster.start("C", AUTHZ_REDIS_PREFIX="authz-r11-elsewhere:"))
    run = hammer(a, [deaf], saves=20, key=cluster.key)
    judge(run, cluster, confirmed=True)
    slowest = max(s.returned - s.sent for s in run.saves)
    assert slowest < 0.6, f"a save waited {slowest:.3f} s for an instance confirming in SQL"


def test_a_paused_instance_is_waited_for_at_most_a_lease_and_answers_503_until_current(cluster: Cluster) -> None:
    a = cluster.writer()
    b = cluster.ready(cluster.start("B"))
    c = cluster.ready(cluster.start("C"))

    def pause() -> None:
        b.proc.send_signal(signal.SIGSTOP)

    def resume() -> None:
        b.proc.send_signal(signal.SIGCONT)

    run = hammer(a, [b, c], saves=24, key=cluster.key, faults=[(6, pause), (12, resume)])
    judge(run, cluster, confirmed=None)
    waited = [s for s in run.saves[6:12] if s.confirmed == "false"]
    assert waited, "no save said that a paused instance did not confirm it"
    assert all(s.confirmed == "true" for s in run.saves[16:]), [s.confirmed for s in run.saves]
    metrics = a.client.get("/metrics").text
    assert "authz_saves_unconfirmed_total 0" not in metrics


def test_an_instance_started_mid_run_is_never_stale(cluster: Cluster) -> None:
    a = cluster.writer()
    b = cluster.ready(cluster.start("B"))
    started: list[Instance] = []
    starting: list[threading.Thread] = []

    def start_c() -> None:  # the saves go on while C loads and takes its lease
        c = cluster.start("C")
        starting.append(threading.Thread(target=lambda: started.append(cluster.ready(c)), daemon=True))
        starting[0].start()

    first = hammer(a, [b], saves=30, key=cluster.key, faults=[(2, start_c)], pause=0.05)
    starting[0].join(30)
    judge(first, cluster, confirmed=True)
    assert started, "C did not start"
    second = hammer(a, [b, started[0]], saves=20, key=cluster.key)
    judge(second, cluster, confirmed=True)
