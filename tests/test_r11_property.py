"""R11 as a property: any schedule of faults — Redis killed and restarted, frozen and thawed, an instance paused and
resumed, a third instance started — during a run of saves and reads gives no stale answer, loses no save, and
keeps every save within its bound. A few seeded schedules in ``make test``; many more, longer, in ``make soak``."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable

import pytest

from tests.r11 import Cluster, cluster, hammer, judge
from tests.redis_servers import FaultProxy

__all__ = ["cluster"]  # the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

Fault = tuple[str, Callable[[], None], Callable[[], None]]  # name, do, undo


def faults(c: Cluster, proxy: FaultProxy) -> list[Fault]:
    redis = c.redis

    def signal_redis(sig: signal.Signals) -> Callable[[], None]:
        def send() -> None:
            assert redis.proc is not None
            redis.proc.send_signal(sig)
        return send

    def kill_redis() -> None:
        assert redis.proc is not None
        redis.proc.kill()
        redis.proc.wait()

    def signal_b(sig: signal.Signals) -> Callable[[], None]:
        def send() -> None:
            c.instances[1].proc.send_signal(sig)
        return send

    def start_c() -> None:
        c.start(f"C{len(c.instances)}")

    return [
        ("redis killed", kill_redis, redis.start),
        ("redis frozen", signal_redis(signal.SIGSTOP), signal_redis(signal.SIGCONT)),
        ("B paused", signal_b(signal.SIGSTOP), signal_b(signal.SIGCONT)),
        ("an instance starts", start_c, lambda: None),
        ("B cut off from Redis", proxy.cut, proxy.pass_through),
        ("B's Redis traffic held", proxy.blackhole, proxy.pass_through),
        ("B's Redis traffic delayed", lambda: proxy.delay(0.3), proxy.pass_through),
    ]


Plan = list[tuple[int, Callable[[], None]]]


def schedule(rnd: random.Random, catalogue: list[Fault], saves: int, count: int) -> Plan:
    """``count`` faults, each done before one save and undone a few saves later; never two at once."""
    plan: Plan = []
    at = rnd.randrange(1, 5)
    for _ in range(count):
        _name, do, undo = rnd.choice(catalogue)
        length = rnd.randrange(2, 8)
        if at + length >= saves:
            break
        plan += [(at, do), (at + length, undo)]
        at += length + rnd.randrange(1, 5)
    return plan


def run_schedule(c: Cluster, seed: int, saves: int, count: int) -> None:
    proxy = FaultProxy(c.redis.port)  # B reaches Redis through it: a partition of B alone
    proxy.start()
    try:
        a = c.writer()
        b = c.ready(c.start("B", AUTHZ_REDIS_URL=proxy.url))
        rnd = random.Random(seed)
        catalogue = faults(c, proxy)
        plan = schedule(rnd, catalogue, saves, count)
        names = {id(f[1]): f[0] for f in catalogue} | {id(f[2]): "undo " + f[0] for f in catalogue}
        print("schedule:", [(at, names.get(id(fn), "?")) for at, fn in plan])  # shown when the test fails
        run = hammer(a, [b], saves=saves, key=c.key, faults=plan, pause=rnd.choice([0.0, 0.01, 0.05]))
        judge(run, c, confirmed=None)
    finally:
        proxy.stop()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_random_schedule_of_faults_gives_no_stale_answer(cluster: Cluster, seed: int) -> None:
    run_schedule(cluster, seed, saves=24, count=3)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(100, 100 + int(os.environ.get("AUTHZ_SOAK_RUNS", "20"))))
def test_soak_many_random_schedules(cluster: Cluster, seed: int) -> None:
    run_schedule(cluster, seed, saves=120, count=10)
