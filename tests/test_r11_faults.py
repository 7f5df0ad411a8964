"""R11 under faults, with real processes: once a save's answer has been received, no instance answers a question
sent afterwards against it (a stale allow, or a stale deny of a grant), whatever Redis or an instance does — it
answers right, or 503. Saves return within a bound, and say whether every instance confirmed them.

A writer toggles one grant on instance A while readers ask B (and C); see :mod:`tests.r11` for the judge.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.instances import Instance
from tests.r11 import Cluster, cluster, hammer, judge
from tests.redis_servers import FaultProxy, SentinelGroup

__all__ = ["cluster"]  # the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

def test_normal_operation_gives_no_stale_answer_and_every_save_is_confirmed(cluster: Cluster) -> None:
    a = cluster.writer()
    b = cluster.ready(cluster.start("B"))
    run = hammer(a, [b], saves=30, key=cluster.key)
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

    run = hammer(a, [b], saves=44, key=cluster.key,
                 faults=[(8, kill), (16, redis.start), (26, freeze), (34, thaw)])
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
    second = hammer(a, [b, started[0]], saves=16, key=cluster.key)
    judge(second, cluster, confirmed=True)


def test_an_instance_cut_off_from_redis_alone_is_never_stale(cluster: Cluster) -> None:
    """A partition between B and Redis only (A and C still hear each other): messages held, delayed, the
    connection cut — B learns of each save from SQL at its next renewal and confirms it there."""
    proxy = FaultProxy(cluster.redis.port)
    proxy.start()
    try:
        a = cluster.writer()
        b = cluster.ready(cluster.start("B", AUTHZ_REDIS_URL=proxy.url))
        c = cluster.ready(cluster.start("C"))
        run = hammer(a, [b, c], saves=40, key=cluster.key,
                     faults=[(4, proxy.blackhole), (12, proxy.pass_through), (16, proxy.cut),
                             (24, proxy.pass_through), (28, lambda: proxy.delay(0.2)), (36, proxy.pass_through)])
        judge(run, cluster, confirmed=True)
    finally:
        proxy.stop()


def test_a_sentinel_failover_mid_run_gives_no_stale_answer_and_loses_no_save(cluster: Cluster) -> None:
    """Redis that survives a machine: instances on a Sentinel address; the primary is killed mid-run and a
    replica takes over while the saves go on."""
    group = SentinelGroup()
    group.start()
    try:
        a = cluster.writer(AUTHZ_REDIS_URL=group.url)
        b = cluster.ready(cluster.start("B", AUTHZ_REDIS_URL=group.url))
        first = group.primary
        failing_over: list[threading.Thread] = []

        def fail_over() -> None:
            failing_over.append(threading.Thread(target=group.failover, daemon=True))
            failing_over[0].start()

        run = hammer(a, [b], saves=40, key=cluster.key, faults=[(8, fail_over)], pause=0.05)
        failing_over[0].join(30)
        assert group.master_port() == group.primary.port != first.port
        judge(run, cluster, confirmed=True)
        # Both instances hear announcements again, through the new primary.
        assert _settles_live(a) and _settles_live(b)
    finally:
        group.stop()


def _settles_live(i: Instance) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if i.readyz()["announcements_live"]:
            return True
        time.sleep(0.1)
    return False
